#!/usr/bin/env bash
# Installs what the project needs on a Debian machine, only what is missing:
# libhiredis-dev (the RESP codec we wrap), libssl-dev (TLS) and openssl (the certificates TLS tests and the demo
# make), redis-server + redis-tools (tests, demo, benchmarks), curl (example.sh) and prometheus for its promtool
# (the alerting rules in monitoring/ are checked and unit-tested with it).
# Needs root or sudo only when something is missing. Never starts or touches a system Redis.
set -euo pipefail

missing=()
dpkg -s libhiredis-dev >/dev/null 2>&1 || missing+=(libhiredis-dev)
dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 && command -v redis-benchmark >/dev/null 2>&1 || missing+=(redis-tools)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)

if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "==> installing ${missing[*]}"
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "error: no Swift toolchain on PATH; install Swift 6.1 or later (https://www.swift.org/install/linux/)" >&2
    exit 1
fi
