package reference

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// The spec's grammar, used only as a test oracle for the scanners.
var (
	nameOracle = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagOracle  = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

func TestValidRepository(t *testing.T) {
	valid := []string{
		"a",
		"0",
		"library/ubuntu",
		"a/b/c/d/e",
		"my-app",
		"my--app",
		"my---------app",
		"my_app",
		"my__app",
		"my.app",
		"a.b_c__d-e--f",
		"org/team.x/app_1",
		"9a/b9",
		strings.Repeat("a", MaxNameLength),
		strings.Repeat("ab/", 84) + "abc", // exactly 255
	}
	for _, name := range valid {
		if err := ValidRepository(name); err != nil {
			t.Errorf("ValidRepository(%q) = %v, want nil", name, err)
		}
	}
	invalid := []string{
		"",
		"A",
		"Library/ubuntu",
		"library/Ubuntu",
		"/a",
		"a/",
		"a//b",
		".a",
		"a.",
		"_a",
		"a_",
		"-a",
		"a-",
		"a___b",
		"a..b",
		"a._b",
		"a_.b",
		"a-.b",
		"a.-b",
		"a_-b",
		"a-_b",
		"a/.b",
		"a/b.",
		"a b",
		"a:b",
		"a@b",
		"a\x00b",
		"a\nb",
		"ä",
		"a/../b",
		"..",
		"a/./b",
		"a%2fb",
		"a\\b",
		strings.Repeat("a", MaxNameLength+1),
		strings.Repeat("ab/", 84) + "abcd", // 256
	}
	for _, name := range invalid {
		err := ValidRepository(name)
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidRepository(%q) = %v, want ErrInvalidName", name, err)
		}
	}
}

func TestValidRepositoryErrorMessage(t *testing.T) {
	err := ValidRepository("app/Web")
	if err == nil || !strings.Contains(err.Error(), "offset 4") {
		t.Fatalf("error %v does not locate the bad character", err)
	}
}

func TestValidTag(t *testing.T) {
	valid := []string{
		"latest", "v1.0.0", "1", "_", "_x", "V1-rc.2_b", "A",
		"sha256-" + strings.Repeat("a", 64), // cosign-style tag
		strings.Repeat("a", MaxTagLength),
		"a...", "a---", "9",
	}
	for _, tag := range valid {
		if err := ValidTag(tag); err != nil {
			t.Errorf("ValidTag(%q) = %v, want nil", tag, err)
		}
	}
	invalid := []string{
		"", ".a", "-a", "a:b", "a/b", "a b", "a+b", "ä", "a\x00",
		"sha256:" + strings.Repeat("a", 64),
		strings.Repeat("a", MaxTagLength+1),
	}
	for _, tag := range invalid {
		if err := ValidTag(tag); !errors.Is(err, ErrInvalidTag) {
			t.Errorf("ValidTag(%q) = %v, want ErrInvalidTag", tag, err)
		}
	}
}

func TestValidDigest(t *testing.T) {
	h256 := strings.Repeat("0123456789abcdef", 4)
	h512 := h256 + h256
	valid := []string{"sha256:" + h256, "sha512:" + h512}
	for _, d := range valid {
		if err := ValidDigest(digest.Digest(d)); err != nil {
			t.Errorf("ValidDigest(%q) = %v, want nil", d, err)
		}
		got, err := ParseDigest(d)
		if err != nil || string(got) != d {
			t.Errorf("ParseDigest(%q) = %q, %v", d, got, err)
		}
	}
	invalid := []string{
		"",
		"sha256",
		"sha256:",
		":" + h256,
		h256,
		"sha256:" + h256[:63],
		"sha256:" + h256 + "0",
		"sha256:" + strings.ToUpper(h256),
		"sha256:" + h256[:63] + "g",
		"sha512:" + h256,
		"sha256:" + h512,
		"sha384:" + h512[:96],
		"md5:" + h256[:32],
		"SHA256:" + h256,
		"sha256:" + h256[:32] + ":" + h256[:31],
		"sha256:../../../../etc/passwd" + strings.Repeat("0", 36),
		"sha256+b64:" + h256,
	}
	for _, d := range invalid {
		if err := ValidDigest(digest.Digest(d)); !errors.Is(err, ErrInvalidDigest) {
			t.Errorf("ValidDigest(%q) = %v, want ErrInvalidDigest", d, err)
		}
		if _, err := ParseDigest(d); !errors.Is(err, ErrInvalidDigest) {
			t.Errorf("ParseDigest(%q) = %v, want ErrInvalidDigest", d, err)
		}
	}
}

func TestDigestAgreesWithGoDigest(t *testing.T) {
	// Everything we accept, go-digest must accept too, so callers can use
	// its methods (Encoded, Algorithm, Verifier) on the result.
	for _, d := range []digest.Digest{
		digest.FromString("x"),
		digest.SHA512.FromString("x"),
	} {
		if err := ValidDigest(d); err != nil {
			t.Fatalf("ValidDigest(%s) = %v", d, err)
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("go-digest rejects %s: %v", d, err)
		}
	}
}

func TestParse(t *testing.T) {
	d := digest.FromString("manifest")
	tests := []struct {
		in      string
		want    Reference
		wantErr error
	}{
		{in: "latest", want: Reference{Tag: "latest"}},
		{in: "v1.2.3-rc_1", want: Reference{Tag: "v1.2.3-rc_1"}},
		{in: string(d), want: Reference{Digest: d}},
		{in: "", wantErr: ErrInvalidTag},
		{in: ".hidden", wantErr: ErrInvalidTag},
		{in: "a/b", wantErr: ErrInvalidTag},
		{in: "sha256:abc", wantErr: ErrInvalidDigest},
		{in: "latest:", wantErr: ErrInvalidDigest},
		{in: ":", wantErr: ErrInvalidDigest},
		{in: "sha1:" + strings.Repeat("a", 40), wantErr: ErrInvalidDigest},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Parse(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if got.String() != tt.in {
			t.Errorf("Parse(%q).String() = %q", tt.in, got.String())
		}
		if got.IsDigest() != (tt.want.Digest != "") {
			t.Errorf("Parse(%q).IsDigest() = %v", tt.in, got.IsDigest())
		}
	}
}

func TestErrorsAreBounded(t *testing.T) {
	long := "sha256:" + strings.Repeat("z", 1<<20)
	err := ValidDigest(digest.Digest(long))
	if err == nil || len(err.Error()) > 400 {
		t.Fatalf("error for a 1 MiB digest is %d bytes", len(err.Error()))
	}
}
