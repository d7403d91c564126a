#!/usr/bin/env bash
# Overload with nothing unaccounted (issue 12, item 5), at full scale.
#
# For each driver (kernel, xdp, dpdk through net_af_packet) examples/
# udp-echo serves a veth pair between two fresh namespaces (198.18.3.0/24).
# First keel-udpload measures what the echo serves (closed loop, 3 s);
# then, on a fresh echo, it sends an open loop at FACTOR times that rate
# for SECONDS, whatever comes back. At the end every datagram sent is
# either echoed back or in a named drop counter:
#
#   sent = echoed + sum of drops
#
#   sent, echoed       /proc/net/snmp Udp OutDatagrams, InDatagrams of the
#                      peer namespace (keel-udpload's sockets alone there)
#   keel's driver      --stats at exit: socket queue full, kernel ring
#                      full / no frame (xdp), port missed / no mbuf / TX
#                      full (dpdk), transmit dropped
#   server namespace   /proc/net/snmp Udp RcvbufErrors, InErrors (the kernel
#                      driver's socket buffer; the kernel's own sockets)
#   peer namespace     /proc/net/snmp Udp RcvbufErrors (keel-udpload's
#                      sockets), NoPorts (echoes that came back after it
#                      closed them)
#   veth               tx_dropped and rx_dropped of both ends (rx_dropped
#                      counts the receive backlog's drops; not the server
#                      end's with keel's XDP program on it, where it repeats
#                      AF_XDP's own counters)
#   af_packet ring     PACKET_STATISTICS tp_drops of the echo's packet
#                      sockets (dpdk through net_af_packet: the PMD does
#                      not report them)
#   IP                 /proc/net/snmp Ip InDiscards of both namespaces
#   neighbours         /proc/net/stat/arp_cache unresolved_discards
#                      (datagrams dropped while a next hop was resolved;
#                      one count for all namespaces: exact only on a
#                      machine doing nothing else)
#
# and the echo's peak resident memory (VmHWM) is reported beside its
# resident memory once it listened: load is shed, memory does not grow.
# Server on CPU 1, load on CPU 0. Root only; namespaces removed at exit.
# usage: perf/overload.sh [BUILD-DIR] [SECONDS] [SIZE] [FACTOR]  (build, 10, 64, 2)
#        DRIVERS="xdp dpdk" perf/overload.sh ...   (default: kernel xdp dpdk)
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build}
secs=${2:-10}
size=${3:-64}
factor=${4:-2}
drivers=" ${DRIVERS:-kernel xdp dpdk} "
load=$build/perf/keel-udpload
kecho=$build/examples/udp-echo
decho=$kecho
"$decho" --help 2>&1 | grep -q '^ .dpdk ' || decho=$build/tests/drivers/dpdk/udp_echo_dpdk
for f in "$load" "$kecho"; do
	[ -x "$f" ] || { echo "overload: $f not built" >&2; exit 1; }
done

srv=kov-s-$$ peer=kov-p-$$
log=$(mktemp)
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	ip netns del "$srv" 2>/dev/null || true
	ip netns del "$peer" 2>/dev/null || true
	rm -f "$log"
}
trap cleanup EXIT
ip netns add "$srv"
ip netns add "$peer"
ip link add kov0 netns "$srv" type veth peer name kov1 netns "$peer"
ip -n "$srv" link set lo up
ip -n "$peer" link set lo up
ip -n "$srv" link set kov0 up
ip -n "$peer" addr add 198.18.3.2/24 dev kov1
ip -n "$peer" link set kov1 up
ip netns exec "$peer" ethtool -K kov1 tx off >/dev/null 2>&1 ||
	echo "(ethtool missing: the bypass drivers will drop the peer's partial checksums)"
for ns in "$srv" "$peer"; do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
done

