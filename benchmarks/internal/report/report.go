// Package report renders benchmark results: an aligned text table, CSV,
// JSON, ratios of FluxMap to each peer, and a throughput plot (plot.go).
package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/fluxmap/fluxmap/benchmarks/internal/cachebench"
	"github.com/fluxmap/fluxmap/benchmarks/internal/latency"
	"github.com/fluxmap/fluxmap/benchmarks/internal/runner"
)

// Subject is the system the ratios compare the peers with.
const Subject = "fluxmap"

func shardsCell(n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

func fixed(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }

// Table writes rs as an aligned text table. Rows that could not run show
// n/a and the reason.
func Table(w io.Writer, rs []runner.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "system\tworkload\tdist\tdurability\tshards\tclients\tops/s\tp50\tp99\tp99.9\tabort%\tretries/op\tallocs/op\tnote")
	for _, r := range rs {
		lead := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%d", r.System, r.Workload, r.Dist, r.Durability, shardsCell(r.Shards), r.Clients)
		if r.NA != "" {
			fmt.Fprintf(tw, "%s\tn/a\t\t\t\t\t\t\t%s\n", lead, r.NA)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", lead,
			latency.FormatRate(r.OpsPerSec), latency.Format(r.P50), latency.Format(r.P99), latency.Format(r.P999),
			fixed(r.AbortPct, 2), fixed(r.RetriesPerOp, 3), fixed(r.AllocsPerOp, 1), r.Note)
	}
	return tw.Flush()
}

// CSV writes rs as CSV with a header; latencies are in nanoseconds.
func CSV(w io.Writer, rs []runner.Result) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"system", "workload", "dist", "durability", "shards", "clients", "ops", "elapsed_ns",
		"ops_per_sec", "p50_ns", "p99_ns", "p999_ns", "abort_pct", "retries_per_op", "allocs_per_op", "errors", "na", "note"})
	for _, r := range rs {
		_ = cw.Write([]string{r.System, r.Workload, r.Dist, r.Durability, strconv.Itoa(r.Shards), strconv.Itoa(r.Clients),
			strconv.FormatUint(r.Ops, 10), strconv.FormatInt(int64(r.Elapsed), 10), fixed(r.OpsPerSec, 1),
			strconv.FormatInt(int64(r.P50), 10), strconv.FormatInt(int64(r.P99), 10), strconv.FormatInt(int64(r.P999), 10),
			fixed(r.AbortPct, 4), fixed(r.RetriesPerOp, 5), fixed(r.AllocsPerOp, 3), strconv.FormatUint(r.Errors, 10), r.NA, r.Note})
	}
	cw.Flush()
	return cw.Error()
}

// JSON writes rs as an indented JSON array.
func JSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// group is what rows must share to be compared.
type group struct {
	workload, dist, durability string
	clients                    int
}

func groupOf(r runner.Result) group { return group{r.Workload, r.Dist, r.Durability, r.Clients} }

// Ratio is Subject's throughput over a peer's, measured in the same run.
type Ratio struct {
	Workload, Dist, Durability string
	Clients, Shards            int // Shards of the Subject's row
	Peer                       string
	Ratio                      float64
}

// Ratios compares every Subject row with every peer row of the same
// workload, distribution, durability and client count (and, for a sharded
// peer, shard count). Rows that did not run are skipped.
func Ratios(rs []runner.Result) []Ratio {
	var out []Ratio
	for _, s := range rs {
		if s.System != Subject || s.NA != "" || s.OpsPerSec == 0 {
			continue
		}
		for _, p := range rs {
			if p.System == Subject || p.NA != "" || p.OpsPerSec == 0 || groupOf(p) != groupOf(s) ||
				p.Shards != 0 && p.Shards != s.Shards {
				continue
			}
			out = append(out, Ratio{Workload: s.Workload, Dist: s.Dist, Durability: s.Durability, Clients: s.Clients,
				Shards: s.Shards, Peer: p.System, Ratio: s.OpsPerSec / p.OpsPerSec})
		}
	}
	return out
}

// WriteRatios writes one line per Subject row: its throughput as a
// multiple of each peer's.
func WriteRatios(w io.Writer, rs []runner.Result) {
	ratios := Ratios(rs)
	if len(ratios) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s throughput / peer throughput (same run):\n", Subject)
	var line []string
	for i, r := range ratios {
		line = append(line, fmt.Sprintf("%.2fx %s", r.Ratio, r.Peer))
		last := i == len(ratios)-1
		if last || ratios[i+1].Workload != r.Workload || ratios[i+1].Dist != r.Dist ||
			ratios[i+1].Clients != r.Clients || ratios[i+1].Shards != r.Shards || ratios[i+1].Durability != r.Durability {
			fmt.Fprintf(w, "  %s/%s %s clients=%d shards=%d: %s\n", r.Workload, r.Dist, r.Durability, r.Clients, r.Shards,
				strings.Join(line, ", "))
			line = line[:0]
		}
	}
}

