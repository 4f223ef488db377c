package fluxmap_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// Recovery verifies what the directory holds before it relies on it: a
// piece that a crash cannot remove (a MANIFEST, a segment, a checkpoint, a
// shard directory) is ErrCorrupt naming it, and a refused open leaves the
// directory exactly as it was.

const inventoryShards = 4

// inventoryDB opens the 4-shard Full database of these tests in dir with
// 4 KiB segments and no automatic checkpoints.
func inventoryDB(dir string, shards int) (*fluxmap.DB[string, string], error) {
	return fluxmap.New[string, string]().Shards(shards).
		DurabilityFull(fluxmap.PersistenceOptions{Dir: dir, SegmentSize: 4096, PoolSize: 1}).
		CheckpointAfterBytes(1 << 40).Build(context.Background())
}

// inventoryImage builds a database whose every shard has a checkpoint and
// several segments after it (the first ones recycled), closes it, and
// returns its directory and contents.
func inventoryImage(t *testing.T) (string, map[string]string) {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "db")
	db, err := inventoryDB(dir, inventoryShards)
	require.NoError(t, err)
	val := strings.Repeat("v", 120)
	for i := range 600 {
		require.NoError(t, db.Insert(ctx, fmt.Sprintf("key-%05d", i), val))
		if i == 300 {
			require.NoError(t, db.Checkpoint(ctx))
		}
	}
	want := durableState(t, db)
	require.NoError(t, db.Close())
	for i := range inventoryShards {
		require.GreaterOrEqual(t, len(shardFiles(t, dir, i, ".wal")), 3, "shard %d needs a first, middle and last segment", i)
		require.Len(t, shardFiles(t, dir, i, ".ckpt"), 1)
	}
	return dir, want
}

// copyTree copies the regular files and directories of src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o600)
	}))
}

// treeState describes every entry under dir: a file by its content's hash,
// a directory as such, a symbolic link by its target.
func treeState(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			out[rel] = "link " + target
			return err
		case d.IsDir():
			out[rel] = "dir"
		default:
			b, err := os.ReadFile(p)
			out[rel] = fmt.Sprintf("file %x", sha256.Sum256(b))
			return err
		}
		return nil
	}))
	return out
}

func TestDurableRefusesMissingPieces(t *testing.T) {
	pristine, want := inventoryImage(t)
	shard := func(dir string, i int) string {
		m, err := filepath.Glob(filepath.Join(dir, "gen-*", fmt.Sprintf("shard-%04d", i)))
		require.NoError(t, err)
		require.Len(t, m, 1)
		return m[0]
	}
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
		says   string // a part of the error message
	}{
		{"MANIFEST missing", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, "MANIFEST")))
		}, "MANIFEST is missing"},
		{"first segment missing", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(shardFiles(t, dir, 1, ".wal")[0]))
		}, "segments of"},
		{"middle segment missing", func(t *testing.T, dir string) {
			segs := shardFiles(t, dir, 2, ".wal")
			require.NoError(t, os.Remove(segs[len(segs)/2]))
		}, "is missing"},
		{"last segment missing", func(t *testing.T, dir string) {
			segs := shardFiles(t, dir, 3, ".wal")
			require.NoError(t, os.Remove(segs[len(segs)-1]))
		}, "is missing"},
		{"all segments of a shard missing", func(t *testing.T, dir string) {
			for _, s := range shardFiles(t, dir, 0, ".wal") {
				require.NoError(t, os.Remove(s))
			}
		}, "no WAL segment"},
		{"checkpoint missing", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(shardFiles(t, dir, 0, ".ckpt")[0]))
		}, "no checkpoint"},
		{"checkpoint renamed", func(t *testing.T, dir string) {
			c := shardFiles(t, dir, 1, ".ckpt")[0]
			require.NoError(t, os.Rename(c, c+".old"))
		}, "no checkpoint"},
		{"shard directory missing", func(t *testing.T, dir string) {
			require.NoError(t, os.RemoveAll(shard(dir, 2)))
		}, "shard directory"},
		{"two shard directories swapped", func(t *testing.T, dir string) {
			a, b := shard(dir, 0), shard(dir, 1)
			require.NoError(t, os.Rename(a, a+".tmp"))
			require.NoError(t, os.Rename(b, a))
			require.NoError(t, os.Rename(a+".tmp", b))
		}, "belongs to shard"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "db")
			copyTree(t, pristine, dir)
			c.damage(t, dir)
			before := treeState(t, dir)
			for range 2 { // refused the same way again: nothing was "repaired"
				_, err := inventoryDB(dir, inventoryShards)
				require.ErrorIs(t, err, fluxmap.ErrCorrupt)
				require.ErrorContains(t, err, c.says)
				require.Equal(t, 1, strings.Count(err.Error(), "fluxmap: "), "one prefix: %v", err)
				require.Equal(t, before, treeState(t, dir), "a refused open changed the directory")
			}
			// At another shard count too, where recovery would otherwise
			// write a new generation.
			_, err := inventoryDB(dir, inventoryShards+1)
			require.ErrorIs(t, err, fluxmap.ErrCorrupt)
			require.Equal(t, before, treeState(t, dir))
		})
	}
	t.Run("undamaged", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "db")
		copyTree(t, pristine, dir)
		db, err := inventoryDB(dir, inventoryShards)
		require.NoError(t, err)
		require.Equal(t, want, durableState(t, db))
		require.NoError(t, db.Close())
	})
}

