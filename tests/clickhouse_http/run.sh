#!/usr/bin/env bash
# The ClickHouse store's conformance suite against the current ClickHouse
# engine (26.9, the chdb-core wheel) behind tests/clickhouse_http/chdb_server.py
# on 127.0.0.1 (Debian's 18.16 server is tested by the Rust tests themselves).
# Installs chdb-core into .venv-chdb on first use. PYTHON names the Python
# 3 to make the venv with.
#
# An engine runs one statement at a time (see chdb_server.py), so the suite
# uses CHDB_ENGINES of them, each in its own process and directory, and runs
# as many test cases at once; each case's databases go to one of them in
# turn. An engine was busy about 60 % of the suite's time, so one more than
# cores by default: 366 s with 3 on two cores, against 462 s with 2 and
# 373 s with 4 (BENCHMARKS.md, 2026-12-07 20:05).
set -euo pipefail
cd "$(dirname "$0")/../.."

VENV=.venv-chdb
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import chdb" 2>/dev/null; then
  "${PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r tests/clickhouse_http/requirements.txt
fi

engines="${CHDB_ENGINES:-$(($(nproc) + 1))}"
data=$(mktemp -d)
servers=()
stop() {
  local s
  for s in "${servers[@]}"; do kill "$s" 2>/dev/null || true; done
  for s in "${servers[@]}"; do wait "$s" 2>/dev/null || true; done
  rm -rf "$data"
}
trap stop EXIT
for i in $(seq 1 "$engines"); do
  "$VENV/bin/python" tests/clickhouse_http/chdb_server.py --path "$data/engine$i" --port 0 \
    --user hive --password hive-test >"$data/server$i.log" 2>&1 &
  servers+=($!)
done
urls=()
for i in $(seq 1 "$engines"); do
  log="$data/server$i.log"
  url=""
  for _ in $(seq 1 200); do
    url=$(sed -n 's|^listening on http://||p' "$log")
    [ -n "$url" ] && break
    kill -0 "${servers[$((i - 1))]}" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.1
  done
  [ -n "$url" ] || { echo "chdb_server.py did not start"; cat "$log"; exit 1; }
  urls+=("http://hive:hive-test@$url")
done
sed -n 's/^engine: //p' "$data/server1.log"
echo "$engines engines"

# `--workspace`, not `-p hive-store`: the workspace's features, so the test
# binary the Rust tests built is reused (`-p` rebuilt its dependencies, about
# a minute in CI).
HIVE_E2E_REQUIRED=1 HIVE_CLICKHOUSE_TEST_URL="${urls[*]}" \
  RUST_TEST_THREADS="${RUST_TEST_THREADS:-$engines}" \
  cargo test --workspace --test clickhouse_conformance
