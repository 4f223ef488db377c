package shard

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap/internal/errs"
)

// fakeClock is a Clock whose timestamps the test can inspect: Next counts up
// from the last value and Done records every timestamp it is given.
type fakeClock struct {
	mu   sync.Mutex
	last uint64
	done []uint64
}

func (c *fakeClock) Next() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last++
	return c.last
}

func (c *fakeClock) Done(ts uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = append(c.done, ts)
}

// Visible is the largest timestamp marked done (the fake has no ring: in
// these tests timestamps are marked done in order).
func (c *fakeClock) Visible() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var v uint64
	for _, ts := range c.done {
		v = max(v, ts)
	}
	return v
}

func (c *fakeClock) Last() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *fakeClock) Dones() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.done)
}

// start runs a shard until the test ends.
func start(t *testing.T) (*Shard[string], *fakeClock) {
	t.Helper()
	return startWith(t, nil)
}

// startWith is start with setup (if not nil) applied to the configuration.
func startWith(t *testing.T, setup func(*Config[string])) (*Shard[string], *fakeClock) {
	t.Helper()
	clock := &fakeClock{}
	stop := make(chan struct{})
	cfg := Config[string]{ID: 3, SkiplistP: 0.25, Seed: 1, Clock: clock, Stop: stop, InboxSize: 16}
	if setup != nil {
		setup(&cfg)
	}
	s := New(cfg)
	go s.Run()
	t.Cleanup(func() {
		close(stop)
		select {
		case <-s.Exited():
		case <-time.After(5 * time.Second):
			t.Error("shard did not exit")
		}
	})
	return s, clock
}

func put(k, v string) Write[string] { return Write[string]{Key: k, Value: v} }
func del(k string) Write[string]    { return Write[string]{Key: k, Tombstone: true} }

// blind commits writes on the fast path as an autocommit write and returns
// the commit timestamp.
func blind(t *testing.T, s *Shard[string], ws ...Write[string]) uint64 {
	t.Helper()
	r := NewRequest[string]()
	r.Kind, r.Blind, r.Writes = KindCommitOne, true, ws
	s.Do(r)
	require.NoError(t, r.Err)
	return r.CommitTS
}

func get(t *testing.T, s *Shard[string], ts uint64, key string) (string, bool) {
	t.Helper()
	return s.ReadAt(key, ts, 0)
}

// op is one step of a validation scenario. Steps naming the same txn reuse
// one Request, which is how a transaction's prepare, commit and abort reach
// a shard (the Request is the lock owner).
type op struct {
	txn    string
	kind   Kind
	ts     uint64
	blind  bool
	reads  []string
	ranges []Span
	writes []Write[string]
	// conflict: the step must vote no with ErrConflict; otherwise it must
	// succeed.
	conflict bool
}

type scenario struct {
	s     *Shard[string]
	clock *fakeClock
	reqs  map[string]*Request[string]
}

func (sc *scenario) run(t *testing.T, i int, o op) {
	t.Helper()
	r := sc.reqs[o.txn]
	if r == nil {
		r = NewRequest[string]()
		sc.reqs[o.txn] = r
	}
	switch o.kind {
	case KindCommit, KindAbort:
		// Same Request as the prepare: its writes, reads and ranges say
		// which locks to release.
		r.Err = nil
	default:
		r.Reset()
		r.Reads = append(r.Reads, o.reads...)
		r.Ranges = append(r.Ranges, o.ranges...)
		r.Writes = append(r.Writes, o.writes...)
		r.Blind = o.blind
	}
	r.Kind, r.TS = o.kind, o.ts
	sc.s.Do(r)
	if o.conflict {
		require.ErrorIs(t, r.Err, errs.ErrConflict, "step %d (%s) must vote no", i, o.txn)
	} else {
		require.NoError(t, r.Err, "step %d (%s)", i, o.txn)
	}
}

