#!/usr/bin/env bash
# The main job: `resilient-cache demo` — a live workload through the cache while Redis is hung, stopped and
# brought back, showing that the outage never becomes the service's outage.
#
#   ./scripts/demo.sh                                  # 30 s, default faults, its own redis-server
#   ./scripts/demo.sh --duration 30s --plot demo.svg   # and a timeline picture
#   ./scripts/demo.sh --json > run.jsonl               # one JSON object per second
#   ./scripts/demo.sh --redis redis://127.0.0.1:6379   # your Redis; stop it yourself to see the outage
#   ./scripts/demo.sh --cluster                        # its own Redis Cluster; shard primaries killed and hung
#
# Installs what is missing (bootstrap.sh), builds the release binary, then runs it with the arguments given.
# Paths in the arguments are relative to where you run the script from. Build output goes to stderr, so
# stdout carries only the demo's own output.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

"$root/scripts/bootstrap.sh" >&2
swift build --package-path "$root" -c release --product resilient-cache >&2
bin="$(swift build --package-path "$root" -c release --show-bin-path)"
exec "$bin/resilient-cache" demo "$@"
