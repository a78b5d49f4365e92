#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# What one packet costs with a probe loader attached, against none and against other builds, on a
# one-thread loopback ping-pong (pingpong.c): precise to a few ns where a load test's throughput is
# noisy to a few percent, so it shows which part of a program costs (build a copy of bpf/ with a
# change: make -C COPY OUTPUT=$PWD/COPY/.output). Root. Traffic: 127.0.0.1 only.
# Usage: bench/probe-cost/probe-cost.sh [-r ROUNDS] [-n PINGS] [-p udp|tcp] [-t THRASH] LOADERS [DIR ...]
#   LOADERS  comma-separated: pktlat, tcpwatch, fibroute
#   DIR      a build's output directory (default bpf/.output); "off" for no loader (always first)
# Prints, per round, ns per ping-pong for each arm (the best of 3 runs of N pings), then medians.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=4 proto=udp thrash=0 n=100000 port=45999
while getopts "r:p:t:n:" o; do
	case $o in
	r) rounds=$OPTARG ;; p) proto=$OPTARG ;; t) thrash=$OPTARG ;; n) n=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n '3,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
loaders=$1; shift
dirs=("off" "${@:-$root/bpf/.output}")
bin=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$bin"' EXIT
cc -O2 -o "$bin/pingpong" "$here/pingpong.c"
declare -A all
for r in $(seq "$rounds"); do
	line="round $r:"
	for d in "${dirs[@]}"; do
		pids=()
		if [ "$d" != off ]; then
			for l in ${loaders//,/ }; do
				args=(--port "$port"); [ "$l" = tcpwatch ] || args+=(--iface lo)
				"$d/$l" "${args[@]}" > /dev/null 2> "$bin/$l.err" & pids+=($!)
			done
		fi
		sleep 0.7 # loaded and attached
		for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { echo "loader in $d failed:"; cat "$bin"/*.err; exit 1; }; done
		v=$(for k in 1 2 3; do taskset -c 1 "$bin/pingpong" "$proto" "$n" "$port" "$thrash"; done | sort -n | head -1)
		line+=" $d=$v"
		all[$d]+="$v "
		[ ${#pids[@]} -eq 0 ] || { kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true; }
	done
	echo "$line"
done
echo "median ns per $proto round (n=$rounds), and over off:"
off=$(tr ' ' '\n' <<< "${all[off]}" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
for d in "${dirs[@]}"; do
	m=$(tr ' ' '\n' <<< "${all[$d]}" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
	awk -v d="$d" -v m="$m" -v o="$off" 'BEGIN { printf "  %-40s %8.1f  %+7.1f\n", d, m, m - o }'
done
