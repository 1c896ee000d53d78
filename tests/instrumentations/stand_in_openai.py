"""A stand-in for OpenAI's chat completions API on 127.0.0.1, with canned
answers for a two-step tool-using agent:

1. a request with ``tools`` and no ``tool`` message yet is answered with a
   call of ``get_weather`` for Paris (``finish_reason: tool_calls``);
2. a request that carries the tool's result is answered with the final text;
3. anything else gets a short greeting.

Token counts are fixed per answer (``USAGE``) so tests can assert them.
``POST /v1/chat/completions`` and ``/chat/completions``; every request body
is kept in ``server.requests``.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Tuple

MODEL = "gpt-4o-mini"
TOOL_CALL_ID = "call_weather_1"
TOOL_ARGUMENTS = '{"city": "Paris"}'
FINAL_TEXT = "It is sunny in Paris, 22 degrees."
GREETING = "Hello!"
USAGE = {
    "tool_call": {"prompt_tokens": 30, "completion_tokens": 8, "total_tokens": 38},
    "final": {"prompt_tokens": 45, "completion_tokens": 10, "total_tokens": 55},
    "greeting": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
}


def answer(request: Dict[str, Any], seq: int) -> Dict[str, Any]:
    messages = request.get("messages") or []
    if any(m.get("role") == "tool" for m in messages):
        kind = "final"
        message: Dict[str, Any] = {"role": "assistant", "content": FINAL_TEXT}
        finish = "stop"
    elif request.get("tools"):
        kind = "tool_call"
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [{
                "id": TOOL_CALL_ID,
                "type": "function",
                "function": {"name": "get_weather", "arguments": TOOL_ARGUMENTS},
            }],
        }
        finish = "tool_calls"
    else:
        kind = "greeting"
        message = {"role": "assistant", "content": GREETING}
        finish = "stop"
    return {
        "id": f"chatcmpl-standin{seq:04d}",
        "object": "chat.completion",
        "created": 1700000000,
        "model": request.get("model", MODEL),
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": dict(USAGE[kind]),
        "system_fingerprint": "fp_standin",
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: Dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.split("?", 1)[0] not in ("/v1/chat/completions", "/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
            return
        request = json.loads(raw or b"{}")
        if request.get("stream"):
            self._send(400, {"error": {"message": "the stand-in does not stream", "type": "invalid_request_error"}})
            return
        server = self.server
        with server.lock:  # type: ignore[attr-defined]
            server.requests.append(request)  # type: ignore[attr-defined]
            seq = len(server.requests)  # type: ignore[attr-defined]
        self._send(200, answer(request, seq))


def start() -> Tuple[ThreadingHTTPServer, str]:
    """Start on a free loopback port; returns the server and its base URL
    (``http://127.0.0.1:PORT/v1``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.lock = threading.Lock()  # type: ignore[attr-defined]
    server.requests = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, name="stand-in-openai", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"
