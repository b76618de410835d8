package misconfig

import (
	"github.com/moat-dev/moat/internal/scan/catalog"
)

// KindMisconfiguration is the catalog.Finding kind of misconfigurations.
const KindMisconfiguration = "misconfiguration"

// hookVersion changes whenever Relevant or the collector's findings change,
// so layer results cached under another version are redone.
const hookVersion = 1

// Hook runs the file checks inside the catalog's single pass: it keeps
// the entries Relevant picks with each cached layer result and replays
// them through a Collector after squashing, so a warm cache gives the
// same findings as a cold one. It is stateless; wire it with
// catalog.WithEntryHook.
type Hook struct{}

var _ catalog.EntryHook = Hook{}

// Name is the hook's cache-key name.
func (Hook) Name() string { return "misconfig" }

// Version is the hook's cache-key version.
func (Hook) Version() int { return hookVersion }

// Keep reports whether the entry is Relevant.
func (Hook) Keep(e *catalog.Entry) bool { return Relevant(entry(e)) }

// Squash replays the kept entries, bottom layer first, and adds the
// collector's findings to inv.
func (Hook) Squash(layers []catalog.LayerEntries, inv *catalog.Inventory) {
	c := NewCollector()
	for _, l := range layers {
		c.StartLayer(l.Digest)
		for i := range l.Entries {
			c.Add(entry(&l.Entries[i]))
		}
	}
	for _, f := range c.Findings() {
		inv.Findings = append(inv.Findings, f.Catalog())
	}
	catalog.SortFindings(inv.Findings)
}

// Catalog converts f into the catalog's finding model.
func (f Finding) Catalog() catalog.Finding {
	return catalog.Finding{Kind: KindMisconfiguration, RuleID: f.ID, Severity: f.Severity.String(), Title: f.Title,
		Message: f.Message, Path: f.Path, Layer: f.Layer}
}

func entry(e *catalog.Entry) Entry {
	return Entry{Path: e.Path, Mode: e.Mode, Typeflag: e.Typeflag, UID: e.UID, GID: e.GID, Linkname: e.Linkname}
}
