"""Assertion helpers shared by the compatibility tests."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional

NAMESPACES = ("inputs", "outputs", "config", "metadata", "metrics", "feedback", "user_properties")
ROLLUP_KEYS = ("num_events", "num_model_events", "has_feedback", "cost",
               "total_tokens", "prompt_tokens", "completion_tokens")
EVENT_FIELDS = ("event_id", "session_id", "parent_id", "children_ids", "project_id", "source",
                "event_type", "event_name", "start_time", "end_time", "duration", "error") + NAMESPACES


def typed_equal(actual: Any, expected: Any, path: str = "") -> None:
    """Deep equality that also requires JSON types to match (1 != 1.0 != True)."""
    where = path or "<root>"
    if isinstance(expected, bool):
        assert isinstance(actual, bool) and actual == expected, \
            f"{where}: expected boolean {expected!r}, got {type(actual).__name__} {actual!r}"
    elif isinstance(expected, int):
        assert isinstance(actual, int) and not isinstance(actual, bool) and actual == expected, \
            f"{where}: expected integer {expected!r}, got {type(actual).__name__} {actual!r}"
    elif isinstance(expected, float):
        assert isinstance(actual, float), \
            f"{where}: expected float {expected!r}, got {type(actual).__name__} {actual!r}"
        assert abs(actual - expected) <= 1e-9 * max(1.0, abs(expected)), \
            f"{where}: expected {expected!r}, got {actual!r}"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {type(actual).__name__} {actual!r}"
        assert set(actual) == set(expected), \
            f"{where}: keys differ: missing {sorted(set(expected) - set(actual))}, " \
            f"unexpected {sorted(set(actual) - set(expected))} (got {actual!r})"
        for k in expected:
            typed_equal(actual[k], expected[k], f"{path}.{k}" if path else k)
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {type(actual).__name__} {actual!r}"
        assert len(actual) == len(expected), \
            f"{where}: expected a list of {len(expected)}, got {len(actual)}: {actual!r:.300}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            typed_equal(a, e, f"{path}.{i}")
    else:
        assert actual == expected, f"{where}: expected {expected!r}, got {actual!r}"


def contains(actual: Dict[str, Any], expected: Dict[str, Any], what: str) -> None:
    """Every key of ``expected`` is in ``actual`` with the same typed value."""
    assert isinstance(actual, dict), f"{what}: expected an object, got {actual!r}"
    for k, v in expected.items():
        assert k in actual, f"{what}: key {k!r} missing (got keys {sorted(actual)})"
        typed_equal(actual[k], v, f"{what}.{k}")


def user_keys(metadata: Dict[str, Any]) -> Dict[str, Any]:
    """A session's metadata without the server's rollup keys."""
    return {k: v for k, v in (metadata or {}).items() if k not in ROLLUP_KEYS}


def session_event(events: List[Dict[str, Any]], session_id: str) -> Dict[str, Any]:
    sessions = [e for e in events if e.get("event_type") == "session"]
    assert len(sessions) == 1, \
        f"session {session_id}: expected exactly one session event, got {len(sessions)} " \
        f"(event types {[e.get('event_type') for e in events]})"
    s = sessions[0]
    assert s["event_id"] == session_id and s["session_id"] == session_id, \
        f"session event ids: event_id={s['event_id']!r} session_id={s['session_id']!r}, expected {session_id!r}"
    assert s.get("parent_id") is None, f"session {session_id}: parent_id should be null, got {s.get('parent_id')!r}"
    return s


def non_session(events: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [e for e in events if e.get("event_type") != "session"]


def named(events: Iterable[Dict[str, Any]], name: str) -> List[Dict[str, Any]]:
    return [e for e in events if e.get("event_name") == name]


def one_named(events: Iterable[Dict[str, Any]], name: str) -> Dict[str, Any]:
    events = list(events)
    found = named(events, name)
    assert len(found) == 1, \
        f"expected exactly one event named {name!r}, got {len(found)} (names: {sorted(str(e.get('event_name')) for e in events)})"
    return found[0]


def check_event_shape(e: Dict[str, Any]) -> None:
    """The typing rules the SDK's parser relies on."""
    for f in EVENT_FIELDS:
        assert f in e, f"event {e.get('event_id')}: field {f!r} missing"
    for ns in NAMESPACES:
        assert isinstance(e[ns], dict), f"event {e['event_id']}: {ns} must be an object, got {e[ns]!r:.200}"
    for f in ("start_time", "end_time", "duration"):
        assert isinstance(e[f], (int, float)) and not isinstance(e[f], bool), \
            f"event {e['event_id']}: {f} must be a number, got {e[f]!r}"
    assert e["end_time"] >= e["start_time"], \
        f"event {e['event_id']}: end_time {e['end_time']} < start_time {e['start_time']}"
    assert e["error"] is None or isinstance(e["error"], str), f"event {e['event_id']}: error {e['error']!r}"
    assert isinstance(e["children_ids"], list), f"event {e['event_id']}: children_ids {e['children_ids']!r}"


def check_session_export(events: List[Dict[str, Any]], session_id: str) -> Dict[str, Any]:
    """Shape, session membership, parentage and the num_events rollup. Returns the session event."""
    assert events, f"export for session {session_id} returned no events"
    for e in events:
        check_event_shape(e)
        assert e["session_id"] == session_id, \
            f"event {e['event_id']} ({e['event_name']}) has session_id {e['session_id']!r}, expected {session_id!r}"
    s = session_event(events, session_id)
    ids = {e["event_id"] for e in events}
    assert len(ids) == len(events), f"session {session_id}: duplicate event ids in export"
    for e in non_session(events):
        assert e["parent_id"] in ids, \
            f"event {e['event_id']} ({e['event_name']}): parent_id {e['parent_id']!r} is neither the session " \
            f"nor another event of the session"
    n = len(non_session(events))
    assert s["metadata"].get("num_events") == n, \
        f"session {session_id}: metadata.num_events = {s['metadata'].get('num_events')!r}, " \
        f"but the session has {n} non-session events"
    return s


# --------------------------------------------------------------------------
# HTTP helper


@dataclass
class Response:
    status: int
    body: Any
    raw: bytes

    def json(self) -> Any:
        return self.body


def http(method: str, url: str, key: Optional[str], body: Any = None, timeout: float = 30) -> Response:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if key is not None:
        req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as e:
        raw = e.read()
        status = e.code
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return Response(status, parsed, raw)
