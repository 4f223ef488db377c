// Command transfer moves money between two accounts inside db.Transaction.
// The first transfer commits; the second overdraws, so the function returns
// an application error, the transaction rolls back, and the balances read
// afterwards are exactly those from before it, although the debit had
// already been written inside the transaction.
//
// Run it from the repository root:
//
//	go run ./examples/transfer
package main
