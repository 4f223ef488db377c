package main

import (
	"bytes"
	"net"
	"net/url"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// TestRun runs the example against a one-member etcd started in the test
// on a free loopback port, and checks every line it prints: the same lines
// as the embedded example's.
func TestRun(t *testing.T) {
	const want = `start: alice=100 bob=50 total=150
transfer 30 alice -> bob: committed
balances: alice=70 bob=80 total=150
transfer 500 bob -> alice: rolled back (insufficient funds: bob has 80, needs 500)
balances: alice=70 bob=80 total=150
`
	var out bytes.Buffer
	f := flags{endpoints: startEtcd(t), prefix: "example/", timeout: 30 * time.Second}
	if err := run(&out, f); err != nil {
		t.Fatalf("run: %v\noutput so far:\n%s", err, out.String())
	}
	if got := out.String(); got != want {
		t.Errorf("run printed:\n%s\nwant:\n%s", got, want)
	}
}

func startEtcd(t *testing.T) string {
	var urls []url.URL
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		urls = append(urls, url.URL{Scheme: "http", Host: l.Addr().String()})
		l.Close()
	}
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = urls[:1], urls[:1]
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = urls[1:], urls[1:]
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.UnsafeNoFsync = true
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd not ready after 30s")
	}
	return urls[1].String()
}
