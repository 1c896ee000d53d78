#!/usr/bin/env bash
# Browser tests: the dashboard in headless Chromium (Debian's chromium,
# driven by playwright-core), over data sent by the official Python SDK.
#
# Needs: a built server (target/debug/hive, or $HIVE_BIN), /usr/bin/chromium
# (or $CHROMIUM), Node 20, and a Python with the compatibility suite's
# requirements ($PYTHON). Screenshots land in tests/browser/artifacts/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "error: ${CHROMIUM:-/usr/bin/chromium} not found: apt-get install -y chromium chromium-driver (or set CHROMIUM)" >&2
  exit 1
fi
if [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
rm -rf artifacts
exec node --test --test-concurrency=1 --test-reporter=tap ./*.test.mjs
