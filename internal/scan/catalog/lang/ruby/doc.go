// Package ruby finds gems: installed ones from the specification files
// RubyGems writes (specifications/*.gemspec, default gems included), and
// locked ones from Gemfile.lock.
//
// Gemspecs are Ruby code and are never evaluated: the analyzer reads the
// "# stub:" comment and the literal string assignments RubyGems generates
// (s.name = "rake".freeze), and falls back to the file name
// (rake-13.0.6.gemspec). Both files are read up to 4 MiB, lines up to
// 64 KiB. Gemfile.lock platform suffixes (nokogiri 1.15.4-x86_64-linux) are
// dropped from versions.
package ruby
