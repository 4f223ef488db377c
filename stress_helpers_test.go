package fluxmap_test

import (
	"sync"
	"sync/atomic"
)

// firstFailure collects the first error any of a stress test's goroutines
// hits and tells the others to stop.
type firstFailure struct {
	stop atomic.Bool
	mu   sync.Mutex
	err  error
}

func (f *firstFailure) fail(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
	f.stop.Store(true)
}

func (f *firstFailure) first() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
