"""Project isolation for every key scope, auth and CSRF, slow clients and
the connection cap (HTTP and gRPC ports), and webhook destinations
refused at save time (loopback only: no webhook is ever aimed elsewhere)."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid

from corpus import snapshot
from lib import Hive, api, expect, is_json_error, ok_json, otlp_span, request, span_ids

# --- isolation -------------------------------------------------------------


def _seed_project(hive: Hive, name: str) -> dict:
    k = hive.key
    sid = str(uuid.uuid4())
    ok_json(api(hive.addr, "POST", "/session/start", k,
                {"session": {"session_id": sid, "project": name, "metadata": {"owner": name}}}), "seed")
    eid = str(uuid.uuid4())
    ok_json(api(hive.addr, "POST", "/events", k,
                {"event": {"event_id": eid, "session_id": sid, "event_type": "model", "event_name": "llm",
                           "metadata": {"secret": f"{name}-only"}, "metrics": {"latency": 3}}}), "seed event")
    ok_json(api(hive.addr, "PUT", "/events", k, {"event_id": eid, "feedback": {"rating": 1}}), "enrich")
    chart = ok_json(api(hive.addr, "POST", "/v1/charts", k,
                        {"name": f"{name} chart", "metric": "metrics.latency", "func": "avg",
                         "project": name}), "chart")["data"]["id"]
    alert = ok_json(api(hive.addr, "POST", "/v1/alerts", k,
                        {"name": f"{name} alert", "threshold": 99, "frequency": "daily", "project": name,
                         "query": {"aggregation": "count"}}), "alert")["data"]["id"]
    return {"session": sid, "event": eid, "chart": chart, "alert": alert}


def isolation_setup(hive: Hive) -> dict:
    env = {"A": _seed_project(hive, "iso-a"), "B": _seed_project(hive, "iso-b"), "keys": {}}
    for scope in ["ingest", "read_write"]:
        for p in ["A", "B"]:
            env["keys"][(scope, p)] = hive.create_key(f"iso-{p.lower()}", scope)
    env["keys"][("admin", None)] = hive.create_key(None, "admin")
    env["B_id"] = _project_id(hive, "iso-b")
    return env


def _reads(b: dict) -> list:
    """Every read path, aimed at project B's objects."""
    return [
        ("GET", f"/v1/events/{b['event']}", None),
        ("GET", f"/v1/events/{b['event']}?include=span", None),
        ("GET", f"/v1/events/{b['event']}?project=iso-b", None),
        ("GET", f"/v1/events/{b['event']}/history", None),
        ("GET", f"/v1/sessions/{b['session']}", None),
        ("GET", f"/v1/sessions/{b['session']}?project=iso-b", None),
        ("POST", "/v1/events/export", {"project": "iso-b", "limit": 100}),
        ("POST", "/v1/events/export", {"filters": [{"field": "metadata.secret", "operator": "is",
                                                    "value": "iso-b-only", "type": "string"}]}),
        ("POST", "/v1/events/search", {"project": "iso-b"}),
        ("GET", "/v1/events/schema?project=iso-b", None),
        ("GET", "/v1/events/chart?project=iso-b&aggregation=count", None),
        ("POST", "/v1/events/chart", {"project": "iso-b", "aggregation": "count"}),
        ("GET", "/v1/charts?project=iso-b", None),
        ("GET", f"/v1/charts/{b['chart']}", None),
        ("GET", "/v1/alerts?project=iso-b", None),
        ("GET", f"/v1/alerts/{b['alert']}", None),
        ("GET", f"/v1/alerts/{b['alert']}/history", None),
        ("GET", "/v1/projects", None),
        ("GET", "/v1/keys", None),
        ("GET", "/v1/stats", None),
    ]


