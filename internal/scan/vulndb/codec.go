package vulndb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/moat-dev/moat/internal/scan/vulndb/osv"
)

// Records are stored in a compact binary form: a scan decodes every
// advisory of every package it looks up, and this decodes several times
// faster than JSON. Layout, all integers unsigned varints:
//
//	recordMagic | string id | strings aliases | strings related |
//	string summary | string details | time published | time modified |
//	time withdrawn |
//	severities | string databaseSeverity | affected... | references | string source
//
// where a string is (len, bytes), strings is (count, string...), a time is
// unix nanoseconds + 1 (0 = zero time), severities is (count, (type,
// score)...), references is (count, (type, url)...), and affected is
// (count, (ecosystem, name, purl, ranges, versions, severities, rating)...)
// with ranges (count, (type, repo, events (count, (introduced, fixed,
// last_affected, limit)...))...).
const recordMagic = 0xA1

// errRecord is wrapped into ErrCorrupt by callers.
var errRecord = errors.New("malformed record")

func encodeRecord(a *osv.Advisory) []byte {
	e := recEncoder{b: make([]byte, 0, 512)}
	e.b = append(e.b, recordMagic)
	e.str(a.ID)
	e.strs(a.Aliases)
	e.strs(a.Related)
	e.str(a.Summary)
	e.str(a.Details)
	e.time(a.Published)
	e.time(a.Modified)
	e.time(a.Withdrawn)
	e.sevs(a.Severity)
	e.str(a.DatabaseSeverity)
	e.uint(uint64(len(a.Affected)))
	for i := range a.Affected {
		af := &a.Affected[i]
		e.str(af.Ecosystem)
		e.str(af.Name)
		e.str(af.PURL)
		e.uint(uint64(len(af.Ranges)))
		for _, r := range af.Ranges {
			e.str(r.Type)
			e.str(r.Repo)
			e.uint(uint64(len(r.Events)))
			for _, ev := range r.Events {
				e.str(ev.Introduced)
				e.str(ev.Fixed)
				e.str(ev.LastAffected)
				e.str(ev.Limit)
			}
		}
		e.strs(af.Versions)
		e.sevs(af.Severity)
		e.str(af.Rating)
	}
	e.uint(uint64(len(a.References)))
	for _, r := range a.References {
		e.str(r.Type)
		e.str(r.URL)
	}
	e.str(a.Source)
	return e.b
}

type recEncoder struct{ b []byte }

func (e *recEncoder) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *recEncoder) str(s string) {
	e.uint(uint64(len(s)))
	e.b = append(e.b, s...)
}
func (e *recEncoder) strs(ss []string) {
	e.uint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}
func (e *recEncoder) time(t time.Time) {
	if t.IsZero() {
		e.uint(0)
		return
	}
	e.uint(uint64(t.UnixNano()) + 1)
}
func (e *recEncoder) sevs(ss []osv.Severity) {
	e.uint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s.Type)
		e.str(s.Score)
	}
}

// decodeRecord is the inverse of encodeRecord. It never panics on corrupt
// input: every length is checked against what remains.
func decodeRecord(b []byte) (*osv.Advisory, error) {
	if len(b) == 0 || b[0] != recordMagic {
		return nil, fmt.Errorf("%w: bad magic", errRecord)
	}
	d := recDecoder{b: b[1:]}
	a := &osv.Advisory{}
	a.ID = d.str()
	a.Aliases = d.strs()
	a.Related = d.strs()
	a.Summary = d.str()
	a.Details = d.str()
	a.Published = d.time()
	a.Modified = d.time()
	a.Withdrawn = d.time()
	a.Severity = d.sevs()
	a.DatabaseSeverity = d.str()
	if n := d.count(); n > 0 {
		a.Affected = make([]osv.Affected, n)
		for i := range a.Affected {
			af := &a.Affected[i]
			af.Ecosystem, af.Name, af.PURL = d.str(), d.str(), d.str()
			if nr := d.count(); nr > 0 {
				af.Ranges = make([]osv.Range, nr)
				for j := range af.Ranges {
					r := &af.Ranges[j]
					r.Type, r.Repo = d.str(), d.str()
					if ne := d.count(); ne > 0 {
						r.Events = make([]osv.Event, ne)
						for k := range r.Events {
							ev := &r.Events[k]
							ev.Introduced, ev.Fixed, ev.LastAffected, ev.Limit = d.str(), d.str(), d.str(), d.str()
						}
					}
				}
			}
			af.Versions = d.strs()
			af.Severity = d.sevs()
			af.Rating = d.str()
		}
	}
	if n := d.count(); n > 0 {
		a.References = make([]osv.Reference, n)
		for i := range a.References {
			a.References[i].Type, a.References[i].URL = d.str(), d.str()
		}
	}
	a.Source = d.str()
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errRecord, len(d.b))
	}
	return a, nil
}

type recDecoder struct {
	b   []byte
	err error
}

func (d *recDecoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad varint", errRecord)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length that must fit in what remains (each element takes
// at least one byte), so corrupt input cannot ask for huge allocations.
func (d *recDecoder) count() int {
	v := d.uint()
	if v > uint64(len(d.b)) {
		if d.err == nil {
			d.err = fmt.Errorf("%w: count %d exceeds record", errRecord, v)
		}
		return 0
	}
	return int(v)
}

func (d *recDecoder) str() string {
	n := d.count()
	if d.err != nil || n == 0 {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *recDecoder) strs() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *recDecoder) time() time.Time {
	v := d.uint()
	if v == 0 || v-1 > math.MaxInt64 {
		return time.Time{}
	}
	return time.Unix(0, int64(v-1)).UTC()
}

func (d *recDecoder) sevs() []osv.Severity {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]osv.Severity, n)
	for i := range out {
		out[i].Type, out[i].Score = d.str(), d.str()
	}
	return out
}
