// Package java finds Maven artifacts in Java archives (jar, war, ear and
// the plugin formats built on them): every
// META-INF/maven/<groupId>/<artifactId>/pom.properties (a shaded jar holds
// several) with the licenses its sibling pom.xml declares, else the
// META-INF/MANIFEST.MF main attributes together with the
// file name, and the same again inside nested archives (WEB-INF/lib,
// BOOT-INF/lib, lib/) down to a depth limit.
//
// archive/zip needs random access, so an archive is held in memory while it
// is read; the limits below bound what a hostile archive can cost:
//
//   - an archive of at most 128 MiB (larger ones are not wanted), with at
//     most 100,000 entries, checked from the end-of-central-directory record
//     before the directory is parsed;
//   - nested archives at most 3 levels deep, each at most 32 MiB
//     uncompressed, with a compression ratio of at most 100:1, and at most
//     128 MiB of nested archives in total per top-level archive;
//   - pom.properties read up to 64 KiB and MANIFEST.MF up to 1 MiB, with
//     sizes checked against what the entries really inflate to.
//
// A nested archive that breaks a limit or is malformed does not hide the
// rest: Analyze returns the packages it found together with an error naming
// the nested archives it could not read.
//
// Packages from nested archives carry the top-level archive's path, the file
// that exists in the image.
package java
