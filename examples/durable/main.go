package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/fluxmap/fluxmap"
)

func main() {
	dir := flag.String("dir", "", "database directory (default: a temporary one, removed on exit)")
	flag.Parse()
	if err := run(os.Stdout, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "durable:", err)
		os.Exit(1)
	}
}

// User is the value type; JSONCodec stores its exported fields.
type User struct {
	Name   string
	Visits int
}

// open opens (or creates) the durable database in dir. A commit returns
// only once its log records are fsynced.
func open(ctx context.Context, dir string, shards int) (*fluxmap.DB[string, User], error) {
	return fluxmap.New[string, User]().
		Shards(shards).
		ValueCodec(fluxmap.JSONCodec[User]()).
		DurabilityFull(fluxmap.PersistenceOptions{Dir: dir}).
		Build(ctx)
}

// run is the whole example; main_test.go checks what it prints. With dir
// empty it works in a temporary directory that it removes.
func run(w io.Writer, dir string) (err error) {
	if dir == "" {
		if dir, err = os.MkdirTemp("", "fluxmap-durable-"); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, os.RemoveAll(dir)) }()
	}
	ctx := context.Background()

	db, err := open(ctx, dir, 4)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	for _, u := range []User{{Name: "ada"}, {Name: "grace"}} {
		// Count a visit: a read-modify-write, so a transaction. A key that
		// is not there yet reads as the zero User.
		err := db.Transaction(ctx, func(tx *fluxmap.Tx[string, User]) error {
			cur, _, err := tx.Get("user:" + u.Name)
			if err != nil {
				return err
			}
			u.Visits = cur.Visits + 1
			return tx.Insert("user:"+u.Name, u)
		})
		if err != nil {
			return errors.Join(fmt.Errorf("visit %s: %w", u.Name, err), db.Close())
		}
		fmt.Fprintf(w, "wrote user:%s visits=%d\n", u.Name, u.Visits)
	}
	// Close syncs and closes the files; every acknowledged commit is on disk.
	if err := db.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	fmt.Fprintln(w, "closed")

	// Reopen: recovery replays the write-ahead logs.
	db, err = open(ctx, dir, 2)
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	defer func() { err = errors.Join(err, db.Close()) }()
	users, err := db.PrefixScan(ctx, "user:")
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	fmt.Fprintf(w, "reopened: %d users\n", len(users))
	for _, e := range users {
		fmt.Fprintf(w, "  %s = %+v\n", e.Key, e.Value)
	}
	return nil
}
