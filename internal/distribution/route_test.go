package distribution

import "testing"

func TestParseRoute(t *testing.T) {
	tests := []struct {
		path string
		want route
		ok   bool
	}{
		{"/v2/a/b/tags/list", route{ep: epTags, name: "a/b"}, true},
		{"/v2/a/blobs/uploads/", route{ep: epUploadStart, name: "a"}, true},
		{"/v2/a/blobs/uploads", route{ep: epUploadStart, name: "a"}, true},
		{"/v2/a/b/c/blobs/uploads/ID1", route{ep: epUpload, name: "a/b/c", arg: "ID1"}, true},
		{"/v2/a/blobs/sha256:00", route{ep: epBlob, name: "a", arg: "sha256:00"}, true},
		{"/v2/x/blobs/blobs/sha256:00", route{ep: epBlob, name: "x/blobs", arg: "sha256:00"}, true},
		{"/v2/x/manifests/manifests/latest", route{ep: epManifest, name: "x/manifests", arg: "latest"}, true},
		{"/v2/x/uploads/blobs/d", route{ep: epBlob, name: "x/uploads", arg: "d"}, true},
		{"/v2/tags/list/tags/list", route{ep: epTags, name: "tags/list"}, true},
		{"/v2/a/referrers/sha256:00", route{ep: epReferrers, name: "a", arg: "sha256:00"}, true},
		{"/v2/a/blobs/uploads/x%2Fy", route{ep: epUpload, name: "a", arg: "x/y"}, true},
		{"/v2/a/manifests/", route{}, false},
		{"/v2/a/blobs/", route{}, false},
		{"/v2/a/tags", route{}, false},
		{"/v2/a", route{}, false},
		{"/v2/a/b/c", route{}, false},
		{"/v1/a/tags/list", route{}, false},
		{"/v2/a/blobs/%zz", route{}, false},
	}
	for _, tc := range tests {
		got, ok := parseRoute(tc.path)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseRoute(%q) = %+v, %v; want %+v, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

func TestAccepts(t *testing.T) {
	const mt = "application/vnd.oci.image.manifest.v1+json"
	tests := []struct {
		values []string
		want   bool
	}{
		{nil, true},
		{[]string{""}, true},
		{[]string{mt}, true},
		{[]string{"text/plain, " + mt + "; q=0.5"}, true},
		{[]string{"application/*"}, true},
		{[]string{"*/*"}, true},
		{[]string{"text/*"}, false},
		{[]string{"application/vnd.oci.image.index.v1+json"}, false},
		{[]string{"garbage;;;"}, false},
	}
	for _, tc := range tests {
		if got := accepts(tc.values, mt); got != tc.want {
			t.Errorf("accepts(%q) = %v, want %v", tc.values, got, tc.want)
		}
	}
}
