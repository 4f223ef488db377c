package fluxmap

import (
	"github.com/fluxmap/fluxmap/internal/errs"
)

// Sentinel errors. Every error FluxMap returns wraps at most a few of these
// with %w; test for them with errors.Is, never by comparing messages.
var (
	// ErrConflict means a transaction lost a serialization conflict and was
	// rolled back. It is retryable: DB.Transaction retries it by itself. The
	// wrapping error names the key or range and the commit that won.
	ErrConflict = errs.ErrConflict
	// ErrClosed is returned by every call on a closed DB.
	ErrClosed = errs.ErrClosed
	// ErrTxnDone is returned by every use of a Tx after Commit or Rollback.
	ErrTxnDone = errs.ErrTxnDone
	// ErrReadOnly is returned by writes inside DB.View.
	ErrReadOnly = errs.ErrReadOnly
	// ErrKeyTooLarge is returned for a key whose encoding exceeds MaxKeySize.
	ErrKeyTooLarge = errs.ErrKeyTooLarge
	// ErrValueTooLarge is returned for a value larger than MaxValueSize.
	ErrValueTooLarge = errs.ErrValueTooLarge
	// ErrTxnTooLarge is returned when a transaction buffers more than
	// MaxTxnWrites writes, and by the Commit of a durable transaction whose
	// WAL record on one shard would exceed 256 MiB (nothing is written).
	ErrTxnTooLarge = errs.ErrTxnTooLarge
	// ErrCorrupt is returned when durable data fails validation on open.
	ErrCorrupt = errs.ErrCorrupt
	// ErrPoisoned means a WAL write or fsync failed: the database accepts no
	// more commits until it is reopened, and reads go on at the last
	// acknowledged state. A commit error that wraps ErrPoisoned but not
	// ErrCommitUnknown means that commit did not take effect: it is not
	// visible and no reopen will recover it. DB.Close returns an error
	// wrapping ErrPoisoned too.
	ErrPoisoned = errs.ErrPoisoned
	// ErrCommitUnknown is returned by a commit caught by the failure that
	// poisoned the database while its WAL records were being written: it
	// may or may not have taken effect. It is not visible while this DB is
	// open; after a reopen it is either wholly there or wholly absent, so
	// read to find out before repeating it. Such an error also wraps
	// ErrPoisoned and the I/O error: test for ErrCommitUnknown first.
	ErrCommitUnknown = errs.ErrCommitUnknown
	// ErrMemoryLimit is returned when a commit would exceed the memory limit.
	ErrMemoryLimit = errs.ErrMemoryLimit
	// ErrConfig is returned by Builder.Build for an invalid setting; the
	// message names the setting.
	ErrConfig = errs.ErrConfig
	// ErrInvalidArgument is returned for a call whose arguments do not fit
	// together (for example GetMany with fewer result slots than keys);
	// nothing was done.
	ErrInvalidArgument = errs.ErrInvalidArgument
	// ErrLocked is returned by Builder.Build when another open database
	// (in this process or another) holds the directory.
	ErrLocked = errs.ErrLocked
)

// prefix starts the message of every error FluxMap returns, once.
const prefix = errs.Prefix

// errorf formats like fmt.Errorf an error of this package's API, whose
// message is prefix followed by format. An error argument whose own message
// starts with prefix (every sentinel does, and so does an error this package
// returned earlier) is shown without it, so the message carries the prefix
// once ("fluxmap: get: transaction already committed…"); errors.Is and
// errors.As still see the argument itself.
func errorf(format string, args ...any) error { return errs.Errorf(prefix+format, args...) }
