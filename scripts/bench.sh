#!/usr/bin/env bash
# Benchmarks (release build; not part of CI). Starts a private ClickHouse server, then runs, one
# after the other so they do not compete for the two cores:
#   load     the end-to-end load benchmark: native NDJSON and Sentry envelopes, on ClickHouse and
#            on the embedded engine (events/s, request→visible p50/p99, peak RSS)
#   embedded the embedded engine at EMBEDDED_BENCH_EVENTS (default 1M; set 10000000 for 10M)
#   issues   issue list / detail latency through GraphQL on both engines
#            (ISSUES_BENCH_EVENTS, default 1M; ISSUES_BENCH_ISSUES, default 100k)
#   alerts   1,000 alert rules: one evaluation round, and ingest with/without the scheduler,
#            on both engines (ALERTS_BENCH_EVENTS, default 1M; ALERTS_BENCH_DISTINCT_SQL=1: no
#            two SQL rules share a query; ALERTS_BENCH_RATE=20000: ingest offered at a fixed
#            rate, CPU per event compared, instead of as fast as it goes)
#   alerts-load  the server at capacity (load bench, native, 180 s) with and without 1,000 alert
#            rules over a 10M-event preload (ALERTS_LOAD_PRELOAD, ALERTS_LOAD_SECONDS), embedded engine, in the order
#            without, with, with, without; the preload is prepared once and copied for each run
#   alerts-load-clickhouse  the same on ClickHouse, over one preloaded database
#   spans    OTLP span ingest and the service map on both engines (SPANS_MAP_SPANS, default 1M)
# `bash scripts/bench.sh [load|embedded|issues|alerts|spans|grouping ...]` runs a subset
# (default: load, embedded and issues). Output: one log per run under
# $STACKHOUSE_BENCH_WORKDIR (default .ci/work/bench), and on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stackhouse-target}"
work="${STACKHOUSE_BENCH_WORKDIR:-$PWD/.ci/work}/bench"
mkdir -p "$work"
dir="$work/clickhouse"
trap 'scripts/clickhouse.sh stop "$dir"' EXIT
url=$(scripts/clickhouse.sh start "$dir")

which=("$@")
[ ${#which[@]} -gt 0 ] || which=(load embedded issues)
cargo bench --no-run --bench load --bench embedded --bench issues --bench alerts --bench spans

run() { # name, then env assignments, then the bench
    local name=$1; shift
    echo "== $name"
    env "$@" 2>&1 | tee "$work/$name.log"
}
for part in "${which[@]}"; do
    case "$part" in
    load)
        for mode in native envelope; do
            run "load-clickhouse-$mode" STACKHOUSE_BENCH_CLICKHOUSE_URL="$url" STACKHOUSE_BENCH_CLICKHOUSE_PID="$(cat "$dir/pid")" LOAD_ENGINE=clickhouse LOAD_MODE=$mode cargo bench --bench load
            run "load-embedded-$mode" LOAD_ENGINE=embedded LOAD_MODE=$mode cargo bench --bench load
        done ;;
    embedded)
        run embedded cargo bench --bench embedded ;;
    issues)
        run issues-embedded cargo bench --bench issues
        run issues-clickhouse STACKHOUSE_BENCH_CLICKHOUSE_URL="$url" cargo bench --bench issues ;;
    alerts)
        run alerts-embedded cargo bench --bench alerts
        run alerts-clickhouse STACKHOUSE_BENCH_CLICKHOUSE_URL="$url" STACKHOUSE_BENCH_CLICKHOUSE_PID="$(cat "$dir/pid")" cargo bench --bench alerts ;;
    alerts-load)
        prepared="$work/alerts-load-data" copy="$work/alerts-load-run"
        rm -rf "$prepared"
        run alerts-load-prepare LOAD_ENGINE=embedded LOAD_DATA_DIR="$prepared" LOAD_PRELOAD="${ALERTS_LOAD_PRELOAD:-10000000}" LOAD_SECONDS=0 cargo bench --bench load
        n=0
        for rules in 0 1000 1000 0; do
            n=$((n + 1))
            rm -rf "$copy" && cp -a "$prepared" "$copy"
            run "alerts-load-$n-rules-$rules" LOAD_ENGINE=embedded LOAD_DATA_DIR="$copy" LOAD_RULES=$rules LOAD_SECONDS="${ALERTS_LOAD_SECONDS:-180}" cargo bench --bench load
        done
        rm -rf "$prepared" "$copy" ;;
    alerts-load-clickhouse)
        # One database (ClickHouse cannot be copied like a directory): preloaded once, then the
        # rules are added for the "with" runs and removed (TRUNCATE alert_rules) for the last.
        # Each run adds its events, so later runs meet a larger database: compare neighbours.
        database="stackhouse_alerts_load_$$"
        ch=(STACKHOUSE_BENCH_CLICKHOUSE_URL="$url" STACKHOUSE_BENCH_CLICKHOUSE_PID="$(cat "$dir/pid")" LOAD_ENGINE=clickhouse STACKHOUSE_BENCH_DATABASE="$database")
        run alerts-load-clickhouse-prepare "${ch[@]}" LOAD_PRELOAD="${ALERTS_LOAD_PRELOAD:-10000000}" LOAD_SECONDS=0 cargo bench --bench load
        for n in 1 2 3 4; do
            case $n in # rules added before the run (LOAD_RULES), rules the run has
            1) add=0 have=0 ;;
            2) add=1000 have=1000 ;;
            3) add=0 have=1000 ;;
            4) add=0 have=0; curl -sf "$url" --data-binary "TRUNCATE TABLE $database.alert_rules" ;;
            esac
            run "alerts-load-clickhouse-$n-rules-$have" "${ch[@]}" LOAD_RULES=$add LOAD_SECONDS="${ALERTS_LOAD_SECONDS:-180}" cargo bench --bench load
        done
        curl -sf "$url" --data-binary "DROP DATABASE $database" ;;
    spans)
        run spans-embedded cargo bench --bench spans
        run spans-clickhouse STACKHOUSE_BENCH_CLICKHOUSE_URL="$url" cargo bench --bench spans ;;
    grouping)
        run grouping cargo bench -p stackhouse-grouping -p stackhouse-protocol -- --warm-up-time 1 --measurement-time 3 ;;
    *) echo "unknown benchmark: $part (load, embedded, issues, alerts, alerts-load, alerts-load-clickhouse, spans, grouping)" >&2; exit 2 ;;
    esac
done
