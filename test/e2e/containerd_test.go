package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/testutil/moatproc"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestContainerd pulls from and pushes to moat with containerd's ctr,
// logged in with --user, against a private containerd daemon (root, state
// and socket in a temp directory, CRI disabled).
func TestContainerd(t *testing.T) {
	daemon := moatproc.RequireTool(t, "containerd")
	ctrBin := moatproc.RequireTool(t, "ctr")
	moatproc.RequireRoot(t, "containerd")
	s := moatproc.Start(t)
	rc := newRegistryClient(t, s)
	rnd := seededRand(t, "images")

	sock := startContainerd(t, daemon, ctrBin)
	r := moatproc.NewRunner(t)
	ctr := func(args ...string) string {
		t.Helper()
		return r.Run(ctrBin, append([]string{"--address", sock, "--namespace", "e2e"}, args...)...)
	}
	user := "--user=" + s.Robot.Pair()
	// imageDigest reads the digest containerd recorded for ref.
	imageDigest := func(ref string) string {
		t.Helper()
		for _, line := range strings.Split(ctr("images", "ls"), "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == ref {
				return f[2]
			}
		}
		t.Fatalf("ctr images ls has no %s", ref)
		return ""
	}

	// pull and unpack a single-platform image.
	img := newImage(t, rnd, linuxAMD64, 3, 256*1024)
	rc.push("e2e/ctr/src", "v1", img)
	src := s.Addr + "/e2e/ctr/src:v1"
	ctr("images", "pull", "--plain-http", user, "--snapshotter", "native", "--platform", "linux/amd64", src)
	if got := imageDigest(src); got != img.Root.Digest.String() {
		t.Errorf("containerd recorded %s for %s, want %s", got, src, img.Root.Digest)
	}

	// push it under another name: same manifest, same digest.
	dst := s.Addr + "/e2e/ctr/pushed:v1"
	ctr("images", "tag", src, dst)
	ctr("images", "push", "--plain-http", user, dst)
	if got := rc.manifestDigest("e2e/ctr/pushed", "v1"); got != img.Root.Digest {
		t.Errorf("pushed digest %s, want %s", got, img.Root.Digest)
	}
	checkPushedImage(t, rc, "e2e/ctr/pushed", "v1", mustConfigDigest(t, img), 3)

	// a multi-arch index: fetch every platform, push the whole index back.
	idx := newIndex(t, rnd, []ocispec.Platform{linuxAMD64, linuxARM64}, 2, 128*1024)
	rc.push("e2e/ctr/multi", "v1", idx)
	multi := s.Addr + "/e2e/ctr/multi:v1"
	ctr("images", "pull", "--plain-http", user, "--snapshotter", "native", "--all-platforms", multi)
	if got := imageDigest(multi); got != idx.Root.Digest.String() {
		t.Errorf("containerd recorded %s for %s, want %s", got, multi, idx.Root.Digest)
	}
	multiDst := s.Addr + "/e2e/ctr/multi-pushed:v1"
	ctr("images", "tag", multi, multiDst)
	ctr("images", "push", "--plain-http", user, multiDst)
	if got := rc.manifestDigest("e2e/ctr/multi-pushed", "v1"); got != idx.Root.Digest {
		t.Errorf("pushed index digest %s, want %s", got, idx.Root.Digest)
	}
	for _, ch := range idx.Children {
		if got := rc.manifestDigest("e2e/ctr/multi-pushed", ch.Root.Digest.String()); got != ch.Root.Digest {
			t.Errorf("child manifest %s: got %s", ch.Root.Digest, got)
		}
	}
}

// startContainerd runs a private containerd and returns its socket path.
func startContainerd(t *testing.T, daemon, ctrBin string) string {
	t.Helper()
	// A short directory of its own: unix socket paths are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "containerd.sock")
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %q

[ttrpc]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc")
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "containerd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting containerd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("containerd log:\n%s", moatproc.TailFile(logPath, 40))
		}
		// The native snapshotter leaves read-only unpacked files; root removes them.
		os.RemoveAll(dir)
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("containerd exited during start: %v\n%s", err, moatproc.TailFile(logPath, 40))
		default:
		}
		if err := exec.Command(ctrBin, "--address", sock, "version").Run(); err == nil {
			return sock
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not answer on %s within 30s\n%s", sock, moatproc.TailFile(logPath, 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
