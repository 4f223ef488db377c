package vfs_test

import (
	"errors"
	iofs "io/fs"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap/internal/vfs"
	"github.com/fluxmap/fluxmap/wal"
)

func mustWrite(t *testing.T, f wal.File, s string, off int64) {
	t.Helper()
	n, err := f.WriteAt([]byte(s), off)
	require.NoError(t, err)
	require.Equal(t, len(s), n)
}

func content(t *testing.T, m *vfs.MemFS, name string) string {
	t.Helper()
	b, err := m.ReadFile(name)
	require.NoError(t, err)
	return string(b)
}

func exists(t *testing.T, m *vfs.MemFS, name string) bool {
	t.Helper()
	_, err := m.ReadFile(name)
	if errors.Is(err, iofs.ErrNotExist) {
		return false
	}
	require.NoError(t, err)
	return true
}

func TestCrashDropsUnsyncedData(t *testing.T) {
	m := vfs.New()
	require.NoError(t, m.MkdirAll("d"))
	f, err := m.Create("d/a")
	require.NoError(t, err)
	mustWrite(t, f, "hello", 0)
	require.NoError(t, f.Sync())
	require.NoError(t, m.SyncDir("d"))
	mustWrite(t, f, " world", 5)
	require.Equal(t, "hello world", content(t, m, "d/a"))

	m.Crash()
	require.Equal(t, "hello", content(t, m, "d/a"))

	// The old handle is dead; a new one works.
	_, err = f.WriteAt([]byte("x"), 0)
	require.ErrorIs(t, err, vfs.ErrCrashed)
	require.ErrorIs(t, f.Sync(), vfs.ErrCrashed)
	_, err = f.ReadAt(make([]byte, 1), 0)
	require.ErrorIs(t, err, vfs.ErrCrashed)
	g, err := m.Open("d/a")
	require.NoError(t, err)
	buf := make([]byte, 5)
	_, err = g.ReadAt(buf, 0)
	require.NoError(t, err)
	require.Equal(t, "hello", string(buf))
}

func TestCrashDirectoryEntries(t *testing.T) {
	m := vfs.New()
	require.NoError(t, m.MkdirAll("d"))
	for _, name := range []string{"d/keep", "d/gone", "d/old"} {
		f, err := m.Create(name)
		require.NoError(t, err)
		mustWrite(t, f, name, 0)
		require.NoError(t, f.Sync())
		require.NoError(t, f.Close())
	}
	require.NoError(t, m.SyncDir("d"))

	// Unsynced: a create (with synced data), a rename and a remove.
	f, err := m.Create("d/new")
	require.NoError(t, err)
	mustWrite(t, f, "new", 0)
	require.NoError(t, f.Sync())
	require.NoError(t, m.Rename("d/old", "d/renamed"))
	require.NoError(t, m.Remove("d/gone"))
	names, err := m.List("d")
	require.NoError(t, err)
	require.Equal(t, []string{"keep", "new", "renamed"}, names)

	m.Crash()
	names, err = m.List("d")
	require.NoError(t, err)
	require.Equal(t, []string{"gone", "keep", "old"}, names)
	require.Equal(t, "d/old", content(t, m, "d/old"))
	require.Equal(t, "d/gone", content(t, m, "d/gone"))

	// The same changes survive once the directory is synced.
	require.NoError(t, m.Rename("d/old", "d/renamed"))
	require.NoError(t, m.Remove("d/gone"))
	require.NoError(t, m.SyncDir("d"))
	m.Crash()
	require.False(t, exists(t, m, "d/gone"))
	require.False(t, exists(t, m, "d/old"))
	require.Equal(t, "d/old", content(t, m, "d/renamed"))
}

func TestCrashCreatedButNeverSyncedFileIsEmpty(t *testing.T) {
	m := vfs.New()
	require.NoError(t, m.MkdirAll("d"))
	f, err := m.Create("d/a")
	require.NoError(t, err)
	mustWrite(t, f, "data", 0)
	require.NoError(t, m.SyncDir("d")) // entry durable, data not
	m.Crash()
	require.Equal(t, "", content(t, m, "d/a"))
}

