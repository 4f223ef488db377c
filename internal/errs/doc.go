// Package errs holds FluxMap's sentinel errors. It is a leaf: every other
// package wraps these with %w, and the root package re-exports them, so
// errors.Is works no matter which layer produced the error.
//
// This package is internal and carries no compatibility promise.
package errs
