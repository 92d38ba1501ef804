#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing, builds, runs every test.
# Each test starts its own redis-server on a free loopback port and stops it; nothing else is needed.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/bootstrap.sh

# The code's layout is checked, not only configured: swift-format (in the toolchain) against .swift-format.
swift format lint --strict --recursive Sources Tests Snippets Package.swift \
    benchmarks/Sources benchmarks/Benchmarks benchmarks/Package.swift \
    examples/catalog-service/Sources examples/catalog-service/Package.swift

# The alerting rules we ship: valid, and firing (and not firing) on synthetic series as their tests say.
promtool check rules monitoring/prometheus-rules.yml
promtool test rules monitoring/prometheus-rules.test.yml

# Every redis-server a test starts is stopped by the test, and if the test process itself dies, by a small
# watchdog RedisTestSupport starts beside each server (see RedisServer.swift); nothing to sweep here.
swift build --build-tests
# Serially: several tests assert deadlines (a call returns within its timeout + 100 ms), and on a 2-core
# machine tests running beside them would make scheduling, not the client, decide those bounds.
swift test --skip-build --no-parallel "$@"

# The example service end to end (its own package: Hummingbird and swift-nio are built here, not above): every
# route, a Redis outage the service rides out on its database, recovery, graceful shutdown. See example.sh.
./scripts/example.sh
