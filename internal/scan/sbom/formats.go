package sbom

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"

	"github.com/moat-dev/moat/internal/lazyregexp"
	"github.com/moat-dev/moat/internal/scan/catalog"
)

func writeTable(w io.Writer, inv *catalog.Inventory) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERSION\tTYPE\tSOURCE\tLAYER\tPATH")
	for _, p := range inv.Packages {
		src := p.SourceName
		if p.SourceVersion != "" {
			src = cmp.Or(src, p.Name) + " " + p.SourceVersion
		}
		typ := p.Type
		if p.OwnedByOS {
			typ += " (os)"
		}
		path := ""
		if len(p.Paths) > 0 {
			path = p.Paths[0]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Version, typ, src, shortDigest(p.Layer), path)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if inv.Distro != nil {
		fmt.Fprintf(w, "\ndistro: %s\n", inv.Distro.PrettyName)
	}
	fmt.Fprintf(w, "%d packages in %d layers\n", len(inv.Packages), len(inv.Layers))
	for _, warn := range inv.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	return nil
}

func writeJSON(w io.Writer, inv *catalog.Inventory) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(inv)
}

const propPrefix = "moat:"

func writeCycloneDX(w io.Writer, inv *catalog.Inventory, o *options) error {
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + o.id()
	subject := &cdx.Component{
		BOMRef: "image",
		Type:   cdx.ComponentTypeContainer,
		Name:   o.subject,
	}
	if inv.Image != "" {
		subject.Version = inv.Image
	}
	bom.Metadata = &cdx.Metadata{
		Timestamp: o.now().UTC().Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: "moat", Version: o.toolVersion,
		}}},
		Component: subject,
	}
	comps := make([]cdx.Component, 0, len(inv.Packages)+1)
	refs := make([]string, 0, len(inv.Packages)+1)
	if d := inv.Distro; d != nil {
		comps = append(comps, cdx.Component{
			BOMRef: "os", Type: cdx.ComponentTypeOS, Name: d.ID, Version: d.VersionID, Description: d.PrettyName,
		})
		refs = append(refs, "os")
	}
	for i, p := range inv.Packages {
		ref := "pkg-" + strconv.Itoa(i)
		c := cdx.Component{
			BOMRef:     ref,
			Type:       cdx.ComponentTypeLibrary,
			Name:       p.Name,
			Version:    p.Version,
			PackageURL: p.PURL,
		}
		if len(p.Licenses) > 0 {
			ls := make(cdx.Licenses, 0, len(p.Licenses))
			for _, l := range p.Licenses {
				ls = append(ls, cdx.LicenseChoice{License: &cdx.License{Name: l}})
			}
			c.Licenses = &ls
		}
		props := []cdx.Property{
			{Name: propPrefix + "ecosystem", Value: string(p.Ecosystem)},
			{Name: propPrefix + "type", Value: p.Type},
			{Name: propPrefix + "layer", Value: p.Layer},
		}
		for _, path := range p.Paths {
			props = append(props, cdx.Property{Name: propPrefix + "path", Value: path})
		}
		if p.SourceName != "" {
			props = append(props, cdx.Property{Name: propPrefix + "sourceName", Value: p.SourceName})
		}
		if p.SourceVersion != "" {
			props = append(props, cdx.Property{Name: propPrefix + "sourceVersion", Value: p.SourceVersion})
		}
		if p.OwnedByOS {
			props = append(props, cdx.Property{Name: propPrefix + "ownedByOS", Value: "true"})
		}
		c.Properties = &props
		comps = append(comps, c)
		refs = append(refs, ref)
	}
	bom.Components = &comps
	bom.Dependencies = &[]cdx.Dependency{{Ref: "image", Dependencies: &refs}}
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	enc.SetEscapeHTML(false)
	return enc.EncodeVersion(bom, cdx.SpecVersion1_6)
}

// spdxLicenseRE accepts strings shaped like SPDX license expressions;
// anything else is recorded as NOASSERTION rather than invented.
var spdxLicenseRE = lazyregexp.New(`^\(?[A-Za-z0-9.+-]+\)?( (AND|OR|WITH) \(?[A-Za-z0-9.+-]+\)?)*$`)

func writeSPDX(w io.Writer, inv *catalog.Inventory, o *options) error {
	id := o.id()
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      o.subject,
		DocumentNamespace: "https://moat.dev/spdx/" + id,
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "moat-" + o.toolVersion}},
			Created:  o.now().UTC().Format(time.RFC3339),
		},
	}
	root := &spdx.Package{
		PackageName:             o.subject,
		PackageSPDXIdentifier:   "Image",
		PackageVersion:          inv.Image,
		PackageDownloadLocation: "NOASSERTION",
		PrimaryPackagePurpose:   "CONTAINER",
	}
	doc.Packages = append(doc.Packages, root)
	doc.Relationships = append(doc.Relationships, &spdx.Relationship{
		RefA: common.MakeDocElementID("", "DOCUMENT"), RefB: common.MakeDocElementID("", "Image"), Relationship: "DESCRIBES",
	})
	if d := inv.Distro; d != nil {
		doc.Packages = append(doc.Packages, &spdx.Package{
			PackageName:             d.ID,
			PackageSPDXIdentifier:   "OperatingSystem",
			PackageVersion:          d.VersionID,
			PackageDescription:      d.PrettyName,
			PackageDownloadLocation: "NOASSERTION",
			PrimaryPackagePurpose:   "OPERATING_SYSTEM",
		})
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", "Image"), RefB: common.MakeDocElementID("", "OperatingSystem"), Relationship: "CONTAINS",
		})
	}
	for i, p := range inv.Packages {
		eid := common.ElementID("Package-" + strconv.Itoa(i))
		sp := &spdx.Package{
			PackageName:             p.Name,
			PackageSPDXIdentifier:   eid,
			PackageVersion:          p.Version,
			PackageDownloadLocation: "NOASSERTION",
			PackageLicenseConcluded: "NOASSERTION",
			PackageLicenseDeclared:  declared(p.Licenses),
			PackageCopyrightText:    "NOASSERTION",
			PrimaryPackagePurpose:   "LIBRARY",
			PackageComment:          comment(&p),
		}
		if p.SourceName != "" {
			v := p.SourceVersion
			if v == "" {
				v = p.Version
			}
			sp.PackageSourceInfo = "built from source package " + p.SourceName + " " + v
		}
		if p.PURL != "" {
			sp.PackageExternalReferences = []*spdx.PackageExternalReference{{
				Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: p.PURL,
			}}
		}
		doc.Packages = append(doc.Packages, sp)
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", "Image"), RefB: common.MakeDocElementID("", string(eid)), Relationship: "CONTAINS",
		})
	}
	return spdxjson.Write(doc, w, spdxjson.Indent("  "))
}

func declared(ls []string) string {
	if len(ls) == 0 {
		return "NOASSERTION"
	}
	expr := ls[0]
	if len(ls) > 1 {
		parts := make([]string, len(ls))
		for i, l := range ls {
			parts[i] = l
			if strings.Contains(l, " ") {
				parts[i] = "(" + l + ")"
			}
		}
		expr = strings.Join(parts, " AND ")
	}
	if !spdxLicenseRE().MatchString(expr) {
		return "NOASSERTION"
	}
	return expr
}

func comment(p *catalog.Package) string {
	parts := []string{"layer " + p.Layer}
	if len(p.Paths) > 0 {
		parts = append(parts, "found in "+strings.Join(p.Paths, ", "))
	}
	if p.OwnedByOS {
		parts = append(parts, "files owned by an OS package")
	}
	return strings.Join(parts, "; ")
}