func TestCrashRandomKeepsOrderedPrefix(t *testing.T) {
	for seed := range uint64(200) {
		m := vfs.New()
		require.NoError(t, m.MkdirAll("d"))
		f, err := m.Create("d/a")
		require.NoError(t, err)
		mustWrite(t, f, "base", 0)
		require.NoError(t, f.Sync())
		require.NoError(t, m.SyncDir("d"))
		writes := []string{"AAAA", "BBBB", "CCCC", "DDDD"}
		for i, w := range writes {
			mustWrite(t, f, w, int64(4+4*i))
		}
		m.CrashRandom(rand.New(rand.NewPCG(seed, 1)))
		got := content(t, m, "d/a")
		// got must be "base" + k whole writes + a prefix of write k.
		require.GreaterOrEqual(t, len(got), 4, "seed %d", seed)
		want := "base"
		for _, w := range writes {
			want += w
		}
		require.Equal(t, want[:len(got)], got, "seed %d: not an ordered prefix", seed)
	}
}

func TestCrashRandomTearsSometimes(t *testing.T) {
	seen := map[int]bool{}
	for seed := range uint64(300) {
		m := vfs.New()
		f, err := m.Create("a")
		require.NoError(t, err)
		require.NoError(t, m.SyncDir("."))
		mustWrite(t, f, "0123456789", 0)
		m.CrashRandom(rand.New(rand.NewPCG(seed, 2)))
		seen[len(content(t, m, "a"))] = true
	}
	require.True(t, seen[0] && seen[10], "both none and all of a write must occur: %v", seen)
	require.Greater(t, len(seen), 5, "torn writes must occur: %v", seen)
}

func TestTruncateAndPreallocate(t *testing.T) {
	m := vfs.New()
	f, err := m.Create("a")
	require.NoError(t, err)
	mustWrite(t, f, "abcdef", 0)
	require.NoError(t, f.Truncate(2))
	require.NoError(t, f.Preallocate(6)) // regrown bytes are zeros
	require.Equal(t, "ab\x00\x00\x00\x00", content(t, m, "a"))
	require.NoError(t, f.Preallocate(3)) // never shrinks
	size, err := f.Size()
	require.NoError(t, err)
	require.EqualValues(t, 6, size)
	mustWrite(t, f, "z", 8) // a write past the end zero-fills the gap
	require.Equal(t, "ab\x00\x00\x00\x00\x00\x00z", content(t, m, "a"))
	require.NoError(t, f.Close())
	require.Error(t, f.Close())
	_, err = f.WriteAt([]byte("x"), 0)
	require.ErrorIs(t, err, iofs.ErrClosed)
}

func TestInjectFailsWithoutEffect(t *testing.T) {
	m := vfs.New()
	f, err := m.Create("a")
	require.NoError(t, err)
	mustWrite(t, f, "ok", 0)
	m.Inject = func(op vfs.Op, name string) error {
		if op == vfs.OpWrite || op == vfs.OpRename || op == vfs.OpCreate {
			return vfs.ENOSPC
		}
		return nil
	}
	_, err = f.WriteAt([]byte("XX"), 0)
	require.ErrorIs(t, err, vfs.ENOSPC)
	require.Equal(t, "ok", content(t, m, "a"))
	require.ErrorIs(t, m.Rename("a", "b"), vfs.ENOSPC)
	require.True(t, exists(t, m, "a"))
	_, err = m.Create("c")
	require.ErrorIs(t, err, vfs.ENOSPC)
	require.False(t, exists(t, m, "c"))
}

