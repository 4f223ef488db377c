package shard

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap/internal/errs"
)

// fakeLog is a Log whose Sync fails once failSync is set. Only the writer
// goroutine calls its Log methods; syncs is read by the test.
type fakeLog struct {
	mu       sync.Mutex
	failSync bool
	appended []uint64
	syncs    int
}

var errFakeSync = errors.New("fake fsync failure")

func (l *fakeLog) Append(ts uint64, _ []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.appended = append(l.appended, ts)
	return nil
}
func (l *fakeLog) Flush() error { return nil }
func (l *fakeLog) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failSync {
		return errFakeSync
	}
	l.syncs++
	return nil
}
func (l *fakeLog) Recycle(uint64) error { return nil }
func (l *fakeLog) Size() int64          { return 0 }
func (l *fakeLog) Close() error         { return nil }

func (l *fakeLog) Syncs() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.syncs
}

// failure is one OnFail call.
type failure struct {
	ts          uint64
	mayBeLogged bool
}

// startDurable runs a durable shard with id over log until the test ends.
func startDurable(t *testing.T, id int, d *Durability[string]) *Shard[string] {
	t.Helper()
	if d.EncodeRecord == nil {
		d.EncodeRecord = func(dst []byte, _ uint64, _ []uint32, _ []Write[string], _ Cause) ([]byte, error) {
			return append(dst, 'r'), nil
		}
	}
	s, _ := startWith(t, func(c *Config[string]) { c.ID, c.Durability = id, d })
	return s
}

func commitOneKey(s *Shard[string], key string) *Request[string] {
	r := NewRequest[string]()
	r.Kind, r.Blind = KindCommitOne, true
	r.Writes = append(r.Writes, Write[string]{Key: key, Value: "v"})
	s.Do(r)
	return r
}

// TestWALFailureTellsLoggedFromRefused: a commit whose record the log took
// before its fsync failed may survive, so it fails with ErrCommitUnknown
// (and ErrPoisoned); a commit that reaches the writer after the failure is
// never handed to the log, so it fails with ErrPoisoned alone, meaning it
// did not take effect. OnFail hears of both, with the same distinction.
func TestWALFailureTellsLoggedFromRefused(t *testing.T) {
	log := &fakeLog{}
	var mu sync.Mutex
	var failed []failure
	var poison error
	s := startDurable(t, 0, &Durability[string]{
		Log:      log,
		Full:     true,
		OnPoison: func(err error) { poison = err },
		OnFail: func(ts uint64, mayBeLogged bool) {
			mu.Lock()
			defer mu.Unlock()
			failed = append(failed, failure{ts, mayBeLogged})
		},
	})

	ok := commitOneKey(s, "a")
	require.NoError(t, ok.Err)

	log.mu.Lock()
	log.failSync = true
	log.mu.Unlock()
	first := commitOneKey(s, "b")
	require.ErrorIs(t, first.Err, errs.ErrCommitUnknown, "its record was appended before the fsync failed")
	require.ErrorIs(t, first.Err, errs.ErrPoisoned)
	require.ErrorIs(t, first.Err, errFakeSync)
	require.ErrorIs(t, poison, errs.ErrPoisoned)
	require.NotErrorIs(t, poison, errs.ErrCommitUnknown, "the poisoning error itself says nothing about one commit")

	later := commitOneKey(s, "c")
	require.ErrorIs(t, later.Err, errs.ErrPoisoned)
	require.NotErrorIs(t, later.Err, errs.ErrCommitUnknown, "the log never took this record")

	log.mu.Lock()
	require.Equal(t, []uint64{ok.CommitTS, first.CommitTS}, log.appended)
	log.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []failure{{first.CommitTS, true}, {later.CommitTS, false}}, failed)
}

// TestRelaxedTriggerSyncsEveryShard: a Relaxed commit trigger counts the
// commits of every shard in its FlushGroup and, when it fires, makes a
// quiet shard with an unsynced record sync too, without that shard
// receiving another commit.
func TestRelaxedTriggerSyncsEveryShard(t *testing.T) {
	group := NewFlushGroup()
	quietLog, busyLog := &fakeLog{}, &fakeLog{}
	quiet := startDurable(t, 0, &Durability[string]{Log: quietLog, FlushCommits: 3, Flush: group})
	busy := startDurable(t, 1, &Durability[string]{Log: busyLog, FlushCommits: 3, Flush: group})

	require.NoError(t, commitOneKey(quiet, "q").Err)
	require.NoError(t, commitOneKey(busy, "b1").Err)
	require.Zero(t, quietLog.Syncs()+busyLog.Syncs(), "2 commits, below the trigger")
	require.NoError(t, commitOneKey(busy, "b2").Err)
	require.Equal(t, 1, busyLog.Syncs(), "the third commit in the group fires the trigger")
	require.Eventually(t, func() bool { return quietLog.Syncs() == 1 },
		5*time.Second, time.Millisecond, "the quiet shard's unsynced record must be synced")
}
