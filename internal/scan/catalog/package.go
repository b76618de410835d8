package catalog

// Ecosystem names follow OSV's ecosystem strings so matching can key
// advisories directly ("Debian", "Alpine", "npm", "PyPI", "Go", "Maven",
// "crates.io", "RubyGems", "Packagist", "NuGet"). RPM-based distributions
// use their OSV names where one exists ("Red Hat", "Rocky Linux",
// "AlmaLinux", "openSUSE", "SUSE") and "RPM" otherwise.
type Ecosystem string

const (
	Debian    Ecosystem = "Debian"
	Ubuntu    Ecosystem = "Ubuntu"
	Alpine    Ecosystem = "Alpine"
	RPM       Ecosystem = "RPM"
	Npm       Ecosystem = "npm"
	PyPI      Ecosystem = "PyPI"
	Go        Ecosystem = "Go"
	Maven     Ecosystem = "Maven"
	CratesIO  Ecosystem = "crates.io"
	RubyGems  Ecosystem = "RubyGems"
	Packagist Ecosystem = "Packagist"
	NuGet     Ecosystem = "NuGet"
)

// Package is one installed package found in an image.
type Package struct {
	Ecosystem Ecosystem `json:"ecosystem"`
	Name      string    `json:"name"`
	Version   string    `json:"version"`
	// SourceName and SourceVersion are the source package for OS packages
	// (dpkg Source:, apk origin, rpm source RPM); distribution advisories
	// are keyed by them. Empty when equal to Name/Version.
	SourceName    string `json:"sourceName,omitempty"`
	SourceVersion string `json:"sourceVersion,omitempty"`
	// PURL is the package URL (github.com/package-url/purl-spec).
	PURL     string   `json:"purl"`
	Licenses []string `json:"licenses,omitempty"`
	// Type refines the kind within an ecosystem: "deb", "apk", "rpm",
	// "go-module", "go-stdlib", "npm", "python", "jar", "gem", "composer",
	// "dotnet", "cargo", "runtime" (a language runtime itself).
	Type string `json:"type"`
	// Paths are the files the package was read from (database, manifest,
	// lockfile or binary), absolute within the image.
	Paths []string `json:"paths"`
	// Layer is the digest of the layer that introduced the package (the
	// diff ID's compressed blob digest as in the manifest).
	Layer string `json:"layer"`
	// OwnedByOS is set for language packages whose files belong to an OS
	// package (e.g. Debian's python3-urllib3); they are judged by the OS
	// package's advisories, not by their upstream version.
	OwnedByOS bool `json:"ownedByOS,omitempty"`
	// Direct marks a dependency a project declares itself, when known.
	Direct bool `json:"direct,omitempty"`
	// Warnings are problems met while reading this package.
	Warnings []string `json:"warnings,omitempty"`
}

// Distro identifies the operating system release of an image.
type Distro struct {
	ID         string `json:"id"`         // os-release ID: "debian", "ubuntu", "alpine", "rhel"…
	VersionID  string `json:"versionId"`  // "12", "22.04", "3.19.1"
	Codename   string `json:"codename"`   // "bookworm"
	PrettyName string `json:"prettyName"` // for display
}

// Inventory is the squashed package list of an image.
type Inventory struct {
	// Image is the manifest digest, empty for a plain directory.
	Image    string    `json:"image,omitempty"`
	Distro   *Distro   `json:"distro,omitempty"`
	Packages []Package `json:"packages"`
	// Findings are the secrets and misconfigurations of the final
	// filesystem, sorted by path, line and rule.
	Findings []Finding `json:"findings,omitempty"`
	// Layers are the layer digests in order, bottom first.
	Layers []string `json:"layers"`
	// Warnings are layer-level problems (hostile entries, unreadable
	// databases) that did not stop the scan.
	Warnings []string `json:"warnings,omitempty"`
}