func TestValidation(t *testing.T) {
	const (
		commitOne = KindCommitOne
		prepare   = KindPrepare
		commit    = KindCommit
		abort     = KindAbort
	)
	w := func(ks ...string) []Write[string] {
		var out []Write[string]
		for _, k := range ks {
			out = append(out, put(k, "v-"+k))
		}
		return out
	}
	span := func(lo, hi string) []Span { return []Span{{Lo: lo, Hi: hi}} }
	from := func(lo string) []Span { return []Span{{Lo: lo, HiInf: true}} }

	// In every scenario the fake clock starts at 0, so the first blind
	// write commits at 1, the second at 2, and so on.
	cases := []struct {
		name  string
		steps []op
	}{
		{"first committer wins on a write", []op{
			{txn: "setup", kind: commitOne, blind: true, writes: w("a")},       // a@1
			{txn: "T", kind: commitOne, ts: 0, writes: w("a"), conflict: true}, // started before a@1
			{txn: "T", kind: commitOne, ts: 1, writes: w("a")},                 // saw a@1
		}},
		{"first committer wins on prepare", []op{
			{txn: "setup", kind: commitOne, blind: true, writes: w("a")},
			{txn: "T", kind: prepare, ts: 0, writes: w("a"), conflict: true},
			{txn: "T", kind: prepare, ts: 1, writes: w("a")},
		}},
		{"blind write ignores versions", []op{
			{txn: "setup", kind: commitOne, blind: true, writes: w("a")},
			{txn: "T", kind: commitOne, ts: 0, blind: true, writes: w("a")},
		}},
		{"stale read", []op{
			{txn: "setup", kind: commitOne, blind: true, writes: w("a")},
			{txn: "T", kind: commitOne, ts: 0, reads: []string{"a"}, writes: w("b"), conflict: true},
			{txn: "T", kind: prepare, ts: 0, reads: []string{"a"}, writes: w("b"), conflict: true},
			{txn: "T", kind: commitOne, ts: 1, reads: []string{"a"}, writes: w("b")},
		}},
		{"read of an absent key later installed", []op{
			{txn: "setup", kind: commitOne, blind: true, writes: w("x")},                             // x@1
			{txn: "T", kind: commitOne, ts: 0, reads: []string{"x"}, writes: w("b"), conflict: true}, // read x absent at 0
			{txn: "T", kind: commitOne, ts: 0, reads: []string{"y"}, writes: w("c")},                 // y still absent
		}},
		{"read of a key deleted later", []op{
			{txn: "setup", kind: commitOne, blind: true, writes: w("x")},                    // x@1
			{txn: "setup", kind: commitOne, blind: true, writes: []Write[string]{del("x")}}, // x deleted @2
			{txn: "T", kind: commitOne, ts: 1, reads: []string{"x"}, writes: w("b"), conflict: true},
			{txn: "T", kind: commitOne, ts: 2, reads: []string{"x"}, writes: w("b")},
		}},
		{"phantom in a scanned range", []op{
			{txn: "setup", kind: commitOne, blind: true, writes: w("m")}, // m@1
			{txn: "T", kind: commitOne, ts: 0, ranges: span("k", "n"), writes: w("z"), conflict: true},
			{txn: "T", kind: commitOne, ts: 0, ranges: span("m", "m\x00"), writes: w("z"), conflict: true}, // lo inclusive
			{txn: "T", kind: commitOne, ts: 0, ranges: from("a"), writes: w("z"), conflict: true},
			{txn: "T", kind: prepare, ts: 0, ranges: span("k", "n"), writes: w("z"), conflict: true},
			{txn: "T", kind: commitOne, ts: 0, ranges: span("k", "m"), writes: w("z")}, // hi exclusive
			{txn: "T", kind: commitOne, ts: 0, ranges: span("n", "p"), writes: w("y")},
			{txn: "T", kind: commitOne, ts: 1, ranges: span("k", "n"), writes: w("x")},
		}},
		{"prepared write blocks writers, readers and scans", []op{
			{txn: "T1", kind: prepare, ts: 0, writes: w("a")},
			{txn: "T2", kind: prepare, ts: 0, writes: w("a"), conflict: true},
			{txn: "T2", kind: commitOne, ts: 0, writes: w("a"), conflict: true},
			{txn: "T2", kind: commitOne, ts: 0, blind: true, writes: w("a"), conflict: true},
			{txn: "T2", kind: prepare, ts: 0, reads: []string{"a"}, writes: w("q"), conflict: true},
			{txn: "T2", kind: prepare, ts: 0, ranges: span("", "b"), writes: w("q"), conflict: true},
			{txn: "T2", kind: prepare, ts: 0, writes: w("b")},                                               // other keys are free
			{txn: "T3", kind: commitOne, ts: 0, ranges: span("a\x00", "c"), writes: w("d"), conflict: true}, // b locked by T2
			{txn: "T3", kind: commitOne, ts: 0, ranges: span("a\x00", "b"), writes: w("d")},
		}},
		{"read lock blocks writers, not readers", []op{
			{txn: "R1", kind: prepare, ts: 0, reads: []string{"a"}, writes: w("r1")},
			{txn: "R2", kind: prepare, ts: 0, reads: []string{"a"}, writes: w("r2")},
			{txn: "R3", kind: commitOne, ts: 0, reads: []string{"a"}, writes: w("r3")},
			{txn: "W", kind: prepare, ts: 0, writes: w("a"), conflict: true},
			{txn: "W", kind: commitOne, ts: 0, blind: true, writes: w("a"), conflict: true},
			{txn: "R1", kind: abort},
			{txn: "W", kind: commitOne, ts: 0, blind: true, writes: w("a"), conflict: true}, // R2 still reads a
			{txn: "R2", kind: abort},
			{txn: "W", kind: commitOne, ts: 0, blind: true, writes: w("a")},
		}},
		{"read lock on an existing key", []op{
			{txn: "setup", kind: commitOne, blind: true, writes: w("a")},
			{txn: "R", kind: prepare, ts: 1, reads: []string{"a"}, writes: w("r")},
			{txn: "W", kind: prepare, ts: 1, writes: w("a"), conflict: true},
			{txn: "R", kind: commit, ts: 5},
			{txn: "W", kind: prepare, ts: 1, writes: w("a")},
		}},
		{"range lock blocks writes inside only", []op{
			{txn: "S", kind: prepare, ts: 0, ranges: span("c", "f"), writes: w("z")},
			{txn: "W", kind: commitOne, ts: 0, blind: true, writes: w("d"), conflict: true},
			{txn: "W", kind: commitOne, ts: 0, blind: true, writes: w("c"), conflict: true}, // lo inclusive
			{txn: "W", kind: prepare, ts: 0, writes: w("e\xff"), conflict: true},
			{txn: "W", kind: commitOne, ts: 0, writes: w("b", "d"), conflict: true}, // one key of several
			{txn: "W", kind: commitOne, ts: 0, blind: true, writes: w("f")},         // hi exclusive
			{txn: "W", kind: commitOne, ts: 0, blind: true, writes: w("b")},
			{txn: "S2", kind: prepare, ts: 2, ranges: span("a", "e")}, // ranges do not block ranges
			{txn: "S", kind: abort},
			{txn: "W", kind: commitOne, ts: 0, blind: true, writes: w("e")},                 // S released; S2 ends at e
			{txn: "W", kind: commitOne, ts: 0, blind: true, writes: w("d"), conflict: true}, // S2 covers d
		}},
		{"unbounded range lock", []op{
			{txn: "S", kind: prepare, ts: 0, ranges: from("m")},
			{txn: "W", kind: commitOne, ts: 0, blind: true, writes: w("\xff\xff"), conflict: true},
			{txn: "W", kind: commitOne, ts: 0, blind: true, writes: w("l")},
		}},
		{"abort releases every lock", []op{
			{txn: "T", kind: prepare, ts: 0, reads: []string{"r"}, ranges: span("m", "n"), writes: w("a")},
			{txn: "U", kind: commitOne, blind: true, writes: w("a"), conflict: true},
			{txn: "U", kind: commitOne, blind: true, writes: w("r"), conflict: true},
			{txn: "U", kind: commitOne, blind: true, writes: w("m1"), conflict: true},
			{txn: "T", kind: abort},
			{txn: "U", kind: commitOne, blind: true, writes: w("a")},
			{txn: "U", kind: commitOne, blind: true, writes: w("r")},
			{txn: "U", kind: commitOne, blind: true, writes: w("m1")},
		}},
		{"commit releases every lock", []op{
			{txn: "T", kind: prepare, ts: 0, reads: []string{"r"}, ranges: span("m", "n"), writes: w("a")},
			{txn: "U", kind: prepare, ts: 0, writes: w("a"), conflict: true},
			{txn: "T", kind: commit, ts: 1},
			{txn: "U", kind: prepare, ts: 0, writes: w("a"), conflict: true}, // a@1 is newer than 0
			{txn: "U", kind: prepare, ts: 1, writes: w("a", "r", "m1")},
		}},
		{"own locks do not conflict on commit", []op{
			{txn: "T", kind: prepare, ts: 0, reads: []string{"a"}, ranges: span("a", "c"), writes: w("a", "b")},
			{txn: "T", kind: commit, ts: 1},
		}},
		{"a no vote takes no locks", []op{
			{txn: "setup", kind: commitOne, blind: true, writes: w("a")}, // a@1
			{txn: "T", kind: prepare, ts: 0, reads: []string{"r"}, ranges: span("m", "n"), writes: w("a", "b"), conflict: true},
			{txn: "U", kind: commitOne, blind: true, writes: w("b", "r", "m1")},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, clock := start(t)
			sc := &scenario{s: s, clock: clock, reqs: make(map[string]*Request[string])}
			for i, o := range c.steps {
				sc.run(t, i, o)
			}
		})
	}
}

