package errs

import (
	"errors"
	"fmt"
	"strings"
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

// Prefix starts every sentinel's message, and the message of every error
// the root package returns, once.
const Prefix = "fluxmap: "

// Errorf is fmt.Errorf, except that an error argument whose message starts
// with Prefix (a sentinel, or an error already wrapped by Errorf with a
// prefixed format) is shown without it, so that a message built in layers
// carries the prefix once: "fluxmap: opening db: segment 3 is missing:
// corrupt data", not "...: fluxmap: corrupt data". errors.Is and errors.As
// still see the argument itself.
func Errorf(format string, args ...any) error {
	for i, a := range args {
		if err, ok := a.(error); ok && strings.HasPrefix(err.Error(), Prefix) {
			args[i] = unprefixed{err}
		}
	}
	return fmt.Errorf(format, args...)
}

// unprefixed is err with Prefix cut from its message.
type unprefixed struct{ err error }

func (u unprefixed) Error() string { return strings.TrimPrefix(u.err.Error(), Prefix) }
func (u unprefixed) Unwrap() error { return u.err }

// CommitUnknown is the error of a commit that may or may not have taken
// effect because of the durability failure poison (which wraps
// ErrPoisoned): it wraps ErrCommitUnknown and poison.
func CommitUnknown(poison error) error {
	return Errorf("%w: %w", ErrCommitUnknown, poison)
}

// Conflict is a validation's vote no: its message (Err, which wraps
// ErrConflict) and what the root package's ConflictError reports.
type Conflict struct {
	Reason   string // "locked", "stale-read", "phantom" or "write-write"
	Key      string // the encoded key
	Commit   uint64 // the commit that changed the key; 0 for a lock or a TTL deadline
	Snapshot uint64 // the losing transaction's snapshot
	Err      error
}

func (c *Conflict) Error() string { return c.Err.Error() }
func (c *Conflict) Unwrap() error { return c.Err }
