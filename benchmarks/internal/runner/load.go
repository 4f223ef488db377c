package runner

import (
	"errors"
	"fmt"
	"time"

	"github.com/fluxmap/fluxmap/benchmarks/internal/stores"
	"github.com/fluxmap/fluxmap/benchmarks/internal/workload"
)

// LoadResult is how fast a store bulk-loads keys through its Load method
// (FluxMap's DB.Load, badger's WriteBatch, batched transactions elsewhere).
type LoadResult struct {
	System     string  `json:"system"`
	Durability string  `json:"durability"`
	Keys       int     `json:"keys"`
	ValueSize  int     `json:"value_size"`
	Seconds    float64 `json:"seconds"`
	KeysPerSec float64 `json:"keys_per_sec"`
	NA         string  `json:"na,omitempty"`
}

// LoadParams is one bulk-load measurement.
type LoadParams struct {
	System     stores.System
	Durability stores.Durability
	Shards     int // fluxmap's shard count; zero means GOMAXPROCS
	Keys       int
	ValueSize  int
	Dir        string // parent of a durable run's directory; "" means the temp dir
}

// MeasureLoad opens a fresh store, loads p.Keys keys (16 bytes, from
// workload.KeyName, in key order) with p.ValueSize-byte values and reports
// the rate; the clock covers Load alone, until its data is committed
// (durably, under Full), not the open or the close.
func MeasureLoad(p LoadParams) (LoadResult, error) {
	res := LoadResult{System: p.System.Name, Durability: p.Durability.String(), Keys: p.Keys, ValueSize: p.ValueSize}
	if !p.System.Supports(p.Durability) {
		res.NA = "no " + p.Durability.String() + " mode"
		return res, nil
	}
	st, cleanup, err := openStore(p.System, stores.Config{Shards: p.Shards, Durability: p.Durability}, p.Dir, "fluxbench-load-")
	if err != nil {
		return res, err
	}
	defer cleanup()
	val := value(p.ValueSize)
	start := time.Now()
	err = st.Load(p.Keys, func(i int) string { return workload.KeyName(uint64(i)) }, val)
	elapsed := time.Since(start)
	if err != nil {
		return res, errors.Join(fmt.Errorf("%s: load: %w", p.System.Name, err), st.Close())
	}
	res.Seconds = elapsed.Seconds()
	res.KeysPerSec = float64(p.Keys) / elapsed.Seconds()
	return res, st.Close()
}
