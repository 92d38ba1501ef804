# Shared by the suites: a private redis-server for the run, started by the server harness the tests and the demo
# use (through `LoadGenerator server`), and the release build of the load generator.
# shellcheck shell=bash

# start_redis [--tls]: sets REDIS_PORT; stopped by stop_redis (trap it). Needs build_load_generator first. The harness
# picks a free loopback port (never 6379), keeps the server's files in a directory of its own and kills the server
# if the load generator dies. With --tls the server also listens for TLS with certificates made now (removed when it
# stops), and REDIS_TLS_PORT, REDIS_TLS_CA, REDIS_TLS_CERT and REDIS_TLS_KEY (a client certificate) are set too.
start_redis() {
    local tls=()
    [ "${1:-}" = --tls ] && tls=(--tls)
    REDIS_INFO_FILE="$(mktemp -u /tmp/resilient-cache-bench-server.XXXXXX)"
    "$LOAD_GENERATOR" server "${tls[@]}" --info-file "$REDIS_INFO_FILE" &
    REDIS_SERVER_PID=$!
    for _ in $(seq 600); do
        if [ -s "$REDIS_INFO_FILE" ]; then
            eval "$(python3 - "$REDIS_INFO_FILE" <<'PY'
import json, shlex, sys
info = json.load(open(sys.argv[1]))
print(f"REDIS_PORT={info['port']}")
if "tls_port" in info:
    print(f"REDIS_TLS_PORT={info['tls_port']} REDIS_TLS_CA={shlex.quote(info['ca_file'])} "
          f"REDIS_TLS_CERT={shlex.quote(info['client_cert_file'])} REDIS_TLS_KEY={shlex.quote(info['client_key_file'])}")
PY
)"
            return 0
        fi
        kill -0 "$REDIS_SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "redis-server did not start (LoadGenerator server)" >&2
    stop_redis
    return 1
}

stop_redis() {
    if [ -n "${REDIS_SERVER_PID:-}" ]; then
        kill -TERM "$REDIS_SERVER_PID" 2>/dev/null || true
        wait "$REDIS_SERVER_PID" 2>/dev/null || true
        REDIS_SERVER_PID=""
    fi
    [ -n "${REDIS_INFO_FILE:-}" ] && rm -f "$REDIS_INFO_FILE"
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

# start_cluster: a 3-primary + 3-replica Redis Cluster on free loopback ports, started by the cluster harness (through
# `LoadGenerator cluster-server`); sets CLUSTER_URL (every node, for our cluster client), CLUSTER_SEED_PORT (a
# primary, for redis-benchmark --cluster), CLUSTER_PRIMARY_PORT and CLUSTER_PRIMARY_TAG (shard 0's primary and a hash
# tag whose slot it serves). Stopped by stop_cluster (trap it). Needs build_load_generator first.
start_cluster() {
    CLUSTER_INFO_FILE="$(mktemp -u /tmp/resilient-cache-bench-cluster.XXXXXX)"
    "$LOAD_GENERATOR" cluster-server --info-file "$CLUSTER_INFO_FILE" &
    CLUSTER_SERVER_PID=$!
    for _ in $(seq 1200); do
        if [ -s "$CLUSTER_INFO_FILE" ]; then
            eval "$(python3 - "$CLUSTER_INFO_FILE" <<'PY'
import json, shlex, sys
info = json.load(open(sys.argv[1]))
shard0 = next(p for p in info["primaries"] if p["shard"] == 0)
print(f"CLUSTER_URL={shlex.quote(info['seed_url'])} CLUSTER_SEED_PORT={info['seed_port']} "
      f"CLUSTER_PRIMARY_PORT={shard0['port']} CLUSTER_PRIMARY_TAG={shlex.quote(shard0['tag'])}")
PY
)"
            return 0
        fi
        kill -0 "$CLUSTER_SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "the Redis Cluster did not start (LoadGenerator cluster-server)" >&2
    stop_cluster
    return 1
}

stop_cluster() {
    if [ -n "${CLUSTER_SERVER_PID:-}" ]; then
        kill -TERM "$CLUSTER_SERVER_PID" 2>/dev/null || true
        wait "$CLUSTER_SERVER_PID" 2>/dev/null || true
        CLUSTER_SERVER_PID=""
    fi
    [ -n "${CLUSTER_INFO_FILE:-}" ] && rm -f "$CLUSTER_INFO_FILE"
    return 0
}
