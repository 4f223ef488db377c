package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/fluxmap/fluxmap/benchmarks/internal/runner"
)

// Series are the points of one line: x (clients or shards) to ops/s.
type Series map[string]plotter.XYs

// panel is one workload's data: throughput against clients (a line per
// system, and per shard count for sharded systems) and against shards (a
// line per sharded system and client count).
type panel struct {
	title               string
	byClients, byShards Series
}

// panels groups rs by workload, distribution and durability, in first-seen
// order, skipping rows that did not run.
func panels(rs []runner.Result) []panel {
	var out []panel
	index := map[string]int{}
	for _, r := range rs {
		if r.NA != "" || r.Ops == 0 {
			continue
		}
		title := fmt.Sprintf("%s / %s / %s", r.Workload, r.Dist, r.Durability)
		i, ok := index[title]
		if !ok {
			i = len(out)
			index[title] = i
			out = append(out, panel{title: title, byClients: Series{}, byShards: Series{}})
		}
		p := &out[i]
		name := r.System
		if r.Shards > 0 {
			name = fmt.Sprintf("%s s=%d", r.System, r.Shards)
			sname := fmt.Sprintf("%s c=%d", r.System, r.Clients)
			p.byShards[sname] = append(p.byShards[sname], plotter.XY{X: float64(r.Shards), Y: r.OpsPerSec})
		}
		p.byClients[name] = append(p.byClients[name], plotter.XY{X: float64(r.Clients), Y: r.OpsPerSec})
	}
	for i := range out {
		sortSeries(out[i].byClients)
		sortSeries(out[i].byShards)
	}
	return out
}

func sortSeries(s Series) {
	for _, xys := range s {
		slices.SortFunc(xys, func(a, b plotter.XY) int {
			switch {
			case a.X < b.X:
				return -1
			case a.X > b.X:
				return 1
			}
			return 0
		})
	}
}

func newPlot(title, xlabel string, s Series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = "ops/s"
	p.Y.Min = 0
	p.Legend.Top = true
	var args []any
	xs := map[float64]bool{}
	for _, name := range slices.Sorted(maps.Keys(s)) {
		args = append(args, name, s[name])
		for _, xy := range s[name] {
			xs[xy.X] = true
		}
	}
	// Sweeps double clients and shards: a log axis spaces them evenly,
	// with a tick at each value measured.
	if len(xs) > 1 {
		var ticks []plot.Tick
		for _, x := range slices.Sorted(maps.Keys(xs)) {
			ticks = append(ticks, plot.Tick{Value: x, Label: strconv.FormatFloat(x, 'f', -1, 64)})
		}
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
	}
	if len(args) > 0 {
		if err := plotutil.AddLinePoints(p, args...); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Plot draws one row per workload (and distribution and durability) with
// two charts: throughput against clients and against shards. It writes a
// PNG to w.
func Plot(w io.Writer, rs []runner.Result) error {
	ps := panels(rs)
	if len(ps) == 0 {
		return fmt.Errorf("plot: no results to draw")
	}
	grid := make([][]*plot.Plot, len(ps))
	for i, p := range ps {
		byClients, err := newPlot(p.title+": by clients", "clients", p.byClients)
		if err != nil {
			return err
		}
		byShards, err := newPlot(p.title+": by shards", "shards", p.byShards)
		if err != nil {
			return err
		}
		grid[i] = []*plot.Plot{byClients, byShards}
	}
	const tileW, tileH = 7 * vg.Inch, 4.5 * vg.Inch
	img := vgimg.New(2*tileW, vg.Length(len(ps))*tileH)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(ps), Cols: 2, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(grid, tiles, dc)
	for i := range grid {
		for j := range grid[i] {
			grid[i][j].Draw(canvases[i][j])
		}
	}
	_, err := vgimg.PngCanvas{Canvas: img}.WriteTo(w)
	return err
}
