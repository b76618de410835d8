// Package gunzip decompresses gzip streams (RFC 1952, deflate RFC 1951)
// using several goroutines on large members, with output byte-identical to
// compress/gzip.
//
// Deflate is sequential by format; the Reader speculates. Goroutines take
// the compressed stream in chunks, find a block boundary near each chunk's
// start by trying block headers at every bit offset, and decode from it
// without the 32 KiB window before it, writing references into that window
// as markers. The Reader decodes from the stream's start itself and uses a
// chunk's output only when its own position reached exactly the bit where
// that chunk's decode began: decoding from the same boundary with the same
// window gives the same output, so it then resolves the markers with the
// window it has. Any other outcome (no boundary found, a false one, a
// chunk that inflates past its output cap, corrupt data) leaves the range
// to the Reader's own sequential decode, which also reports the errors.
// CRC-32 and size of every member are checked.
//
// Limits: memory is bounded by the chunks in flight (concurrency+1, each at
// most WithMaxChunkOutput bytes of output, twice that while markers last).
// Streams of fixed-Huffman blocks only, or with blocks longer than a
// chunk, give no boundary to start from and decode sequentially. A Reader
// is for one goroutine; Close stops its helpers.
package gunzip
