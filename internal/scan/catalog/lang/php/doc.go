// Package php finds Composer packages: installed ones from
// vendor/composer/installed.json (Composer 1 writes a JSON array, Composer 2
// an object with "packages") and locked ones from composer.lock (both
// "packages" and "packages-dev").
//
// Versions drop the "v" that many tags carry (v5.4.20 → 5.4.20), as the
// advisory databases write them. Files are read up to 32 MiB.
package php