def _writes(b: dict, key_b_id: str) -> list:
    """Every write path, aimed at project B's objects."""
    trace, span, _ = span_ids(0xB0B, 7)
    return [
        ("PUT", "/events", {"event_id": b["event"], "metadata": {"pwned": 1}}),
        ("PUT", "/events", {"event_id": b["session"], "metadata": {"pwned": 1}, "project": "iso-b"}),
        ("PUT", f"/v1/events/{b['event']}", {"metadata": {"pwned": 1}}),
        ("POST", "/session/start", {"session": {"session_id": b["session"], "project": "iso-b",
                                                "metadata": {"pwned": 1}}}),
        ("POST", "/v1/sessions", {"session_id": b["session"], "project": "iso-b", "metadata": {"pwned": 1}}),
        ("POST", "/events", {"event": {"event_id": b["event"], "session_id": b["session"],
                                       "project": "iso-b", "metadata": {"pwned": 1}}}),
        ("POST", "/events", {"event": {"session_id": b["session"], "project": "iso-b",
                                       "event_name": "intruder"}}),
        ("POST", "/events/batch", {"events": [{"session_id": b["session"], "event_name": "intruder"}],
                                   "project": "iso-b"}),
        ("POST", "/events/batch", {"events": [{"session_id": b["session"], "event_name": "intruder",
                                               "project": "iso-b"}]}),
        ("POST", f"/session/{b['session']}/traces", {"logs": [{"event_name": "intruder"}]}),
        ("POST", f"/v1/sessions/{b['session']}/events/batch", {"events": [{"event_name": "intruder"}]}),
        ("POST", "/v1/traces", otlp_span(b["session"], trace, span, {"honeyhive_metadata.pwned": 1},
                                         project="iso-b")),
        ("PUT", f"/v1/charts/{b['chart']}", {"name": "pwned"}),
        ("PATCH", f"/v1/charts/{b['chart']}", {"name": "pwned"}),
        ("DELETE", f"/v1/charts/{b['chart']}", None),
        ("POST", "/v1/charts", {"name": "intruder", "project": "iso-b"}),
        ("PUT", f"/v1/alerts/{b['alert']}", {"name": "pwned", "threshold": 1}),
        ("PATCH", f"/v1/alerts/{b['alert']}", {"name": "pwned"}),
        ("POST", f"/v1/alerts/{b['alert']}/pause", None),
        ("POST", f"/v1/alerts/{b['alert']}/mute", None),
        ("DELETE", f"/v1/alerts/{b['alert']}", None),
        ("POST", "/v1/alerts", {"name": "intruder", "threshold": 1, "project": "iso-b"}),
        ("DELETE", f"/v1/keys/{key_b_id}", None),
        ("POST", "/v1/keys", {"name": "intruder", "scope": "admin"}),
        ("POST", "/v1/keys", {"name": "intruder", "scope": "read_write", "project": "iso-b"}),
        ("POST", "/v1/projects", {"name": "iso-intruder"}),
    ]


def _b_view(hive: Hive) -> str:
    """Project B's data (through the admin key), and the key list."""
    snap = json.loads(snapshot(hive))
    return json.dumps({"b": snap.get("iso-b"), "keys": snap["keys"],
                       "projects": [p for p in snap["projects"] if p != "iso-a"]}, sort_keys=True)


def isolation_reads(hive: Hive, env: dict, scope: str):
    key_id, key = env["keys"][(scope, "A")]
    b = env["B"]
    leaks = []
    for method, path, body in _reads(b):
        r = api(hive.addr, method, path, key, body)
        text = r.text()
        if r.status >= 500:
            leaks.append(f"{method} {path}: {r.status}")
        # An ingest key reads nothing (it may list its own project).
        if scope == "ingest" and r.status != 403 and path != "/v1/projects":
            leaks.append(f"{method} {path}: an ingest key read ({r.status}), want 403")
        # The ids are the caller's own guess; what must not show is B's
        # content (another project may hold objects of the same ids).
        for secret in ["iso-b-only", "iso-b chart", "iso-b alert", env["B_id"]]:
            if secret in text and secret not in path and secret not in json.dumps(body):
                leaks.append(f"{method} {path}: {r.status} shows {secret!r}")
        if r.status == 200 and path == "/v1/projects":
            names = [p["name"] for p in r.json()["projects"]]
            if names != ["iso-a"]:
                leaks.append(f"/v1/projects lists {names}")
    expect(not leaks, "\n".join(leaks[:12]))
    return f"{len(_reads(b))} reads"


