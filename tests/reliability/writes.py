"""Writes under stress: kill -9 during mixed ingest and enrichment,
concurrent enrichers of one session, and writes out of order."""

from __future__ import annotations

import random
import threading
import time
import uuid

from lib import Hive, api, expect, ok_json, otlp_span, span_ids, wait_for

# --- kill -9 ---------------------------------------------------------------


class Acked:
    def __init__(self):
        self.lock = threading.Lock()
        self.spans: set = set()            # (client, seq) of OTLP spans
        self.events: set = set()           # event ids made with POST /events
        self.session_keys: set = set()     # metadata keys enriched on the session
        self.event_keys: dict = {}         # event id -> metadata keys enriched on it

    def add(self, kind, item, extra=None):
        with self.lock:
            if kind == "event_key":
                self.event_keys.setdefault(item, set()).add(extra)
            else:
                getattr(self, kind).add(item)


def _load(addr, key, session, round_no, client, stop, acked: Acked):
    """One client: OTLP spans, REST events, session and event enrichments."""
    seq = round_no * 100_000
    mine: list = []  # events of this client acknowledged (to enrich)
    while not stop.is_set():
        seq += 1
        kind = seq % 4
        try:
            if kind == 0:
                trace, span, _ = span_ids(client + 1, seq)
                body = otlp_span(session, trace, span,
                                 {"honeyhive_metadata.client": client, "honeyhive_metadata.seq": seq})
                r = api(addr, "POST", "/opentelemetry/v1/traces", key, body, timeout=5)
                if r.status == 200:
                    acked.add("spans", (client, seq))
            elif kind == 1:
                eid = str(uuid.uuid4())
                body = {"event": {"event_id": eid, "session_id": session, "event_type": "tool",
                                  "event_name": f"rest-{client}", "metadata": {"client": client, "seq": seq}}}
                r = api(addr, "POST", "/events", key, body, timeout=5)
                if r.status == 200:
                    acked.add("events", eid)
                    mine.append(eid)
            elif kind == 2:
                k = f"c{client}_{seq}"
                r = api(addr, "PUT", "/events", key,
                        {"event_id": session, "metadata": {k: seq}}, timeout=5)
                if r.status == 200:
                    acked.add("session_keys", k)
            elif mine:
                eid = random.choice(mine)
                k = f"e{client}_{seq}"
                r = api(addr, "PUT", "/events", key, {"event_id": eid, "metadata": {k: seq}}, timeout=5)
                if r.status == 200:
                    acked.add("event_key", eid, k)
        except OSError:
            # The server was killed mid-request: not acknowledged.
            time.sleep(0.02)


def kill9_during_mixed_ingest(rounds: int = 4, clients: int = 4):
    hive = Hive().start()
    key = hive.key
    session = str(uuid.uuid4())
    ok_json(api(hive.addr, "POST", "/session/start", key,
                {"session": {"session_id": session, "project": "crash", "session_name": "crash"}}),
            "start the session")
    acked = Acked()
    rng = random.Random()
    try:
        for round_no in range(rounds):
            if round_no > 0:
                hive.start()
                expect(hive.key == key, "a restart printed a new admin key")
            stop = threading.Event()
            threads = [threading.Thread(target=_load, args=(hive.addr, key, session, round_no, c, stop, acked))
                       for c in range(clients)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.4, 1.2))
            hive.kill9()
            stop.set()
            for t in threads:
                t.join()
        expect(len(acked.spans) > 10 and len(acked.events) > 10 and len(acked.session_keys) > 10
               and acked.event_keys, f"too little load: {len(acked.spans)} spans, {len(acked.events)} events, "
               f"{len(acked.session_keys)} session keys, {len(acked.event_keys)} enriched events")
        hive.start()
        _verify(hive, key, session, acked)
    finally:
        hive.stop()
    return f"{rounds} rounds: {len(acked.spans)} spans, {len(acked.events)} events, " \
           f"{len(acked.session_keys)} session enrichments, " \
           f"{sum(len(v) for v in acked.event_keys.values())} event enrichments acknowledged"


