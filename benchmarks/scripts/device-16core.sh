#!/usr/bin/env bash
# device-16core.sh: the performance issue's 16-core measurements in one
# short script, for a session that is lent the 16-core device machine.
#
# Build the static binary first, on the development machine, and carry it:
#   (cd benchmarks && CGO_ENABLED=0 go build -o fluxbench ./cmd/fluxbench)
# Then, on the device, from the repository root (about 7 minutes):
#   OUT=$OUT benchmarks/scripts/device-16core.sh
# Output: $OUT/16core.txt (everything printed), $OUT/sweep.csv, $OUT/sweep.png,
# CPU profiles $OUT/{get-fluxmap,get-floor,bank-fluxmap}.prof and mutex
# profiles $OUT/{get-fluxmap,get-floor,bank-fluxmap}.mutex.
# DURATION (default 3s) and REPEAT (default 3) shorten a trial run.
set -euo pipefail

bin=${BIN:-benchmarks/fluxbench}
out=${OUT:-.}
dur=${DURATION:-3s}
rep=${REPEAT:-3}
mkdir -p "$out"
log="$out/16core.txt"

{
	echo "## machine"
	date -u
	nproc
	grep -m1 'model name' /proc/cpuinfo || true
	uptime

	# Targets: point get (ycsb-c) at 16 clients >= 2x buntdb and go-memdb
	# and >= 10x badger; bank >= 10x badger's 2r2w. Medians of $rep runs.
	echo "## gets and bank, 16 and 32 clients, default shards (GOMAXPROCS)"
	timeout 300 "$bin" --systems fluxmap,floor,badger,buntdb,gomemdb --workloads ycsb-c,bank \
		--clients 16,32 --duration "$dur" --warmup 500ms --repeat "$rep"

	# Target: reads need no hand-off, so gets scale >= 8x from 1 to 16
	# clients; scans beside them.
	echo "## gets and scans, clients 1..16"
	timeout 120 "$bin" --systems fluxmap,buntdb --workloads ycsb-c,scan --clients 1,2,4,8,16 \
		--duration "$dur" --warmup 500ms

	# Target: bank throughput at 32 clients scales >= 6x from 1 to 16 shards.
	echo "## bank, 32 clients, shards 1..16"
	timeout 240 "$bin" --systems fluxmap,floor --workloads bank --shards 1,2,4,8,16 \
		--clients 32 --duration "$dur" --warmup 500ms \
		--csv "$out/sweep.csv" --plot "$out/sweep.png"

	# The cache workload (issue 15) at 16 clients: hit ratios do not depend
	# on cores, throughput against golang-lru, ristretto and otter does.
	echo "## cache, 16 clients, 100-byte values"
	timeout 120 "$bin" --cache --cache-values 100 --clients 16 --duration "$dur" --warmup 500ms

	# The shards' yield-before-park policy (internal/idle) was tuned on 2
	# cores, and runtime.Gosched takes the scheduler's global lock: A/B it
	# here, alternating, before trusting either setting on 16 cores.
	echo "## bank, 32 clients: shard yield on/off, alternating"
	for y in true false true false; do
		timeout 60 "$bin" --systems fluxmap,floor --workloads bank --clients 32 \
			--duration "$dur" --warmup 500ms --shard-yield="$y"
	done

	# Diagnostics for whoever reads the numbers above: where a point get's
	# CPU goes on 16 cores, in the engine and in the floor (bare shard
	# goroutines over maps); which locks are contended, the runtime's own
	# included (the first session saw the floor's throughput flat from 1 to
	# 32 clients, which points at something global: the scheduler's lock
	# is the suspect); and what the scheduler does meanwhile (schedtrace:
	# idle Ps and spinning Ms every 500 ms). A profile keeps its symbols, so
	# `go tool pprof -top $OUT/get-fluxmap.prof` needs no binary.
	echo "## diagnostics: point gets at 16 clients, CPU profiles and schedtrace"
	for sys in fluxmap floor; do
		timeout 60 "$bin" --systems "$sys" --workloads ycsb-c --clients 16 \
			--duration "$dur" --warmup 500ms --cpuprofile "$out/get-$sys.prof" \
			--mutexprofile "$out/get-$sys.mutex"
	done
	GODEBUG=schedtrace=500 timeout 60 "$bin" --systems fluxmap --workloads bank \
		--clients 32 --duration "$dur" --warmup 500ms --cpuprofile "$out/bank-fluxmap.prof" \
		--mutexprofile "$out/bank-fluxmap.mutex"
} 2>&1 | tee "$log"
