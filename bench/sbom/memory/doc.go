// Package memory holds the check that cataloging stays bounded: a
// generated 2 GiB image is cataloged in a child process whose peak RSS
// must stay under 256 MiB. It lives outside internal/scan/catalog so the
// race detector, which multiplies memory and time, does not run it.
package memory
