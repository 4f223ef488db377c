package stores

import (
	"bytes"
	"fmt"

	"github.com/hashicorp/go-memdb"
)

func init() {
	register(System{
		Name:         "gomemdb",
		Caps:         CapGet | CapScan | CapRMW | CapTxn,
		Durabilities: []Durability{Mem},
		Note:         "hashicorp/go-memdb: immutable radix tree MVCC, one writer at a time",
		Open:         openMemDB,
	})
}

// memRow is go-memdb's object. Objects are immutable once inserted, so
// every write inserts a fresh row.
type memRow struct {
	Key string
	Val []byte
	Bal int64
}

const memTable = "kv"

type memStore struct{ db *memdb.MemDB }

func openMemDB(Config) (Store, error) {
	schema := &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		memTable: {
			Name: memTable,
			Indexes: map[string]*memdb.IndexSchema{
				"id": {Name: "id", Unique: true, Indexer: &memdb.StringFieldIndex{Field: "Key"}},
			},
		},
	}}
	db, err := memdb.NewMemDB(schema)
	if err != nil {
		return nil, err
	}
	return &memStore{db: db}, nil
}

func (m *memStore) load(n int, row func(i int) *memRow) error {
	return inBatches(n, func(lo, hi int) error {
		txn := m.db.Txn(true)
		for i := lo; i < hi; i++ {
			if err := txn.Insert(memTable, row(i)); err != nil {
				txn.Abort()
				return err
			}
		}
		txn.Commit()
		return nil
	})
}

func (m *memStore) Load(n int, key func(int) string, val []byte) error {
	return m.load(n, func(i int) *memRow { return &memRow{Key: key(i), Val: bytes.Clone(val)} })
}

func (m *memStore) LoadAccounts(n int, key func(int) string, balance int64) error {
	return m.load(n, func(i int) *memRow { return &memRow{Key: key(i), Bal: balance} })
}

func (m *memStore) Get(key string) (bool, error) {
	raw, err := m.db.Txn(false).First(memTable, "id", key)
	return raw != nil, err
}

func (m *memStore) Put(key string, val []byte) error {
	txn := m.db.Txn(true)
	if err := txn.Insert(memTable, &memRow{Key: key, Val: bytes.Clone(val)}); err != nil {
		txn.Abort()
		return err
	}
	txn.Commit()
	return nil
}

func (m *memStore) Scan(lo, hi string, limit int) (int, error) {
	it, err := m.db.Txn(false).LowerBound(memTable, "id", lo)
	if err != nil {
		return 0, err
	}
	n := 0
	for raw := it.Next(); raw != nil && n < limit; raw = it.Next() {
		if raw.(*memRow).Key >= hi {
			break
		}
		n++
	}
	return n, nil
}

// RMW and Transfer run in write transactions, which go-memdb serializes
// with one lock: they never conflict.
func (m *memStore) RMW(key string, val []byte) error {
	txn := m.db.Txn(true)
	defer txn.Abort() // no-op after Commit
	if _, err := txn.First(memTable, "id", key); err != nil {
		return err
	}
	if err := txn.Insert(memTable, &memRow{Key: key, Val: bytes.Clone(val)}); err != nil {
		return err
	}
	txn.Commit()
	return nil
}

func (m *memStore) Transfer(from, to string, amount int64) error {
	txn := m.db.Txn(true)
	defer txn.Abort()
	a, err := txn.First(memTable, "id", from)
	if err != nil {
		return err
	}
	b, err := txn.First(memTable, "id", to)
	if err != nil {
		return err
	}
	if a == nil || b == nil {
		return fmt.Errorf("account %q or %q missing", from, to)
	}
	if err := txn.Insert(memTable, &memRow{Key: from, Bal: a.(*memRow).Bal - amount}); err != nil {
		return err
	}
	if err := txn.Insert(memTable, &memRow{Key: to, Bal: b.(*memRow).Bal + amount}); err != nil {
		return err
	}
	txn.Commit()
	return nil
}

func (m *memStore) Total(n int, key func(int) string) (int64, error) {
	txn := m.db.Txn(false)
	var sum int64
	for i := range n {
		raw, err := txn.First(memTable, "id", key(i))
		if err != nil {
			return 0, err
		}
		if raw != nil {
			sum += raw.(*memRow).Bal
		}
	}
	return sum, nil
}

func (m *memStore) Retries() (uint64, error) { return 0, nil }
func (m *memStore) Close() error             { return nil }
