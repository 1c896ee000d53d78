"""What the reliability suite's checks share: `hive serve` processes on
127.0.0.1 (started, killed with SIGKILL, restarted on the same data), a
small HTTP client over raw sockets (so malformed requests reach the server
as sent), the command line, dashboard logins, and the check registry that
prints the final `N passed, N failed` line.

Python's standard library only. Every address is 127.0.0.1 (or ::1 and
localhost for the webhook destinations that must be refused)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from dataclasses import dataclass, field

HIVE_BIN = os.environ.get("HIVE_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "target", "debug", "hive")


class CheckFailed(AssertionError):
    pass


def expect(cond, message: str):
    if not cond:
        raise CheckFailed(message)


# --- the check registry -------------------------------------------------

@dataclass
class Result:
    name: str
    ok: bool
    seconds: float
    detail: str = ""


@dataclass
class Report:
    results: list = field(default_factory=list)
    only: str | None = None

    def check(self, name: str, fn, *args, **kwargs):
        """Run one named check: it passes unless it raises."""
        if self.only and self.only not in name:
            return None
        started = time.monotonic()
        try:
            out = fn(*args, **kwargs)
            ok, detail = True, ""
        except Exception as e:  # noqa: BLE001: any failure is the check's
            out = None
            ok = False
            detail = f"{type(e).__name__}: {e}"
            if not isinstance(e, CheckFailed):
                detail += "\n" + traceback.format_exc(limit=4)
        took = time.monotonic() - started
        self.results.append(Result(name, ok, took, detail))
        mark = "ok  " if ok else "FAIL"
        print(f"{mark} {name} ({took:.1f} s)", flush=True)
        if not ok:
            for line in detail.splitlines()[:30]:
                print(f"       {line}", flush=True)
        return out

    def summary(self) -> int:
        passed = sum(r.ok for r in self.results)
        failed = len(self.results) - passed
        if failed:
            print("\nfailed:")
            for r in self.results:
                if not r.ok:
                    print(f"  {r.name}")
        # The servers' data directories are evidence when a check fails,
        # and litter otherwise.
        if failed:
            for d in OWN_DIRS:
                print(f"server data kept in {d}")
        else:
            for d in OWN_DIRS:
                shutil.rmtree(d, ignore_errors=True)
        print(f"\n{passed} passed, {failed} failed", flush=True)
        return 1 if failed else 0


# --- HTTP over raw sockets ----------------------------------------------

@dataclass
class Response:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def _read_response(sock: socket.socket) -> Response:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a response head: {buf[:200]!r}")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        if k == "set-cookie" and k in headers:
            headers[k] += "\n" + v.strip()
        else:
            headers[k] = v.strip()
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(rest) < n:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        body = rest[:n]
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += sock.recv(65536)
            size_line, rest = rest.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
            body += rest[:size]
            rest = rest[size + 2:]
            if size == 0:
                break
    else:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        body = rest
    return Response(status, headers, body)


def request(addr: str, method: str, path: str, body: bytes | str | None = None,
            headers: dict | None = None, key: str | None = None,
            content_type: str | None = "application/json", timeout: float = 30,
            raw_head: bytes | None = None) -> Response:
    """One request on its own connection (`connection: close`)."""
    if isinstance(body, str):
        body = body.encode()
    host, port = addr.rsplit(":", 1)
    hdrs = {"host": addr, "connection": "close"}
    if key is not None:
        hdrs["authorization"] = f"Bearer {key}"
    if body is not None:
        if content_type is not None:
            hdrs["content-type"] = content_type
        hdrs["content-length"] = str(len(body))
    for k, v in (headers or {}).items():
        if v is None:
            hdrs.pop(k.lower(), None)
        else:
            hdrs[k.lower()] = v
    if raw_head is None:
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        raw_head = head.encode("utf-8", "surrogateescape")
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as s:
        s.sendall(raw_head + (body or b""))
        return _read_response(s)


def api(addr: str, method: str, path: str, key: str | None, body=None, **kw) -> Response:
    """A JSON request (a dict or list body is serialised)."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    return request(addr, method, path, body=body, key=key, **kw)


def ok_json(resp: Response, what: str):
    expect(200 <= resp.status < 300, f"{what}: {resp.status} {resp.text()[:300]}")
    return resp.json()


def is_json_error(resp: Response) -> tuple[bool, str]:
    """Whether a response is the API's JSON error shape; the reason if not."""
    try:
        v = resp.json()
    except Exception:  # noqa: BLE001
        return False, f"not JSON: {resp.body[:200]!r}"
    if not isinstance(v, dict):
        return False, f"not an object: {v!r:.200}"
    err = v.get("error")
    if not isinstance(err, dict) or not err.get("code") or not err.get("message"):
        return False, f"no error.code/message: {v!r:.200}"
    if v.get("success") is not False or not v.get("message"):
        return False, f"no success:false/message: {v!r:.200}"
    return True, ""


