package fluxmap_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/fluxmap/fluxmap"
)

func ExampleDB_Backup() {
	ctx := context.Background()
	src, err := fluxmap.New[string, int64]().Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()
	for i, k := range []string{"apple", "banana", "cherry"} {
		if err := src.Insert(ctx, k, int64(i+1)); err != nil {
			log.Fatal(err)
		}
	}

	// Any io.Writer: a file, a network connection, object storage.
	// Writers may go on committing meanwhile; the backup holds one
	// snapshot. A nil *BackupOptions backs up every key.
	var buf bytes.Buffer
	info, err := src.Backup(ctx, &buf, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("backed up", info.Entries, "entries")

	// Restore needs an empty database with the same codecs; it may be
	// durable while the source is not, or the other way round.
	dst, err := fluxmap.New[string, int64]().Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer dst.Close()
	if _, err := dst.Restore(ctx, bytes.NewReader(buf.Bytes())); err != nil {
		log.Fatal(err)
	}
	entries, err := dst.PrefixScan(ctx, "")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(entries)

	// A damaged stream is refused and the database is left as it was.
	empty, err := fluxmap.New[string, int64]().Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer empty.Close()
	_, err = empty.Restore(ctx, bytes.NewReader(buf.Bytes()[:buf.Len()-1]))
	fmt.Println(errors.Is(err, fluxmap.ErrCorrupt), empty.Len())

	// A prefix (or a range, with Lo and Hi) backs up part of the keys.
	buf.Reset()
	info, err = src.Backup(ctx, &buf, &fluxmap.BackupOptions[string]{Prefix: new("b")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("backed up", info.Entries, "entry")
	// Output:
	// backed up 3 entries
	// [{apple 1} {banana 2} {cherry 3}]
	// true 0
	// backed up 1 entry
}
