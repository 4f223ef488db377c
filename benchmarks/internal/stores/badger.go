package stores

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
)

func init() {
	register(System{
		Name:         "badger",
		Caps:         CapGet | CapScan | CapRMW | CapTxn,
		Durabilities: []Durability{Mem, Relaxed, Full},
		Note:         "dgraph-io/badger v4, serializable-snapshot transactions; mem = WithInMemory, full = SyncWrites",
		Open:         openBadger,
	})
}

// badgerStore uses Badger's default options apart from the mode: the
// in-memory mode for Mem, SyncWrites for Full (fsync before Commit
// returns), and for Relaxed writes that reach the OS at commit and are
// synced when Badger rotates its memtable. Its logger is off.
type badgerStore struct {
	db      *badger.DB
	retries atomic.Uint64
}

func openBadger(cfg Config) (Store, error) {
	var opts badger.Options
	switch cfg.Durability {
	case Mem:
		opts = badger.DefaultOptions("").WithInMemory(true)
	default:
		if cfg.Dir == "" {
			return nil, errors.New("badger: a durable run needs a directory")
		}
		opts = badger.DefaultOptions(cfg.Dir).WithSyncWrites(cfg.Durability == Full)
	}
	db, err := badger.Open(opts.WithLogger(nil))
	if err != nil {
		return nil, err
	}
	return &badgerStore{db: db}, nil
}

// update runs fn in a read-write transaction, rerunning it after
// ErrConflict (Badger's answer to a read that a concurrent commit made
// stale) as a Badger user must.
func (b *badgerStore) update(fn func(*badger.Txn) error) error {
	for {
		err := b.db.Update(fn)
		if !errors.Is(err, badger.ErrConflict) {
			return err
		}
		b.retries.Add(1)
	}
}

func (b *badgerStore) load(n int, kv func(i int) (string, []byte)) error {
	wb := b.db.NewWriteBatch()
	defer wb.Cancel()
	for i := range n {
		k, v := kv(i)
		if err := wb.Set([]byte(k), v); err != nil {
			return err
		}
	}
	return wb.Flush()
}

func (b *badgerStore) Load(n int, key func(int) string, val []byte) error {
	return b.load(n, func(i int) (string, []byte) { return key(i), val })
}

func (b *badgerStore) LoadAccounts(n int, key func(int) string, balance int64) error {
	bal := encodeBalance(nil, balance)
	return b.load(n, func(i int) (string, []byte) { return key(i), bal })
}

func readValue([]byte) error { return nil }

func (b *badgerStore) Get(key string) (bool, error) {
	err := b.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(key))
		if err != nil {
			return err
		}
		return item.Value(readValue)
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (b *badgerStore) Put(key string, val []byte) error {
	return b.update(func(txn *badger.Txn) error { return txn.Set([]byte(key), val) })
}

func (b *badgerStore) Scan(lo, hi string, limit int) (int, error) {
	n := 0
	err := b.db.View(func(txn *badger.Txn) error {
		// Values are stored inline (below ValueThreshold), so value
		// prefetching would only add goroutine hand-offs.
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek([]byte(lo)); it.Valid() && n < limit; it.Next() {
			item := it.Item()
			if bytes.Compare(item.Key(), []byte(hi)) >= 0 {
				break
			}
			if err := item.Value(readValue); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

func (b *badgerStore) RMW(key string, val []byte) error {
	return b.update(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(key))
		if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		if err == nil {
			if err := item.Value(readValue); err != nil {
				return err
			}
		}
		return txn.Set([]byte(key), val)
	})
}

func badgerBalance(txn *badger.Txn, key string) (int64, error) {
	item, err := txn.Get([]byte(key))
	if err != nil {
		return 0, fmt.Errorf("account %q: %w", key, err)
	}
	var bal int64
	err = item.Value(func(v []byte) error {
		bal, err = decodeBalance(v)
		return err
	})
	return bal, err
}

func (b *badgerStore) Transfer(from, to string, amount int64) error {
	var buf [16]byte
	return b.update(func(txn *badger.Txn) error {
		x, err := badgerBalance(txn, from)
		if err != nil {
			return err
		}
		y, err := badgerBalance(txn, to)
		if err != nil {
			return err
		}
		// Badger keeps the slices until commit: give each its own bytes.
		if err := txn.Set([]byte(from), encodeBalance(buf[:0:8], x-amount)); err != nil {
			return err
		}
		return txn.Set([]byte(to), encodeBalance(buf[8:8:16], y+amount))
	})
}

func (b *badgerStore) Total(n int, key func(int) string) (int64, error) {
	var sum int64
	err := b.db.View(func(txn *badger.Txn) error {
		for i := range n {
			v, err := badgerBalance(txn, key(i))
			if err != nil {
				return err
			}
			sum += v
		}
		return nil
	})
	return sum, err
}

func (b *badgerStore) Retries() (uint64, error) { return b.retries.Load(), nil }
func (b *badgerStore) Close() error             { return b.db.Close() }
