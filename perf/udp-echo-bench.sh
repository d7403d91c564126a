#!/bin/sh
# SPDX-License-Identifier: MIT
#
# perf/udp-echo-bench.sh: UDP echo throughput, latency and server CPU per
# datagram, on loopback, for
#   baseline          perf/baseline-echo: epoll + recvmmsg/sendmmsg, no keel
#   udp-echo@SCHED    perf/echo-plain.c (recv_from/send_to, one datagram a
#                     call; examples/udp-echo serves with keel_udp_serve,
#                     see perf/scale.sh) on every linked scheduler, 1 worker
#   echo-batch@SCHED  perf/echo-batch.c: keel with recv_batch/send_batch,
#                     the baseline's algorithm (default: on local only)
#   before@SCHED      with BEFORE=DIR: DIR/examples/udp-echo, another
#                     build's example (e.g. main's), on BATCH_SCHEDS, for
#                     a before/after comparison in one run
# each with keel-udpload as the client, for every payload size and window.
#
# On 2 vCPUs loopback throughput is bound by the kernel and the client,
# so servers look alike in datagrams/s; what separates them is the
# server's CPU time per datagram: the on-CPU time of all its threads
# (/proc/PID/task/*/schedstat, ns) from after its start to the end of the
# load, divided by the datagrams it sent back (its own count: --stats for
# keel, the exit line for the baseline).
#
# usage: perf/udp-echo-bench.sh [BUILD_DIR]          (default: build)
# env:   DURATION=2 WARMUP=0.5 FLOWS=4 SIZES="64 1400" WINDOWS="1 64"
#        SCHEDS="local pool steal shard" (default: every linked one)
#        BATCH_SCHEDS=local  BEFORE=  DRIVERS=kernel  PIN=1 (client on CPU 0,
#        server on CPU 1; PIN=0 lets the OS place them)  JSON=1 (also
#        print one JSON object per run)  ADDR=127.0.0.1 PORT=9300
#
# DRIVERS is the hook for the bypass drivers: each entry is passed to the
# keel servers as --driver=ENTRY (e.g. "kernel xdp:veth0"); ADDR must
# then be an address that reaches that interface, which loopback is not.
set -eu

build=${1:-build}
DURATION=${DURATION:-2}
WARMUP=${WARMUP:-0.5}
FLOWS=${FLOWS:-4}
SIZES=${SIZES:-64 1400}
WINDOWS=${WINDOWS:-1 64}
BATCH_SCHEDS=${BATCH_SCHEDS:-local}
DRIVERS=${DRIVERS:-kernel}
PIN=${PIN:-1}
JSON=${JSON:-0}
ADDR=${ADDR:-127.0.0.1}
BEFORE=${BEFORE:-}
port=${PORT:-9300}

load=$build/perf/keel-udpload
echo_ex=$build/perf/keel-echo-plain
echo_batch=$build/perf/keel-echo-batch
base=$build/perf/baseline-echo
echo_before=${BEFORE:+$BEFORE/examples/udp-echo}
for x in "$load" "$echo_ex" "$echo_batch" "$base" $echo_before; do
	[ -x "$x" ] || { echo "udp-echo-bench: no $x (build first: ninja -C $build)" >&2; exit 2; }
