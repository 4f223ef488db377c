package fluxetcd_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// testCluster is a real etcd cluster run in this process on loopback
// ports chosen at run time, its data in a temporary directory.
type testCluster struct {
	cfgs    []*embed.Config
	members []*embed.Etcd // nil while a member is stopped
}

// freePorts returns n loopback TCP ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	ports := make([]int, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// startCluster starts an n-member cluster for the test; tune, if not nil,
// adjusts each member's configuration before it starts.
func startCluster(t testing.TB, n int, tune func(*embed.Config)) *testCluster {
	t.Helper()
	c, err := newCluster(t.TempDir(), n, tune)
	if c != nil {
		t.Cleanup(c.close)
	}
	if err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	return c
}

// newCluster starts an n-member cluster under dir. The caller closes it,
// also when newCluster fails after starting some members.
func newCluster(dir string, n int, tune func(*embed.Config)) (*testCluster, error) {
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	c := &testCluster{members: make([]*embed.Etcd, n)}
	var initial []string
	for i := range n {
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.Dir = fmt.Sprintf("%s/%s", dir, cfg.Name)
		peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i])}
		client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		cfg.UnsafeNoFsync = true // test data need not survive a power cut
		cfg.TickMs, cfg.ElectionMs = 20, 200
		if tune != nil {
			tune(cfg)
		}
		initial = append(initial, fmt.Sprintf("%s=%s", cfg.Name, cfg.AdvertisePeerUrls[0].String()))
		c.cfgs = append(c.cfgs, cfg)
	}
	for _, cfg := range c.cfgs {
		cfg.InitialCluster = strings.Join(initial, ",")
	}
	return c, c.startAll()
}

// startAll starts (or restarts) the members numbered in which, all of
// them if which is empty, together: a member waits for a quorum to elect a
// leader before it serves, so members started one by one could wait for
// each other.
func (c *testCluster) startAll(which ...int) error {
	if len(which) == 0 {
		for i := range c.cfgs {
			which = append(which, i)
		}
	}
	errs := make(chan error, len(which))
	for _, i := range which {
		go func() { errs <- c.start(i) }()
	}
	var first error
	for range which {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// start starts (or restarts) member i and waits until it serves.
// Members start on their own goroutines; each writes only its own slot.
func (c *testCluster) start(i int) error {
	e, err := embed.StartEtcd(c.cfgs[i])
	if err != nil {
		return err
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		e.Close()
		return fmt.Errorf("member %d not ready after 30s", i)
	}
	c.members[i] = e
	return nil
}

// stop stops member i.
func (c *testCluster) stop(i int) {
	if c.members[i] != nil {
		c.members[i].Close()
		c.members[i] = nil
	}
}

// stopAll stops every member: the followers together, then the leader,
// which then has no one to hand its leadership to and stops at once.
func (c *testCluster) stopAll() {
	leader := -1
	for i, m := range c.members {
		if m != nil && m.Server.Leader() == m.Server.MemberID() {
			leader = i
		}
	}
	var stops sync.WaitGroup
	for i := range c.members {
		if i != leader {
			stops.Go(func() { c.stop(i) })
		}
	}
	stops.Wait()
	if leader >= 0 {
		c.stop(leader)
	}
}

func (c *testCluster) close() { c.stopAll() }

// endpoints returns every member's client URL, stopped members included.
func (c *testCluster) endpoints() []string {
	var eps []string
	for _, cfg := range c.cfgs {
		eps = append(eps, cfg.AdvertiseClientUrls[0].String())
	}
	return eps
}

// client returns a client of the cluster, closed when the test ends.
func (c *testCluster) client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   c.endpoints(),
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

// leader returns the index of the member that leads the cluster, waiting
// for an election if there is none.
func (c *testCluster) leader() int {
	for {
		for i, m := range c.members {
			if m != nil && m.Server.Leader() == m.Server.MemberID() {
				return i
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}
