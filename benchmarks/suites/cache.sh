#!/usr/bin/env bash
# ResilientCache (get, set, and fetch on hits) against the bare HiredisClient (get, set) at 50 concurrent
# callers, in the same run on the same server (overhead ratio), beside redis-benchmark -c 50. Then GET through
# the cache while its journal holds pattern invalidations awaiting replay (10,000 patterns; the worst-case
# pattern on 1 KiB keys) against GET with an empty journal on the same keys (target: within 2x), and the fence
# check alone (breaker held open, so no network) in ns per GET. Then GET latency while the server is hung
# (SIGSTOP): through the cache once its breaker is open (fast-fail) and through the bare client (each call pays
# the command timeout). Figures are medians of RUNS runs (default 5). Appends JSON rows to the file given as $1.
set -euo pipefail
rows="$1"
BENCH_DIR="$(cd "$(dirname "$0")/.." && pwd)"
source "$BENCH_DIR/suites/lib.sh"
runs="${RUNS:-5}"
keyspace=10000
requests=150000
fenced_requests="${FENCED_REQUESTS:-100000}"

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
echo "### cache: GET with journaled pattern invalidations awaiting replay, against an empty journal, 50 callers"
echo
echo "| journal | key bytes | ops/s | empty journal ops/s | journal / empty | p50 µs | empty p50 µs | p99 µs | empty p99 µs |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
# 10,000 patterns key:<id>:* (the keys' own prefix, so every read walks the index deep and matches none); the
# worst-case pattern *a*a…*b (20 stars) and its open-ended form *a*a…*b* on 1 KiB keys.
for variant in "patterns 16 10000" "worst 1024 1000" "worst-open 1024 1000"; do
    set -- $variant
    journal="$1"; key_bytes="$2"; space="$3"
    fenced=(); empty=()
    for run in $(seq "$runs"); do
        one_fenced() { "$LOAD_GENERATOR" fenced-get --url "$url" --journal "$journal" --key-bytes "$key_bytes" \
            --key-space "$space" --concurrency 50 --requests "$fenced_requests"; }
        one_empty() { "$LOAD_GENERATOR" fenced-get --url "$url" --journal empty --key-bytes "$key_bytes" \
            --key-space "$space" --concurrency 50 --requests "$fenced_requests"; }
        if [ $((run % 2)) = 1 ]; then
            empty+=("$(one_empty)"); fenced+=("$(one_fenced)")
        else
            fenced+=("$(one_fenced)"); empty+=("$(one_empty)")
        fi
    done
    python3 - "$journal" "$key_bytes" "$rows" "${fenced[@]}" -- "${empty[@]}" <<'PY'
import json, statistics, sys
journal, key_bytes, rows = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rest = sys.argv[4:]
split = rest.index("--")
fenced = [json.loads(x) for x in rest[:split]]
empty = [json.loads(x) for x in rest[split + 1:]]
med = statistics.median
label = {"patterns": "10,000 patterns key:<id>:*", "worst": "*a*a…*b (20 stars)", "worst-open": "*a*a…*b* (20 stars)"}[journal]
row = {
    "suite": "cache", "name": f"GET {key_bytes}B key, journal: {label}, c=50 through ResilientCache", "callers": 50,
    "key_bytes": key_bytes, "ours_ops_per_sec": round(med(r["ops_per_sec"] for r in fenced)),
    "empty_journal_ops_per_sec": round(med(r["ops_per_sec"] for r in empty)),
    # Median of the per-pair ratios, as above; the target is >= 0.5 (within 2x of an empty journal).
    "journal_ratio": round(med(f["ops_per_sec"] / e["ops_per_sec"] for f, e in zip(fenced, empty)), 3),
    "p50_us": med(r["p50_us"] for r in fenced), "p99_us": med(r["p99_us"] for r in fenced),
    "empty_p50_us": med(r["p50_us"] for r in empty), "empty_p99_us": med(r["p99_us"] for r in empty),
    "runs": len(fenced), "errors": sum(r["errors"] for r in fenced + empty),
}
open(rows, "a").write(json.dumps(row) + "\n")
print(f"| {label} | {key_bytes} | {row['ours_ops_per_sec']} | {row['empty_journal_ops_per_sec']} | {row['journal_ratio']:.3f} | "
      f"{row['p50_us']} | {row['empty_p50_us']} | {row['p99_us']} | {row['empty_p99_us']} |")
PY
done

echo
echo "### cache: the fence check alone, same journals: breaker held open (nothing reaches Redis), 1 caller"
echo
echo "| journal | key bytes | ns per GET | empty journal ns per GET | difference ns |"
echo "|---|---:|---:|---:|---:|"
for variant in "patterns 16 10000" "worst 1024 1000" "worst-open 1024 1000"; do
    set -- $variant
    journal="$1"; key_bytes="$2"; space="$3"
    fenced=(); empty=()
    for run in $(seq "$runs"); do
        one() { "$LOAD_GENERATOR" fenced-get --url "$url" --journal "$1" --key-bytes "$key_bytes" --key-space "$space" \
            --requests 1000000 --fence-only; }
        if [ $((run % 2)) = 1 ]; then
            empty+=("$(one empty)"); fenced+=("$(one "$journal")")
        else
            fenced+=("$(one "$journal")"); empty+=("$(one empty)")
        fi
    done
    python3 - "$journal" "$key_bytes" "$rows" "${fenced[@]}" -- "${empty[@]}" <<'PY'
import json, statistics, sys
journal, key_bytes, rows = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rest = sys.argv[4:]
split = rest.index("--")
fenced = [json.loads(x)["ns_per_get"] for x in rest[:split]]
empty = [json.loads(x)["ns_per_get"] for x in rest[split + 1:]]
med = statistics.median
label = {"patterns": "10,000 patterns key:<id>:*", "worst": "*a*a…*b (20 stars)", "worst-open": "*a*a…*b* (20 stars)"}[journal]
row = {
    "suite": "cache", "name": f"fence check, {key_bytes}B key, journal: {label}, breaker open, 1 caller",
    "key_bytes": key_bytes, "ns_per_get": med(fenced), "empty_journal_ns_per_get": med(empty),
    "difference_ns": round(med(f - e for f, e in zip(fenced, empty)), 1), "runs": len(fenced),
}
open(rows, "a").write(json.dumps(row) + "\n")
print(f"| {label} | {key_bytes} | {row['ns_per_get']} | {row['empty_journal_ns_per_get']} | {row['difference_ns']} |")
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