done
SCHEDS=${SCHEDS:-$("$echo_ex" --help | awk '/^linked schedulers/ { on = 1; next }
	/^linked drivers/ { on = 0 } on { sub(/^ \*?/, ""); print $1 }' | tr '\n' ' ')}

tmp=$(mktemp -d /tmp/keel-echo-bench.XXXXXX)
srv_pid=
cleanup() {
	[ -z "$srv_pid" ] || kill "$srv_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

if [ "$PIN" = 1 ] && command -v taskset >/dev/null 2>&1; then
	client_pin="taskset -c 0"
	server_pin="taskset -c 1"
else
	client_pin=
	server_pin=
fi

# On-CPU ns of every thread of PID.
cpu_ns() {
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# Datagrams the server sent back, from what it printed on exit.
server_tx() {
	awk '/^baseline-echo:/ { for (i = 1; i <= NF; i++) if ($i ~ /^tx=/) { sub(/tx=/, "", $i); n += $i } }
	     /^    [a-z]+: rx=/ { for (i = 1; i <= NF; i++) if ($i ~ /^tx=/) { sub(/tx=/, "", $i); n += $i } }
	     END { print n + 0 }' "$1"
}

baseline_cpu=
# run LABEL DRIVER SIZE WINDOW COMMAND...: one server, one load, one row.
run() {
	label=$1 drv=$2 size=$3 win=$4
	shift 4
	port=$((port + 1))
	# shellcheck disable=SC2086 # $server_pin is a command prefix
	$server_pin "$@" "$ADDR:$port" >"$tmp/out" 2>"$tmp/err" &
	srv_pid=$!
	i=0
	until grep -q '^Listening' "$tmp/out" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 50 ] || ! kill -0 "$srv_pid" 2>/dev/null; then
			echo "udp-echo-bench: $label did not start:" >&2
			cat "$tmp/err" >&2
			return 1
		fi
		sleep 0.1
	done
	c0=$(cpu_ns "$srv_pid")
	# shellcheck disable=SC2086
	if ! $client_pin "$load" --flows="$FLOWS" --window="$win" --size="$size" \
		--duration="$DURATION" --warmup="$WARMUP" --json "$ADDR:$port" \
		>"$tmp/load" 2>"$tmp/load.err"; then
		echo "udp-echo-bench: keel-udpload against $label failed:" >&2
		cat "$tmp/load.err" >&2
	fi
	c1=$(cpu_ns "$srv_pid")
	kill -TERM "$srv_pid"
	wait "$srv_pid" || true
	srv_pid=
	tx=$(server_tx "$tmp/err")
	cpu=$(awk -v a="$c0" -v b="$c1" -v n="$tx" 'BEGIN { if (n > 0) printf "%.0f", (b - a) / n; else print "n/a" }')
	[ "$label" = baseline ] && baseline_cpu=$cpu
	ratio=$(awk -v c="$cpu" -v b="$baseline_cpu" 'BEGIN { if (b + 0 > 0 && c + 0 > 0) printf "x %.2f", c / b; else print "" }')
	jq -r --arg l "$label" --arg d "$drv" --arg cpu "$cpu" --arg r "$ratio" \
		'[$l, $d, .size, .window, .sent, .received, .lost, .dgrams_per_s,
		  (.p50_us // "n/a"), (.p99_us // "n/a"), (.p999_us // "n/a"), $cpu, $r]
		 | @tsv' "$tmp/load" |
		awk -F'\t' '{ printf " %-18s %-7s %5s %4s %9s %9s %6s %9s %8s %8s %9s %9s %7s\n",
			$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 }'
	if [ "$JSON" = 1 ]; then
		[ "$cpu" = n/a ] && cpu_json=null || cpu_json=$cpu
		jq -c --arg l "$label" --arg d "$drv" --argjson cpu "$cpu_json" \
			--argjson tx "$tx" '. + { server: $l, driver: $d,
			server_tx: $tx, server_cpu_ns_per_dgram: $cpu }' "$tmp/load"
	fi
}

printf 'udp-echo-bench: %s flows, %s s measured after %s s warm-up, loopback %s; %s\n' \
	"$FLOWS" "$DURATION" "$WARMUP" "$ADDR" \
	"$([ -n "$server_pin" ] && echo 'client on CPU 0, server on CPU 1' || echo 'unpinned')"
printf ' %-18s %-7s %5s %4s %9s %9s %6s %9s %8s %8s %9s %9s %7s\n' server driver size win \
	sent received lost dgrams/s 'p50 us' 'p99 us' 'p999 us' 'CPU ns/dg' 'vs base'
for size in $SIZES; do
	for win in $WINDOWS; do
		run baseline - "$size" "$win" "$base" || true
		for drv in $DRIVERS; do
			for s in $SCHEDS; do
				run "udp-echo@$s" "$drv" "$size" "$win" "$echo_ex" \
					--sched="$s" --workers=1 --driver="$drv" --stats || true
			done
			for s in $BATCH_SCHEDS; do
				run "echo-batch@$s" "$drv" "$size" "$win" "$echo_batch" \
					--sched="$s" --workers=1 --driver="$drv" --stats || true
			done
			[ -z "$echo_before" ] || for s in $BATCH_SCHEDS; do
				run "before@$s" "$drv" "$size" "$win" "$echo_before" \
					--sched="$s" --workers=1 --driver="$drv" --stats || true
			done
		done
	done
done
