#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# perf/tokio-compare.sh: keel's `local` scheduler against tokio's
# current_thread runtime, on keel-bench's workloads (perf/workloads.c)
# and the same workloads written for tokio (perf/tokio/, keel-tokio-bench:
# same iteration counts, same ops, same calibration and statistics).
#
# Each round runs every workload once on keel (keel-bench WORKLOAD
# --sched=local --no-baseline --json) and once on tokio (keel-tokio-bench
# WORKLOAD --json), the two back to back and in alternating order from
# round to round, both pinned to the same CPU with taskset. Each run is a
# fresh process: its median ns/op over SAMPLES samples. Per workload it
# prints the median over the rounds of keel's and tokio's ns/op, and of the
# per-round ratio tokio/keel (how many times keel is faster), each with its
# min-max over the rounds, and the fastest sample of each side over all
# rounds (on a loaded machine the least disturbed one). poll_reactor (keel_ready, a user-space source)
# has no tokio counterpart: n/a.
#
# Optional tooling: nothing in keel's build or tests uses it. It builds the
# keel release tree if BUILD_DIR does not exist (meson setup BUILD_DIR
# --buildtype=release) and the Rust harness with cargo (release profile,
# lto, codegen-units=1) from Debian's crates (librust-tokio-dev,
# librust-libc-dev: installed if missing, root only; perf/tokio/.cargo/
# config.toml points cargo at /usr/share/cargo/registry, offline).
#
# usage: perf/tokio-compare.sh [BUILD_DIR]     (default build-rel)
# env: ROUNDS (5), SAMPLES (11, per run), CPU (the last one),
#      WORKLOADS (default: every keel-bench workload),
#      KEEP=FILE keeps the raw JSON lines (round, runtime, keel-bench's
#      object) there.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build-rel}
rounds=${ROUNDS:-5}
samples=${SAMPLES:-11}
cpu=${CPU:-$(($(nproc) - 1))}
workloads=${WORKLOADS:-smoke notify_self spawn_many poll_reactor poll_reactor_fd poll_reactor_fd_ready yield_many ping_pong}

# --- keel: the release tree
if [ ! -d "$build" ]; then
	meson setup "$build" --buildtype=release >/dev/null
