"""The bad-input corpus: malformed JSON, wrong types, oversized and
compressed bombs, NUL and control characters, deep nesting, bad UTF-8,
wrong content types and bad protobuf, over every route of the API and of
the dashboard. Asserts: never a 5xx, an API error is the JSON error shape
(naming the field where the case says which), and the stored data is the
same before and after (a snapshot of every project)."""

from __future__ import annotations

import gzip
import json
import urllib.parse


from lib import Hive, api, expect, is_json_error, ok_json, request

SID = "00000000-0000-4000-8000-00000000c0de"
# The project of the corpus's requests that may be valid writes.
SCRATCH = "corpus-scratch"


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def nested_value(depth: int):
    v: object = 1
    for _ in range(depth):
        v = {"a": v}
    return v


# Bodies no JSON route may accept: (name, body, content-type, extra headers).
MALFORMED = [
    ("truncated", b'{"a": ', "application/json", {}),
    ("trailing comma", b'{"a": 1,}', "application/json", {}),
    ("deep nesting (200)", nested(200).encode(), "application/json", {}),
    ("bad UTF-8", b'{"event_id": "\xff\xfe", "x": "\xc3("}', "application/json", {}),
    ("raw control char", b'{"event_id": "a\x01b"}', "application/json", {}),
    ("number out of range", b'{"limit": 1e999}', "application/json", {}),
    ("lone surrogate", b'{"event_id": "\\ud800"}', "application/json", {}),
    ("bad gzip", b"\x1f\x8b\x08\x00garbage", "application/json", {"content-encoding": "gzip"}),
    ("unknown encoding", b"{}", "application/json", {"content-encoding": "br-unheard-of"}),
]

# Bodies that are JSON but not an object: refused by routes taking objects.
NOT_OBJECTS = [
    ("array", b"[]"),
    ("string", b'"text"'),
    ("number", b"12345"),
    ("null", b"null"),
]

# Anything goes but a 5xx (and a 4xx is the JSON shape).
ODD = [
    ("empty body", b"", "application/json", {}),
    ("NUL in strings", json.dumps({"event_id": "a\u0000b", "session_id": "\u0000",
                                   "metadata": {"k\u0000": "v\u0000"}}).encode(), "application/json", {}),
    ("control chars in keys", json.dumps({"metadata": {"\u0001\u001f": 1}, "filters": []}).encode(),
     "application/json", {}),
    ("text/plain", b'{"limit": 1}', "text/plain", {}),
    ("form content type", b"a=1&b=2", "application/x-www-form-urlencoded", {}),
    ("protobuf content type", b'{"a": 1}', "application/x-protobuf", {}),
    ("no content type", b'{"a": 1}', None, {}),
    ("multipart", b"--x\r\n\r\n--x--", "multipart/form-data; boundary=x", {}),
    ("duplicate keys", b'{"event_id": "a", "event_id": 5}', "application/json", {}),
    ("charset latin1", b'{"a": "\xe9"}', "application/json; charset=latin1", {}),
]