snmp() { # NS FIELD: that Udp: counter of /proc/net/snmp in NS
	ip netns exec "$1" awk -v f="$2" '/^Udp:/ {
		if (!n) { for (i = 1; i <= NF; i++) h[i] = $i; n = 1 }
		else for (i = 1; i <= NF; i++) if (h[i] == f) print $i }' /proc/net/snmp
}
ifdrops() { # NS DEV rx|tx: its rx_dropped or tx_dropped (the backlog's
	# drops are counted here, on the receiving device, and in softnet_stat)
	ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3_dropped"
}
ipstat() { # NS FIELD: that Ip: counter of /proc/net/snmp in NS
	ip netns exec "$1" awk -v f="$2" '/^Ip:/ {
		if (!n) { for (i = 1; i <= NF; i++) h[i] = $i; n = 1 }
		else for (i = 1; i <= NF; i++) if (h[i] == f) print $i }' /proc/net/snmp
}
arpdisc() { # datagrams the neighbour layer dropped while it resolved a
	# next hop: unresolved_discards, hexadecimal, per CPU (one table for
	# all namespaces, readable from the first one only)
	local c=0 i=0 s=0 f
	read -ra f </proc/net/stat/arp_cache
	for i in "${!f[@]}"; do [ "${f[$i]}" = unresolved_discards ] && c=$i; done
	while read -ra f; do
		[[ ${f[0]} =~ ^[0-9a-f]+$ ]] && s=$((s + 16#${f[$c]}))
	done </proc/net/stat/arp_cache
	echo $s
}
# Sent and echoed, from the peer namespace, where only keel-udpload's
# sockets live: every datagram it sent (OutDatagrams), every echo handed to
# it (InDatagrams), whatever its measuring window.
totals() {
	echo "$(snmp "$peer" OutDatagrams) $(snmp "$peer" InDatagrams)"
}
# The drops outside keel's driver, in this order (names for the report).
# InErrors counts RcvbufErrors too: the rest is "other" (checksums). A veth
# end's rx_dropped counts what its XDP program could not redirect, which
# AF_XDP counts too (keel's xdp counters): only tx_dropped is read, what
# could not be forwarded to the other end.
names=("server ns: Udp RcvbufErrors" "server ns: Udp other InErrors"
       "peer ns: Udp RcvbufErrors" "peer ns: Udp other InErrors"
       "peer ns: Udp NoPorts" "server ns: Ip InDiscards" "peer ns: Ip InDiscards"
       "ARP unresolved discards"
       "veth: server end tx_dropped" "veth: peer end tx_dropped"
       "veth: server end rx_dropped" "veth: peer end rx_dropped")
counters() { # DRIVER
	local sr si pr pi srx=0
	sr=$(snmp "$srv" RcvbufErrors) si=$(snmp "$srv" InErrors)
	pr=$(snmp "$peer" RcvbufErrors) pi=$(snmp "$peer" InErrors)
	# With keel's XDP program on it, the server end's rx_dropped counts
	# what it could not redirect, which AF_XDP's counters have already.
	[ "$1" = xdp ] || srx=$(ifdrops "$srv" kov0 rx)
	echo "$sr $((si - sr)) $pr $((pi - pr)) $(snmp "$peer" NoPorts)" \
	     "$(ipstat "$srv" InDiscards) $(ipstat "$peer" InDiscards) $(arpdisc)" \
	     "$(ifdrops "$srv" kov0 tx) $(ifdrops "$peer" kov1 tx) $srx $(ifdrops "$peer" kov1 rx)"
}
# The driver's own drop counters, by name, from the echo's --stats output
# at exit (the runtime's line has their sums; each driver prints the
# parts): NAME=VALUE lines, net/'s drops as net_NAME.
driver_drops() { # DRIVER
	case $1 in
	kernel) grep -m1 ' kernel: rx=' "$log" | grep -oE '(rx|tx)_dropped=[0-9]+' ;;
	xdp)
		grep -m1 ' drops: no_socket=' "$log" | sed 's/kernel: rx_dropped/kernel_rx_dropped/' |
			grep -oE '(no_socket|sock_queue_full|kernel_rx_dropped|rx_ring_full)=[0-9]+' ;;
	dpdk) grep -m1 ' dpdk port .* drops:' "$log" | grep -oE '[a-z_]+=[0-9]+' ;;
	esac
	grep -E ' (xdp|dpdk) net drop ' "$log" | sed 's/.* net drop /net_/'
}
# net/'s drops of frames that are no datagram from the peer (ARP, the
# peer's ICMP "port unreachable" for echoes that came back too late):
# shown, not summed.
not_udp='^net_(icmp_|arp_(trunc|bad|not_for_us|conflict)$|ethertype$|ip_proto$|dst_mac$)'

