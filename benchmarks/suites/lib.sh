# Shared by the suites: a private redis-server for the run, and the release build of the load generator.
# shellcheck shell=bash

free_port() {
    python3 -c 'import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    if port != 6379: print(port); break'
}

# start_redis: sets REDIS_PORT, REDIS_PID and REDIS_DIR; stopped by stop_redis (trap it).
start_redis() {
    REDIS_DIR="$(mktemp -d /tmp/resilient-cache-bench.XXXXXX)"
    REDIS_PORT="$(free_port)"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --dir "$REDIS_DIR" \
        --logfile "$REDIS_DIR/redis.log" --daemonize no --enable-debug-command local "$@" &
    REDIS_PID=$!
    for _ in $(seq 100); do
        redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "redis-server did not start; log:" >&2
    cat "$REDIS_DIR/redis.log" >&2
    return 1
}

stop_redis() {
    if [ -n "${REDIS_PID:-}" ]; then
        kill -CONT "$REDIS_PID" 2>/dev/null || true
        kill "$REDIS_PID" 2>/dev/null || true
        wait "$REDIS_PID" 2>/dev/null || true
        REDIS_PID=""
    fi
    [ -n "${REDIS_DIR:-}" ] && rm -rf "$REDIS_DIR"
    return 0
}

build_load_generator() {
    echo "==> building the load generator (release)" >&2
    (cd "$BENCH_DIR" && swift build -c release --product LoadGenerator >&2)
    LOAD_GENERATOR="$BENCH_DIR/.build/release/LoadGenerator"
}

redis_version() {
    redis-server --version | sed -E 's/.*v=([0-9.]+).*/\1/'
}

machine() {
    echo "$(nproc) cores, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
}
