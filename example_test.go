package fluxmap_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math"
	"os"
	"strings"
	"time"

	"github.com/fluxmap/fluxmap"
)

// Every example closes its database: TestMain fails the run if a shard
// goroutine outlives the tests.

func ExampleNew() {
	ctx := context.Background()
	// The type parameters are the key and value types; each setter
	// documents its default (Shards: GOMAXPROCS, Isolation: Serializable).
	db, err := fluxmap.New[string, int64]().
		Shards(4).
		Isolation(fluxmap.Serializable).
		Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	if err := db.Insert(ctx, "answer", 42); err != nil {
		log.Fatal(err)
	}
	v, ok, err := db.Get(ctx, "answer")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v, ok)

	// Build validates the configuration and names the bad setting.
	_, err = fluxmap.New[string, int64]().Shards(0).Build(ctx)
	fmt.Println(errors.Is(err, fluxmap.ErrConfig))
	// Output:
	// 42 true
	// true
}

func ExampleDB_Get() {
	ctx := context.Background()
	db, err := fluxmap.New[string, string]().Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	if err := db.Insert(ctx, "lang", "Go"); err != nil {
		log.Fatal(err)
	}
	for _, key := range []string{"lang", "missing"} {
		v, ok, err := db.Get(ctx, key)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %q found=%t\n", key, v, ok)
	}
	// Output:
	// lang: "Go" found=true
	// missing: "" found=false
}

func ExampleDB_Insert() {
	ctx := context.Background()
	db, err := fluxmap.New[string, int64]().Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// Each Insert is its own transaction (autocommit); the second one
	// replaces the first value. Insert never returns ErrConflict.
	for _, v := range []int64{1, 2} {
		if err := db.Insert(ctx, "version", v); err != nil {
			log.Fatal(err)
		}
	}
	v, _, err := db.Get(ctx, "version")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v)
	// Output: 2
}

func ExampleDB_Remove() {
	ctx := context.Background()
	db, err := fluxmap.New[string, string]().Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	if err := db.Insert(ctx, "session", "abc"); err != nil {
		log.Fatal(err)
	}
	for range 2 {
		old, existed, err := db.Remove(ctx, "session")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("existed=%t old=%q\n", existed, old)
	}
	// Output:
	// existed=true old="abc"
	// existed=false old=""
}

func ExampleDB_Transaction() {
	ctx := context.Background()
	db, err := fluxmap.New[string, int64]().Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := db.Insert(ctx, "alice", 100); err != nil {
		log.Fatal(err)
	}

	errInsufficientFunds := errors.New("insufficient funds")
	// transfer commits when its function returns nil and rolls back when it
	// returns an error. After a conflict the function runs again, so it
	// must have no effects outside tx.
	transfer := func(from, to string, amount int64) error {
		return db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
			src, _, err := tx.Get(from)
			if err != nil {
				return err
			}
			dst, _, err := tx.Get(to) // absent: 0
			if err != nil {
				return err
			}
			if err := tx.Insert(from, src-amount); err != nil {
				return err
			}
			if err := tx.Insert(to, dst+amount); err != nil {
				return err
			}
			if src < amount {
				return errInsufficientFunds // discards both writes
			}
			return nil
		})
	}

	fmt.Println(transfer("alice", "bob", 30))
	err = transfer("alice", "bob", 500)
	fmt.Println(errors.Is(err, errInsufficientFunds))

	balances, err := db.PrefixScan(ctx, "")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(balances)
	// Output:
	// <nil>
	// true
	// [{alice 70} {bob 30}]
}