# Typed cases: (method, path, body, a word the error must name).
TYPED = [
    ("POST", "/session/start", {"session": {"session_id": 123}}, "session_id"),
    ("POST", "/session/start", {"session": {"event_type": 123}}, "event_type"),
    ("POST", "/session/start", {"session": []}, "session"),
    ("POST", "/session/start", {"session": {"metadata": "text"}}, "metadata"),
    ("POST", "/session/start", {"session": {"session_id": "x" * 300}}, "session_id"),
    ("POST", "/session/start", {"session": {"start_time": "yesterday"}}, "start_time"),
    ("POST", "/session/start", {"session": {"metadata": nested_value(40)}}, "metadata"),
    ("POST", "/v1/sessions", {"session_id": [], "project": "typed-new-1"}, "session_id"),
    ("POST", "/events", {"event": {"session_id": SID, "event_type": []}, "project": "typed-new-2"}, "event_type"),
    ("POST", "/events/batch", {"events": [{"event_type": 5}], "project": "typed-new-3"}, "event_type"),
    ("POST", "/v1/charts", {"name": "c", "metric": {"a": 1}, "project": "typed-new-4"}, "metric"),
    ("POST", "/v1/alerts", {"name": "a", "threshold": "x", "project": "typed-new-5"}, "threshold"),
    ("POST", "/v1/keys", {"name": "k", "scope": "root", "project": "typed-new-6"}, "scope"),
    ("PUT", "/events", {"event_id": 123}, "event_id"),
    ("PUT", "/events", {"metadata": {"a": 1}}, "event_id"),
    ("PUT", "/events", {"event_id": SID, "session_id": []}, "session_id"),
    ("PUT", "/events", {"event_id": SID, "metadata": [1, 2]}, "metadata"),
    ("PUT", "/events", {"event_id": SID, "metrics": "fast"}, "metrics"),
    ("PUT", "/events", {"event_id": SID, "feedback": nested_value(40)}, "feedback"),
    ("PUT", f"/v1/events/{SID}", {"metadata": 5}, "metadata"),
    ("POST", "/events", {"event": {"session_id": SID, "event_type": {}}}, "event_type"),
    ("POST", "/events", {"event": {"session_id": 5, "event_type": "tool"}}, "session_id"),
    ("POST", "/events", {"event": {"session_id": SID, "event_type": "tool", "start_time": "noon"}}, "start_time"),
    ("POST", "/events", {"event": {"session_id": SID, "event_type": "tool", "duration": "long"}}, "duration"),
    ("POST", "/v1/events", {"session_id": SID, "event_type": "tool", "inputs": "text"}, "inputs"),
    ("POST", "/events/batch", {"events": "many"}, "events"),
    ("POST", "/events/batch", {"events": [5]}, "events"),
    ("POST", "/v1/events/batch", {"events": [{"session_id": SID, "event_type": "tool", "parent_id": 7}]}, "parent_id"),
    ("POST", f"/session/{SID}/traces", {"logs": {"a": 1}}, "logs"),
    ("POST", f"/v1/sessions/{SID}/events/batch", {"events": [{"event_id": [], "event_type": "tool"}]}, "event_id"),
    ("POST", "/v1/events/export", {"filters": "all"}, "filters"),
    ("POST", "/v1/events/export",
     {"filters": [{"field": "metadata.\u0000", "operator": "is", "value": "x", "type": "string"}]}, "filters"),
    ("POST", "/v1/events/export", {"filters": [{"field": "metadata.a", "operator": "~~", "value": 1}]}, "~~"),
    ("POST", "/v1/events/export", {"filters": [{"field": "metadata.a", "operator": "exists", "type": 5}]},
     "type"),
    ("POST", "/v1/events/export", {"limit": "abc"}, "limit"),
    ("POST", "/v1/events/export", {"limit": 0}, "limit"),
    ("POST", "/v1/events/export", {"limit": 1000000}, "limit"),
    ("POST", "/v1/events/export", {"page": -1}, "page"),
    ("POST", "/v1/events/export", {"page": 1e300}, "page"),
    ("POST", "/v1/events/export", {"dateRange": 5}, "dateRange"),
    ("POST", "/v1/events/export", {"dateRange": {"relative": "99999999999999999999d"}}, "dateRange"),
    ("POST", "/v1/events/export", {"level": 3}, "level"),
    ("POST", "/v1/events/export", {"projections": "x"}, "projections"),
    ("POST", "/v1/events/export", {"order": "sideways"}, "order"),
    ("POST", "/v1/events/export", {"project": {"name": "x"}}, "project"),
    ("POST", "/v1/events/search", {"filters": [{"field": "", "operator": "is"}]}, "filters"),
    ("POST", "/v1/events/chart", {"metric": {"a": 1}}, "metric"),
    ("POST", "/v1/events/chart", {"aggregation": "mode"}, "aggregation"),
    ("POST", "/v1/events/chart", {"bucket": "decade"}, "bucket"),
    ("POST", "/v1/events/chart", {"groupBy": 5}, "groupBy"),
    ("POST", "/v1/charts", {"name": 5, "metric": "metrics.x"}, "name"),
    ("POST", "/v1/charts", {"name": "c", "metric": {"a": 1}}, "metric"),
    ("POST", "/v1/charts", {"name": "x" * 300}, "name"),
    ("POST", "/v1/charts", {"name": "c", "description": []}, "description"),
    ("POST", "/v1/alerts", {"name": "a", "threshold": 1, "webhook": {"url": 5}}, "webhook.url"),
    ("POST", "/v1/alerts", {"name": "a", "threshold": "lots"}, "threshold"),
    ("POST", "/v1/alerts", {"name": "a", "threshold": 1, "frequency": "99999999999999999999m"}, "frequency"),
    ("POST", "/v1/alerts", {"name": "a", "threshold": 1, "webhook": {"url": "ftp://x"}}, "webhook.url"),
    ("POST", "/v1/alerts", {"name": "a", "threshold": 1, "query": {"metric": {"a": 1}}}, "metric"),
    ("POST", "/v1/keys", {"name": "k", "scope": 5}, "scope"),
    ("POST", "/v1/keys", {"name": "k", "scope": "root"}, "scope"),
    ("POST", "/v1/keys", {"name": "k", "scope": "ingest"}, "project"),
    ("POST", "/v1/projects", {"name": []}, "name"),
    ("POST", "/v1/projects", {}, "name"),
    ("POST", "/v1/projects", {"name": "p\u0000q"}, "name"),
]