# Frames a packet socket of process PID dropped for want of room in its
# ring (PACKET_STATISTICS tp_drops): DPDK's net_af_packet does not report
# them (its imissed stays 0), so they are read from its sockets directly,
# each duplicated here with pidfd_getfd(2). Reading resets them.
pkt_drops() { # PID
	python3 - "$1" <<'PY'
import ctypes, os, socket, struct, sys
pid = int(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
pidfd = os.pidfd_open(pid)
total = 0
for name in os.listdir(f"/proc/{pid}/fd"):
    try:
        if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
            continue
    except OSError:
        continue
    fd = libc.syscall(438, pidfd, int(name), 0)  # pidfd_getfd
    if fd < 0:
        continue
    try:
        s = socket.socket(fileno=fd)
    except OSError:  # a family Python does not know (AF_XDP)
        os.close(fd)
        continue
    if s.family == socket.AF_PACKET:
        total += struct.unpack("II", s.getsockopt(263, 6, 12)[:8])[1]
    s.close()
print(total)
PY
}

start() { # SERVER-ARGS...: the echo on CPU 1, until it listens
	: >"$log"
	ip netns exec "$srv" taskset -c 1 "$@" --stats 198.18.3.1:7 >"$log" 2>&1 &
	server_pid=$!
	for _ in $(seq 100); do
		grep -q '^Listening' "$log" && return 0
		sleep 0.1
	done
	echo "overload: the echo did not start:" >&2
	cat "$log" >&2
	exit 1
}
stop() {
	kill -INT "$server_pid"
	wait "$server_pid" 2>/dev/null || true
	server_pid=
}
loadgen() { # ARGS...: keel-udpload in the peer namespace on CPU 0
	ip netns exec "$peer" taskset -c 0 "$load" --flows=4 --size="$size" "$@" 198.18.3.1:7
}

run() { # NAME DRIVER SERVER-ARGS...
	local name=$1 drv=$2 cap rate line sent recv rss hwm pkt total=0 i
	local -a before after t0 t1
	shift 2
	[[ $drivers == *" $drv "* ]] || return 0
	echo "== $name"
	start "$@"
	cap=$(loadgen --window=32 --duration=3 --json | sed -n 's/.*"dgrams_per_s":\([0-9]*\).*/\1/p')
	stop
	rate=$((cap * factor))
	echo "echo serves $cap datagrams/s (closed loop); open loop at $rate/s for ${secs}s"
	start "$@"
	rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$server_pid/status")
	read -ra before <<<"$(counters "$drv")"
	read -ra t0 <<<"$(totals)"
	line=$(loadgen --rate="$rate" --duration="$secs" --warmup=0 | tail -1)
	sleep 1 # what the echo still held comes back to closed ports
	hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$server_pid/status")
	pkt=0
	[ "$drv" = dpdk ] && pkt=$(pkt_drops "$server_pid")
	stop
	read -ra after <<<"$(counters "$drv")"
	read -ra t1 <<<"$(totals)"
	echo "$line"
	sent=$((t1[0] - t0[0]))
	recv=$((t1[1] - t0[1]))
	printf '  %-40s %12s\n' "sent (peer ns OutDatagrams)" "$sent" \
		"echoed (peer ns InDatagrams)" "$recv"
	printf '  %-40s %12s %s\n' "echo: received" "$(grep -m1 -oE " $drv: rx=[0-9]+" "$log" | cut -d= -f2)" \
		"(the driver's count: not summed)" "echo: sent" \
		"$(grep -m1 -oE " $drv: rx=.* tx=[0-9]+" "$log" | sed 's/.*tx=//')" ""
	while IFS== read -r k v; do
		if [[ $k =~ $not_udp ]]; then
			printf '  %-40s %12s (not UDP: not summed)\n' "keel driver: $k" "$v"
			continue
		fi
		printf '  %-40s %12s\n' "keel driver: $k" "$v"
		total=$((total + v))
	done < <(driver_drops "$drv")
	if [ "$drv" = dpdk ]; then
		printf '  %-40s %12s\n' "af_packet ring full (tp_drops)" "$pkt"
		total=$((total + pkt))
	fi
	for i in "${!names[@]}"; do
		printf '  %-40s %12s\n' "${names[$i]}" $((after[i] - before[i]))
		total=$((total + after[i] - before[i]))
	done
	printf '  %-40s %12s\n' "dropped, all counters" "$total" \
		"unaccounted (sent - echoed - dropped)" $((sent - recv - total))
	printf '  %-40s %9s kB (%s kB once listening)\n' "echo peak RSS (VmHWM)" "$hwm" "$rss"
}

echo "== overload: $size-byte payloads, 4 flows, ${factor}x the echo's rate, ${secs}s, veth"
ip -n "$srv" addr add 198.18.3.1/24 dev kov0
run "kernel" kernel "$kecho" --driver=kernel
if "$kecho" --help 2>&1 | grep -q '^ .xdp '; then
	run "xdp" xdp "$kecho" --driver=xdp:kov0
else
	echo "xdp: not built"
fi
ip -n "$srv" addr flush dev kov0
if [ -x "$decho" ]; then
	run "dpdk net_af_packet" dpdk "$decho" \
		"--driver=dpdk:ip=198.18.3.1/24,park=sleep -- --no-huge --no-pci -m 256 --vdev=net_af_packet0,iface=kov0"
else
	echo "dpdk: not built"
fi
