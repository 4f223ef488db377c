package fluxmap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"

	"github.com/fluxmap/fluxmap/shard"
)

// BackupOptions narrows a backup to part of the key space. A nil
// *BackupOptions, like the zero value, backs up every key.
type BackupOptions[K any] struct {
	// Lo and Hi bound the keys backed up, each end included, excluded or
	// open, as ScanOptions' do.
	Lo, Hi Bound[K]
	// Prefix, when not nil, backs up only the keys whose encoding starts
	// with *Prefix's, as PrefixScan does (new("user/") for string keys).
	// With Lo or Hi set too, the backup holds the keys that satisfy both.
	Prefix *K
}

// BackupInfo describes a finished backup.
type BackupInfo struct {
	// SnapshotTS is the commit timestamp of the snapshot the backup read:
	// it holds every commit at or below it and none above. A later
	// incremental copy starts after it.
	SnapshotTS uint64
	// Entries is the number of entries written.
	Entries int
	// Bytes is the size of the stream written.
	Bytes int64
}

// RestoreInfo describes a finished restore.
type RestoreInfo struct {
	// SnapshotTS is the backup's SnapshotTS (a timestamp of the database
	// it was taken from, not of this one).
	SnapshotTS uint64
	// Entries is the number of entries written into the database.
	Entries int
	// Expired is the number of entries left out because their TTL
	// deadline had passed when the restore wrote.
	Expired int
}

// Backup writes to w a consistent copy of the database, or of the keys opts
// selects (nil: every key), as of one snapshot: every commit up to
// BackupInfo.SnapshotTS and nothing after it. Writers go on committing
// while it runs; like any open snapshot, the backup keeps the versions it
// may still read until it returns, so a slow w holds memory, not writers.
// TTL deadlines are kept with their entries; an entry whose deadline had
// passed at the snapshot is left out.
//
// The stream is self-checking (every block and the whole carry CRC-32C
// checksums, a trailer closes it) and records the key and value codecs'
// identities; Restore reads it. Keys are written as their KeyCodec
// encodes them and values as the ValueCodec does, so an in-memory
// database needs a value codec too: Backup fails with ErrConfig if V has
// no built-in one and Builder.ValueCodec set none. A value the codec
// cannot encode fails the backup. On error the stream written so far is
// incomplete and Restore refuses it.
//
// Backup is safe to call concurrently with any other method. It writes to
// w from the calling goroutine only.
func (db *DB[K, V]) Backup(ctx context.Context, w io.Writer, opts *BackupOptions[K]) (BackupInfo, error) {
	if err := db.check(ctx, "backup"); err != nil {
		return BackupInfo{}, err
	}
	if w == nil {
		return BackupInfo{}, errorf("backup: %w: nil io.Writer", ErrInvalidArgument)
	}
	keyID, valueID, err := db.codecIDs("backup")
	if err != nil {
		return BackupInfo{}, err
	}
	span, err := db.backupSpan(opts)
	if err != nil {
		return BackupInfo{}, errorf("backup: %w", err)
	}
	snap := db.coord.Oracle().Acquire(rand.Uint64())
	defer snap.Release()
	bw := &backupWriter{w: w}
	info := BackupInfo{SnapshotTS: snap.TS}
	err = db.backup(ctx, bw, span, snap.TS, &backupHeader{
		snapshotTS: snap.TS, keyCodec: keyID, valueCodec: valueID,
		lo: span.Lo, hi: span.Hi, hasHi: !span.HiInf,
	})
	info.Entries, info.Bytes = int(bw.entries), bw.written
	if err != nil {
		return info, errorf("backup: %w", err)
	}
	return info, nil
}

