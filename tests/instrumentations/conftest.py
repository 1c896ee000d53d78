"""Fixtures of the instrumentation suite (run by run.sh, which starts one
``hive serve`` and exports ``HIVE_URL``, ``HIVE_GRPC`` and ``HIVE_KEY``).

* ``stand_in``: the OpenAI stand-in on 127.0.0.1 for the whole run.
* ``run_scenario``: runs ``scenarios.py NAME`` in a fresh interpreter
  against it and hive; returns the scenario's result and its stderr.
* ``session_events``: a session's events through the export API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import stand_in_openai  # noqa: E402

SCENARIO_TIMEOUT = 120


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        pytest.fail(f"{name} is not set: run the suite with tests/instrumentations/run.sh")
    return value


@pytest.fixture(scope="session")
def hive() -> Dict[str, str]:
    return {"url": _env("HIVE_URL"), "grpc": _env("HIVE_GRPC"), "key": _env("HIVE_KEY")}


@pytest.fixture(scope="session")
def stand_in():
    server, base_url = stand_in_openai.start()
    server.base_url = base_url  # type: ignore[attr-defined]
    yield server
    server.shutdown()


@pytest.fixture
def run_scenario(hive: Dict[str, str], stand_in) -> Callable[..., Dict[str, Any]]:
    def run(name: str, session_id: str = "") -> Dict[str, Any]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACELOOP_", "OPENAI_"))}
        env.update(
            HIVE_URL=hive["url"],
            HIVE_GRPC=hive["grpc"],
            HIVE_KEY=hive["key"],
            OPENAI_BASE_URL=stand_in.base_url,
            SESSION_ID=session_id,
            NO_PROXY="127.0.0.1,localhost",
        )
        before = len(stand_in.requests)
        proc = subprocess.run(
            [sys.executable, str(HERE / "scenarios.py"), name],
            env=env, capture_output=True, text=True, timeout=SCENARIO_TIMEOUT,
        )
        assert proc.returncode == 0, f"{name} failed:\n{proc.stderr[-4000:]}"
        lines = proc.stdout.strip().splitlines()
        assert lines, f"{name} printed nothing; stderr:\n{proc.stderr[-4000:]}"
        result = json.loads(lines[-1])
        result["stderr"] = proc.stderr
        result["model_requests"] = stand_in.requests[before:]
        return result

    return run


def post(hive: Dict[str, str], path: str, body: Any) -> Any:
    req = urllib.request.Request(
        hive["url"] + path,
        data=json.dumps(body).encode(),
        headers={"authorization": f"Bearer {hive['key']}", "content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def get(hive: Dict[str, str], path: str) -> Any:
    req = urllib.request.Request(hive["url"] + path, headers={"authorization": f"Bearer {hive['key']}"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


@pytest.fixture
def raw_span(hive: Dict[str, str]) -> Callable[[str], Dict[str, Any]]:
    """The raw span of an event (`GET /v1/events/{id}?include=span`)."""
    def read(event_id: str) -> Dict[str, Any]:
        body = get(hive, f"/v1/events/{event_id}?include=span")
        return body.get("span") or body.get("event", {}).get("span") or {}

    return read


@pytest.fixture
def session_events(hive: Dict[str, str]) -> Callable[[str], List[Dict[str, Any]]]:
    def read(session_id: str) -> List[Dict[str, Any]]:
        body = post(hive, "/v1/events/export", {
            "filters": [{"field": "session_id", "operator": "is", "value": session_id, "type": "string"}],
            "limit": 1000,
        })
        return body["events"]

    return read
