package wal_test

import (
	"testing"

	"github.com/fluxmap/fluxmap/internal/vfs"
	"github.com/fluxmap/fluxmap/wal"
)

// BenchmarkReplay measures recovery throughput: Open over a 64 MiB log of
// 1 KiB records in default-size (16 MiB) segments on MemFS. The reported
// MB/s is log bytes replayed per second.
func BenchmarkReplay(b *testing.B) {
	m := vfs.New()
	l, _ := openLog(b, m, "d", 0, 0)
	p := record(b, 1, 1000)
	var ts uint64
	for l.Size() < 64<<20 {
		ts++
		if err := l.Append(ts, p); err != nil {
			b.Fatal(err)
		}
	}
	size := l.Size()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		l, err := wal.Open(wal.Options{FS: m, Dir: "d"}, func(uint64, []byte) error { n++; return nil })
		if err != nil {
			b.Fatal(err)
		}
		if uint64(n) != ts {
			b.Fatalf("replayed %d of %d records", n, ts)
		}
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendSync measures one 100-byte commit record appended and
// fsynced per operation on the real file system (the Full-mode cost when
// no group commit helps).
func BenchmarkAppendSync(b *testing.B) {
	l, _ := openLog(b, wal.OSFS(), b.TempDir(), 0, 0)
	p := record(b, 1, 100)
	b.SetBytes(int64(len(p)))
	var ts uint64
	for b.Loop() {
		ts++
		if err := l.Append(ts, p); err != nil {
			b.Fatal(err)
		}
		if err := l.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}
