package moatproc

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Podman runs podman in a sandbox of the test's own: vfs storage in a
// throwaway root (no kernel overlay or fuse needed), s marked insecure in
// a private registries.conf, and a private auth file, configuration and
// runtime directory, so nothing of the user's podman is read or written.
type Podman struct {
	Runner *Runner
	Bin    string
	global []string
}

// NewPodman finds podman (see RequireTool) and prepares its sandbox.
func NewPodman(t testing.TB, s *Server) *Podman {
	t.Helper()
	bin := RequireTool(t, "podman")
	work := t.TempDir()
	root, runroot := filepath.Join(work, "storage"), filepath.Join(work, "run")
	files := map[string]string{
		"registries.conf": fmt.Sprintf("unqualified-search-registries = []\n\n[[registry]]\nlocation = %q\ninsecure = true\n", s.Addr),
		"storage.conf":    fmt.Sprintf("[storage]\ndriver = \"vfs\"\ngraphroot = %q\nrunroot = %q\n", root, runroot),
		"containers.conf": "[engine]\nevents_logger = \"file\"\ncgroup_manager = \"cgroupfs\"\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(work, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	xdg := filepath.Join(work, "xdg")
	if err := os.MkdirAll(xdg, 0o700); err != nil {
		t.Fatal(err)
	}
	r := NewRunner(t,
		"CONTAINERS_REGISTRIES_CONF="+filepath.Join(work, "registries.conf"),
		"CONTAINERS_STORAGE_CONF="+filepath.Join(work, "storage.conf"),
		"CONTAINERS_CONF="+filepath.Join(work, "containers.conf"),
		"REGISTRY_AUTH_FILE="+filepath.Join(work, "auth.json"),
		"XDG_RUNTIME_DIR="+xdg,
		"XDG_CONFIG_HOME="+filepath.Join(work, "config"),
		"HOME="+work,
		"TMPDIR="+work,
	)
	return &Podman{Runner: r, Bin: bin, global: []string{"--root", root, "--runroot", runroot, "--storage-driver", "vfs"}}
}

// Args returns the sandbox's global flags followed by args.
func (p *Podman) Args(args ...string) []string {
	return append(append([]string{}, p.global...), args...)
}

// Run runs podman with args, fails the test if it fails, and returns stdout.
func (p *Podman) Run(args ...string) string {
	p.Runner.t.Helper()
	return p.Runner.Run(p.Bin, p.Args(args...)...)
}
