"""HoneyHive's model-event routes through the official SDK's generated client
(`createModelEventLegacy`, `createModelEventBatchLegacy`): the model's fields
land where span mapping puts them, and the session's rollups count them."""

from __future__ import annotations

from honeyhive._generated.api_config import APIConfig
from honeyhive._generated.models import PostModelEventBatchRequest, PostModelEventRequest
from honeyhive._generated.services.Events_service import (
    createModelEventBatchLegacy,
    createModelEventLegacy,
)

from conftest import sid_filter

PROJECT = "compat-model-events"
SID = "5e000000-0000-4000-8000-00000000c0de"


def test_sdk_client_creates_model_events(hive):
    r = hive.request("POST", "/session/start", {"session": {"session_id": SID, "project": PROJECT}})
    assert r.status == 200, r.raw[:300]
    cfg = APIConfig(base_path=hive.url, access_token=hive.admin_key)
    one = createModelEventLegacy(cfg, data=PostModelEventRequest.model_validate({"model_event": {
        "project": PROJECT, "session_id": SID, "event_name": "answer",
        "model": "gpt-4o-mini", "provider": "openai", "hyperparameters": {"temperature": 0},
        "messages": [{"role": "user", "content": "What is 2 + 2?"}],
        "response": {"role": "assistant", "content": "4"},
        "usage": {"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 13},
        "cost": 0.0002, "duration": 321.0,
    }}))
    assert one.success and one.event_id
    batch = createModelEventBatchLegacy(cfg, data=PostModelEventBatchRequest.model_validate({
        "model_events": [
            {"project": PROJECT, "session_id": SID, "model": "gpt-4o", "response": {"content": "a"},
             "usage": {"total_tokens": 20}},
            {"project": PROJECT, "session_id": SID, "model": "gpt-4o", "error": "timeout"},
        ],
    }))
    assert batch.success and len(batch.event_ids) == 2

    events = {e["event_id"]: e for e in hive.export([sid_filter(SID)], project=PROJECT)}
    assert set(events) == {SID, one.event_id, *batch.event_ids}, sorted(events)
    e = events[one.event_id]
    assert e["event_type"] == "model" and e["event_name"] == "answer"
    assert e["config"] == {"model": "gpt-4o-mini", "provider": "openai", "hyperparameters": {"temperature": 0}}
    assert e["inputs"] == {"chat_history": [{"role": "user", "content": "What is 2 + 2?"}]}
    assert e["outputs"] == {"role": "assistant", "content": "4"}
    assert e["metadata"]["total_tokens"] == 13 and e["metadata"]["cost"] == 0.0002
    assert e["duration"] == 321.0
    session = events[SID]
    assert session["metadata"]["num_model_events"] == 3, session["metadata"]
    assert session["metadata"]["total_tokens"] == 33, session["metadata"]
    assert events[batch.event_ids[1]]["error"] == "timeout"
