#!/usr/bin/env bash
# examples/catalog-service end to end, as a user would run it: builds the example (debug), starts its own
# redis-server and the service on free loopback ports, requests every route, stops Redis and checks the service
# keeps answering 200 from the database, quickly, while /metrics shows the circuit open; restarts Redis on the
# same port and checks the circuit closes again; then SIGTERMs the service and checks it exits 0 in time. Last,
# with --health-503-when-degraded and Redis down, checks /health answers 503 while reads still answer 200.
# Exits non-zero on the first failed check. Never touches port 6379 or a redis-server it did not start.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# Bounds, in seconds.
readonly request_bound=0.95    # one read during the outage: 50 ms of database; one that waited on the 1 s Redis deadline takes > 1.05 s
readonly ready_bound=30        # the service answering after it starts
readonly open_bound=10         # the circuit reported open after Redis stops
readonly close_bound=5         # the circuit reported closed after Redis is back
readonly shutdown_bound=10     # the process gone after SIGTERM
readonly outage_requests=30    # requests made during the outage, at least

./scripts/bootstrap.sh  # also curl, which the checks below use

echo "==> building examples/catalog-service (debug)"
build_started=$(date +%s)
swift build --package-path examples/catalog-service --product CatalogService
bin="$(swift build --package-path examples/catalog-service --show-bin-path)/CatalogService"
echo "    built in $(($(date +%s) - build_started)) s"

