"""The API keeps to its own OpenAPI document (`GET /openapi.json`).

Schemathesis reads the document and sends each operation requests made
from it (valid ones, then edge cases: empty and huge strings, odd Unicode,
missing bodies, wrong methods), deterministically, to a fresh server with an
admin key. It checks that no request is answered 5xx, that every status,
content type, header and body the server answers is the one the document
promises, that a request without a key is refused, and that what a DELETE
removed is gone. A client generated from the document can then trust it.

Alert rules are not created here: a rule's webhook may name any public
address, and a test never sends anything off this machine. Their list is
still read.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "missing_required_header",
        "ignored_auth",
        "use_after_free",
        "ensure_resource_availability",
    ]
)


def schemathesis(hive, workdir: Path, *selection: str) -> None:
    cli = Path(sys.executable).parent / "schemathesis"
    cmd = [
        str(cli),
        "run",
        hive.url + "/openapi.json",
        "-H",
        "Authorization: Bearer " + hive.admin_key,
        "--checks",
        CHECKS,
        "--max-examples",
        "25",
        "--generation-deterministic",
        "--request-timeout",
        "30",
        "--no-color",
        *selection,
    ]
    # (Its cache of failures goes in the test's own directory.)
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=workdir)
    assert run.returncode == 0, (
        f"schemathesis found the API and its document apart (exit {run.returncode}):\n"
        + run.stdout[-20000:]
        + run.stderr[-5000:]
    )
    assert " passed" in run.stdout, run.stdout[-5000:]


def test_every_operation_but_writing_alert_rules(hive, tmp_path):
    schemathesis(hive, tmp_path, "--exclude-path-regex", "^/v1/alerts")


def test_the_list_of_alert_rules(hive, tmp_path):
    schemathesis(hive, tmp_path, "--include-path", "/v1/alerts", "--include-method", "GET")
