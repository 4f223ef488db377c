// Package loopback runs a real etcd cluster inside the process, its
// members on loopback ports chosen at run time and their data under a
// directory the caller gives, with logging off. The package's tests and
// its benchmark driver (cmd/etcdbench) use it; nothing here is for
// production.
package loopback

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Cluster is an etcd cluster of embedded members. Its methods are for one
// goroutine at a time (StartAll starts members on goroutines of its own
// and waits for them).
type Cluster struct {
	// Cfgs are the members' configurations, kept for restarts: a member
	// restarts from its data directory with the same ports.
	Cfgs    []*embed.Config
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

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	ports, err := freePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// Start starts an n-member cluster under dir and waits until every member
// serves. tune, if not nil, adjusts each member's configuration before it
// starts. The caller closes the cluster, also when Start fails after
// starting some members (the Cluster is then not nil).
func Start(dir string, n int, tune func(*embed.Config)) (*Cluster, error) {
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	c := &Cluster{members: make([]*embed.Etcd, n)}
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
		// Elections on loopback need not wait for a WAN's delays.
		cfg.TickMs, cfg.ElectionMs = 20, 200
		if tune != nil {
			tune(cfg)
		}
		initial = append(initial, fmt.Sprintf("%s=%s", cfg.Name, cfg.AdvertisePeerUrls[0].String()))
		c.Cfgs = append(c.Cfgs, cfg)
	}
	for _, cfg := range c.Cfgs {
		cfg.InitialCluster = strings.Join(initial, ",")
	}
	return c, c.StartAll()
}

// StartMember starts (or restarts) member i and waits until it serves.
func (c *Cluster) StartMember(i int) error {
	e, err := embed.StartEtcd(c.Cfgs[i])
	if err != nil {
		return err
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		e.Close()
		return fmt.Errorf("etcd member %d not ready after 30s", i)
	}
	c.members[i] = e
	return nil
}

// StartAll starts (or restarts) the members numbered in which, all of
// them if which is empty, together: a member waits for a quorum to elect a
// leader before it serves, so members started one by one could wait for
// each other. Each goroutine writes only its own member's slot.
func (c *Cluster) StartAll(which ...int) error {
	if len(which) == 0 {
		for i := range c.Cfgs {
			which = append(which, i)
		}
	}
	errs := make(chan error, len(which))
	for _, i := range which {
		go func() { errs <- c.StartMember(i) }()
	}
	var first error
	for range which {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Stop stops member i, if it runs.
func (c *Cluster) Stop(i int) {
	if c.members[i] != nil {
		c.members[i].Close()
		c.members[i] = nil
	}
}

// StopAll stops every member: the followers together, then the leader,
// which then has no one to hand its leadership to and stops at once.
func (c *Cluster) StopAll() {
	leader := c.leaderNow()
	var stops sync.WaitGroup
	for i := range c.members {
		if i != leader {
			stops.Go(func() { c.Stop(i) })
		}
	}
	stops.Wait()
	if leader >= 0 {
		c.Stop(leader)
	}
}

// Close stops every member. The data directories stay.
func (c *Cluster) Close() { c.StopAll() }

// Endpoints returns every member's client URL, stopped members included.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, cfg := range c.Cfgs {
		eps = append(eps, cfg.AdvertiseClientUrls[0].String())
	}
	return eps
}

// Leader returns the index of the member that leads the cluster, waiting
// for an election if there is none.
func (c *Cluster) Leader() int {
	for {
		if i := c.leaderNow(); i >= 0 {
			return i
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// leaderNow returns the index of the running member that leads, or -1.
func (c *Cluster) leaderNow() int {
	for i, m := range c.members {
		if m != nil && m.Server.Leader() == m.Server.MemberID() {
			return i
		}
	}
	return -1
}