work="$(mktemp -d "${TMPDIR:-/tmp}/catalog-example.XXXXXX")"
redis_pid=""
service_pid=""
cleanup() {
    local rc=$?
    if [ -n "$service_pid" ] && kill -0 "$service_pid" 2>/dev/null; then kill -KILL "$service_pid" 2>/dev/null || true; fi
    if [ -n "$redis_pid" ] && kill -0 "$redis_pid" 2>/dev/null; then kill -KILL "$redis_pid" 2>/dev/null || true; fi
    wait 2>/dev/null || true
    if [ "$rc" -ne 0 ]; then
        echo "---- service log (last 40 lines) ----" >&2
        tail -n 40 "$work/service.log" >&2 2>/dev/null || true
        echo "---- redis-server log (last 10 lines) ----" >&2
        tail -n 10 "$work/redis.log" >&2 2>/dev/null || true
    fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# A free loopback port: bound by the kernel, then released (never 6379).
free_port() {
    local port
    while :; do
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        [ "$port" != 6379 ] && break
    done
    echo "$port"
}

start_redis() {
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
        >>"$work/redis.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 50); do
        redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && return 0
        kill -0 "$redis_pid" 2>/dev/null || fail "redis-server did not start on port $redis_port"
        sleep 0.1
    done
    fail "redis-server on port $redis_port did not answer PING within 5 s"
}

# request METHOD PATH [JSON]: sets status, body and seconds (curl's time_total). Status 000: no answer.
request() {
    local out
    local args=(-s -o "$work/body" -w '%{http_code} %{time_total}' --max-time 5 -X "$1")
    [ $# -ge 3 ] && args+=(-H 'content-type: application/json' --data "$3")
    out=$(curl "${args[@]}" "http://127.0.0.1:$service_port$2") || true
    status=${out%% *}
    seconds=${out##* }
    [ -n "$status" ] || status=000
    body=$(cat "$work/body" 2>/dev/null || true)
}

expect() { # expect STATUS METHOD PATH [JSON] [BODY-SUBSTRING]
    local want=$1 substring=${5:-}
    shift
    request "$1" "$2" ${3:+"$3"}
    [ "$status" = "$want" ] || fail "$1 $2: status $status, expected $want; body: $body"
    if [ -n "$substring" ]; then
        case "$body" in *"$substring"*) ;; *) fail "$1 $2: body lacks '$substring': $body" ;; esac
    fi
}

# The value of a metric (without or with labels: another dimension may be added) in /metrics, or "" if absent.
metric() {
    request GET /metrics
    [ "$status" = 200 ] || fail "GET /metrics: status $status"
    printf '%s\n' "$body" | awk -v name="$1" '$1 == name || index($1, name "{") == 1 { print $2; exit }'
}

breaker_state() { # 0 closed, 1 half-open, 2 open
    local value
    value=$(metric cache_circuit_breaker_state)
    [ -n "$value" ] || fail "/metrics has no cache_circuit_breaker_state"
    printf '%.0f\n' "$value"
}

redis_port=$(free_port)
service_port=$(free_port)
while [ "$service_port" = "$redis_port" ]; do service_port=$(free_port); done

echo "==> redis-server on 127.0.0.1:$redis_port"
start_redis

echo "==> catalog-service on 127.0.0.1:$service_port (database latency 50ms)"
"$bin" --port "$service_port" --redis "redis://127.0.0.1:$redis_port" --database-latency 50ms \
    >"$work/service.log" 2>&1 &
service_pid=$!
ready=""
for _ in $(seq $((ready_bound * 10))); do
    kill -0 "$service_pid" 2>/dev/null || fail "the service exited at start"
    request GET /health
    if [ "$status" = 200 ]; then
        ready=1
        break
    fi
    sleep 0.1
done
[ -n "$ready" ] || fail "the service did not answer GET /health within $ready_bound s"

echo "==> every route, Redis up"
expect 200 GET /health "" '"state":"closed"'
queries_before=$(metric catalog_database_queries_total)
expect 200 GET /items/1 "" '"name":"Item 1"'
expect 200 GET /items/1 "" '"name":"Item 1"'
queries_after=$(metric catalog_database_queries_total)
[ "$((queries_after - queries_before))" = 1 ] ||
    fail "two reads of one item queried the database $((queries_after - queries_before)) times, expected 1 (cached)"
expect 404 GET /items/999
expect 200 PUT /items/1 '{"name":"Renamed","price":9.5}' '"version":2'
expect 200 GET /items/1 "" '"name":"Renamed"'
expect 200 GET /items/2 "" '"name":"Item 2"'
expect 200 GET /metrics "" cache_circuit_state_changes_total
[ "$(breaker_state)" = 0 ] || fail "the circuit is not closed with Redis up"
changes_before=$(metric cache_circuit_state_changes_total)

echo "==> Redis stopped (shutdown nosave); requests must stay 200 from the database, each under $request_bound s"
redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
for _ in $(seq 50); do kill -0 "$redis_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$redis_pid" 2>/dev/null && fail "redis-server did not stop"
wait "$redis_pid" 2>/dev/null || true
redis_pid=""

outage_started=$(date +%s.%N)
seen_open=""
slowest=0
served=0
queries_before=$(metric catalog_database_queries_total)
while :; do
    id=$((served % 10 + 1))
    expect 200 GET "/items/$id" "" "\"id\":$id"
    awk -v s="$seconds" -v b="$request_bound" 'BEGIN { exit !(s < b) }' ||
        fail "GET /items/$id took $seconds s during the outage (bound $request_bound s)"
    slowest=$(awk -v s="$seconds" -v m="$slowest" 'BEGIN { print (s > m ? s : m) }')
    served=$((served + 1))
    if [ -z "$seen_open" ] && [ "$(breaker_state)" = 2 ]; then
        seen_open=$(awk -v a="$outage_started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
        echo "    circuit open (cache_circuit_breaker_state 2) after ${seen_open} s, $served requests"
    fi
    if [ -n "$seen_open" ] && [ "$served" -ge "$outage_requests" ]; then break; fi
    if [ -z "$seen_open" ] && awk -v a="$outage_started" -v b="$(date +%s.%N)" -v l="$open_bound" \
        'BEGIN { exit !(b - a > l) }'; then
        fail "/metrics never showed cache_circuit_breaker_state 2 within $open_bound s of the outage"
    fi
done
queries_after=$(metric catalog_database_queries_total)
[ "$((queries_after - queries_before))" -ge "$served" ] ||
    fail "$served reads during the outage queried the database only $((queries_after - queries_before)) times"
expect 200 PUT /items/2 '{"name":"Written during the outage","price":1}' '"version":2'
expect 200 GET /items/2 "" '"name":"Written during the outage"'
expect 200 GET /health "" '"degraded":true'
echo "    $served reads answered 200 from the database, slowest ${slowest} s; /health 200 with \"degraded\":true"

echo "==> Redis restarted on the same port; the circuit must close within $close_bound s"
start_redis
restarted=$(date +%s.%N)
closed_after=""
while :; do
    expect 200 GET /items/3 "" '"id":3'
    if [ "$(breaker_state)" = 0 ]; then
        closed_after=$(awk -v a="$restarted" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
        break
    fi
    awk -v a="$restarted" -v b="$(date +%s.%N)" -v l="$close_bound" 'BEGIN { exit !(b - a > l) }' &&
        fail "/metrics still shows cache_circuit_breaker_state $(breaker_state) $close_bound s after Redis came back"
    sleep 0.1
done
changes_after=$(metric cache_circuit_state_changes_total)
changes=$(awk -v a="$changes_before" -v b="$changes_after" 'BEGIN { printf "%d", b - a }')
[ "$changes" -ge 3 ] || fail "cache_circuit_state_changes_total rose by $changes, expected open, half-open, closed (3)"
echo "    circuit closed (cache_circuit_breaker_state 0) ${closed_after} s after Redis came back; $changes state changes"
expect 200 GET /items/2 "" '"name":"Written during the outage"'
expect 200 GET /health "" '"state":"closed"'

echo "==> SIGTERM; the service must exit 0 within $shutdown_bound s"
term_sent=$(date +%s.%N)
kill -TERM "$service_pid"
for _ in $(seq $((shutdown_bound * 10))); do kill -0 "$service_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$service_pid" 2>/dev/null && fail "the service was still running $shutdown_bound s after SIGTERM"
service_rc=0
wait "$service_pid" || service_rc=$?
service_pid=""
[ "$service_rc" = 0 ] || fail "the service exited with status $service_rc after SIGTERM"
stopped_after=$(awk -v a="$term_sent" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')

redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
wait "$redis_pid" 2>/dev/null || true
redis_pid=""

echo "==> --health-503-when-degraded, Redis down: reads 200, /health 503 once the circuit opens"
"$bin" --port "$service_port" --redis "redis://127.0.0.1:$redis_port" --database-latency 0 --health-503-when-degraded \
    >"$work/service.log" 2>&1 &
service_pid=$!
health_503=""
for _ in $(seq $((ready_bound * 10))); do
    kill -0 "$service_pid" 2>/dev/null || fail "the service exited at start"
    request GET /items/4
    if [ "$status" = 200 ]; then
        request GET /health
        if [ "$status" = 503 ]; then
            health_503=1
            break
        fi
    fi
    sleep 0.1
done
[ -n "$health_503" ] || fail "GET /health never answered 503 with --health-503-when-degraded and Redis down"
case "$body" in *'"degraded":true'*) ;; *) fail "GET /health 503 without \"degraded\":true: $body" ;; esac
kill -TERM "$service_pid"
for _ in $(seq $((shutdown_bound * 10))); do kill -0 "$service_pid" 2>/dev/null || break; sleep 0.1; done
service_rc=0
wait "$service_pid" || service_rc=$?
service_pid=""
[ "$service_rc" = 0 ] || fail "the service (503 mode) exited with status $service_rc after SIGTERM"

echo "==> summary"
echo "    routes: GET /items/{id} (hit, miss, 404), PUT /items/{id}, GET /health, GET /metrics: as expected"
echo "    outage: $served reads, all 200 from the database, slowest ${slowest} s (bound $request_bound s);" \
    "circuit open after ${seen_open} s"
echo "    recovery: circuit closed ${closed_after} s after Redis came back (bound $close_bound s)"
echo "    shutdown: exit status 0, ${stopped_after} s after SIGTERM (bound $shutdown_bound s)"
echo "    /health: 200 with \"degraded\":true by default, 503 with --health-503-when-degraded"
echo "example: every check passed"
