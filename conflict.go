package fluxmap

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fluxmap/fluxmap/internal/errs"
)

// ConflictReason says why a commit lost.
type ConflictReason string

const (
	// ConflictLocked: an in-flight transaction held the key (it was
	// preparing to write it, or had read it or a range holding it).
	ConflictLocked ConflictReason = "locked"
	// ConflictStaleRead: a key the transaction read changed after its
	// snapshot.
	ConflictStaleRead ConflictReason = "stale-read"
	// ConflictPhantom: a key entered, left or changed in a range the
	// transaction scanned, after its snapshot.
	ConflictPhantom ConflictReason = "phantom"
	// ConflictWriteWrite: a key the transaction writes was written after
	// its snapshot (first committer wins).
	ConflictWriteWrite ConflictReason = "write-write"
)

// ConflictError is the detail of a commit refused with ErrConflict:
// errors.As finds it in the error from Tx.Commit (and from Transaction,
// when it stops retrying). It matches ErrConflict with errors.Is, as the
// plain error does, and its message names the key as a value of the key
// type. Stats.ConflictsBy counts conflicts by Reason.
type ConflictError struct {
	Reason ConflictReason
	// Key is the key the conflict is about (a value of the database's key
	// type), or nil if its encoding could not be decoded. For a phantom it
	// is the key that changed in the scanned range.
	Key any
	// Commit is the timestamp of the commit that changed the key, or 0
	// when none did: a lock, or a TTL deadline that passed.
	Commit uint64
	// Snapshot is the losing transaction's snapshot timestamp.
	Snapshot uint64
	msg      string
	err      error
}

func (e *ConflictError) Error() string { return e.msg }
func (e *ConflictError) Unwrap() error { return e.err }

// conflictDetail returns err with a ConflictError in front of it when a
// shard's validation refused the commit, and err itself otherwise.
func (db *DB[K, V]) conflictDetail(err error) error {
	var c *errs.Conflict
	if !errors.As(err, &c) {
		return err
	}
	ce := &ConflictError{Reason: ConflictReason(c.Reason), Commit: c.Commit, Snapshot: c.Snapshot, msg: err.Error(), err: err}
	if k, derr := db.keys.decode(c.Key); derr == nil {
		ce.Key = k
		if !db.keys.isString {
			// The shard names the key by its encoding; say it as the key.
			ce.msg = strings.Replace(ce.msg, strconv.Quote(c.Key), fmt.Sprint(k), 1)
		}
	}
	return ce
}
