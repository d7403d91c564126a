#!/bin/sh
# The net/ receive-path fuzzer at length: at least RUNS inputs (default
# 10^6), from the generated seeds plus the corpus earlier runs kept, and a
# line to paste into docs/fuzzing.md. CI keeps its short run (the
# net/fuzz_rx test, 20 s); this is the long one, run by hand.
# Usage: scripts/fuzz.sh [RUNS] [BUILD_DIR]   (BUILD_DIR default build-ci)
# A crash leaves its input in BUILD/tests/net/fuzz_rx.long/crash-*.
set -eu
runs=${1:-1000000}
build=${2:-build-ci}
cd "$(dirname "$0")/.."
[ -d "$build" ] || meson setup "$build" -Dwerror=true >/dev/null
ninja -C "$build" tests/net/fuzz_rx tests/net/net_gen_corpus >/dev/null
work=$build/tests/net/fuzz_rx.long
mkdir -p "$work/corpus" "$work/seeds"
rm -f "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*
"$build/tests/net/net_gen_corpus" "$work/seeds"
start=$(date +%s)
"$build/tests/net/fuzz_rx" -runs="$runs" -timeout=10 -rss_limit_mb=2048 \
	-max_len=9100 -print_final_stats=1 -artifact_prefix="$work/" \
	"$work/corpus" "$work/seeds" 2>"$work/log" || {
	tail -40 "$work/log"; echo "fuzz: FAILED (see $work)"; exit 1; }
secs=$(( $(date +%s) - start ))
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1)
echo "$(date -u +%F) $(uname -m) $(nproc) CPUs ($(sed -n 's/^model name.*: //p' /proc/cpuinfo | head -1)): $execs inputs in ${secs} s, $cov, no crash"
