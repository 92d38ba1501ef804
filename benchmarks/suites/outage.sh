#!/usr/bin/env bash
# GET latency from 50 callers while the server is hung (SIGSTOP) and while it is stopped (SIGTERM), through
# ResilientCache (breaker) and through the bare client (no breaker), command timeout 100 ms, fault 3 s; and for
# the cache, the time from the fault to OPEN and from its end to CLOSED. Each run starts its own server.
# Medians of RUNS runs (default 3). Appends JSON rows to the file given as $1.
set -euo pipefail
rows="$1"
BENCH_DIR="$(cd "$(dirname "$0")/.." && pwd)"
source "$BENCH_DIR/suites/lib.sh"
runs="${RUNS:-3}"
build_load_generator

echo
echo "### outage: GET during a 3 s fault, 50 callers, command timeout 100 ms ($(machine))"
echo
echo "| fault | path | calls during fault | p50 µs | p99 µs | max µs | fault → OPEN ms | clear → CLOSED ms |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
# Faults as the demo and the chaos soak write them (OUTAGE_FAULTS="hang stop" by default, e.g. "hang sleep=3").
for fault in ${OUTAGE_FAULTS:-hang stop}; do
    for through in cache client; do
        results=()
        for _ in $(seq "$runs"); do
            results+=("$("$LOAD_GENERATOR" fault --fault "$fault" --through "$through" --fault-ms 3000 --timeout-ms 100)")
        done
        python3 - "$rows" "${results[@]}" <<'PY'
import json, statistics, sys
rows, results = sys.argv[1], [json.loads(r) for r in sys.argv[2:]]
med = lambda key: statistics.median(r[key] for r in results) if results[0][key] is not None else None
fault, through = results[0]["fault"], results[0]["through"]
row = {"suite": "outage", "name": f"{fault} via {through}", "fault": fault, "through": through,
       "calls": round(med("calls")), "p50_us": med("p50_us"), "p99_us": med("p99_us"), "max_us": med("max_us"),
       "to_open_ms": med("to_open_ms"), "to_closed_ms": med("to_closed_ms"), "runs": len(results)}
open(rows, "a").write(json.dumps(row) + "\n")
fmt = lambda v: "-" if v is None else f"{v:.1f}"
label = {"cache": "ResilientCache (breaker)", "client": "bare client (no breaker)"}[through]
fault_label = {"hang": "hung (SIGSTOP)", "stop": "stopped (SIGTERM)"}.get(fault, fault)
print(f"| {fault_label} | {label} | {row['calls']} | {fmt(row['p50_us'])} | {fmt(row['p99_us'])} | {fmt(row['max_us'])} | "
      f"{fmt(row['to_open_ms'])} | {fmt(row['to_closed_ms'])} |")
PY
    done
done
echo