// TestDurableLeavesForeignFiles: a generation switch removes the replaced
// generation and nothing else: not files whose names merely start like a
// generation's, not a symbolic link, not what a link points to, not a
// directory named like a generation that the MANIFEST does not name, and
// not a user's file inside the replaced generation (whose directory then
// stays).
func TestDurableLeavesForeignFiles(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dir := filepath.Join(root, "db")
	db, err := inventoryDB(dir, 2)
	require.NoError(t, err)
	for i := range 50 {
		require.NoError(t, db.Insert(ctx, fmt.Sprintf("k%03d", i), "v"))
	}
	want := durableState(t, db)
	require.NoError(t, db.Close())

	outside := filepath.Join(root, "archive")
	require.NoError(t, os.MkdirAll(filepath.Join(outside, "shard-0000"), 0o700))
	for _, f := range []string{"keep.txt", "shard-0000/0000000000000001.wal", "shard-0000/ckpt-0000000000000001.ckpt"} {
		require.NoError(t, os.WriteFile(filepath.Join(outside, f), []byte("mine"), 0o600))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "gen-notes.txt"), []byte("notes"), 0o600))
	copyTree(t, filepath.Join(dir, "gen-1"), filepath.Join(dir, "gen-1.bak"))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "gen-archive")))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "gen-7"))) // named like a generation
	require.NoError(t, os.WriteFile(filepath.Join(dir, "gen-1", "shard-0000", "notes.txt"), []byte("x"), 0o600))
	outsideBefore := treeState(t, outside)

	// Another shard count makes recovery write a new generation and
	// replace gen-1.
	db, err = inventoryDB(dir, 3)
	require.NoError(t, err)
	require.Equal(t, want, durableState(t, db))
	require.NoError(t, db.Close())

	require.Equal(t, outsideBefore, treeState(t, outside), "recovery touched a folder outside the database")
	for _, name := range []string{"gen-notes.txt", "gen-1.bak", "gen-archive", "gen-7", "gen-1/shard-0000/notes.txt"} {
		_, err := os.Lstat(filepath.Join(dir, name))
		require.NoError(t, err, "%s was removed", name)
	}
	// gen-1 lost its own files only; the new generation went above gen-7.
	left, err := filepath.Glob(filepath.Join(dir, "gen-1", "*", "*"))
	require.NoError(t, err)
	require.Equal(t, []string{filepath.Join(dir, "gen-1", "shard-0000", "notes.txt")}, left)
	_, err = os.Stat(filepath.Join(dir, "gen-8", "shard-0002"))
	require.NoError(t, err)

	// Reopening at the same count keeps working and keeps the foreign files.
	db, err = inventoryDB(dir, 3)
	require.NoError(t, err)
	require.Equal(t, want, durableState(t, db))
	require.NoError(t, db.Close())
	_, err = os.Lstat(filepath.Join(dir, "gen-1", "shard-0000", "notes.txt"))
	require.NoError(t, err)
}

type order struct {
	ID    int
	Total int64
}

type other struct {
	Name string
}

// TestDurableCodecMismatch: the first open records the codecs; an open with
// other key or value types or codecs fails with ErrConfig naming both,
// before it reads or writes anything.
func TestDurableCodecMismatch(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "db")
	opts := fluxmap.PersistenceOptions{Dir: dir}
	db, err := fluxmap.New[string, order]().ValueCodec(fluxmap.JSONCodec[order]()).DurabilityFull(opts).Build(ctx)
	require.NoError(t, err)
	require.NoError(t, db.Insert(ctx, "o1", order{ID: 1, Total: 99}))
	require.NoError(t, db.Close())
	before := treeState(t, dir)

	mismatch := func(name string, build func() error) {
		t.Helper()
		err := build()
		require.ErrorIs(t, err, fluxmap.ErrConfig, name)
		require.NotErrorIs(t, err, fluxmap.ErrCorrupt, name)
		require.ErrorContains(t, err, "order", name)
		require.Equal(t, 1, strings.Count(err.Error(), "fluxmap: "), "%s: one prefix: %v", name, err)
		require.Equal(t, before, treeState(t, dir), "%s: the refused open changed the directory", name)
	}
	mismatch("other struct, JSON", func() error {
		_, err := fluxmap.New[string, other]().ValueCodec(fluxmap.JSONCodec[other]()).DurabilityFull(opts).Build(ctx)
		return err
	})
	mismatch("string values", func() error {
		_, err := fluxmap.New[string, string]().DurabilityFull(opts).Build(ctx)
		return err
	})
	mismatch("int64 values", func() error {
		_, err := fluxmap.New[string, int64]().DurabilityFull(opts).Build(ctx)
		return err
	})
	mismatch("same type, gob", func() error {
		_, err := fluxmap.New[string, order]().ValueCodec(fluxmap.GobCodec[order]()).DurabilityFull(opts).Build(ctx)
		return err
	})
	mismatch("[]byte keys", func() error {
		_, err := fluxmap.New[[]byte, order]().ValueCodec(fluxmap.JSONCodec[order]()).DurabilityFull(opts).Build(ctx)
		return err
	})

	db, err = fluxmap.New[string, order]().ValueCodec(fluxmap.JSONCodec[order]()).DurabilityFull(opts).Build(ctx)
	require.NoError(t, err)
	v, ok, err := db.Get(ctx, "o1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, order{ID: 1, Total: 99}, v)
	require.NoError(t, db.Close())
}