func TestCommitInstallsAtGivenTS(t *testing.T) {
	s, clock := start(t)
	r := NewRequest[string]()
	r.Kind, r.TS = KindPrepare, 0
	r.Writes = []Write[string]{put("a", "A"), put("b", "B")}
	s.Do(r)
	require.NoError(t, r.Err)

	// Prepared but not committed: invisible at any timestamp.
	_, found := get(t, s, 100, "a")
	require.False(t, found)

	r.Kind, r.TS = KindCommit, 7
	s.Do(r)
	require.NoError(t, r.Err)

	_, found = get(t, s, 6, "a")
	require.False(t, found, "the commit must not be visible before its timestamp")
	v, found := get(t, s, 7, "a")
	require.True(t, found)
	require.Equal(t, "A", v)
	v, found = get(t, s, 8, "b")
	require.True(t, found)
	require.Equal(t, "B", v)

	require.Empty(t, clock.Dones(), "a two-phase commit is marked done by the coordinator, not the shard")

	// The version carries timestamp 7: a transaction started at 6 conflicts,
	// one started at 7 does not.
	sc := &scenario{s: s, clock: clock, reqs: make(map[string]*Request[string])}
	sc.run(t, 0, op{txn: "U", kind: KindCommitOne, ts: 6, writes: []Write[string]{put("a", "x")}, conflict: true})
	sc.run(t, 1, op{txn: "U", kind: KindCommitOne, ts: 7, writes: []Write[string]{put("a", "x")}})
}

