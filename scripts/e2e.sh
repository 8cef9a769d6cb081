#!/usr/bin/env bash
# The dashboard's end-to-end tests: builds the dashboard and the (debug) binary, starts
# `stackhouse serve` on a fresh, empty engine, fills it with the real Python sentry-sdk
# (tests/sdk/python/send_errors.py), then drives Debian's chromium with playwright-core through
# dashboard/e2e/run.mjs (one line per scenario, then "e2e: N passed, N failed, N skipped (ENGINE)").
# Traffic stays on 127.0.0.1.
#
#   bash scripts/e2e.sh                                  # the embedded engine, in a temporary directory
#   E2E_ENGINE=clickhouse STACKHOUSE_TEST_CLICKHOUSE_URL=http://127.0.0.1:PORT bash scripts/e2e.sh
#                                                        # ClickHouse, in a fresh database dropped afterwards
#
# Screenshots go to dashboard/e2e/out/ (out/clickhouse/ for ClickHouse); with
# UPDATE_SCREENSHOTS=1 the embedded run also replaces dashboard/screenshots/ (the ClickHouse run
# never does, so the committed ones come from one engine).
#
# Needs: chromium (`apt-get install -y chromium`), node/npm, the test venv with sentry-sdk
# (scripts/test.sh installs it; STACKHOUSE_VENV, default ~/.cache/stackhouse-venv); for
# ClickHouse a running server (scripts/clickhouse.sh start DIR prints its URL).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stackhouse-target}"
venv="${STACKHOUSE_VENV:-$HOME/.cache/stackhouse-venv}"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] || { echo "e2e needs Debian's chromium: apt-get install -y chromium" >&2; exit 1; }
"$venv/bin/python" -c 'import sentry_sdk' 2>/dev/null || {
    echo "e2e needs sentry-sdk in $venv: $venv/bin/pip install -r tests/sdk/python/requirements.txt" >&2
    exit 1
}

engine="${E2E_ENGINE:-embedded}"
case "$engine" in
    embedded) ;;
    clickhouse)
        [ -n "${STACKHOUSE_TEST_CLICKHOUSE_URL:-}" ] || {
            echo "E2E_ENGINE=clickhouse needs STACKHOUSE_TEST_CLICKHOUSE_URL (scripts/clickhouse.sh start DIR prints one)" >&2
            exit 1
        }
        curl -fsS "$STACKHOUSE_TEST_CLICKHOUSE_URL/?query=SELECT%201" >/dev/null || {
            echo "no ClickHouse answers at $STACKHOUSE_TEST_CLICKHOUSE_URL" >&2
            exit 1
        }
        ;;
    *) echo "E2E_ENGINE is embedded or clickhouse, not $engine" >&2; exit 1 ;;
esac

echo "== building the dashboard and the binary"
bash scripts/build-dashboard.sh
# Built as `cargo test --workspace` builds it, so that after the test suite nothing compiles
# again: `cargo build` resolves features without the dev-dependencies and compiles a second
# DataFusion (about 13 minutes of a cold CI run here).
cargo test --workspace --no-run --quiet
bin="$CARGO_TARGET_DIR/debug/stackhouse"

work=$(mktemp -d /tmp/stackhouse-e2e.XXXXXX)
server_pid=""
database=""
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    if [ -n "$database" ] && [ "${KEEP_E2E_WORK:-}" != 1 ]; then
        curl -fsS "$STACKHOUSE_TEST_CLICKHOUSE_URL/" --data-binary "DROP DATABASE IF EXISTS $database" >/dev/null || true
    fi
    if [ "${KEEP_E2E_WORK:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
listen="127.0.0.1:$port"
export STACKHOUSE_DATA_DIR="$work/data"
out_dir="$PWD/dashboard/e2e/out"
if [ "$engine" = clickhouse ]; then
    # Every command below (project, token, serve) reads these. A database of its own per run, like
    # the cargo tests' stackhouse_test_* ones, so runs never see each other's (or a test's) rows.
    database="stackhouse_e2e_$(python3 -c 'import uuid; print(uuid.uuid4().hex[:8])')"
    export STACKHOUSE_CLICKHOUSE_URL="$STACKHOUSE_TEST_CLICKHOUSE_URL" STACKHOUSE_CLICKHOUSE_DATABASE="$database"
    out_dir="$out_dir/clickhouse"
    unset UPDATE_SCREENSHOTS
    echo "== ClickHouse $(curl -fsS "$STACKHOUSE_CLICKHOUSE_URL/?query=SELECT%20version()") at $STACKHOUSE_CLICKHOUSE_URL, database $database"
else
    unset STACKHOUSE_CLICKHOUSE_URL STACKHOUSE_CLICKHOUSE_DATABASE
fi

# Projects (and tokens, when this server has them) are created while the server is stopped.
dsn=$("$bin" project create e2e-shop --listen "$listen")
token=""
if "$bin" token --help >/dev/null 2>&1; then
    token=$("$bin" token create --name e2e | tail -n 1)
fi
dev_flag=()
if "$bin" serve --help 2>/dev/null | grep -q -- '--dev'; then dev_flag=(--dev); fi

echo "== stackhouse serve on $listen, $engine engine (${dev_flag[*]:-no dev mode}${token:+, with a token})"
"$bin" serve --listen "$listen" "${dev_flag[@]}" > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
    curl -fsS "http://$listen/health" >/dev/null 2>&1 && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.1
done

echo "== the Python sentry-sdk sends its errors"
send_errors() {
    SENTRY_DSN="$dsn" STACKHOUSE_TRACE_ID=$(python3 -c 'import uuid; print(uuid.uuid4().hex)') \
        "$venv/bin/python" tests/sdk/python/send_errors.py > "$work/sent.jsonl"
}
send_errors
echo "sent $(wc -l < "$work/sent.jsonl") events"

# The runner sends again (for the regression scenario) by running this script with --send.
cat > "$work/send-again.sh" <<SEND
#!/usr/bin/env bash
cd "$PWD"
SENTRY_DSN="$dsn" STACKHOUSE_TRACE_ID=\$(python3 -c 'import uuid; print(uuid.uuid4().hex)') "$venv/bin/python" tests/sdk/python/send_errors.py > /dev/null
SEND

echo "== dashboard scenarios in chromium"
status=0
E2E_ENGINE="$engine" E2E_OUT_DIR="$out_dir" STACKHOUSE_URL="http://$listen" E2E_DSN="$dsn" E2E_TOKEN="$token" E2E_SEND_AGAIN="bash $work/send-again.sh" \
    node dashboard/e2e/run.mjs || status=$?
if [ "$status" != 0 ]; then
    echo "-- server log (last 40 lines)"
    tail -n 40 "$work/server.log"
fi
exit "$status"
