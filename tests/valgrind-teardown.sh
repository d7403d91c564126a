#!/usr/bin/env bash
# Valgrind-clean teardown of a server example: start it under memcheck,
# give it some traffic, stop it with SIGINT, and require no error and no
# leak. usage: valgrind-teardown.sh udp|tcp EXECUTABLE PORT [KEEL-OPTIONS...]
set -euo pipefail
kind=$1 exe=$2 port=$3
shift 3
log=$(mktemp)
trap 'rm -f "$log"; kill -KILL $pid 2>/dev/null || true' EXIT

valgrind --quiet --error-exitcode=97 --leak-check=full \
	--show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
	"$exe" "$@" "127.0.0.1:$port" >"$log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	grep -q '^Listening on' "$log" && break
	kill -0 $pid 2>/dev/null || { cat "$log"; exit 1; }
	sleep 0.1
done
grep -q '^Listening on' "$log" || { echo "never listened"; cat "$log"; exit 1; }

if [ "$kind" = udp ]; then
	reply=$(printf 'ping' | timeout 5 nc -u -w1 127.0.0.1 "$port" || true)
else
	reply=$(printf 'ping' | timeout 5 nc -N -w2 127.0.0.1 "$port" || true)
fi
[ "$reply" = ping ] || { echo "echo answered '$reply', want 'ping'"; cat "$log"; exit 1; }

kill -INT $pid
rc=0
wait $pid || rc=$?
cat "$log"
[ $rc -eq 0 ] || { echo "exit status $rc (97: valgrind found errors)"; exit 1; }
echo "$kind echo $*: valgrind clean"
