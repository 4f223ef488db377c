// Package bank is the transfer example's business logic, written against
// FluxMap's portable transaction interfaces so that it runs unchanged on
// the embedded engine (examples/transfer) and on an etcd cluster
// (fluxetcd/examples/transfer).
package bank

import (
	"errors"
	"fmt"

	"github.com/fluxmap/fluxmap"
)

// ErrInsufficientFunds is the application's own error: returned from the
// transaction's function, it rolls the transaction back and comes out of
// the backend's Transaction unchanged, so errors.Is finds it.
var ErrInsufficientFunds = errors.New("insufficient funds")

// Transfer moves amount from one account to another inside tx, or fails
// and leaves tx to be rolled back. It is meant to be called from a
// Transaction's function, which may run it more than once.
func Transfer(tx fluxmap.ReadWriteTx[string, int64], from, to string, amount int64) error {
	src, _, err := tx.Get(from)
	if err != nil {
		return err
	}
	dst, _, err := tx.Get(to)
	if err != nil {
		return err
	}
	// Write first, check after: the writes are only buffered in tx, so
	// returning an error below discards them.
	if err := tx.Insert(from, src-amount); err != nil {
		return err
	}
	if err := tx.Insert(to, dst+amount); err != nil {
		return err
	}
	if src < amount {
		return fmt.Errorf("%w: %s has %d, needs %d", ErrInsufficientFunds, from, src, amount)
	}
	return nil
}

// Balances reads the given accounts from tx's snapshot, so their total is
// never caught halfway through a transfer.
func Balances(tx fluxmap.ReadTx[string, int64], accounts ...string) ([]int64, error) {
	out := make([]int64, len(accounts))
	for i, a := range accounts {
		v, _, err := tx.Get(a)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}
