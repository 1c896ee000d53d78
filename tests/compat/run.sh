#!/usr/bin/env bash
# Compatibility suite: the documented examples run with the official HoneyHive
# Python SDK against `hive serve`, then read back through the export API.
#
# Needs: a built server (target/debug/hive, or $HIVE_BIN) and a Python with
# tests/compat/requirements.txt installed ($PYTHON, default /work/venv/bin/python).
#
#   tests/compat/run.sh [--clickhouse | --chdb] [pytest arguments]
#
# --clickhouse: every `hive serve` keeps its data in ClickHouse 18.16
# (Debian's clickhouse-server, started on 127.0.0.1 for the run; a database
# per test). --chdb: the same on ClickHouse 26.9 (chdb-core, in process,
# behind tests/clickhouse_http/chdb_server.py).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO_ROOT"

export HIVE_BIN="${HIVE_BIN:-$REPO_ROOT/target/debug/hive}"
PYTHON="${PYTHON:-/work/venv/bin/python}"

if [ ! -x "$HIVE_BIN" ]; then
    echo "note: $HIVE_BIN does not exist (yet); the suite waits for it (build with: cargo build -p hive)" >&2
fi

case "${1:-}" in
  --clickhouse) shift; source tests/lib/clickhouse.sh; start_clickhouse ;;
  --chdb) shift; source tests/lib/clickhouse.sh; start_chdb ;;
esac

# Not exec: the ClickHouse server of the run stops when this shell exits.
"$PYTHON" -m pytest tests/compat -q -p no:cacheprovider "$@"
