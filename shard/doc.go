// Package shard runs one partition of the key space: a goroutine that alone
// owns an mvcc.List and serves requests that arrive on its inbox channel.
//
// # Ownership
//
// The shard goroutine (Run) alone writes what a Shard holds: the list, its
// nodes and versions, the range locks, the eviction order, the batch
// buffers. Other goroutines read the list directly, without a message
// (read.go says what they may touch and why a read is complete). Changes
// arrive only through Requests: a caller fills a Request, sends it with Send
// and waits with Wait; the shard writes the results into the same Request
// and signals its done channel. Between Send and the signal the Request
// belongs to the shard, before and after to the caller.
//
// # Batching
//
// Run drains every queued request (up to maxBatch) per wake-up. Votes are
// answered at once; commits are installed as they come and
// acknowledged together at the end of the batch, after their timestamps are
// marked done — the point where the WAL's group write and fsync will sit.
//
// When its inbox is empty the shard parks on it, except right after
// serving part of a cross-shard transaction in memory while few
// validations vote no: then it yields its processor a bounded, adaptive
// number of times first (package internal/idle explains the measurements),
// so the transaction's next round finds it runnable and both processors of
// a small machine stay busy. DESIGN.md says nothing of
// how a shard waits; this changes no invariant, only when it looks again.
//
// # Validation
//
// Prepare and the single-shard fast path apply DESIGN.md §4: a request votes
// no if a key it reads or writes is locked by another in-flight transaction,
// if a write key lies in a range locked by another, or if a key it read, a
// key in a range it scanned, or a key it writes has a committed version newer
// than its start timestamp. Locks never wait, so there is no deadlock.
//
// # Durability
//
// A durable shard hands each batch's commits to its own WAL writer
// goroutine (durable.go) instead of writing them itself: the shard never
// blocks on a write or an fsync, and the writer logs every batch queued
// while it was busy with one write and (Full) one fsync before it marks
// the timestamps done and replies. Versions are installed before they are
// durable, but they become visible only when their timestamp is done.
//
// # Background work
//
// Vacuum passes (vacuum.go) run as a task in slices of 256 nodes, taken
// only while the inbox is empty. Expired TTL values and eviction victims
// (memory.go) become the shard's own committed deletes with fresh
// timestamps, logged like any commit; evictions happen at the end of a
// batch that left the shard over its share of the memory limit, in policy
// order, skipping locked keys and keys the batch itself wrote.
//
// Shards never call the coordinator: timestamps arrive inside requests,
// except on the fast path, where the shard draws one from the Clock it was
// built with. A shard marks timestamps done on that Clock: its fast-path
// commits', and a two-phase commit's when it is the last participant of the
// commit's group to install it (CommitGroup).
//
// This package is internal to FluxMap's design and carries no compatibility
// promise.
package shard
