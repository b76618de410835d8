package vulndb

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxFeedFile caps a KEV or end-of-life JSON file read by its own path
// (the KEV catalog is a few MB).
const maxFeedFile = 256 << 20

// addFile imports one file given by its own path, its kind told from its
// name and, for JSON, its content:
//
//	*.zip               an OSV zip
//	*.csv, *.csv.gz     EPSS scores
//	*.json              the CISA KEV catalog (a "vulnerabilities" array), or
//	                    an endoflife.date product file ("releases"; the file
//	                    name names the product)
//
// A single OSV record is refused: each import replaces a source whole, so
// importing one record would drop the rest of its source.
func (b *Batch) addFile(ctx context.Context, path string) error {
	name := filepath.Base(path)
	switch {
	case strings.HasSuffix(name, ".zip"):
		return b.AddOSVZip(ctx, path, zipSourceName(name, path))
	case strings.HasSuffix(name, ".csv") || strings.HasSuffix(name, ".csv.gz"):
		return withFile(path, func(r io.Reader) error { return b.AddEPSS(r, path) })
	case !strings.HasSuffix(name, ".json"):
		return fmt.Errorf("%w: %s: want a directory, an OSV .zip, an EPSS .csv[.gz], or the KEV or an endoflife.date .json", ErrFormat, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFeedFile+1))
	if err != nil {
		return err
	}
	if len(data) > maxFeedFile {
		return fmt.Errorf("%w: %s: larger than %d bytes", ErrFormat, path, maxFeedFile)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrFormat, path, err)
	}
	switch {
	case top["vulnerabilities"] != nil:
		return b.AddKEV(bytes.NewReader(data), path)
	case top["releases"] != nil:
		return b.AddEOL(strings.TrimSuffix(name, ".json"), bytes.NewReader(data), path)
	case top["id"] != nil && (top["affected"] != nil || top["modified"] != nil):
		return fmt.Errorf("%w: %s is one OSV record: import the directory of its source (moat db import DIR), since an import replaces a source's records whole", ErrFormat, path)
	}
	return fmt.Errorf("%w: %s is neither the CISA KEV catalog (no \"vulnerabilities\") nor an endoflife.date product file (no \"releases\")", ErrFormat, path)
}
