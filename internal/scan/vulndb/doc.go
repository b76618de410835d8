// Package vulndb is moat's local advisory database: OSV advisories indexed by
// (ecosystem, package), the CISA KEV catalog, EPSS scores and
// endoflife.date release data.
//
// # On-disk layout
//
//	DIR/
//	  CURRENT                  name of the active version; replaced by rename
//	  lock                     advisory lock held by writers (flock)
//	  versions/<version>/
//	    meta.json              sources, counts, creation time (Meta)
//	    advisories.bin         the osv.Advisory records back to back, in the
//	                           binary form described at encodeRecord
//	    index.gob              (ecosystem, name) → record numbers, line offsets,
//	                           id → record, per-key content hashes
//	    changes.json           keys whose advisories changed in this version
//	    kev.json, epss.bin, eol.json  (epss.bin: see encodeEPSS)
//
// A writer builds a complete new version directory, fsyncs it, then swaps
// CURRENT with an atomic rename; readers resolve CURRENT once at Open and
// never see a half-written version. Older versions are pruned, keeping the
// previous one for readers that opened it just before the swap.
//
// Open loads only the index; advisory records are read and decoded on
// first lookup and cached, and EPSS scores are loaded on first use, so a scan of a small
// image reads little.
//
// Limits: one writer at a time per DIR (enforced by the lock); readers need
// no lock. Records are merged by source: an import replaces every record
// from the sources it provides and keeps the others.
package vulndb
