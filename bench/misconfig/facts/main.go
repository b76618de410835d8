// Command facts streams an image's layers through misconfig's collector and
// prints what it found, one line each: "special PATH MODE UID:GID",
// "writable PATH MODE UID:GID", "tool CATEGORY PATH", then the findings of
// the image configuration as "config ID MESSAGE".
//
//	go run ./bench/misconfig/facts ../shared/data/images/app-oci.tar
package main

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/moat-dev/moat/internal/scan/catalog"
	"github.com/moat-dev/moat/internal/scan/catalog/source"
	"github.com/moat-dev/moat/internal/scan/misconfig"
)

func main() {
	if len(os.Args) != 3 && len(os.Args) != 2 {
		log.Fatal("usage: facts IMAGE [CONFIG.json]")
	}
	ctx := context.Background()
	img, err := source.Open(ctx, os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	defer img.Close()
	c := misconfig.NewCollector()
	for _, l := range img.Layers() {
		c.StartLayer(l.Digest())
		if err := walk(ctx, l, c); err != nil {
			log.Fatalf("layer %s: %v", l.Digest(), err)
		}
	}
	f := c.Facts()
	for _, x := range f.Special {
		fmt.Printf("special %s %s %d:%d\n", x.Path, x.Mode, x.UID, x.GID)
	}
	for _, x := range f.WorldWritable {
		fmt.Printf("writable %s %s %d:%d\n", x.Path, x.Mode, x.UID, x.GID)
	}
	for _, x := range f.Tools {
		fmt.Printf("tool %s %s\n", x.Category, x.Path)
	}
	if len(os.Args) == 3 {
		r, err := os.Open(os.Args[2])
		if err != nil {
			log.Fatal(err)
		}
		cfg, err := misconfig.ParseConfig(r)
		if err != nil {
			log.Fatal(err)
		}
		for _, x := range misconfig.CheckConfig(cfg) {
			fmt.Printf("config %s %s\n", x.ID, x.Message)
		}
	}
}

func walk(ctx context.Context, l catalog.Layer, c *misconfig.Collector) error {
	rc, err := l.Open(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	magic, _ := br.Peek(4)
	var r io.Reader = br
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		r = zr
	case len(magic) == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd:
		zr, err := zstd.NewReader(br)
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			// Some writers omit the end-of-archive blocks; what was read
			// stands, as extraction tools treat it.
			fmt.Fprintf(os.Stderr, "warning: layer %s ends without end-of-archive blocks\n", l.Digest())
			return nil
		}
		if err != nil {
			return err
		}
		c.Add(misconfig.EntryFromHeader(h))
	}
}
