#!/usr/bin/env bash
# Browser tests: the dashboard in headless Chromium (Debian's chromium,
# driven by playwright-core), over data sent by the official Python SDK.
#
# Needs: a built server (target/debug/hive, or $HIVE_BIN), /usr/bin/chromium
# (or $CHROMIUM), Node 20, and a Python with the compatibility suite's
# requirements ($PYTHON). Screenshots land in tests/browser/artifacts/.
#
#   tests/browser/run.sh [--clickhouse | --chdb]
#
# --clickhouse: every `hive serve` keeps its data in ClickHouse 18.16
# (Debian's clickhouse-server, started on 127.0.0.1 for the run; a database
# per server); --chdb: on ClickHouse 26.9 (chdb-core) behind
# tests/clickhouse_http/chdb_server.py. Screenshots then land in
# artifacts-clickhouse/ (or artifacts-chdb/), so a run of each may go at once.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

export HIVE_BROWSER_ARTIFACTS=artifacts
case "${1:-}" in
  --clickhouse) shift; source ../lib/clickhouse.sh; start_clickhouse; HIVE_BROWSER_ARTIFACTS=artifacts-clickhouse ;;
  --chdb) shift; source ../lib/clickhouse.sh; start_chdb; HIVE_BROWSER_ARTIFACTS=artifacts-chdb ;;
esac

if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "error: ${CHROMIUM:-/usr/bin/chromium} not found: apt-get install -y chromium chromium-driver (or set CHROMIUM)" >&2
  exit 1
fi
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
rm -rf "$HIVE_BROWSER_ARTIFACTS"
# Not exec: the ClickHouse server of the run stops when this shell exits.
node --test --test-concurrency=1 --test-reporter=tap ./*.test.mjs
