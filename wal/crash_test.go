package wal_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap/internal/errs"
	"github.com/fluxmap/fluxmap/internal/vfs"
	"github.com/fluxmap/fluxmap/wal"
)

// TestCrashRecoversSyncedPrefix runs random appends, flushes, syncs and
// recycles, then cuts the power (dropping unsynced data, or keeping a
// random ordered prefix of it). Recovery must give a contiguous run of the
// appended records that includes every synced one, starting after records
// that a checkpoint covered; a further append and reopen must work.
func TestCrashRecoversSyncedPrefix(t *testing.T) {
	for seed := range uint64(150) {
		rng := rand.New(rand.NewPCG(seed, 99))
		m := vfs.New()
		l, _ := openLog(t, m, "d", 4096, 2)
		var appended []uint64
		synced, upTo := 0, uint64(0)
		for range 20 + rng.IntN(200) {
			switch op := rng.IntN(20); {
			case op == 0:
				require.NoError(t, l.Flush())
			case op <= 2:
				require.NoError(t, l.Sync())
				synced = len(appended)
			case op == 3 && len(appended) > 0:
				upTo = max(upTo, appended[rng.IntN(len(appended))])
				require.NoError(t, l.Recycle(upTo))
			default:
				ts := uint64(len(appended) + 1)
				require.NoError(t, l.Append(ts, record(t, ts, rng.IntN(700))))
				appended = append(appended, ts)
			}
		}
		if rng.IntN(2) == 0 {
			m.Crash()
		} else {
			m.CrashRandom(rng)
		}
		l, r := openLog(t, m, "d", 4096, 2)
		got := r.timestamps(t)
		if len(got) > 0 {
			first := int(got[0]) - 1
			require.Equal(t, appended[first:first+len(got)], got, "seed %d: not a contiguous run", seed)
			require.LessOrEqual(t, got[0]-1, upTo, "seed %d: lost records no checkpoint covered", seed)
		}
		end := 0
		if len(got) > 0 {
			end = int(got[len(got)-1])
		}
		// Only a checkpoint covering every synced record may empty the log.
		require.True(t, end >= synced || (len(got) == 0 && uint64(synced) <= upTo),
			"seed %d: lost a synced record: recovered up to %d, synced %d, checkpoint %d", seed, end, synced, upTo)

		require.NoError(t, l.Append(10000, record(t, 10000, 3)))
		require.NoError(t, l.Sync())
		m.Crash()
		_, r2 := openLog(t, m, "d", 4096, 2)
		require.Equal(t, append(got, 10000), r2.timestamps(t), "seed %d", seed)
	}
}

// TestStickyErrors injects one failure per kind of operation. The call
// that fails and every later Append, Flush, Sync, Recycle and Reset return
// an error wrapping the cause; no further write, sync, rename, remove,
// create or directory sync reaches the FS (so no fsync is ever retried);
// Close only closes; and after a crash a reopen recovers what was synced.
func TestStickyErrors(t *testing.T) {
	for _, failOp := range []vfs.Op{vfs.OpWrite, vfs.OpSync, vfs.OpRename, vfs.OpSyncDir, vfs.OpCreate, vfs.OpPreallocate} {
		for _, persistent := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/persistent=%v", failOp, persistent), func(t *testing.T) {
				m := vfs.New()
				counts := map[vfs.Op]int{}
				armed, fired := false, false
				m.Inject = countOps(counts, func(op vfs.Op, name string) error {
					if armed && op == failOp && (!fired || persistent) {
						fired = true
						if op == vfs.OpWrite {
							return &vfs.ShortWrite{N: 5, Err: vfs.ENOSPC}
						}
						return vfs.ENOSPC
					}
					return nil
				})
				l, _ := openLog(t, m, "d", 4096, 2)
				// Two sealed segments, recycled, so rolls use the pool.
				var ts uint64
				for l.Stats().Segments < 3 {
					ts++
					require.NoError(t, l.Append(ts, record(t, ts, 200)))
				}
				require.NoError(t, l.Recycle(ts-1))
				require.NoError(t, l.Sync())
				synced := ts
				if failOp == vfs.OpCreate || failOp == vfs.OpPreallocate {
					// Drain the pool so the next roll creates a file.
					require.NoError(t, l.Reset())
					require.NoError(t, l.Reset())
					synced = ts
				}

				armed = true
				var firstErr error
				for i := 0; i < 200 && firstErr == nil; i++ {
					ts++
					if firstErr = l.Append(ts, record(t, ts, 200)); firstErr != nil {
						break
					}
					switch i % 3 {
					case 0:
						firstErr = l.Flush()
					case 1:
						firstErr = l.Sync()
						if firstErr == nil {
							synced = ts
						}
					}
				}
				require.ErrorIs(t, firstErr, vfs.ENOSPC)
				require.True(t, fired)

				before := map[vfs.Op]int{}
				for k, v := range counts {
					before[k] = v
				}
				for _, err := range []error{
					l.Append(ts+1, record(t, ts+1, 10)),
					l.Flush(),
					l.Sync(),
					l.Recycle(ts),
					l.Reset(),
				} {
					require.ErrorIs(t, err, vfs.ENOSPC)
					require.True(t, strings.Contains(err.Error(), "earlier failure"), err.Error())
				}
				require.ErrorIs(t, l.Close(), vfs.ENOSPC)
				for _, op := range []vfs.Op{vfs.OpWrite, vfs.OpSync, vfs.OpRename, vfs.OpRemove, vfs.OpCreate, vfs.OpSyncDir, vfs.OpPreallocate, vfs.OpTruncate} {
					require.Equal(t, before[op], counts[op], "%v reached the FS after the failure", op)
				}

				m.Inject = nil
				m.Crash()
				_, r := openLog(t, m, "d", 4096, 2)
				got := r.timestamps(t)
				require.NotEmpty(t, got)
				require.GreaterOrEqual(t, got[len(got)-1], synced, "lost a synced record")
				for i := 1; i < len(got); i++ {
					require.Equal(t, got[i-1]+1, got[i])
				}
			})
		}
	}
}

func TestClosedLog(t *testing.T) {
	l, _ := openLog(t, vfs.New(), "d", 4096, 2)
	require.NoError(t, l.Close())
	for _, err := range []error{l.Append(1, nil), l.Flush(), l.Sync(), l.Recycle(1), l.Reset()} {
		require.ErrorIs(t, err, errs.ErrClosed)
	}
}

func TestOpenReadErrorIsNotCorruption(t *testing.T) {
	m := vfs.New()
	l, _ := openLog(t, m, "d", 4096, 2)
	require.NoError(t, l.Append(1, record(t, 1, 10)))
	require.NoError(t, l.Close())
	m.Inject = func(op vfs.Op, _ string) error {
		if op == vfs.OpRead {
			return vfs.ENOSPC
		}
		return nil
	}
	_, err := wal.Open(wal.Options{FS: m, Dir: "d"}, func(uint64, []byte) error { return nil })
	require.ErrorIs(t, err, vfs.ENOSPC)
	require.NotErrorIs(t, err, errs.ErrCorrupt)
}
