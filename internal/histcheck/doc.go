// Package histcheck checks a recorded history of concurrent transactions
// for isolation anomalies, in the manner of Jepsen's Elle (Kingsbury and
// Alvaro, "Elle: Inferring Isolation Anomalies from Experimental
// Observations", VLDB 2020) over Adya's definitions (G0, G1a, G1b, G1c,
// G-single, G2-item, G2).
//
// It is pure: it knows nothing of the engine and imports none of it. The
// workload package records histories against a database and hands them
// here. This package is internal and carries no compatibility promise.
//
// # Histories
//
// A History is a list of transactions, each with its operations (and their
// results) and how it ended: committed, aborted or unknown. Every written
// value is unique in the history, so a value read names the transaction
// and the operation that wrote it. The database holds no keys when the
// history starts; the keys written anywhere in it form the closed key set
// that predicate reads are judged against.
//
// Two models:
//
//   - ListAppend: keys hold lists, writes append, reads return the whole
//     list. Since a list only grows, every list read of a key must be a
//     prefix of the longest one, and the longest one gives the key's version
//     order. Writers of the key that the longest list does not show (but
//     that committed) come after all of it.
//   - Register: keys hold one value, writes overwrite blindly. Reads alone
//     do not give a version order, so either the caller supplies one (the
//     engine's commit timestamps, History.OrderByCommitTS) or the graph holds
//     only write-read edges, plus a write-write edge into a transaction that
//     read a key and then wrote it.
//
// Predicate reads (OpScan) are range scans [Lo, Hi) (prefix scans are
// ranges too; see PrefixRange) with their full result.
//
// # What Check does
//
// Per operation, without a graph:
//
//   - garbage reads: a value nobody wrote to that key, or a scan entry
//     outside the scan's range; duplicate elements in a list;
//   - G1a: a committed transaction read a value written by an aborted one;
//   - G1b: a committed transaction read a value that its writer later
//     overwrote in the same transaction (for a list, the read ends in such
//     a value);
//   - internal inconsistency: a read (point or scan, any status) that does
//     not show the transaction's own earlier writes of the key, or
//     disagrees with its own earlier read of it;
//   - lost update: two committed transactions read the same version of a
//     key, before writing it, and both wrote it.
//
// Then the dependency graph over the committed transactions (and the
// unknown ones a committed read observed). Only reads that happened before
// the reader's own first write of the key ("external" reads) give edges.
// With versions v0 (absent) < v1 < ... of a key:
//
//   - ww: the writer of vi -> the writer of vi+1 (and the last ordered
//     writer -> each writer known only to come after all of them);
//   - wr: the writer of vi -> every transaction that read vi;
//   - rw: a transaction that read vi -> the writer of vi+1 (or, if vi is
//     the last ordered version, -> every writer known to come later);
//   - rw-pred: the same, for a key absent from a scan whose range holds it:
//     the scan -> the transaction that created the key (a phantom).
//
// Tarjan's algorithm finds the strongly connected components; in each one
// a breadth-first search finds the shortest cycle of each kind: G0 (ww
// only), G1c (ww and wr, at least one wr), and the first of G-single
// (exactly one rw), G2-item (two or more rw, no rw-pred) and G2 (needs an
// rw-pred). A component with a G-single cycle is not searched for a
// G2-item or G2 one: it is already not serializable. The cycle is the
// evidence: every edge names its kind and the key that gave it.
//
// # What it cannot see
//
// It has no real-time or per-process order, so it checks serializability,
// not strict serializability or session guarantees. It infers nothing
// from aborted transactions' reads. A Register history without commit
// timestamps cannot show ww or rw edges between blind writers, so G0,
// G-single and G2 there go unseen; pair it with the white-box replayer.
// A scan result only shows which keys were in range, so a predicate
// anti-dependency is recorded for keys entering a range, not leaving it
// (the workloads never delete).
package histcheck
