package manifest

import (
	"errors"
	"strings"
	"testing"
)

func TestFold(t *testing.T) {
	for _, tt := range []struct{ a, b string }{
		{"mediaType", "MEDIATYPE"},
		{"schemaVersion", "\u017fchemaVersion"}, // long s
		{"os.version", "OS.VERSION"},
		{"k", "\u212a"}, // Kelvin sign
	} {
		if fold(tt.a) != fold(tt.b) || !strings.EqualFold(tt.a, tt.b) {
			t.Errorf("fold(%q) = %q, fold(%q) = %q", tt.a, fold(tt.a), tt.b, fold(tt.b))
		}
	}
	if fold("config") == fold("confik") {
		t.Error("distinct names fold together")
	}
}

func TestParseRefusesAmbiguousKeys(t *testing.T) {
	index := `"mediaType":"` + ociI + `"`
	tests := []struct {
		name, body, mention string
	}{
		{"duplicate mediaType", `{"schemaVersion":2,"mediaType":"` + ociM + `",` + index + `,"config":` + cfg + `}`, "duplicate"},
		{"duplicate config", `{"schemaVersion":2,"config":` + cfg + `,"config":` + cfg + `}`, "duplicate"},
		{"config and Config", `{"schemaVersion":2,"config":` + cfg + `,"Config":` + cfg + `}`, "Config"},
		{"upper-case field alone", `{"schemaVersion":2,"MediaType":"` + ociM + `","config":` + cfg + `}`, "MediaType"},
		{"long s spelling", `{"\u017fchemaVersion":2,"config":` + cfg + `}`, "must be spelled"},
		{"duplicate digest in descriptor", image(`{"mediaType":"a/b","digest":"sha256:` + strings.Repeat("0", 64) + `","size":1,"digest":"sha256:` + strings.Repeat("1", 64) + `"}`), "duplicate"},
		{"Size in descriptor", image(`{"mediaType":"a/b","digest":"sha256:` + strings.Repeat("0", 64) + `","Size":1}`), "Size"},
		{"duplicate annotation", `{"schemaVersion":2,"config":` + cfg + `,"annotations":{"a":"1","a":"2"}}`, "duplicate"},
		{"duplicate key in unknown field", `{"schemaVersion":2,"config":` + cfg + `,"x":{"y":1,"Y":2}}`, "duplicate"},
		{"deep nesting", `{"schemaVersion":2,"config":` + cfg + `,"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, "nested"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(ociM, []byte(tt.body))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("Parse = %v, want ErrInvalid mentioning %q", err, tt.mention)
			}
		})
	}
}

func TestParseAllowsFreeFormAnnotationKeys(t *testing.T) {
	body := `{"schemaVersion":2,"config":` + cfg + `,"annotations":{"Size":"1","size":"2","MediaType":"x","A":"1","a":"2"}}`
	p, err := Parse(ociM, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Annotations) != 5 {
		t.Fatalf("annotations = %v", p.Annotations)
	}
}
