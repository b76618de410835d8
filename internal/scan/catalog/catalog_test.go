package catalog_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moat-dev/moat/internal/scan/catalog"
	ct "github.com/moat-dev/moat/internal/scan/catalog/catalogtest"
)

// listAnalyzer is a test seam: files under /pkgs/ hold "name version"
// lines, one package each; files under /owned/ list owned paths; a file
// /pkgs/panic panics.
type listAnalyzer struct {
	calls   atomic.Int64
	version int
}

func (a *listAnalyzer) Name() string { return "list" }
func (a *listAnalyzer) Version() int { return a.version }
func (a *listAnalyzer) Wants(p string, _ fs.FileMode, _ int64) bool {
	return strings.HasPrefix(p, "/pkgs/") || strings.HasPrefix(p, "/owned/") || strings.HasPrefix(p, "/app/")
}

func (a *listAnalyzer) Analyze(_ context.Context, f *catalog.File) (*catalog.Result, error) {
	a.calls.Add(1)
	if f.Path == "/pkgs/panic" {
		panic("boom")
	}
	b, err := io.ReadAll(f.Content)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(f.Path, "/owned/") {
		return &catalog.Result{Owned: strings.Fields(string(b))}, nil
	}
	if strings.HasPrefix(f.Path, "/app/") {
		// A language package: the file itself is the package.
		name, ver, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
		return &catalog.Result{Packages: []catalog.Package{{Ecosystem: catalog.PyPI, Type: "python", Name: name, Version: ver, PURL: "pkg:pypi/" + name + "@" + ver}}}, nil
	}
	var res catalog.Result
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, ver, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			return &res, fmt.Errorf("bad line %q", sc.Text())
		}
		res.Packages = append(res.Packages, catalog.Package{
			Ecosystem: catalog.Debian, Type: "deb", Name: name, Version: ver,
			PURL: "pkg:deb/debian/" + name + "@" + ver + "?arch=amd64",
		})
	}
	return &res, nil
}

