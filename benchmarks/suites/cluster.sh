#!/usr/bin/env bash
# Redis Cluster: a 3-primary + 3-replica cluster on loopback, started through the cluster harness.
# 1. Throughput: GET and SET of 100-byte values at 50 and 200 callers through RedisClusterClient (keys spread over
#    every slot) beside redis-benchmark --cluster on the same nodes, in the same run, with the same -c/-n/-r/-d
#    (ratio = ours / theirs), and our single-node RedisClient against shard 0's primary alone (keys of a hash tag
#    that primary serves), for the cluster / single-node scaling. Medians of RUNS runs (default 3), interleaved.
# 2. One shard down under load through ResilientCache(cluster:): 50 callers, 90 % GET / 10 % SET over 3000 keys
#    spread across the shards, 10 s phases before / during / after; shard 1's primary SIGSTOPped (no failover within
#    the phase) and, in a second run, SIGKILLed (failover to its replica after ~2-3 s, not restarted). Per phase and
#    shard: throughput, hit rate, degraded reads, escaped errors, stale reads. Each run starts its own cluster.
#    CLUSTER_OUTAGE_FAULTS="hang kill" by default; CLUSTER_PHASE_SECONDS=10.
# Appends JSON rows to the file given as $1.
set -euo pipefail
rows="$1"
BENCH_DIR="$(cd "$(dirname "$0")/.." && pwd)"
source "$BENCH_DIR/suites/lib.sh"
runs="${RUNS:-3}"
keyspace=10000
size=100
requests=100000

build_load_generator
start_cluster
trap stop_cluster EXIT
single_url="redis://127.0.0.1:$CLUSTER_PRIMARY_PORT"
single_prefix="key:{$CLUSTER_PRIMARY_TAG}:"

# The values every GET reads: redis-benchmark's own keys (key{tag}:…, one tag per primary), ours spread over the
# slots, and the single-node run's keys on shard 0's primary.
redis-benchmark --cluster -h 127.0.0.1 -p "$CLUSTER_SEED_PORT" -t set -n $((keyspace * 3)) -r "$keyspace" -d "$size" \
    -c 50 -q >/dev/null
"$LOAD_GENERATOR" throughput --cluster --url "$CLUSTER_URL" --operation set --populate --requests 0 \
    --key-space "$keyspace" --value-size "$size" >/dev/null
"$LOAD_GENERATOR" throughput --url "$single_url" --key-prefix "$single_prefix" --operation set --populate \
    --requests 0 --key-space "$keyspace" --value-size "$size" >/dev/null