def isolation_writes(hive: Hive, env: dict, scope: str):
    key_id, key = env["keys"][(scope, "A")]
    b = env["B"]
    key_b_id = env["keys"][("read_write", "B")][0]
    before = _b_view(hive)
    bad = []
    for method, path, body in _writes(b, key_b_id):
        r = api(hive.addr, method, path, key, body)
        if r.status >= 500:
            bad.append(f"{method} {path}: {r.status} {r.text()[:100]}")
        elif r.status >= 400:
            ok, why = is_json_error(r)
            if not ok:
                bad.append(f"{method} {path}: {r.status} {why}")
    after = _b_view(hive)
    if after != before:
        from corpus import _diff
        bad.append("project B changed:\n" + _diff(before, after))
    expect(not bad, "\n".join(bad[:12]))
    return f"{len(_writes(b, key_b_id))} writes"


def admin_reaches_every_project(hive: Hive, env: dict):
    _, key = env["keys"][("admin", None)]
    b = env["B"]
    for method, path, body in _reads(b)[:6]:
        r = api(hive.addr, method, path, key, body)
        expect(r.status == 200, f"admin {method} {path}: {r.status} {r.text()[:200]}")
    r = ok_json(api(hive.addr, "POST", "/v1/events/export", key, {"project": "iso-b"}), "export B")
    expect(any(e["event_id"] == b["event"] for e in r["events"]), "admin export of B misses its event")


def project_keys_write_their_own(hive: Hive, env: dict):
    """The matrix is not vacuous: A's keys do write to A."""
    for scope in ["ingest", "read_write"]:
        _, key = env["keys"][(scope, "A")]
        a = env["A"]
        ok_json(api(hive.addr, "PUT", "/events", key, {"event_id": a["event"], "metadata": {scope: 1}}),
                f"{scope} enriches A")
    ev = ok_json(api(hive.addr, "GET", f"/v1/events/{a['event']}?project=iso-a", hive.key), "read A")["event"]
    expect(ev["metadata"].get("ingest") == 1 and ev["metadata"].get("read_write") == 1,
           f"A's own keys did not write: {ev['metadata']}")
    _, rw = env["keys"][("read_write", "A")]
    r = ok_json(api(hive.addr, "POST", "/v1/events/export", rw, {}), "rw export")
    expect(r["events"] and all(e.get("project_id") != _project_id(hive, "iso-b") for e in r["events"]),
           "read_write export of its own project")


def _project_id(hive: Hive, name: str) -> str:
    ps = ok_json(api(hive.addr, "GET", "/v1/projects", hive.key), "projects")["projects"]
    return next(p["id"] for p in ps if p["name"] == name)


# --- auth and CSRF --------------------------------------------------------------

API_ROUTES = [
    ("POST", "/session/start"), ("PUT", "/events"), ("POST", "/events"), ("POST", "/events/batch"),
    ("POST", "/v1/traces"), ("POST", "/v1/logs"), ("POST", "/v1/metrics"), ("POST", "/v1/events/export"),
    ("POST", "/v1/events/search"), ("GET", "/v1/events/schema"), ("GET", "/v1/events/chart"),
    ("GET", "/v1/charts"), ("POST", "/v1/charts"), ("GET", "/v1/events/x"), ("GET", "/v1/events/x/history"),
    ("GET", "/v1/sessions/x"), ("GET", "/v1/alerts"), ("POST", "/v1/alerts"), ("GET", "/v1/projects"),
    ("POST", "/v1/projects"), ("GET", "/v1/keys"), ("POST", "/v1/keys"), ("DELETE", "/v1/keys/x"),
    ("GET", "/v1/stats"),
]