// namedCodec is a JSON codec with a stable identity of its own.
type namedCodec[V any] struct {
	fluxmap.ValueCodec[V]
	id string
}

func (c namedCodec[V]) CodecID() string { return c.id }

// TestDurableCodecID: a codec's CodecID, not its Go type, is what is
// recorded, so a type can be renamed under a codec that names itself.
func TestDurableCodecID(t *testing.T) {
	ctx := context.Background()
	opts := fluxmap.PersistenceOptions{Dir: filepath.Join(t.TempDir(), "db")}
	db, err := fluxmap.New[string, order]().DurabilityFull(opts).
		ValueCodec(namedCodec[order]{fluxmap.JSONCodec[order](), "orders-json-v1"}).Build(ctx)
	require.NoError(t, err)
	require.NoError(t, db.Insert(ctx, "o1", order{ID: 1, Total: 5}))
	require.NoError(t, db.Close())

	type orderV2 struct {
		ID    int
		Total int64
	}
	db2, err := fluxmap.New[string, orderV2]().DurabilityFull(opts).
		ValueCodec(namedCodec[orderV2]{fluxmap.JSONCodec[orderV2](), "orders-json-v1"}).Build(ctx)
	require.NoError(t, err)
	v, ok, err := db2.Get(ctx, "o1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, orderV2{ID: 1, Total: 5}, v)
	require.NoError(t, db2.Close())

	_, err = fluxmap.New[string, orderV2]().DurabilityFull(opts).
		ValueCodec(namedCodec[orderV2]{fluxmap.JSONCodec[orderV2](), "orders-json-v2"}).Build(ctx)
	require.ErrorIs(t, err, fluxmap.ErrConfig)
	require.ErrorContains(t, err, "orders-json-v1")
	require.ErrorContains(t, err, "orders-json-v2")
}

// TestDurableGenerationNumberExhausted: a directory named like the largest
// generation leaves no number for a new one; the open that needs one fails
// and the database stays as it was, instead of wrapping to generation 0.
func TestDurableGenerationNumberExhausted(t *testing.T) {
	dir := oneKeyDB(t)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "gen-18446744073709551615"), 0o700))

	_, err := inventoryDB(dir, 3) // another shard count needs a new generation
	require.ErrorContains(t, err, "no generation number is left")
	db, err := inventoryDB(dir, 2) // the same count needs none
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "1"}, durableState(t, db))
	require.NoError(t, db.Close())
}

// TestDurableManifestTempNeverFollowsLink: a symbolic link left where the
// MANIFEST's temporary file goes is replaced, never written through, so a
// file elsewhere is untouched.
func TestDurableManifestTempNeverFollowsLink(t *testing.T) {
	dir := oneKeyDB(t)
	victim := filepath.Join(t.TempDir(), "precious.txt")
	require.NoError(t, os.WriteFile(victim, []byte("user data"), 0o600))
	require.NoError(t, os.Symlink(victim, filepath.Join(dir, "MANIFEST.tmp")))

	db, err := inventoryDB(dir, 3) // a new generation: the MANIFEST is written three times
	require.NoError(t, err)
	require.Equal(t, map[string]string{"a": "1"}, durableState(t, db))
	require.NoError(t, db.Close())
	b, err := os.ReadFile(victim)
	require.NoError(t, err)
	require.Equal(t, "user data", string(b), "a file outside the directory was written")
}

// oneKeyDB makes a closed 2-shard database holding a=1 and returns its
// directory.
func oneKeyDB(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "db")
	db, err := inventoryDB(dir, 2)
	require.NoError(t, err)
	require.NoError(t, db.Insert(context.Background(), "a", "1"))
	require.NoError(t, db.Close())
	return dir
}
