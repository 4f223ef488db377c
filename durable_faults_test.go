package fluxmap_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
	"github.com/fluxmap/fluxmap/internal/crashtest"
	"github.com/fluxmap/fluxmap/internal/txhook"
	"github.com/fluxmap/fluxmap/internal/vfs"
)

// errInjectedSync is the cause the sync-failure tests inject.
var errInjectedSync = fmt.Errorf("injected fsync failure: %w", syscall.EIO)

// faultPlan says which I/O call fails: the n-th call (from 1) of op on a
// file whose name contains match, and with persistent every later one too.
type faultPlan struct {
	op         vfs.Op
	match      string
	n          int
	persistent bool
	cause      error
	short      int  // for OpWrite: bytes that land before the failure
	crash      bool // power loss (unsynced data dropped) before the reopen
}

func (p faultPlan) String() string {
	kind := "transient"
	if p.persistent {
		kind = "persistent"
	}
	s := fmt.Sprintf("%v#%d/%s", p.op, p.n, kind)
	if p.short > 0 {
		s += fmt.Sprintf("/short=%d", p.short)
	}
	if p.crash {
		s += "/crash"
	}
	return s
}

// hook builds the Inject function; the name of the first failed call's
// file is stored in fired.
func (p faultPlan) hook(fired *atomic.Pointer[string]) func(op vfs.Op, name string) error {
	var count atomic.Int64
	return func(op vfs.Op, name string) error {
		if op != p.op || !strings.Contains(name, p.match) {
			return nil
		}
		c := count.Add(1)
		if c != int64(p.n) && (!p.persistent || c < int64(p.n)) {
			return nil
		}
		fired.CompareAndSwap(nil, &name)
		if p.short > 0 {
			return &vfs.ShortWrite{N: p.short, Err: p.cause}
		}
		return p.cause
	}
}

// TestDurableSyncFailure fails the n-th fsync after the database opened,
// once (transient) or from then on (persistent), on a 4-shard Full database
// with 4 KiB segments whose single committer runs multi-key transactions
// and checkpoints every 10 of them, so the failure lands on commit syncs,
// segment seals and checkpoint files. It checks the rules of DESIGN.md §6:
// the commit in flight is not acknowledged and fails with ErrPoisoned and
// the cause, every later commit fails with ErrPoisoned, reads return the
// last acknowledged state, Close reports ErrPoisoned, and a reopen without
// the fault (after a power loss for every other n) recovers a gap-free
// prefix holding every acknowledged commit. A failed checkpoint sync need
// not poison: the database must then go on working.
//
// n runs over 1..200 (under -short: 1..10 and every 20th); the reopen
// follows a power loss for even n, and with FLUXMAP_LONG=1 both ways for
// every n.
func TestDurableSyncFailure(t *testing.T) {
	var ns []int
	for n := 1; n <= 200; n++ {
		if !testing.Short() || n <= 10 || n%20 == 0 {
			ns = append(ns, n)
		}
	}
	for _, persistent := range []bool{false, true} {
		for _, n := range ns {
			crashes := []bool{n%2 == 0}
			if durableLong() {
				crashes = []bool{false, true}
			}
			for _, crash := range crashes {
				p := faultPlan{op: vfs.OpSync, n: n, persistent: persistent, cause: errInjectedSync, crash: crash}
				t.Run(p.String(), func(t *testing.T) {
					fired := runFault(t, p, uint64(n))
					require.NotNil(t, fired, "the workload made fewer than %d fsyncs", n)
				})
				if t.Failed() {
					return
				}
			}
		}
	}
}

// TestDurableWriteENOSPC fails the n-th write to a WAL segment, or to a
// checkpoint file, with ENOSPC, whole or after a few bytes landed (a short
// write), with the same expectations as TestDurableSyncFailure.
func TestDurableWriteENOSPC(t *testing.T) {
	ns := []int{1, 2, 3, 5, 8, 13, 21, 34, 55, 89}
	if durableLong() {
		ns = ns[:0]
		for n := 1; n <= 120; n++ {
			ns = append(ns, n)
		}
	} else if testing.Short() {
		ns = ns[:4]
	}
	for _, match := range []string{".wal", "ckpt-"} {
		for _, n := range ns {
			for _, short := range []int{0, 5} {
				p := faultPlan{op: vfs.OpWrite, match: match, n: n, persistent: n%2 == 1,
					cause: vfs.ENOSPC, short: short, crash: short > 0}
				t.Run(match+"/"+p.String(), func(t *testing.T) {
					fired := runFault(t, p, uint64(n))
					if match == ".wal" {
						require.NotNil(t, fired, "the workload made fewer than %d WAL writes", n)
					}
				})
				if t.Failed() {
					return
				}
			}
		}
	}
}