# compare OP CALLERS
compare() {
    local op="$1" callers="$2"
    local ours=() theirs=() single=()
    local common=(--operation "$op" --concurrency "$callers" --requests "$requests" --value-size "$size" --key-space "$keyspace")
    for run in $(seq "$runs"); do
        one_ours() { "$LOAD_GENERATOR" throughput --cluster --url "$CLUSTER_URL" "${common[@]}"; }
        one_theirs() { redis-benchmark --cluster -h 127.0.0.1 -p "$CLUSTER_SEED_PORT" -c "$callers" -n "$requests" \
            -r "$keyspace" -d "$size" -t "$op" --csv | tail -1; }
        # Alternate which side goes first, so drift in the machine's speed hits both alike.
        if [ $((run % 2)) = 1 ]; then
            ours+=("$(one_ours)"); theirs+=("$(one_theirs)")
        else
            theirs+=("$(one_theirs)"); ours+=("$(one_ours)")
        fi
        single+=("$("$LOAD_GENERATOR" throughput --url "$single_url" --key-prefix "$single_prefix" "${common[@]}")")
    done
    python3 - "$op" "$size" "$callers" "$rows" "${ours[@]}" -- "${theirs[@]}" -- "${single[@]}" <<'PY'
import json, statistics, sys
op, size, callers, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rest = sys.argv[5:]
first = rest.index("--"); second = rest.index("--", first + 1)
ours = [json.loads(x) for x in rest[:first]]
# redis-benchmark --csv: "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
theirs = [[float(f.strip('"')) for f in line.strip('"').split('","')[1:]] for line in rest[first + 1:second]]
single = [json.loads(x) for x in rest[second + 1:]]
med = statistics.median
ours_ops, theirs_ops, single_ops = med(r["ops_per_sec"] for r in ours), med(t[0] for t in theirs), med(r["ops_per_sec"] for r in single)
name = f"{op.upper()} {size}B c={callers}, 3 primaries"
row = {
    "suite": "cluster", "name": name, "operation": op, "value_size": size, "callers": callers, "primaries": 3,
    "ours_ops_per_sec": round(ours_ops), "redis_benchmark_ops_per_sec": round(theirs_ops),
    "ratio": round(ours_ops / theirs_ops, 3),
    "single_node_ops_per_sec": round(single_ops), "cluster_over_single_node": round(ours_ops / single_ops, 3),
    "p50_us": med(r["p50_us"] for r in ours), "p99_us": med(r["p99_us"] for r in ours),
    "redis_benchmark_p50_us": round(med(t[3] for t in theirs) * 1000, 1),
    "redis_benchmark_p99_us": round(med(t[5] for t in theirs) * 1000, 1),
    "single_node_p50_us": med(r["p50_us"] for r in single), "single_node_p99_us": med(r["p99_us"] for r in single),
    "threads": max(r["threads"] for r in ours), "single_node_threads": max(r["threads"] for r in single),
    "runs": len(ours), "errors": sum(r["errors"] for r in ours + single),
}
open(rows, "a").write(json.dumps(row) + "\n")
print(f"| {name} | {row['ours_ops_per_sec']} | {row['redis_benchmark_ops_per_sec']} | {row['ratio']:.2f}x | "
      f"{row['single_node_ops_per_sec']} | {row['cluster_over_single_node']:.2f}x | {row['p50_us']} | {row['p99_us']} | "
      f"{row['redis_benchmark_p50_us']} | {row['redis_benchmark_p99_us']} | {row['threads']} ({row['single_node_threads']}) |")
PY
}

echo
echo "### cluster: RedisClusterClient vs redis-benchmark --cluster, 3 primaries + 3 replicas (redis $(redis_version), $(machine); medians of $runs runs)"
echo
echo "| benchmark | ours ops/s | redis-benchmark --cluster ops/s | ratio | ours single node ops/s | cluster / single node | ours p50 µs | ours p99 µs | redis-benchmark p50 µs | redis-benchmark p99 µs | client threads (single node) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for callers in 50 200; do
    for op in get set; do
        compare "$op" "$callers"
    done
done
stop_cluster

phase_seconds="${CLUSTER_PHASE_SECONDS:-10}"
echo
echo "### cluster: one shard down under load through ResilientCache(cluster:), 50 callers, 90 % GET / 10 % SET, ${phase_seconds} s phases"
echo
echo "| fault | phase | shard | ops/s | GETs | hit rate | misses (fenced or absent) | degraded reads | SETs | escaped | stale | p50 µs | p99 µs |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
summary="$(mktemp)"
trap 'stop_cluster; rm -f "$summary"' EXIT
for fault in ${CLUSTER_OUTAGE_FAULTS:-hang kill}; do
    result="$("$LOAD_GENERATOR" cluster-outage --fault "$fault" --concurrency 50 --phase-seconds "$phase_seconds")"
    python3 - "$rows" "$summary" "$result" <<'PY'
