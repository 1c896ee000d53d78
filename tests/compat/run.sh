#!/usr/bin/env bash
# Compatibility suite: the documented examples run with the official HoneyHive
# Python SDK against `hive serve`, then read back through the export API.
#
# Needs: a built server (target/debug/hive, or $HIVE_BIN) and a Python with
# tests/compat/requirements.txt installed ($PYTHON, default /work/venv/bin/python).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO_ROOT"

export HIVE_BIN="${HIVE_BIN:-$REPO_ROOT/target/debug/hive}"
PYTHON="${PYTHON:-/work/venv/bin/python}"

if [ ! -x "$HIVE_BIN" ]; then
    echo "note: $HIVE_BIN does not exist (yet); the suite waits for it (build with: cargo build -p hive)" >&2
fi

exec "$PYTHON" -m pytest tests/compat -q -p no:cacheprovider "$@"