// runFault runs the fault workload under p and checks the outcome; it
// returns the name of the file whose call failed first, or nil.
func runFault(t *testing.T, p faultPlan, seed uint64) *string {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 0xfa17))
	mem := vfs.New()
	open := func() (*fluxmap.DB[string, string], error) {
		b := fluxmap.New[string, string]().Shards(4).
			DurabilityFull(fluxmap.PersistenceOptions{Dir: "db", SegmentSize: 4096, PoolSize: 2}).
			CheckpointAfterBytes(1 << 30) // checkpoints are explicit, below
		txhook.SetFS(b, mem)
		return b.Build(ctx)
	}
	db, err := open()
	require.NoError(t, err)
	var fired atomic.Pointer[string]
	// phase is 1+i while commit i runs, 0 otherwise; firedPhase is its value
	// when the fault first fired.
	var phase, firedPhase atomic.Int64
	firedPhase.Store(-1)
	inject := p.hook(&fired)
	mem.SetInject(func(op vfs.Op, name string) error {
		err := inject(op, name)
		if err != nil {
			firedPhase.CompareAndSwap(-1, phase.Load())
		}
		return err
	})

	var history []crashtest.Txn[string]
	model := map[string]string{} // the acknowledged state
	poisoned := false
	acked := 0
	firedAt, failedAt := -1, -1
	for i := 0; i < 1000; i++ {
		if fired.Load() != nil && firedAt < 0 {
			firedAt = i
		}
		if firedAt >= 0 && i >= firedAt+10 {
			break // enough commits after the fault to see its effect
		}
		phase.Store(int64(i) + 1)
		rec, err := faultTxn(db, rng, i)
		phase.Store(0)
		if err == nil {
			acked++
			history = append(history, rec)
			for _, w := range rec.Writes {
				if w.Delete {
					delete(model, w.Key)
				} else {
					model[w.Key] = w.Value
				}
			}
		} else {
			require.NotNil(t, fired.Load(), "commit %d failed with no fault injected: %v", i, err)
			require.ErrorIs(t, err, fluxmap.ErrPoisoned, "commit %d", i)
			require.ErrorIs(t, err, p.cause, "commit %d: the poisoning error must carry its cause", i)
			history = append(history, rec) // outcome unknown: it may be durable
			poisoned = true
			failedAt = i
			break
		}
		if i%10 == 9 {
			if err := db.Checkpoint(ctx); err != nil {
				require.NotNil(t, fired.Load(), "checkpoint failed with no fault injected: %v", err)
				require.ErrorIs(t, err, p.cause, "checkpoint error must carry its cause")
			}
		}
	}
	name := fired.Load()
	if name != nil {
		t.Logf("failed %v on %s; poisoned %v after %d acknowledged commits", p.op, *name, poisoned, acked)
	}
	if name != nil && strings.HasSuffix(*name, ".wal") {
		require.True(t, poisoned, "a failed WAL %v (%s) did not poison the database", p.op, *name)
		if c := firedPhase.Load(); c > 0 {
			require.Equal(t, int(c-1), failedAt, "the WAL %v failed during commit %d, which must not be acknowledged", p.op, c-1)
		}
	}
	if poisoned {
		checkPoisoned(t, db, model)
		require.ErrorIs(t, db.Close(), fluxmap.ErrPoisoned, "Close after a poisoning")
	} else {
		// A failed checkpoint only: the database goes on working.
		require.Equal(t, model, durableState(t, db))
		require.NoError(t, db.Close(), "Close after a failed checkpoint (%v)", name)
	}

	mem.SetInject(nil)
	if p.crash {
		mem.Crash()
	}
	db2, err := open()
	require.NoError(t, err, "reopen without the fault")
	got := durableState(t, db2)
	tr := recoveredTS(t, db2, "probe")
	require.NoError(t, crashtest.Check(history, tr, got, true))
	require.NoError(t, db2.Close())
	return name
}

