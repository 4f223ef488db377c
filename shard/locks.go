package shard

import "github.com/fluxmap/fluxmap/mvcc"

// keyLock is the commit-time lock state of one key: the transaction that
// holds its write lock between prepare and commit or abort (0 for none),
// and how many in-flight transactions hold a read lock on it.
type keyLock struct {
	write uint64
	reads int32
}

// Few keys are locked at any moment, so their locks live in the shard's
// table, not in every node; a node's Locked flag says whether it has an
// entry, so keys nobody locks cost no table lookup. All of this is the
// shard goroutine's.

// lockOf returns n's lock state.
func (s *Shard[V]) lockOf(n *mvcc.Node[V]) keyLock {
	if !n.Locked {
		return keyLock{}
	}
	return s.locks[n]
}

// setLock records l as n's lock state, dropping the entry when l holds
// nothing.
func (s *Shard[V]) setLock(n *mvcc.Node[V], l keyLock) {
	if l == (keyLock{}) {
		if n.Locked {
			delete(s.locks, n)
			n.Locked = false
		}
		return
	}
	if s.locks == nil {
		s.locks = make(map[*mvcc.Node[V]]keyLock)
	}
	s.locks[n] = l
	n.Locked = true
}

// writeLocker returns the transaction holding n's write lock, or 0.
func (s *Shard[V]) writeLocker(n *mvcc.Node[V]) uint64 { return s.lockOf(n).write }
