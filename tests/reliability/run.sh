#!/usr/bin/env bash
# The reliability suite against the real binary (target/debug/hive, or
# $HIVE_BIN): kill -9 during ingest, concurrent enrichers, out-of-order
# writes, a bad-input corpus over every route, the project-isolation
# matrix, auth and CSRF, slow clients and webhook destinations. Python's
# standard library only. Ends with `N passed, N failed`.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO_ROOT"
export HIVE_BIN="${HIVE_BIN:-$REPO_ROOT/target/debug/hive}"
exec "${PYTHON:-python3}" -u tests/reliability/suite.py "$@"
