package vulndb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// Default feed locations.
const (
	DefaultOSVBase = "https://osv-vulnerabilities.storage.googleapis.com"
	DefaultKEVURL  = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
	DefaultEPSSURL = "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"
	DefaultEOLBase = "https://raw.githubusercontent.com/endoflife-date/release-data/main/releases"
)

// DefaultEcosystems are the OSV ecosystems moat's catalog produces.
var DefaultEcosystems = []string{
	"Alpine", "Debian", "Ubuntu", "Red Hat", "Rocky Linux", "AlmaLinux", "SUSE", "openSUSE",
	"Go", "npm", "PyPI", "Maven", "crates.io", "RubyGems", "Packagist", "NuGet",
}

// DefaultEOLProducts are the endoflife.date products moat reports on.
var DefaultEOLProducts = []string{"debian", "ubuntu", "alpine-linux", "rhel", "go", "python", "nodejs", "eclipse-temurin"}

// Feeds says where `moat db update` downloads from. Empty URLs skip a feed.
type Feeds struct {
	OSVBase     string   // <OSVBase>/<Ecosystem>/all.zip
	Ecosystems  []string // OSV ecosystems to fetch
	KEVURL      string
	EPSSURL     string
	EOLBase     string // <EOLBase>/<product>.json
	EOLProducts []string
	// MaxDownload caps each download (default 4 GiB).
	MaxDownload int64
}

// DefaultFeeds returns the public feeds.
func DefaultFeeds() Feeds {
	return Feeds{
		OSVBase: DefaultOSVBase, Ecosystems: DefaultEcosystems,
		KEVURL: DefaultKEVURL, EPSSURL: DefaultEPSSURL,
		EOLBase: DefaultEOLBase, EOLProducts: DefaultEOLProducts,
	}
}

// MirrorFeeds returns feeds served from one base URL laid out as moat db
// import reads a directory: <base>/<Ecosystem>/all.zip,
// <base>/kev/known_exploited_vulnerabilities.json,
// <base>/epss/epss_scores-current.csv.gz and <base>/eol/<product>.json.
func MirrorFeeds(base string) Feeds {
	base = strings.TrimRight(base, "/")
	f := DefaultFeeds()
	f.OSVBase = base
	f.KEVURL = base + "/kev/known_exploited_vulnerabilities.json"
	f.EPSSURL = base + "/epss/epss_scores-current.csv.gz"
	f.EOLBase = base + "/eol"
	return f
}

// HTTPStatusError is a download answered with a non-2xx status.
type HTTPStatusError struct {
	URL    string
	Status int
}

func (e *HTTPStatusError) Error() string { return fmt.Sprintf("GET %s: HTTP %d", e.URL, e.Status) }

// Fetch downloads the feeds into b. Downloads go to temp files under tmpDir
// (zips need random access) and are removed afterwards. A missing OSV
// ecosystem (404) is skipped; any other failure aborts, so a partial
// download never replaces good data.
func Fetch(ctx context.Context, client *http.Client, f Feeds, tmpDir string, b *Batch) error {
	if client == nil {
		client = http.DefaultClient
	}
	if f.MaxDownload <= 0 {
		f.MaxDownload = 4 << 30
	}
	get := func(u string) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return "", &HTTPStatusError{URL: u, Status: resp.StatusCode}
		}
		tf, err := os.CreateTemp(tmpDir, ".download-")
		if err != nil {
			return "", err
		}
		n, err := io.Copy(tf, io.LimitReader(resp.Body, f.MaxDownload+1))
		if cerr := tf.Close(); err == nil {
			err = cerr
		}
		if err == nil && n > f.MaxDownload {
			err = fmt.Errorf("GET %s: larger than %d bytes", u, f.MaxDownload)
		}
		if err != nil {
			os.Remove(tf.Name())
			return "", fmt.Errorf("GET %s: %w", u, err)
		}
		return tf.Name(), nil
	}
	withDownload := func(u string, fn func(path string) error) error {
		p, err := get(u)
		if err != nil {
			return err
		}
		defer os.Remove(p)
		return fn(p)
	}
	if f.OSVBase != "" {
		for _, eco := range f.Ecosystems {
			u := strings.TrimSuffix(f.OSVBase, "/") + "/" + url.PathEscape(eco) + "/all.zip"
			err := withDownload(u, func(p string) error { return b.AddOSVZip(ctx, p, eco) })
			var hs *HTTPStatusError
			if errors.As(err, &hs) && hs.Status == http.StatusNotFound {
				continue
			}
			if err != nil {
				return err
			}
			b.sources[eco].Origin = u
		}
	}
	if f.KEVURL != "" {
		if err := withDownload(f.KEVURL, func(p string) error {
			return withFile(p, func(r io.Reader) error { return b.AddKEV(r, f.KEVURL) })
		}); err != nil {
			return err
		}
	}
	if f.EPSSURL != "" {
		if err := withDownload(f.EPSSURL, func(p string) error {
			return withFile(p, func(r io.Reader) error { return b.AddEPSS(r, f.EPSSURL) })
		}); err != nil {
			return err
		}
	}
	if f.EOLBase != "" {
		for _, prod := range f.EOLProducts {
			u := strings.TrimSuffix(f.EOLBase, "/") + "/" + url.PathEscape(prod) + ".json"
			err := withDownload(u, func(p string) error {
				return withFile(p, func(r io.Reader) error { return b.AddEOL(prod, r, u) })
			})
			var hs *HTTPStatusError
			if errors.As(err, &hs) && hs.Status == http.StatusNotFound {
				continue
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}
