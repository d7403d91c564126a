#!/usr/bin/env bash
# The DPDK driver's per-packet cost: keel-dpdk-pps in each mode (best of
# three runs), then callgrind's instruction count per packet for the
# zero-copy echo, split into net/'s parse and reply and the rest of keel.
# Needs root (EAL), valgrind for the second part.
# usage: perf/dpdk-pps.sh [BUILD-DIR] [PACKETS] (build, 10000000)
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build}
packets=${2:-10000000}
exe=$build/perf/keel-dpdk-pps
[ -x "$exe" ] || { echo "dpdk-pps: $exe not built (DPDK found?)" >&2; exit 1; }

echo "== packets/s, one core, 60-byte frames (64 on the wire), 256 in flight"
for mode in lend batch single; do
	best=
	for _ in 1 2 3; do
		line=$("$exe" "$mode" "$packets" 2>/dev/null | grep '^mode')
		mpps=$(sed -E 's/.*keel ([0-9.]+) Mpps.*/\1/' <<<"$line")
		if [ -z "$best" ] || awk "BEGIN{exit !($mpps > ${best%% *})}"; then
			best="$mpps $line"
		fi
	done
	echo "${best#* }"
done

command -v valgrind >/dev/null || { echo "(valgrind not installed: no instruction counts)"; exit 0; }
n=200000
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
valgrind --tool=callgrind --collect-atstart=no --toggle-collect=run_bench \
	--callgrind-out-file="$out/cg" "$exe" lend "$n" >/dev/null 2>&1
callgrind_annotate --inclusive=yes --auto=no "$out/cg" >"$out/ann" 2>/dev/null
ir() { # FUNCTION: its inclusive Ir (callgrind_annotate lists a function
	# once per source file its code came from; the whole is the largest)
	grep -E ":$1( |\$)" "$out/ann" |
		awk '{gsub(",", "", $1); if ($1 + 0 > m) m = $1 + 0} END {print m + 0}'
}
total=$(ir 'run_bench')
refl=$(ir 'reflect_burst[.a-z0-9]*')
rx=$(ir 'keel_net_rx')
reply=$(ir 'keel_net_udp_reply')
echo "== callgrind, zero-copy echo ($n packets): instructions per packet"
awk -v t="$total" -v f="$refl" -v rx="$rx" -v rp="$reply" -v n="$n" 'BEGIN {
	printf "  keel in all (worker loop, task, driver, net/): %6.0f\n", (t - f) / n
	printf "    net/ parse (keel_net_rx)                  : %6.0f\n", rx / n
	printf "    net/ reply (keel_net_udp_reply)           : %6.0f\n", rp / n
	printf "    driver, socket API, task and worker loop  : %6.0f\n", (t - f - rx - rp) / n
	printf "  the reflector (test peer, not keel)         : %6.0f\n", f / n
}'
