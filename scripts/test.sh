#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing, builds, runs every test.
# Each test starts its own redis-server on a free loopback port and stops it; nothing else is needed.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/bootstrap.sh

# A test process that crashes cannot stop its servers; sweep any left behind (their data folders carry this
# marker in their command line's --dir, so no other redis-server is touched).
cleanup() { pkill -f -- "--dir /tmp/resilient-cache-test" 2>/dev/null || true; }
trap cleanup EXIT

swift build --build-tests
# Serially: several tests assert deadlines (a call returns within its timeout + 100 ms), and on a 2-core
# machine tests running beside them would make scheduling, not the client, decide those bounds.
swift test --skip-build --no-parallel "$@"
