package fluxetcd_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/fluxmap/fluxmap/fluxetcd/internal/loopback"
)

// testCluster is a real etcd cluster run in this process on loopback
// ports chosen at run time, its data in a temporary directory.
type testCluster struct {
	*loopback.Cluster
}

// startCluster starts an n-member cluster for the test; tune, if not nil,
// adjusts each member's configuration before it starts.
func startCluster(t testing.TB, n int, tune func(*embed.Config)) *testCluster {
	t.Helper()
	c, err := newCluster(t.TempDir(), n, tune)
	if c != nil {
		t.Cleanup(c.Close)
	}
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	return c
}

// newCluster starts an n-member cluster under dir, its members not
// syncing to disk (test data need not survive a power cut). The caller
// closes it, also when newCluster fails after starting some members.
func newCluster(dir string, n int, tune func(*embed.Config)) (*testCluster, error) {
	c, err := loopback.Start(dir, n, func(cfg *embed.Config) {
		cfg.UnsafeNoFsync = true
		if tune != nil {
			tune(cfg)
		}
	})
	if c == nil {
		return nil, err
	}
	return &testCluster{c}, err
}

// client returns a client of the cluster, closed when the test ends.
func (c *testCluster) client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   c.Endpoints(),
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// ctxFor returns a context that ends with the test, at the latest after d.
func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
