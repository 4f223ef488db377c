//go:build unix

package fluxmap_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// withUmask runs the test under umask mask, so the modes it checks are the
// ones the database asked for and not the runner's umask. The umask is
// process-wide; it only ever narrows modes, so other tests running
// meanwhile are not hurt by it.
func withUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

// fillDurable opens a durable database in dir with o, writes to every shard,
// checkpoints and writes again (so the tree has segments, checkpoints, the
// MANIFEST and LOCK), and closes it.
func fillDurable(t *testing.T, o fluxmap.PersistenceOptions) {
	t.Helper()
	ctx := context.Background()
	db, err := fluxmap.New[string, int64]().Shards(4).DurabilityFull(o).Build(ctx)
	require.NoError(t, err)
	for i := range 64 {
		require.NoError(t, db.Insert(ctx, fmt.Sprintf("k%d", i), int64(i)))
	}
	require.NoError(t, db.Checkpoint(ctx))
	require.NoError(t, db.Insert(ctx, "after", 1))
	require.NoError(t, db.Close())
}

// modes returns the permission bits of everything under dir, dir included,
// and how many regular files there are.
func modes(t *testing.T, dir string) (dirs, files map[string]fs.FileMode) {
	t.Helper()
	dirs, files = map[string]fs.FileMode{}, map[string]fs.FileMode{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			dirs[rel] = fi.Mode().Perm()
		} else {
			files[rel] = fi.Mode().Perm()
		}
		return nil
	}))
	return dirs, files
}

// TestDurableFilesPrivateByDefault: a durable database creates its
// directories 0o700 and its files 0o600, so other users of the machine
// cannot read the data, even under a permissive umask.
func TestDurableFilesPrivateByDefault(t *testing.T) {
	withUmask(t, 0)
	dir := filepath.Join(t.TempDir(), "parent", "db")
	fillDurable(t, fluxmap.PersistenceOptions{Dir: dir, SegmentSize: 4 << 10})

	dirs, files := modes(t, filepath.Dir(dir))
	require.Greater(t, len(dirs), 2, "expected shard directories under %s", dir)
	// Every kind of file the database writes is among those checked.
	kinds := map[string]bool{}
	for p := range files {
		switch base := filepath.Base(p); {
		case base == "LOCK", base == "MANIFEST":
			kinds[base] = true
		case filepath.Ext(base) == ".wal", filepath.Ext(base) == ".ckpt":
			kinds[filepath.Ext(base)] = true
		}
	}
	require.Equal(t, map[string]bool{"LOCK": true, "MANIFEST": true, ".wal": true, ".ckpt": true}, kinds,
		"files under %s: %v", dir, files)
	for p, m := range dirs {
		require.Equal(t, fs.FileMode(0o700), m, "directory %s is %#o", p, m)
	}
	for p, m := range files {
		require.Equal(t, fs.FileMode(0o600), m, "file %s is %#o", p, m)
	}
	// Reopening it is fine: its own directory grants nobody else anything.
	fillDurable(t, fluxmap.PersistenceOptions{Dir: dir, SegmentSize: 4 << 10})
}

// TestDurableFileModeWidens: PersistenceOptions.FileMode sets the files'
// mode, and directories get execute wherever read is set.
func TestDurableFileModeWidens(t *testing.T) {
	withUmask(t, 0)
	dir := filepath.Join(t.TempDir(), "db")
	fillDurable(t, fluxmap.PersistenceOptions{Dir: dir, FileMode: 0o640})
	dirs, files := modes(t, dir)
	for p, m := range dirs {
		require.Equal(t, fs.FileMode(0o750), m, "directory %s is %#o", p, m)
	}
	for p, m := range files {
		require.Equal(t, fs.FileMode(0o640), m, "file %s is %#o", p, m)
	}
}

// TestDurableOpenDirectoryRefused: an existing database directory that
// grants group or others more than FileMode allows, and that they can
// reach, fails Build with ErrConfig naming the directory, its mode and the
// fix, and nothing is created in it; with the matching FileMode it opens.
// Inside a directory they cannot search, it opens as it is.
func TestDurableOpenDirectoryRefused(t *testing.T) {
	withUmask(t, 0)
	base, err := os.MkdirTemp("", "fluxmap-perm-") // its parent, os.TempDir(), is searchable by all
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	require.NoError(t, os.Chmod(base, 0o755))
	dir := filepath.Join(base, "db")
	require.NoError(t, os.Mkdir(dir, 0o755))
	db, err := fluxmap.New[string, int64]().Shards(1).
		DurabilityFull(fluxmap.PersistenceOptions{Dir: dir}).Build(context.Background())
	require.ErrorIs(t, err, fluxmap.ErrConfig)
	require.Nil(t, db)
	for _, want := range []string{dir, "0755", "chmod 700", "PersistenceOptions.FileMode"} {
		require.ErrorContains(t, err, want)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Empty(t, entries, "a refused directory was written to")

	fillDurable(t, fluxmap.PersistenceOptions{Dir: dir, FileMode: 0o644})
	_, files := modes(t, dir)
	for p, m := range files {
		require.Equal(t, fs.FileMode(0o644), m, "file %s is %#o", p, m)
	}

	// Nobody else can reach dir once base is private.
	require.NoError(t, os.Chmod(base, 0o700))
	fillDurable(t, fluxmap.PersistenceOptions{Dir: dir})
}
