#!/usr/bin/env bash
# The main job: build keel, start the UDP echo service on the default
# kernel-socket driver, drive it for a few seconds with keel-udpload, print
# what was measured, stop the service cleanly.
#   ADDR (default 127.0.0.1:8080), DURATION (3), FLOWS (4), WINDOW (8),
#   SIZE (64) may be set in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build examples/udp-echo perf/keel-udpload >/dev/null

addr=${ADDR:-127.0.0.1:8080}
build/examples/udp-echo "$addr" > build/udp-echo.log 2>&1 &
echo_pid=$!
trap 'kill -INT $echo_pid 2>/dev/null || true' EXIT

# Wait (bounded) until it listens.
for _ in $(seq 50); do
	grep -q '^Listening on' build/udp-echo.log && break
	kill -0 $echo_pid 2>/dev/null || { cat build/udp-echo.log; exit 1; }
	sleep 0.1
done
cat build/udp-echo.log

build/perf/keel-udpload --duration="${DURATION:-3}" --flows="${FLOWS:-4}" \
	--window="${WINDOW:-8}" --size="${SIZE:-64}" "$addr"

kill -INT $echo_pid
wait $echo_pid
trap - EXIT
echo "udp-echo stopped cleanly"