import json, sys
rows, summary, result = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
fault, dead = result["fault"], result["dead_shard"]
label = {"hang": "primary SIGSTOPped", "kill": "primary SIGKILLed"}[fault]
phases = {p["phase"]: p for p in result["phases"]}
for phase in result["phases"]:
    for s in phase["shards"]:
        tag = " (down)" if s["shard"] == dead else ""
        print(f"| {label} | {phase['phase']} | {s['shard']}{tag} | {s['ops_per_sec']} | {s['gets']} | {s['hit_rate']:.3f} | "
              f"{s['misses']} | {s['degraded_reads']} | {s['sets']} | {s['escaped']} | {s['stale']} | {s['p50_us']:.0f} | {s['p99_us']:.0f} |")
healthy = lambda phase: sum(s["ops_per_sec"] for s in phases[phase]["shards"] if s["shard"] != dead)
per_shard = {s["shard"]: s["ops_per_sec"] for s in phases["before"]["shards"]}
ratios = {s["shard"]: round(s["ops_per_sec"] / per_shard[s["shard"]], 3) for s in phases["during"]["shards"] if s["shard"] != dead}
every = [s for p in result["phases"] for s in p["shards"]]
row = {
    "suite": "cluster", "name": f"one shard down ({label}), 50 callers via ResilientCache(cluster:)", "fault": fault,
    "dead_shard": dead, "callers": result["callers"], "phase_seconds": round(phases["before"]["seconds"], 2),
    "healthy_ops_per_sec_before": healthy("before"), "healthy_ops_per_sec_during": healthy("during"),
    "healthy_ops_per_sec_after": healthy("after"),
    "healthy_during_over_before": round(healthy("during") / healthy("before"), 3),
    "healthy_during_over_before_by_shard": ratios,
    "healthy_hit_rate_before": round(sum(s["hits"] for s in phases["before"]["shards"] if s["shard"] != dead) /
                                     max(1, sum(s["gets"] for s in phases["before"]["shards"] if s["shard"] != dead)), 4),
    "healthy_hit_rate_during": round(sum(s["hits"] for s in phases["during"]["shards"] if s["shard"] != dead) /
                                     max(1, sum(s["gets"] for s in phases["during"]["shards"] if s["shard"] != dead)), 4),
    "dead_shard_degraded_reads_during": next(s["degraded_reads"] for s in phases["during"]["shards"] if s["shard"] == dead),
    "degraded_sets_during": phases["during"]["degraded_sets_all_shards"],
    "escaped": sum(s["escaped"] for s in every), "stale": sum(s["stale"] for s in every),
    "to_open_ms": result["to_open_ms"], "to_closed_ms": result["to_closed_ms"], "cleared_ms": result["cleared_ms"],
    "failover_ms": result["failover_ms"], "unfinished_calls": result["unfinished_calls"],
    "escaped_samples": result["escaped_samples"], "phases": result["phases"],
}
open(rows, "a").write(json.dumps(row) + "\n")
fmt = lambda v: "-" if v is None else f"{v:.0f}"
closed = "-" if row["to_closed_ms"] is None else (
    f"{row['to_closed_ms'] - row['cleared_ms']:.0f} after SIGCONT" if row["cleared_ms"] is not None else f"{row['to_closed_ms']:.0f} after the kill")
open(summary, "a").write(
    f"| {label} | {row['healthy_ops_per_sec_before']} | {row['healthy_ops_per_sec_during']} | "
    f"{row['healthy_during_over_before']:.3f} ({', '.join(f'{k}: {v:.3f}' for k, v in ratios.items())}) | "
    f"{row['healthy_hit_rate_before']:.3f} → {row['healthy_hit_rate_during']:.3f} | {row['dead_shard_degraded_reads_during']} | "
    f"{row['escaped']} | {row['stale']} | {fmt(row['to_open_ms'])} | {closed} | {fmt(row['failover_ms'])} |\n")
PY
done
echo
echo "| fault | healthy shards ops/s before | during | during / before (by shard) | healthy hit rate before → during | dead shard degraded reads | escaped | stale | fault → OPEN ms | → all CLOSED ms | failover ms |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
cat "$summary"
echo