// backup writes the stream of span at ts, which the caller holds
// registered.
func (db *DB[K, V]) backup(ctx context.Context, bw *backupWriter, span shard.Span, ts uint64, h *backupHeader) error {
	if err := bw.start(h); err != nil {
		return err
	}
	sc := db.coord.NewScanner(span, ts, db.coord.SnapshotTime(), false)
	defer sc.Close()
	var value []byte
	for n := 1; ; n++ {
		if n%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		k, v, expiry, ok := sc.NextWithExpiry()
		if !ok {
			break
		}
		var err error
		if value, err = db.valueCodec.AppendValue(value[:0], v); err != nil {
			return fmt.Errorf("encoding the value of key %q: %w", k, err)
		}
		if err := bw.add(k, expiry, value); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return bw.finish()
}

// codecIDs returns the identities of the key and value codecs, as a
// durable database records them, or an ErrConfig error if V has no value
// codec.
func (db *DB[K, V]) codecIDs(op string) (key, value string, err error) {
	if db.valueCodec == nil {
		return "", "", errorf("%s: %w: ValueCodec: value type %T has no built-in codec; a backup encodes values, so set one with Builder.ValueCodec (see JSONCodec, GobCodec)",
			op, ErrConfig, *new(V))
	}
	return codecID(db.keys.codec, reflect.TypeFor[K]()), codecID(db.valueCodec, reflect.TypeFor[V]()), nil
}

// backupSpan returns the span of encoded keys opts selects.
func (db *DB[K, V]) backupSpan(opts *BackupOptions[K]) (shard.Span, error) {
	if opts == nil {
		return shard.Span{HiInf: true}, nil
	}
	sp, err := db.optionsSpan(ScanOptions[K]{Lo: opts.Lo, Hi: opts.Hi})
	if err != nil || opts.Prefix == nil {
		return sp, err
	}
	p, err := db.keys.encode(*opts.Prefix)
	if err != nil {
		return shard.Span{}, fmt.Errorf("prefix: %w", err)
	}
	ps := prefixToSpan(p)
	sp.Lo = max(sp.Lo, ps.Lo)
	switch {
	case sp.HiInf:
		sp.Hi, sp.HiInf = ps.Hi, ps.HiInf
	case !ps.HiInf:
		sp.Hi = min(sp.Hi, ps.Hi)
	}
	return sp, nil
}

// restoreEntry is one entry read from a backup, checked and ready to
// write.
type restoreEntry[V any] struct {
	key    string // encoded
	value  V      // decoded and admitted
	encLen int    // the value's WAL encoding length (durable databases)
	expiry int64
}

// Restore batch bounds: a batch commits once it holds restoreBatchWrites
// writes (or MaxTxnWrites, if lower) or restoreBatchBytes of keys and
// encoded values, which keeps each commit's WAL records far below their
// size limit.
const (
	restoreBatchWrites = 10_000
	restoreBatchBytes  = 16 << 20
)

// Restore reads a stream written by Backup into this database, which must
// hold no live key. It reads and checks the whole stream first, decoding
// every key and value, and writes only once all of it has passed: a
// damaged stream (cut short anywhere, a flipped bit, something appended)
// fails with an error wrapping ErrCorrupt, a backup taken with other key
// or value codecs with one wrapping ErrConfig, and either way the database
// is left as it was. So Restore holds the decoded entries in memory once,
// about what the restored database will hold.
//
// It then writes the entries in transactions of bounded size (at most
// MaxTxnWrites each). Entries keep their absolute TTL deadlines; one whose
// deadline has passed by then is left out. If a write fails (for example
// ErrMemoryLimit, a closed database or ctx ending), Restore deletes what it
// had written and returns the error, so the database is empty again unless
// that clean-up fails too, which the error then says. Under MaxMemory with
// LRU or LFU, restoring more than the limit holds evicts entries as any
// insert would.
//
// A database that holds a live key is refused with an error wrapping
// ErrInvalidArgument. Restore is meant for a database nothing else writes
// to until it returns: its transactions write blindly, so a concurrent
// writer of the same keys makes them conflict, and the clean-up after a
// failure deletes every key the backup holds. Readers may see a restore
// half done, and a durable database that crashes during Restore reopens
// with the batches committed before the crash: restore again into a new
// database.
func (db *DB[K, V]) Restore(ctx context.Context, r io.Reader) (RestoreInfo, error) {
	if err := db.check(ctx, "restore"); err != nil {
		return RestoreInfo{}, err
	}
	if r == nil {
		return RestoreInfo{}, errorf("restore: %w: nil io.Reader", ErrInvalidArgument)
	}
	keyID, valueID, err := db.codecIDs("restore")
	if err != nil {
		return RestoreInfo{}, err
	}
	if err := db.refuseNonEmpty(); err != nil {
		return RestoreInfo{}, err
	}
	h, entries, err := db.readBackup(ctx, newBackupReader(r), keyID, valueID)
	if err != nil {
		return RestoreInfo{}, errorf("restore: %w", err)
	}
	info := RestoreInfo{SnapshotTS: h.snapshotTS}
	// Reading may have taken long: look again before writing.
	if err := db.refuseNonEmpty(); err != nil {
		return info, err
	}
	info.Entries, info.Expired, err = db.restoreWrite(ctx, entries)
	if err != nil {
		return RestoreInfo{SnapshotTS: h.snapshotTS}, errorf("restore: %w", err)
	}
	return info, nil
}

// refuseNonEmpty returns an error if the database holds a live key now.
func (db *DB[K, V]) refuseNonEmpty() error {
	snap := db.coord.Oracle().Acquire(rand.Uint64())
	defer snap.Release()
	sc := db.coord.NewScanner(shard.Span{HiInf: true}, snap.TS, db.coord.SnapshotTime(), false)
	defer sc.Close()
	k, _, found := sc.Next()
	if err := sc.Err(); err != nil {
		return errorf("restore: %w", err)
	}
	if found {
		key := any(k)
		if d, err := db.keys.decode(k); err == nil {
			key = d
		}
		return errorf("restore: %w: the database is not empty (it holds key %v); restore into a new database", ErrInvalidArgument, key)
	}
	return nil
}

// readBackup reads and checks the whole stream, whose codecs must be
// keyID and valueID, and returns its header and entries.
func (db *DB[K, V]) readBackup(ctx context.Context, br *backupReader, keyID, valueID string) (backupHeader, []restoreEntry[V], error) {
	if err := br.start(); err != nil {
		return backupHeader{}, nil, err
	}
	h, err := br.header()
	if err != nil {
		return h, nil, err
	}
	if h.keyCodec != keyID || h.valueCodec != valueID {
		return h, nil, fmt.Errorf("%w: the backup was written with key codec %q and value codec %q, but this database uses key codec %q and value codec %q",
			ErrConfig, h.keyCodec, h.valueCodec, keyID, valueID)
	}
	var (
		entries []restoreEntry[V]
		blocks  uint64
		last    string // the previous key; keys ascend strictly
	)
	for {
		if err := ctx.Err(); err != nil {
			return h, nil, err
		}
		kind, p, before, err := br.next()
		if err != nil {
			return h, nil, err
		}
		switch kind {
		case frameBlock:
			blocks++
			if entries, last, err = db.readBlock(br, p, &h, entries, last, len(entries) == 0); err != nil {
				return h, nil, err
			}
		case frameTrailer:
			d := payloadDecoder{p: p}
			n, b, crc := d.uint64(), d.uint64(), d.uint32()
			switch {
			case n != uint64(len(entries)) || b != blocks:
				return h, nil, br.corrupt("the trailer counts %d entries in %d blocks, the stream holds %d in %d", n, b, len(entries), blocks)
			case crc != before:
				return h, nil, br.corrupt("the stream's checksum does not match the trailer's")
			}
			return h, entries, br.end()
		default:
			return h, nil, br.corrupt("frame %q after the header", kind)
		}
	}
}

// readBlock decodes and checks one block's entries and appends them to
// entries. last is the key before the block (first: there is none).
func (db *DB[K, V]) readBlock(br *backupReader, p []byte, h *backupHeader, entries []restoreEntry[V], last string, first bool) ([]restoreEntry[V], string, error) {
	d := payloadDecoder{p: p}
	count := d.uint32()
	// An entry takes at least three bytes: a count above that is damage,
	// and must not size an allocation.
	if d.bad || count == 0 || uint64(count) > uint64(len(d.p))/3 {
		return entries, last, br.corrupt("block of %d bytes claims %d entries", len(p), count)
	}
	entries = growEntries(entries, int(count))
	for range count {
		k := d.bytesRaw(maxBlockPayload)
		expiry := d.expiry()
		v := d.bytesRaw(maxBlockPayload)
		if d.bad {
			return entries, last, br.corrupt("malformed entry in block")
		}
		key := string(k)
		switch {
		case !first && key <= last:
			return entries, last, br.corrupt("key %q does not follow %q", key, last)
		case key < h.lo || h.hasHi && key >= h.hi:
			return entries, last, br.corrupt("key %q lies outside the backup's range", key)
		case len(key) > db.keys.maxSize:
			return entries, last, fmt.Errorf("%w: the backup holds a key of %d bytes, this database's MaxKeySize is %d", ErrKeyTooLarge, len(key), db.keys.maxSize)
		}
		if !db.keys.isString {
			if _, err := db.keys.codec.DecodeKey(k); err != nil {
				return entries, last, fmt.Errorf("%w: key %q does not decode: %w", ErrCorrupt, key, err)
			}
		}
		val, err := db.valueCodec.DecodeValue(v)
		if err != nil {
			return entries, last, fmt.Errorf("%w: the value of key %q does not decode: %w", ErrCorrupt, key, err)
		}
		val, encLen, err := db.values.admit(val)
		if err != nil {
			return entries, last, fmt.Errorf("the value of key %q: %w", key, err)
		}
		entries = append(entries, restoreEntry[V]{key: key, value: val, encLen: encLen, expiry: expiry})
		last, first = key, false
	}
	if len(d.p) != 0 {
		return entries, last, br.corrupt("%d bytes follow the block's last entry", len(d.p))
	}
	return entries, last, nil
}

// growEntries makes room for n more entries, n already checked against
// the bytes that hold them.
func growEntries[V any](entries []restoreEntry[V], n int) []restoreEntry[V] {
	if cap(entries)-len(entries) >= n {
		return entries
	}
	grown := make([]restoreEntry[V], len(entries), max(2*cap(entries), len(entries)+n))
	copy(grown, entries)
	return grown
}

// restoreWrite commits entries in bounded batches and returns how many it
// wrote and how many it left out as expired. On failure it deletes what it
// had committed.
func (db *DB[K, V]) restoreWrite(ctx context.Context, entries []restoreEntry[V]) (written, expired int, _ error) {
	now := db.now().UnixNano()
	live := func(e *restoreEntry[V]) bool { return e.expiry == 0 || e.expiry > now }
	maxWrites := min(db.maxTxnWrites, restoreBatchWrites)
	done := 0 // entries[:done] are committed (or expired)
	for done < len(entries) {
		tx, err := db.begin(ctx, false)
		if err != nil {
			return 0, 0, db.undoRestore(ctx, entries[:done], live, err)
		}
		end, size, n := done, 0, 0
		for ; end < len(entries) && n < maxWrites; end++ {
			e := &entries[end]
			if !live(e) {
				expired++
				continue
			}
			// Checked before the entry joins: one that would take the batch
			// past the bound starts the next batch, where it fits alone (a
			// value may take most of a WAL record).
			if n > 0 && size+len(e.key)+e.encLen > restoreBatchBytes {
				break
			}
			if err = tx.putAdmitted(e.key, e.value, e.encLen, e.expiry); err != nil {
				break
			}
			n++
			size += len(e.key) + e.encLen
		}
		if err == nil {
			err = tx.Commit()
		} else {
			tx.Rollback() //nolint:errcheck // the put's error is the one to report
		}
		if err != nil {
			return 0, 0, db.undoRestore(ctx, entries[:done], live, err)
		}
		written += n
		done = end
	}
	return written, expired, nil
}

// undoRestore deletes the live entries a failed restore had committed and
// returns cause, joined with the clean-up's own error if it failed. It
// runs even if ctx has ended, since ctx ending may be the cause.
func (db *DB[K, V]) undoRestore(ctx context.Context, entries []restoreEntry[V], live func(*restoreEntry[V]) bool, cause error) error {
	ctx = context.WithoutCancel(ctx)
	maxWrites := min(db.maxTxnWrites, restoreBatchWrites)
	for i := 0; i < len(entries); {
		tx, err := db.begin(ctx, false)
		if err == nil {
			for n := 0; i < len(entries) && n < maxWrites && err == nil; i++ {
				if e := &entries[i]; live(e) {
					err = tx.deleteEncoded(e.key)
					n++
				}
			}
			if err == nil {
				err = tx.Commit()
			} else {
				tx.Rollback() //nolint:errcheck // the delete's error is the one to report
			}
		}
		if err != nil {
			return errors.Join(cause, fmt.Errorf("removing the entries already restored failed, the database holds part of the backup: %w", err))
		}
	}
	return cause
}
