// Command etcdbench measures FluxMap's transactions on an etcd cluster
// (package fluxetcd) against the embedded engine, on fluxbench's ycsb-a
// and bank workloads.
//
// It starts an etcd cluster of --members members in this process, on
// loopback ports chosen at run time, its data in a temporary directory
// removed at exit, and drives two systems with the same code, written
// against fluxmap.ReadWriteTx:
//
//   - fluxmap-portable: the embedded engine (in memory, default options);
//   - fluxmap-etcd: a fluxetcd.DB on the cluster, through one client.
//
// For each it prints ops/s, abort rate and latency percentiles, the median
// of --repeat runs, and each etcd row's throughput as a fraction of the
// embedded engine's; --json prints the rows as JSON instead, in the field
// names of fluxbench's rows (fluxbench --systems fluxmap-etcd runs this
// command and reads them). The etcd client and server live only in this
// module, which is why the driver is here and not in fluxbench.
//
//	go run ./cmd/etcdbench --clients 8 --duration 3s --repeat 3
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	cfg, asJSON, err := parse(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err == nil {
		err = runMain(cfg, asJSON, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcdbench:", err)
		os.Exit(1)
	}
}

func parse(args []string, stderr io.Writer) (config, bool, error) {
	fs := flag.NewFlagSet("etcdbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	systems := fs.String("systems", sysEmbedded+","+sysEtcd, "comma-separated systems: "+sysEmbedded+" (the embedded engine), "+sysEtcd)
	workloads := fs.String("workloads", wlYCSBA+","+wlBank, "comma-separated workloads: "+wlYCSBA+", "+wlBank)
	fs.StringVar(&cfg.Dist, "dist", "zipfian", "key distribution of ycsb-a: zipfian or uniform (bank is always uniform)")
	fs.IntVar(&cfg.Clients, "clients", 8, "client goroutines")
	fs.DurationVar(&cfg.Duration, "duration", 3*time.Second, "measured time per run")
	fs.DurationVar(&cfg.Warmup, "warmup", 500*time.Millisecond, "unmeasured time before each run")
	fs.IntVar(&cfg.Repeat, "repeat", 1, "runs per row; the row is the median run by throughput")
	fs.IntVar(&cfg.Keys, "keys", 10000, "keys loaded (bank: accounts)")
	fs.IntVar(&cfg.ValueSize, "value-size", 100, "bytes per ycsb-a value")
	fs.IntVar(&cfg.Members, "members", 3, "etcd cluster members")
	fs.BoolVar(&cfg.Fsync, "fsync", true, "etcd members sync their WAL to disk before acknowledging (as in production)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	asJSON := fs.Bool("json", false, "print the rows as a JSON array instead of a table")
	if err := fs.Parse(args); err != nil {
		return cfg, false, err
	}
	if fs.NArg() > 0 {
		return cfg, false, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	cfg.Systems, cfg.Workloads = splitList(*systems), splitList(*workloads)
	return cfg, *asJSON, cfg.validate()
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func runMain(cfg config, asJSON bool, w io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := os.MkdirTemp("", "etcdbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rows, err := run(ctx, cfg, dir)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	fmt.Fprintf(w, "# etcdbench: %d clients, %v (+%v warm-up) x%d, %d keys, %d-byte values, etcd %d members on loopback, fsync %v\n",
		cfg.Clients, cfg.Duration, cfg.Warmup, cfg.Repeat, cfg.Keys, cfg.ValueSize, cfg.Members, cfg.Fsync)
	if err := writeTable(w, rows); err != nil {
		return err
	}
	writeRatios(w, rows)
	return nil
}

func writeTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "system\tworkload\tdist\tdurability\tclients\tops/s\tp50\tp99\tp99.9\tabort%\tallocs/op\terrors\tnote")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.0f\t%s\t%s\t%s\t%.2f\t%.1f\t%d\t%s\n", r.System, r.Workload, r.Dist, r.Durability,
			r.Clients, r.OpsPerSec, formatLatency(r.P50), formatLatency(r.P99), formatLatency(r.P999), r.AbortPct, r.AllocsPerOp, r.Errors, r.Note)
	}
	return tw.Flush()
}

// writeRatios writes, per workload, the etcd backend's throughput and
// median latency against the embedded engine's.
func writeRatios(w io.Writer, rows []Row) {
	for _, e := range rows {
		if e.System != sysEtcd {
			continue
		}
		for _, b := range rows {
			if b.System == sysEmbedded && b.Workload == e.Workload && b.OpsPerSec > 0 && e.P50 > 0 {
				fmt.Fprintf(w, "%s/%s: throughput %.4fx the embedded engine's (1/%.0f), p50 latency %.0fx\n",
					e.Workload, e.Dist, e.OpsPerSec/b.OpsPerSec, b.OpsPerSec/e.OpsPerSec, float64(e.P50)/float64(b.P50))
			}
		}
	}
}

// formatLatency writes d with three significant digits or so.
func formatLatency(d time.Duration) string {
	switch {
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d >= time.Microsecond:
		return fmt.Sprintf("%.1fµs", float64(d)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%dns", d)
}
