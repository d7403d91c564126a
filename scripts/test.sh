#!/usr/bin/env bash
# All of keel's tests: the suite with -Werror, again under ASan+UBSan and
# under TSan (every behavioural test once per scheduler in each), valgrind-
# clean teardown of the servers, a program outside the tree built against
# keel through pkg-config and as a meson subproject, and a cross build for
# aarch64.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh

run_suite() { # DIR MESON-OPTIONS...
	local dir=$1
	shift
	echo "=== $dir: $*"
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir" >/dev/null
	meson test -C "$dir" --print-errorlogs --num-processes 2
	# Bypass-driver tests may skip only when not root; CI is root.
	if [ "$(id -u)" -eq 0 ] && grep -q 'SKIP(bypass)' "$dir/meson-logs/testlog.txt"; then
		grep 'SKIP(bypass)' "$dir/meson-logs/testlog.txt" | sort | uniq -c
		echo "a bypass-driver test was skipped as root: that is a failure" >&2
		exit 1
	fi
}

run_suite build-ci -Dwerror=true
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	run_suite build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false

# Criterion cannot start under TSan here; tests/tsan/criterion/criterion.h
# runs the same test sources instead (chosen by meson for this build).
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	run_suite build-tsan -Dwerror=true -Db_sanitize=thread -Db_lundef=false

scripts/check-outside.sh

# core/, sched/, the kernel driver, the examples and perf/ carry no
# x86-only code: they build for 64-bit Arm (compile and link; not run).
echo "=== build-aarch64: cross build"
if [ -f build-aarch64/build.ninja ]; then
	meson setup --reconfigure build-aarch64 >/dev/null
else
	meson setup build-aarch64 --cross-file scripts/aarch64.cross -Dwerror=true \
		-Dxdp=disabled -Ddpdk=disabled -Dtests=false >/dev/null
fi
ninja -C build-aarch64 >/dev/null
readelf -h build-aarch64/examples/udp-echo | grep -q AArch64
echo "=== all tests passed"