// checkPoisoned checks a poisoned database: every kind of commit fails with
// ErrPoisoned, reads see the acknowledged state, a checkpoint fails.
func checkPoisoned(t *testing.T, db *fluxmap.DB[string, string], model map[string]string) {
	t.Helper()
	ctx := context.Background()
	require.ErrorIs(t, db.Insert(ctx, "k00", "late"), fluxmap.ErrPoisoned)
	_, _, err := db.Remove(ctx, "k01")
	require.ErrorIs(t, err, fluxmap.ErrPoisoned)
	// Multi-shard transactions, on fresh keys and on the keys the failed
	// commit may have written (see TestDurablePoisonedTwoPhaseCommit).
	for _, prefix := range []string{"late-", ""} {
		require.ErrorIs(t, db.Transaction(ctx, func(tx *fluxmap.Tx[string, string]) error {
			for _, k := range crashKeys {
				if err := tx.Insert(prefix+k, "late"); err != nil {
					return err
				}
			}
			return nil
		}), fluxmap.ErrPoisoned)
	}
	require.Equal(t, model, durableState(t, db), "reads after poisoning must return the last acknowledged state")
	for k, v := range model {
		got, ok, err := db.Get(ctx, k)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, v, got)
		break
	}
	require.ErrorIs(t, db.Checkpoint(ctx), fluxmap.ErrPoisoned)
}

// faultTxn commits one transaction of 1 to 3 keys from crashKeys (some
// deletes) and returns its record: Acked with its timestamp, or Unknown.
func faultTxn(db *fluxmap.DB[string, string], rng *rand.Rand, i int) (crashtest.Txn[string], error) {
	tx, err := db.Begin(context.Background())
	if err != nil {
		return crashtest.Txn[string]{}, err
	}
	rec := crashtest.Txn[string]{Outcome: crashtest.Unknown}
	for _, ki := range rng.Perm(len(crashKeys))[:1+rng.IntN(3)] {
		k := crashKeys[ki]
		if rng.IntN(6) == 0 {
			if _, _, err := tx.Remove(k); err != nil {
				_ = tx.Rollback()
				return rec, err
			}
			rec.Writes = append(rec.Writes, crashtest.Write[string]{Key: k, Delete: true})
			continue
		}
		v := fmt.Sprintf("t%d-%s", i, strings.Repeat("v", rng.IntN(200)))
		if err := tx.Insert(k, v); err != nil {
			_ = tx.Rollback()
			return rec, err
		}
		rec.Writes = append(rec.Writes, crashtest.Write[string]{Key: k, Value: v})
	}
	rec.TS, err = txhook.CommitTS(tx)
	if err == nil {
		rec.Outcome = crashtest.Acked
	} else if errors.Is(err, fluxmap.ErrConflict) {
		rec.Outcome = crashtest.Aborted
	}
	return rec, err
}

// TestDurablePoisonedTwoPhaseCommit: after a failed fsync poisons the
// database, a multi-shard transaction that writes a key the failed commit
// wrote must fail with ErrPoisoned, like every other commit. The failed
// commit's writes are installed in memory above the visible watermark, so
// the prepare phase's validation refuses such a transaction with
// ErrConflict; before commit 790ae1d ("poisoned commits fail fast") that
// conflict was returned, and DB.Transaction, which retries conflicts, spun
// until its context ended (forever with context.Background()).
func TestDurablePoisonedTwoPhaseCommit(t *testing.T) {
	ctx := context.Background()
	mem := vfs.New()
	b := fluxmap.New[string, string]().Shards(2).
		DurabilityFull(fluxmap.PersistenceOptions{Dir: "db"})
	txhook.SetFS(b, mem)
	db, err := b.Build(ctx)
	require.NoError(t, err)
	defer func() { require.ErrorIs(t, db.Close(), fluxmap.ErrPoisoned) }()
	mem.SetInject(vfs.FailNthSync(1, errInjectedSync, false))

	require.ErrorIs(t, db.Insert(ctx, "a", "lost"), fluxmap.ErrPoisoned) // its fsync fails

	tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	err = db.Transaction(tctx, func(tx *fluxmap.Tx[string, string]) error {
		if err := tx.Insert("a", "late"); err != nil {
			return err
		}
		for _, k := range []string{"b", "c", "d", "e", "f", "g", "h"} { // spans both shards
			if err := tx.Insert(k, "late"); err != nil {
				return err
			}
		}
		return nil
	})
	require.ErrorIs(t, err, fluxmap.ErrPoisoned, "DB.Transaction on a poisoned database")
	require.NotErrorIs(t, err, context.DeadlineExceeded, "DB.Transaction retried until its deadline")

	tx, err := db.Begin(ctx)
	require.NoError(t, err)
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} { // spans both shards
		require.NoError(t, tx.Insert(k, "late"))
	}
	err = tx.Commit()
	require.ErrorIs(t, err, fluxmap.ErrPoisoned, "a two-phase commit on a poisoned database")
}

