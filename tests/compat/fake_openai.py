"""A tiny, deterministic stand-in for the OpenAI chat-completions endpoint.

Answers ``POST /v1/chat/completions`` (and ``/chat/completions``) with an
OpenAI-shaped body whose reply is ``"fake reply to: <last user message>"``.

Token counts are deterministic so tests can predict them:
  prompt_tokens     = sum over messages of (words in content + 3)
  completion_tokens = words in the reply
  total_tokens      = prompt_tokens + completion_tokens

Usable as a module (``start()`` / ``usage_for()``) or standalone
(``python fake_openai.py`` prints ``listening on http://127.0.0.1:PORT``).
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Tuple

FIXED_CREATED = 1700000000
PATHS = ("/v1/chat/completions", "/chat/completions")


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return " ".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict)
        )
    return str(content)


def reply_for(messages: List[Dict[str, Any]]) -> str:
    last_user = ""
    for m in messages:
        if m.get("role") == "user":
            last_user = _content_text(m.get("content"))
    return f"fake reply to: {last_user}"


def usage_for(messages: List[Dict[str, Any]]) -> Dict[str, int]:
    prompt = sum(len(_content_text(m.get("content")).split()) + 3 for m in messages)
    completion = len(reply_for(messages).split())
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion_for(request: Dict[str, Any], seq: int) -> Dict[str, Any]:
    messages = request.get("messages") or []
    return {
        "id": f"chatcmpl-fake{seq:06d}",
        "object": "chat.completion",
        "created": FIXED_CREATED,
        "model": request.get("model", "gpt-3.5-turbo"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply_for(messages)},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage_for(messages),
        "system_fingerprint": "fp_fake",
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
        path = self.path.split("?", 1)[0]
        if path not in PATHS:
            self._send(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})
            return
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            self._send(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
            return
        server = self.server
        with server.lock:  # type: ignore[attr-defined]
            server.seq += 1  # type: ignore[attr-defined]
            seq = server.seq  # type: ignore[attr-defined]
            server.requests.append(request)  # type: ignore[attr-defined]
        self._send(200, completion_for(request, seq))

    def do_GET(self) -> None:  # noqa: N802
        self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})


def start() -> Tuple[ThreadingHTTPServer, int]:
    """Start the server on 127.0.0.1 (free port) in a daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.lock = threading.Lock()  # type: ignore[attr-defined]
    server.seq = 0  # type: ignore[attr-defined]
    server.requests = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, name="fake-openai", daemon=True).start()
    return server, server.server_address[1]


if __name__ == "__main__":
    srv, port = start()
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        srv.shutdown()
        sys.exit(0)