OTLP_PATHS = ["/opentelemetry/v1/traces", "/v1/traces", "/opentelemetry/v1/logs", "/v1/logs",
              "/opentelemetry/v1/metrics", "/v1/metrics"]

BAD_PROTOBUF = [
    ("garbage", b"\xff\xff\xff\xff\xff"),
    ("truncated varint", b"\x0a\xff"),
    ("length past the end", b"\x0a\x7f\x0a\x02"),
    ("wrong wire type", b"\x0b\x00"),
    ("nested bad length", b"\x0a\x05\x12\x7f\x00\x00\x00"),
    ("bad UTF-8 in a string", b"\x0a\x08\x0a\x06\x0a\x04\xff\xfe\xfd\xfc"),
]

BAD_OTLP_JSON = [
    {"resourceSpans": 5},
    {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "00"}]}]}]},
    {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "0" * 32, "spanId": "1" * 16,
                                                   "startTimeUnixNano": {"x": 1}}]}]}]},
    {"resourceLogs": [{"scopeLogs": [{"logRecords": "x"}]}]},
    {"resourceMetrics": [{"scopeMetrics": 7}]},
]

# Routes taking a JSON object body.
JSON_ROUTES = [
    ("POST", "/session/start"), ("POST", "/v1/sessions"), ("PUT", "/events"), ("POST", "/events"),
    ("POST", "/v1/events"), ("POST", "/events/batch"), ("POST", "/v1/events/batch"),
    ("POST", f"/session/{SID}/traces"), ("POST", f"/v1/sessions/{SID}/events/batch"),
    ("PUT", f"/v1/events/{SID}"), ("POST", "/v1/events/export"), ("POST", "/v1/events/search"),
    ("POST", "/v1/events/chart"), ("POST", "/v1/charts"), ("PUT", "/v1/charts/CHART"),
    ("PATCH", "/v1/charts/CHART"), ("POST", "/v1/alerts"), ("PUT", "/v1/alerts/ALERT"),
    ("PATCH", "/v1/alerts/ALERT"), ("POST", "/v1/keys"), ("POST", "/v1/projects"),
]

