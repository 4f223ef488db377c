// Command transfer is examples/transfer on an etcd cluster: the same
// bank.Transfer function, written against fluxmap.ReadWriteTx, runs inside
// fluxetcd's Transaction instead of the embedded engine's.
//
// Start an etcd (https://etcd.io/docs/ for installing it), then run this
// from the fluxetcd folder:
//
//	etcd --data-dir /tmp/fluxmap-etcd
//	go run ./examples/transfer -endpoints http://127.0.0.1:2379
//
// For a cluster with TLS and authentication, pass -cacert, -cert, -key,
// -user and -password; nothing is sent in the clear unless the endpoints
// say http://.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/fluxmap/fluxmap/examples/transfer/bank"
	"github.com/fluxmap/fluxmap/fluxetcd"
)

type flags struct {
	endpoints, prefix string
	cacert, cert, key string
	user, password    string
	timeout           time.Duration
}

func main() {
	var f flags
	flag.StringVar(&f.endpoints, "endpoints", "http://127.0.0.1:2379", "comma-separated etcd client URLs")
	flag.StringVar(&f.prefix, "prefix", "fluxmap-example/transfer/", "etcd key prefix of the database")
	flag.StringVar(&f.cacert, "cacert", "", "CA certificate file that signs the cluster's server certificates")
	flag.StringVar(&f.cert, "cert", "", "client certificate file, for --client-cert-auth clusters")
	flag.StringVar(&f.key, "key", "", "client key file")
	flag.StringVar(&f.user, "user", "", "etcd user name, for clusters with auth enabled")
	flag.StringVar(&f.password, "password", "", "etcd user password")
	flag.DurationVar(&f.timeout, "timeout", 10*time.Second, "how long the whole example may take")
	flag.Parse()
	if err := run(os.Stdout, f); err != nil {
		fmt.Fprintln(os.Stderr, "transfer:", err)
		os.Exit(1)
	}
}

// client builds the etcd client from the flags: TLS when a CA or client
// certificate is given, with the standard library's verification.
func client(f flags) (*clientv3.Client, error) {
	cfg := clientv3.Config{
		Endpoints:   strings.Split(f.endpoints, ","),
		DialTimeout: 5 * time.Second,
		Username:    f.user,
		Password:    f.password,
		Logger:      zap.NewNop(),
	}
	if f.cacert != "" || f.cert != "" {
		info := transport.TLSInfo{TrustedCAFile: f.cacert, CertFile: f.cert, KeyFile: f.key}
		tc, err := info.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("TLS: %w", err)
		}
		tc.MinVersion = tls.VersionTLS12
		cfg.TLS = tc
	}
	return clientv3.New(cfg)
}

// run is the whole example; main_test.go runs it against an in-process
// cluster and checks everything it prints.
func run(w io.Writer, f flags) (err error) {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	cli, err := client(f)
	if err != nil {
		return fmt.Errorf("etcd client: %w", err)
	}
	defer func() { err = errors.Join(err, cli.Close()) }()
	db, err := fluxetcd.Open(ctx, cli, fluxetcd.Options[string, int64]{Prefix: f.prefix})
	if err != nil {
		return err
	}
	defer db.Close()

	for name, balance := range map[string]int64{"alice": 100, "bob": 50} {
		if err := db.Insert(ctx, name, balance); err != nil {
			return fmt.Errorf("open account %s: %w", name, err)
		}
	}
	printBalances := func(label string) error {
		return db.View(ctx, func(tx *fluxetcd.Tx[string, int64]) error {
			b, err := bank.Balances(tx, "alice", "bob")
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "%s: alice=%d bob=%d total=%d\n", label, b[0], b[1], b[0]+b[1])
			return nil
		})
	}
	if err := printBalances("start"); err != nil {
		return err
	}
	for _, t := range []struct {
		from, to string
		amount   int64
	}{
		{"alice", "bob", 30},
		{"bob", "alice", 500},
	} {
		fmt.Fprintf(w, "transfer %d %s -> %s: ", t.amount, t.from, t.to)
		err := db.Transaction(ctx, func(tx *fluxetcd.Tx[string, int64]) error {
			return bank.Transfer(tx, t.from, t.to, t.amount)
		})
		switch {
		case err == nil:
			fmt.Fprintln(w, "committed")
		case errors.Is(err, bank.ErrInsufficientFunds):
			fmt.Fprintf(w, "rolled back (%v)\n", err)
		default:
			return fmt.Errorf("transfer: %w", err)
		}
		if err := printBalances("balances"); err != nil {
			return err
		}
	}
	return nil
}
