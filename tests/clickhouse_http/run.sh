#!/usr/bin/env bash
# The ClickHouse store's conformance suite against the current ClickHouse
# engine (26.9, the chdb-core wheel) behind tests/clickhouse_http/chdb_server.py
# on 127.0.0.1 (Debian's 18.16 server is tested by the Rust tests themselves).
# Installs chdb-core into .venv-chdb on first use. PYTHON names the Python
# 3 to make the venv with.
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=.venv-chdb
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import chdb" 2>/dev/null; then
  "${PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/clickhouse_http/requirements.txt
fi

data=$(mktemp -d)
log="$data/server.log"
"$VENV/bin/python" tests/clickhouse_http/chdb_server.py --path "$data/engine" --port 0 \
  --user hive --password hive-test >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
url=""
for _ in $(seq 1 200); do
  url=$(sed -n 's|^listening on http://||p' "$log")
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "chdb_server.py did not start"; cat "$log"; exit 1; }
sed -n 's/^engine: //p' "$log"

HIVE_E2E_REQUIRED=1 HIVE_CLICKHOUSE_TEST_URL="http://hive:hive-test@$url" \
  cargo test -p hive-store --test clickhouse_conformance
