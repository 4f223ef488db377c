package fluxmap_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fluxmap/fluxmap"
)

// The kill -9 test re-runs this test binary as a child that commits until
// it is killed. These variables carry the child's settings.
const (
	killChildDir    = "FLUXMAP_DURABLE_CHILD_DIR"    // database directory; set only in the child
	killChildMode   = "FLUXMAP_DURABLE_CHILD_MODE"   // "full" or "relaxed"
	killChildShards = "FLUXMAP_DURABLE_CHILD_SHARDS" // shard count
)

// killPairs is K: transaction i writes the pair a<i%K>, b<i%K>.
const killPairs = 20

// openKillDB opens the kill test's database, as the child and as the
// parent's checker do.
func openKillDB(dir, mode string, shards int) (*fluxmap.DB[string, int64], error) {
	opts := fluxmap.PersistenceOptions{Dir: dir, SegmentSize: 16 << 10, PoolSize: 2}
	b := fluxmap.New[string, int64]().Shards(shards).CheckpointAfterBytes(32 << 10)
	if mode == "full" {
		b.DurabilityFull(opts)
	} else {
		b.DurabilityRelaxed(opts).FlushInterval(5 * time.Millisecond)
	}
	return b.Build(context.Background())
}

// TestDurableChild is the child side of TestDurableKill9; run on its own
// (without the environment the parent sets) it does nothing. It opens the
// database, prints "start <i>" with the first transaction number it will
// use (one past the largest value it found), then commits transactions
// i, i+1, ... and prints "ack <i>" once each Commit has returned, until it
// is killed.
func TestDurableChild(t *testing.T) {
	dir := os.Getenv(killChildDir)
	if dir == "" {
		return
	}
	shards, err := strconv.Atoi(os.Getenv(killChildShards))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: bad shard count:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	db, err := openKillDB(dir, os.Getenv(killChildMode), shards)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: open:", err)
		os.Exit(2)
	}
	entries, err := db.PrefixScan(ctx, "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: scan:", err)
		os.Exit(2)
	}
	var start int64
	for _, e := range entries {
		start = max(start, e.Value)
	}
	start++
	// os.Stdout is unbuffered: each line is one write, and a write to a
	// pipe this small is atomic, so the parent never sees half a line.
	fmt.Fprintf(os.Stdout, "start %d\n", start)
	for i := start; ; i++ {
		p := i % killPairs
		err := db.Transaction(ctx, func(tx *fluxmap.Tx[string, int64]) error {
			if err := tx.Insert(fmt.Sprintf("a%02d", p), i); err != nil {
				return err
			}
			return tx.Insert(fmt.Sprintf("b%02d", p), i)
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "child: commit:", err)
			os.Exit(3)
		}
		fmt.Fprintf(os.Stdout, "ack %d\n", i)
	}
}

// TestDurableKill9 kills a committing child process with SIGKILL at a
// random moment 20-200 ms after its first acknowledgement, then reopens its
// database and checks that every acknowledged transaction survived, that
// no pair holds half a transaction (a and b land on different shards of 4
// or 5), and that no value comes from a transaction the child never
// started. Each directory is killed several times in a row, so recovery
// also runs on images a previous recovery produced, with the shard count
// changing between runs. Relaxed mode must pass the same checks: a process
// kill loses nothing already written to the OS.
func TestDurableKill9(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	rounds := durableCount(6, 21, 90)
	const killsPerDir = 3
	for _, mode := range []string{"full", "relaxed"} {
		t.Run(mode, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
			var dir string
			var lastAck [killPairs]int64 // per pair; 0: none yet
			for round := range rounds {
				if round%killsPerDir == 0 {
					dir = t.TempDir()
					lastAck = [killPairs]int64{}
				}
				shards := 4 + round%2
				delay := time.Duration(20+rng.IntN(181)) * time.Millisecond
				maxStarted := killChildRound(t, exe, dir, mode, shards, delay, &lastAck)
				killCheck(t, dir, mode, shards, maxStarted, &lastAck, round)
				if t.Failed() {
					t.Logf("round %d: killed after %v", round, delay)
					return
				}
			}
		})
	}
}

