"""The reliability suite: the real `hive` binary ($HIVE_BIN) probed as a
hostile client and an unlucky operator would (issue 13). Each check is
named and reported; the last line is `N passed, N failed`, and the exit
code is non-zero when a check failed.

    python3 tests/reliability/suite.py [--only TEXT]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import corpus  # noqa: E402
import security  # noqa: E402
import writes  # noqa: E402
from lib import HIVE_BIN, Hive, Report  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="run the checks whose name contains this")
    args = parser.parse_args()
    if not os.access(HIVE_BIN, os.X_OK):
        print(f"{HIVE_BIN} is not there: build it with `cargo build -p hive` (or set HIVE_BIN)")
        print("0 passed, 1 failed")
        return 1
    report = Report(only=args.only)
    started = time.monotonic()

    report.check("crash: kill -9 during mixed OTLP, REST and enrichment ingest; all acknowledged is there",
                 writes.kill9_during_mixed_ingest)
    hive = Hive().start()
    try:
        report.check("concurrency: 60 enrichers on one session, no key lost, history complete",
                     writes.concurrent_enrichers, hive)
        report.check("out of order: enrichment before its event and before its span",
                     writes.enrichment_before_its_event, hive)
        report.check("out of order: session enrichment before the session starts",
                     writes.session_enrichment_before_the_session, hive)
    finally:
        hive.stop()
    corpus.run(report)
    security.run(report)

    print(f"\nreliability suite: {time.monotonic() - started:.0f} s")
    return report.summary()


if __name__ == "__main__":
    sys.exit(main())