def wait_for(pred, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise CheckFailed(f"timed out after {timeout} s waiting for {what} (last: {last!r:.200})")


# --- hive serve ---------------------------------------------------------

# The data directories the suite's servers made (removed at the end when
# every check passed).
OWN_DIRS: list[str] = []


class Hive:
    """A `hive serve` on 127.0.0.1 with its data in `data_dir`."""

    def __init__(self, data_dir: str | None = None, args: list | None = None, grpc: bool = False):
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="hive-reliability-")
        if self.own_dir:
            OWN_DIRS.append(self.data_dir)
        self.args = list(args or [])
        self.grpc = grpc
        self.proc = None
        self.addr = None
        self.grpc_addr = None
        self.key = None
        self.login_url = None
        self.log_path = os.path.join(self.data_dir, "server.log")

    def start(self) -> "Hive":
        cmd = [HIVE_BIN, "serve", "--data-dir", self.data_dir, "--addr", "127.0.0.1:0",
               "--grpc-addr", "127.0.0.1:0" if self.grpc else "off",
               "--durability", "normal", "--log", "warn", *self.args]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, errors="replace")
        log = open(self.log_path, "a", encoding="utf-8")
        deadline = time.monotonic() + 60
        for line in self.proc.stderr:
            log.write(line)
            s = line.strip()
            if s.startswith("HH_API_KEY="):
                self.key = s.split("=", 1)[1]
            if s.startswith("dashboard: "):
                self.login_url = s.split(" ", 1)[1]
            m = re.match(r"listening on http://(\S+) \((?:OTLP/gRPC on (\S+)\)|OTLP/gRPC off\))", s)
            if m:
                self.addr = m.group(1)
                self.grpc_addr = m.group(2)
                break
            if time.monotonic() > deadline:
                break
        if not self.addr:
            self.proc.kill()
            raise CheckFailed(f"hive serve did not start: {open(self.log_path).read()[-2000:]}")

        def drain(stream=self.proc.stderr, out=log):
            for line in stream:
                out.write(line)
            out.close()
        threading.Thread(target=drain, daemon=True).start()
        return self

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return open(self.log_path, encoding="utf-8", errors="replace").read()
        except OSError:
            return ""

    def cli(self, *args: str) -> tuple[str, str]:
        out = subprocess.run([HIVE_BIN, *args, "--data-dir", self.data_dir],
                             capture_output=True, text=True, timeout=60)
        expect(out.returncode == 0, f"hive {' '.join(args)}: {out.stderr[-500:]}")
        return out.stdout, out.stderr

    def create_key(self, project: str | None, scope: str) -> tuple[str, str]:
        """A key made over the API with the admin key: (id, secret)."""
        body = {"name": f"{scope}-{project}", "scope": scope}
        if project:
            body["project"] = project
        v = ok_json(api(self.addr, "POST", "/v1/keys", self.key, body), "create a key")
        return v["key"]["id"], v["secret"]

    def dashboard(self) -> "Dashboard":
        url = self.cli("login", "--addr", self.addr)
        token = None
        for text in url:
            m = re.search(r"token=([A-Za-z0-9_\-]+)", text)
            if m:
                token = m.group(1)
        expect(token, f"hive login printed no token: {url}")
        resp = request(self.addr, "POST", "/login", body=f"token={token}",
                       content_type="application/x-www-form-urlencoded")
        cookie = resp.header("set-cookie") or ""
        m = re.search(r"hive_session=([^;]+)", cookie)
        expect(m, f"no session cookie from /login: {resp.status} {resp.headers}")
        return Dashboard(self.addr, m.group(1))


class Dashboard:
    """A logged-in dashboard session."""

    def __init__(self, addr: str, cookie: str):
        self.addr = addr
        self.cookie = cookie
        self._csrf = None

    def get(self, path: str, **kw) -> Response:
        headers = {"cookie": f"hive_session={self.cookie}", **kw.pop("headers", {})}
        return request(self.addr, "GET", path, headers=headers, **kw)

    def csrf(self) -> str:
        if self._csrf is None:
            page = self.get("/keys").text()
            m = re.search(r'name="csrf" value="([^"]+)"', page)
            expect(m, "no CSRF token on the keys page")
            self._csrf = m.group(1)
        return self._csrf

    def post(self, path: str, fields: dict | bytes, csrf: str | None | bool = True,
             headers: dict | None = None) -> Response:
        if isinstance(fields, dict):
            fields = dict(fields)
            if csrf is True:
                fields["csrf"] = self.csrf()
            elif isinstance(csrf, str):
                fields["csrf"] = csrf
            body = urllib.parse.urlencode(fields).encode()
        else:
            body = fields
        hdrs = {"cookie": f"hive_session={self.cookie}", **(headers or {})}
        return request(self.addr, "POST", path, body=body, headers=hdrs,
                       content_type="application/x-www-form-urlencoded")


# --- OTLP/JSON ----------------------------------------------------------

def span_ids(trace_hi: int, seq: int) -> tuple[str, str, str]:
    """A span's trace id, span id and the event id hive gives it."""
    trace = f"{trace_hi:016x}{seq:016x}"
    span = f"{(trace_hi << 24 | seq) & 0xFFFFFFFFFFFFFFFF:016x}"
    h = trace[:16] + span
    event = f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
    return trace, span, event


def otlp_span(session: str, trace: str, span: str, attrs: dict, project: str | None = None,
              name: str = "work") -> dict:
    attributes = [{"key": "honeyhive.session_id", "value": {"stringValue": session}}]
    if project:
        attributes.append({"key": "honeyhive.project", "value": {"stringValue": project}})
    for k, v in attrs.items():
        if isinstance(v, bool):
            val = {"boolValue": v}
        elif isinstance(v, int):
            val = {"intValue": str(v)}
        else:
            val = {"stringValue": str(v)}
        attributes.append({"key": k, "value": val})
    return {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {"name": "reliability"}, "spans": [{
        "traceId": trace, "spanId": span, "parentSpanId": None, "name": name,
        "kind": "SPAN_KIND_INTERNAL",
        "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000001000000",
        "attributes": attributes, "events": [], "status": {"code": "STATUS_CODE_UNSET"}}]}]}]}


def log(msg: str):
    print(f"     {msg}", file=sys.stderr, flush=True)
