// Package fluxetcd runs FluxMap's transactions on an etcd cluster, for
// programs that outgrow one machine: the data survives the loss of a
// member, and any number of processes on any number of machines share it.
//
// # Basics
//
// Open takes a *clientv3.Client that the caller configured and owns, and
// returns a DB with the embedded engine's calls and meaning: autocommit
// Get, Insert, Remove, Range and PrefixScan, streams, Begin/Commit/Rollback,
// View, and Transaction, which retries fn after a conflict. Keys go through
// the same KeyCodecs (order-preserving, so ranges and prefixes select the
// same keys in the same order) and values through the same ValueCodecs,
// all under Options.Prefix, so several databases can share a cluster.
//
// Code written against fluxmap.ReadTx and fluxmap.ReadWriteTx runs on both
// backends unchanged: *fluxmap.Tx and *fluxetcd.Tx satisfy both.
//
// # Isolation
//
// Transactions are serializable, phantoms included, and optimistic: reads
// are made at one etcd revision, writes are buffered, and Commit sends one
// etcd Txn whose compares prove that nothing read has changed (see Tx). A
// failed compare is fluxmap.ErrConflict, and Transaction retries it. Unlike
// the embedded engine, conflicts are found only at commit, by the cluster,
// and every read is a network round trip.
//
// # Caveats
//
//   - etcd bounds a Txn by --max-txn-ops (128 by default) compares and as
//     many writes, and by --max-request-bytes (1.5 MiB by default) in all.
//     Each key read costs one compare and each scanned range one, plus one
//     per key the scan returned. Set Options.MaxTxnOps and
//     Options.MaxRequestBytes to the cluster's flags; larger transactions
//     fail with fluxmap.ErrTxnTooLarge before anything is sent.
//   - A transaction whose snapshot revision is compacted before its last
//     read fails that read with ErrCompacted (a conflict, so Transaction
//     retries). Keep etcd's auto-compaction retention longer than your
//     transactions.
//   - A write or commit that fails because the cluster did not answer in
//     time wraps ErrUnavailable and fluxmap.ErrCommitUnknown: the request
//     may have been applied. Read before repeating it.
//   - TTLs, GetMany, CompareAndSwap, reverse and bounded ScanOptions scans,
//     feeds, Load and backups are the embedded engine's only.
//
// # Security
//
// The backend sends every request through the caller's client and adds no
// transport or credentials of its own: configure TLS (clientv3.Config.TLS,
// for example from go.etcd.io/etcd/client/pkg/v3/transport.TLSInfo) and
// authentication (Username and Password, or client certificates with
// --client-cert-auth) on the client, and grant its user read and write on
// the database's prefix (etcdctl role grant-permission ROLE --prefix
// readwrite PREFIX). Refused credentials or permissions come back as
// ErrAccessDenied.
//
// # Errors
//
// fluxmap.ErrConflict, ErrClosed (after DB.Close or the client's Close),
// ErrTxnDone, ErrReadOnly, ErrTxnTooLarge, ErrCommitUnknown, ErrConfig and
// ErrInvalidArgument mean what they mean for the embedded engine; this
// package adds ErrUnavailable, ErrAccessDenied and ErrCompacted. Every call
// honours its context (a Tx's calls, Begin's): a cluster that lost quorum
// makes calls fail with ErrUnavailable when the context's deadline passes,
// never hang.
package fluxetcd
