package fanout

import (
	"errors"
	"fmt"
	"sync"

	"github.com/panjf2000/ants/v2"
)

// Run calls fn(0..n-1) on at most workers goroutines and waits for all of
// them. It returns every error, joined. The pool is released before Run
// returns; its idle goroutines exit right after.
func Run(n, workers int, fn func(i int) error) error {
	if n == 0 {
		return nil
	}
	workers = max(1, min(workers, n))
	pool, err := ants.NewPool(workers, ants.WithDisablePurge(true))
	if err != nil {
		return fmt.Errorf("fluxmap: starting worker pool: %w", err)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		if err := pool.Submit(func() {
			defer wg.Done()
			errs[i] = fn(i)
		}); err != nil {
			wg.Done()
			errs[i] = err
		}
	}
	wg.Wait()
	// Every task has finished, so the pool's goroutines are idle: Release
	// tells them to exit and they do so on their own. Not ReleaseTimeout:
	// its wait for them is a loop that never blocks once the workers are
	// gone but the pool's clock goroutine has not yet run, and with
	// GOMAXPROCS=1 it was seen spinning past its own timeout (a checkpoint
	// and an open hung for minutes in stress runs).
	pool.Release()
	return errors.Join(errs...)
}

// LeakOptions names the goroutines that importing ants starts at package
// init for its default pool (a purge loop and a clock). They are not ours,
// live for the whole process, and goleak-based tests ignore them with these
// top-function names.
var LeakOptions = []string{
	"github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers",
	"github.com/panjf2000/ants/v2.(*poolCommon).ticktock",
}
