#!/usr/bin/env bash
# The breaker under a backend that fails a share of calls (the failing backend over memory, no Redis):
# 0, 10, 30, 50 and 100% failures, 50 callers, 3 s each. Reports throughput, the share of calls the breaker
# admitted, and the share of time in each state. Breaker: 5 consecutive failures or a 50% failure rate over
# at least 100 calls open it for 200 ms. Medians of RUNS runs (default 3). Appends JSON rows to $1.
set -euo pipefail
rows="$1"
BENCH_DIR="$(cd "$(dirname "$0")/.." && pwd)"
source "$BENCH_DIR/suites/lib.sh"
runs="${RUNS:-3}"
build_load_generator

echo
echo "### failure sweep: ResilientCache over a failing backend, 50 callers, 3 s per rate ($(machine))"
echo
echo "| failure rate | ops/s | admitted | backend calls | state changes | time CLOSED | time OPEN | time HALF_OPEN |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
for rate in 0 0.1 0.3 0.5 1; do
    results=()
    for _ in $(seq "$runs"); do
        results+=("$("$LOAD_GENERATOR" sweep --failure-rate "$rate" --seconds 3)")
    done
    python3 - "$rows" "${results[@]}" <<'PY'
import json, statistics, sys
rows, results = sys.argv[1], [json.loads(r) for r in sys.argv[2:]]
med = lambda key: statistics.median(r[key] for r in results)
row = {"suite": "sweep", "name": f"failure rate {results[0]['failure_rate']:.0%}", **{k: med(k) for k in results[0]}}
row["runs"] = len(results)
open(rows, "a").write(json.dumps(row) + "\n")
pct = lambda v: f"{v * 100:.1f}%"
print(f"| {pct(row['failure_rate'])} | {round(row['ops_per_sec'])} | {pct(row['admitted_share'])} | {round(row['backend_calls'])} | "
      f"{round(row['state_changes'])} | {pct(row['closed_share'])} | {pct(row['open_share'])} | {pct(row['half_open_share'])} |")
PY
done
echo
