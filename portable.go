package fluxmap

// ReadTx is the read side of a transaction, the part of Tx that a
// transaction on another backend (fluxetcd.Tx, over an etcd cluster) offers
// with the same meaning: reads see one snapshot plus the transaction's own
// writes, and under Serializable isolation everything read, scanned ranges
// included, is validated at commit. A function written against ReadTx or
// ReadWriteTx runs unchanged on either backend:
//
//	func balance(tx fluxmap.ReadTx[string, int64], who string) (int64, error) {
//		v, _, err := tx.Get(who)
//		return v, err
//	}
//
//	db.View(ctx, func(tx *fluxmap.Tx[string, int64]) error { b, err = balance(tx, "alice"); return err })
//
// The interfaces hold only what every backend can honour; streams, GetMany,
// TTLs and scan options stay on the concrete types. Code that needs the
// embedded engine's speed keeps using *Tx directly: a call through the
// interface costs one indirect call, which the benchmarks
// (BenchmarkPortableTransfer) show is lost in the cost of the operation.
type ReadTx[K, V any] interface {
	// Get returns key's value as the transaction sees it, and whether the
	// key exists.
	Get(key K) (V, bool, error)
	// Range returns the entries with lo <= key < hi in key order.
	Range(lo, hi K) ([]Entry[K, V], error)
	// PrefixScan returns the entries whose encoded key starts with
	// prefix's encoding, in key order.
	PrefixScan(prefix K) ([]Entry[K, V], error)
}

// ReadWriteTx is a transaction that can also write; see ReadTx. Writes are
// buffered and take effect at commit, all together or not at all.
type ReadWriteTx[K, V any] interface {
	ReadTx[K, V]
	// Insert buffers key = val.
	Insert(key K, val V) error
	// Remove buffers a delete of key and returns the value it had as the
	// transaction sees it; the read counts for validation like a Get.
	Remove(key K) (old V, existed bool, err error)
}

var _ ReadWriteTx[string, []byte] = (*Tx[string, []byte])(nil)
