#!/bin/sh
# keel's own retrying and loss accounting under the sim driver's seeded
# faults: examples/udp-client answers through delay and gives up with its
# message when nothing comes back; perf/keel-udpload accounts for every
# datagram (sent = received + lost) through loss, duplication and
# reordering; the same seed prints the same trace.
# Usage: programs.sh UDP_CLIENT KEEL_UDPLOAD
set -u
client=$1
load=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$client" --driver=sim:echo=10.0.0.2:7,delay=40 10.0.0.2:7 hi >"$tmp/out" 2>&1 ||
	fail "udp-client through a 40 ms delay: $(cat "$tmp/out")"
grep -q '^Received: hi$' "$tmp/out" || fail "udp-client: $(cat "$tmp/out")"

if "$client" --driver=sim:echo=10.0.0.2:7,loss=1 10.0.0.2:7 hi >"$tmp/out" 2>&1; then
	fail "udp-client succeeded with every datagram lost"
fi
grep -q 'no answer from 10.0.0.2:7: Connection timed out' "$tmp/out" ||
	fail "udp-client's timeout message: $(cat "$tmp/out")"

for run in 1 2; do
	"$client" --stats --driver=sim:seed=9,echo=10.0.0.2:7,dup=0.5,corrupt=0.5 \
		10.0.0.2:7 hello >/dev/null 2>"$tmp/stats$run"
	grep -o 'trace=[0-9a-f]*' "$tmp/stats$run" >"$tmp/trace$run" ||
		fail "no trace printed: $(cat "$tmp/stats$run")"
done
cmp -s "$tmp/trace1" "$tmp/trace2" ||
	fail "same seed, different traces: $(cat "$tmp/trace1") $(cat "$tmp/trace2")"

"$load" --driver=sim:seed=5,echo=10.0.0.2:7,loss=0.2,dup=0.05,reorder=0.1,delay=1 \
	--duration=1 --warmup=0 --flows=2 --window=8 --json 10.0.0.2:7 >"$tmp/load" 2>&1 ||
	fail "keel-udpload: $(cat "$tmp/load")"
python3 - "$tmp/load" <<'PY' || fail "keel-udpload accounting: $(cat "$tmp/load")"
import json, sys
r = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
assert r["sent"] > 100, r
assert r["lost"] > 0 and r["received"] > 0, r
assert r["sent"] == r["received"] + r["lost"], r
# two legs at 20% loss each: about 36% of round trips lost
assert 0.2 < r["lost"] / r["sent"] < 0.55, r
print("keel-udpload under sim loss:", r["sent"], "=", r["received"], "+", r["lost"])
PY
echo "ok"
