#!/bin/sh
# SPDX-License-Identifier: MIT
#
# perf/scale.sh: examples/udp-echo (keel_udp_serve, bound on every worker)
# at 1, 2, ... N workers, driven by keel-udpload; one line per worker count
# with datagrams/s (what the clients got back) and the server's CPU time
# per datagram (on-CPU ns of all its threads, /proc/PID/task/*/schedstat,
# divided by the datagrams it sent, its own --stats count). For machines
# with more cores than this one; nothing else depends on it.
#
# usage: perf/scale.sh [BUILD_DIR]                  (default: build)
# env:   WORKERS="1 2 4 8"  (default: 1 2 4 ... up to the online CPUs)
#        SCHED=shard  DRIVER=kernel (or xdp:IFACE, dpdk:...; ADDR must then
#        reach it)  ADDR=127.0.0.1  PORT=9400
#        CLIENTS=2 (keel-udpload processes, one core each) FLOWS=32 (each)
#        WINDOW=32  SIZE=64  DURATION=3  WARMUP=0.5
#        SERVER_CPUS="2-17" pin the server's worker i to the i-th CPU of
#        this list (--cpus); CLIENT_CPUS="0,1" pin client j to the j-th
#        (taskset). Unset: the OS places them.
set -eu

build=${1:-build}
ncpu=$(getconf _NPROCESSORS_ONLN)
if [ -z "${WORKERS:-}" ]; then
	WORKERS=1
	n=2
	while [ "$n" -le "$ncpu" ]; do WORKERS="$WORKERS $n"; n=$((n * 2)); done
fi
SCHED=${SCHED:-shard}
DRIVER=${DRIVER:-kernel}
ADDR=${ADDR:-127.0.0.1}
PORT=${PORT:-9400}
CLIENTS=${CLIENTS:-2}
FLOWS=${FLOWS:-32}
WINDOW=${WINDOW:-32}
SIZE=${SIZE:-64}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-0.5}
SERVER_CPUS=${SERVER_CPUS:-}
CLIENT_CPUS=${CLIENT_CPUS:-}

echo_ex=$build/examples/udp-echo
load=$build/perf/keel-udpload
for x in "$echo_ex" "$load"; do
	[ -x "$x" ] || { echo "scale: no $x (build first: ninja -C $build)" >&2; exit 2; }
done
tmp=$(mktemp -d /tmp/keel-scale.XXXXXX)
srv=
cleanup() {
	[ -z "$srv" ] || kill "$srv" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# "2-4,8" -> "2 3 4 8"
expand() {
	echo "$1" | tr ',' '\n' | while IFS=- read -r lo hi; do
		seq "$lo" "${hi:-$lo}"
	done | tr '\n' ' '
}
# The first $2 words of $1, comma-separated.
first() {
	echo "$1" | tr ' ' '\n' | grep . | head -n "$2" | paste -sd, -
}
cpu_ns() {
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

scpus=$(expand "$SERVER_CPUS")
ccpus=$(expand "$CLIENT_CPUS")
printf 'scale: udp-echo --sched=%s --driver=%s, %s client(s) x %s flows, window %s, %s B, %s s\n' \
	"$SCHED" "$DRIVER" "$CLIENTS" "$FLOWS" "$WINDOW" "$SIZE" "$DURATION"
printf '%8s %14s %14s %10s\n' workers datagrams/s server_ns/dg served
for w in $WORKERS; do
	pin=
	if [ -n "$scpus" ]; then
		pin="--cpus=$(first "$scpus" "$w")"
	fi
	"$echo_ex" --sched="$SCHED" --workers="$w" --driver="$DRIVER" $pin --stats \
		"$ADDR:$PORT" > "$tmp/srv" 2>&1 &
	srv=$!
	i=0
	until grep -qs '^Listening on' "$tmp/srv"; do
		i=$((i + 1))
		if [ $i -gt 200 ] || ! kill -0 "$srv" 2>/dev/null; then
			echo "scale: udp-echo did not start:" >&2
			cat "$tmp/srv" >&2
			exit 1
		fi
		sleep 0.05
	done
	c0=$(cpu_ns "$srv")
	j=0
	pids=
	while [ $j -lt "$CLIENTS" ]; do
		cpu=$(first "$ccpus" $((j + 1)) | awk -F, '{ print $NF }')
		set --
		[ -z "$cpu" ] || set -- taskset -c "$cpu"
		"$@" "$load" --flows="$FLOWS" --window="$WINDOW" --size="$SIZE" \
			--duration="$DURATION" --warmup="$WARMUP" "$ADDR:$PORT" \
			> "$tmp/load$j" 2>&1 &
		pids="$pids $!"
		j=$((j + 1))
	done
	for p in $pids; do wait "$p" || { cat "$tmp"/load* >&2; exit 1; }; done
	c1=$(cpu_ns "$srv")
	kill -INT "$srv"
	wait "$srv" || true
	srv=
	rate=$(cat "$tmp"/load* | sed -n 's/.*| \([0-9]*\) datagrams\/s.*/\1/p' |
		awk '{ s += $1 } END { print s + 0 }')
	tx=$(awk '/^    [a-z]+: rx=/ { for (i = 1; i <= NF; i++) if ($i ~ /^tx=/) { sub(/tx=/, "", $i); n += $i } }
		END { print n + 0 }' "$tmp/srv")
	awk -v w="$w" -v r="$rate" -v c0="$c0" -v c1="$c1" -v tx="$tx" 'BEGIN {
		printf "%8s %14s %14.0f %10s\n", w, r, tx ? (c1 - c0) / tx : 0, tx }'
	PORT=$((PORT + 1))
done
