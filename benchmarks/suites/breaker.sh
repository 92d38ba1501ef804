#!/usr/bin/env bash
# Runs the circuit-breaker micro-benchmarks (release build, package-benchmark) and prints
# a Markdown table of ns/op and mallocs/op, and appends the figures as JSON rows to ROWS_FILE.
#
# Each sample runs 1,000,000 operations (scalingFactor .mega), so the harness's own cost per
# sample (a few hundred ns, ~16 mallocs) is negligible per operation. Figures are medians
# over the samples, taken from the benchmark's own JMH export.
#
# Usage: benchmarks/suites/breaker.sh ROWS_FILE (called by benchmarks/run, which writes --json).
set -euo pipefail

rows="$1"
cd "$(dirname "$0")/.."
export_dir="$(mktemp -d)"
trap 'rm -rf "$export_dir"' EXIT

swift package --disable-sandbox benchmark --format jmh --path "$export_dir" --no-progress >&2

echo
echo "### breaker: the guard on every call (package-benchmark, release, $(nproc) cores)"
echo
python3 - "$export_dir" "$rows" <<'PY'
import glob
import json
import sys

export_dir, rows_path = sys.argv[1], sys.argv[2]
files = glob.glob(f"{export_dir}/*.jmh.json")
if not files:
    sys.exit("no JMH export was written")
elements = json.load(open(files[0]))

OPS_PER_SAMPLE = 1_000_000  # scalingFactor .mega
rows = [
    ("closed-guard-1-thread", "CLOSED guard: acquire + succeeded, 1 thread", 1),
    ("closed-guard-2-threads", "CLOSED guard: acquire + succeeded, 2 threads contended", 2),
    ("open-rejection", "OPEN rejection, run() driving the timers", 1),
    ("open-rejection-lazy", "OPEN rejection, lazy (no run(): reads the clock)", 1),
]

by_name = {element["benchmark"].rsplit(".", 1)[-1]: element for element in elements}
results = []
for name, description, threads in rows:
    element = by_name.get(name)
    if element is None:
        sys.exit(f"benchmark {name} missing from the export")
    metrics = element["secondaryMetrics"]
    # JMH export: wall clock in microseconds per sample, mallocs as a count per sample.
    wall = metrics["Time (wall clock)"]["scorePercentiles"]["50.0"]
    mallocs = metrics["Malloc (total)"]["scorePercentiles"]["50.0"]
    ns_per_op = wall * 1_000 / OPS_PER_SAMPLE
    results.append({
        "suite": "breaker",
        "name": name,
        "description": description,
        "threads": threads,
        "ns_per_op": round(ns_per_op, 2),
        # With 2 threads the wall time is shared: each thread's operation takes twice as long.
        "ns_per_op_per_thread": round(ns_per_op * threads, 2),
        "mallocs_per_op": mallocs / OPS_PER_SAMPLE,
        "mallocs_per_sample": mallocs,
        "samples": len(metrics["Time (wall clock)"]["rawData"][0]),
    })

print("| benchmark | ns/op | ns/op per thread | mallocs/op (per 10^6-op sample) |")
print("|---|---:|---:|---:|")
for r in results:
    print(f"| {r['description']} | {r['ns_per_op']:.1f} | {r['ns_per_op_per_thread']:.1f} | "
          f"{r['mallocs_per_op']:.6f} ({r['mallocs_per_sample']:g}) |")

with open(rows_path, "a") as handle:
    for r in results:
        handle.write(json.dumps(r) + "\n")
PY