# Routes without a body, with odd path parameters and query strings.
GET_CASES = [
    ("GET", "/v1/events/%00"), ("GET", "/v1/events/" + "x" * 300), ("GET", "/v1/events/%FF%FE"),
    ("GET", "/v1/events/%00/history"), ("GET", "/v1/sessions/%00"), ("GET", "/v1/sessions/..%2F..%2Fetc"),
    ("GET", f"/v1/sessions/{SID}?limit=-5"), ("GET", f"/v1/sessions/{SID}?limit=abc"),
    ("GET", f"/v1/sessions/{SID}?limit=99999999999999999999"), ("GET", f"/v1/events/{SID}?include=%00"),
    ("GET", "/v1/events/schema?project=%00"), ("GET", "/v1/events/schema?project=%FF"),
    ("GET", "/v1/events/chart?metric=%00"), ("GET", "/v1/events/chart?filters=%5B"),
    ("GET", "/v1/events/chart?filters=%5B%7B%22field%22%3A%22metadata.%5Cu0000%22%2C%22operator%22%3A%22is%22%7D%5D"),
    ("GET", "/v1/events/chart?dateRange=%7B%22relative%22%3A%2299999999999999999999d%22%7D"),
    ("GET", "/v1/events/chart?metric=%ZZ"), ("GET", "/v1/events/chart?aggregation=p101"),
    ("GET", "/v1/charts?project=%00"), ("GET", "/v1/charts/%00"), ("GET", "/v1/alerts/%00"),
    ("GET", "/v1/alerts/%00/history"), ("POST", "/v1/alerts/ALERT/explode"), ("POST", "/v1/alerts/%00/pause"),
    ("DELETE", "/v1/charts/%00"), ("DELETE", "/v1/alerts/%00"), ("DELETE", "/v1/keys/%00"),
    ("GET", "/v1/alerts?project=%00"), ("GET", "/v1/projects?x=%00"), ("GET", "/v1/stats?%00"),
    ("GET", "/v1/nowhere"), ("DELETE", "/v1/events/export"), ("GET", "/session/start"),
]

DASHBOARD_GETS = [
    "/", "/sessions?filters=%00", "/sessions?page=-1", "/sessions?page=99999999999999999999",
    "/sessions?sort=%FF&order=sideways", "/sessions?project=%00", "/sessions?range=99999999999999d",
    "/sessions?f=metadata.%00&op=is&v=x", "/sessions?f=metadata.a&op=%3D&v=1&t=number",
    "/sessions?from=abc&to=%00", "/sessions/%00", "/sessions/" + "x" * 300, f"/sessions/{SID}?event=%00",
    "/events?page=0", "/events?f=&op=&v=", "/events?level=%00", "/charts?metric=%00&agg=mode&bucket=decade",
    "/charts?chart=%00", "/charts?filters=%5B", "/alerts/%00", "/alerts?project=%FF", "/views?x=%00",
    "/keys?project=%00", "/login?token=%00", "/login?token=" + "x" * 5000, "/static/../../etc/passwd",
    "/static/hive.css?%00",
    "/charts/%00/draw", "/charts/CHART/draw?project=%00", "/charts/" + "x" * 300 + "/draw",
    "/charts/draw", "/charts/draw?id=%00", "/charts/draw?project=%FF&id=CHART",
    "/charts/draw?id=CHART&id=CHART&id=" + "x" * 3000, "/charts/draw?" + "&".join(["id=x"] * 30),
    "/alerts/%00/recent", "/alerts/ALERT/recent?project=%FF", "/alerts/ALERT/recent?project=scratch",
]


