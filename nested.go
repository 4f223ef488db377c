package fluxmap

import (
	"reflect"
	"runtime"
	"strings"
)

// A write through the DB from inside a DB.Transaction function (db.Insert,
// db.Remove, db.Evict, db.Begin or db.Transaction on the same DB) commits
// while the enclosing transaction is open, after its snapshot: if the two
// touch a key in common, the enclosing commit conflicts with it, and as fn
// repeats the write on every attempt, the retries never end. Nothing in a
// call says who made it (Go has no goroutine-local state, and fn gets no
// context of its own), so the nested call is recognised by its stack:
// runTx, which calls fn, is on the calling goroutine's stack.
//
// Walking the stack costs more than all of a write's other checks, so
// it is done only while some Transaction of this DB has conflicted
// nestProbeAfter times in a row (DB.nestProbes counts them). A nested write
// therefore commits on the first attempts and is refused from then on, with
// an error wrapping ErrInvalidArgument; fn normally returns it and
// Transaction ends. A write that fn hands to another goroutine and waits
// for is not recognised. A false alarm is possible: while this DB probes, a
// write on it made inside another DB's Transaction function is refused
// too.
const nestProbeAfter = 4

// runTxName is the name runtime frames give runTx, whatever its type
// arguments.
var runTxName = func() string {
	name := runtime.FuncForPC(reflect.ValueOf(runTx[int, int]).Pointer()).Name()
	return name[:strings.IndexByte(name, '[')+1]
}()

// insideTransactionFn reports whether the calling goroutine is running a
// DB.Transaction function.
func insideTransactionFn() bool {
	var pcs [64]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs[:])])
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, runTxName) {
			return true
		}
		if !more {
			return false
		}
	}
}

// refuseNested returns an error for the write op if it is made from inside
// a Transaction function while this DB is probing for such writes.
func (db *DB[K, V]) refuseNested(op string) error {
	if db.nestProbes.Load() == 0 || !insideTransactionFn() {
		return nil
	}
	return errorf("%s: %w: called inside a DB.Transaction function on the same DB, whose commit then conflicts with it on every attempt; write through the Tx instead",
		op, ErrInvalidArgument)
}
