#!/usr/bin/env bash
# examples/dns (dns-server) against Knot DNS and NSD: the same zone, the
# same query mix (hits, NXDOMAIN, other types), one server core each.
#
# 1. Loopback, kernel sockets, driven by dnsperf: keel on the kernel
#    driver, knotd (UDP mode), nsd. Each server is pinned to CPU 1 and
#    dnsperf to CPU 0, in a network namespace of the script's own (so no
#    one else's loopback traffic is counted). Two runs per server: open
#    (dnsperf as fast as it gets answers: queries/s, lost) and paced at
#    RATE queries/s (the same load for all: CPU per query, latency).
#    Server CPU is utime+stime from /proc/PID/stat of the server's whole
#    process tree, over the run; the user part is shown apart (the rest is
#    the kernel's, which on loopback includes delivering each answer to
#    dnsperf's socket and waking its thread).
# 2. A veth pair between two namespaces (198.18.3.0/24), driven by
#    kxdpgun (AF_XDP query generator) from the peer namespace on CPU 0:
#    keel on the xdp driver (parked, then busy-polling) against knotd's
#    XDP mode, the server on CPU 1. Answers/s and lost queries at each
#    sending rate of RATES_XDP (the last above what any of them answers).
#
# Installs knot, nsd, dnsperf and knot-dnsutils if missing (root only).
# DNS_BENCH_ROUNDS=N repeats every run N times, the servers interleaved,
# and ends each part with the median of each row over the rounds (the
# machine's noise shows in the spread); DNS_BENCH_PARTS="loopback" or
# "veth" runs one part.
# usage: perf/dns-bench.sh [BUILD-DIR] [SECONDS] [RATE] [RATES_XDP]
#        (build, 10, 40000, "100000 200000 300000 400000 2000000")
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build}
secs=${2:-10}
rate=${3:-40000}
rates_xdp=${4:-100000 200000 300000 400000 2000000}
rounds=${DNS_BENCH_ROUNDS:-1} # runs of each server and rate, interleaved
parts=${DNS_BENCH_PARTS:-loopback veth}
server_bin=$(realpath "$build/examples/dns/dns-server")
[ -x "$server_bin" ] || { echo "dns-bench: $server_bin not built" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "dns-bench: needs root (namespaces, AF_XDP)" >&2; exit 1; }

need=()
for p in knot nsd dnsperf knot-dnsutils; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "dns-bench: installing ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	# The packages start their own daemons on port 53: not ours.
	systemctl stop knot nsd 2>/dev/null || true
fi

work=$(mktemp -d /tmp/dns-bench.XXXXXX)
lo=dnsb-lo-$$ srv=dnsb-s-$$ peer=dnsb-p-$$
server_pid=
cleanup() {
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	for ns in "$lo" "$srv" "$peer"; do ip netns del "$ns" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

# ------------------------------------------------------------ zone, queries
# The test zone plus 1000 hosts, A and AAAA.
{
	cat tests/dns/example.zone
	for i in $(seq 0 999); do
		printf 'host%d\tIN\tA\t198.51.100.%d\n\tIN\tAAAA\t2001:db8:1::%x\n' "$i" $((i % 250)) "$i"
	done
} >"$work/example.zone"
# 1000 queries: 60% hits (A, AAAA), 20% NXDOMAIN, 20% other types
# (MX, NS, TXT, SOA, a CNAME chain, NODATA).
{
	for i in $(seq 0 999); do
		case $((i % 10)) in
		0 | 1 | 2 | 3) echo "host$(((i * 7) % 1000)).example.com A" ;;
		4 | 5) echo "host$(((i * 13) % 1000)).example.com AAAA" ;;
		6 | 7) echo "nx$i.example.com A" ;;
		8) case $((i % 50)) in
		   8) echo "example.com MX" ;; 18) echo "example.com NS" ;;
		   28) echo "example.com TXT" ;; 38) echo "example.com SOA" ;;
		   *) echo "www.example.com A" ;; esac ;;
		9) case $((i % 30)) in
		   9) echo "chain.example.com A" ;; 19) echo "www.example.com MX" ;;
		   *) echo "mail.example.com AAAA" ;; esac ;;
		esac
	done
} >"$work/queries"

