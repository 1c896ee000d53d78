"""Redaction at ingest with the official SDK's traffic: a project that
redacts stores markers where the SDK sent secrets, and nothing of the
secrets is in any file of the server's data directory."""

from __future__ import annotations

import json
import os

SECRETS = (
    "lovelace.7f3",
    "hunter2-pw-9c1e",
    "078-05-1120",
    "4111 1111 1111 1111",
    "tok9Zq7Xw2Lp4Vn8Rb3",
    "AKIAREDACTTEST000001",
    "ORD-482913",
    "R3dact3dS3cr3tK3yValue01",
)


def _files_with(root, needles):
    found = []
    files = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            files += 1
            with open(path, "rb") as f:
                data = f.read()
            found += [(path, n) for n in needles if n.encode() in data]
    assert files >= 3, f"the data directory {root} holds only {files} files"
    return found


def test_the_sdks_secrets_are_redacted_before_anything_is_stored(hive, run_example):
    _, secret = hive.create_key("redact-rw", "read_write", "compat-redact")
    r = hive.request("PUT", "/v1/redaction", {
        "enabled": True,
        "keys": ["ssn"],
        "patterns": [{"name": "order_ref", "regex": "ORD-[0-9]{6}"}],
    }, key=secret)
    assert r.status == 200, f"PUT /v1/redaction -> {r.status} {r.raw[:300]!r}"

    run = run_example("c01_redaction", project="compat-redact", api_key=secret)
    sid = run.session_ids["tracer"]
    events = hive.session_events(sid, key=secret)
    session = next(e for e in events if e["event_type"] == "session")
    assert session["event_name"] == "support for [REDACTED:email]", session["event_name"]
    assert session["metadata"]["customer_email"] == "[REDACTED:email]"
    assert session["metadata"]["db_password"] == "[REDACTED:password]"
    assert session["user_properties"] == {"ssn": "[REDACTED:ssn]", "plan": "pro"}
    assert session["feedback"]["comment"] == "card [REDACTED:credit_card] was charged twice"

    names = [(e["event_type"], e["event_name"]) for e in events]
    lookup = next((e for e in events if e["event_name"].endswith("lookup")), None)
    assert lookup is not None, f"no lookup event among {names}: {json.dumps(events)[:3000]}"
    assert lookup["inputs"]["api_key"] == "[REDACTED:api_key]", lookup["inputs"]
    assert lookup["inputs"]["order"] == "[REDACTED:order_ref]", lookup["inputs"]
    assert lookup["metadata"]["authorization"] == "[REDACTED:authorization]"
    assert lookup["metadata"]["region"] == "eu"
    assert "[REDACTED:aws_access_key]" in json.dumps(lookup["outputs"]), lookup["outputs"]

    model = [e for e in events if e["event_type"] == "model"]
    assert model, f"no model event among {[e['event_name'] for e in events]}"
    assert "[REDACTED:email]" in json.dumps(model[0]["inputs"]), model[0]["inputs"]
    # The raw span (the Attributes panel) is redacted too.
    r = hive.request("GET", f"/v1/events/{lookup['event_id']}?include=span", key=secret)
    assert r.status == 200
    assert "[REDACTED:api_key]" in r.raw.decode(), r.raw[:500]

    found = _files_with(hive.data_dir, SECRETS)
    assert not found, f"secrets survive in the data directory: {found}"
    assert _files_with(hive.data_dir, ["[REDACTED:email]"]), "the markers are stored"

    stats = hive.request("GET", "/v1/stats").body["redaction"]["projects"]
    counts = next(p for p in stats.values() if p["name"] == "compat-redact")["redacted"]
    for rule in ("email", "password", "ssn", "credit_card", "authorization", "api_key", "order_ref",
                 "aws_access_key"):
        assert counts.get(rule, 0) >= 1, f"{rule} not counted: {counts}"
