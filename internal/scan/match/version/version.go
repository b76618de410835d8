package version

import (
	"errors"
	"fmt"
	"strings"

	"github.com/Masterminds/semver/v3"
	gem "github.com/aquasecurity/go-gem-version"
	pep440 "github.com/aquasecurity/go-pep440-version"
	gover "github.com/aquasecurity/go-version/pkg/version"
	apk "github.com/knqyf263/go-apk-version"
	deb "github.com/knqyf263/go-deb-version"
	rpm "github.com/knqyf263/go-rpm-version"
	mvn "github.com/masahiro331/go-mvn-version"
	modsemver "golang.org/x/mod/semver"
)

// ErrInvalid is returned for a version its ecosystem cannot parse.
var ErrInvalid = errors.New("invalid version")

// Version is a parsed version of one ecosystem. Compare must only be called
// with a Version from the same Comparator.
type Version interface {
	Compare(other Version) int
	String() string
}

// Comparator parses the versions of one ecosystem.
type Comparator interface {
	Parse(v string) (Version, error)
}

// For returns the comparator of an OSV ecosystem; a release suffix
// ("Debian:12", "Alpine:v3.19") is ignored.
func For(ecosystem string) Comparator {
	base, _, _ := strings.Cut(ecosystem, ":")
	switch base {
	case "Debian", "Ubuntu":
		return Dpkg{}
	case "Alpine", "Wolfi", "Chainguard":
		return APK{}
	case "RPM", "Red Hat", "Rocky Linux", "AlmaLinux", "SUSE", "openSUSE", "Mageia", "openEuler":
		return RPM{}
	case "Go":
		return Go{}
	case "PyPI":
		return PEP440{}
	case "Maven":
		return Maven{}
	case "RubyGems":
		return Gem{}
	case "NuGet", "Packagist":
		return FourPart{}
	}
	// npm, crates.io, Hex, Pub … and OSV SEMVER ranges.
	return Semver{}
}

func invalid(kind, v string, err error) error {
	return fmt.Errorf("%w: %s %q: %w", ErrInvalid, kind, v, err)
}

// Dpkg compares Debian package versions ([epoch:]upstream[-revision]).
type Dpkg struct{}

type dpkgV struct{ v deb.Version }

func (Dpkg) Parse(v string) (Version, error) {
	p, err := deb.NewVersion(v)
	if err != nil {
		return nil, invalid("dpkg", v, err)
	}
	return dpkgV{p}, nil
}
func (a dpkgV) Compare(b Version) int { return a.v.Compare(b.(dpkgV).v) }
func (a dpkgV) String() string        { return a.v.String() }

// APK compares Alpine package versions.
type APK struct{}

type apkV struct {
	v   apk.Version
	str string
}

func (APK) Parse(v string) (Version, error) {
	p, err := apk.NewVersion(v)
	if err != nil {
		return nil, invalid("apk", v, err)
	}
	return apkV{p, v}, nil
}
func (a apkV) Compare(b Version) int { return a.v.Compare(b.(apkV).v) }
func (a apkV) String() string        { return a.str }

// RPM compares [epoch:]version[-release] with rpmvercmp.
type RPM struct{}

type rpmV struct{ v rpm.Version }

func (RPM) Parse(v string) (Version, error) {
	if strings.TrimSpace(v) == "" {
		return nil, invalid("rpm", v, errors.New("empty"))
	}
	return rpmV{rpm.NewVersion(v)}, nil
}
func (a rpmV) Compare(b Version) int { return a.v.Compare(b.(rpmV).v) }
func (a rpmV) String() string        { return a.v.String() }

// Semver compares semantic versions (npm, crates.io, SEMVER ranges). A
// leading "v" is accepted.
type Semver struct{}

type semverV struct{ v *semver.Version }