# ------------------------------------------------------------------ servers
knot_conf() { # DIR LISTEN [XDP-IFACE]
	cat <<-EOF
	server:
	    rundir: "$1"
	    listen: $2
	    udp-workers: 1
	    tcp-workers: 1
	    background-workers: 1
	EOF
	[ -n "${3:-}" ] && cat <<-EOF
	xdp:
	    listen: $3@53
	EOF
	cat <<-EOF
	database:
	    storage: "$1"
	log:
	  - target: stderr
	    any: error
	zone:
	  - domain: example.com
	    file: "$work/example.zone"
	    zonefile-load: whole
	    journal-content: none
	    zonefile-sync: -1
	EOF
}

nsd_conf() { # DIR ADDR PORT
	cat <<-EOF
	server:
	    ip-address: $2@$3
	    server-count: 1
	    username: ""
	    chroot: ""
	    zonesdir: "$1"
	    database: ""
	    zonelistfile: "$1/zone.list"
	    xfrdfile: "$1/xfrd.state"
	    pidfile: "$1/nsd.pid"
	    logfile: "$1/nsd.log"
	    verbosity: 0
	    rrl-ratelimit: 0
	remote-control:
	    control-enable: no
	zone:
	    name: example.com
	    zonefile: "$work/example.zone"
	EOF
}

# PID and every process below it.
tree() {
	local pids="$1" next
	while [ -n "$pids" ]; do
		echo $pids
		next=""
		for p in $pids; do next="$next $(cat /proc/"$p"/task/*/children 2>/dev/null)"; done
		pids=$(echo $next)
	done
}

# utime and stime (clock ticks, "U S") of PID and every process below it.
cpu_ticks() {
	local u=0 s=0 pu ps p
	for p in $(tree "$1"); do
		[ -r /proc/"$p"/stat ] || continue
		read -r pu ps < <(sed 's/.*) //' /proc/"$p"/stat | awk '{print $12, $13}')
		u=$((u + pu)) s=$((s + ps))
	done
	echo "$u $s"
}
hz=$(getconf CLK_TCK)

# Start "$@" in namespace NS on CPU 1; wait (bounded) until it answers a
# client in namespace $client_ns.
start() { # NS ADDR PORT CMD...
	local ns=$1 addr=$2 port=$3
	shift 3
	ip netns exec "$ns" taskset -c 1 "$@" >"$work/server.log" 2>&1 &
	server_pid=$!
	for _ in $(seq 100); do
		if ip netns exec "$client_ns" kdig +timeout=1 +retry=0 -p "$port" @"$addr" www.example.com A 2>/dev/null |
			grep -q 'status: NOERROR'; then
			pin_server
			return 0
		fi
		sleep 0.1
	done
	echo "dns-bench: server did not answer: $*" >&2
	cat "$work/server.log" >&2
	return 1
}

