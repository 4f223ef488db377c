// Package txhook lets white-box tests see a transaction's timestamps without
// widening the public API. The root package fills the hooks in at init.
//
// This package is internal and carries no compatibility promise.
package txhook
