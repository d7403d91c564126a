#!/bin/sh
# Run the net/ receive-path fuzzer for a bounded time, from generated seeds
# plus what earlier runs found (kept in WORKDIR/corpus).
# Usage: run_fuzz.sh FUZZER GEN_CORPUS WORKDIR SECONDS
# KEEL_FUZZ_SECONDS overrides SECONDS. A crash leaves its input in WORKDIR
# (crash-*): replay it with FUZZER FILE, and keep it as a regression seed.
set -eu
fuzzer=$1
gen=$2
work=$3
secs=${KEEL_FUZZ_SECONDS:-$4}

mkdir -p "$work/corpus" "$work/seeds"
rm -f "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*
"$gen" "$work/seeds"
exec "$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=9100 \
	-print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "$work/seeds"
