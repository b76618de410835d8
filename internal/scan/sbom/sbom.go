// Package sbom writes a catalog.Inventory as a software bill of materials:
// a human table, moat's own JSON (the Inventory itself), CycloneDX 1.6
// JSON (via cyclonedx-go) and SPDX 2.3 JSON (via spdx/tools-golang).
//
// Output is deterministic for a given inventory: the timestamp and the
// document identifiers come from options (WithClock, WithID) so tests can
// fix them. Licenses are written as names (CycloneDX) or, when they look
// like SPDX license expressions, as declared licenses (SPDX); nothing is
// inferred.
package sbom

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/moat-dev/moat/internal/scan/catalog"
)

// Format is an output format.
type Format string

// The formats Write knows.
const (
	Table     Format = "table"
	JSON      Format = "json"
	CycloneDX Format = "cyclonedx"
	SPDX      Format = "spdx"
)

// Formats lists the formats in the order the CLI documents them.
func Formats() []Format { return []Format{Table, JSON, CycloneDX, SPDX} }

// ErrUnknownFormat reports a format Write does not know.
var ErrUnknownFormat = errors.New("unknown SBOM format")

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats() {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("%w %q (want table, json, cyclonedx or spdx)", ErrUnknownFormat, s)
}

type options struct {
	now         func() time.Time
	id          func() string
	subject     string
	toolVersion string
}

// Option configures Write.
type Option func(*options)

// WithClock sets the document timestamp source. Default: time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithID sets the source of the document's unique identifier (a UUID,
// used for the CycloneDX serial number and the SPDX namespace). Default: a
// random UUID.
func WithID(id func() string) Option { return func(o *options) { o.id = id } }

// WithSubject names what was scanned (the SOURCE argument). Default:
// the image digest.
func WithSubject(s string) Option { return func(o *options) { o.subject = s } }

// WithToolVersion sets moat's version recorded as the creating tool.
// Default: "dev".
func WithToolVersion(v string) Option { return func(o *options) { o.toolVersion = v } }

// Write encodes inv in format f.
func Write(w io.Writer, f Format, inv *catalog.Inventory, opts ...Option) error {
	o := options{now: time.Now, id: randomUUID, toolVersion: "dev"}
	for _, opt := range opts {
		opt(&o)
	}
	if o.subject == "" {
		o.subject = inv.Image
	}
	if o.subject == "" {
		o.subject = "image"
	}
	// The writers emit many small pieces (a table cell at a time); one
	// buffer turns them into a few large writes to a terminal or file.
	bw := bufio.NewWriterSize(w, 64<<10)
	var err error
	switch f {
	case Table:
		err = writeTable(bw, inv)
	case JSON:
		err = writeJSON(bw, inv)
	case CycloneDX:
		err = writeCycloneDX(bw, inv, &o)
	case SPDX:
		err = writeSPDX(bw, inv, &o)
	default:
		return fmt.Errorf("%w %q", ErrUnknownFormat, f)
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}

func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func shortDigest(d string) string {
	if _, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return hex[:12]
	}
	return d
}