func TestGetMVCC(t *testing.T) {
	s, _ := start(t)
	t1 := blind(t, s, put("k", "v1"))
	t2 := blind(t, s, put("k", "v2"))
	t3 := blind(t, s, del("k"))
	t4 := blind(t, s, put("k", "v4"))
	require.Equal(t, []uint64{1, 2, 3, 4}, []uint64{t1, t2, t3, t4})

	cases := []struct {
		ts    uint64
		want  string
		found bool
	}{
		{0, "", false},
		{1, "v1", true},
		{2, "v2", true},
		{3, "", false}, // tombstone hides the key
		{4, "v4", true},
		{1000, "v4", true},
	}
	for _, c := range cases {
		v, found := get(t, s, c.ts, "k")
		require.Equal(t, c.found, found, "Get at %d", c.ts)
		require.Equal(t, c.want, v, "Get at %d", c.ts)
	}

	blind(t, s, put("j", "J"))
	for _, c := range []struct {
		key   string
		ts    uint64
		want  string
		found bool
	}{{"missing", 5, "", false}, {"j", 5, "J", true}, {"j", 4, "", false}, {"k", 3, "", false}} {
		v, found := get(t, s, c.ts, c.key)
		require.Equal(t, c.found, found, "%s at %d", c.key, c.ts)
		require.Equal(t, c.want, v, "%s at %d", c.key, c.ts)
	}
}

