#!/usr/bin/env bash
# Runs the client under valgrind --leak-check=full against a private redis-server, over plain TCP and over TLS,
# and prints the summaries: no byte may be definitely or indirectly lost, and no block allocated by hiredis or
# OpenSSL may still be held at exit (reachable or not): close() must have freed every reader, TLS session and
# context.
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "$0")" && pwd)"
"$BENCH_DIR/../scripts/bootstrap.sh"
command -v valgrind >/dev/null || { apt-get install -y valgrind >/dev/null; }
source "$BENCH_DIR/suites/lib.sh"
(cd "$BENCH_DIR" && swift build -c release --product LeakCheck >&2)
build_load_generator
start_redis --tls
trap stop_redis EXIT
# One run over plain TCP, one over TLS (mutual: the client presents its certificate), each its own process, so
# what OpenSSL and hiredis still hold at exit is seen per transport.
status=0
for transport in tcp tls; do
    log="$(mktemp)"
    if [ "$transport" = tcp ]; then
        arguments=("redis://127.0.0.1:$REDIS_PORT")
    else
        arguments=("rediss://127.0.0.1:$REDIS_TLS_PORT" "$REDIS_TLS_CA" "$REDIS_TLS_CERT" "$REDIS_TLS_KEY")
    fi
    echo "==> valgrind over $transport"
    run_status=0
    valgrind --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=definite,indirect \
        --error-exitcode=3 "$BENCH_DIR/.build/release/LeakCheck" "${arguments[@]}" 2>"$log" || run_status=$?
    sed -n '/HEAP SUMMARY/,$p' "$log"
    [ "$run_status" = 0 ] || { echo "valgrind over $transport exited with $run_status" >&2; status=1; }
    # A block counts against a library when the library allocated it: the first frame under malloc/calloc/realloc
    # is in it. (A Swift runtime cache allocated inside one of our callbacks that hiredis calls has hiredis
    # further down its stack; that is not hiredis's memory.)
    python3 - "$log" "$transport" <<'PY' || status=1
import re, sys
log, transport = sys.argv[1], sys.argv[2]
records = re.split(r"==\d+== \n", open(log).read())
held = []
for record in records:
    if "loss record" not in record:
        continue
    frames = [line for line in record.splitlines() if re.search(r"(at|by) 0x[0-9A-F]+:", line)]
    if len(frames) < 2:
        continue
    allocator = frames[1]
    library = next((name for name in ("libhiredis", "libssl", "libcrypto") if name in allocator), None)
    if library:
        held.append((library, record.strip()))
for library, record in held[:5]:
    print(f"memory allocated by {library} is still held at exit over {transport}:\n{record}\n", file=sys.stderr)
sys.exit(1 if held else 0)
PY
    rm -f "$log"
done
exit "$status"
