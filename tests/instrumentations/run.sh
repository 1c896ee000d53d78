#!/usr/bin/env bash
# Instrumentation suite: real instrumentation packages (OpenTelemetry's
# openai-v2, Traceloop, OpenInference in Python; the Vercel AI SDK in Node)
# drive the openai client against a stand-in of OpenAI's API on 127.0.0.1
# and export to one `hive serve`; the tests read every run back through the
# export API.
#
# Needs: a built server (target/debug/hive, or $HIVE_BIN), Python 3.11 with
# venv, Node 20. Installs tests/instrumentations/requirements.txt into
# .venv-instr and package.json's packages into node_modules on first use.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
cd "$REPO_ROOT"

export HIVE_BIN="${HIVE_BIN:-$REPO_ROOT/target/debug/hive}"
PYTHON_BIN="${PYTHON_BIN:-python3}"
VENV="$REPO_ROOT/.venv-instr"

if [ ! -x "$HIVE_BIN" ]; then
  echo "error: $HIVE_BIN does not exist (build with: cargo build -p hive)" >&2
  exit 1
fi

# Install when missing, or when the requirements changed since.
stamp="$VENV/.requirements"
if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$HERE/requirements.txt" "$stamp"; then
  "$PYTHON_BIN" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$stamp"
fi
if [ ! -d "$HERE/node_modules/ai" ] || [ "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ]; then
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
fi

work="$(mktemp -d)"
hive_pid=""
cleanup() {
  if [ -n "$hive_pid" ] && kill -0 "$hive_pid" 2>/dev/null; then
    kill -TERM "$hive_pid" 2>/dev/null || true
    wait "$hive_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# One server for the whole suite, on free loopback ports.
"$HIVE_BIN" serve --data-dir "$work/data" --addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 \
  </dev/null >/dev/null 2>"$work/hive.log" &
hive_pid=$!
for _ in $(seq 1 300); do
  grep -q '^listening on ' "$work/hive.log" 2>/dev/null && break
  kill -0 "$hive_pid" 2>/dev/null || { cat "$work/hive.log" >&2; exit 1; }
  sleep 0.1
done
listen="$(grep -m1 '^listening on ' "$work/hive.log" || true)"
if [ -z "$listen" ]; then
  echo "error: hive serve did not start; its log:" >&2
  cat "$work/hive.log" >&2
  exit 1
fi
HIVE_URL="$(sed -E 's/^listening on (http:\/\/127\.0\.0\.1:[0-9]+).*/\1/' <<<"$listen")"
HIVE_GRPC="$(sed -E 's/.*OTLP\/gRPC on (127\.0\.0\.1:[0-9]+).*/\1/' <<<"$listen")"
HIVE_KEY="$(sed -nE 's/^[[:space:]]+HH_API_KEY=(hh_[^[:space:]]+)/\1/p' "$work/hive.log" | head -1)"
export HIVE_URL HIVE_GRPC HIVE_KEY
echo "hive serve at $HIVE_URL (OTLP/gRPC on $HIVE_GRPC)"

status=0
"$VENV/bin/python" -m pytest "$HERE" -q -p no:cacheprovider -rfE || status=$?
(cd "$HERE" && node --test --test-concurrency=1 --test-reporter=spec ./*.test.mjs) || status=$?

if grep -qE ' (ERROR|WARN) ' "$work/hive.log"; then
  echo "--- hive serve logged warnings or errors:" >&2
  grep -E ' (ERROR|WARN) ' "$work/hive.log" | tail -20 >&2
fi
exit "$status"