# Every thread of the server on CPU 1, and checked. taskset at exec is not
# enough: knotd sets the affinity of each UDP and XDP worker itself (worker
# i on CPU i), which put its one worker on CPU 0 beside the load generator,
# where waking the generator is cheap and nothing is measured apart.
pin_server() {
	local p t
	for p in $(tree "$server_pid"); do
		taskset -a -p -c 1 "$p" >/dev/null
		for t in /proc/"$p"/task/*; do
			[ "$(awk '/^Cpus_allowed_list/{print $2}' "$t"/status)" = 1 ] && continue
			echo "dns-bench: thread $(basename "$t") of $p ($(cat "$t"/comm)) is not on CPU 1" >&2
			exit 1
		done
	done
}

stop() {
	kill "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=
	sleep 0.3
}

# One dnsperf run against the server on 127.0.0.1:PORT; prints a row.
perf_row() { # NAME PORT MODE(open|paced)
	local name=$1 port=$2 mode=$3 q=() u0 s0 u1 s1 out
	[ "$mode" = paced ] && q=(-Q "$rate")
	read -r u0 s0 < <(cpu_ticks "$server_pid")
	out=$(ip netns exec "$lo" taskset -c 0 dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries" \
		-l "$secs" -c 4 -q 100 "${q[@]}" 2>&1)
	read -r u1 s1 < <(cpu_ticks "$server_pid")
	echo "$out" | awk -v name="$name" -v mode="$mode" -v ticks=$((u1 + s1 - u0 - s0)) \
		-v uticks=$((u1 - u0)) -v hz="$hz" '
		/Queries completed:/ { done = $3 }
		/Queries lost:/ { lost = $3 }
		/Queries per second:/ { qps = $4 }
		/Average Latency/ { lat = $4 * 1e6; sub(/,/, "", $6); max = $8 }
		/Latency StdDev/ { sd = $4 * 1e6 }
		END {
			cpu = done ? ticks / hz / done * 1e9 : 0
			ucpu = done ? uticks / hz / done * 1e9 : 0
			printf "%-8s %-6s %10d %6d %10.0f %9.1f %9.1f %9.0f %9.0f %8.2f\n",
				name, mode, done, lost, qps, lat, sd, cpu, ucpu, ticks / hz
		}' | tee -a "$work/rows.loopback"
}

# The median of each column of the rows in FILE that share their first
# KEYLEN characters (server, run or rate), in the order first seen.
medians() { # FILE KEYLEN
	[ "$rounds" -gt 1 ] || return 0
	echo "-- median of $rounds rounds"
	awk -v k="$2" '
		{
			key = substr($0, 1, k)
			if (!(key in n)) order[++keys] = key
			c = n[key]++
			nf[key] = split(substr($0, k + 1), f, " ")
			for (i = 1; i <= nf[key]; i++) v[key, i, c] = f[i] + 0
		}
		END {
			for (j = 1; j <= keys; j++) {
				key = order[j]; m = n[key]; line = key
				for (i = 1; i <= nf[key]; i++) {
					for (a = 0; a < m; a++) s[a] = v[key, i, a]
					for (a = 1; a < m; a++)     # insertion sort
						for (b = a; b > 0 && s[b - 1] > s[b]; b--) {
							t = s[b]; s[b] = s[b - 1]; s[b - 1] = t
						}
					med = m % 2 ? s[(m - 1) / 2] : (s[m / 2 - 1] + s[m / 2]) / 2
					line = line sprintf(med < 100 ? " %9.1f" : " %9.0f", med)
				}
				print line
			}
		}' "$1"
}

loopback() {
	ip netns add "$lo"
	ip -n "$lo" link set lo up
	client_ns=$lo
	echo "== loopback, kernel sockets, dnsperf (4 clients, 100 in flight) on CPU 0, server on CPU 1, ${secs}s per run; paced: $rate q/s"
	printf '%-8s %-6s %10s %6s %10s %9s %9s %9s %9s %8s\n' server run answered lost 'q/s' 'lat us' 'sd us' 'CPU ns/q' 'user ns/q' 'CPU s'
	local round
	mkdir -p "$work/knot" "$work/nsd"
	knot_conf "$work/knot" 127.0.0.1@5301 >"$work/knot.conf"
	nsd_conf "$work/nsd" 127.0.0.1 5302 >"$work/nsd.conf"
	for round in $(seq "$rounds"); do
		start "$lo" 127.0.0.1 5300 "$server_bin" --zone="$work/example.zone" 127.0.0.1:5300
		perf_row keel 5300 open
		perf_row keel 5300 paced
		stop
		start "$lo" 127.0.0.1 5301 knotd -c "$work/knot.conf"
		perf_row knot 5301 open
		perf_row knot 5301 paced
		stop
		start "$lo" 127.0.0.1 5302 nsd -d -c "$work/nsd.conf"
		perf_row nsd 5302 open
		perf_row nsd 5302 paced
		stop
	done
	medians "$work/rows.loopback" 15
}

# ------------------------------------------------------------------- veth
xdp_row() { # NAME QPS
	local name=$1 qps=$2 out u0 s0 u1 s1
	read -r u0 s0 < <(cpu_ticks "$server_pid")
	out=$(ip netns exec "$peer" kxdpgun -t "$secs" -Q "$qps" -F 0 -I kd1 -i "$work/queries" \
		198.18.3.1 2>&1) || true
	read -r u1 s1 < <(cpu_ticks "$server_pid")
	echo "$out" >"$work/kxdpgun.last"
	echo "$out" | awk -v name="$name" -v want="$qps" -v secs="$secs" -v ticks=$((u1 + s1 - u0 - s0)) -v hz="$hz" '
		/total queries:/ { sent = $3 }
		/total replies:/ { got = $3 }
		END {
			cpu = got ? ticks / hz / got * 1e9 : 0
			printf "%-18s %9d %10d %10d %6.1f%% %10.0f %9.0f %8.2f\n",
				name, want, sent, got, sent ? (sent - got) * 100 / sent : 0,
				got / secs, cpu, ticks / hz
		}' | tee -a "$work/rows.veth"
}

veth() {
	ip netns add "$srv"
	ip netns add "$peer"
	ip link add kd0 netns "$srv" numtxqueues 1 numrxqueues 1 type veth \
		peer name kd1 netns "$peer" numtxqueues 1 numrxqueues 1
	for ns in "$srv" "$peer"; do
		ip -n "$ns" link set lo up
		ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	done
	ip -n "$srv" addr add 198.18.3.1/24 dev kd0
	ip -n "$peer" addr add 198.18.3.2/24 dev kd1
	ip -n "$srv" link set kd0 up
	ip -n "$peer" link set kd1 up
	ip netns exec "$peer" ethtool -K kd1 tx off >/dev/null
	ip netns exec "$srv" ethtool -K kd0 tx off >/dev/null
	ip netns exec "$peer" ping -c 1 -W 2 198.18.3.1 >/dev/null
	client_ns=$peer
	echo
	echo "== veth, kxdpgun (AF_XDP) on CPU 0 in the peer namespace, server on CPU 1, ${secs}s per run"
	printf '%-18s %9s %10s %10s %7s %10s %9s %8s\n' server 'asked q/s' sent answered lost 'answers/s' 'CPU ns/a' 'CPU s'
	local s r round
	mkdir -p "$work/knotx"
	knot_conf "$work/knotx" 198.18.3.1@53 kd0 >"$work/knotx.conf"
	for round in $(seq "$rounds"); do
		for s in "keel xdp parked:xdp:kd0" "keel xdp busy:xdp:kd0,busy"; do
			start "$srv" 198.18.3.1 53 "$server_bin" --driver="${s#*:}" \
				--zone="$work/example.zone" 198.18.3.1:53
			for r in $rates_xdp; do xdp_row "${s%%:*}" "$r"; done
			stop
		done
		start "$srv" 198.18.3.1 53 knotd -c "$work/knotx.conf"
		for r in $rates_xdp; do xdp_row "knot xdp" "$r"; done
		stop
		# knotd leaves its XDP program on the interface.
		ip -n "$srv" link set dev kd0 xdp off
	done
	medians "$work/rows.veth" 28
}

echo "dns-bench: $(date -u "+%F %H:%M") UTC, $(nproc) CPUs, load $(cut -d" " -f1-3 /proc/loadavg), $(uname -r); knotd $(knotd --version | awk '{print $NF}'), nsd $(nsd -v 2>&1 | awk 'NR==1{print $3}'), $(dnsperf -h 2>&1 | awk '/^Version/{print "dnsperf " $2}')"
for part in $parts; do "$part"; done