def refused_without_a_valid_key(hive: Hive, revoked: str):
    bad = []
    credentials = {
        "no key": {},
        "bad key": {"authorization": "Bearer hh_not-a-key"},
        "empty bearer": {"authorization": "Bearer "},
        "another scheme": {"authorization": f"Basic {hive.key}"},
        "revoked key": {"authorization": f"Bearer {revoked}"},
        "very long key": {"authorization": "Bearer hh_" + "x" * 10000},
    }
    for what, hdrs in credentials.items():
        for method, path in API_ROUTES:
            r = request(hive.addr, method, path, body=b"{}", headers=hdrs)
            if r.status != 401:
                bad.append(f"{what}: {method} {path}: {r.status}, want 401")
            elif not is_json_error(r)[0]:
                bad.append(f"{what}: {method} {path}: {is_json_error(r)[1]}")
    r = request(hive.addr, "GET", "/healthz")
    if r.status != 200:
        bad.append(f"/healthz without a key: {r.status}")
    expect(not bad, "\n".join(bad[:12]))
    return f"{len(credentials) * len(API_ROUTES)} requests"


def key_forms(hive: Hive):
    """Bearer in any case, and a bare key, are accepted (documented)."""
    for value in [f"Bearer {hive.key}", f"bearer {hive.key}", f"BEARER {hive.key}", hive.key]:
        r = request(hive.addr, "GET", "/v1/projects", headers={"authorization": value})
        expect(r.status == 200, f"authorization {value[:8]}...: {r.status}")


def revoked_over_the_api_at_once(hive: Hive):
    kid, secret = hive.create_key("auth", "read_write")
    expect(api(hive.addr, "POST", "/v1/events/export", secret, {}).status == 200, "the new key works")
    ok_json(api(hive.addr, "DELETE", f"/v1/keys/{kid}", hive.key), "revoke")
    r = api(hive.addr, "POST", "/v1/events/export", secret, {})
    expect(r.status == 401, f"a key revoked over the API still works: {r.status}")
    return secret


def revoked_from_the_cli(hive: Hive):
    out, err = hive.cli("keys", "create", "--project", "auth", "--scope", "read-write")
    secret = out.strip().split()[-1]
    kid = err.split()[2]
    expect(api(hive.addr, "POST", "/v1/events/export", secret, {}).status == 200, "the new key works")
    _, said = hive.cli("keys", "revoke", kid)
    r = api(hive.addr, "POST", "/v1/events/export", secret, {})
    expect(r.status == 401, f"a key revoked with hive keys revoke still works: {r.status} ({said.strip()})")


def dashboard_without_login(hive: Hive):
    bad = []
    for path in ["/sessions", "/events", "/keys", "/views", "/charts", "/alerts", "/sessions/x"]:
        r = request(hive.addr, "GET", path)
        if r.status not in (302, 303, 307) or r.header("location") != "/login":
            bad.append(f"GET {path}: {r.status} {r.header('location')}")
        r = request(hive.addr, "GET", path, headers={"cookie": "hive_session=forged"})
        if r.status not in (302, 303, 307):
            bad.append(f"GET {path} forged cookie: {r.status}")
    # An API key is not a dashboard credential.
    r = request(hive.addr, "GET", "/keys", key=hive.key)
    if r.status not in (302, 303, 307):
        bad.append(f"GET /keys with an API key: {r.status}")
    expect(not bad, "\n".join(bad))


def csrf_forms(hive: Hive):
    d = hive.dashboard()
    before = snapshot(hive)
    bad = []
    forms = [("/keys", {"name": "csrf-key", "scope": "admin"}),
             ("/views", {"name": "csrf-view", "query": ""}),
             ("/charts", {"name": "csrf-chart", "query": "metric=metrics.latency"}),
             ("/alerts", {"name": "csrf-alert", "kind": "threshold", "threshold": "1", "frequency": "hourly"}),
             ("/logout", {})]
    other = Hive.dashboard(hive)  # another session: its token is not this one's
    for path, fields in forms:
        for what, kw in [("no token", {"csrf": None}), ("wrong token", {"csrf": "x" * 43}),
                         ("empty token", {"csrf": ""}), ("another session's token", {"csrf": other.csrf()})]:
            r = d.post(path, fields, csrf=kw["csrf"] if kw["csrf"] is not None else False)
            if r.status != 403:
                bad.append(f"POST {path} {what}: {r.status}, want 403")
        # Not logged in at all.
        r = request(hive.addr, "POST", path, body=b"name=x", content_type="application/x-www-form-urlencoded")
        if r.status < 300 or r.status >= 500:
            bad.append(f"POST {path} without a session: {r.status}")
        # A cross-site request with this session's cookie and a valid token.
        r = d.post(path, fields, headers={"origin": "http://evil.example", "sec-fetch-site": "cross-site"})
        if r.status != 403:
            bad.append(f"POST {path} from another origin: {r.status}, want 403")
    after = snapshot(hive)
    if after != before:
        from corpus import _diff
        bad.append("a refused form changed something:\n" + _diff(before, after))
    r = d.get("/views")
    if "csrf-view" in r.text():
        bad.append("a view was saved by a refused form")
    # The same form with its token and this origin works (the check is not vacuous).
    r = d.post("/views", {"name": "csrf-ok", "query": ""}, headers={"origin": f"http://{hive.addr}"})
    if r.status not in (302, 303):
        bad.append(f"a valid form from this origin: {r.status}")
    expect(not bad, "\n".join(bad[:12]))