def _verify(hive, key, session, acked: Acked):
    tree = ok_json(api(hive.addr, "GET", f"/v1/sessions/{session}", key, timeout=60), "read the session")
    s = tree["session"]
    meta = s["metadata"]
    lost = [k for k in acked.session_keys if k not in meta]
    expect(not lost, f"{len(lost)} acknowledged session enrichments lost, e.g. {lost[:5]}")
    children = s.get("children") or []
    by_id = {c["event_id"]: c for c in children}
    expect(len(by_id) == len(children), "an event is stored twice")
    spans = {(c["metadata"].get("client"), c["metadata"].get("seq")) for c in children
             if "client" in c.get("metadata", {}) and c["event_id"] not in acked.events}
    lost = acked.spans - spans
    expect(not lost, f"{len(lost)} acknowledged spans lost, e.g. {sorted(lost)[:5]}")
    lost = [e for e in acked.events if e not in by_id]
    expect(not lost, f"{len(lost)} acknowledged REST events lost, e.g. {lost[:5]}")
    for eid, keys in acked.event_keys.items():
        ev = by_id[eid]
        missing = [k for k in keys if k not in ev["metadata"]]
        expect(not missing, f"event {eid}: acknowledged enrichments lost: {missing[:5]}")
    expect(meta.get("num_events") == len(children),
           f"num_events {meta.get('num_events')} but {len(children)} events")
    hist = ok_json(api(hive.addr, "GET", f"/v1/events/{session}/history", key), "read the history")
    entries = hist.get("history") or hist.get("data") or []
    seen: dict = {}
    for h in entries:
        for k in (h.get("patch", {}).get("metadata") or {}):
            seen[k] = seen.get(k, 0) + 1
    twice = [k for k in acked.session_keys if seen.get(k, 0) != 1]
    expect(not twice, f"{len(twice)} enrichments not in the history exactly once, e.g. "
           f"{[(k, seen.get(k, 0)) for k in twice[:5]]}")


# --- concurrency -------------------------------------------------------------


def concurrent_enrichers(hive: Hive, writers: int = 60, each: int = 3):
    key = hive.key
    session = str(uuid.uuid4())
    ok_json(api(hive.addr, "POST", "/session/start", key, {"session": {"session_id": session}}), "start")
    errors: list = []
    barrier = threading.Barrier(writers)

    def writer(i):
        barrier.wait()
        for j in range(each):
            body = {"event_id": session, "metadata": {f"w{i}_{j}": j, "shared": {f"w{i}_{j}": i}},
                    "feedback": {f"w{i}": j}}
            try:
                r = api(hive.addr, "PUT", "/events", key, body)
                if r.status != 200:
                    errors.append((i, j, r.status, r.text()[:100]))
            except OSError as e:
                errors.append((i, j, repr(e)))
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expect(not errors, f"{len(errors)} enrichments refused: {errors[:3]}")
    ev = ok_json(api(hive.addr, "GET", f"/v1/events/{session}", key), "read")["event"]
    want = {f"w{i}_{j}" for i in range(writers) for j in range(each)}
    lost = want - set(ev["metadata"])
    expect(not lost, f"{len(lost)} keys lost, e.g. {sorted(lost)[:5]}")
    lost = want - set(ev["metadata"].get("shared", {}))
    expect(not lost, f"{len(lost)} nested keys lost, e.g. {sorted(lost)[:5]}")
    expect(ev["feedback"] == {f"w{i}": each - 1 for i in range(writers)},
           f"feedback: last write per writer expected, got {ev['feedback']!r:.300}")
    hist = ok_json(api(hive.addr, "GET", f"/v1/events/{session}/history", key), "history")
    entries = hist.get("history") or hist.get("data") or []
    enrichments = [h for h in entries if "w" in "".join((h.get("patch", {}).get("feedback") or {}).keys())]
    expect(len(enrichments) == writers * each,
           f"history has {len(enrichments)} enrichments, want {writers * each}")
    return f"{writers} writers x {each}"


