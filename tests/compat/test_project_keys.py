"""Project-scoped keys: an example ingested with project A's key is invisible to project B."""

from __future__ import annotations

from compat_helpers import check_session_export, non_session, typed_equal, user_keys


def test_project_scoped_keys_isolate_sessions(hive, run_example):
    key_a, secret_a = hive.create_key("compat-a-rw", "read_write", "compat-project-a")
    key_b, secret_b = hive.create_key("compat-b-rw", "read_write", "compat-project-b")
    key_i, secret_i = hive.create_key("compat-a-ingest", "ingest", "compat-project-a")
    assert key_a["project_id"] != key_b["project_id"], "projects A and B must be distinct"
    assert key_i["project_id"] == key_a["project_id"], "both A keys must belong to project A"

    run = run_example("b05_all_together", project="compat-project-a", api_key=secret_a)
    sid = run.session_ids["tracer"]

    # project A's own key reads everything back, all in project A
    events = hive.session_events(sid, key=secret_a)
    s = check_session_export(events, sid)
    assert len(non_session(events)) == 4, f"events seen with A's key: {[e['event_name'] for e in events]}"
    assert {e["project_id"] for e in events} == {key_a["project_id"]}, \
        f"events should be in project A ({key_a['project_id']}), got {sorted({e['project_id'] for e in events})}"
    typed_equal(user_keys(s["metadata"]),
                {"tenant_id": "acme_corp", "user_tier": "premium", "app_version": "2.1.0"}, "session.metadata")
    r = hive.get_event(sid, key=secret_a)
    assert r.status == 200, f"GET /v1/events/{sid} with A's key -> {r.status}"

    # project B's read_write key sees nothing of A
    rb = hive.export_raw([{"field": "session_id", "operator": "is", "value": sid, "type": "string"}],
                         key=secret_b)
    assert rb.status == 200, f"export with B's key -> {rb.status} {rb.raw[:300]!r}"
    assert rb.body["events"] == [] and rb.body.get("totalEvents") == 0, \
        f"B's key must not read A's session: {len(rb.body['events'])} events, totalEvents={rb.body.get('totalEvents')}"
    rb = hive.export_raw([], key=secret_b)
    assert rb.status == 200 and rb.body["events"] == [], \
        f"unfiltered export with B's key must be empty, got {len(rb.body.get('events') or [])} events"
    for e in events:
        r = hive.get_event(e["event_id"], key=secret_b)
        assert r.status == 404, f"GET /v1/events/{e['event_id']} ({e['event_name']}) with B's key -> {r.status}, expected 404"
    r = hive.get_session(sid, key=secret_b)
    assert r.status == 404, f"GET /v1/sessions/{sid} with B's key -> {r.status}, expected 404"

    # an ingest key may write but not read
    ri = hive.export_raw([{"field": "session_id", "operator": "is", "value": sid, "type": "string"}],
                         key=secret_i)
    assert ri.status == 403, f"export with an ingest key -> {ri.status}, expected 403"
    ri = hive.get_event(sid, key=secret_i)
    assert ri.status == 403, f"GET /v1/events/{sid} with an ingest key -> {ri.status}, expected 403"

    # the admin key sees the session in project A
    admin = hive.session_events(sid)
    assert {e["event_id"] for e in admin} == {e["event_id"] for e in events}


def test_ingest_key_runs_an_example(hive, run_example):
    """The SDK with an ingest-scoped key (project A) writes; A's read key reads it back."""
    key_a, secret_a = hive.create_key("compat-a-rw", "read_write", "compat-project-a")
    _, secret_i = hive.create_key("compat-a-ingest", "ingest", "compat-project-a")
    run = run_example("a12_complex_data", api_key=secret_i)
    sid = run.session_ids["complex"]
    events = hive.session_events(sid, key=secret_a)
    s = check_session_export(events, sid)
    assert s["project_id"] == key_a["project_id"], \
        f"session written with A's ingest key is in project {s['project_id']}, expected {key_a['project_id']}"
    typed_equal(s["metadata"]["user"]["profile"]["features"], ["chat", "analytics", "export"],
                "metadata.user.profile.features")
