package fanout

import (
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestRunCallsEveryIndexOnceAndJoinsErrors(t *testing.T) {
	var opts []goleak.Option
	for _, f := range LeakOptions {
		opts = append(opts, goleak.IgnoreTopFunction(f))
	}
	defer goleak.VerifyNone(t, opts...)
	var seen [100]atomic.Int32
	boom := errors.New("boom")
	err := Run(100, 4, func(i int) error {
		seen[i].Add(1)
		if i == 42 {
			return boom
		}
		return nil
	})
	require.ErrorIs(t, err, boom)
	for i := range seen {
		require.Equal(t, int32(1), seen[i].Load(), "index %d", i)
	}
	require.NoError(t, Run(0, 4, func(int) error { return boom }))
}
