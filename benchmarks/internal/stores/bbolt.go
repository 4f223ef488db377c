package stores

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

func init() {
	register(System{
		Name:         "bbolt",
		Caps:         CapGet | CapScan | CapRMW | CapTxn,
		Durabilities: []Durability{Relaxed, Full},
		Note:         "etcd-io/bbolt: copy-on-write B+tree, one writer; full = DB.Batch group commit, relaxed = NoSync + DB.Update",
		Open:         openBolt,
	})
}

var boltBucket = []byte("kv")

// boltStore writes in Full mode through DB.Batch, bbolt's own group commit
// (concurrent Batch calls share one transaction and one fsync, after waiting
// up to MaxBatchDelay, 10ms by default, for company), which is how bbolt is
// meant to take many concurrent durable writers. Batch may run a function
// twice, so the functions only read and write inside their transaction. In
// Relaxed mode (NoSync) there is no fsync to share and the batching delay
// would only add latency, so writes use DB.Update.
type boltStore struct {
	db    *bolt.DB
	write func(func(*bolt.Tx) error) error
}

func openBolt(cfg Config) (Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("bbolt: needs a directory")
	}
	db, err := bolt.Open(filepath.Join(cfg.Dir, "bolt.db"), 0o600, &bolt.Options{NoSync: cfg.Durability != Full})
	if err != nil {
		return nil, err
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(boltBucket)
		return err
	}); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	s := &boltStore{db: db, write: db.Update}
	if cfg.Durability == Full {
		s.write = db.Batch
	}
	return s, nil
}

func (s *boltStore) load(n int, kv func(i int) (string, []byte)) error {
	return inBatches(n, func(lo, hi int) error {
		return s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(boltBucket)
			for i := lo; i < hi; i++ {
				k, v := kv(i)
				if err := b.Put([]byte(k), v); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

func (s *boltStore) Load(n int, key func(int) string, val []byte) error {
	return s.load(n, func(i int) (string, []byte) { return key(i), val })
}

func (s *boltStore) LoadAccounts(n int, key func(int) string, balance int64) error {
	bal := encodeBalance(nil, balance)
	return s.load(n, func(i int) (string, []byte) { return key(i), bal })
}

func (s *boltStore) Get(key string) (bool, error) {
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		found = tx.Bucket(boltBucket).Get([]byte(key)) != nil
		return nil
	})
	return found, err
}

func (s *boltStore) Put(key string, val []byte) error {
	return s.write(func(tx *bolt.Tx) error { return tx.Bucket(boltBucket).Put([]byte(key), val) })
}

func (s *boltStore) Scan(lo, hi string, limit int) (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(boltBucket).Cursor()
		for k, _ := c.Seek([]byte(lo)); k != nil && n < limit && bytes.Compare(k, []byte(hi)) < 0; k, _ = c.Next() {
			n++
		}
		return nil
	})
	return n, err
}

func (s *boltStore) RMW(key string, val []byte) error {
	return s.write(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltBucket)
		_ = b.Get([]byte(key))
		return b.Put([]byte(key), val)
	})
}

func boltBalance(b *bolt.Bucket, key string) (int64, error) {
	v := b.Get([]byte(key))
	if v == nil {
		return 0, fmt.Errorf("account %q missing", key)
	}
	return decodeBalance(v)
}

func (s *boltStore) Transfer(from, to string, amount int64) error {
	return s.write(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltBucket)
		x, err := boltBalance(b, from)
		if err != nil {
			return err
		}
		y, err := boltBalance(b, to)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(from), encodeBalance(nil, x-amount)); err != nil {
			return err
		}
		return b.Put([]byte(to), encodeBalance(nil, y+amount))
	})
}

func (s *boltStore) Total(n int, key func(int) string) (int64, error) {
	var sum int64
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(boltBucket)
		for i := range n {
			v, err := boltBalance(b, key(i))
			if err != nil {
				return err
			}
			sum += v
		}
		return nil
	})
	return sum, err
}

func (s *boltStore) Retries() (uint64, error) { return 0, nil }
func (s *boltStore) Close() error             { return s.db.Close() }
