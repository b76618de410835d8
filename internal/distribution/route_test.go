package distribution

import "testing"

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
