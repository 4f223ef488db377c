package stores

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/tidwall/buntdb"
)

func init() {
	register(System{
		Name:         "buntdb",
		Caps:         CapGet | CapScan | CapRMW | CapTxn,
		Durabilities: []Durability{Mem, Relaxed, Full},
		Note:         "tidwall/buntdb: B-tree under one RW lock; mem = \":memory:\", relaxed = fsync every second",
		Open:         openBuntDB,
	})
}

// buntStore holds string values (buntdb's only kind), so every write
// converts; balances are 8-byte big-endian strings.
type buntStore struct{ db *buntdb.DB }

func openBuntDB(cfg Config) (Store, error) {
	path := ":memory:"
	if cfg.Durability != Mem {
		if cfg.Dir == "" {
			return nil, errors.New("buntdb: a durable run needs a directory")
		}
		path = filepath.Join(cfg.Dir, "bunt.db")
	}
	db, err := buntdb.Open(path)
	if err != nil {
		return nil, err
	}
	var c buntdb.Config
	if err := db.ReadConfig(&c); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	switch cfg.Durability {
	case Full:
		c.SyncPolicy = buntdb.Always
	case Relaxed:
		c.SyncPolicy = buntdb.EverySecond
	}
	c.AutoShrinkDisabled = cfg.Durability == Mem
	if err := db.SetConfig(c); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return &buntStore{db: db}, nil
}

func (s *buntStore) load(n int, kv func(i int) (string, string)) error {
	return inBatches(n, func(lo, hi int) error {
		return s.db.Update(func(tx *buntdb.Tx) error {
			for i := lo; i < hi; i++ {
				k, v := kv(i)
				if _, _, err := tx.Set(k, v, nil); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

func (s *buntStore) Load(n int, key func(int) string, val []byte) error {
	return s.load(n, func(i int) (string, string) { return key(i), string(val) })
}

func (s *buntStore) LoadAccounts(n int, key func(int) string, balance int64) error {
	bal := string(encodeBalance(nil, balance))
	return s.load(n, func(i int) (string, string) { return key(i), bal })
}

func (s *buntStore) Get(key string) (bool, error) {
	err := s.db.View(func(tx *buntdb.Tx) error {
		_, err := tx.Get(key)
		return err
	})
	if errors.Is(err, buntdb.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (s *buntStore) Put(key string, val []byte) error {
	return s.db.Update(func(tx *buntdb.Tx) error {
		_, _, err := tx.Set(key, string(val), nil)
		return err
	})
}

func (s *buntStore) Scan(lo, hi string, limit int) (int, error) {
	n := 0
	err := s.db.View(func(tx *buntdb.Tx) error {
		return tx.AscendRange("", lo, hi, func(string, string) bool {
			n++
			return n < limit
		})
	})
	return n, err
}

// RMW and Transfer run under buntdb's single write lock: they never
// conflict.
func (s *buntStore) RMW(key string, val []byte) error {
	return s.db.Update(func(tx *buntdb.Tx) error {
		if _, err := tx.Get(key); err != nil && !errors.Is(err, buntdb.ErrNotFound) {
			return err
		}
		_, _, err := tx.Set(key, string(val), nil)
		return err
	})
}

func buntBalance(tx *buntdb.Tx, key string) (int64, error) {
	v, err := tx.Get(key)
	if err != nil {
		return 0, fmt.Errorf("account %q: %w", key, err)
	}
	return decodeBalance([]byte(v))
}

func (s *buntStore) Transfer(from, to string, amount int64) error {
	var buf [8]byte
	return s.db.Update(func(tx *buntdb.Tx) error {
		x, err := buntBalance(tx, from)
		if err != nil {
			return err
		}
		y, err := buntBalance(tx, to)
		if err != nil {
			return err
		}
		if _, _, err := tx.Set(from, string(encodeBalance(buf[:0], x-amount)), nil); err != nil {
			return err
		}
		_, _, err = tx.Set(to, string(encodeBalance(buf[:0], y+amount)), nil)
		return err
	})
}

func (s *buntStore) Total(n int, key func(int) string) (int64, error) {
	var sum int64
	err := s.db.View(func(tx *buntdb.Tx) error {
		for i := range n {
			v, err := buntBalance(tx, key(i))
			if err != nil {
				return err
			}
			sum += v
		}
		return nil
	})
	return sum, err
}

func (s *buntStore) Retries() (uint64, error) { return 0, nil }
func (s *buntStore) Close() error             { return s.db.Close() }
