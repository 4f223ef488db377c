//go:build linux

package fluxmap_test

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// TestDurableParentNotReadable: an existing database directory whose
// parent may be traversed but not listed (mode 0311, owned by someone
// else) opens: only creating a directory needs its parent synced.
//
// As root, permission bits do not apply, so the test re-runs itself as
// nobody (uid/gid 65534) from a copy of the test binary.
func TestDurableParentNotReadable(t *testing.T) {
	if child := os.Getenv("FLUXMAP_TEST_PARENT_CHILD"); child != "" {
		db, err := fluxmap.New[string, string]().Shards(1).
			DurabilityFull(fluxmap.PersistenceOptions{Dir: child}).Build(context.Background())
		require.NoError(t, err, "a database whose parent directory is not readable no longer opens")
		require.NoError(t, db.Insert(context.Background(), "k", "v"))
		require.NoError(t, db.Close())
		return
	}
	base, err := os.MkdirTemp("", "fluxmap-parent-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(base, "parent"), 0o755); _ = os.RemoveAll(base) })
	require.NoError(t, os.Chmod(base, 0o755))
	parent := filepath.Join(base, "parent")
	dbDir := filepath.Join(parent, "db")
	require.NoError(t, os.MkdirAll(dbDir, 0o700))
	require.NoError(t, os.Chmod(dbDir, 0o700)) // a wider database directory is refused
	if os.Getuid() != 0 {
		// Not root: the owner itself loses read permission on the parent.
		require.NoError(t, os.Chmod(parent, 0o300))
		db, err := fluxmap.New[string, string]().Shards(1).
			DurabilityFull(fluxmap.PersistenceOptions{Dir: dbDir}).Build(context.Background())
		require.NoError(t, err, "a database whose parent directory is not readable no longer opens")
		require.NoError(t, db.Close())
		return
	}
	const nobody = 65534
	require.NoError(t, os.Chown(dbDir, nobody, nobody))
	require.NoError(t, os.Chmod(parent, 0o311)) // root-owned: others may traverse, not list
	// Copy the test binary somewhere nobody can execute it.
	bin := filepath.Join(base, "test.bin")
	src, err := os.Open(os.Args[0])
	require.NoError(t, err)
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, src.Close())
	require.NoError(t, dst.Close())
	cmd := exec.Command(bin, "-test.run=^TestDurableParentNotReadable$", "-test.count=1")
	cmd.Env = append(os.Environ(), "FLUXMAP_TEST_PARENT_CHILD="+dbDir, "HOME=/", "GOCOVERDIR=")
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child as nobody failed:\n%s", out)
}