func ExampleDB_View() {
	ctx := context.Background()
	db, err := fluxmap.New[string, int64]().Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	for _, k := range []string{"a", "b"} {
		if err := db.Insert(ctx, k, 50); err != nil {
			log.Fatal(err)
		}
	}

	// Both reads come from one snapshot: a concurrent transfer between a
	// and b is seen entirely or not at all. A read-only transaction never
	// conflicts, and writes inside it fail with ErrReadOnly.
	err = db.View(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		a, _, err := tx.Get("a")
		if err != nil {
			return err
		}
		b, _, err := tx.Get("b")
		if err != nil {
			return err
		}
		fmt.Println("total:", a+b)
		return tx.Insert("a", 0)
	})
	fmt.Println(errors.Is(err, fluxmap.ErrReadOnly))
	// Output:
	// total: 100
	// true
}

func ExampleTx_GetMany() {
	ctx := context.Background()
	db, err := fluxmap.New[string, int64]().Shards(4).Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	for _, k := range []string{"alice", "bob"} {
		if err := db.Insert(ctx, k, 100); err != nil {
			log.Fatal(err)
		}
	}

	// The two balances do not depend on each other, so both shards are
	// asked at once: one round trip instead of two.
	err = db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		keys := []string{"alice", "bob", "carol"}
		bal := make([]int64, len(keys))
		found := make([]bool, len(keys))
		if err := tx.GetMany(keys, bal, found); err != nil {
			return err
		}
		fmt.Println(bal, found)
		if err := tx.Insert("alice", bal[0]-30); err != nil {
			return err
		}
		return tx.Insert("bob", bal[1]+30)
	})
	if err != nil {
		log.Fatal(err)
	}
	bob, _, _ := db.Get(ctx, "bob")
	fmt.Println("bob:", bob)
	// Output:
	// [100 100 0] [true true false]
	// bob: 130
}

