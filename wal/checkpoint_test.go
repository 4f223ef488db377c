package wal_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap/internal/errs"
	"github.com/fluxmap/fluxmap/internal/vfs"
	"github.com/fluxmap/fluxmap/wal"
)

type entry struct {
	key    string
	expiry int64
	value  []byte
}

func writeCheckpoint(t testing.TB, fs wal.FS, dir string, ts uint64, entries []entry) {
	t.Helper()
	w, err := wal.CreateCheckpoint(fs, dir, ts, testOwner)
	require.NoError(t, err)
	for _, e := range entries {
		require.NoError(t, w.Add(e.key, e.expiry, func(dst []byte) ([]byte, error) { return append(dst, e.value...), nil }))
	}
	require.NoError(t, w.Commit())
}

func readCheckpoint(t testing.TB, fs wal.FS, dir string) (uint64, bool, []entry, error) {
	t.Helper()
	var got []entry
	info, found, err := wal.ReadCheckpoint(fs, dir, func(key string, expiry int64, value []byte) error {
		got = append(got, entry{key, expiry, bytes.Clone(value)})
		return nil
	})
	if found {
		require.Equal(t, testOwner, info.Owner)
	}
	return info.TS, found, got, err
}

// testOwner is the owner of the test checkpoints.
var testOwner = wal.Owner{Shard: 2, Shards: 5}

func sampleEntries(n int) []entry {
	var es []entry
	for i := range n {
		es = append(es, entry{key: fmt.Sprintf("key-%05d", i), expiry: int64(i % 3), value: bytes.Repeat([]byte{byte(i)}, i%50)})
	}
	return es
}

func TestCheckpointRoundTrip(t *testing.T) {
	m := vfs.New()
	es := sampleEntries(5000)
	// Entries larger than the 1 MiB write buffer and than the read buffer.
	es = append(es, entry{"big", 0, bytes.Repeat([]byte("B"), 3<<20)}, entry{"", -5, []byte{}}, entry{"after", 1, []byte("x")})
	writeCheckpoint(t, m, "d", 42, es)
	ts, found, got, err := readCheckpoint(t, m, "d")
	require.NoError(t, err)
	require.True(t, found)
	require.EqualValues(t, 42, ts)
	require.Equal(t, len(es), len(got))
	for i := range es {
		require.Equal(t, es[i].key, got[i].key)
		require.Equal(t, es[i].expiry, got[i].expiry)
		require.True(t, bytes.Equal(es[i].value, got[i].value), "entry %d", i)
	}
	names, err := m.List("d")
	require.NoError(t, err)
	require.Equal(t, []string{"ckpt-000000000000002a.ckpt"}, names)
}

func TestCheckpointEmptyAndMissing(t *testing.T) {
	m := vfs.New()
	_, found, _, err := readCheckpoint(t, m, "nope")
	require.NoError(t, err)
	require.False(t, found)
	require.NoError(t, m.MkdirAll("d"))
	_, found, _, err = readCheckpoint(t, m, "d")
	require.NoError(t, err)
	require.False(t, found)
	writeCheckpoint(t, m, "d", 1, nil)
	ts, found, got, err := readCheckpoint(t, m, "d")
	require.NoError(t, err)
	require.True(t, found)
	require.EqualValues(t, 1, ts)
	require.Empty(t, got)
}

func TestCheckpointNewestWins(t *testing.T) {
	m := vfs.New()
	writeCheckpoint(t, m, "d", 5, sampleEntries(3))
	writeCheckpoint(t, m, "d", 0x10, sampleEntries(4))
	names, err := m.List("d")
	require.NoError(t, err)
	require.Equal(t, []string{"ckpt-0000000000000010.ckpt"}, names, "older checkpoints are removed")
	// An older one written later does not win, and does not remove the newer.
	writeCheckpoint(t, m, "d", 9, sampleEntries(5))
	ts, _, got, err := readCheckpoint(t, m, "d")
	require.NoError(t, err)
	require.EqualValues(t, 0x10, ts)
	require.Len(t, got, 4)
}

