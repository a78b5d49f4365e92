#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Nanoseconds per run of each pktlat program, from the kernel's BPF run-time statistics (the `end`
# record's run_cnt and run_ns, which the loader reads while it holds bpf_enable_stats), under a
# fixed load: pingpong.c over loopback, pinned to CPU 1. The figure is the programs' own run time, so
# it moves little with what else the machine does, where a throughput ratio moves by percents.
# Each round runs every build once, in turn; prints per round and the medians. Root. 127.0.0.1 only.
# Usage: bench/probe-cost/run-time.sh [-r ROUNDS] [-n PINGS] [-p tcp|udp] [-t THRASH] [-f FIDELITY] [-F FILTER] [DIR ...]
#   DIR       a build's output directory (default bpf/.output)
#   FIDELITY  sampled (default) or full
#   FILTER    the loader's filter options (default a URL target's: --iface lo --cidr 127.0.0.0/8 and
#             the port); e.g. "--iface lsnone0" times a run the filter turns away at once
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=5 proto=tcp thrash=0 n=200000 port=45998 fidelity=sampled filter=""
while getopts "r:p:t:n:f:F:" o; do
	case $o in
	r) rounds=$OPTARG ;; p) proto=$OPTARG ;; t) thrash=$OPTARG ;; n) n=$OPTARG ;; f) fidelity=$OPTARG ;; F) filter=$OPTARG ;;
	*) sed -n '8,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
dirs=("${@:-$root/bpf/.output}")
[ -n "$filter" ] || filter="--iface lo --cidr 127.0.0.0/8 --port $port"
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$bin"' EXIT
cc -O2 -o "$bin/pingpong" "$here/pingpong.c"
for r in $(seq "$rounds"); do
	for i in "${!dirs[@]}"; do
		d=${dirs[$i]}
		# shellcheck disable=SC2086 # the filter is several options
		"$d/pktlat" $filter --fidelity "$fidelity" > "$bin/out" 2> "$bin/err" &
		pid=$!
		for _ in $(seq 300); do grep -q '"t":"ready"' "$bin/out" 2>/dev/null && break; sleep 0.05; done
		grep -q '"t":"ready"' "$bin/out" || { echo "loader in $d not ready:"; cat "$bin/err"; exit 1; }
		ns=$(taskset -c 1 "$bin/pingpong" "$proto" "$n" "$port" "$thrash")
		kill -TERM "$pid"
		wait "$pid" || true
		# one line per program: round, arm, program, runs, ns per run, the ping-pong's ns per round, and
		# the latest the window timer fired after a boundary (µs; "-": a build without it)
		node -e '
			const [r, i, ns] = process.argv.slice(1);
			const end = require("fs").readFileSync(process.argv[4], "utf8").trim().split("\n").map((l) => JSON.parse(l)).find((x) => x.t === "end");
			if (!end || !end.bpf_stats) { console.error("no end record with bpf_stats"); process.exit(1); }
			for (const [p, s] of Object.entries(end.progs)) if (s.run_cnt > 0) console.log(r, i, p, s.run_cnt, (s.run_ns / s.run_cnt).toFixed(1), ns, end.win_late_us ?? "-");
		' "$r" "$i" "$ns" "$bin/out" | tee -a "$bin/all"
	done
done
echo "medians over $rounds rounds ($proto, $n pings, thrash $thrash, $fidelity): ns per run of each program, ns per ping-pong"
for i in "${!dirs[@]}"; do
	echo "${dirs[$i]}"
	awk -v i="$i" '$2 == i { print $3 }' "$bin/all" | sort -u | while read -r p; do
		awk -v i="$i" -v p="$p" '$2 == i && $3 == p { print $5 }' "$bin/all" | sort -n | awk -v p="$p" '{a[NR]=$1} END { printf "  %-16s %7.1f ns per run\n", p, a[int((NR+1)/2)] }'
	done
	awk -v i="$i" '$2 == i { print $1, $6 }' "$bin/all" | sort -u | awk '{print $2}' | sort -n | awk '{a[NR]=$1} END { printf "  %-16s %7.1f ns\n", "ping-pong", a[int((NR+1)/2)] }'
done
