#!/usr/bin/env bash
# The suite N times (default 5) while a CPU hog keeps every core busy, to
# find the tests that fail only now and then: each run is a full
# `meson test` of BUILD_DIR (default build-ci, built first); a test that
# failed even once is listed with how many runs it failed in, and the
# script then exits 1. Extra arguments go to meson test (test names,
# --suite ..., to stress a subset).
#
# Usage: scripts/stress-tests.sh [-n N] [-b BUILD_DIR] [MESON-TEST-ARGS...]
#   KEEL_STRESS_HOGS  busy processes (default: the number of CPUs)
set -uo pipefail
cd "$(dirname "$0")/.."

runs=5
build=build-ci
while [ $# -gt 0 ]; do
	case $1 in
	-n) runs=${2-}; shift 2 || exit 2 ;;
	-b) build=${2-}; shift 2 || exit 2 ;;
	-h | --help) sed -n '2,11p' "$0"; exit 0 ;;
	*) break ;; # the rest is meson test's
	esac
done
case $runs in '' | *[!0-9]* | 0) echo "stress-tests: -n wants a count >= 1, not '$runs'" >&2; exit 2 ;; esac

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" -Dwerror=true >/dev/null || exit 2
fi
ninja -C "$build" >/dev/null || { echo "stress-tests: the build in $build failed" >&2; exit 2; }

hogs=${KEEL_STRESS_HOGS:-$(nproc)}
pids=()
stop_hogs() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait "${pids[@]}" 2>/dev/null
	pids=()
}
trap stop_hogs EXIT
trap 'stop_hogs; exit 130' INT TERM
for ((i = 0; i < hogs; i++)); do
	(while :; do :; done) &
	pids+=($!)
done

out=$(mktemp -d)
declare -A failed=()
for ((r = 1; r <= runs; r++)); do
	start=$(date +%s)
	meson test -C "$build" --no-rebuild --num-processes 2 --logbase "stress$r" "$@" \
		>"$out/run$r.txt" 2>&1
	rc=$?
	log=$build/meson-logs/stress$r.txt
	# "N/M name  FAIL|TIMEOUT|ERROR ..." lines of meson's summary
	bad=$(grep -E '^ *[0-9]+/[0-9]+ .* (FAIL|TIMEOUT|ERROR) ' "$out/run$r.txt" |
		sed -E 's/^ *[0-9]+\/[0-9]+ +//; s/ +(FAIL|TIMEOUT|ERROR) .*//' | sort -u)
	if [ "$rc" -ne 0 ] && [ -z "$bad" ]; then
		bad="(meson test exited $rc: see $out/run$r.txt)"
	fi
	n=$(grep -cE '^ *[0-9]+/[0-9]+ ' "$out/run$r.txt")
	echo "run $r/$runs: $n tests, $(($(date +%s) - start)) s, $(echo -n "$bad" | grep -c .) failed (log: $log)"
	while IFS= read -r t; do
		[ -n "$t" ] && failed[$t]=$((${failed[$t]:-0} + 1))
	done <<<"$bad"
done
stop_hogs

if [ ${#failed[@]} -eq 0 ]; then
	echo "stress-tests: no test failed in $runs runs under $hogs CPU hogs"
	rm -rf "$out"
	exit 0
fi
echo "stress-tests: tests that failed at least once in $runs runs (outputs in $out):"
for t in "${!failed[@]}"; do
	echo "  $t: ${failed[$t]}/$runs"
done | sort
exit 1
