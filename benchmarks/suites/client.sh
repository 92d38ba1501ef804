#!/usr/bin/env bash
# HiredisClient beside redis-benchmark on the same server, in the same run, at the same concurrency, value
# size, key space and request count: GET, SET and MGET (10 keys) of 100-byte and 4 KiB values at 1, 50 and
# 200 concurrent callers, and an explicit pipeline of 16 (redis-benchmark -P 16); then GET and SET 100 B at 1, 50
# and 200 callers over TLS (rediss:// beside redis-benchmark --tls, both with the client certificate, on the same
# server's TLS port, certificates made at run time). Each figure is the median of RUNS runs (default 3), ours and
# theirs interleaved; each row also gives our client's thread count (threads named redis-*) after the run.
# Appends JSON rows to the file given as $1.
# CLIENT_QUICK=1 limits it to GET/SET 100 B at 1 and 50 callers (the foundation issue's table), plain and TLS.
set -euo pipefail
rows="$1"
BENCH_DIR="$(cd "$(dirname "$0")/.." && pwd)"
source "$BENCH_DIR/suites/lib.sh"
runs="${RUNS:-3}"
keyspace=10000

# CLIENT_IO_MODELS="thread-per-connection event-loop" runs our client once per I/O model in each run, interleaved,
# one row per model (its name in brackets); unset, the client's default model. "event-loop+executors" is the event
# loop with every caller preferring one of the client's loops as its task executor (RedisClient.taskExecutors).
read -r -a io_models <<< "${CLIENT_IO_MODELS:-}"
[ ${#io_models[@]} -gt 0 ] || io_models=("")

build_load_generator
start_redis --tls
trap stop_redis EXIT

# compare OP SIZE CALLERS PIPELINE REQUESTS [tls]
compare() {
    local op="$1" size="$2" callers="$3" pipeline="$4" requests="$5" transport="${6:-plain}"
    local ours=() theirs=() model
    local url="redis://127.0.0.1:$REDIS_PORT" tls_args=() rb_args=(-p "$REDIS_PORT")
    if [ "$transport" = tls ]; then
        url="rediss://127.0.0.1:$REDIS_TLS_PORT"
        tls_args=(--tls-ca "$REDIS_TLS_CA" --tls-cert "$REDIS_TLS_CERT" --tls-key "$REDIS_TLS_KEY")
        rb_args=(-p "$REDIS_TLS_PORT" --tls --cacert "$REDIS_TLS_CA" --cert "$REDIS_TLS_CERT" --key "$REDIS_TLS_KEY")
    fi
    rb_args+=(-n "$requests" -r "$keyspace" -d "$size" -c "$callers" -P "$pipeline" --csv)
    local ours_by_model=()
    for _ in $(seq "$runs"); do
        local index=0
        for model in "${io_models[@]}"; do
            # "event-loop+executors": the event loop, with each caller preferring one of the client's loops as
            # its task executor (LoadGenerator --loop-executors).
            local executors=()
            [ "$model" = "${model%+executors}" ] || executors=(--loop-executors)
            ours_by_model[$index]+="$(REDIS_IO_MODEL="${model%+executors}" "$LOAD_GENERATOR" throughput \
                --url "$url" "${tls_args[@]}" --operation "$op" --concurrency "$callers" --requests "$requests" \
                --value-size "$size" --key-space "$keyspace" --pipeline "$pipeline" "${executors[@]}")"$'\n'
            index=$((index + 1))
        done
        if [ "$op" = mget ]; then
            theirs+=("$(redis-benchmark "${rb_args[@]}" MGET $(printf 'key:__rand_int__ %.0s' $(seq 10)) | tail -1)")
        else
            theirs+=("$(redis-benchmark "${rb_args[@]}" -t "$op" | tail -1)")
        fi
    done
    local index=0
    for model in "${io_models[@]}"; do
        mapfile -t ours < <(printf '%s' "${ours_by_model[$index]}")
        index=$((index + 1))
        IO_MODEL="$model" python3 - "$op" "$size" "$callers" "$pipeline" "$rows" "$transport" "${ours[@]}" -- \
            "${theirs[@]}" <<'PY'
import os
import json, statistics, sys
op, size, callers, pipeline, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
tls = sys.argv[6] == "tls"
rest = sys.argv[7:]
split = rest.index("--")
ours = [json.loads(line) for line in rest[:split]]
# redis-benchmark --csv: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
theirs = [[float(field.strip('"')) for field in line.split('","')[1:]] for line in (l.strip('"') for l in rest[split + 1:])]
med = statistics.median
ours_ops = med(r["ops_per_sec"] for r in ours)
theirs_ops = med(t[0] for t in theirs)
size_label = "4KiB" if size >= 4096 else f"{size}B"
name = f"{op.upper()}{'(10)' if op == 'mget' else ''} {size_label} c={callers}" + (f" P={pipeline}" if pipeline > 1 else "")
name += " TLS" if tls else ""
model = os.environ.get("IO_MODEL", "")
name += f" [{model}]" if model else ""
# The client's redis-* threads after each run: one figure when the runs agree, else the highest.
threads = max(r["threads"] for r in ours)
row = {
    "suite": "client", "name": name, "operation": op, "value_size": size, "callers": callers, "pipeline": pipeline,
    "tls": tls,
    "ours_ops_per_sec": round(ours_ops), "redis_benchmark_ops_per_sec": round(theirs_ops),
    "ratio": round(ours_ops / theirs_ops, 3),
    "p50_us": round(med(r["p50_us"] for r in ours), 1), "p99_us": round(med(r["p99_us"] for r in ours), 1),
    "redis_benchmark_p50_us": round(med(t[3] for t in theirs) * 1000, 1),
    "redis_benchmark_p99_us": round(med(t[5] for t in theirs) * 1000, 1),
    "runs": len(ours), "errors": sum(r["errors"] for r in ours), "threads": threads,
}
with open(rows, "a") as f:
    f.write(json.dumps(row) + "\n")
print(f"| {name} | {row['ours_ops_per_sec']} | {row['redis_benchmark_ops_per_sec']} | {row['ratio']:.2f}x | "
      f"{row['p50_us']} | {row['p99_us']} | {row['redis_benchmark_p50_us']} | {row['redis_benchmark_p99_us']} | {threads} |")
PY
    done
}

echo
echo "### client: HiredisClient vs redis-benchmark (redis $(redis_version), $(machine); medians of $runs runs; TLS rows: rediss:// vs redis-benchmark --tls)"
echo
echo "| benchmark | ours ops/s | redis-benchmark ops/s | ratio | ours p50 µs | ours p99 µs | redis-benchmark p50 µs | redis-benchmark p99 µs | ours threads |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
if [ "${CLIENT_QUICK:-0}" = 1 ]; then sizes=(100); callers_list=(1 50); ops=(get set); else sizes=(100 4096); callers_list=(1 50 200); ops=(get set mget); fi
for size in "${sizes[@]}"; do
    # Both tools read the same keys: key:000000000000 … key:000000009999, holding values of this size.
    redis-benchmark -p "$REDIS_PORT" -t set -n $((keyspace * 3)) -r "$keyspace" -d "$size" -q >/dev/null
    for callers in "${callers_list[@]}"; do
        for op in "${ops[@]}"; do
            if [ "$callers" = 1 ]; then requests=10000; else requests=100000; fi
            compare "$op" "$size" "$callers" 1 "$requests"
        done
    done
done
if [ "${CLIENT_QUICK:-0}" != 1 ]; then
    redis-benchmark -p "$REDIS_PORT" -t set -n $((keyspace * 3)) -r "$keyspace" -d 100 -q >/dev/null
    for op in get set; do compare "$op" 100 50 16 400000; done
fi
# TLS: the same server's TLS port, the same 100-byte keys (written again over the plain port).
redis-benchmark -p "$REDIS_PORT" -t set -n $((keyspace * 3)) -r "$keyspace" -d 100 -q >/dev/null
if [ "${CLIENT_QUICK:-0}" = 1 ]; then tls_callers=(1 50); else tls_callers=(1 50 200); fi
for callers in "${tls_callers[@]}"; do
    for op in get set; do
        if [ "$callers" = 1 ]; then requests=10000; else requests=100000; fi
        compare "$op" 100 "$callers" 1 "$requests" tls
    done
done
echo
