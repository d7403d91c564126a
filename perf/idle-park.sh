#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# perf/idle-park.sh: what an idle keel server costs when its worker has two
# drivers, and how fast it answers when woken: examples/tcp-echo with
# --driver=xdp:IFACE (UDP on AF_XDP, so the kernel driver is added for
# TCP: two drivers on one worker) on a veth pair between two namespaces of
# its own. It reports the server's CPU time over SECS idle seconds (from
# /proc/PID/stat) and the time a TCP connect + one echo takes from the
# peer while the server sleeps (median of TRIES).
#
# usage: perf/idle-park.sh [BUILD_DIR] [SECS] [TRIES]   (root; default
#        build, 10 s, 20)
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build}
secs=${2:-10}
tries=${3:-20}
echo_bin=$build/examples/tcp-echo
[ -x "$echo_bin" ] || { echo "idle-park: $echo_bin not built" >&2; exit 1; }
"$echo_bin" --help 2>&1 | grep -q '^ .xdp ' ||
	{ echo "idle-park: $echo_bin has no xdp driver linked" >&2; exit 1; }

srv=kip-s-$$ peer=kip-p-$$
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	ip netns del "$srv" 2>/dev/null || true
	ip netns del "$peer" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$srv"
ip netns add "$peer"
ip link add kip0 netns "$srv" type veth peer name kip1 netns "$peer"
for ns in "$srv" "$peer"; do
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
done
ip -n "$srv" addr add 198.18.3.1/24 dev kip0
ip -n "$peer" addr add 198.18.3.2/24 dev kip1
ip -n "$srv" link set kip0 up
ip -n "$peer" link set kip1 up

ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)

measure() { # LABEL DRIVER
	ip netns exec "$srv" "$echo_bin" --driver="$2" 198.18.3.1:7 >/dev/null 2>&1 &
	pid=$!
	# Started when it accepts (bounded: 10 s).
	for _ in $(seq 100); do
		ip netns exec "$peer" bash -c 'exec 3<>/dev/tcp/198.18.3.1/7' 2>/dev/null && break
		sleep 0.1
	done
	local t0 t1 cpu med times=()
	t0=$(ticks)
	sleep "$secs"
	t1=$(ticks)
	cpu=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.2f", 100 * d / hz / s }')
	# Connect + one echo while the server sleeps (idle 200 ms between).
	for _ in $(seq "$tries"); do
		sleep 0.2
		times+=("$(ip netns exec "$peer" bash -c '
			s=${EPOCHREALTIME/./}
			exec 3<>/dev/tcp/198.18.3.1/7
			printf x >&3
			read -r -N 1 -t 5 c <&3
			e=${EPOCHREALTIME/./}
			[ "$c" = x ] && echo $((e - s))')")
	done
	med=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
	printf '  %-34s idle %s s: %5s%% of a CPU; connect + echo while asleep: median %s us\n' \
		"$1" "$secs" "$cpu" "$med"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=
}

echo "tcp-echo on a veth pair, $(uname -r), $(nproc) CPUs (${tries} connects each):"
measure "--driver=kernel (one driver)" kernel
measure "--driver=xdp:IFACE (xdp + kernel)" xdp:kip0
