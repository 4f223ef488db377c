package errs

import (
	"errors"
	"fmt"
)

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
	ErrCommitUnknown   = errors.New("fluxmap: commit outcome unknown")
	ErrMemoryLimit     = errors.New("fluxmap: memory limit exceeded")
	ErrConfig          = errors.New("fluxmap: invalid configuration")
	ErrInvalidArgument = errors.New("fluxmap: invalid argument")
	ErrLocked          = errors.New("fluxmap: directory is locked by another open database")
)

// CommitUnknown is the error of a commit that may or may not have taken
// effect because of the durability failure poison (which wraps
// ErrPoisoned): it wraps ErrCommitUnknown and poison.
func CommitUnknown(poison error) error {
	return fmt.Errorf("%w: %w", ErrCommitUnknown, poison)
}