# --- out of order --------------------------------------------------------------


def enrichment_before_its_event(hive: Hive):
    key = hive.key
    session = str(uuid.uuid4())
    ok_json(api(hive.addr, "POST", "/session/start", key, {"session": {"session_id": session}}), "start")
    # A REST event enriched before it is created.
    eid = str(uuid.uuid4())
    ok_json(api(hive.addr, "PUT", "/events", key,
                {"event_id": eid, "metadata": {"early": 1}, "feedback": {"rating": 5}}), "early enrichment")
    ok_json(api(hive.addr, "POST", "/events", key,
                {"event": {"event_id": eid, "session_id": session, "event_type": "tool",
                           "event_name": "late", "metadata": {"own": 2}}}), "create the event")
    ev = ok_json(api(hive.addr, "GET", f"/v1/events/{eid}", key), "read")["event"]
    expect(ev["metadata"].get("early") == 1 and ev["metadata"].get("own") == 2
           and ev["feedback"].get("rating") == 5, f"enrichment not folded in: {ev!r:.400}")
    expect(ev["session_id"] == session, f"the event left its session: {ev['session_id']}")
    # A span enriched (by its event id) before the span arrives.
    trace, span, span_event = span_ids(0x5151, random.randrange(1 << 20))
    ok_json(api(hive.addr, "PUT", "/events", key,
                {"event_id": span_event, "metrics": {"score": 0.75}}), "early span enrichment")
    ok_json(api(hive.addr, "POST", "/v1/traces", key,
                otlp_span(session, trace, span, {"honeyhive_metadata.from_span": "yes"})), "send the span")
    ev = ok_json(api(hive.addr, "GET", f"/v1/events/{span_event}", key), "read the span's event")["event"]
    expect(ev["metrics"].get("score") == 0.75 and ev["metadata"].get("from_span") == "yes",
           f"span enrichment not folded in: {ev!r:.400}")
    tree = ok_json(api(hive.addr, "GET", f"/v1/sessions/{session}", key), "tree")["session"]
    ids = {c["event_id"] for c in tree.get("children") or []}
    expect({eid, span_event} <= ids, f"the session's tree misses events: {ids}")


def session_enrichment_before_the_session(hive: Hive):
    key = hive.key
    session = str(uuid.uuid4())
    ok_json(api(hive.addr, "PUT", "/events", key,
                {"event_id": session, "metadata": {"tenant": "acme"}, "user_properties": {"plan": "pro"}}),
            "enrich a session not started")
    # Visible at once (a placeholder), then completed by the start.
    ok_json(api(hive.addr, "GET", f"/v1/events/{session}", key), "read the placeholder")
    ok_json(api(hive.addr, "POST", "/session/start", key,
                {"session": {"session_id": session, "session_name": "late start", "metadata": {"own": 1}}}),
            "start the session")
    ev = ok_json(api(hive.addr, "GET", f"/v1/events/{session}", key), "read")["event"]
    expect(ev["event_type"] == "session", f"event_type {ev['event_type']!r}")
    expect(ev["metadata"].get("tenant") == "acme" and ev["metadata"].get("own") == 1
           and ev["user_properties"].get("plan") == "pro", f"not merged: {ev!r:.400}")
    expect(ev.get("event_name") == "late start", f"event_name {ev.get('event_name')!r}")
    # Enriching long after the session ended works the same way.
    ok_json(api(hive.addr, "PUT", "/events", key, {"event_id": session, "feedback": {"later": True}}),
            "late feedback")
    ev = ok_json(api(hive.addr, "GET", f"/v1/events/{session}", key), "read")["event"]
    expect(ev["feedback"].get("later") is True, f"late feedback lost: {ev['feedback']}")


def wait_applied(hive: Hive):
    wait_for(lambda: api(hive.addr, "POST", "/v1/events/export", hive.key, {"limit": 1}).status == 200,
             30, "the store to catch up")
