#!/usr/bin/env bash
# ResilientCache (get, set, and fetch on hits) against the bare HiredisClient (get, set) at 50 concurrent
# callers, in the same run on the same server (overhead ratio), beside redis-benchmark -c 50; then GET latency while the server is hung (SIGSTOP):
# through the cache once its breaker is open (fast-fail) and through the bare client (each call pays the
# command timeout). Figures are medians of RUNS runs (default 5). Appends JSON rows to the file given as $1.
set -euo pipefail
rows="$1"
BENCH_DIR="$(cd "$(dirname "$0")/.." && pwd)"
source "$BENCH_DIR/suites/lib.sh"
runs="${RUNS:-5}"
keyspace=10000
requests=150000

build_load_generator
start_redis
trap stop_redis EXIT
redis-benchmark -p "$REDIS_PORT" -t set -n $((keyspace * 3)) -r "$keyspace" -d 100 -q >/dev/null
url="redis://127.0.0.1:$REDIS_PORT"

echo
echo "### cache: ResilientCache vs the bare client, 50 callers (redis $(redis_version), $(machine))"
echo
echo "| operation | cache ops/s | client ops/s | cache / client | redis-benchmark -c 50 ops/s | cache p50 µs | cache p99 µs | client p50 µs | client p99 µs |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for variant in "get cache" "set cache" "get fetch"; do
    set -- $variant
    op="$1"; through="$2"
    cache=(); client=(); theirs=()
    for run in $(seq "$runs"); do
        # Paired and interleaved, alternating which side goes first, so drift in the machine's speed hits both
        # sides alike; the overhead is the median of the per-pair ratios.
        one_client() { "$LOAD_GENERATOR" throughput --url "$url" --through client --operation "$op" --concurrency 50 \
            --requests "$requests" --key-space "$keyspace"; }
        one_cache() { "$LOAD_GENERATOR" throughput --url "$url" --through "$through" --operation "$op" --concurrency 50 \
            --requests "$requests" --key-space "$keyspace"; }
        if [ $((run % 2)) = 1 ]; then
            client+=("$(one_client)"); cache+=("$(one_cache)")
        else
            cache+=("$(one_cache)"); client+=("$(one_client)")
        fi
        theirs+=("$(redis-benchmark -p "$REDIS_PORT" -t "$op" -n "$requests" -r "$keyspace" -d 100 -c 50 --csv | tail -1)")
    done
    python3 - "$op" "$through" "$rows" "${cache[@]}" -- "${client[@]}" -- "${theirs[@]}" <<'PY'
import json, statistics, sys
op, through, rows = sys.argv[1], sys.argv[2], sys.argv[3]
rest = sys.argv[4:]
first = rest.index("--"); second = rest.index("--", first + 1)
cache = [json.loads(x) for x in rest[:first]]
client = [json.loads(x) for x in rest[first + 1:second]]
theirs = [float(line.split(",")[1].strip('"')) for line in rest[second + 1:]]
med = statistics.median
cache_ops, client_ops = med(r["ops_per_sec"] for r in cache), med(r["ops_per_sec"] for r in client)
row = {
    "suite": "cache", "name": f"{'fetch (hit)' if through == 'fetch' else op.upper()} 100B c=50 through ResilientCache", "callers": 50,
    "ours_ops_per_sec": round(cache_ops), "client_ops_per_sec": round(client_ops),
    # Median of the per-pair ratios: robust to the machine speeding up or slowing down between pairs.
    "overhead_ratio": round(med(c["ops_per_sec"] / b["ops_per_sec"] for c, b in zip(cache, client)), 3),
    "redis_benchmark_ops_per_sec": round(med(theirs)), "ratio": round(cache_ops / med(theirs), 3),
    "p50_us": med(r["p50_us"] for r in cache), "p99_us": med(r["p99_us"] for r in cache),
    "client_p50_us": med(r["p50_us"] for r in client), "client_p99_us": med(r["p99_us"] for r in client),
    "runs": len(cache), "errors": sum(r["errors"] for r in cache + client),
}
open(rows, "a").write(json.dumps(row) + "\n")
print(f"| {'fetch (hits) vs GET' if through == 'fetch' else op.upper()} | {row['ours_ops_per_sec']} | {row['client_ops_per_sec']} | {row['overhead_ratio']:.3f} | "
      f"{row['redis_benchmark_ops_per_sec']} | {row['p50_us']} | {row['p99_us']} | {row['client_p50_us']} | {row['client_p99_us']} |")
PY
done

echo
echo "### cache: GET while Redis is hung (SIGSTOP), command timeout 100 ms"
echo
echo "| path | calls | p50 µs | p99 µs | max µs |"
echo "|---|---:|---:|---:|---:|"
# Each run starts and hangs a server of its own through the harness.
open="$("$LOAD_GENERATOR" outage --through cache --requests 200000 --timeout-ms 100)"
bare="$("$LOAD_GENERATOR" outage --through client --requests 20 --timeout-ms 100)"
python3 - "$rows" "$open" "$bare" <<'PY'
import json, sys
rows, opened, bare = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
for name, result in (("GET, breaker open (fast-fail)", opened), ("GET, bare client, no breaker", bare)):
    row = {"suite": "cache", "name": name, "calls": result["requests"], "p50_us": result["p50_us"],
           "p99_us": result["p99_us"], "max_us": result["max_us"], "ours_ops_per_sec": result["ops_per_sec"]}
    open(rows, "a").write(json.dumps(row) + "\n")
    print(f"| {name} | {result['requests']} | {result['p50_us']} | {result['p99_us']} | {result['max_us']} |")
PY
echo
