package v2path

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		path string
		want Route
		ok   bool
	}{
		{"/v2/a/b/tags/list", Route{Endpoint: Tags, Name: "a/b"}, true},
		{"/v2/a/blobs/uploads/", Route{Endpoint: UploadStart, Name: "a"}, true},
		{"/v2/a/blobs/uploads", Route{Endpoint: UploadStart, Name: "a"}, true},
		{"/v2/a/b/c/blobs/uploads/ID1", Route{Endpoint: Upload, Name: "a/b/c", Arg: "ID1"}, true},
		{"/v2/a/blobs/sha256:00", Route{Endpoint: Blob, Name: "a", Arg: "sha256:00"}, true},
		{"/v2/x/blobs/blobs/sha256:00", Route{Endpoint: Blob, Name: "x/blobs", Arg: "sha256:00"}, true},
		{"/v2/x/manifests/manifests/latest", Route{Endpoint: Manifest, Name: "x/manifests", Arg: "latest"}, true},
		{"/v2/x/uploads/blobs/d", Route{Endpoint: Blob, Name: "x/uploads", Arg: "d"}, true},
		{"/v2/tags/list/tags/list", Route{Endpoint: Tags, Name: "tags/list"}, true},
		{"/v2/a/referrers/sha256:00", Route{Endpoint: Referrers, Name: "a", Arg: "sha256:00"}, true},
		{"/v2/a/blobs/uploads/x%2Fy", Route{Endpoint: Upload, Name: "a", Arg: "x/y"}, true},
		{"/v2/a/manifests/", Route{}, false},
		{"/v2/a/blobs/", Route{}, false},
		{"/v2/a/tags", Route{}, false},
		{"/v2/a", Route{}, false},
		{"/v2/a/b/c", Route{}, false},
		{"/v1/a/tags/list", Route{}, false},
		{"/v2/a/blobs/%zz", Route{}, false},
	}
	for _, tc := range tests {
		got, ok := Parse(tc.path)
		if ok != tc.ok || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"/v2/a/b/tags/list", "/v2/a/blobs/uploads/", "/v2/a/blobs/uploads/ID", "/v2/a/blobs/sha256:00",
		"/v2/x/manifests/latest", "/v2/x/referrers/sha256:00", "/v2/a/blobs/uploads/x%2Fy", "/v2//blobs/x", "/v2/%zz/tags/list"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt, ok := Parse(path)
		if !ok {
			return
		}
		if rt.Endpoint == 0 || !strings.HasPrefix(path, "/v2/") {
			t.Fatalf("route %+v from %q", rt, path)
		}
		if rt.Endpoint != Tags && rt.Endpoint != UploadStart && rt.Arg == "" {
			t.Fatalf("route %+v without argument from %q", rt, path)
		}
	})
}
