#!/bin/sh
# SPDX-License-Identifier: MIT
#
# perf/callgrind.sh: instructions per operation of keel-bench's workloads,
# counted by valgrind --tool=callgrind (these VMs have no hardware
# counters, and instruction counts, unlike times, repeat exactly).
#
# Each workload runs twice per runtime, with LO and HI iterations per
# sample (--samples=1 --warmup-ms=0, so the runs differ only in the
# iterations); (Ir(HI) - Ir(LO)) / ((HI - LO) * ops per iteration) is the
# cost of one operation with the runtime's creation, the first (cold)
# iteration and the teardown cancelled out.
#
# usage: perf/callgrind.sh [BUILD_DIR] [RUNTIME...]
#   BUILD_DIR  default: build
#   RUNTIME    baseline, local, or SCHED/WORKERS such as pool/1
#              (default: baseline local); tokio: the same workloads on
#              tokio's current_thread runtime (perf/tokio, built by
#              perf/tokio-compare.sh or cargo build --release there)
# env: WORKLOADS (default "smoke notify_self spawn_many poll_reactor
#      poll_reactor_fd yield_many ping_pong"), KEEP=DIR to keep the
#      callgrind.out files there for callgrind_annotate.
set -eu

build=${1:-build}
[ $# -gt 0 ] && shift
runtimes=${*:-baseline local}
workloads=${WORKLOADS:-smoke notify_self spawn_many poll_reactor poll_reactor_fd yield_many ping_pong}
bench=$build/perf/keel-bench
tokio_bench=$(dirname "$0")/tokio/target/release/keel-tokio-bench

if [ ! -x "$bench" ]; then
	echo "callgrind.sh: no $bench (build first: ninja -C $build)" >&2
	exit 2
fi
if ! command -v valgrind >/dev/null 2>&1; then
	echo "callgrind.sh: valgrind is not installed (apt-get install valgrind)" >&2
	exit 2
fi
case " $runtimes " in *" tokio "*)
	[ -x "$tokio_bench" ] || {
		echo "callgrind.sh: no $tokio_bench (build it: perf/tokio-compare.sh, or cargo build --release in perf/tokio)" >&2
		exit 2
	} ;;
esac
out=${KEEP:-$(mktemp -d /tmp/keel-callgrind.XXXXXX)}
mkdir -p "$out"
[ -n "${KEEP:-}" ] || trap 'rm -rf "$out"' EXIT

# Operations per iteration and what one is, from keel-bench --list.
ops_of() { "$bench" --list | awk -v w="$1" '$1 == w { sub(/^x/, "", $3); print $3 }'; }
op_of() { "$bench" --list | awk -v w="$1" '$1 == w { print $2 }'; }

# Total instructions of keel-bench with ITERS iterations of WORKLOAD on RUNTIME.
count() { # WORKLOAD RUNTIME ITERS
	case $2 in
	baseline) sel="--sched=baseline" ;;
	*/*) sel="--sched=${2%/*} --workers=${2#*/} --no-baseline" ;;
	*) sel="--sched=$2 --no-baseline" ;;
	esac
	prog=$bench
	[ "$2" = tokio ] && prog=$tokio_bench sel=
	f="$out/callgrind.out.$1.$(echo "$2" | tr / _).$3"
	# shellcheck disable=SC2086 # $sel is a list of options
	valgrind --tool=callgrind --callgrind-out-file="$f" \
		"$prog" "$1" $sel --iters="$3" --samples=1 --warmup-ms=0 \
		--json >/dev/null 2>"$f.log" || {
		echo "callgrind.sh: $1 on $2 failed, see $f.log" >&2
		return 1
	}
	awk '/^(summary|totals):/ { print $2; exit }' "$f"
}

printf 'callgrind: instructions per operation (Ir; HI minus LO iterations)\n'
printf ' %-16s %-10s' workload op
for r in $runtimes; do printf ' %10s' "$r"; done
printf '\n'
for w in $workloads; do
	ops=$(ops_of "$w")
	[ -n "$ops" ] || { echo "callgrind.sh: no workload $w" >&2; exit 2; }
	if [ "$ops" -ge 1000 ]; then lo=1 hi=3; else lo=200 hi=2200; fi
	printf ' %-16s %-10s' "$w" "$(op_of "$w")"
	for r in $runtimes; do
		if [ "$r" = baseline ] && "$bench" --list | grep -q "^  $w .*(no baseline)"; then
			printf ' %10s' n/a
			continue
		fi
		if [ "$r" = tokio ] && ! "$tokio_bench" --list | grep -q "^  $w "; then
			printf ' %10s' n/a # poll_reactor: no tokio counterpart
			continue
		fi
		if ! a=$(count "$w" "$r" $lo) || ! b=$(count "$w" "$r" $hi); then
			printf ' %10s' failed
			continue
		fi
		awk -v a="$a" -v b="$b" -v n=$((hi - lo)) -v ops="$ops" \
			'BEGIN { printf " %10.1f", (b - a) / (n * ops) }'
	done
	printf '\n'
done
[ -z "${KEEP:-}" ] || printf 'callgrind.out files: %s\n' "$out"
