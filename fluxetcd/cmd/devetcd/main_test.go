package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// syncBuffer is a bytes.Buffer safe for the writer and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunServes starts a one-member cluster on a free port, writes and
// reads a key through the endpoint it prints, and stops it.
func TestRunServes(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-port", "0", "-dir", t.TempDir()}, &out, &out) }()
	var endpoint string
	require.Eventually(t, func() bool {
		_, after, ok := strings.Cut(out.String(), "endpoints: ")
		endpoint, _, _ = strings.Cut(after, "\n")
		return ok && strings.HasPrefix(endpoint, "http://127.0.0.1:")
	}, 30*time.Second, 10*time.Millisecond)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer cli.Close()
	_, err = cli.Put(ctx, "k", "v")
	require.NoError(t, err)
	resp, err := cli.Get(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, "v", string(resp.Kvs[0].Value))
	cancel()
	require.NoError(t, <-done)
	require.Contains(t, out.String(), "stopping")
}

func TestRunRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-members", "2"}, {"-port", "70000"}} {
		err := run(t.Context(), args, &bytes.Buffer{}, &bytes.Buffer{})
		require.Error(t, err, "%v", args)
	}
}
