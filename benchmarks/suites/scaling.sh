#!/usr/bin/env bash
# Where the client saturates: GET 100 B throughput as concurrent callers grow 1 → 400 (4 connections), and as
# connections grow 1 → 16 (200 callers), beside redis-benchmark at the same -c. Medians of RUNS runs (default
# 3). Writes benchmarks/results/scaling.svg (set SCALING_PLOT to change) and appends JSON rows to $1.
set -euo pipefail
rows="$1"
BENCH_DIR="$(cd "$(dirname "$0")/.." && pwd)"
source "$BENCH_DIR/suites/lib.sh"
runs="${RUNS:-3}"
keyspace=10000
plot="${SCALING_PLOT:-$BENCH_DIR/results/scaling.svg}"
mkdir -p "$(dirname "$plot")"

build_load_generator
start_redis
trap stop_redis EXIT
url="redis://127.0.0.1:$REDIS_PORT"
redis-benchmark -p "$REDIS_PORT" -t set -n $((keyspace * 3)) -r "$keyspace" -d 100 -q >/dev/null
points="$(mktemp)"

median_ops() { python3 -c 'import json,statistics,sys; print(round(statistics.median(json.loads(l)["ops_per_sec"] for l in sys.stdin if l.strip())))'; }
median_rb() { python3 -c 'import statistics,sys; print(round(statistics.median(float(l.split(",")[1].strip("\"")) for l in sys.stdin if l.strip())))'; }

echo
echo "### scaling: GET 100 B ($(machine))"
echo
echo "| callers | connections | ours ops/s | redis-benchmark ops/s (same -c) |"
echo "|---:|---:|---:|---:|"
declare -A theirs_at
measure() {
    local callers="$1" connections="$2" requests="$3"
    local ours theirs
    ours="$(for _ in $(seq "$runs"); do "$LOAD_GENERATOR" throughput --url "$url" --operation get --concurrency "$callers" \
        --connections "$connections" --requests "$requests" --key-space "$keyspace"; echo; done | median_ops)"
    # redis-benchmark does not depend on our pool size: measure it once per -c.
    if [ -z "${theirs_at[$callers]:-}" ]; then
        theirs_at[$callers]="$(for _ in $(seq "$runs"); do redis-benchmark -p "$REDIS_PORT" -t get -n "$requests" -r "$keyspace" -c "$callers" --csv | tail -1; done | median_rb)"
    fi
    theirs="${theirs_at[$callers]}"
    echo "| $callers | $connections | $ours | $theirs |"
    echo "{\"suite\": \"scaling\", \"name\": \"GET c=$callers conns=$connections\", \"callers\": $callers, \"connections\": $connections, \"ours_ops_per_sec\": $ours, \"redis_benchmark_ops_per_sec\": $theirs, \"ratio\": $(python3 -c "print(round($ours / $theirs, 3))")}" | tee -a "$rows" >> "$points"
}
for callers in 1 10 50 100 200 400; do
    if [ "$callers" -le 10 ]; then requests=10000; else requests=100000; fi
    measure "$callers" 4 "$requests"
done
for connections in 1 2 8 16; do measure 200 "$connections" 100000; done
python3 "$BENCH_DIR/suites/plot_scaling.py" "$points" "$plot"
echo
echo "plot: $plot"
rm -f "$points"
