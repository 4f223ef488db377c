// Package errs holds FluxMap's sentinel errors. It is a leaf: every other
// package wraps these with %w, and the root package re-exports them, so
// errors.Is works no matter which layer produced the error.
//
// This package is internal and carries no compatibility promise.
package errs

import "errors"

var (
	ErrConflict      = errors.New("fluxmap: transaction conflict")
	ErrClosed        = errors.New("fluxmap: database closed")
	ErrTxnDone       = errors.New("fluxmap: transaction already committed or rolled back")
	ErrReadOnly      = errors.New("fluxmap: write in a read-only transaction")
	ErrKeyTooLarge   = errors.New("fluxmap: key too large")
	ErrValueTooLarge = errors.New("fluxmap: value too large")
	ErrTxnTooLarge   = errors.New("fluxmap: transaction too large")
	ErrCorrupt       = errors.New("fluxmap: corrupt data")
	ErrPoisoned      = errors.New("fluxmap: database poisoned by an earlier I/O failure")
	ErrMemoryLimit   = errors.New("fluxmap: memory limit exceeded")
	ErrConfig        = errors.New("fluxmap: invalid configuration")
)
