package errs

import "errors"

var (
	ErrConflict        = errors.New("fluxmap: transaction conflict")
	ErrClosed          = errors.New("fluxmap: database closed")
	ErrTxnDone         = errors.New("fluxmap: transaction already committed or rolled back")
	ErrReadOnly        = errors.New("fluxmap: write in a read-only transaction")
	ErrKeyTooLarge     = errors.New("fluxmap: key too large")
	ErrValueTooLarge   = errors.New("fluxmap: value too large")
	ErrTxnTooLarge     = errors.New("fluxmap: transaction too large")
	ErrCorrupt         = errors.New("fluxmap: corrupt data")
	ErrPoisoned        = errors.New("fluxmap: database poisoned by an earlier I/O failure")
	ErrMemoryLimit     = errors.New("fluxmap: memory limit exceeded")
	ErrConfig          = errors.New("fluxmap: invalid configuration")
	ErrInvalidArgument = errors.New("fluxmap: invalid argument")
	ErrLocked          = errors.New("fluxmap: directory is locked by another open database")
)