def snapshot(hive: Hive) -> str:
    """Every project's events, charts and alerts, and the keys, as text."""
    k = hive.key
    out = {}
    projects = ok_json(api(hive.addr, "GET", "/v1/projects", k), "projects")["projects"]
    out["projects"] = sorted(p["name"] for p in projects)
    for p in projects:
        name = p["name"]
        if name == SCRATCH:
            continue
        events = ok_json(api(hive.addr, "POST", "/v1/events/export", k,
                             {"project": name, "limit": 7500}), "export")
        evs = sorted(events.get("events", []), key=lambda e: e["event_id"])
        q = urllib.parse.quote(name, safe="")
        charts = ok_json(api(hive.addr, "GET", f"/v1/charts?project={q}", k), "charts")
        alerts = ok_json(api(hive.addr, "GET", f"/v1/alerts?project={q}", k), "alerts")
        out[name] = {"events": evs, "charts": charts.get("data"), "alerts": alerts.get("data")}
    keys = ok_json(api(hive.addr, "GET", "/v1/keys", k), "keys")["keys"]
    out["keys"] = sorted((x["id"], x["scope"], x.get("project_id"), x.get("revoked_at") is None) for x in keys)
    return json.dumps(out, sort_keys=True)


def seed(hive: Hive) -> dict:
    """Data the corpus must leave as it is, and ids for path parameters."""
    k = hive.key
    ok_json(api(hive.addr, "POST", "/session/start", k,
                {"session": {"session_id": SID, "project": "corpus", "metadata": {"tier": "gold"}}}), "seed")
    ok_json(api(hive.addr, "POST", "/events", k,
                {"event": {"session_id": SID, "event_type": "model", "event_name": "llm",
                           "metrics": {"latency": 5}}}), "seed event")
    chart = ok_json(api(hive.addr, "POST", "/v1/charts", k,
                        {"name": "seeded", "metric": "metrics.latency", "func": "avg", "project": "corpus"}),
                    "seed chart")
    alert = ok_json(api(hive.addr, "POST", "/v1/alerts", k,
                        {"name": "seeded", "threshold": 1000, "frequency": "daily", "project": "corpus",
                         "query": {"metric": "metrics.latency", "aggregation": "avg"}}), "seed alert")
    _, scratch = hive.create_key(SCRATCH, "read_write")
    return {"CHART": chart["data"]["id"], "ALERT": alert["data"]["id"], "SCRATCH_KEY": scratch}


def _path(path: str, ids: dict) -> str:
    for k, v in ids.items():
        path = path.replace(k, v)
    return path


def _no_5xx_json(r, what: str, failures: list, must_4xx: bool = False, names: str | None = None):
    if r.status >= 500:
        failures.append(f"{what}: {r.status} {r.text()[:200]}")
        return
    if must_4xx and not 400 <= r.status < 500:
        failures.append(f"{what}: {r.status}, want a 4xx: {r.text()[:200]}")
        return
    if r.status >= 400:
        ok, why = is_json_error(r)
        if not ok:
            failures.append(f"{what}: {r.status} {why}")
            return
        if names and names not in r.json()["error"]["message"]:
            failures.append(f"{what}: {r.status} does not name {names!r}: {r.json()['error']['message']!r:.200}")


def json_route(hive: Hive, ids: dict, method: str, path: str):
    failures: list = []
    p = _path(path, ids)
    for name, body, ctype, hdrs in MALFORMED:
        r = request(hive.addr, method, p, body=body, key=hive.key, content_type=ctype, headers=hdrs)
        _no_5xx_json(r, f"{name}", failures, must_4xx=True)
    for name, body in NOT_OBJECTS:
        r = request(hive.addr, method, p, body=body, key=hive.key)
        _no_5xx_json(r, f"{name}", failures, must_4xx=True)
    # Some of these are valid writes: sent with a key of a scratch
    # project, which the snapshot leaves out.
    for name, body, ctype, hdrs in ODD:
        r = request(hive.addr, method, p, body=body, key=ids["SCRATCH_KEY"], content_type=ctype, headers=hdrs)
        _no_5xx_json(r, f"{name}", failures)
    expect(not failures, f"{len(failures)} bad answers:\n" + "\n".join(failures[:12]))
    return f"{len(MALFORMED) + len(NOT_OBJECTS) + len(ODD)} requests"