// MemTable writes memory-mode results.
func MemTable(w io.Writer, ms []runner.MemResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "system\tkeys\tkey B\tvalue B\tRSS before\tRSS loaded\tRSS B/key\theap B/key\tnote")
	for _, m := range ms {
		if m.NA != "" {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t\t\tn/a\t\t%s\n", m.System, m.Keys, m.KeyBytes, m.ValueSize, m.NA)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%.0f\t%.0f\t\n", m.System, m.Keys, m.KeyBytes, m.ValueSize,
			mib(m.BaseRSS), mib(m.LoadedRSS), m.BytesPerKey, float64(m.HeapBytes)/float64(max(m.Keys, 1)))
	}
	return tw.Flush()
}

// CacheTable writes the cache workload's results, one row per system and
// value size.
func CacheTable(w io.Writer, rs []cachebench.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "system\tvalue B\tkeys\tbudget\tentry B\thit ratio (trace)\tops/s\thit ratio (clients)\tlive heap\tlive/budget\theap spans")
	for _, r := range rs {
		entry := "own"
		if r.PerEntry > 0 {
			entry = fmt.Sprint(r.PerEntry)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%.4f\t%s\t%.4f\t%s\t%.2f\t%s\n", r.System, r.ValueSize, r.Keys, mib(r.Budget), entry,
			r.TraceHitRatio, latency.FormatRate(r.OpsPerSec), r.HitRatio, mib(r.HeapLive), float64(r.HeapLive)/float64(r.Budget), mib(r.HeapInUse))
	}
	return tw.Flush()
}

// CacheRatios writes, per value size, FluxMap's hit ratios and throughput
// against golang-lru's (the exact LRU) and LFU's hit ratio against LRU's.
func CacheRatios(w io.Writer, rs []cachebench.Result) {
	by := map[[2]any]cachebench.Result{}
	var sizes []int
	for _, r := range rs {
		if _, ok := by[[2]any{"fluxmap-lru", r.ValueSize}]; !ok && r.System == "fluxmap-lru" {
			sizes = append(sizes, r.ValueSize)
		}
		by[[2]any{r.System, r.ValueSize}] = r
	}
	for _, vs := range sizes {
		flux := by[[2]any{"fluxmap-lru", vs}]
		fmt.Fprintf(w, "\n%d-byte values:", vs)
		if g, ok := by[[2]any{"golang-lru", vs}]; ok && g.TraceHitRatio > 0 && g.OpsPerSec > 0 {
			fmt.Fprintf(w, " fluxmap-lru hit ratio %.3fx golang-lru's, throughput %.2fx;",
				flux.TraceHitRatio/g.TraceHitRatio, flux.OpsPerSec/g.OpsPerSec)
		}
		if l, ok := by[[2]any{"fluxmap-lfu", vs}]; ok && flux.TraceHitRatio > 0 {
			fmt.Fprintf(w, " fluxmap-lfu hit ratio %.3fx fluxmap-lru's;", l.TraceHitRatio/flux.TraceHitRatio)
		}
		fmt.Fprintln(w)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// MemRatios writes Subject's bytes per key over each peer's.
func MemRatios(w io.Writer, ms []runner.MemResult) {
	var subject *runner.MemResult
	for i := range ms {
		if ms[i].System == Subject && ms[i].NA == "" {
			subject = &ms[i]
		}
	}
	if subject == nil {
		return
	}
	fmt.Fprintf(w, "\n%s RSS bytes/key / peer RSS bytes/key:", Subject)
	for _, m := range ms {
		if m.System != Subject && m.NA == "" && m.BytesPerKey > 0 {
			fmt.Fprintf(w, " %.2fx %s", subject.BytesPerKey/m.BytesPerKey, m.System)
		}
	}
	fmt.Fprintln(w)
}

// LoadTable writes the bulk-load results, one row per system.
func LoadTable(w io.Writer, ls []runner.LoadResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "system\tdurability\tkeys\tvalue B\tseconds\tkeys/s\tnote")
	for _, l := range ls {
		if l.NA != "" {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t\tn/a\t%s\n", l.System, l.Durability, l.Keys, l.ValueSize, l.NA)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.3f\t%s\t\n", l.System, l.Durability, l.Keys, l.ValueSize, l.Seconds, latency.FormatRate(l.KeysPerSec))
	}
	return tw.Flush()
}

// LoadRatios writes FluxMap's load rate over each peer's.
func LoadRatios(w io.Writer, ls []runner.LoadResult) {
	var subject *runner.LoadResult
	for i := range ls {
		if ls[i].System == Subject && ls[i].NA == "" {
			subject = &ls[i]
		}
	}
	if subject == nil {
		return
	}
	fmt.Fprintf(w, "\n%s keys/s / peer keys/s:", Subject)
	for _, l := range ls {
		if l.System != Subject && l.NA == "" && l.KeysPerSec > 0 {
			fmt.Fprintf(w, " %.2fx %s", subject.KeysPerSec/l.KeysPerSec, l.System)
		}
	}
	fmt.Fprintln(w)
}
