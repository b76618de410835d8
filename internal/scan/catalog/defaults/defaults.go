// Package defaults wires the full analyzer set, OS and language, into a
// catalog. It is the one place that knows every analyzer; the analyzers
// themselves register nothing.
//
// Loading an inventory, as `moat sbom` and vulnerability matching do:
//
//	img, err := source.Open(ctx, "oci-archive:app.tar")
//	defer img.Close()
//	cat, err := defaults.New(catalog.WithCache(cache))
//	inv, err := cat.Catalog(ctx, img)
package defaults

import (
	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/lang"
	"github.com/moat-dev/moat/internal/scan/catalog/os/apk"
	"github.com/moat-dev/moat/internal/scan/catalog/os/dpkg"
	"github.com/moat-dev/moat/internal/scan/catalog/os/osrelease"
	"github.com/moat-dev/moat/internal/scan/catalog/os/rpm"
)

// Analyzers returns every analyzer moat runs, OS first.
func Analyzers() []catalog.Analyzer {
	return append([]catalog.Analyzer{
		osrelease.Analyzer{},
		dpkg.Analyzer{},
		apk.Analyzer{},
		rpm.Analyzer{},
	}, lang.Analyzers()...)
}

// New returns a catalog running Analyzers, which settles lockfile and
// installed-tree double counts (lang.Reconcile) after squashing; opts
// come after and may add more.
func New(opts ...catalog.Option) (*catalog.Catalog, error) {
	reconcile := catalog.WithPostProcess(lang.ReconcileInventory)
	return catalog.New(Analyzers(), append([]catalog.Option{reconcile}, opts...)...)
}
