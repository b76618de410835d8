package dockerfile

import (
	"fmt"
	"strings"
)

// Severity ranks a rule. Lint severities follow compiler habit (an error is
// a defect, a warning a risk, info a hardening hint) rather than CVSS.
type Severity int

// Severities, lowest first.
const (
	Info Severity = iota + 1
	Warning
	Error
)

func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return "unknown"
}

// MarshalText writes the name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ParseSeverity reads "info", "warning" or "error" (case-insensitive).
func ParseSeverity(name string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "info":
		return Info, nil
	case "warning", "warn":
		return Warning, nil
	case "error":
		return Error, nil
	}
	return 0, fmt.Errorf("%w: %q (want error, warning or info)", ErrBadSeverity, name)
}

// Rule describes one check.
type Rule struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Severity Severity `json:"severity"`
	// Rationale is one line saying why the rule matters.
	Rationale string `json:"rationale"`
	// Fix says what to write instead.
	Fix string `json:"fix"`
}

// Rule ids. They never change meaning; retired ids are not reused.
const (
	RuleUnpinnedBase    = "ML001"
	RuleRootUser        = "ML002"
	RuleAddForCopy      = "ML003"
	RuleAddRemote       = "ML004"
	RulePipeToShell     = "ML005"
	RuleInstallRecs     = "ML006"
	RuleAptLists        = "ML007"
	RuleAptUpgrade      = "ML008"
	RuleSecretEnv       = "ML009"
	RuleChmodSetuid     = "ML010"
	RuleChmodWorld      = "ML011"
	RuleMultipleCmd     = "ML012"
	RuleRelativeWorkdir = "ML013"
	RuleBuildTools      = "ML014"
	RuleNoHealthcheck   = "ML015"
)

var rules = []Rule{
	{RuleUnpinnedBase, "unpinned-base-image", Warning,
		"A base image without a tag or with :latest changes under you; builds stop being reproducible and can pull in a compromised image.",
		"Pin the base image by digest (FROM debian:12@sha256:…), or at least by an explicit version tag."},
	{RuleRootUser, "root-user", Warning,
		"The final stage runs as root (no USER, or USER root/0), so a compromise of the process is a compromise of the container's root.",
		"Create an unprivileged user and end the final stage with USER <name or uid> other than root/0."},
	{RuleAddForCopy, "add-instead-of-copy", Warning,
		"ADD of a local file that is not an archive behaves like COPY but also auto-extracts and fetches URLs, which surprises readers.",
		"Use COPY for local files; keep ADD for local tar archives you want extracted."},
	{RuleAddRemote, "add-remote-url", Warning,
		"ADD of a remote URL downloads unverified content at build time and leaves it in a layer.",
		"Download with curl/wget in a RUN, verify a checksum, and remove what you do not need; or use ADD --checksum=sha256:…."},
	{RulePipeToShell, "pipe-to-shell", Error,
		"Piping a download straight into a shell (curl … | sh) runs unverified remote code at build time.",
		"Download to a file, verify its checksum or signature, then run it."},
	{RuleInstallRecs, "apt-install-recommends", Info,
		"apt-get install without --no-install-recommends pulls in packages nobody asked for, growing the attack surface.",
		"Use apt-get install -y --no-install-recommends <packages>."},
	{RuleAptLists, "apt-lists-not-cleaned", Info,
		"apt lists left in the layer add megabytes and stale package metadata to the image.",
		"End the same RUN with rm -rf /var/lib/apt/lists/* (or use a cache mount for /var/lib/apt)."},
	{RuleAptUpgrade, "apt-upgrade", Warning,
		"apt-get upgrade/dist-upgrade in a Dockerfile makes builds unreproducible and hides that the base image is outdated.",
		"Rebuild on an updated, pinned base image; install specific package versions if you need a fix."},
	{RuleSecretEnv, "secret-in-env-or-arg", Error,
		"ENV and ARG values are stored in the image config and history, readable by anyone who can pull the image.",
		"Pass secrets with RUN --mount=type=secret (BuildKit secrets) or at run time, never as ENV/ARG literals."},
	{RuleChmodSetuid, "chmod-setuid", Error,
		"Setting the setuid/setgid bit creates a privilege-escalation path inside the container.",
		"Remove chmod +s/u+s/g+s and numeric modes with 4xxx/2xxx; grant the needed capability instead."},
	{RuleChmodWorld, "chmod-world-writable", Warning,
		"chmod 777 makes files writable by every user in the container, so any process can tamper with them.",
		"Grant the least permission needed (e.g. 755 for directories, 644 for files) and chown to the runtime user."},
	{RuleMultipleCmd, "multiple-cmd-entrypoint", Warning,
		"Only the last CMD or ENTRYPOINT of a stage takes effect; earlier ones are dead code that misleads readers.",
		"Keep a single CMD and a single ENTRYPOINT per stage."},
	{RuleRelativeWorkdir, "relative-workdir", Warning,
		"A relative WORKDIR depends on the previous WORKDIR and breaks silently when instructions move.",
		"Use an absolute path: WORKDIR /app."},
	{RuleBuildTools, "build-tools-in-final-stage", Warning,
		"Compilers and build tools left in the final stage of a multi-stage build give an attacker a toolchain and bloat the image.",
		"Install build tools only in a build stage and COPY --from it just the artifacts into a minimal final stage."},
	{RuleNoHealthcheck, "no-healthcheck", Info,
		"Without HEALTHCHECK the runtime cannot tell a hung container from a healthy one.",
		"Add HEALTHCHECK CMD <probe> to the final stage, or HEALTHCHECK NONE to state that none applies."},
}

// Rules returns every rule, ordered by id.
func Rules() []Rule { return append([]Rule(nil), rules...) }

func ruleByID(id string) (Rule, bool) {
	for _, r := range rules {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}
