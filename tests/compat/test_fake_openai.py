"""The OpenAI stand-in answers both documented paths with an OpenAI-shaped body."""

from __future__ import annotations

import openai
import pytest

import fake_openai
from compat_helpers import http


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/chat/completions"])
def test_fake_openai_paths(fake_openai_port, path):
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "Hello!"}]
    r = http("POST", f"http://127.0.0.1:{fake_openai_port}{path}", "test",
             {"model": "gpt-4o-mini", "messages": messages})
    assert r.status == 200, f"POST {path} -> {r.status}"
    body = r.body
    assert body["object"] == "chat.completion" and body["model"] == "gpt-4o-mini" and body["id"]
    assert isinstance(body["created"], int)
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "fake reply to: Hello!"}
    assert choice["finish_reason"] == "stop"
    assert body["usage"] == fake_openai.usage_for(messages)
    u = body["usage"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]


def test_fake_openai_with_openai_client(fake_openai_port):
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{fake_openai_port}/v1", api_key="test")
    resp = client.chat.completions.create(model="gpt-3.5-turbo",
                                          messages=[{"role": "user", "content": "Tell me more"}])
    assert resp.choices[0].message.content == "fake reply to: Tell me more"
    assert resp.usage.total_tokens == 12
    missing = http("POST", f"http://127.0.0.1:{fake_openai_port}/v1/embeddings", "test", {})
    assert missing.status == 404
