// Package fluxmap is an embedded, in-memory, transactional key-value store
// for machines with many cores.
//
// # Basics
//
// Open a database with New and Build, then use autocommit calls or
// transactions:
//
//	db, err := fluxmap.New[string, int64]().Build(ctx)
//	if err != nil { ... }
//	defer db.Close()
//
//	err = db.Insert(ctx, "alice", 100)                 // autocommit write
//	v, ok, err := db.Get(ctx, "alice")                 // autocommit read
//	err = db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
//		a, _, err := tx.Get("alice")
//		if err != nil {
//			return err
//		}
//		if err := tx.Insert("alice", a-10); err != nil {
//			return err
//		}
//		b, _, err := tx.Get("bob")
//		if err != nil {
//			return err
//		}
//		return tx.Insert("bob", b+10)
//	})
//
// Transaction commits when its function returns nil, rolls back on an error
// or a panic, and retries the function on ErrConflict. View runs a read-only
// transaction. Begin, Commit and Rollback give manual control. Tx.GetMany
// reads several keys in one call.
// DB.Load fills a database from an iter.Seq2 in batched transactions,
// far faster than one Insert per key. DB.Backup and DB.Restore copy a
// database, or part of it, at one snapshot through an io.Writer and back.
//
// # Change feed
//
// With Builder.ChangeFeed, DB.Changes yields every committed transaction,
// in commit-timestamp order, one ChangeSet per transaction, from any commit
// timestamp the database still keeps: from Tx.Snapshot of a View, a
// consumer follows on exactly where its copy of the snapshot ends. DB.Watch
// closes a channel when keys under a prefix change.
//
// # Model
//
// Keys are encoded with an order-preserving KeyCodec and hashed (xxhash) to
// one of N shards, each a goroutine that alone writes a skiplist of MVCC
// version chains, receiving every change through its channel; reads run on
// the caller's goroutine, without locks, over the data the shards publish.
// A coordinator
// gives every commit a timestamp from one dense counter and validates
// transactions that span shards with two-phase commit. A transaction reads
// the snapshot of the newest fully visible commit, buffers its writes, and at
// commit is checked against everything committed since its snapshot.
//
// # Guarantees
//
// Under Serializable isolation (the default) every committed transaction
// behaves as if it ran alone at its commit point: write skew, lost updates,
// read skew and phantoms (keys entering a range or prefix a transaction
// scanned) are refused with ErrConflict, also when the keys live on
// different shards. Read-only transactions never conflict. Autocommit Insert
// and Remove never return ErrConflict. When Commit returns nil, every
// transaction that starts afterwards sees its writes. Snapshot isolation is
// available as an option; it allows write skew.
//
// # Durability, vacuum and memory
//
// By default a database lives in memory. DurabilityFull and
// DurabilityRelaxed give it a directory with one write-ahead log per shard
// and checkpoints; Build recovers it, atomically across shards. Old
// versions are removed by Vacuum (or AutoVacuum) once no snapshot can read
// them. MaxMemory bounds the estimated memory, evicting by LRU or LFU or
// refusing commits (Reject); InsertWithTTL gives a value a deadline.
// A snapshot includes the time at which it evaluates deadlines, fixed when
// it starts, so a deadline passing during a View or transaction changes
// none of its reads; a read-write transaction that read a key whose
// deadline has passed by its commit fails with ErrConflict. Autocommit Get
// and scans evaluate deadlines at the time of the call.
//
// # Caveats
//
//   - Values are stored as given, not copied (except []byte values), and
//     must not be modified after Insert; values returned by reads are shared
//     and must not be modified either.
//   - A transaction validates at Commit, so a conflicting transaction runs to
//     its end before it learns it lost. Keep read-write transactions short.
//   - Scans inside a Serializable transaction conflict with any concurrent
//     write into the scanned range; scan the narrowest range you need.
//   - Limits (all configurable on the Builder): encoded keys up to 64 KiB,
//     string and []byte values up to 64 MiB, 1,000,000 writes per
//     transaction.
//   - A Tx and a Stream are for one goroutine; a DB is for any number.
//
// Sub-packages (shard, coordinator, mvcc, wal, evict) are the engine's parts;
// they carry no compatibility promise. Only this package's API is the
// contract.
package fluxmap
