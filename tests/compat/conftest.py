"""Fixtures of the compatibility suite.

* ``fake_openai``: one deterministic OpenAI stand-in for the whole run.
* ``hive``: a fresh ``hive serve`` (own data dir, free port, gRPC off) per test,
  stopped with SIGTERM afterwards; exposes a small client for the read API.
  With ``HIVE_TEST_CLICKHOUSE=http://user:password@host:port`` (set by
  ``run.sh --clickhouse``) it keeps its data in ClickHouse instead, in a
  database of its own.
* ``run_example``: runs ``examples/<name>.py`` in a fresh interpreter with the
  official SDK pointed at that server and returns the parsed EXAMPLE_RESULT.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
EXAMPLES = HERE / "examples"
sys.path.insert(0, str(HERE))

import fake_openai  # noqa: E402
from compat_helpers import Response, http  # noqa: E402,F401

HIVE_BIN = os.environ.get("HIVE_BIN") or str(REPO / "target" / "debug" / "hive")
PYTHON = os.environ.get("COMPAT_PYTHON") or sys.executable
EXAMPLE_TIMEOUT = 60
START_TIMEOUT = 30
# A ClickHouse server (no database) to keep each test's data in, or "".
CLICKHOUSE = os.environ.get("HIVE_TEST_CLICKHOUSE", "").rstrip("/")
BINARY_WAIT = 180  # the binary may be briefly missing while it is rebuilt

KEY_LINE = re.compile(r"^\s+HH_API_KEY=(\S+)\s*$")
LISTEN_LINE = re.compile(r"^listening on (http://127\.0\.0\.1:\d+)\b(?: \(OTLP/gRPC on (127\.0\.0\.1:\d+)\))?")

# Variables the SDK (or OpenAI client) reads that must not leak in from the
# environment running the suite.
_SCRUB_PREFIXES = ("HH_", "HONEYHIVE_", "OPENAI_", "OTEL_")
_SCRUB_NAMES = {"SESSION_NAME", "SESSION_ID", "RUN_ID", "DATASET_ID", "DATAPOINT_ID"}


# --------------------------------------------------------------------------
# hive serve


def _wait_for_binary() -> str:
    deadline = time.monotonic() + BINARY_WAIT
    while True:
        if os.path.isfile(HIVE_BIN) and os.access(HIVE_BIN, os.X_OK):
            return HIVE_BIN
        if time.monotonic() > deadline:
            pytest.fail(f"hive binary not found at {HIVE_BIN} (set HIVE_BIN or build with `cargo build -p hive`)")
        time.sleep(1)


class HiveServer:
    """One ``hive serve`` process and a client for its HTTP API."""

    _databases = 0

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.store_args: List[str] = []
        if CLICKHOUSE:
            # A database per server: tests share the ClickHouse server only.
            HiveServer._databases += 1
            db = f"compat_{os.getpid()}_{HiveServer._databases}"
            self.store_args = ["--clickhouse", f"{CLICKHOUSE}/{db}"]
        self.url: str = ""
        self.grpc_addr: str = ""
        self.admin_key: str = ""
        self.stderr_lines: List[str] = []
        self._proc: Optional[subprocess.Popen] = None
        self._drain: Optional[threading.Thread] = None

    # -- lifecycle --------------------------------------------------------

    def start(self) -> "HiveServer":
        last_error = ""
        for _attempt in range(3):  # retried only if the binary vanished mid-start
            binary = _wait_for_binary()
            try:
                self._proc = subprocess.Popen(
                    [binary, "serve", "--data-dir", str(self.data_dir),
                     "--addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", *self.store_args],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                    bufsize=1,
                )
            except (FileNotFoundError, PermissionError, OSError) as e:
                last_error = repr(e)
                time.sleep(1)
                continue
            break
        else:
            pytest.fail(f"could not start {HIVE_BIN}: {last_error}")

        assert self._proc is not None and self._proc.stderr is not None
        result: Dict[str, str] = {}
        ready = threading.Event()

        def drain() -> None:
            assert self._proc is not None and self._proc.stderr is not None
            for line in self._proc.stderr:
                line = line.rstrip("\n")
                self.stderr_lines.append(line)
                if not ready.is_set():
                    m = KEY_LINE.match(line)
                    if m and "key" not in result:
                        result["key"] = m.group(1)
                    m = LISTEN_LINE.match(line)
                    if m:
                        result["url"] = m.group(1)
                        result["grpc"] = m.group(2) or ""
                        ready.set()
            ready.set()  # EOF: the process ended

        self._drain = threading.Thread(target=drain, name="hive-stderr", daemon=True)
        self._drain.start()
        if not ready.wait(START_TIMEOUT) or "url" not in result:
            self.stop()
            pytest.fail("hive serve did not report 'listening on' within "
                        f"{START_TIMEOUT}s; stderr:\n" + "\n".join(self.stderr_lines[-40:]))
        if "key" not in result:
            self.stop()
            pytest.fail("hive serve printed no admin HH_API_KEY on first start; stderr:\n"
                        + "\n".join(self.stderr_lines[-40:]))
        self.url = result["url"]
        self.grpc_addr = result["grpc"]
        self.admin_key = result["key"]
        return self

    def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._drain is not None:
            self._drain.join(timeout=5)
        self._proc = None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- API --------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, key: Optional[str] = "admin") -> Response:
        if key == "admin":
            key = self.admin_key
        return http(method, self.url + path, key, body)

    def export_raw(self, filters: List[Dict[str, Any]], *, project: Optional[str] = None,
                   key: Optional[str] = "admin", level: Optional[str] = None,
                   limit: int = 1000, page: int = 1) -> Response:
        body: Dict[str, Any] = {"filters": filters, "limit": limit, "page": page}
        if project is not None:
            body["project"] = project
        if level is not None:
            body["level"] = level
        return self.request("POST", "/v1/events/export", body, key=key)

    def export(self, filters: List[Dict[str, Any]], **kw: Any) -> List[Dict[str, Any]]:
        r = self.export_raw(filters, **kw)
        assert r.status == 200, f"POST /v1/events/export {filters} -> {r.status} {r.raw[:500]!r}"
        body = r.body
        assert isinstance(body, dict) and isinstance(body.get("events"), list), \
            f"export response has no 'events' list: {r.raw[:500]!r}"
        if len(body["events"]) < kw.get("limit", 1000):
            assert body.get("totalEvents") == len(body["events"]), \
                f"totalEvents={body.get('totalEvents')} but {len(body['events'])} events returned (single page)"
        assert body.get("count") == body.get("totalEvents"), \
            f"export 'count' ({body.get('count')}) != 'totalEvents' ({body.get('totalEvents')})"
        return body["events"]

    def session_events(self, session_id: str, **kw: Any) -> List[Dict[str, Any]]:
        return self.export([sid_filter(session_id)], **kw)

    def get_event(self, event_id: str, key: Optional[str] = "admin") -> Response:
        return self.request("GET", f"/v1/events/{event_id}", key=key)

    def get_session(self, session_id: str, key: Optional[str] = "admin") -> Response:
        return self.request("GET", f"/v1/sessions/{session_id}", key=key)

    def history(self, event_id: str) -> List[Dict[str, Any]]:
        r = self.request("GET", f"/v1/events/{event_id}/history")
        assert r.status == 200, f"GET /v1/events/{event_id}/history -> {r.status} {r.raw[:300]!r}"
        assert r.body.get("event_id") == event_id, f"history is for {r.body.get('event_id')!r}, not {event_id!r}"
        return r.body["history"]

    def create_key(self, name: str, scope: str, project: str) -> Tuple[Dict[str, Any], str]:
        r = self.request("POST", "/v1/keys", {"name": name, "scope": scope, "project": project})
        assert r.status in (200, 201), f"POST /v1/keys {name}/{scope}/{project} -> {r.status} {r.raw[:300]!r}"
        assert r.body["secret"].startswith("hh_"), f"key secret {r.body['secret']!r} lacks the hh_ prefix"
        return r.body["key"], r.body["secret"]


def sid_filter(session_id: str) -> Dict[str, Any]:
    return {"field": "session_id", "operator": "is", "value": session_id, "type": "string"}


# --------------------------------------------------------------------------
# Examples


@dataclass
class ExampleRun:
    name: str
    returncode: int
    stdout: str
    stderr: str
    result: Dict[str, Any] = field(default_factory=dict)

    @property
    def session_ids(self) -> Dict[str, str]:
        return self.result.get("session_ids", {})


def _example_env(hive: HiveServer, fake_port: int, project: str, api_key: Optional[str],
                 extra: Optional[Dict[str, str]]) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_SCRUB_PREFIXES) and k not in _SCRUB_NAMES}
    env.update({
        "HH_API_URL": hive.url,
        "HH_API_KEY": api_key or hive.admin_key,
        "HH_PROJECT": project,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{fake_port}/v1",
        "OPENAI_API_KEY": "test",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    if extra:
        env.update(extra)
    return env


def run_example_process(hive: HiveServer, fake_port: int, name: str, *, project: str = "compat",
                        api_key: Optional[str] = None, extra_env: Optional[Dict[str, str]] = None,
                        expect_success: bool = True) -> ExampleRun:
    script = EXAMPLES / f"{name}.py"
    assert script.is_file(), f"no example {script}"
    try:
        proc = subprocess.run(
            [PYTHON, str(script)],
            cwd=str(EXAMPLES),
            env=_example_env(hive, fake_port, project, api_key, extra_env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=EXAMPLE_TIMEOUT,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"example {name} did not finish within {EXAMPLE_TIMEOUT}s; "
                    f"stderr tail:\n{(e.stderr or '')[-2000:] if isinstance(e.stderr, str) else e.stderr!r}")
    run = ExampleRun(name, proc.returncode, proc.stdout, proc.stderr)
    for line in proc.stdout.splitlines():
        if line.startswith("EXAMPLE_RESULT "):
            run.result = json.loads(line[len("EXAMPLE_RESULT "):])
    if expect_success:
        assert proc.returncode == 0, (
            f"example {name} exited with {proc.returncode}\n--- stdout ---\n{proc.stdout[-2000:]}"
            f"\n--- stderr ---\n{proc.stderr[-4000:]}")
        assert run.session_ids, f"example {name} printed no EXAMPLE_RESULT with session ids:\n{proc.stdout[-2000:]}"
        assert hive.alive(), "hive serve died while the example ran:\n" + "\n".join(hive.stderr_lines[-40:])
    return run


# --------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def fake_openai_server():
    server, port = fake_openai.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def fake_openai_port(fake_openai_server) -> int:
    return fake_openai_server.server_address[1]


@pytest.fixture
def hive():
    data_root = Path(tempfile.mkdtemp(prefix="hive-compat-"))
    server = HiveServer(data_root / "data").start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data_root, ignore_errors=True)


@pytest.fixture
def run_example(hive, fake_openai_port):
    def run(name: str, **kw: Any) -> ExampleRun:
        return run_example_process(hive, fake_openai_port, name, **kw)
    return run