def login_links(hive: Hive):
    out, _ = hive.cli("login", "--addr", hive.addr)
    token = out.strip().split("token=")[1]
    # Opening the link alone (a preview) does not use it up.
    r = request(hive.addr, "GET", f"/login?token={token}")
    expect(r.status == 200 and "set-cookie" not in r.headers, f"GET the link: {r.status} {r.headers}")
    body = f"token={token}"
    r = request(hive.addr, "POST", "/login", body=body, content_type="application/x-www-form-urlencoded")
    expect("hive_session=" in (r.header("set-cookie") or ""), f"sign in: {r.status}")
    cookie = r.header("set-cookie")
    expect("HttpOnly" in cookie and "SameSite=Strict" in cookie, f"cookie flags: {cookie}")
    r = request(hive.addr, "POST", "/login", body=body, content_type="application/x-www-form-urlencoded")
    expect("hive_session=" not in (r.header("set-cookie") or ""), "a login link worked twice")
    r = request(hive.addr, "POST", "/login", body="token=forged",
                content_type="application/x-www-form-urlencoded")
    expect("hive_session=" not in (r.header("set-cookie") or ""), "a forged token signed in")


# --- slow clients ---------------------------------------------------------------


def _closed_within(s: socket.socket, seconds: float) -> bool:
    s.settimeout(seconds)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if not s.recv(4096):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def _connect(addr: str) -> socket.socket:
    host, port = addr.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


def slow_head(hive: Hive):
    started = time.monotonic()
    s = _connect(hive.addr)
    s.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
    time.sleep(0.4)
    s.sendall(b"x-slow: 1")
    expect(_closed_within(s, 6), "a half-sent head is still open")
    took = time.monotonic() - started
    expect(took < 3.5, f"closed after {took:.1f} s (header timeout 1 s)")
    return f"closed after {took:.1f} s"


