#!/usr/bin/env bash
# The whole test suite, from a fresh machine: starts a private ClickHouse server (installing
# Debian's clickhouse-server if missing), checks formatting and lints, runs every test against
# it, replays every statement the engine sent on a current ClickHouse (chDB), and stops the
# server again.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stackhouse-target}"
workdir="${STACKHOUSE_TEST_WORKDIR:-$PWD/.ci/work}"
mkdir -p "$workdir"
clickhouse_dir="$workdir/clickhouse"

cleanup() { scripts/clickhouse.sh stop "$clickhouse_dir" || true; }
trap cleanup EXIT

echo "== starting ClickHouse"
STACKHOUSE_TEST_CLICKHOUSE_URL=$(scripts/clickhouse.sh start "$clickhouse_dir")
export STACKHOUSE_TEST_CLICKHOUSE_URL
echo "ClickHouse $(curl -fsS "$STACKHOUSE_TEST_CLICKHOUSE_URL/?query=SELECT%20version()") at $STACKHOUSE_TEST_CLICKHOUSE_URL"

echo "== chDB (current ClickHouse, for the compatibility check)"
venv="${STACKHOUSE_VENV:-$HOME/.cache/stackhouse-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import chdb' 2>/dev/null || "$venv/bin/pip" install -q chdb-core

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "== cargo test (all crates, unit and integration; ClickHouse statements recorded)"
export STACKHOUSE_RECORD_QUERIES="$workdir/clickhouse-queries.sql"
rm -f "$STACKHOUSE_RECORD_QUERIES"
cargo test --workspace 2>&1 | tee "$workdir/cargo-test.log"
unset STACKHOUSE_RECORD_QUERIES

echo "== chDB compatibility: every statement the ClickHouse engine sent, on a current ClickHouse"
"$venv/bin/python" scripts/chdb_check.py sql "$workdir/clickhouse-queries.sql"

# One closing line for the whole suite.
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' \
    "$workdir/cargo-test.log"
