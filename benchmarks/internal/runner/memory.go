package runner

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/fluxmap/fluxmap/benchmarks/internal/stores"
	"github.com/fluxmap/fluxmap/benchmarks/internal/workload"
)

// MemResult is what loading a store costs in resident memory.
type MemResult struct {
	System    string `json:"system"`
	Keys      int    `json:"keys"`
	KeyBytes  int    `json:"key_bytes"`
	ValueSize int    `json:"value_size"`
	// BaseRSS and LoadedRSS are VmRSS before opening the store and after
	// loading it, each after a full GC that returned free memory to the OS.
	BaseRSS   int64 `json:"base_rss"`
	LoadedRSS int64 `json:"loaded_rss"`
	// HeapBytes is the Go heap in use after loading, less that before.
	HeapBytes   int64   `json:"heap_bytes"`
	BytesPerKey float64 `json:"bytes_per_key"`
	NA          string  `json:"na,omitempty"`
}

// MemoryChildFlag is the hidden flag that makes fluxbench measure one
// system's memory and print a MemResult as JSON.
const MemoryChildFlag = "memory-child"

// MeasureMemory loads n keys (16 bytes, from workload.KeyName) with
// valueSize-byte values into a fresh in-memory sys and reports the RSS
// growth. It must run in a process of its own: RSS is per process, and Go
// rarely gives memory back, so whatever ran before would blur the number.
func MeasureMemory(sys stores.System, n, valueSize int) (MemResult, error) {
	res := MemResult{System: sys.Name, Keys: n, KeyBytes: len(workload.KeyName(0)), ValueSize: valueSize}
	if !sys.Supports(stores.Mem) {
		res.NA = "no in-memory mode"
		return res, nil
	}
	val := value(valueSize)
	base, heap0, err := settledRSS()
	if err != nil {
		return res, err
	}
	st, err := sys.Open(stores.Config{Durability: stores.Mem})
	if err != nil {
		return res, err
	}
	// Keys are made as they are loaded and not kept, so each store is
	// charged for exactly the key copies it retains.
	if err := st.Load(n, func(i int) string { return workload.KeyName(uint64(i)) }, val); err != nil {
		return res, errors.Join(err, st.Close())
	}
	loaded, heap1, err := settledRSS()
	if err != nil {
		return res, errors.Join(err, st.Close())
	}
	if ok, err := st.Get(workload.KeyName(uint64(n - 1))); err != nil || !ok {
		return res, errors.Join(fmt.Errorf("last loaded key missing (%v)", err), st.Close())
	}
	res.BaseRSS, res.LoadedRSS, res.HeapBytes = base, loaded, int64(heap1)-int64(heap0)
	res.BytesPerKey = float64(loaded-base) / float64(n)
	return res, st.Close()
}

// settledRSS collects garbage, returns free pages to the OS and then reads
// VmRSS and the heap in use.
func settledRSS() (rss int64, heap uint64, err error) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, err = vmRSS()
	return rss, ms.HeapInuse, err
}

// vmRSS reads the process's resident set size from /proc/self/status.
func vmRSS() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("memory mode reads /proc/self/status (Linux only): %w", err)
	}
	defer f.Close()
	return parseVmRSS(f)
}

func parseVmRSS(f *os.File) (int64, error) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return ParseKB(v)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmRSS line in /proc/self/status")
}

// ParseKB parses the value part of a /proc status line ("  123456 kB")
// into bytes.
func ParseKB(s string) (int64, error) {
	num, ok := strings.CutSuffix(strings.TrimSpace(s), " kB")
	if !ok {
		return 0, fmt.Errorf("VmRSS %q: want a kB figure", s)
	}
	kb, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("VmRSS %q: %w", s, err)
	}
	return kb << 10, nil
}

// MeasureMemoryInChild runs "exe --memory-child sys ..." in a fresh
// process and decodes its result.
func MeasureMemoryInChild(exe, sys string, n, valueSize int) (MemResult, error) {
	cmd := exec.Command(exe, "--"+MemoryChildFlag, sys,
		"--memory-keys", strconv.Itoa(n), "--value-size", strconv.Itoa(valueSize))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return MemResult{System: sys}, fmt.Errorf("%s: memory child: %w: %s", sys, err, strings.TrimSpace(stderr.String()))
	}
	var res MemResult
	if err := json.Unmarshal(out, &res); err != nil {
		return MemResult{System: sys}, fmt.Errorf("%s: memory child printed %q: %w", sys, out, err)
	}
	return res, nil
}