// TestCheckpointCorruption: a flipped bit anywhere, a cut anywhere, or
// bytes after the end frame: ErrCorrupt, never a partial success.
func TestCheckpointCorruption(t *testing.T) {
	m := vfs.New()
	writeCheckpoint(t, m, "d", 7, sampleEntries(6))
	const name = "d/ckpt-0000000000000007.ckpt"
	good, err := m.ReadFile(name)
	require.NoError(t, err)
	check := func(what string, b []byte) {
		t.Helper()
		require.NoError(t, m.WriteFile(name, b))
		_, _, _, err := readCheckpoint(t, m, "d")
		require.ErrorIs(t, err, errs.ErrCorrupt, what)
	}
	for i := range good {
		for bit := range 8 {
			b := bytes.Clone(good)
			b[i] ^= 1 << bit
			check(fmt.Sprintf("flip byte %d bit %d", i, bit), b)
		}
	}
	for cut := range len(good) {
		check(fmt.Sprintf("cut at %d", cut), good[:cut])
	}
	check("trailing byte", append(bytes.Clone(good), 0))
	// Name and header must agree.
	require.NoError(t, m.Remove(name))
	require.NoError(t, m.WriteFile("d/ckpt-0000000000000008.ckpt", good))
	_, _, _, err = readCheckpoint(t, m, "d")
	require.ErrorIs(t, err, errs.ErrCorrupt)
}

// TestCheckpointCrashBeforeDurable: a crash before the rename, or after it
// but before the directory sync, leaves the old checkpoint.
func TestCheckpointCrashBeforeDurable(t *testing.T) {
	for _, failAt := range []vfs.Op{vfs.OpSync, vfs.OpRename, vfs.OpSyncDir, 0} {
		m := vfs.New()
		writeCheckpoint(t, m, "d", 5, sampleEntries(3))
		w, err := wal.CreateCheckpoint(m, "d", 9, testOwner)
		require.NoError(t, err)
		for _, e := range sampleEntries(10) {
			require.NoError(t, w.Add(e.key, e.expiry, func(dst []byte) ([]byte, error) { return append(dst, e.value...), nil }))
		}
		if failAt != 0 {
			m.Inject = func(op vfs.Op, _ string) error {
				if op == failAt {
					return vfs.ENOSPC
				}
				return nil
			}
			require.ErrorIs(t, w.Commit(), vfs.ENOSPC)
			require.Error(t, w.Commit(), "the failure sticks")
			m.Inject = nil
		}
		m.Crash() // with failAt 0: the crash comes before Commit
		ts, found, got, err := readCheckpoint(t, m, "d")
		require.NoError(t, err, "fail at %v", failAt)
		require.True(t, found)
		require.EqualValues(t, 5, ts, "fail at %v", failAt)
		require.Len(t, got, 3)
		// The next checkpoint cleans up stray temporary files.
		require.NoError(t, m.WriteFile("d/ckpt-0000000000000007.tmp", []byte("junk")))
		writeCheckpoint(t, m, "d", 11, nil)
		names, err := m.List("d")
		require.NoError(t, err)
		require.Equal(t, []string{"ckpt-000000000000000b.ckpt"}, names)
	}
}

func TestCheckpointAbort(t *testing.T) {
	m := vfs.New()
	writeCheckpoint(t, m, "d", 5, sampleEntries(2))
	w, err := wal.CreateCheckpoint(m, "d", 6, testOwner)
	require.NoError(t, err)
	require.NoError(t, w.Add("k", 0, nil))
	require.NoError(t, w.Abort())
	require.NoError(t, w.Abort())
	require.Error(t, w.Add("k", 0, nil))
	require.Error(t, w.Commit())
	names, err := m.List("d")
	require.NoError(t, err)
	require.Equal(t, []string{"ckpt-0000000000000005.ckpt"}, names)
}

func TestCheckpointErrors(t *testing.T) {
	m := vfs.New()
	boom := errors.New("boom")
	w, err := wal.CreateCheckpoint(m, "d", 3, testOwner)
	require.NoError(t, err)
	require.ErrorIs(t, w.Add("bad", 0, func([]byte) ([]byte, error) { return nil, boom }), boom)
	require.NoError(t, w.Add("good", 0, nil)) // the failed Add left nothing behind
	require.NoError(t, w.Commit())
	_, _, got, err := readCheckpoint(t, m, "d")
	require.NoError(t, err)
	require.Equal(t, []entry{{"good", 0, []byte{}}}, got)

	_, _, err = wal.ReadCheckpoint(m, "d", func(string, int64, []byte) error { return boom })
	require.ErrorIs(t, err, boom)
	require.NotErrorIs(t, err, errs.ErrCorrupt)
}