func ExampleDB_Begin() {
	ctx := context.Background()
	db, err := fluxmap.New[string, int64]().Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	increment := func(tx *fluxmap.Tx[string, int64]) error {
		n, _, err := tx.Get("counter")
		if err != nil {
			return err
		}
		return tx.Insert("counter", n+1)
	}

	// Two transactions read the same counter; the first to commit wins and
	// the second's commit fails with ErrConflict (it is rolled back).
	tx1, err := db.Begin(ctx)
	if err != nil {
		log.Fatal(err)
	}
	tx2, err := db.Begin(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if err := errors.Join(increment(tx1), increment(tx2)); err != nil {
		log.Fatal(err)
	}
	fmt.Println("tx1:", tx1.Commit())
	fmt.Println("tx2 conflict:", errors.Is(tx2.Commit(), fluxmap.ErrConflict))

	// The retry loop for a manual transaction: on ErrConflict, start over
	// from Begin; on any other error, roll back and give up.
	for attempt := 1; ; attempt++ {
		tx, err := db.Begin(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if err := increment(tx); err != nil {
			tx.Rollback()
			log.Fatal(err)
		}
		err = tx.Commit()
		if errors.Is(err, fluxmap.ErrConflict) {
			continue
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("committed on attempt", attempt)
		break
	}

	n, _, err := db.Get(ctx, "counter")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("counter:", n)
	// Output:
	// tx1: <nil>
	// tx2 conflict: true
	// committed on attempt 1
	// counter: 2
}

func ExampleDB_PrefixScan() {
	ctx := context.Background()
	db, err := fluxmap.New[string, string]().Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	for _, k := range []string{"user:2", "order:1", "user:1", "user:10"} {
		if err := db.Insert(ctx, k, strings.ToUpper(k)); err != nil {
			log.Fatal(err)
		}
	}

	// String keys sort bytewise: "user:10" comes before "user:2".
	users, err := db.PrefixScan(ctx, "user:")
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range users {
		fmt.Println(e.Key, e.Value)
	}
	// Output:
	// user:1 USER:1
	// user:10 USER:10
	// user:2 USER:2
}

func ExampleDB_Range() {
	ctx := context.Background()
	// Integer keys sort numerically, negative numbers included.
	db, err := fluxmap.New[int64, string]().Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	for _, k := range []int64{-20, -5, 0, 7, 10, 300} {
		if err := db.Insert(ctx, k, fmt.Sprint("n", k)); err != nil {
			log.Fatal(err)
		}
	}

	entries, err := db.Range(ctx, -5, 10) // -5 <= key < 10
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(entries)
	// Output: [{-5 n-5} {0 n0} {7 n7}]
}

func ExampleDB_ScanStream() {
	ctx := context.Background()
	db, err := fluxmap.New[int64, string]().Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	for _, k := range []int64{1, 5, 9, 12, math.MaxInt64} {
		if err := db.Insert(ctx, k, fmt.Sprint("n", k)); err != nil {
			log.Fatal(err)
		}
	}

	// The two largest keys, up to and including MaxInt64: descending, with
	// an inclusive upper bound, stopping early.
	s := db.ScanStream(ctx, fluxmap.ScanOptions[int64]{Hi: fluxmap.Incl(int64(math.MaxInt64)), Reverse: true})
	n := 0
	for k, v := range s.All() {
		fmt.Println(k, v)
		if n++; n == 2 {
			break
		}
	}
	if err := s.Err(); err != nil {
		log.Fatal(err)
	}

	// Everything above 5, ascending: an exclusive lower bound, no upper one.
	entries, err := db.Scan(ctx, fluxmap.ScanOptions[int64]{Lo: fluxmap.Excl(int64(5))})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(entries)
	// Output:
	// 9223372036854775807 n9223372036854775807
	// 12 n12
	// [{9 n9} {12 n12} {9223372036854775807 n9223372036854775807}]
}

func ExampleDB_CompareAndSwap() {
	ctx := context.Background()
	db, err := fluxmap.New[string, string]().Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// A lock: the first claim wins, the second sees who holds it.
	owner, won, err := db.InsertIfAbsent(ctx, "lock/report", "worker-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(owner, won)
	owner, won, err = db.InsertIfAbsent(ctx, "lock/report", "worker-2")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(owner, won)

	// Hand it over only if worker-1 still holds it, then release it.
	swapped, err := db.CompareAndSwap(ctx, "lock/report", "worker-1", "worker-2")
	if err != nil {
		log.Fatal(err)
	}
	released, err := db.CompareAndDelete(ctx, "lock/report", "worker-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(swapped, released)
	// Output:
	// worker-1 true
	// worker-1 false
	// true false
}

func ExampleConflictError() {
	ctx := context.Background()
	db, err := fluxmap.New[string, int64]().Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := db.Insert(ctx, "stock/42", 10); err != nil {
		log.Fatal(err)
	}

	// Two orders read the stock and write it back; the second to commit
	// loses, and the error says which key and why.
	a, _ := db.Begin(ctx)
	b, _ := db.Begin(ctx)
	for _, tx := range []*fluxmap.Tx[string, int64]{a, b} {
		n, _, _ := tx.Get("stock/42")
		_ = tx.Insert("stock/42", n-1)
	}
	if err := a.Commit(); err != nil {
		log.Fatal(err)
	}
	err = b.Commit()
	var ce *fluxmap.ConflictError
	if errors.As(err, &ce) {
		fmt.Println(errors.Is(err, fluxmap.ErrConflict), ce.Reason, ce.Key, ce.Commit > ce.Snapshot)
	}

	// Stats names the keys conflicts hit most: the schema's hotspots.
	st, _ := db.Stats()
	for _, h := range st.HotKeys {
		fmt.Println(h.Key, h.Conflicts)
	}
	// Output:
	// true write-write stock/42 true
	// stock/42 1
}

func ExampleDB_PrefixStream() {
	ctx := context.Background()
	db, err := fluxmap.New[string, int64]().Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	err = db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
		for i := range 1000 {
			if err := tx.Insert(fmt.Sprintf("event:%04d", i), int64(i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}

	// A stream yields entries one at a time, in key order, without
	// collecting them; check Err after the loop.
	s := db.PrefixStream(ctx, "event:")
	var sum int64
	for _, v := range s.All() {
		sum += v
	}
	if err := s.Err(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("sum:", sum)

	// Breaking out early ends the scan and releases its snapshot.
	for k, v := range s.All() {
		if v >= 3 {
			break
		}
		fmt.Println(k)
	}
	if err := s.Err(); err != nil {
		log.Fatal(err)
	}
	// Output:
	// sum: 499500
	// event:0000
	// event:0001
	// event:0002
}

func ExampleDB_InsertWithTTL() {
	ctx := context.Background()
	db, err := fluxmap.New[string, string]().Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	// The key reads as absent once the hour has passed, and vacuum then
	// deletes it; until then it is an ordinary key.
	if err := db.InsertWithTTL(ctx, "session:42", "token", time.Hour); err != nil {
		log.Fatal(err)
	}
	v, ok, err := db.Get(ctx, "session:42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v, ok)
	// Output: token true
}

func ExampleBuilder_MaxMemory() {
	ctx := context.Background()
	// One shard, so the whole limit is one budget: room for two 1000-byte
	// values with their keys and bookkeeping, not three.
	db, err := fluxmap.New[string, string]().Shards(1).MaxMemory(3000).Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	value := strings.Repeat("x", 1000)
	for _, k := range []string{"key1", "key2"} {
		if err := db.Insert(ctx, k, value); err != nil {
			log.Fatal(err)
		}
	}
	if _, _, err := db.Get(ctx, "key1"); err != nil { // key2 is now least recently used
		log.Fatal(err)
	}
	if err := db.Insert(ctx, "key3", value); err != nil { // evicts key2
		log.Fatal(err)
	}
	for _, k := range []string{"key1", "key2", "key3"} {
		_, ok, err := db.Get(ctx, k)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(k, ok)
	}
	// Output:
	// key1 true
	// key2 false
	// key3 true
}

func ExampleBuilder_DurabilityFull() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "fluxmap-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A commit returns once its log records are fsynced.
	open := func() (*fluxmap.DB[string, string], error) {
		return fluxmap.New[string, string]().
			DurabilityFull(fluxmap.PersistenceOptions{Dir: dir}).
			Build(ctx)
	}

	db, err := open()
	if err != nil {
		log.Fatal(err)
	}
	if err := db.Insert(ctx, "greeting", "hello"); err != nil {
		log.Fatal(err)
	}
	if err := db.Close(); err != nil {
		log.Fatal(err)
	}

	// Reopening the directory recovers every acknowledged commit.
	db, err = open()
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	v, ok, err := db.Get(ctx, "greeting")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(v, ok)
	// Output: hello true
}

func ExampleJSONCodec() {
	// Values of types without a built-in codec need one in a durable
	// database; JSONCodec stores exported struct fields as JSON.
	type Profile struct {
		Name string
		Tags []string
	}
	codec := fluxmap.JSONCodec[Profile]()
	enc, err := codec.AppendValue(nil, Profile{Name: "ada", Tags: []string{"math"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(enc))

	ctx := context.Background()
	dir, err := os.MkdirTemp("", "fluxmap-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := fluxmap.New[string, Profile]().
		ValueCodec(codec).
		DurabilityFull(fluxmap.PersistenceOptions{Dir: dir}).
		Build(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := db.Insert(ctx, "user:ada", Profile{Name: "ada", Tags: []string{"math"}}); err != nil {
		log.Fatal(err)
	}
	p, _, err := db.Get(ctx, "user:ada")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", p)

	// Without a codec, a durable database of Profile values does not open.
	_, err = fluxmap.New[string, Profile]().
		DurabilityFull(fluxmap.PersistenceOptions{Dir: dir}).
		Build(ctx)
	fmt.Println(errors.Is(err, fluxmap.ErrConfig))
	// Output:
	// {"Name":"ada","Tags":["math"]}
	// {Name:ada Tags:[math]}
	// true
}
