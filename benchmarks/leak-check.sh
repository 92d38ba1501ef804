#!/usr/bin/env bash
# Runs the client under valgrind --leak-check=full against a private redis-server and prints the summary:
# no byte may be definitely or indirectly lost, and no block allocated by hiredis may still be held at exit
# (reachable or not): close() must have freed every context and reply.
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "$0")" && pwd)"
"$BENCH_DIR/../scripts/bootstrap.sh"
command -v valgrind >/dev/null || { apt-get install -y valgrind >/dev/null; }
source "$BENCH_DIR/suites/lib.sh"
(cd "$BENCH_DIR" && swift build -c release --product LeakCheck >&2)
build_load_generator
start_redis
trap stop_redis EXIT
log="$(mktemp)"
valgrind --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=definite,indirect \
    --error-exitcode=3 "$BENCH_DIR/.build/release/LeakCheck" "redis://127.0.0.1:$REDIS_PORT" 2>"$log" || status=$?
sed -n '/HEAP SUMMARY/,$p' "$log"
grep -E "definitely lost|indirectly lost" "$log" || true
if grep -q "libhiredis" "$log"; then
    echo "memory allocated by hiredis is still held at exit (a context or reply was not freed):" >&2
    grep -B2 -A12 "hiredis" "$log" >&2
    exit 1
fi
exit "${status:-0}"
