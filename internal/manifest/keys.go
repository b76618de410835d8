package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// maxDepth bounds JSON nesting; manifests nest five levels at most.
const maxDepth = 64

// fieldName returns the manifest, index, descriptor or platform field name
// that key folds to, if any.
func fieldName(key string) (string, bool) {
	switch fold(key) {
	case "SCHEMAVERSION":
		return "schemaVersion", true
	case "MEDIATYPE":
		return "mediaType", true
	case "ARTIFACTTYPE":
		return "artifactType", true
	case "CONFIG":
		return "config", true
	case "LAYERS":
		return "layers", true
	case "MANIFESTS":
		return "manifests", true
	case "SUBJECT":
		return "subject", true
	case "ANNOTATIONS":
		return "annotations", true
	case "FSLAYERS":
		return "fsLayers", true
	case "SIGNATURES":
		return "signatures", true
	case "DIGEST":
		return "digest", true
	case "SIZE":
		return "size", true
	case "URLS":
		return "urls", true
	case "DATA":
		return "data", true
	case "PLATFORM":
		return "platform", true
	case "ARCHITECTURE":
		return "architecture", true
	case "OS":
		return "os", true
	case "OS.VERSION":
		return "os.version", true
	case "OS.FEATURES":
		return "os.features", true
	case "VARIANT":
		return "variant", true
	}
	return "", false
}

// checkKeys rejects JSON that parsers could read differently. Go's decoder
// matches field names case-insensitively and keeps the last of duplicate
// keys; other clients match exactly or keep the first. A manifest with
// "mediaType" twice, or both "config" and "Config", could then describe one
// image to moat and another to a client, so such documents are refused:
// keys must be unique, and a key that folds to a manifest field name must
// be spelled exactly like it. Annotation keys are free-form and only need
// to be unique.
func checkKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := walkValue(dec, 0, false); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: data after the JSON document", ErrInvalid)
	}
	return nil
}

func walkValue(dec *json.Decoder, depth int, annotations bool) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: JSON nested deeper than %d levels", ErrInvalid, maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	switch tok {
	case json.Delim('{'):
		return walkObject(dec, depth, annotations)
	case json.Delim('['):
		for dec.More() {
			if err := walkValue(dec, depth+1, false); err != nil {
				return err
			}
		}
		_, err := dec.Token() // ']'
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	return nil
}

func walkObject(dec *json.Decoder, depth int, annotations bool) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		key, _ := tok.(string)
		id := key
		if !annotations {
			id = fold(key)
			if want, ok := fieldName(key); ok && key != want {
				return fmt.Errorf("%w: key %q must be spelled %q", ErrInvalid, truncate(key), want)
			}
		}
		if seen[id] {
			return fmt.Errorf("%w: duplicate key %q", ErrInvalid, truncate(key))
		}
		seen[id] = true
		if err := walkValue(dec, depth+1, !annotations && key == "annotations"); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// fold maps s to a canonical case fold, the smallest rune of each rune's
// folding orbit: strings equal under strings.EqualFold, which is how
// encoding/json matches field names, fold to the same string. ASCII letters
// fold to upper case; the Kelvin sign folds to "K" and the long s to "S".
func fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		lo := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			lo = min(lo, f)
		}
		b.WriteRune(lo)
	}
	return b.String()
}