func TestInjectShortWrite(t *testing.T) {
	m := vfs.New()
	f, err := m.Create("a")
	require.NoError(t, err)
	m.Inject = func(op vfs.Op, _ string) error {
		if op == vfs.OpWrite {
			return &vfs.ShortWrite{N: 3, Err: vfs.ENOSPC}
		}
		return nil
	}
	n, err := f.WriteAt([]byte("abcdef"), 0)
	require.ErrorIs(t, err, vfs.ENOSPC)
	require.Equal(t, 3, n)
	require.Equal(t, "abc", content(t, m, "a"))
}

func TestFailNthSync(t *testing.T) {
	for _, persistent := range []bool{false, true} {
		m := vfs.New()
		f, err := m.Create("a")
		require.NoError(t, err)
		m.Inject = vfs.FailNthSync(2, vfs.ENOSPC, persistent)
		require.NoError(t, m.SyncDir(".")) // not a file sync: not counted
		require.NoError(t, f.Sync())
		mustWrite(t, f, "x", 0)
		require.ErrorIs(t, f.Sync(), vfs.ENOSPC)
		m.Crash() // the failed sync made nothing durable
		require.Equal(t, "", content(t, m, "a"))
		f, err = m.Open("a")
		require.NoError(t, err)
		mustWrite(t, f, "y", 0)
		if persistent {
			require.ErrorIs(t, f.Sync(), vfs.ENOSPC)
		} else {
			require.NoError(t, f.Sync())
		}
	}
}

func TestLock(t *testing.T) {
	m := vfs.New()
	l, err := m.Lock("LOCK")
	require.NoError(t, err)
	_, err = m.Lock("./LOCK")
	require.ErrorIs(t, err, wal.ErrLocked)
	require.NoError(t, l.Close())
	l2, err := m.Lock("LOCK")
	require.NoError(t, err)
	require.NoError(t, l.Close()) // a stale closer does not release l2
	_, err = m.Lock("LOCK")
	require.ErrorIs(t, err, wal.ErrLocked)
	m.Crash() // the holder died
	_, err = m.Lock("LOCK")
	require.NoError(t, err)
	require.NoError(t, l2.Close())
}

func TestMissingPaths(t *testing.T) {
	m := vfs.New()
	_, err := m.List("nope")
	require.ErrorIs(t, err, iofs.ErrNotExist)
	_, err = m.Open("nope")
	require.ErrorIs(t, err, iofs.ErrNotExist)
	_, err = m.Create("nope/a")
	require.ErrorIs(t, err, iofs.ErrNotExist)
	require.ErrorIs(t, m.Remove("nope"), iofs.ErrNotExist)
	require.ErrorIs(t, m.Rename("nope", "x"), iofs.ErrNotExist)
	require.ErrorIs(t, m.SyncDir("nope"), iofs.ErrNotExist)

	require.NoError(t, m.MkdirAll("x/y/z"))
	names, err := m.List("x")
	require.NoError(t, err)
	require.Equal(t, []string{"y"}, names)
	var zero vfs.MemFS // the zero value works too
	require.NoError(t, zero.MkdirAll("d"))
	_, err = zero.Create("d/f")
	require.NoError(t, err)
}

func TestRemovedFileStaysReadableThroughHandle(t *testing.T) {
	m := vfs.New()
	f, err := m.Create("a")
	require.NoError(t, err)
	mustWrite(t, f, "abc", 0)
	require.NoError(t, m.Remove("a"))
	buf := make([]byte, 3)
	_, err = f.ReadAt(buf, 0)
	require.NoError(t, err)
	require.Equal(t, "abc", string(buf))
}

func TestRemoveDirectory(t *testing.T) {
	m := vfs.New()
	require.NoError(t, m.MkdirAll("a/b"))
	f, err := m.Create("a/b/f")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.Error(t, m.Remove("a"), "has a subdirectory")
	require.Error(t, m.Remove("a/b"), "has a file")
	require.NoError(t, m.Remove("a/b/f"))
	require.NoError(t, m.Remove("a/b"))
	require.NoError(t, m.Remove("a"))
	_, err = m.List("a")
	require.ErrorIs(t, err, iofs.ErrNotExist)
	require.Error(t, m.Remove("."))
}
