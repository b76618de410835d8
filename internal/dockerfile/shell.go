package dockerfile

import (
	"sort"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/moat-dev/moat/internal/lazyregexp"
)

// Shell text is split on these operators into simple commands.
var shellSplit = lazyregexp.New(`&&|\|\||;|\n|\||&`)

// pipeToShell matches a download piped into a shell interpreter.
var pipeToShell = lazyregexp.New(`(?i)\b(curl|wget|fetch)\b[^|;&\n]*\|\s*(sudo\s+(-\S+\s+)*)?(env\s+(\S+=\S*\s+)*)?(/usr)?(/bin/)?(ba|z|da|k|a)?sh\b`)

var aptListsRemoved = lazyregexp.New(`\brm\s+[^&;|\n]*/var/lib/apt/lists`)

// buildTools are packages that belong in a build stage, not a final image.
var buildTools = map[string]bool{
	"gcc": true, "g++": true, "gcc-c++": true, "clang": true, "llvm": true, "make": true, "cmake": true,
	"build-essential": true, "build-base": true, "alpine-sdk": true, "git": true, "golang": true,
	"golang-go": true, "go": true, "rustc": true, "cargo": true, "maven": true, "gradle": true,
	"autoconf": true, "automake": true, "libtool": true, "pkg-config": true, "binutils": true,
	"musl-dev": true, "libc6-dev": true, "linux-headers": true,
}

// buildImages are official images whose purpose is compiling.
var buildImages = map[string]bool{"golang": true, "gcc": true, "rust": true, "maven": true, "gradle": true, "buildpack-deps": true}

func buildImage(ref string) string {
	name := strings.ToLower(ref)
	if i := strings.IndexAny(name, "@"); i >= 0 {
		name = name[:i]
	}
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	repo := name[strings.LastIndex(name, "/")+1:]
	if buildImages[repo] {
		return repo
	}
	return ""
}

// runText is the shell the RUN executes: its command line and, for heredoc
// scripts, their contents.
func runText(r *instructions.RunCommand) string {
	var b strings.Builder
	b.WriteString(strings.Join(r.CmdLine, " "))
	for _, f := range r.Files {
		b.WriteString("\n")
		b.WriteString(f.Data)
	}
	return strings.ReplaceAll(b.String(), "\\\n", " ")
}

// simpleCommands splits shell text into argument lists, dropping sudo and
// leading VAR=value assignments.
func simpleCommands(text string) [][]string {
	var out [][]string
	for _, seg := range shellSplit().Split(text, -1) {
		f := strings.Fields(seg)
		for len(f) > 0 && (f[0] == "sudo" || f[0] == "env" || (strings.Contains(f[0], "=") && !strings.HasPrefix(f[0], "-"))) {
			f = f[1:]
		}
		if len(f) > 0 {
			out = append(out, f)
		}
	}
	return out
}

// flagsWithValue are options of apt-get, apk and yum that take the next
// argument as their value.
var flagsWithValue = map[string]bool{"-o": true, "-t": true, "-c": true, "--option": true, "--target-release": true, "--config-file": true, "--repository": true, "-X": true}

// subcommand is the first argument that is neither a flag nor a flag's
// value.
func subcommand(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if flagsWithValue[a] {
			i++
			continue
		}
		if !strings.HasPrefix(a, "-") {
			return a, args[i+1:]
		}
	}
	return "", nil
}

func (c *checker) run1(r *instructions.RunCommand, line int, comments []string, finalOfMany bool) {
	text := runText(r)
	if pipeToShell().MatchString(text) {
		c.report(RulePipeToShell, line, comments, "a download is piped into a shell")
	}
	aptInstall, recs, upgrade, setuid, world := false, false, "", false, ""
	tools := map[string]bool{}
	for _, args := range simpleCommands(text) {
		prog := args[0][strings.LastIndex(args[0], "/")+1:]
		sub, rest := subcommand(args[1:])
		switch prog {
		case "apt-get", "apt":
			switch sub {
			case "install":
				aptInstall = true
				if !hasAny(args, "--no-install-recommends", "APT::Install-Recommends=false", "APT::Install-Recommends=0") {
					recs = true
				}
				addTools(tools, rest)
			case "upgrade", "dist-upgrade", "full-upgrade":
				upgrade = sub
			}
		case "apk":
			if sub == "add" {
				addTools(tools, rest)
			}
		case "yum", "dnf", "microdnf", "zypper":
			if sub == "install" || sub == "in" {
				addTools(tools, rest)
			}
		case "chmod":
			mode, _ := subcommand(args[1:])
			if setuidMode(mode) {
				setuid = true
			}
			if worldWritable(mode) {
				world = mode
			}
		}
	}
	if recs {
		c.report(RuleInstallRecs, line, comments, "apt-get install without --no-install-recommends")
	}
	if aptInstall && !aptListsRemoved().MatchString(text) && !aptCacheMount(r) {
		c.report(RuleAptLists, line, comments, "apt lists are not removed in the same RUN")
	}
	if upgrade != "" {
		c.report(RuleAptUpgrade, line, comments, "apt-get %s in a Dockerfile", upgrade)
	}
	if setuid {
		c.report(RuleChmodSetuid, line, comments, "chmod sets the setuid/setgid bit")
	}
	if world != "" {
		c.report(RuleChmodWorld, line, comments, "chmod %s makes files world-writable", world)
	}
	if finalOfMany && len(tools) > 0 {
		names := make([]string, 0, len(tools))
		for t := range tools {
			names = append(names, t)
		}
		sort.Strings(names)
		c.report(RuleBuildTools, line, comments, "final stage installs build tools: %s", strings.Join(names, ", "))
	}
}

func hasAny(args []string, want ...string) bool {
	for _, a := range args {
		for _, w := range want {
			if strings.Contains(a, w) {
				return true
			}
		}
	}
	return false
}

func addTools(tools map[string]bool, pkgs []string) {
	for _, p := range pkgs {
		if strings.HasPrefix(p, "-") {
			continue
		}
		name, _, _ := strings.Cut(p, "=")
		if buildTools[strings.ToLower(name)] {
			tools[strings.ToLower(name)] = true
		}
	}
}

// aptCacheMount reports a BuildKit cache mount over /var/lib/apt, which
// keeps lists out of the layer.
func aptCacheMount(r *instructions.RunCommand) bool {
	src := r.String()
	return strings.Contains(src, "type=cache") && strings.Contains(src, "/var/lib/apt")
}

var symbolicSetuid = lazyregexp.New(`^[ugoa]*[+=][rwxXt]*s`)

func setuidMode(m string) bool {
	for _, part := range strings.Split(m, ",") {
		if symbolicSetuid().MatchString(part) {
			return true
		}
	}
	if octal(m) && len(m) >= 4 {
		d := m[len(m)-4]
		return d&4 != 0 || d&2 != 0
	}
	return false
}

func worldWritable(m string) bool {
	if octal(m) {
		if len(m) >= 4 && (m[len(m)-4]-'0')&1 != 0 {
			return false // sticky, like /tmp
		}
		return (m[len(m)-1]-'0')&2 != 0
	}
	for _, part := range strings.Split(m, ",") {
		if strings.HasPrefix(part, "o+") || strings.HasPrefix(part, "a+") || strings.HasPrefix(part, "o=") || strings.HasPrefix(part, "a=") {
			if strings.Contains(part[2:], "w") {
				return true
			}
		}
	}
	return false
}

func octal(m string) bool {
	if m == "" || len(m) > 5 {
		return false
	}
	for _, r := range m {
		if r < '0' || r > '7' {
			return false
		}
	}
	return true
}