// killChildRound runs one child until it is killed and returns the largest
// transaction number it may have started; lastAck is updated with its
// acknowledgements.
func killChildRound(t *testing.T, exe, dir, mode string, shards int, delay time.Duration, lastAck *[killPairs]int64) int64 {
	t.Helper()
	cmd := exec.Command(exe, "-test.run=^TestDurableChild$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		killChildDir+"="+dir, killChildMode+"="+mode, killChildShards+"="+strconv.Itoa(shards))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var start, last int64 = -1, -1
	handle := func(line string) {
		switch {
		case strings.HasPrefix(line, "start "):
			start, err = strconv.ParseInt(strings.TrimPrefix(line, "start "), 10, 64)
			require.NoError(t, err)
		case strings.HasPrefix(line, "ack "):
			i, err := strconv.ParseInt(strings.TrimPrefix(line, "ack "), 10, 64)
			require.NoError(t, err)
			if last >= 0 {
				require.Equal(t, last+1, i, "acks out of order")
			} else {
				require.Equal(t, start, i, "first ack is not the announced start")
			}
			last = i
			lastAck[i%killPairs] = i
		}
	}
	var kill <-chan time.Time
	watchdog := time.After(60 * time.Second)
	for line := range lines {
		handle(line)
		if last >= 0 && kill == nil {
			kill = time.After(delay)
			break
		}
	}
	for kill != nil {
		select {
		case line, ok := <-lines:
			if !ok {
				kill = nil
				break
			}
			handle(line)
		case <-kill:
			require.NoError(t, cmd.Process.Kill()) // SIGKILL
			kill = nil
		case <-watchdog:
			_ = cmd.Process.Kill()
			t.Fatalf("child never got killed")
		}
	}
	for line := range lines {
		handle(line)
	}
	err = cmd.Wait()
	require.Error(t, err, "the child exited by itself; stderr:\n%s", stderr.String())
	require.Equal(t, -1, cmd.ProcessState.ExitCode(), "the child was not killed by the signal; stderr:\n%s", stderr.String())
	require.GreaterOrEqual(t, last, int64(0), "the child acknowledged nothing; stderr:\n%s", stderr.String())
	t.Logf("shards %d: acks %d..%d, killed %v after the first", shards, start, last, delay)
	return last + 1 // the one that may have been in flight
}

// killCheck reopens the database and checks every pair.
func killCheck(t *testing.T, dir, mode string, shards int, maxStarted int64, lastAck *[killPairs]int64, round int) {
	t.Helper()
	db, err := openKillDB(dir, mode, shards)
	require.NoError(t, err, "round %d: reopen after kill", round)
	defer func() { require.NoError(t, db.Close()) }()
	got := durableState(t, db)
	require.LessOrEqual(t, len(got), 2*killPairs, "round %d: unexpected keys", round)
	for p := range int64(killPairs) {
		ka, kb := fmt.Sprintf("a%02d", p), fmt.Sprintf("b%02d", p)
		a, okA := got[ka]
		b, okB := got[kb]
		require.Equal(t, okA, okB, "round %d pair %d: half a transaction (a present %v, b present %v)", round, p, okA, okB)
		require.Equal(t, a, b, "round %d pair %d: half a transaction", round, p)
		if lastAck[p] > 0 {
			require.True(t, okA, "round %d pair %d: acknowledged txn %d lost entirely", round, p, lastAck[p])
			require.GreaterOrEqual(t, a, lastAck[p], "round %d pair %d: acknowledged txn %d lost", round, p, lastAck[p])
		}
		if okA {
			require.Equal(t, p, a%killPairs, "round %d pair %d: value %d belongs to another pair", round, p, a)
			require.LessOrEqual(t, a, maxStarted, "round %d pair %d: value %d from a txn never started", round, p, a)
			// What survived counts as acknowledged for the next round: the
			// next child starts past it and must not lose it either.
			lastAck[p] = a
		}
	}
}
