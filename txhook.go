package fluxmap

import "github.com/fluxmap/fluxmap/internal/txhook"

// timestamped is implemented by every *Tx[K, V]; the hooks below reach the
// unexported methods through it, whatever the type parameters.
type timestamped interface {
	commitTS() (uint64, error)
	startTS() uint64
}

func init() {
	txhook.CommitTS = func(tx any) (uint64, error) { return tx.(timestamped).commitTS() }
	txhook.StartTS = func(tx any) uint64 { return tx.(timestamped).startTS() }
}

func (tx *Tx[K, V]) startTS() uint64 { return tx.t.StartTS() }
