#!/usr/bin/env bash
# Benchmarks (release build; not part of CI): the end-to-end load benchmark against a private
# ClickHouse server, then the criterion micro-benchmarks of the pure crates.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stackhouse-target}"
dir="${STACKHOUSE_BENCH_WORKDIR:-$PWD/.ci/work}/bench-clickhouse"
trap 'scripts/clickhouse.sh stop "$dir"' EXIT
STACKHOUSE_BENCH_CLICKHOUSE_URL=$(scripts/clickhouse.sh start "$dir")
export STACKHOUSE_BENCH_CLICKHOUSE_URL
cargo bench --bench load
if [ "${1:-}" = "--all" ]; then
    cargo bench -p stackhouse-grouping -p stackhouse-protocol -- --warm-up-time 1 --measurement-time 3
fi
