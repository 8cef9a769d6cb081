#!/usr/bin/env bash
# A private ClickHouse server for tests and benchmarks: Debian's clickhouse-server (18.16),
# installed if missing, started on free local ports with its own data directory (never the
# system service).
#
#   scripts/clickhouse.sh start DIR   # prints the HTTP URL on stdout once it answers
#   scripts/clickhouse.sh stop DIR
set -euo pipefail

command=${1:?usage: clickhouse.sh start|stop DIR}
dir=$(mkdir -p "${2:?usage: clickhouse.sh start|stop DIR}" && cd "$2" && pwd)

install_if_missing() {
    if [ -x /usr/sbin/clickhouse-server ] || command -v clickhouse-server >/dev/null 2>&1; then
        return
    fi
    echo "installing Debian's clickhouse-server..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq clickhouse-server clickhouse-client >&2
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start() {
    install_if_missing
    if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        cat "$dir/url"
        return
    fi
    mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas" "$dir/log"
    local http_port tcp_port interserver_port
    http_port=$(free_port)
    tcp_port=$(free_port)
    interserver_port=$(free_port)
    # The default profile logs every query to system.query_log, so a test can check how many
    # rows a query read (tests/clickhouse_foundation.rs: windows on `received` prune parts).
    python3 - /etc/clickhouse-server/users.xml "$dir/users.xml" <<'PY'
import sys
xml = open(sys.argv[1]).read()
profiles = xml.index('<profiles>')
default = xml.index('<default>', profiles) + len('<default>')
open(sys.argv[2], 'w').write(xml[:default] + '\n            <log_queries>1</log_queries>' + xml[default:])
PY
    python3 - "$dir" "$http_port" "$tcp_port" "$interserver_port" <<'PY'
import re, sys
d, http, tcp, inter = sys.argv[1:]
xml = open('/etc/clickhouse-server/config.xml').read()
subs = {
    'log': f'{d}/log/clickhouse-server.log',
    'errorlog': f'{d}/log/clickhouse-server.err.log',
    'http_port': http,
    'tcp_port': tcp,
    'interserver_http_port': inter,
    'path': f'{d}/data/',
    'tmp_path': f'{d}/tmp/',
    'user_files_path': f'{d}/user_files/',
    'format_schema_path': f'{d}/format_schemas/',
    'users_config': f'{d}/users.xml',
}
for tag, value in subs.items():
    xml = re.sub(rf'<{tag}>[^<]*</{tag}>', f'<{tag}>{value}</{tag}>', xml, count=1)
# Loopback IPv4 only; no HTTPS port (no certificates here); UTC so hourly buckets are UTC hours.
xml = re.sub(r'\s*<listen_host>::1</listen_host>', '', xml)
xml = re.sub(r'\s*<https_port>[^<]*</https_port>', '', xml)
xml = re.sub(r'\s*<tcp_port_secure>[^<]*</tcp_port_secure>', '', xml)
xml = xml.replace('</yandex>', '    <timezone>UTC</timezone>\n    <mark_cache_size>268435456</mark_cache_size>\n</yandex>', 1)
xml = re.sub(r'<mark_cache_size>5368709120</mark_cache_size>', '', xml)
open(f'{d}/config.xml', 'w').write(xml)
PY
    local server=/usr/sbin/clickhouse-server
    [ -x "$server" ] || server=$(command -v clickhouse-server)
    nohup "$server" --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 &
    echo $! >"$dir/pid"
    local url="http://127.0.0.1:$http_port"
    for _ in $(seq 1 120); do
        if curl -fsS "$url/?query=SELECT%201" >/dev/null 2>&1; then
            echo "$url" >"$dir/url"
            echo "$url"
            return
        fi
        if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
            echo "clickhouse-server exited; its log:" >&2
            tail -30 "$dir/log/stdout.log" "$dir/log/clickhouse-server.err.log" >&2 || true
            exit 1
        fi
        sleep 0.5
    done
    echo "clickhouse-server did not answer on $url within 60 s" >&2
    exit 1
}

stop() {
    if [ -f "$dir/pid" ]; then
        local pid
        pid=$(cat "$dir/pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$dir/pid" "$dir/url"
    fi
}

case "$command" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: clickhouse.sh start|stop DIR" >&2; exit 2 ;;
esac
