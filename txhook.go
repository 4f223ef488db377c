package fluxmap

import (
	"time"

	"github.com/fluxmap/fluxmap/internal/txhook"
	"github.com/fluxmap/fluxmap/wal"
)

// timestamped is implemented by every *Tx[K, V]; the hooks below reach the
// unexported methods through it, whatever the type parameters.
type timestamped interface {
	commitTS() (uint64, error)
	startTS() uint64
}

// fsSetter is implemented by every *Builder[K, V].
type fsSetter interface{ setFS(fs wal.FS) }

func init() {
	txhook.CommitTS = func(tx any) (uint64, error) { return tx.(timestamped).commitTS() }
	txhook.StartTS = func(tx any) uint64 { return tx.(timestamped).startTS() }
	txhook.SetFS = func(b any, fs any) { b.(fsSetter).setFS(fs.(wal.FS)) }
	txhook.SetClock = func(b any, now func() time.Time) { b.(clockSetter).setClock(now) }
}

// clockSetter is implemented by every *Builder[K, V].
type clockSetter interface{ setClock(now func() time.Time) }

func (b *Builder[K, V]) setClock(now func() time.Time) { b.now = now }

func (b *Builder[K, V]) setFS(fs wal.FS) { b.fs = fs }

func (tx *Tx[K, V]) startTS() uint64 { return tx.start }
