package wal_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap/wal"
)

// TestOSFSSmoke runs the log and a checkpoint on real files.
func TestOSFSSmoke(t *testing.T) {
	fs := wal.OSFS()
	dir := filepath.Join(t.TempDir(), "db", "shard0")
	l, r := openLog(t, fs, dir, 4096, 2)
	require.Empty(t, r.payloads)
	var want []uint64
	for ts := uint64(1); ts <= 100; ts++ {
		require.NoError(t, l.Append(ts, record(t, ts, int(ts*7%300))))
		want = append(want, ts)
		if ts%10 == 0 {
			require.NoError(t, l.Sync())
		}
	}
	require.NoError(t, l.Recycle(30))
	require.NoError(t, l.Close())

	segs, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	require.NoError(t, err)
	require.NotEmpty(t, segs)
	for _, s := range segs {
		fi, err := os.Stat(s)
		require.NoError(t, err)
		require.GreaterOrEqual(t, fi.Size(), int64(4096), "segments are preallocated")
	}
	l, r = openLog(t, fs, dir, 4096, 2)
	got := r.timestamps(t)
	require.LessOrEqual(t, got[0], uint64(31))
	require.Equal(t, want[got[0]-1:], got)
	require.NoError(t, l.Close())

	writeCheckpoint(t, fs, dir, 30, sampleEntries(10))
	ts, found, es, err := readCheckpoint(t, fs, dir)
	require.NoError(t, err)
	require.True(t, found)
	require.EqualValues(t, 30, ts)
	require.Equal(t, sampleEntries(10)[3].value, es[3].value)
}

func TestOSFSLock(t *testing.T) {
	fs := wal.OSFS()
	name := filepath.Join(t.TempDir(), "LOCK")
	l1, err := fs.Lock(name)
	require.NoError(t, err)
	_, err = fs.Lock(name)
	require.ErrorIs(t, err, wal.ErrLocked)
	require.NoError(t, l1.Close())
	l2, err := fs.Lock(name)
	require.NoError(t, err)
	require.NoError(t, l2.Close())
}

func TestOSFSFile(t *testing.T) {
	fs := wal.OSFS()
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	f, err := fs.Create(name)
	require.NoError(t, err)
	require.NoError(t, f.Preallocate(10000))
	size, err := f.Size()
	require.NoError(t, err)
	require.EqualValues(t, 10000, size)
	require.NoError(t, f.Preallocate(100)) // never shrinks
	size, err = f.Size()
	require.NoError(t, err)
	require.EqualValues(t, 10000, size)
	_, err = f.WriteAt([]byte("abc"), 5)
	require.NoError(t, err)
	require.NoError(t, f.Sync())
	require.NoError(t, f.Truncate(6))
	require.NoError(t, f.Close())
	require.NoError(t, fs.SyncDir(dir))
	require.NoError(t, fs.Rename(name, name+"2"))
	names, err := fs.List(dir)
	require.NoError(t, err)
	require.Equal(t, []string{"f2"}, names)
	g, err := fs.Open(name + "2")
	require.NoError(t, err)
	buf := make([]byte, 6)
	_, err = g.ReadAt(buf, 0)
	require.NoError(t, err)
	require.Equal(t, "\x00\x00\x00\x00\x00a", string(buf))
	require.NoError(t, g.Close())
	require.NoError(t, fs.Remove(name+"2"))
	_, err = fs.List(filepath.Join(dir, "missing"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestCheckpointTempNeverFollowsLink: a symbolic link left at a
// checkpoint's temporary name is replaced, not written through; the file
// it pointed to is untouched and the checkpoint is a regular file.
func TestCheckpointTempNeverFollowsLink(t *testing.T) {
	fs := wal.OSFS()
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "precious.txt")
	require.NoError(t, os.WriteFile(victim, []byte("user data"), 0o600))
	require.NoError(t, os.Symlink(victim, filepath.Join(dir, "ckpt-0000000000000007.tmp")))
	writeCheckpoint(t, fs, dir, 7, sampleEntries(3))
	b, err := os.ReadFile(victim)
	require.NoError(t, err)
	require.Equal(t, "user data", string(b))
	fi, err := os.Lstat(filepath.Join(dir, "ckpt-0000000000000007.ckpt"))
	require.NoError(t, err)
	require.True(t, fi.Mode().IsRegular())
	ts, found, got, err := readCheckpoint(t, fs, dir)
	require.NoError(t, err)
	require.True(t, found)
	require.EqualValues(t, 7, ts)
	require.Len(t, got, 3)
}
