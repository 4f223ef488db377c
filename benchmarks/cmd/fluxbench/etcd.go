package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fluxmap/fluxmap/benchmarks/internal/cli"
	"github.com/fluxmap/fluxmap/benchmarks/internal/runner"
)

// etcdWorkloads are the workloads fluxetcd's driver defines, as fluxbench
// does.
var etcdWorkloads = []string{"ycsb-a", "bank"}

// etcdRows runs fluxetcd's driver (cmd/etcdbench) in a child process once
// per client count and returns its rows: fluxmap-etcd and, as its baseline
// measured by the same code, fluxmap-portable. The driver lives in the
// fluxetcd module because the etcd client and server may appear in no
// other go.mod. Workloads the driver does not define, and every row when
// the driver cannot run, come back as n/a rows saying why.
func etcdRows(cfg cli.Config) ([]runner.Result, error) {
	var rows []runner.Result
	var workloads []string
	for _, w := range cfg.Workloads {
		if slices.Contains(etcdWorkloads, w) {
			workloads = append(workloads, w)
			continue
		}
		for _, cl := range cfg.Clients {
			rows = append(rows, runner.Result{System: cli.EtcdSystem, Workload: w, Clients: cl,
				NA: "fluxetcd's driver runs only " + strings.Join(etcdWorkloads, " and ")})
		}
	}
	if len(workloads) == 0 {
		return rows, nil
	}
	var failures []error
	for _, cl := range cfg.Clients {
		out, err := runEtcdBench(cfg, etcdArgs(cfg, workloads, cl))
		var got []runner.Result
		if err == nil {
			got, err = parseEtcdRows(out)
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", cli.EtcdSystem, err)
			failures = append(failures, err)
			for _, w := range workloads {
				rows = append(rows, runner.Result{System: cli.EtcdSystem, Workload: w, Clients: cl, NA: err.Error()})
			}
			continue
		}
		rows = append(rows, got...)
	}
	return rows, errors.Join(failures...)
}

// etcdArgs are the driver's arguments for one client count: the run's
// settings, the first --dist, and the members' fsync when the run asks
// for durability (relaxed or full), none in memory mode.
func etcdArgs(cfg cli.Config, workloads []string, clients int) []string {
	return []string{
		"--json",
		"--workloads", strings.Join(workloads, ","),
		"--dist", string(cfg.Dists[0]),
		"--clients", strconv.Itoa(clients),
		"--duration", cfg.Duration.String(),
		"--warmup", cfg.Warmup.String(),
		"--repeat", strconv.Itoa(cfg.Repeat),
		"--keys", strconv.Itoa(cfg.Keys),
		"--value-size", strconv.Itoa(cfg.ValueSize),
		"--seed", strconv.FormatUint(cfg.Seed, 10),
		"--fsync=" + strconv.FormatBool(cfg.Durability.String() != "mem"),
	}
}

// runEtcdBench runs the driver with args and returns its standard output:
// the prebuilt binary cfg.EtcdBench if set, else go run in the fluxetcd
// module found next to the benchmarks module.
func runEtcdBench(cfg cli.Config, args []string) ([]byte, error) {
	var cmd *exec.Cmd
	if cfg.EtcdBench != "" {
		cmd = exec.Command(cfg.EtcdBench, args...)
	} else {
		dir, err := findFluxetcd()
		if err != nil {
			return nil, err
		}
		if _, err := exec.LookPath("go"); err != nil {
			return nil, fmt.Errorf("go run ./cmd/etcdbench needs the go command, not in PATH (or pass --etcdbench=BINARY): %w", err)
		}
		cmd = exec.Command("go", append([]string{"run", "./cmd/etcdbench"}, args...)...)
		cmd.Dir = dir
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		err = fmt.Errorf("%s: %w", strings.Join(cmd.Args, " "), err)
		if tail := lastLines(stderr.String(), 5); tail != "" {
			err = fmt.Errorf("%w: %s", err, tail)
		}
		return nil, err
	}
	return stdout.Bytes(), nil
}

// findFluxetcd returns the fluxetcd module's directory: the benchmarks
// module's sibling, looked for from the working directory upwards, as
// fluxbench runs from the benchmarks module or the repository.
func findFluxetcd() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "fluxetcd", "go.mod")); err == nil {
			return filepath.Join(dir, "fluxetcd"), nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no fluxetcd module (fluxetcd/go.mod) in %s or a parent: run fluxbench inside the repository or pass --etcdbench=BINARY (go build -o BINARY ./cmd/etcdbench in fluxetcd)", wd)
		}
	}
}

// parseEtcdRows reads the driver's --json output, which uses the field
// names of runner.Result.
func parseEtcdRows(out []byte) ([]runner.Result, error) {
	var rows []runner.Result
	if err := json.Unmarshal(out, &rows); err != nil {
		return nil, fmt.Errorf("reading etcdbench's JSON: %w", err)
	}
	if len(rows) == 0 {
		return nil, errors.New("etcdbench returned no rows")
	}
	for _, r := range rows {
		if r.System == "" || r.Workload == "" || r.Clients == 0 {
			return nil, fmt.Errorf("etcdbench returned an incomplete row: %+v", r)
		}
	}
	return rows, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}