func TestDeleteOfAbsentKeyInstallsNothing(t *testing.T) {
	s, clock := start(t)
	sc := &scenario{s: s, clock: clock, reqs: make(map[string]*Request[string])}
	before := blind(t, s, put("other", "o"))
	blind(t, s, del("ghost")) // fast path
	sc.run(t, 0, op{txn: "P", kind: KindPrepare, ts: before, writes: []Write[string]{del("ghost2")}})
	sc.run(t, 1, op{txn: "P", kind: KindCommit, ts: clock.Next()})

	// Had a tombstone been installed for either delete, a transaction that
	// started before them would be stale.
	sc.run(t, 2, op{txn: "T", kind: KindCommitOne, ts: before, reads: []string{"ghost", "ghost2"},
		ranges: []Span{{Lo: "ghost", HiInf: true}}, writes: []Write[string]{put("z", "z")}})
	_, found := get(t, s, clock.Last(), "ghost")
	require.False(t, found)

	// Deleting an already deleted key installs nothing either.
	blind(t, s, put("k", "v"))
	deleted := blind(t, s, del("k"))
	blind(t, s, del("k"))
	sc.run(t, 3, op{txn: "T", kind: KindCommitOne, ts: deleted, reads: []string{"k"}, writes: []Write[string]{put("y", "y")}})
	sc.run(t, 4, op{txn: "T", kind: KindCommitOne, ts: deleted - 1, reads: []string{"k"}, writes: []Write[string]{put("y", "y")}, conflict: true})
}

// KV is one entry a cursor stood on.
type KV[V any] struct {
	Key    string
	Value  V
	Expiry int64
}

// scanAll walks a cursor over sp at ts and returns every entry.
func scanAll(t *testing.T, s *Shard[string], ts uint64, sp Span) []KV[string] {
	t.Helper()
	var out []KV[string]
	var c Cursor[string]
	for s.Seek(&c, sp, ts, 1); c.Valid(); c.Next() {
		require.True(t, sp.Contains(c.Key()), "entry %q outside %s", c.Key(), sp)
		if len(out) > 0 {
			require.Greater(t, c.Key(), out[len(out)-1].Key, "entries in key order")
		}
		out = append(out, KV[string]{Key: c.Key(), Value: c.Value(), Expiry: c.Expiry()})
		require.Less(t, len(out), 1_000_000, "scan does not terminate")
	}
	return out
}

func TestScanCursor(t *testing.T) {
	s, _ := start(t)
	var all []Write[string]
	for i := range 100 {
		all = append(all, put(fmt.Sprintf("k%03d", i), fmt.Sprintf("v%d", i)))
	}
	ts1 := blind(t, s, all...)
	// Delete every third key and rewrite every fifth, at a later timestamp.
	var later []Write[string]
	for i := range 100 {
		k := fmt.Sprintf("k%03d", i)
		switch {
		case i%3 == 0:
			later = append(later, del(k))
		case i%5 == 0:
			later = append(later, put(k, "new"))
		}
	}
	ts2 := blind(t, s, later...)

	want := func(ts uint64, lo, hi int) []KV[string] {
		var out []KV[string]
		for i := lo; i < hi; i++ {
			switch {
			case ts >= ts2 && i%3 == 0:
			case ts >= ts2 && i%5 == 0:
				out = append(out, KV[string]{Key: fmt.Sprintf("k%03d", i), Value: "new"})
			default:
				out = append(out, KV[string]{Key: fmt.Sprintf("k%03d", i), Value: fmt.Sprintf("v%d", i)})
			}
		}
		return out
	}

	require.Equal(t, want(ts1, 0, 100), scanAll(t, s, ts1, Span{Lo: "", HiInf: true}))
	require.Equal(t, want(ts2, 0, 100), scanAll(t, s, ts2, Span{Lo: "", HiInf: true}))
	require.Equal(t, want(ts2, 10, 50), scanAll(t, s, ts2, Span{Lo: "k010", Hi: "k050"}))
	require.Empty(t, scanAll(t, s, ts1, Span{Lo: "k010\x00", Hi: "k011"}))
	require.Empty(t, scanAll(t, s, ts1, Span{Lo: "k050", Hi: "k010"}), "an empty span")
	require.Empty(t, scanAll(t, s, 0, Span{Lo: "", HiInf: true}), "nothing is visible before the first commit")
}

