"""Reading back with the official SDK's own client, and the single-event read API."""

from __future__ import annotations

import warnings

from honeyhive import HoneyHive
from honeyhive._generated.api_config import APIConfig
from honeyhive._generated.models import LegacyExportEventsRequest
from honeyhive._generated.services.Events_service import exportEventsLegacy, getEvent
from honeyhive.models import EventFilter

from compat_helpers import NAMESPACES, check_session_export, non_session


def test_sdk_client_parses_export_and_get(hive, run_example):
    run = run_example("b05_all_together")
    sid = run.session_ids["tracer"]
    raw_events = hive.session_events(sid)
    check_session_export(raw_events, sid)
    raw_by_id = {e["event_id"]: e for e in raw_events}

    # HoneyHive(...).events.export: the SDK's documented read path
    client = HoneyHive(api_key=hive.admin_key, server_url=hive.url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        resp = client.events.export(
            filters=[EventFilter(field="session_id", operator="is", value=sid, type="string")],
            limit=1000,
        )
    assert resp.total_events == len(raw_events), \
        f"SDK export total_events {resp.total_events}, raw export returned {len(raw_events)}"
    assert {e.event_id for e in resp.events} == set(raw_by_id), "SDK export returned other events than raw export"
    for ev in resp.events:
        raw = raw_by_id[ev.event_id]
        assert ev.session_id == sid and ev.event_type == raw["event_type"] and ev.event_name == raw["event_name"]
        assert ev.parent_id == raw["parent_id"]
        for ns in NAMESPACES:
            assert getattr(ev, ns) == raw[ns], f"SDK-parsed {ns} of {ev.event_id} differs from the raw JSON"
        assert ev.start_time == raw["start_time"] and ev.end_time == raw["end_time"]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        models = client.events.export(
            filters=[EventFilter(field="session_id", operator="is", value=sid, type="string"),
                     EventFilter(field="event_type", operator="is", value="model", type="string")],
        )
    assert sorted(e.event_name for e in models.events) == ["ChatCompletion", "ChatCompletion"], \
        f"SDK export with event_type filter: {[e.event_name for e in models.events]}"

    # the generated client: strict models (events + count required, GetEventResponse)
    cfg = APIConfig(base_path=hive.url, access_token=hive.admin_key)
    gen = exportEventsLegacy(cfg, data=LegacyExportEventsRequest.model_validate(
        {"filters": [{"field": "session_id", "operator": "is", "value": sid, "type": "string"}],
         "limit": 1000, "page": 1}))
    assert gen.count == len(raw_events), f"generated ExportEventsResponse.count {gen.count}"
    assert len(gen.events) == len(raw_events)

    for event_id in raw_by_id:
        got = getEvent(cfg, event_id=event_id)
        assert got.event is not None and got.event.event_id == event_id, \
            f"generated getEvent({event_id}) -> {got!r:.300}"


def test_get_event_matches_export(hive, run_example):
    run = run_example("b04_use_cases")
    sid = run.session_ids["tracer"]
    events = hive.session_events(sid)
    check_session_export(events, sid)
    for e in events:
        r = hive.get_event(e["event_id"])
        assert r.status == 200, f"GET /v1/events/{e['event_id']} -> {r.status} {r.raw[:300]!r}"
        assert r.body["event"] == e, \
            f"GET /v1/events/{e['event_id']} ({e['event_name']}) differs from the exported event"
    missing = hive.get_event("00000000-0000-4000-8000-000000000000")
    assert missing.status == 404, f"GET of an unknown event -> {missing.status}, expected 404"
    no_key = hive.get_event(sid, key=None)
    assert no_key.status in (401, 403), f"GET without Authorization -> {no_key.status}, expected 401/403"
    assert len(non_session(events)) == 8
