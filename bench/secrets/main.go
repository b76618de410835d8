// Command secrets measures what secret detection adds to the catalog's
// single pass over an image: it catalogs the image with the default
// analyzers, then with the secret analyzer added, alternating runs, and
// prints median wall-clock and CPU times, the overhead, and the time spent
// inside the secret analyzer; a third variant adds misconfig's entry hook
// (secrets and config together, as moat scan runs by default). On a busy machine trust CPU time over wall.
//
//	go run ./bench/secrets -image ../shared/data/images/app-oci.tar
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/defaults"
	"github.com/moat-dev/moat/internal/scan/catalog/source"
	"github.com/moat-dev/moat/internal/scan/misconfig"
	"github.com/moat-dev/moat/internal/scan/secrets"
)

// counting runs the secret analyzer as moat scan does and counts what it
// saw and how long it took.
type counting struct {
	*secrets.Analyzer
	files, bytes, findings, nanos atomic.Int64
}

func (c *counting) Analyze(ctx context.Context, f *catalog.File) (*catalog.Result, error) {
	start := time.Now()
	res, err := c.Analyzer.Analyze(ctx, f)
	c.nanos.Add(int64(time.Since(start)))
	c.files.Add(1)
	c.bytes.Add(f.Size)
	c.findings.Add(int64(len(res.Findings)))
	return res, err
}

func main() {
	image := flag.String("image", "../shared/data/images/app-oci.tar", "image archive to catalog")
	runs := flag.Int("runs", 5, "runs of each variant")
	profile := flag.String("cpuprofile", "", "write a CPU profile of the runs with secrets to FILE")
	flag.Parse()
	ctx := context.Background()
	s, err := secrets.New()
	if err != nil {
		log.Fatal(err)
	}
	var base, with, baseCPU, withCPU, inSecrets, all, allCPU []time.Duration
	var last *counting
	for i := 0; i < *runs; i++ {
		d, c := run(ctx, *image, nil, false)
		base, baseCPU = append(base, d), append(baseCPU, c)
		d, c = run(ctx, *image, &counting{Analyzer: secrets.NewAnalyzer(s)}, true)
		all, allCPU = append(all, d), append(allCPU, c)
		last = &counting{Analyzer: secrets.NewAnalyzer(s)}
		if *profile != "" && i == 0 {
			f, err := os.Create(*profile)
			if err != nil {
				log.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				log.Fatal(err)
			}
		}
		d, c = run(ctx, *image, last, false)
		with, withCPU = append(with, d), append(withCPU, c)
		inSecrets = append(inSecrets, time.Duration(last.nanos.Load()))
		if *profile != "" && i == 0 {
			pprof.StopCPUProfile()
		}
	}
	b, w := median(base), median(with)
	bc, wc, in := median(baseCPU), median(withCPU), median(inSecrets)
	fmt.Printf("image            %s (medians of %d runs)\n", *image, *runs)
	fmt.Printf("catalog          wall %v  cpu %v\n", b.Round(time.Millisecond), bc.Round(time.Millisecond))
	fmt.Printf("catalog+secrets  wall %v  cpu %v\n", w.Round(time.Millisecond), wc.Round(time.Millisecond))
	fmt.Printf("overhead         wall %+.1f%%  cpu %+.1f%%\n", 100*float64(w-b)/float64(b), 100*float64(wc-bc)/float64(bc))
	a, ac := median(all), median(allCPU)
	fmt.Printf("+config hook     wall %v  cpu %v  (overhead wall %+.1f%%  cpu %+.1f%%)\n", a.Round(time.Millisecond), ac.Round(time.Millisecond),
		100*float64(a-b)/float64(b), 100*float64(ac-bc)/float64(bc))
	fmt.Printf("inside secrets   %v (%.1f%% of the catalog's cpu)\n", in.Round(time.Millisecond), 100*float64(in)/float64(bc))
	fmt.Printf("secret analyzer  %d files, %.1f MB offered, %d findings\n", last.files.Load(), float64(last.bytes.Load())/1e6, last.findings.Load())
}

// run catalogs the image once, with extra added and, when hook is set,
// misconfig's entry hook, and returns wall-clock and process CPU time.
func run(ctx context.Context, image string, extra catalog.Analyzer, hook bool) (wall, cpu time.Duration) {
	img, err := source.Open(ctx, image)
	if err != nil {
		log.Fatal(err)
	}
	as := defaults.Analyzers()
	if extra != nil {
		as = append(as, extra)
	}
	var opts []catalog.Option
	if hook {
		opts = append(opts, catalog.WithEntryHook(misconfig.Hook{}))
	}
	cat, err := catalog.New(as, opts...)
	if err != nil {
		log.Fatal(err)
	}
	runtime.GC()
	cpu0 := cpuTime()
	start := time.Now()
	if _, err := cat.Catalog(ctx, img); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return time.Since(start), cpuTime() - cpu0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(d []time.Duration) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}