func (Semver) Parse(v string) (Version, error) {
	p, err := semver.NewVersion(v)
	if err != nil {
		return nil, invalid("semver", v, err)
	}
	return semverV{p}, nil
}
func (a semverV) Compare(b Version) int { return a.v.Compare(b.(semverV).v) }
func (a semverV) String() string        { return a.v.String() }

// Go compares Go module versions, pseudo-versions included, and Go
// toolchain versions ("go1.21.3", "1.21rc2") for the standard library.
type Go struct{}

type goV struct{ v string }

func (Go) Parse(v string) (Version, error) {
	c := CanonicalGo(v)
	if !modsemver.IsValid(c) {
		return nil, invalid("go", v, errors.New("not a Go semantic version"))
	}
	return goV{c}, nil
}
func (a goV) Compare(b Version) int { return modsemver.Compare(a.v, b.(goV).v) }
func (a goV) String() string        { return strings.TrimPrefix(a.v, "v") }

// CanonicalGo turns module and toolchain versions into "vX.Y.Z[-pre]":
// "1.6.0" → "v1.6.0", "go1.21" → "v1.21.0", "go1.21rc2" → "v1.21.0-rc.2".
func CanonicalGo(v string) string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "go") {
		v = strings.TrimPrefix(v, "go")
		// Toolchain pre-releases: 1.21rc2, 1.20beta1.
		for _, pre := range []string{"rc", "beta", "alpha"} {
			if i := strings.Index(v, pre); i > 0 {
				v = v[:i] + "-" + pre + "." + v[i+len(pre):]
				break
			}
		}
	}
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	// Toolchain "1.21" / "1.21-rc.2" means 1.21.0.
	core, rest, hasPre := strings.Cut(v, "-")
	if strings.Count(core, ".") == 1 {
		core += ".0"
	}
	if hasPre {
		return core + "-" + rest
	}
	return core
}

// PEP440 compares Python versions (epochs, pre/post/dev releases, local).
type PEP440 struct{}

type pepV struct{ v pep440.Version }

func (PEP440) Parse(v string) (Version, error) {
	p, err := pep440.Parse(v)
	if err != nil {
		return nil, invalid("pep440", v, err)
	}
	return pepV{p}, nil
}
func (a pepV) Compare(b Version) int { return a.v.Compare(b.(pepV).v) }
func (a pepV) String() string        { return a.v.String() }

// Maven compares Maven versions (ComparableVersion rules: qualifiers
// alpha < beta < milestone < rc < snapshot < "" < sp).
type Maven struct{}

type mvnV struct{ v mvn.Version }

func (Maven) Parse(v string) (Version, error) {
	p, err := mvn.NewVersion(v)
	if err != nil {
		return nil, invalid("maven", v, err)
	}
	return mvnV{p}, nil
}
func (a mvnV) Compare(b Version) int { return a.v.Compare(b.(mvnV).v) }
func (a mvnV) String() string        { return a.v.String() }

// Gem compares RubyGems versions.
type Gem struct{}

type gemV struct{ v gem.Version }

func (Gem) Parse(v string) (Version, error) {
	p, err := gem.NewVersion(v)
	if err != nil {
		return nil, invalid("gem", v, err)
	}
	return gemV{p}, nil
}
func (a gemV) Compare(b Version) int { return a.v.Compare(b.(gemV).v) }
func (a gemV) String() string        { return a.v.String() }

// FourPart compares NuGet and Composer versions: up to four numeric parts,
// an optional pre-release that sorts before the release, a leading "v"
// ignored (Composer tags).
type FourPart struct{}

type fourV struct{ v gover.Version }

func (FourPart) Parse(v string) (Version, error) {
	p, err := gover.Parse(strings.TrimPrefix(strings.TrimSpace(v), "v"))
	if err != nil {
		return nil, invalid("version", v, err)
	}
	return fourV{p}, nil
}
func (a fourV) Compare(b Version) int { return a.v.Compare(b.(fourV).v) }
func (a fourV) String() string        { return a.v.String() }
