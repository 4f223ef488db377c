// Command devetcd runs an etcd cluster for development and trying FluxMap
// on etcd, with nothing to install: its members are embedded in this
// process, on loopback only, and stop with it.
//
//	go run ./cmd/devetcd                       # one member, clients at http://127.0.0.1:2379
//	go run ./cmd/devetcd -members 3 -dir data  # three members, data kept in ./data
//
// It prints the client endpoints and serves until interrupted. It is not a
// production deployment: no TLS, no authentication, loopback only, and
// (without -dir) the data goes in a temporary directory removed at exit.
// For production, run etcd itself with TLS and authentication (see the
// package documentation of fluxetcd).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/fluxmap/fluxmap/fluxetcd/internal/loopback"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "devetcd:", err)
		os.Exit(1)
	}
}

// run starts the cluster args describe, writes its endpoints to out and
// serves until ctx ends.
func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("devetcd", flag.ContinueOnError)
	fs.SetOutput(errOut)
	members := fs.Int("members", 1, "number of members (1, 3 or 5)")
	port := fs.Int("port", 2379, "client port of the first member on 127.0.0.1 (0: any free port); the others take free ports")
	dir := fs.String("dir", "", "directory for the members' data, kept after exit (default: a temporary directory, removed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *members != 1 && *members != 3 && *members != 5 {
		return fmt.Errorf("-members %d: use 1, 3 or 5", *members)
	}
	if *port < 0 || *port > 65535 {
		return fmt.Errorf("-port %d is not a TCP port", *port)
	}
	data := *dir
	if data == "" {
		tmp, err := os.MkdirTemp("", "devetcd-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		data = tmp
	}
	tune := func(cfg *embed.Config) {
		if cfg.Name == "m0" && *port != 0 {
			u := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", *port)}
			cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{u}, []url.URL{u}
		}
	}
	c, err := loopback.Start(data, *members, tune)
	if c != nil {
		defer c.Close()
	}
	if err != nil {
		return fmt.Errorf("starting etcd: %w", err)
	}
	fmt.Fprintf(out, "etcd is serving, %d member(s), data in %s\nendpoints: %s\n", *members, data, strings.Join(c.Endpoints(), ","))
	<-ctx.Done()
	fmt.Fprintln(out, "stopping")
	return nil
}
