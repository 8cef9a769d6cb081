"""Compatibility check on a current ClickHouse (chDB, in-process): applies every migration in
sql/ and replays every statement the ClickHouse engine sent during the test suite (recorded
with STACKHOUSE_RECORD_QUERIES), so nothing Stackhouse sends works on 18.16 only.

usage: python3 scripts/chdb_check.py SQL_DIR RECORDED_QUERIES_FILE
"""
import glob
import os
import re
import sys
import tempfile

from chdb import session as chs


def statements(text):
    code = "\n".join(l for l in text.splitlines() if not l.strip().startswith("--"))
    for statement in re.split(r";\s*\n", code):
        statement = statement.strip().rstrip(";").strip()
        if statement:
            yield statement


def main():
    sql_dir, recorded_path = sys.argv[1], sys.argv[2]
    session = chs.Session(tempfile.mkdtemp(prefix="stackhouse-chdb-"))
    version = session.query("SELECT version()", "CSV").bytes().decode().strip().strip('"')
    session.query("CREATE DATABASE IF NOT EXISTS stackhouse")
    migrations = sorted(glob.glob(os.path.join(sql_dir, "*.sql")))
    applied = 0
    session.query("USE stackhouse")
    # The engine sends its own statements with this setting (MAX_QUERY_SIZE in
    # src/engine/clickhouse/mod.rs): sets of 100,000 issue ids are longer than the default.
    session.query("SET max_query_size = 67108864")
    migration_statements = set()
    for path in migrations:
        for statement in statements(open(path).read()):
            session.query(statement)
            migration_statements.add(" ".join(statement.split()))
            applied += 1
    seen = set()
    failures = []
    for line in open(recorded_path):
        statement = line.strip()
        if not statement or statement in seen:
            continue
        seen.add(statement)
        if statement.startswith("CREATE DATABASE") or "schema_migrations" in statement:
            continue
        if " ".join(statement.split()) in migration_statements:
            continue  # a migration the engine ran: already applied above (ALTERs are not idempotent)
        if statement.startswith("INSERT INTO"):
            # RowBinary inserts: check the column list against the table instead.
            match = re.match(r"INSERT INTO `?(\w+)`? \((.*)\)$", statement)
            if not match:
                failures.append((statement, "unrecognised insert"))
                continue
            table, columns = match.groups()
            statement = f"SELECT {columns} FROM {table} LIMIT 0"
        try:
            session.query(statement, "TabSeparated")
        except Exception as error:  # noqa: BLE001 - report every failure
            failures.append((statement, str(error).splitlines()[0][:400]))
    if failures:
        for statement, error in failures:
            print(f"FAILED on ClickHouse {version}: {statement[:300]}\n    {error}", file=sys.stderr)
        sys.exit(1)
    print(f"chDB compatibility: {applied} schema statements and {len(seen)} distinct recorded "
          f"statements run on ClickHouse {version}")


if __name__ == "__main__":
    main()
