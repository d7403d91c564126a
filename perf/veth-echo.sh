#!/usr/bin/env bash
# UDP echo through a veth pair, the same load against each server:
# examples/udp-echo on the kernel driver, on the AF_XDP driver (parked,
# then busy-polling, then replying in place is the example's copy path),
# then on the DPDK driver through net_af_packet (busy-polling, then
# sleeping). keel-udpload runs in the peer namespace; server and load are
# pinned to different CPUs. Two fresh namespaces hold everything
# (198.18.2.0/24), removed at exit. Root only. Drivers that are not built
# are skipped with a line that says so.
# usage: perf/veth-echo.sh [BUILD-DIR] [SECONDS] [WINDOW] [SIZE]  (build, 5, 32, 64)
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build}
secs=${2:-5}
window=${3:-32}
size=${4:-64}
load=$build/perf/keel-udpload
kecho=$build/examples/udp-echo
# The example built with the DPDK driver: examples/ itself once it links
# keel_drv_dpdk, else the copy the DPDK tests build.
decho=$kecho
"$decho" --help 2>&1 | grep -q '^ .dpdk ' || decho=$build/tests/drivers/dpdk/udp_echo_dpdk
for f in "$load" "$kecho"; do
	[ -x "$f" ] || { echo "veth-echo: $f not built" >&2; exit 1; }
done

srv=kde-s-$$ peer=kde-p-$$
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	ip netns del "$srv" 2>/dev/null || true
	ip netns del "$peer" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$srv"
ip netns add "$peer"
ip link add kde0 netns "$srv" type veth peer name kde1 netns "$peer"
ip -n "$srv" link set lo up
ip -n "$peer" link set lo up
ip -n "$srv" link set kde0 up
ip -n "$peer" addr add 198.18.2.2/24 dev kde1
ip -n "$peer" link set kde1 up
# Full checksums from the peer (its partial ones reach a bypass driver as
# they are); no IPv6 chatter.
ip netns exec "$peer" ethtool -K kde1 tx off >/dev/null 2>&1 ||
	echo "(ethtool missing: the DPDK runs will drop the peer's partial checksums)"
for ns in "$srv" "$peer"; do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
done

run() { # NAME SERVER-ARGS...: start the server on CPU 1, load from CPU 0
	local name=$1
	shift
	ip netns exec "$srv" taskset -c 1 "$@" 198.18.2.1:7 >/dev/null 2>&1 &
	server_pid=$!
	sleep 1
	printf '%-28s ' "$name"
	ip netns exec "$peer" taskset -c 0 "$load" --flows=4 --window="$window" \
		--size="$size" --duration="$secs" 198.18.2.1:7 2>&1 | tail -1
	kill "$server_pid"
	wait "$server_pid" 2>/dev/null || true
	server_pid=
}

echo "== UDP echo, $size-byte payloads, 4 flows x $window in flight, ${secs}s, veth"
ip -n "$srv" addr add 198.18.2.1/24 dev kde0
run "kernel (epoll)" "$kecho" --driver=kernel
if "$kecho" --help 2>&1 | grep -q '^ .xdp '; then
	run "xdp, parked" "$kecho" --driver=xdp:kde0
	run "xdp, busy" "$kecho" --driver=xdp:kde0,busy
else
	echo "xdp: not built"
fi
ip -n "$srv" addr flush dev kde0
eal="--no-huge --no-pci -m 256 --vdev=net_af_packet0,iface=kde0"
if [ -x "$decho" ]; then
	run "dpdk net_af_packet, busy" "$decho" "--driver=dpdk:ip=198.18.2.1/24,park=busy -- $eal"
	run "dpdk net_af_packet, sleep" "$decho" "--driver=dpdk:ip=198.18.2.1/24,park=sleep -- $eal"
else
	echo "dpdk: not built"
fi