func TestScanSkipsLongTombstoneRuns(t *testing.T) {
	s, _ := start(t)
	const n = 5000
	var puts, dels []Write[string]
	for i := range n {
		k := fmt.Sprintf("dead%05d", i)
		puts = append(puts, put(k, "x"))
		dels = append(dels, del(k))
	}
	blind(t, s, puts...)
	blind(t, s, dels...)
	ts := blind(t, s, put("live", "L"))
	blind(t, s, put("zzz", "after")) // outside the span

	require.Equal(t, []KV[string]{{Key: "live", Value: "L"}}, scanAll(t, s, ts, Span{Lo: "", Hi: "zzz"}))
	// Scanning at a timestamp before the deletes sees every key.
	require.Len(t, scanAll(t, s, 1, Span{Lo: "", HiInf: true}), n)
}

func TestCommitOneWantOld(t *testing.T) {
	s, _ := start(t)
	do := func(w Write[string]) *Request[string] {
		r := NewRequest[string]()
		r.Kind, r.Blind, r.WantOld, r.Writes = KindCommitOne, true, true, []Write[string]{w}
		s.Do(r)
		require.NoError(t, r.Err)
		return r
	}
	r := do(put("k", "v1"))
	require.False(t, r.OldFound, "no old value for a new key")
	r = do(put("k", "v2"))
	require.True(t, r.OldFound)
	require.Equal(t, "v1", r.Old)
	r = do(del("k"))
	require.True(t, r.OldFound)
	require.Equal(t, "v2", r.Old)
	r = do(put("k", "v3"))
	require.False(t, r.OldFound, "a tombstone is no old value")
	require.Empty(t, r.Old)
}

func TestClockDoneOnlyForFastPath(t *testing.T) {
	s, clock := start(t)
	sc := &scenario{s: s, clock: clock, reqs: make(map[string]*Request[string])}

	r := NewRequest[string]()
	r.Kind, r.Blind, r.Writes = KindCommitOne, true, []Write[string]{put("a", "1")}
	s.Do(r)
	require.Equal(t, uint64(1), r.CommitTS)
	// The shard marks the timestamp done before it replies.
	require.Equal(t, []uint64{1}, clock.Dones())

	// A fast-path conflict allocates no timestamp (they must stay dense)
	// and marks nothing done.
	sc.run(t, 0, op{txn: "T", kind: KindCommitOne, ts: 0, writes: []Write[string]{put("a", "2")}, conflict: true})
	require.Equal(t, uint64(1), clock.Last())
	require.Equal(t, []uint64{1}, clock.Dones())

	// Two-phase commits and aborts leave the clock alone.
	sc.run(t, 1, op{txn: "P", kind: KindPrepare, ts: 1, writes: []Write[string]{put("a", "3")}})
	sc.run(t, 2, op{txn: "P", kind: KindCommit, ts: 50})
	sc.run(t, 3, op{txn: "Q", kind: KindPrepare, ts: 50, writes: []Write[string]{put("b", "3")}})
	sc.run(t, 4, op{txn: "Q", kind: KindAbort})
	require.Equal(t, uint64(1), clock.Last())
	require.Equal(t, []uint64{1}, clock.Dones())

	sc.run(t, 5, op{txn: "T", kind: KindCommitOne, ts: 50, writes: []Write[string]{put("a", "4")}})
	require.Equal(t, []uint64{1, 2}, clock.Dones())
}

// TestConcurrentCounter increments one key from many goroutines with
// read-validate-write fast-path commits; lost updates would show as a
// final count below the number of successful commits.
func TestConcurrentCounter(t *testing.T) {
	s, clock := start(t)
	blind(t, s, put("n", "0"))
	const goroutines, per = 8, 50
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			r := NewRequest[string]()
			for done := 0; done < per; {
				// Every timestamp the fake clock has handed out is installed
				// before Done and the reply, so reading at a Done timestamp
				// is safe; Last may be a commit in flight, so use Dones.
				ds := clock.Dones()
				start := ds[len(ds)-1]
				val, found := s.ReadAt("n", start, 0)
				if !assert.True(t, found) {
					return
				}
				var v int
				_, err := fmt.Sscan(val, &v)
				if !assert.NoError(t, err) {
					return
				}
				r.Reset()
				r.Kind, r.TS = KindCommitOne, start
				r.Reads = append(r.Reads, "n")
				r.Writes = append(r.Writes, put("n", fmt.Sprint(v+1)))
				s.Do(r)
				if r.Err == nil {
					done++
				} else if !assert.ErrorIs(t, r.Err, errs.ErrConflict) {
					return
				}
			}
		})
	}
	wg.Wait()
	v, found := get(t, s, clock.Last(), "n")
	require.True(t, found)
	require.Equal(t, fmt.Sprint(goroutines*per), v)
}

