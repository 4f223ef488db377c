// Package coordinator turns N independent shards into one serializable
// database: it routes keys to shards, owns the timestamp oracle, and drives
// commits.
//
// # Routing
//
// A key's shard is xxhash(encoded key) mapped onto [0, N) by multiply-shift
// (the high word of hash × N), which has no modulo bias and no division.
//
// # Oracle (oracle.go)
//
// Commit timestamps come from one atomic counter and are allocated only
// after every participant voted yes, so they are dense. visible is a
// watermark advanced by whoever marks a timestamp done (a CAS loop over a
// ring of done flags); a commit returns only once visible has passed its
// timestamp, parking on a per-caller channel in a ring slot keyed by that
// timestamp. The rings are sound because of an admission bound: at most
// ringSize/2 commits may hold admission at once, and a commit holds it until
// it has seen itself become visible, so allocated timestamps never run a
// full ring ahead of visible. This replaces Badger's watermark goroutine
// (one channel hop per commit) and a mutex-guarded heap (one lock per
// commit), either of which would be a global lock on 16 cores (DESIGN.md §3).
//
// After a WAL failure poisons the database, a timestamp whose record a
// participant's log failed is never done; the log reports it to the oracle
// (Fail) as refused (not in the log: the commit can never be recovered) or
// possibly logged (its outcome is unknown). visible stops below the first
// such timestamp, so a commit that is done learns its fate there: visible
// (nil), behind a refused timestamp (ErrPoisoned: it did not take effect),
// or behind a possibly logged one (ErrCommitUnknown). Refusals before
// anything is installed return ErrPoisoned.
//
// Snapshots register in a striped registry; Horizon is the oldest live one.
// A snapshot registers, then checks that no Horizon computation that could
// have missed it has published a floor above its timestamp (and retries if
// one has), so vacuum can never prune a version a registered reader needs.
//
// # Commit (txn.go)
//
// A read-write transaction with one participant shard takes the fast path:
// one KindCommitOne message; the shard validates, allocates the timestamp,
// installs and replies. Otherwise two-phase commit: prepare in parallel
// (validate and take no-wait locks), allocate the timestamp once all voted
// yes, commit everywhere, wait for visibility; the participant that finishes
// its install last (durable, if the database is) marks the timestamp done. Any no vote aborts
// the yes voters and returns the first no's ErrConflict. Transactions without
// writes commit without validation: their snapshot at visible is a prefix of
// the commit order.
//
// Changes to DESIGN.md's protocol, and why:
//   - Step 3's "mark commitTS done" is done by the last participant shard to
//     install (shard.CommitGroup), not by the caller after every ack reached
//     it: the watermark then does not wait for the caller's goroutine to be
//     scheduled again, and every commit behind it waits for the watermark.
//     The invariant is unchanged: commitTS is done only once every
//     participant installed (and logged) it, and never if one failed.
//   - Tx.GetMany sends a transaction's independent reads to their shards at
//     once and waits once; each key is recorded as read exactly as by Get.
//   - Lock owners are identified by the address of the transaction's
//     per-shard request (which lives from prepare to commit/abort), not by a
//     global transaction-id counter: one less contended atomic per commit.
//   - Autocommit Insert and Remove are blind single-shard writes: they have
//     no snapshot and read nothing before the shard decides, so the shard
//     checks only locks, installs at a fresh timestamp, and (for Remove)
//     reports the value it replaced at that point. They serialize at their
//     commit timestamp exactly like a transaction that read and wrote the key
//     atomically, and they never see ErrConflict: a lock conflict is retried
//     with backoff until the context ends.
//   - Autocommit Get reads at visible without registering a snapshot: a
//     single-key read at any visible timestamp is linearizable, so the
//     shard serves it at its vacuum floor (the last horizon it vacuumed
//     with) if that is newer. Registered snapshots are unaffected.
//   - Shutdown uses a striped in-flight gate (gate.go) instead of selecting
//     on a stop channel with every send and receive: Close refuses new
//     operations, waits for those in flight, and only then stops the shards,
//     so every shard hop is a plain channel operation.
//
// # Allocation
//
// A transaction's state (Txn, with its first few reads and writes inline)
// comes from a per-coordinator pool and goes back once it has finished:
// Begin takes one, Recycle returns it. Allocating it per transaction was
// about half of a small transaction's bytes; pooling it took the 2-read,
// 2-write benchmark from 632 to 312 B and 4.7 to 4.2 µs of CPU per
// transaction on one core. The root package's Tx is a small handle that
// recycles its Txn only when its owner ends it by Commit or Rollback, after
// which every Tx method refuses with ErrTxnDone before touching the Txn. A
// transaction ended by its context (on the context's goroutine) is left to
// the garbage collector instead, as its owner may still be inside a method.
//
// # Durability (recovery.go, durable.go)
//
// Each shard's WAL writer logs its commits; the coordinator owns the
// directory lock, recovery and checkpoints. Recovery reads every shard in
// parallel and keeps the longest gap-free prefix of commit timestamps whose
// records are present on all their participants (or covered by a
// checkpoint). The directory holds generations (gen-G/shard-NNNN) named by
// an atomically replaced MANIFEST: when the shard count changes, or a log
// holds records past the recovered prefix (their timestamps will be reused
// by new commits, so they must not survive), recovery writes the recovered
// state as checkpoints of a new generation and switches MANIFEST only once
// that is durable. DESIGN.md truncates logs instead; with records appended
// out of timestamp order across 2PC and fast-path commits, a truncation
// point does not exist in general, and the generation switch also gives
// re-sharding for free.
//
// A checkpoint is taken at a registered snapshot C after a sync barrier on
// every shard (so C is durable everywhere, as recovery requires), reads each
// shard through ordinary bounded scan requests at C (the shard serves other
// requests between chunks; encoding and file I/O run on the checkpoint's
// own goroutines), and then lets each WAL recycle segments wholly at or
// below C. The checkpointer starts one when a shard's WAL writer reports
// that its log crossed CheckpointAfterBytes (and polls sizes every 50 ms
// for a log that cannot get back under it).
//
// This package is internal to FluxMap's design and carries no compatibility
// promise.
package coordinator
