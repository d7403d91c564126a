#!/usr/bin/env bash
# Build and run programs outside the tree against keel, twice: through the
# installed keel.pc (and keel-bench.pc), and with keel as a meson
# subproject. One is an application, one a KEEL_BENCH program.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/keel-outside.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "=== outside: pkg-config"
meson setup "$tmp/build" "$root" --prefix="$tmp/prefix" -Dtests=false >/dev/null
ninja -C "$tmp/build" install >/dev/null
pcdir=$(dirname "$(find "$tmp/prefix" -name keel.pc | head -n1)")
export PKG_CONFIG_PATH=$pcdir
cc -std=c11 -Wall -Wextra -Werror $(pkg-config --variable=recommended_cflags keel) $(pkg-config --cflags keel) \
	"$root/tests/outside/main.c" -o "$tmp/outside-pc" $(pkg-config --libs keel)
"$tmp/outside-pc" | tee "$tmp/out1"
grep -q '^outside: ok (sched=local driver=kernel)$' "$tmp/out1"

echo "=== outside: meson subproject"
mkdir -p "$tmp/app/subprojects"
cp "$root/tests/outside/main.c" "$root/tests/outside/bench.c" \
	"$root/tests/outside/meson.build" "$tmp/app/"
# A copy of the tracked tree, as a wrap or a git submodule would bring it.
git -C "$root" ls-files -z | (cd "$root" && xargs -0 tar cf -) |
	(mkdir -p "$tmp/app/subprojects/keel" && tar xf - -C "$tmp/app/subprojects/keel")
meson setup "$tmp/app/build" "$tmp/app" >/dev/null
ninja -C "$tmp/app/build" >/dev/null
"$tmp/app/build/outside" | tee "$tmp/out2"
grep -q '^outside: ok (sched=local driver=kernel)$' "$tmp/out2"

# A cell is one benchmark on one runtime: check the JSON names both, and
# that nothing failed.
bench_ok() {
	local out=$1 runtime
	shift
	for runtime in "$@"; do
		grep -q "^{\"bench\":\"outside_spawn\",\"runtime\":\"$runtime\"" "$out" ||
			{ echo "no outside_spawn on $runtime"; cat "$out"; exit 1; }
	done
	! grep -q '"failed":true' "$out"
}
bench_args=(--json --samples=3 --iters=200 --warmup-ms=5 --workers=2)
"$tmp/app/build/outside-bench" "${bench_args[@]}" | tee "$tmp/bench2"
bench_ok "$tmp/bench2" pool/2 steal/2

echo "=== outside: switch the scheduler by editing one line"
sed -i 's/keel_sched_local/keel_sched_steal/' "$tmp/app/meson.build"
[ "$(diff "$root/tests/outside/meson.build" "$tmp/app/meson.build" | grep -c '^>')" = 1 ]
ninja -C "$tmp/app/build" >/dev/null
"$tmp/app/build/outside" | tee "$tmp/out3"
grep -q '^outside: ok (sched=steal driver=kernel)$' "$tmp/out3"

echo "=== outside: pkg-config, one module per package"
cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags keel-core) \
	"$root/tests/outside/main.c" -o "$tmp/outside-shard" \
	$(pkg-config --libs keel-sched-shard keel-drv-kernel keel-core)
"$tmp/outside-shard" --workers=2 | tee "$tmp/out4"
grep -q '^outside: ok (sched=shard driver=kernel)$' "$tmp/out4"
echo "=== outside: pkg-config, the default scheduler named in the program (docs/guide.md)"
printf '#include <keel/sched_steal.h>\nKEEL_SCHED_DEFAULT(keel_sched_steal);\n' >"$tmp/default.c"
cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags keel keel-sched-steal) \
	"$root/tests/outside/main.c" "$tmp/default.c" -o "$tmp/outside-default" \
	$(pkg-config --libs keel keel-sched-steal)
"$tmp/outside-default" | tee "$tmp/out5"
grep -q '^outside: ok (sched=steal driver=kernel)$' "$tmp/out5"
echo "=== outside: KEEL_BENCH_MAIN through pkg-config (keel-bench)"
cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags keel-bench) \
	"$root/tests/outside/bench.c" -o "$tmp/bench-pc" \
	$(pkg-config --libs keel-bench keel-sched-local keel-sched-pool keel-core)
"$tmp/bench-pc" "${bench_args[@]}" | tee "$tmp/bench1"
bench_ok "$tmp/bench1" local pool/2
echo "outside: pkg-config, subproject, the one-line switch and KEEL_BENCH work"
