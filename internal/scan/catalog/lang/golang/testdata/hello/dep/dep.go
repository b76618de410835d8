// Package dep is a local dependency replaced by a directory.
package dep

// Greeting is what hello prints.
const Greeting = "hello"
