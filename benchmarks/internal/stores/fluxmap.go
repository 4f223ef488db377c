package stores

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fluxmap/fluxmap"
)

// relaxedFlush is the fsync interval of Relaxed runs (FluxMap's
// FlushInterval; the peers' nearest equivalents are noted at theirs).
const relaxedFlush = 10 * time.Millisecond

// fluxVacuum is FluxMap's AutoVacuum interval in every run.
const fluxVacuum = time.Second

func init() {
	register(System{
		Name:         "fluxmap",
		Caps:         CapGet | CapScan | CapRMW | CapTxn,
		Durabilities: []Durability{Mem, Relaxed, Full},
		Sharded:      true,
		Note:         "FluxMap, serializable, AutoVacuum every 1s; []byte values, int64 balances",
		Open:         openFluxMap,
	})
}

// fluxStore holds one DB for byte values and, once LoadAccounts runs, a
// second typed DB for balances: a Go user of FluxMap keeps numbers as
// numbers, with no encoding, and the README's bank example does so.
type fluxStore struct {
	cfg      Config
	ctx      context.Context
	kv       *fluxmap.DB[string, []byte]
	accounts *fluxmap.DB[string, int64]
}

func build[V any](cfg Config, sub string) (*fluxmap.DB[string, V], error) {
	b := fluxmap.New[string, V]()
	if cfg.Shards > 0 {
		b.Shards(cfg.Shards)
	}
	opts := fluxmap.PersistenceOptions{Dir: filepath.Join(cfg.Dir, sub)}
	switch cfg.Durability {
	case Full:
		b.DurabilityFull(opts)
	case Relaxed:
		b.DurabilityRelaxed(opts).FlushInterval(relaxedFlush)
	}
	// Updates leave old versions behind; a deployment with an update load
	// runs vacuum, so the benchmark pays for it too (and the heap stays the
	// size of the data, not of the run's history).
	b.AutoVacuum(fluxmap.VacuumOptions{Interval: fluxVacuum})
	return b.Build(context.Background())
}

func openFluxMap(cfg Config) (Store, error) {
	kv, err := build[[]byte](cfg, "kv")
	if err != nil {
		return nil, err
	}
	return &fluxStore{cfg: cfg, ctx: context.Background(), kv: kv}, nil
}

// Load goes through DB.Load, FluxMap's bulk loader, as badger's goes
// through its WriteBatch.
func (s *fluxStore) Load(n int, key func(int) string, val []byte) error {
	seq := func(yield func(string, []byte) bool) {
		for i := range n {
			if !yield(key(i), val) {
				return
			}
		}
	}
	_, err := s.kv.Load(s.ctx, seq, fluxmap.LoadOptions{})
	return err
}

func (s *fluxStore) LoadAccounts(n int, key func(int) string, balance int64) error {
	if s.accounts == nil {
		db, err := build[int64](s.cfg, "accounts")
		if err != nil {
			return err
		}
		s.accounts = db
	}
	return inBatches(n, func(lo, hi int) error {
		return s.accounts.Transaction(s.ctx, func(tx *fluxmap.Tx[string, int64]) error {
			for i := lo; i < hi; i++ {
				if err := tx.Insert(key(i), balance); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

func (s *fluxStore) Get(key string) (bool, error) {
	_, ok, err := s.kv.Get(s.ctx, key)
	return ok, err
}

func (s *fluxStore) Put(key string, val []byte) error { return s.kv.Insert(s.ctx, key, val) }

func (s *fluxStore) Scan(lo, hi string, limit int) (int, error) {
	st := s.kv.RangeStream(s.ctx, lo, hi)
	n := 0
	for range st.All() {
		if n++; n == limit {
			break
		}
	}
	return n, st.Err()
}

func (s *fluxStore) RMW(key string, val []byte) error {
	return s.kv.Transaction(s.ctx, func(tx *fluxmap.Tx[string, []byte]) error {
		if _, _, err := tx.Get(key); err != nil {
			return err
		}
		return tx.Insert(key, val)
	})
}

// Transfer reads both balances with one GetMany (both shards asked at
// once, as a FluxMap user with two independent reads would), then writes.
func (s *fluxStore) Transfer(from, to string, amount int64) error {
	return s.accounts.Transaction(s.ctx, func(tx *fluxmap.Tx[string, int64]) error {
		keys := [2]string{from, to}
		var bal [2]int64
		var ok [2]bool
		if err := tx.GetMany(keys[:], bal[:], ok[:]); err != nil {
			return err
		}
		for i, k := range keys {
			if !ok[i] {
				return fmt.Errorf("account %q missing", k)
			}
		}
		if err := tx.Insert(from, bal[0]-amount); err != nil {
			return err
		}
		return tx.Insert(to, bal[1]+amount)
	})
}

func (s *fluxStore) Total(n int, key func(int) string) (int64, error) {
	var sum int64
	err := s.accounts.View(s.ctx, func(tx *fluxmap.Tx[string, int64]) error {
		for i := range n {
			v, _, err := tx.Get(key(i))
			if err != nil {
				return err
			}
			sum += v
		}
		return nil
	})
	return sum, err
}

// Retries reads DB.Stats, which counts the attempts DB.Transaction reran
// after ErrConflict. Autocommit Insert never conflicts (it waits), so it
// adds nothing.
func (s *fluxStore) Retries() (uint64, error) {
	st, err := s.kv.Stats()
	if err != nil {
		return 0, err
	}
	n := st.Retries
	if s.accounts != nil {
		st, err := s.accounts.Stats()
		if err != nil {
			return 0, err
		}
		n += st.Retries
	}
	return n, nil
}

func (s *fluxStore) Close() error {
	err := s.kv.Close()
	if s.accounts != nil {
		if aerr := s.accounts.Close(); err == nil {
			err = aerr
		}
	}
	return err
}
