#!/usr/bin/env bash
# GET and SET of 100-byte values through HiredisClient at 1 and 50 concurrent callers, each beside
# redis-benchmark on the same server at the same concurrency, value size, key space and request count.
# Each figure is the median of RUNS runs (default 3). Appends JSON rows to the file given as $1.
set -euo pipefail
rows="$1"
BENCH_DIR="$(cd "$(dirname "$0")/.." && pwd)"
source "$BENCH_DIR/suites/lib.sh"
runs="${RUNS:-3}"
keyspace=10000

build_load_generator
start_redis
trap stop_redis EXIT

# Both tools read the same keys: key:000000000000 … key:000000009999.
redis-benchmark -p "$REDIS_PORT" -t set -n $((keyspace * 3)) -r "$keyspace" -d 100 -q >/dev/null

echo
echo "### client: HiredisClient vs redis-benchmark (redis $(redis_version), $(machine))"
echo
echo "| operation | callers | ours ops/s | redis-benchmark ops/s | ratio | ours p50 µs | ours p99 µs | redis-benchmark p50 µs | redis-benchmark p99 µs |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for concurrency in 1 50; do
    if [ "$concurrency" = 1 ]; then requests=40000; else requests=300000; fi
    for op in get set; do
        ours=(); theirs=()
        for _ in $(seq "$runs"); do
            ours+=("$("$LOAD_GENERATOR" throughput --url "redis://127.0.0.1:$REDIS_PORT" --operation "$op" \
                --concurrency "$concurrency" --requests "$requests" --value-size 100 --key-space "$keyspace" 2>/dev/null)")
            theirs+=("$(redis-benchmark -p "$REDIS_PORT" -t "$op" -n "$requests" -r "$keyspace" -d 100 \
                -c "$concurrency" --csv | tail -1)")
        done
        python3 - "$op" "$concurrency" "$rows" "${ours[@]}" -- "${theirs[@]}" <<'PY'
import json, statistics, sys
op, concurrency, rows = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rest = sys.argv[4:]
split = rest.index("--")
ours = [json.loads(line) for line in rest[:split]]
# redis-benchmark --csv: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
theirs = [[float(field.strip('"')) for field in line.split(",")[1:]] for line in rest[split + 1:]]
med = statistics.median
ours_ops = med(r["ops_per_sec"] for r in ours)
theirs_ops = med(t[0] for t in theirs)
row = {
    "suite": "client", "name": f"{op.upper()} 100B c={concurrency}", "callers": concurrency,
    "ours_ops_per_sec": round(ours_ops), "redis_benchmark_ops_per_sec": round(theirs_ops),
    "ratio": round(ours_ops / theirs_ops, 3),
    "p50_us": round(med(r["p50_us"] for r in ours), 1), "p99_us": round(med(r["p99_us"] for r in ours), 1),
    "redis_benchmark_p50_us": round(med(t[3] for t in theirs) * 1000, 1),
    "redis_benchmark_p99_us": round(med(t[5] for t in theirs) * 1000, 1),
    "runs": len(ours), "errors": sum(r["errors"] for r in ours),
}
with open(rows, "a") as f:
    f.write(json.dumps(row) + "\n")
print(f"| {op.upper()} | {concurrency} | {row['ours_ops_per_sec']} | {row['redis_benchmark_ops_per_sec']} | "
      f"{row['ratio']:.2f}x | {row['p50_us']} | {row['p99_us']} | {row['redis_benchmark_p50_us']} | {row['redis_benchmark_p99_us']} |")
PY
    done
done
echo