def typed_cases(hive: Hive, ids: dict):
    failures: list = []
    for method, path, body, names in TYPED:
        r = api(hive.addr, method, _path(path, ids), hive.key, body)
        _no_5xx_json(r, f"{method} {path} {json.dumps(body)[:80]}", failures, must_4xx=True, names=names)
    expect(not failures, f"{len(failures)} bad answers:\n" + "\n".join(failures[:15]))
    return f"{len(TYPED)} requests"


def oversized(hive: Hive, ids: dict):
    failures: list = []
    big = b'{"a": "' + b"x" * (17 << 20) + b'"}'
    bomb = gzip.compress(b" " * (65 << 20), compresslevel=9)
    for method, path in [("POST", "/session/start"), ("PUT", "/events"), ("POST", "/v1/events/export"),
                         ("POST", "/v1/traces"), ("POST", "/v1/charts")]:
        r = request(hive.addr, method, path, body=big, key=hive.key)
        _no_5xx_json(r, f"{path} 17 MiB", failures, must_4xx=True)
        if r.status != 413:
            failures.append(f"{path} 17 MiB: {r.status}, want 413")
        r = request(hive.addr, method, path, body=bomb, key=hive.key, headers={"content-encoding": "gzip"})
        _no_5xx_json(r, f"{path} gzip bomb", failures, must_4xx=True)
    # A head too large and a URI too long (the HTTP layer's own answers).
    r = request(hive.addr, "GET", "/healthz", headers={"x-big": "x" * (500 << 10)})
    _no_5xx_json(r, "500 KiB header", failures, must_4xx=True)
    r = request(hive.addr, "GET", "/v1/events/" + "a" * 70_000, key=hive.key)
    _no_5xx_json(r, "70 KB URI", failures, must_4xx=True)
    r = request(hive.addr, "GET", "/", raw_head=b"GARBAGE\x00\xff\r\n\r\n")
    _no_5xx_json(r, "not HTTP", failures, must_4xx=True)
    r = request(hive.addr, "POST", "/v1/events/export", raw_head=(
        f"POST /v1/events/export HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {hive.key}\r\n"
        "content-length: 5\r\ncontent-length: 7\r\n\r\n{}").encode())
    _no_5xx_json(r, "two content-lengths", failures, must_4xx=True)
    expect(not failures, "\n".join(failures[:10]))


def otlp_route(hive: Hive, path: str):
    failures: list = []
    for name, body in BAD_PROTOBUF:
        r = request(hive.addr, "POST", path, body=body, key=hive.key, content_type="application/x-protobuf")
        _no_5xx_json(r, f"protobuf {name}", failures, must_4xx=True)
    for body in BAD_OTLP_JSON:
        r = api(hive.addr, "POST", path, hive.key, body)
        # A record of another signal is just absent (0 spans): only no 5xx.
        _no_5xx_json(r, f"JSON {json.dumps(body)[:60]}", failures)
    for name, body, ctype, hdrs in MALFORMED:
        r = request(hive.addr, "POST", path, body=body, key=hive.key, content_type=ctype, headers=hdrs)
        _no_5xx_json(r, name, failures, must_4xx=True)
    for ctype in ["text/plain", "application/xml", "image/png"]:
        r = request(hive.addr, "POST", path, body=b"\x00\x01", key=hive.key, content_type=ctype)
        _no_5xx_json(r, f"content type {ctype}", failures, must_4xx=True)
    expect(not failures, "\n".join(failures[:10]))


def get_routes(hive: Hive, ids: dict):
    failures: list = []
    for method, path in GET_CASES:
        r = request(hive.addr, method, _path(path, ids), key=hive.key)
        _no_5xx_json(r, f"{method} {path[:80]}", failures)
    expect(not failures, "\n".join(failures[:10]))
    return f"{len(GET_CASES)} requests"


