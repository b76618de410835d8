// Package gunzip decompresses gzip streams (RFC 1952, deflate RFC 1951)
// with output byte-identical to compress/gzip, faster.
//
// Why: a cold scan reads every layer once, and each layer's walk (tar,
// hashing, analyzers) waits on its inflate, which is sequential by format;
// inflate bounds the scan. The decoder here (64-bit bit buffer, two-level
// Huffman tables, up to three literals per refill, word-at-a-time match
// copies) outruns compress/flate and klauspost/compress/flate, and one
// goroutine decodes ahead of Read so the caller's work overlaps with it.
//
// Like compress/gzip it reads multi-member streams, checks each member's
// header, CRC-32 and size, and reports the same errors: io.EOF for an empty
// stream, gzip.ErrHeader, gzip.ErrChecksum, io.ErrUnexpectedEOF for a
// truncated stream, the source's own read error, and a CorruptError (with
// the compressed offset) for invalid deflate data.
//
// Limits: one stream uses one core for inflate; nothing is parallel.
// Memory is about 6 MiB per Reader: four 1 MiB pieces in flight, the one
// being read and the one being decoded, and a 64 KiB input buffer; buffers
// are reused across pieces. Output before an error is handed to Read as it
// is decoded, so a caller sees the error after the data that preceded it.
// A Reader is for one goroutine; Close stops its decoder.
package gunzip
