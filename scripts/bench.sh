#!/usr/bin/env bash
# Benchmarks the observatory against the goals of the performance issue (see BENCHMARKS.md):
# builds the release `observatory` and the `sse-bench` harness, then for each database (SQLite
# in a temporary folder; PostgreSQL in a fresh database on TEST_POSTGRES_URL's server, dropped
# after) generates synthetic data, waits until it is written to disk (see `settle`), starts
# `observatory serve` on free loopback ports, runs the
# harness against it, stops it with SIGTERM, and prints the tables.
#
#   scripts/bench.sh                   full sizes: 100,000 initiatives, 1,000,000 observations,
#                                      10,000 legal texts; 10 s per measure
#   scripts/bench.sh --smoke           small sizes and short measures (what CI runs; it checks
#                                      that everything runs and prints, not the timings)
#   scripts/bench.sh --database sqlite|postgres|both   (default both)
#   scripts/bench.sh -- --connections 8 --duration 5   extra flags for sse-bench run
#   scripts/bench.sh --debug-build     debug binaries, for working on the harness (figures mean
#                                      nothing then)
#
# Needs: cargo; for PostgreSQL, psql and a server TEST_POSTGRES_URL names (default
# postgres://postgres@127.0.0.1:5432/test) on which it may create databases.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=full
databases=both
profile=release
harness_extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) mode=smoke ;;
        --database) databases="$2"; shift ;;
        --debug-build) profile=debug ;;
        --) shift; harness_extra=("$@"); break ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

if [ "$mode" = smoke ]; then
    initiatives=2000 observations=20000 legal_texts=300
    harness_sizes=(--duration 1 --warmup 0.3 --batch-calls 2 --aggregate-runs 2 --call-timeout 60 --export-timeout 60)
else
    initiatives=100000 observations=1000000 legal_texts=10000
    harness_sizes=()
fi
seed=1
# Writes need a key: the server under test gets this admin key, and the harness writes with it.
export OBSERVATORY_ADMIN_KEY="${OBSERVATORY_ADMIN_KEY:-bench-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}"

echo "== build ($profile): observatory, sse-bench"
if [ "$profile" = release ]; then
    cargo build --release --locked -p observatory -p sse-bench
else
    cargo build --locked -p observatory -p sse-bench
fi
bin="$PWD/target/$profile"

work="$(mktemp -d "${TMPDIR:-/tmp}/sse-bench.XXXXXX")"
tables="$work/tables.md"
server_pid=""
pg_admin_url=""
pg_database=""

cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ -n "$pg_database" ]; then
        psql "$pg_admin_url" -q -v ON_ERROR_STOP=1 \
            -c "DROP DATABASE IF EXISTS \"$pg_database\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Lets the generated data reach the disk before anything is measured, so that no measure pays
# for writing back the load: the kernel's dirty pages (`sync`) and, on PostgreSQL, the
# checkpoint the load started (`CHECKPOINT`; otherwise it is spread over the next minutes and
# ran through every PostgreSQL measure). A role that may not checkpoint only gets a warning.
settle() {
    local url="$1" started=$SECONDS
    if [[ "$url" == postgres* ]] && ! psql "$url" -q -v ON_ERROR_STOP=1 -c CHECKPOINT >/dev/null; then
        echo "bench.sh: CHECKPOINT refused; measuring while PostgreSQL writes the load back" >&2
    fi
    sync
    echo "settled (load written to disk) in $((SECONDS - started)) s"
}

# Runs one database: generate, settle, serve, measure, stop.
bench_one() {
    local label="$1" url="$2" log="$work/$1"
    mkdir -p "$log"
    echo
    echo "== $label: observatory generate --initiatives $initiatives --observations $observations --legal-texts $legal_texts --seed $seed"
    local started=$SECONDS
    if ! DATABASE_URL="$url" OBSERVATORY_LOG_FILTER=warn "$bin/observatory" generate \
        --initiatives "$initiatives" --observations "$observations" --legal-texts "$legal_texts" \
        --seed "$seed" 2>"$log/generate.log"; then
        tail -n 30 "$log/generate.log" >&2
        echo "bench.sh: generate failed on $label" >&2
        return 1
    fi
    echo "generated in $((SECONDS - started)) s"
    settle "$url"

    local ports grpc_port http_port metrics_port
    ports="$("$bin/sse-bench" free-ports --count 3)"
    grpc_port="$(echo "$ports" | sed -n 1p)"
    http_port="$(echo "$ports" | sed -n 2p)"
    metrics_port="$(echo "$ports" | sed -n 3p)"
    echo "== $label: observatory serve on 127.0.0.1:$grpc_port (gRPC) and 127.0.0.1:$http_port (HTTP)"
    # The load is one client at many calls a second: the rate limits are lifted for it, as a
    # deployment would for a trusted bulk loader's key.
    DATABASE_URL="$url" OBSERVATORY_GRPC_ADDR="127.0.0.1:$grpc_port" OBSERVATORY_HTTP_ADDR="127.0.0.1:$http_port" \
        OBSERVATORY_RATE_LIMIT_PER_SECOND=1000000000 OBSERVATORY_RATE_LIMIT_BURST=1000000000 \
        OBSERVATORY_METRICS_ADDR="127.0.0.1:$metrics_port" \
        "$bin/observatory" serve >"$log/serve.log" 2>&1 &
    server_pid=$!

    echo "== $label: sse-bench"
    local status=0
    "$bin/sse-bench" run \
        --label "$label" \
        --grpc-url "http://127.0.0.1:$grpc_port" --http-url "http://127.0.0.1:$http_port" \
        --database-url "$url" --server-pid "$server_pid" \
        --observatory-bin "$bin/observatory" --startup-log "$log/startup.log" \
        --initiatives "$initiatives" --observations "$observations" --legal-texts "$legal_texts" --seed "$seed" \
        --table-out "$tables" ${harness_sizes[@]+"${harness_sizes[@]}"} ${harness_extra[@]+"${harness_extra[@]}"} \
        || status=$?

    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
    if [ "$status" -ne 0 ]; then
        echo "bench.sh: sse-bench failed on $label; the server's log ends:" >&2
        tail -n 30 "$log/serve.log" >&2
        return "$status"
    fi
}

if [ "$databases" = sqlite ] || [ "$databases" = both ]; then
    bench_one SQLite "sqlite://$work/sqlite/observatory.sqlite?mode=rwc"
fi

if [ "$databases" = postgres ] || [ "$databases" = both ]; then
    pg_admin_url="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
    pg_database="sse_bench_$$_$(date +%s)"
    psql "$pg_admin_url" -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$pg_database\"" >/dev/null
    # The same server and credentials, the fresh database (any ?query is kept).
    base="${pg_admin_url%%\?*}"
    query=""
    [ "$base" != "$pg_admin_url" ] && query="?${pg_admin_url#*\?}"
    bench_one PostgreSQL "${base%/*}/$pg_database$query"
    psql "$pg_admin_url" -q -v ON_ERROR_STOP=1 -c "DROP DATABASE \"$pg_database\" WITH (FORCE)" >/dev/null
    pg_database=""
fi

echo
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -h | awk '/^Mem:/ {print $2}') memory"
echo
cat "$tables"
