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
// Even without speculation (WithConcurrency(0)) one goroutine decodes
// ahead of Read, a few MiB at most, so the caller's work overlaps with
// inflating; the decoder itself (64-bit bit buffer, two-level tables,
// word-at-a-time match copies) is faster than compress/flate.
//
// Limits: memory is bounded by the chunks and pieces in flight and the
// per-chunk output cap (WithMaxChunkOutput). Speculation costs CPU: the
// search for block starts, 16-bit output until the window is known (in
// text the markers can last a whole chunk), and chunks wasted where the
// search finds a false start, as it often does inside long stored blocks
// of incompressible data. It pays only with idle cores. Streams of
// fixed-Huffman blocks only, or with blocks longer than a chunk, give no
// boundary to start from and decode sequentially. A Reader is for one
// goroutine; Close stops its helpers.
package gunzip