func newCatalog(t *testing.T, a catalog.Analyzer, opts ...catalog.Option) *catalog.Catalog {
	t.Helper()
	c, err := catalog.New([]catalog.Analyzer{a}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func run(t *testing.T, img catalog.Image, opts ...catalog.Option) *catalog.Inventory {
	t.Helper()
	inv, err := newCatalog(t, &listAnalyzer{}, opts...).Catalog(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// names lists "name@version@layerindex" of the inventory.
func names(inv *catalog.Inventory) []string {
	var out []string
	for _, p := range inv.Packages {
		out = append(out, fmt.Sprintf("%s@%s@%d", p.Name, p.Version, slices.Index(inv.Layers, p.Layer)))
	}
	slices.Sort(out)
	return out
}

func layer(entries ...ct.Entry) []byte { return ct.Gzip(ct.Tar(entries...)) }

func TestSquash(t *testing.T) {
	wh := func(name string) ct.Entry { return ct.File(name, "") }
	base := layer(
		ct.File("pkgs/a", "a 1\nb 1"),
		ct.File("pkgs/sub/c", "c 1"),
		ct.File("pkgs/sub/d", "d 1"),
		ct.File("pkgs/keep", "k 1"),
	)
	tests := []struct {
		name  string
		upper [][]byte
		want  []string
	}{
		{"no upper layers", nil, []string{"a@1@0", "b@1@0", "c@1@0", "d@1@0", "k@1@0"}},
		{"overwrite drops the lower file and keeps first attribution", [][]byte{layer(ct.File("pkgs/a", "a 1\nb 2"))},
			[]string{"a@1@0", "b@2@1", "c@1@0", "d@1@0", "k@1@0"}},
		{"whiteout of a file", [][]byte{layer(wh("pkgs/.wh.a"))},
			[]string{"c@1@0", "d@1@0", "k@1@0"}},
		{"whiteout of an ancestor directory", [][]byte{layer(wh("pkgs/.wh.sub"))},
			[]string{"a@1@0", "b@1@0", "k@1@0"}},
		{"opaque directory hides lower contents, keeps its own", [][]byte{layer(wh("pkgs/sub/.wh..wh..opq"), ct.File("pkgs/sub/e", "e 1"))},
			[]string{"a@1@0", "b@1@0", "e@1@1", "k@1@0"}},
		{"whiteout with a same-named prefix does not hide siblings", [][]byte{layer(wh("pkgs/.wh.su"), wh("pkgs/.wh.ke"))},
			[]string{"a@1@0", "b@1@0", "c@1@0", "d@1@0", "k@1@0"}},
		{"replaced by a symlink", [][]byte{layer(ct.Entry{Name: "pkgs/keep", Type: tar.TypeSymlink, Linkname: "/etc/passwd"})},
			[]string{"a@1@0", "b@1@0", "c@1@0", "d@1@0"}},
		{"deleted then recreated", [][]byte{layer(wh("pkgs/.wh.a")), layer(ct.File("pkgs/a", "a 3"))},
			[]string{"a@3@2", "c@1@0", "d@1@0", "k@1@0"}},
		{"whiteout in the same layer as the file only hides lower layers", [][]byte{layer(ct.File("pkgs/new", "n 1"), wh("pkgs/.wh.new"))},
			[]string{"a@1@0", "b@1@0", "c@1@0", "d@1@0", "k@1@0", "n@1@1"}},
		{"root opaque", [][]byte{layer(wh(".wh..wh..opq"))}, nil},
		{"duplicate path in one layer keeps the last", [][]byte{layer(ct.File("pkgs/x", "x 1"), ct.File("pkgs/x", "x 2"))},
			[]string{"a@1@0", "b@1@0", "c@1@0", "d@1@0", "k@1@0", "x@2@1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inv := run(t, ct.NewImage(append([][]byte{base}, tc.upper...)...))
			if got := names(inv); !slices.Equal(got, tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
			if len(inv.Layers) != 1+len(tc.upper) {
				t.Errorf("layers %v", inv.Layers)
			}
		})
	}
}

func TestOwnedByOS(t *testing.T) {
	img := ct.NewImage(
		// Lists name directories too: a shared parent (/app/shared) must
		// not make everything below it owned.
		layer(ct.File("owned/list", "/app/owned.egg-info /app/file /app/shared")),
		layer(
			ct.File("app/owned.egg-info/PKG-INFO", "owned 1"),
			ct.File("app/file", "file 1"),
			ct.File("app/free/PKG-INFO", "free 1"),
			ct.File("app/shared/lib.jar", "lib 1"),
		),
	)
	inv := run(t, img)
	got := map[string]bool{}
	for _, p := range inv.Packages {
		got[p.Name] = p.OwnedByOS
	}
	want := map[string]bool{"owned": true, "file": true, "free": false, "lib": false}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ownedByOS %v, want %v", got, want)
	}
	// Once the owning list is deleted the packages stand on their own.
	img.Ls = append(img.Ls, ct.NewLayer(layer(ct.File("owned/.wh.list", ""))))
	for _, p := range run(t, img).Packages {
		if p.OwnedByOS {
			t.Errorf("%s still owned after its list was deleted", p.Name)
		}
	}
}

func TestCompressions(t *testing.T) {
	raw := ct.Tar(ct.File("pkgs/a", "a 1"))
	for name, blob := range map[string][]byte{"tar": raw, "gzip": ct.Gzip(raw), "zstd": ct.Zstd(raw)} {
		t.Run(name, func(t *testing.T) {
			if got := names(run(t, ct.NewImage(blob))); !slices.Equal(got, []string{"a@1@0"}) {
				t.Errorf("got %v", got)
			}
		})
	}
}

func TestCache(t *testing.T) {
	cache := &memCache{m: map[catalog.CacheKey]*catalog.LayerResult{}}
	img := ct.NewImage(layer(ct.File("pkgs/a", "a 1")), layer(ct.File("pkgs/b", "b 1")))
	a := &listAnalyzer{version: 1}
	c := newCatalog(t, a, catalog.WithCache(cache))
	first, err := c.Catalog(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if a.calls.Load() != 2 || len(cache.m) != 2 {
		t.Fatalf("calls %d, cached %d; want 2 and 2", a.calls.Load(), len(cache.m))
	}
	second, err := c.Catalog(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if a.calls.Load() != 2 {
		t.Errorf("warm run analyzed again: %d calls", a.calls.Load())
	}
	if !slices.Equal(names(first), names(second)) {
		t.Errorf("warm %v != cold %v", names(second), names(first))
	}
	// A new analyzer version must not reuse old results.
	b := &listAnalyzer{version: 2}
	if _, err := newCatalog(t, b, catalog.WithCache(cache)).Catalog(context.Background(), img); err != nil {
		t.Fatal(err)
	}
	if b.calls.Load() != 2 {
		t.Errorf("new analyzer version used stale cache: %d calls", b.calls.Load())
	}
}

type memCache struct {
	mu sync.Mutex
	m  map[catalog.CacheKey]*catalog.LayerResult
}

func (c *memCache) Get(_ context.Context, k catalog.CacheKey) (*catalog.LayerResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.m[k]; ok {
		return r, nil
	}
	return nil, catalog.ErrCacheMiss
}

func (c *memCache) Put(_ context.Context, k catalog.CacheKey, r *catalog.LayerResult) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = r
	return nil
}

func TestDigestMismatchIsAnError(t *testing.T) {
	l := ct.NewLayer(layer(ct.File("pkgs/a", "a 1")))
	l.Dgst = ct.Digest([]byte("something else"))
	cache := &memCache{m: map[catalog.CacheKey]*catalog.LayerResult{}}
	_, err := newCatalog(t, &listAnalyzer{}, catalog.WithCache(cache)).Catalog(context.Background(), &ct.Image{Ls: []catalog.Layer{l}})
	if !errors.Is(err, catalog.ErrDigestMismatch) {
		t.Fatalf("err = %v, want ErrDigestMismatch", err)
	}
	if len(cache.m) != 0 {
		t.Error("a layer with the wrong digest was cached")
	}
}

// diffIDLayer is a layer whose image configuration names a diff_id.
type diffIDLayer struct {
	*ct.Layer
	diffID string
}

func (l diffIDLayer) DiffID() string { return l.diffID }

// The uncompressed content must hash to the configuration's diff_id,
// compressed or not; a mismatch or a layer that cannot be read to its end
// fails the catalog, and nothing is cached.
func TestDiffIDChecked(t *testing.T) {
	tarball := ct.Tar(ct.File("pkgs/a", "a 1"), ct.File("pkgs/b", "b 2"))
	good := ct.Digest(tarball)
	for name, tc := range map[string]struct {
		blob   []byte
		diffID string
		opts   []catalog.Option
		want   error
	}{
		"gzip matching":  {ct.Gzip(tarball), good, nil, nil},
		"plain matching": {tarball, good, nil, nil},
		"zstd matching":  {ct.Zstd(tarball), good, nil, nil},
		"gzip mismatch":  {ct.Gzip(tarball), ct.Digest([]byte("another layer")), nil, catalog.ErrDiffID},
		"plain mismatch": {tarball, ct.Digest(append(tarball, 0)), nil, catalog.ErrDiffID},
		"not a digest":   {tarball, "sha256:xyz", nil, catalog.ErrDiffID},
		"stopped early":  {ct.Gzip(tarball), good, []catalog.Option{catalog.WithMaxEntries(1)}, catalog.ErrDiffID},
	} {
		t.Run(name, func(t *testing.T) {
			cache := &memCache{m: map[catalog.CacheKey]*catalog.LayerResult{}}
			l := diffIDLayer{ct.NewLayer(tc.blob), tc.diffID}
			opts := append([]catalog.Option{catalog.WithCache(cache)}, tc.opts...)
			inv, err := newCatalog(t, &listAnalyzer{}, opts...).Catalog(context.Background(), &ct.Image{Ls: []catalog.Layer{l}})
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				if len(cache.m) != 0 {
					t.Error("a layer failing its diff_id was cached")
				}
				return
			}
			if len(inv.Packages) != 2 {
				t.Fatalf("packages = %v", inv.Packages)
			}
		})
	}
}

func TestSameLayerTwiceReadOnce(t *testing.T) {
	blob := layer(ct.File("pkgs/a", "a 1"))
	a := &listAnalyzer{}
	inv, err := newCatalog(t, a).Catalog(context.Background(), ct.NewImage(blob, layer(ct.File("other", "")), blob))
	if err != nil {
		t.Fatal(err)
	}
	if a.calls.Load() != 1 {
		t.Errorf("identical layer analyzed %d times", a.calls.Load())
	}
	if got := names(inv); !slices.Equal(got, []string{"a@1@0"}) {
		t.Errorf("got %v", got)
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := catalog.New(nil); err == nil {
		t.Error("no analyzers accepted")
	}
	if _, err := catalog.New([]catalog.Analyzer{&listAnalyzer{}, &listAnalyzer{}}); err == nil {
		t.Error("duplicate analyzer accepted")
	}
	for _, o := range []catalog.Option{catalog.WithMaxFileSize(0), catalog.WithMaxLayerSize(-1), catalog.WithConcurrency(0), catalog.WithMaxEntries(0)} {
		if _, err := catalog.New([]catalog.Analyzer{&listAnalyzer{}}, o); err == nil {
			t.Error("invalid option accepted")
		}
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var entries []ct.Entry
	for i := range 5000 {
		entries = append(entries, ct.File(fmt.Sprintf("f%d", i), ""))
	}
	_, err := newCatalog(t, &listAnalyzer{}).Catalog(ctx, ct.NewImage(layer(entries...)))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// slowLayer blocks Open until released, so concurrent catalogs overlap.
type slowLayer struct {
	*ct.Layer
	release chan struct{}
	opens   atomic.Int64
}

func (s *slowLayer) Open(ctx context.Context) (io.ReadCloser, error) {
	s.opens.Add(1)
	<-s.release
	return s.Layer.Open(ctx)
}

func TestConcurrentCatalogsShareLayerReads(t *testing.T) {
	l := &slowLayer{Layer: ct.NewLayer(layer(ct.File("pkgs/a", "a 1"))), release: make(chan struct{})}
	c := newCatalog(t, &listAnalyzer{})
	var wg, started sync.WaitGroup
	results := make([][]string, 4)
	for i := range results {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			inv, err := c.Catalog(context.Background(), &ct.Image{Ls: []catalog.Layer{l}})
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = names(inv)
		}()
	}
	// Let every goroutine reach the shared read before releasing it.
	started.Wait()
	for l.opens.Load() == 0 {
		runtime.Gosched()
	}
	time.Sleep(200 * time.Millisecond)
	close(l.release)
	wg.Wait()
	if n := l.opens.Load(); n >= 4 {
		t.Errorf("layer opened %d times by 4 concurrent catalogs; reads were not shared", n)
	}
	for _, r := range results {
		if !slices.Equal(r, []string{"a@1@0"}) {
			t.Errorf("got %v", r)
		}
	}
}

// A caller sharing a read that another, first caller gave up on reads the
// layer itself instead of failing with the other's cancellation.
func TestSharedReadOutlivesItsFirstCaller(t *testing.T) {
	l := &ctxLayer{Layer: ct.NewLayer(layer(ct.File("pkgs/a", "a 1"))), opened: make(chan struct{}, 2)}
	c := newCatalog(t, &listAnalyzer{})
	first, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Catalog(first, &ct.Image{Ls: []catalog.Layer{l}})
		errc <- err
	}()
	<-l.opened // the first caller's read is under way
	done := make(chan []string, 1)
	go func() {
		inv, err := c.Catalog(context.Background(), &ct.Image{Ls: []catalog.Layer{l}})
		if err != nil {
			t.Error(err)
		}
		done <- names(inv)
	}()
	time.Sleep(100 * time.Millisecond) // the second caller joins the read
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: %v", err)
	}
	if got := <-done; !slices.Equal(got, []string{"a@1@0"}) {
		t.Fatalf("second caller got %v", got)
	}
}

// ctxLayer's reads block until their context ends, the first one only.
type ctxLayer struct {
	*ct.Layer
	opened chan struct{}
	n      atomic.Int64
}

func (l *ctxLayer) Open(ctx context.Context) (io.ReadCloser, error) {
	l.opened <- struct{}{}
	if l.n.Add(1) == 1 {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return l.Layer.Open(ctx)
}