fi
ninja -C "$build" perf/keel-bench >/dev/null
bench=$build/perf/keel-bench
buildtype=$(python3 -c 'import json, sys
for o in json.load(open(sys.argv[1])):
    if o["name"] == "buildtype": print(o["value"])' "$build/meson-info/intro-buildoptions.json")
[ "$buildtype" = release ] ||
	echo "tokio-compare: warning: $build is buildtype=$buildtype, not release" >&2

# --- tokio: Debian's crates, cargo, the harness
need=()
for p in librust-tokio-dev librust-libc-dev; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ! command -v cargo >/dev/null 2>&1; then
	if [ -x "$HOME/.cargo/bin/cargo" ]; then
		PATH=$HOME/.cargo/bin:$PATH
	else
		need+=(cargo)
	fi
fi
if [ ${#need[@]} -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || { echo "tokio-compare: install ${need[*]} (as root)" >&2; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
(cd perf/tokio && cargo build --release --locked --quiet)
tokio=perf/tokio/target/release/keel-tokio-bench
tokio_version=$(awk '$0 == "name = \"tokio\"" { getline; gsub(/[^0-9.]/, ""); print; exit }' perf/tokio/Cargo.lock)
tokio_has() { "$tokio" --list | awk -v w="$1" '$1 == w { f = 1 } END { exit !f }'; }

raw=${KEEP:-$(mktemp /tmp/keel-tokio-compare.XXXXXX)}
[ -n "${KEEP:-}" ] || trap 'rm -f "$raw"' EXIT
: >"$raw"

# One run: RUNTIME WORKLOAD ROUND; appends "ROUND RUNTIME JSON" lines.
run_one() {
	local out
	case $1 in
	keel) out=$(taskset -c "$cpu" "$bench" "$2" --sched=local --no-baseline \
		--json --samples="$samples" 2>/dev/null) || true ;;
	tokio) out=$(taskset -c "$cpu" "$tokio" "$2" --json --samples="$samples" 2>/dev/null) || true ;;
	esac
	[ -n "$out" ] || out="{\"bench\":\"$2\",\"failed\":true}"
	printf '%s\n' "$out" | sed "s/^/$3 $1 /" >>"$raw"
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
for w in $workloads; do
	"$bench" --list | awk -v w="$w" '$1 == w { f = 1 } END { exit !f }' ||
		{ echo "tokio-compare: keel-bench has no workload $w" >&2; exit 2; }
done
for r in $(seq 1 "$rounds"); do
	for w in $workloads; do
		order="keel tokio"
		[ $((r % 2)) -eq 0 ] && order="tokio keel"
		for rt in $order; do
			[ "$rt" = tokio ] && ! tokio_has "$w" && continue
			run_one "$rt" "$w" "$r"
		done
	done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

printf 'tokio-compare: keel local (%s, buildtype=%s, %s) against tokio %s current_thread (%s)\n' \
	"$build" "$buildtype" "$(git describe --always --dirty 2>/dev/null || echo '?')" \
	"$tokio_version" "$(rustc --version 2>/dev/null | cut -d' ' -f1-2)"
printf '%s, %s, %s rounds x %s samples, both on CPU %s; load average %s at start, %s at end\n' \
	"$(date -u '+%Y-%m-%d %H:%M UTC')" "$(uname -r)" "$rounds" "$samples" "$cpu" "$load0" "$load1"
# shellcheck disable=SC2086 # $workloads is a list of names
python3 - "$raw" $workloads <<'EOF'
import json, sys
from statistics import median

raw, names = sys.argv[1], sys.argv[2:]
cells = {}  # (workload, runtime) -> {round: ns_per_op or None}
best = {}   # (workload, runtime) -> the fastest sample of any round, ns/op
ops = {}
for line in open(raw):
    rnd, rt, obj = line.split(" ", 2)
    o = json.loads(obj)
    v = None if o.get("failed") else o["ns_per_op"]
    cells.setdefault((o["bench"], rt), {})[int(rnd)] = v
    if v is not None:
        b = o["min_ns"] / o["ops_per_iter"]
        best[(o["bench"], rt)] = min(b, best.get((o["bench"], rt), b))
    if "op" in o:
        ops[o["bench"]] = o["op"]

def fmt(v):
    return "%.2f" % v if v < 10 else "%.1f" % v if v < 100 else "{:,.0f}".format(v)

def col(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "n/a"
    return "%s [%s-%s]" % (fmt(median(vals)), fmt(min(vals)), fmt(max(vals)))

print("ns per op: median over the rounds [min-max]; tokio/keel: median of "
      "the rounds' ratios [min-max] (above 1: keel faster);\nbest: the fastest "
      "sample of all rounds, keel / tokio (their ratio)")
print(" %-22s %-11s %-24s %-24s %-22s %s" % ("workload", "op", "keel local", "tokio",
                                           "tokio/keel", "best"))
for w in names:
    k = cells.get((w, "keel"), {})
    t = cells.get((w, "tokio"), {})
    ratios = [t[r] / k[r] for r in k if k[r] and t.get(r)]
    rs = ("x %.2f [%.2f-%.2f]" % (median(ratios), min(ratios), max(ratios))
          if ratios else "n/a")
    failed = sum(1 for d in (k, t) for v in d.values() if v is None)
    note = "  (%d failed runs)" % failed if failed else ""
    bk, bt = best.get((w, "keel")), best.get((w, "tokio"))
    bs = ("%s / %s (x %.2f)" % (fmt(bk), fmt(bt), bt / bk) if bk and bt
          else fmt(bk) if bk else "n/a")
    print(" %-22s %-11s %-24s %-24s %-22s %s%s" % (w, ops.get(w, "?"), col(k.values()),
                                                  col(t.values()), rs, bs, note))
EOF