// TestDurableFaultDuringRecovery fails the n-th create, write, sync,
// rename or directory sync made while a database opens with a different
// shard count (which rewrites the recovered state as a new generation and
// switches MANIFEST to it), then, for even n, crashes the file system.
// Open must fail cleanly (with the cause, releasing the directory) or
// succeed, and the next open, without faults, must find every committed
// key: a generation switch is atomic. n runs until an open makes fewer
// than n such calls.
func TestDurableFaultDuringRecovery(t *testing.T) {
	ctx := context.Background()
	mem := vfs.New()
	open := func(shards int) (*fluxmap.DB[string, string], error) {
		b := fluxmap.New[string, string]().Shards(shards).
			DurabilityFull(fluxmap.PersistenceOptions{Dir: "db", SegmentSize: 4096, PoolSize: 2})
		txhook.SetFS(b, mem)
		return b.Build(ctx)
	}
	db, err := open(4)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 60 {
		_, err := faultTxn(db, rng, i)
		require.NoError(t, err)
		if i == 30 {
			require.NoError(t, db.Checkpoint(ctx)) // a checkpoint and a log to recover
		}
	}
	want := durableState(t, db)
	require.NoError(t, db.Close())

	shards := 4
	for _, op := range []vfs.Op{vfs.OpCreate, vfs.OpWrite, vfs.OpSync, vfs.OpRename, vfs.OpSyncDir} {
		for n := 1; ; n++ {
			next := 3 + (shards-3+1)%3 // 3, 4, 5, 3, ...
			var fired atomic.Pointer[string]
			mem.SetInject(faultPlan{op: op, n: n, cause: errInjectedSync}.hook(&fired))
			db, err := open(next)
			mem.SetInject(nil)
			if err == nil {
				shards = next
				require.Equal(t, want, durableState(t, db), "%v#%d: open succeeded despite the fault", op, n)
				require.NoError(t, db.Close())
			} else {
				require.NotNil(t, fired.Load(), "%v#%d: open failed without a fault: %v", op, n, err)
				require.ErrorIs(t, err, errInjectedSync, "%v#%d", op, n)
			}
			if n%2 == 0 {
				mem.Crash() // else the reopen also shows the failed open released the lock
			}
			db, err = open(shards)
			require.NoError(t, err, "%v#%d: open after a failed recovery and a crash", op, n)
			require.Equal(t, want, durableState(t, db), "%v#%d", op, n)
			require.NoError(t, db.Close())
			if fired.Load() == nil {
				t.Logf("%v: faults at 1..%d", op, n-1)
				break
			}
		}
	}
}

// TestDurableNewDirSyncsParents: creating the database directory (and any
// missing parents) syncs the parent of each directory created, where its
// entry lives, whatever the spelling of Dir; a failure of such a sync fails
// Build. Opening an existing directory syncs no parent: it may not even be
// readable.
func TestDurableNewDirSyncsParents(t *testing.T) {
	ctx := context.Background()
	for _, dir := range []string{"x/y/db", "x/y/db/", "x/y/db/.", "x/y/z/../db"} {
		t.Run(dir, func(t *testing.T) {
			mem := vfs.New()
			open := func() (*fluxmap.DB[string, string], error) {
				b := fluxmap.New[string, string]().Shards(1).
					DurabilityFull(fluxmap.PersistenceOptions{Dir: dir})
				txhook.SetFS(b, mem)
				return b.Build(ctx)
			}
			var mu sync.Mutex
			synced := map[string]bool{}
			failParent := false
			mem.SetInject(func(op vfs.Op, name string) error {
				if op != vfs.OpSyncDir {
					return nil
				}
				mu.Lock()
				defer mu.Unlock()
				synced[filepath.Clean(name)] = true
				if failParent && filepath.Clean(name) == "x/y" {
					return errInjectedSync
				}
				return nil
			})
			db, err := open()
			require.NoError(t, err)
			require.NoError(t, db.Insert(ctx, "k", "v"))
			require.NoError(t, db.Close())
			mu.Lock()
			for _, p := range []string{".", "x", "x/y"} {
				require.Truef(t, synced[p], "creating %q did not sync %q (synced: %v)", dir, p, synced)
			}
			failParent = true
			mu.Unlock()
			db, err = open()
			require.NoError(t, err, "an existing directory needs no parent sync")
			requireValue(t, db, "k", "v")
			require.NoError(t, db.Close())
		})
	}

	mem := vfs.New()
	mem.SetInject(func(op vfs.Op, name string) error {
		if op == vfs.OpSyncDir && name == "data" {
			return errInjectedSync
		}
		return nil
	})
	b := fluxmap.New[string, string]().Shards(1).DurabilityFull(fluxmap.PersistenceOptions{Dir: "data/db"})
	txhook.SetFS(b, mem)
	_, err := b.Build(ctx)
	require.ErrorIs(t, err, errInjectedSync)
}