def stalled_body(hive: Hive):
    started = time.monotonic()
    s = _connect(hive.addr)
    s.sendall(f"POST /v1/events/export HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {hive.key}\r\n"
              f"content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"fi".encode())
    from lib import _read_response
    s.settimeout(10)
    r = _read_response(s)
    took = time.monotonic() - started
    expect(r.status == 408 and is_json_error(r)[0], f"{r.status} {r.text()[:200]}")
    expect(took < 3.5, f"answered after {took:.1f} s (body timeout 1 s)")
    # A write that stalls is refused and leaves nothing.
    s = _connect(hive.addr)
    sid = str(uuid.uuid4())
    body = json.dumps({"session": {"session_id": sid}}).encode()
    s.sendall(f"POST /session/start HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {hive.key}\r\n"
              f"content-type: application/json\r\ncontent-length: {len(body) + 10}\r\n\r\n".encode() + body)
    s.settimeout(10)
    r = _read_response(s)
    expect(r.status == 408, f"a stalled write: {r.status}")
    r = api(hive.addr, "GET", f"/v1/events/{sid}", hive.key)
    expect(r.status == 404, f"a stalled write was kept: {r.status}")
    return f"408 after {took:.1f} s"


def idle_keep_alive(hive: Hive):
    s = _connect(hive.addr)
    s.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
    s.settimeout(5)
    expect(s.recv(4096).startswith(b"HTTP/1.1 200"), "no answer")
    started = time.monotonic()
    expect(_closed_within(s, 8), "an idle keep-alive connection is still open")
    took = time.monotonic() - started
    expect(1.8 <= took < 5, f"closed after {took:.1f} s (idle timeout 2 s)")
    return f"closed after {took:.1f} s"


def connection_cap(hive: Hive, cap: int):
    held = [_connect(hive.addr) for _ in range(cap)]
    # Each holds its slot by sending a head slowly (within the header timeout).
    time.sleep(0.3)
    extra = _connect(hive.addr)
    extra.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    extra.settimeout(0.7)
    try:
        served = bool(extra.recv(64))
    except socket.timeout:
        served = False
    expect(not served, f"a connection past the cap of {cap} was served at once")
    held.pop().close()
    extra.settimeout(10)
    data = extra.recv(64)
    expect(data.startswith(b"HTTP/1.1 200"), f"the waiting connection was not served: {data!r}")
    for s in held:
        s.close()


def _h2_preface() -> bytes:
    return b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def grpc_slow_clients(hive: Hive):
    addr = hive.grpc_addr
    expect(addr, "no gRPC address")
    started = time.monotonic()
    s = _connect(addr)
    s.sendall(b"PRI * HTTP/2.0\r\n")
    expect(_closed_within(s, 6), "a half-sent HTTP/2 preface is still open")
    took = time.monotonic() - started
    expect(took < 4, f"closed after {took:.1f} s (header timeout 1 s, then 1 s to go away)")
    # A connection that says hello and never calls.
    s = _connect(addr)
    s.sendall(_h2_preface())
    expect(_closed_within(s, 6), "a gRPC connection without a call is still open")
    return f"closed after {took:.1f} s"


def grpc_connection_cap(hive: Hive, cap: int):
    addr = hive.grpc_addr
    held = [_connect(addr) for _ in range(cap)]
    time.sleep(0.3)
    extra = _connect(addr)
    extra.sendall(_h2_preface())
    extra.settimeout(0.7)
    try:
        served = bool(extra.recv(64))
    except socket.timeout:
        served = False
    expect(not served, f"a gRPC connection past the cap of {cap} was served at once")
    held.pop().close()
    extra.settimeout(10)
    data = extra.recv(64)
    expect(len(data) >= 9 and data[3] == 4, f"no SETTINGS frame once a slot was free: {data!r}")
    for s in held:
        s.close()


# --- webhook destinations ------------------------------------------------------


class Listener:
    """A TCP listener on 127.0.0.1 that counts the connections it gets."""

    def __init__(self, host: str = "127.0.0.1"):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
                self.hits += 1
                c.close()
            except OSError:
                continue

    def close(self):
        self.stop.set()
        self.sock.close()


def ssrf_refused_at_save(hive: Hive):
    listeners = [Listener("127.0.0.1")]
    try:
        listeners.append(Listener("::1"))
    except OSError:
        pass  # no IPv6 loopback here
    p4 = listeners[0].port
    targets = [f"http://127.0.0.1:{p4}/hook", f"http://localhost:{p4}/hook", f"https://127.0.0.1:{p4}/",
               f"http://127.0.0.1:{p4}@127.0.0.1:{p4}/", "http://127.0.0.1/", "http://LOCALHOST./x"]
    if len(listeners) > 1:
        targets.append(f"http://[::1]:{listeners[1].port}/hook")
    bad = []
    alert = ok_json(api(hive.addr, "POST", "/v1/alerts", hive.key,
                        {"name": "ssrf", "threshold": 1, "frequency": "hourly", "query": {"aggregation": "count"}}),
                    "a rule without a webhook")["data"]["id"]
    d = hive.dashboard()
    try:
        for url in targets:
            for method, path, body in [
                ("POST", "/v1/alerts", {"name": "ssrf", "threshold": 1, "webhook": {"url": url}}),
                ("PUT", f"/v1/alerts/{alert}", {"name": "ssrf", "threshold": 1, "webhook": {"url": url}}),
                ("PATCH", f"/v1/alerts/{alert}", {"webhook": {"url": url, "slack": True}}),
            ]:
                r = api(hive.addr, method, path, hive.key, body)
                if r.status != 400 or "webhook.url" not in r.text():
                    bad.append(f"{method} {path} {url}: {r.status} {r.text()[:150]}")
            # The dashboard shows the form again with the error (no redirect).
            r = d.post("/alerts", {"name": "ssrf", "kind": "threshold", "comparison": "above", "threshold": "1",
                                   "frequency": "hourly", "webhook": url})
            if r.status in (302, 303) or r.status >= 500:
                bad.append(f"dashboard /alerts {url}: {r.status}")
            r = d.post(f"/alerts/{alert}/edit", {"name": "ssrf", "kind": "threshold", "comparison": "above",
                                                  "threshold": "1", "frequency": "hourly", "webhook": url})
            if r.status in (302, 303) or r.status >= 500:
                bad.append(f"dashboard edit {url}: {r.status}")
        rules = ok_json(api(hive.addr, "GET", "/v1/alerts", hive.key), "rules")["data"]
        for rule in rules:
            if rule.get("webhook"):
                bad.append(f"a rule was saved with a webhook: {rule['webhook']}")
        # Evaluate now (an evaluation of a rule with a webhook would POST).
        api(hive.addr, "POST", f"/v1/alerts/{alert}/evaluate", hive.key)
        time.sleep(0.5)
        hits = sum(listener.hits for listener in listeners)
        if hits:
            bad.append(f"the server connected to a loopback listener {hits} times")
    finally:
        for listener in listeners:
            listener.close()
    expect(not bad, "\n".join(bad[:12]))
    return f"{len(targets)} loopback destinations, 5 ways each"


def run(report):
    hive = Hive(args=["--alert-tick-ms", "3600000"]).start()
    try:
        env = report.check("isolation: two projects, keys of every scope", isolation_setup, hive)
        if env:
            for scope in ["ingest", "read_write"]:
                report.check(f"isolation: {scope} key of A reads nothing of B", isolation_reads, hive, env, scope)
                report.check(f"isolation: {scope} key of A changes nothing of B", isolation_writes, hive, env, scope)
            report.check("isolation: project keys write their own project", project_keys_write_their_own, hive, env)
            report.check("isolation: an admin key reaches every project", admin_reaches_every_project, hive, env)
        revoked = report.check("auth: a key revoked over the API is refused at once", revoked_over_the_api_at_once,
                               hive)
        report.check("auth: no, bad, revoked and malformed keys get 401 on every route",
                     refused_without_a_valid_key, hive, revoked or "hh_x")
        report.check("auth: Bearer in any case and a bare key", key_forms, hive)
        report.check("auth: a key revoked with hive keys revoke is refused at once", revoked_from_the_cli, hive)
        report.check("auth: dashboard pages need a session", dashboard_without_login, hive)
        report.check("auth: login links work once, cookies HttpOnly and SameSite=Strict", login_links, hive)
        report.check("csrf: forms without, with a wrong or another session's token, or cross-site",
                     csrf_forms, hive)
        report.check("ssrf: loopback webhooks refused at save time, never connected", ssrf_refused_at_save, hive)
    finally:
        hive.stop()

    slow = Hive(args=["--header-timeout-secs", "1", "--body-timeout-secs", "1", "--idle-timeout-secs", "2"],
                grpc=True).start()
    try:
        report.check("slow clients: half a head is cut off", slow_head, slow)
        report.check("slow clients: a stalled body is answered 408", stalled_body, slow)
        report.check("slow clients: an idle keep-alive connection is closed", idle_keep_alive, slow)
        report.check("slow clients: gRPC half preface and no call are cut off", grpc_slow_clients, slow)
    finally:
        slow.stop()
    # The caps, with timeouts long enough that held connections stay.
    cap = 4
    capped = Hive(args=["--header-timeout-secs", "10", "--idle-timeout-secs", "10", "--max-connections", str(cap)],
                  grpc=True).start()
    try:
        report.check("slow clients: connections past the cap wait", connection_cap, capped, cap)
        report.check("slow clients: gRPC connections past the cap wait", grpc_connection_cap, capped, cap)
    finally:
        capped.stop()
