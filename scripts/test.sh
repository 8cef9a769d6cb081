#!/usr/bin/env bash
# The whole test suite, from a fresh machine: starts a private ClickHouse server (installing
# Debian's clickhouse-server if missing), installs the real Sentry SDKs the end-to-end tests run
# (Python sentry-sdk into the test venv, @sentry/node with npm ci), Debian's chromium and the
# dashboard's npm packages, checks formatting and lints, runs every test against it, replays
# every statement the engine sent on a current ClickHouse (chDB), runs the dashboard's
# end-to-end tests in chromium on both engines (embedded, then that ClickHouse), and stops the
# server again. All test traffic stays on 127.0.0.1.
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

echo "== chDB (current ClickHouse, for the compatibility check) and the Python Sentry SDK"
venv="${STACKHOUSE_VENV:-$HOME/.cache/stackhouse-venv}"
export STACKHOUSE_VENV="$venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import chdb' 2>/dev/null || "$venv/bin/pip" install -q chdb-core
# The pinned sentry-sdk (tests/sentry_sdks.rs) and OpenTelemetry SDK + OTLP/HTTP exporter
# (tests/traces.rs); pip is skipped when both pins are already met.
sdk_pin=$(grep -E '^sentry-sdk==' tests/sdk/python/requirements.txt | cut -d= -f3)
otel_pin=$(grep -E '^opentelemetry-sdk==' tests/sdk/python/requirements.txt | cut -d= -f3)
installed=$("$venv/bin/python" -c 'import sentry_sdk; print(sentry_sdk.VERSION)' 2>/dev/null || true)
otel_installed=$("$venv/bin/python" -c 'import importlib.metadata as m, opentelemetry.exporter.otlp.proto.http; print(m.version("opentelemetry-sdk"))' 2>/dev/null || true)
{ [ "$installed" = "$sdk_pin" ] && [ "$otel_installed" = "$otel_pin" ]; } || "$venv/bin/pip" install -q -r tests/sdk/python/requirements.txt

echo "== @sentry/node (npm ci, skipped when node_modules matches the lock file)"
node_dir=tests/sdk/node
command -v npm >/dev/null || { echo "node and npm (Node.js >= 20.19) are needed for @sentry/node" >&2; exit 1; }
if ! cmp -s "$node_dir/package-lock.json" "$node_dir/node_modules/.package-lock.json.installed"; then
    npm ci --prefix "$node_dir" --no-audit --no-fund --loglevel=error
    cp "$node_dir/package-lock.json" "$node_dir/node_modules/.package-lock.json.installed"
fi

echo "== chromium (Debian's, for the dashboard's end-to-end tests) and the dashboard's npm packages"
command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }
bash scripts/build-dashboard.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "== cargo test (all crates, unit and integration; ClickHouse statements recorded)"
export STACKHOUSE_RECORD_QUERIES="$workdir/clickhouse-queries.sql"
rm -f "$STACKHOUSE_RECORD_QUERIES"
cargo test --workspace --no-fail-fast 2>&1 | tee "$workdir/cargo-test.log"
unset STACKHOUSE_RECORD_QUERIES

echo "== chDB compatibility: every statement the ClickHouse engine sent, on a current ClickHouse"
"$venv/bin/python" scripts/chdb_check.py sql "$workdir/clickhouse-queries.sql"

echo "== dashboard: every GraphQL document against graphql/schema.graphql"
node dashboard/e2e/check-queries.mjs 2>&1 | tee "$workdir/dashboard.log"

# Both engines, each printing its own "e2e: N passed, N failed, N skipped (ENGINE engine)" line
# into dashboard.log; the ClickHouse run gets a fresh database on the server started above. The
# second run goes on when the first fails, so the closing line counts both.
echo "== dashboard: end-to-end in chromium against a server filled by the Python sentry-sdk (embedded engine)"
e2e_status=0
bash scripts/e2e.sh 2>&1 | tee -a "$workdir/dashboard.log" || e2e_status=1
echo "== dashboard: end-to-end in chromium against a server filled by the Python sentry-sdk (ClickHouse)"
E2E_ENGINE=clickhouse bash scripts/e2e.sh 2>&1 | tee -a "$workdir/dashboard.log" || e2e_status=1

# One closing line for the whole suite.
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     /^(e2e|queries): / { passed += $2; failed += $4; if ($6 != "") ignored += $6 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' \
    "$workdir/cargo-test.log" "$workdir/dashboard.log"
exit "$e2e_status"
