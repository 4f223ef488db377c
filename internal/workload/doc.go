// Package workload runs randomized transactional workloads against a
// FluxMap database and checks them: the isolation suite that backs the
// claim "serializable, phantoms included, with concurrent writers across
// shards". This package is internal and carries no compatibility promise.
//
// # Parts
//
//   - Plans (plan.go): seeded generators of transactions over a closed set
//     of keys: Mixed (point reads, writes, range and prefix scans, some
//     read-only transactions and planned rollbacks), WriteSkew (read two
//     keys, write one), PhantomSkew (scan a group of keys, create one in
//     it) and MultiShardWrites (writers of three keys and readers of four,
//     for two-phase commit).
//   - The concurrent runner (runner.go): N goroutines run plans as manual
//     transactions (DB.Begin, the steps, txhook.CommitTS), recording every
//     operation with its result, the start and commit timestamps, and the
//     outcome: committed, aborted (ErrConflict or a planned rollback) or
//     unknown (any other commit error). Workers yield between steps so that
//     transactions overlap even on few cores. A last read-only transaction
//     scans every key so every committed write is observed. Two models:
//     list-append (V = []int; a write reads the list and writes a new list
//     with a unique value appended, and records both the read and the
//     append) and rw-register (V = int; blind writes of unique values).
//   - The white-box replayer (whitebox.go): DESIGN.md §4 claims commit
//     timestamp order is a serial order. WhiteBox replays the committed
//     transactions in that order against a plain map and checks that every
//     read-write transaction read the state just before its commit
//     timestamp and every read-only one the state at its start timestamp.
//   - The metamorphic runner (metamorphic.go): one seeded single-threaded
//     sequence of Get/Insert/Remove/Range/PrefixScan, autocommit and in
//     small transactions (some rolled back, some read-only Views), run
//     under every configuration of MetaMatrix and compared line by line
//     with a reference map. New configurations join MetaMatrix.
//
// The histories go to histcheck.Check (Elle-style dependency-graph
// checking) and to WhiteBox; the tests in this package run both.
//
// # What each workload can and cannot detect
//
// List-append reveals each key's version order (the longest list read),
// so the graph has every ww, wr and rw edge: G0, G1a, G1b, G1c, G-single,
// G2-item, lost updates, internal inconsistency and garbage reads are all
// visible, and with scans, phantoms (G2 through a predicate edge when a
// scan misses a key created inside its range). Because a write is a
// read-modify-write here, every write also makes its transaction a reader
// of that key, so blind-write anomalies (G0 among writers that read
// nothing) need the register workload.
//
// Rw-register has blind writes, but reads alone do not order versions.
// RunRegister sets History.OrderByCommitTS, so the checker takes each
// key's version order from the engine's commit timestamps: that checks the
// reads against the order the engine claims, the same claim WhiteBox
// checks another way. Without it (a history from elsewhere) the checker
// sees only wr edges and read-then-write ww edges: G1a, G1b, G1c, lost
// updates, internal and garbage reads, but no G0, G-single or G2. Both
// workloads check serializability, not real-time order.
//
// Neither workload deletes keys, so a predicate anti-dependency is always
// a key entering a range. Deletes are covered by the metamorphic sequence
// (single-threaded) and the hermitage tests in the root package.
//
// # Running longer
//
// In CI (go test -race ./...) TestHistories runs 54 histories (8
// goroutines, 40 transactions each, 16 keys, 4 to 6 operations per
// transaction, at 1, 4 and 16 shards, both models) and the tester tests
// about 50 more; the whole package takes under 20 seconds with -race on
// two cores. The long mode runs 2,004 histories of 80 transactions per
// goroutine (about 1.3 million transactions; about 2 minutes without
// -race, 18 with it, on two cores):
//
//	FLUXMAP_LONG=1 go test -race -count=1 -timeout 0 -run 'TestHistories' -v ./internal/workload/
//
// or, equivalently, go test ./internal/workload/ -run TestHistories -args
// -long. FLUXMAP_SEED=n changes the base seed of the plans (the
// interleaving is the scheduler's, so a failure is reproduced by running
// its seed many times, e.g. with -count). A failure prints the anomaly, its
// cycle and the transactions involved.
package workload