// TestBatchedRequests queues many requests before waiting for any, so the
// shard drains several per wake-up; every one must be answered, fast-path
// commits must get dense timestamps and be marked done in commit order.
func TestBatchedRequests(t *testing.T) {
	s, clock := start(t)
	const n = 300 // more than the inbox holds and more than one batch
	reqs := make([]*Request[string], n)
	for i := range reqs {
		r := NewRequest[string]()
		r.Kind, r.Blind, r.Writes = KindCommitOne, true, []Write[string]{put(fmt.Sprintf("k%03d", i), fmt.Sprint(i))}
		reqs[i] = r
	}
	var senders sync.WaitGroup
	senders.Go(func() {
		for _, r := range reqs {
			s.Send(r)
		}
	})
	var tss []uint64
	for i, r := range reqs {
		s.Wait(r)
		require.NoError(t, r.Err)
		tss = append(tss, r.CommitTS)
		// An answered commit is installed: a read at its timestamp sees it.
		v, found := get(t, s, r.CommitTS, fmt.Sprintf("k%03d", i))
		require.True(t, found)
		require.Equal(t, fmt.Sprint(i), v)
	}
	senders.Wait()
	for i, ts := range tss {
		require.Equal(t, uint64(i+1), ts, "fast-path timestamps are dense, in inbox order")
	}
	require.Equal(t, tss, clock.Dones())
}

func TestUnknownKind(t *testing.T) {
	s, _ := start(t)
	r := NewRequest[string]()
	r.Kind = Kind(200)
	s.Do(r)
	require.ErrorIs(t, r.Err, errs.ErrConfig)
}

// TestQueuedVacuumsShareOnePass: vacuum requests that arrive while a pass
// runs are served together by one pass at the newest of their horizons,
// not by one pass each, oldest first.
func TestQueuedVacuumsShareOnePass(t *testing.T) {
	clock := &fakeClock{}
	stop := make(chan struct{})
	s := New(Config[string]{ID: 0, SkiplistP: 0.25, Seed: 1, Clock: clock, Stop: stop, InboxSize: 16,
		Load: func(install func(string, uint64, string, int64)) {
			// Twice each key: the older version is prunable at horizon 2.
			for i := range 3 * vacuumSlice { // a pass of several slices
				k := fmt.Sprintf("k%04d", i)
				install(k, 1, "old", 0)
				install(k, 2, "new", 0)
			}
		}})
	reqs := make([]*Request[string], 4)
	for i := range reqs {
		reqs[i] = NewRequest[string]()
		reqs[i].Kind, reqs[i].TS = KindVacuum, uint64(i) // horizons 0..3
		s.Send(reqs[i])                                  // queued before the shard runs: all in its first batch
	}
	go s.Run()
	defer func() { close(stop); <-s.Exited() }()
	for _, r := range reqs {
		s.Wait(r)
		require.NoError(t, r.Err)
		require.Equal(t, uint64(1), r.Vacuumed.Passes)
	}
	require.Zero(t, reqs[0].Vacuumed.Versions, "horizon 0 keeps every version")
	for _, r := range reqs[1:] {
		require.Equal(t, uint64(3*vacuumSlice), r.Vacuumed.Versions, "one pass at horizon 3 prunes every old version")
	}
	st := NewRequest[string]()
	st.Kind = KindStats
	s.Do(st)
	require.Equal(t, uint64(2), st.Stats.Vacuum.Passes, "the three queued requests share one pass")
}

// Horizon is Visible: the fake has no snapshots.
func (c *fakeClock) Horizon() uint64 { return c.Visible() }
