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
// The participant that finishes its install last (shard.CommitGroup) marks
// the timestamp done, not the caller once every answer reached it: the
// watermark then does not wait for the caller's goroutine to be scheduled
// again, and every commit behind it waits for the watermark. A timestamp is
// done only once every participant installed (and logged) it, and never if
// one failed. Lock owners are identified by the address of the
// transaction's per-shard request (which lives from prepare to commit or
// abort), so no shared transaction-id counter is touched per commit.
//
// Autocommit Insert and Remove are blind single-shard writes: they have no
// snapshot and read nothing before the shard decides, so the shard checks
// only locks, installs at a fresh timestamp, and (for Remove) reports the
// value it replaced at that point. They serialize at their commit timestamp
// exactly like a transaction that read and wrote the key atomically, and
// they never see ErrConflict: a lock conflict is retried with backoff until
// the context ends.
//
// # Reads
//
// Reads run on the caller's goroutine (shard/read.go, DESIGN.md §4a): a
// transaction's Get and GetMany read at its registered snapshot and record
// each key in the read set; scans merge per-shard cursors (scan.go);
// autocommit Get reads at visible without registering a snapshot (a
// single-key read at any visible timestamp is linearizable) and re-reads if
// a vacuum pass's floor passed it.
//
// Shutdown uses a striped in-flight gate (gate.go) instead of selecting on
// a stop channel with every send and receive: Close refuses new
// operations, waits for those in flight, and only then stops the shards, so
// every shard hop is a plain channel operation. Reads check only that the
// database is open: they need no running shard.
//
// # Allocation
//
// A transaction's state (Txn, with its first few reads and writes inline)
// comes from a per-coordinator pool and goes back once it has finished:
// Begin takes one, Recycle returns it; allocated per transaction, it would
// be about half of a small transaction's bytes. The root package's Tx is a
// small handle that
// recycles its Txn only when its owner ends it by Commit or Rollback, after
// which every Tx method refuses with ErrTxnDone before touching the Txn. A
// transaction ended by its context (on the context's goroutine) is left to
// the garbage collector instead, as its owner may still be inside a method.
//
// # TTLs
//
// A snapshot is a start timestamp and a wall-clock time: Begin reads the
// clock once (SnapshotTime, after Acquire, so every commit the snapshot sees
// was allocated before it), and every read of the transaction evaluates
// deadlines at it: Get, GetMany, every entry of a scan, and the
// transaction's own buffered TTL writes, so its reads agree however long it
// runs; its commit requests carry it (shard.Request.Now) for validation. A
// DB stream fixes its time when its iteration starts. Autocommit Get
// evaluates deadlines at the clock when it reads.
//
// An expiry has no commit timestamp until vacuum turns it into a committed
// delete. Validation treats it as that delete already (shard.validate): a
// read key, a key in a scanned range, or a written key (first committer
// wins) whose newest version is the snapshot's but reads differently at the
// shard's clock than at the snapshot's time is a conflict, as a delete
// committed after the snapshot would be. So a commit's outcome does not
// depend on whether vacuum has run yet, and what a committed transaction
// read was still true when the shard validated it, before its commit
// timestamp was allocated. A key a prepared transaction holds locked is not
// deleted by vacuum's expiry pass until the commit or abort.
//
// One ordering this leaves to the wall clock: a deadline that falls after a
// transaction validated the key but before its commit becomes visible. A
// snapshot taken in that interval evaluates the deadline as passed yet does
// not see that commit, whose transaction read the key live. A read-write
// transaction on such a snapshot that also read the commit's writes
// conflicts with it, except across two-phase commit when it validates on
// every shard between the committing transaction's prepares. The interval
// is one commit's duration (its fsync, when durable); closing it would take
// the oracle bounding snapshot times by the deadlines in-flight commits
// read.
//
// # Durability (recovery.go, durable.go)
//
// Each shard's WAL writer logs its commits; the coordinator owns the
// directory lock, recovery and checkpoints. The directory holds generations
// (gen-G/shard-NNNN), each a complete set of shard directories for one shard
// count, and a MANIFEST, replaced atomically, that names the current one,
// the codecs, and any generation being built or replaced (manifest.go has
// the format and the switch protocol). Recovery (recovery.go lists its
// phases) first verifies that every piece the current generation must have
// is there: every shard directory, a checkpoint owned by that shard in each,
// WAL segments without gaps back to what the checkpoint covers. A piece a
// crash cannot remove being gone is ErrCorrupt, and up to that point
// nothing was written. Then it reads every shard in parallel and keeps the
// longest gap-free prefix of commit timestamps whose records are present on
// all their participants (or covered by a checkpoint).
//
// When the shard count changes, or a log holds records past the recovered
// prefix (transactions that some participant's log lost at a crash; their
// timestamps will be reused by new commits, so they must not survive),
// recovery writes the recovered state as checkpoints of a new generation and
// switches the MANIFEST only once that is durable. With records appended out
// of timestamp order across 2PC and fast-path commits, a point at which to
// truncate each log does not exist in general; the generation switch also
// gives re-sharding for free. Recovery removes only generations the MANIFEST
// names as pending or obsolete, and in them only the files the wal package
// names, never through a symbolic link: whatever else is in the directory
// is the user's.
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
