// Package catalog builds the package inventory (SBOM) of an image.
//
// Each layer is streamed exactly once as a tar: analyzers declare which
// paths they want, receive those files as the tar goes by, and return
// packages. Results are cached per layer digest and analyzer version, then
// squashed across layers honouring whiteouts and opaque directories so the
// inventory matches the image's final filesystem.
//
// The package never writes layer contents to disk and bounds what it holds
// in memory per file; hostile input produces warnings, not crashes.
package catalog