def dashboard_routes(hive: Hive, ids: dict):
    d = hive.dashboard()
    failures: list = []
    for path in DASHBOARD_GETS:
        r = d.get(_path(path, ids))
        if r.status >= 500:
            failures.append(f"GET {path[:80]}: {r.status} {r.text()[:200]}")
    alert = ids["ALERT"]
    chart = ids["CHART"]
    forms = [
        ("/keys", {"name": "k\u0000", "scope": "root"}),
        ("/keys", {"name": "x" * 5000, "scope": "ingest", "project": "\u0000"}),
        ("/keys/%00/revoke", {}),
        ("/views", {"name": "v", "query": "%00&&==&f=metadata.%00", "page": "\u0000"}),
        ("/views/%00/delete", {}),
        ("/charts", {"name": "", "query": "metric=%00&agg=mode"}),
        ("/charts", {"name": "x" * 300, "query": "metric=metrics.latency"}),
        (f"/charts/{chart}/update", {"name": "", "query": "bucket=decade"}),
        ("/charts/%00/update", {"name": "n", "query": ""}),
        ("/charts/%00/delete", {}),
        ("/alerts", {"name": "a", "kind": "threshold", "threshold": "abc", "frequency": "hourly"}),
        ("/alerts", {"name": "a", "kind": "x", "threshold": "1", "frequency": "99999999999999999999m"}),
        ("/alerts", {"name": "a", "threshold": "1", "frequency": "hourly", "webhook": "ftp://x"}),
        (f"/alerts/{alert}/edit", {"name": "", "threshold": "NaN", "frequency": "1y"}),
        ("/alerts/%00/edit", {"name": "a"}),
        (f"/alerts/{alert}/explode", {}),
        ("/alerts/%00/pause", {}),
    ]
    for path, fields in forms:
        r = d.post(path, fields)
        if r.status >= 500:
            failures.append(f"POST {path}: {r.status} {r.text()[:200]}")
    for path in ["/keys", "/views", "/charts", "/alerts", "/logout", "/login"]:
        for body in [b"\xff\xfe=\xfd", b"csrf=" + d.csrf().encode() + b"&name=%FF%FE&scope=%00",
                     b"=" * 10000, b"&&&&"]:
            r = d.post(path, body)
            if r.status >= 500:
                failures.append(f"POST {path} {body[:30]!r}: {r.status} {r.text()[:200]}")
    expect(not failures, "\n".join(failures[:10]))
    return f"{len(DASHBOARD_GETS)} pages, {len(forms) + 24} forms"


def run(report):
    hive = Hive(args=["--alert-tick-ms", "3600000"]).start()
    try:
        ids = report.check("corpus: seed data", seed, hive)
        if ids is None:
            return
        before = snapshot(hive)
        for method, path in JSON_ROUTES:
            report.check(f"corpus: {method} {path.replace(SID, '{id}')}", json_route, hive, ids, method, path)
        report.check("corpus: wrong types name the field", typed_cases, hive, ids)
        for path in OTLP_PATHS:
            report.check(f"corpus: POST {path} (bad protobuf and JSON)", otlp_route, hive, path)
        report.check("corpus: oversized bodies, gzip bombs, heads and URIs", oversized, hive, ids)
        report.check("corpus: path parameters and query strings", get_routes, hive, ids)
        report.check("corpus: dashboard pages and forms", dashboard_routes, hive, ids)

        def unchanged():
            after = snapshot(hive)
            expect(after == before, "stored data changed:\n" + _diff(before, after))
            expect(hive.alive(), "the server died")
            expect("panicked" not in hive.log(), "the server log shows a panic")
        report.check("corpus: stored data unchanged, no panic", unchanged)
    finally:
        hive.stop()


def _diff(a: str, b: str) -> str:
    import difflib
    a_lines = json.dumps(json.loads(a), indent=1, sort_keys=True).splitlines()
    b_lines = json.dumps(json.loads(b), indent=1, sort_keys=True).splitlines()
    return "\n".join(list(difflib.unified_diff(a_lines, b_lines, lineterm="", n=2))[:60])


