"""Python instrumentations against ``hive serve``: each runs the same
two-step weather agent (a tool call, then the answer) through the real
``openai`` client, and the run is read back through the export API: the
conversation, the tool call and its result, tokens, model, the event tree
and the event types."""

from __future__ import annotations

import json
import uuid
from typing import Any, Dict, List

import pytest

import stand_in_openai as standin

SYSTEM = "You answer weather questions briefly."
QUESTION = "What is the weather in Paris?"
TOOL_RESULT = "sunny, 22 degrees in Paris"


def trace_session(trace_id: str) -> str:
    """The session Hive gives spans that name none: their trace id as a UUID."""
    t = trace_id
    return f"{t[0:8]}-{t[8:12]}-{t[12:16]}-{t[16:20]}-{t[20:32]}"


def arguments(call: Dict[str, Any]) -> Dict[str, Any]:
    args = call["function"]["arguments"]
    return json.loads(args) if isinstance(args, str) else args


def assert_weather_run(
    events: List[Dict[str, Any]], session_id: str, *, tool_name: str, tool_result_id: bool = True
) -> Dict[str, Any]:
    """The run's events: one session, the agent under it, two model calls
    and the tool under the agent, with the conversation and tokens. Returns
    them by role."""
    by_type: Dict[str, List[Dict[str, Any]]] = {}
    for e in events:
        by_type.setdefault(e["event_type"], []).append(e)
    summary = [(e["event_type"], e["event_name"]) for e in events]
    assert sorted(by_type) == ["chain", "model", "session", "tool"], summary
    assert len(events) == 5, summary

    (session,) = by_type["session"]
    assert session["event_id"] == session_id
    md = session["metadata"]
    assert (md["num_events"], md["num_model_events"]) == (4, 2), md
    assert (md["prompt_tokens"], md["completion_tokens"], md["total_tokens"]) == (75, 18, 93), md

    (agent,) = by_type["chain"]
    assert agent["event_name"] == "weather-agent"
    assert agent["parent_id"] == session_id

    first, second = sorted(by_type["model"], key=lambda e: (e["start_time"], e["event_id"]))
    (tool,) = by_type["tool"]
    for e in (first, second, tool):
        assert e["parent_id"] == agent["event_id"], (e["event_name"], e["parent_id"])
        assert e["session_id"] == session_id
    assert tool["event_name"] == tool_name

    for e, usage in ((first, standin.USAGE["tool_call"]), (second, standin.USAGE["final"])):
        assert e["config"]["model"] == "gpt-4o-mini", e["config"]
        m = e["metadata"]
        assert (m["prompt_tokens"], m["completion_tokens"], m["total_tokens"]) == (
            usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]), m

    # The first call: the question in, a call of get_weather out.
    history = first["inputs"]["chat_history"]
    assert [(m["role"], m.get("content")) for m in history] == [("system", SYSTEM), ("user", QUESTION)], history
    (call,) = first["outputs"]["tool_calls"]
    assert call["id"] == standin.TOOL_CALL_ID
    assert call["function"]["name"] == "get_weather"
    assert arguments(call) == {"city": "Paris"}

    # The second call: the tool call and its result in, the answer out.
    history = second["inputs"]["chat_history"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "tool"], history
    assert history[2]["tool_calls"][0]["function"]["name"] == "get_weather"
    if tool_result_id:
        assert history[3]["tool_call_id"] == standin.TOOL_CALL_ID
    assert history[3]["content"] == TOOL_RESULT
    assert second["outputs"]["role"] == "assistant"
    assert second["outputs"]["content"] == standin.FINAL_TEXT
    return {"session": session, "agent": agent, "first": first, "second": second, "tool": tool}


def assert_ran(result: Dict[str, Any]) -> None:
    assert result["answer"] == standin.FINAL_TEXT
    assert len(result["model_requests"]) == 2
    # Exporters log their failures (a 404, a refused export) on stderr.
    assert "Failed to export" not in result["stderr"], result["stderr"][-2000:]
    assert "error" not in result["stderr"].lower(), result["stderr"][-2000:]


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_opentelemetry_openai_v2(transport, run_scenario, session_events):
    """Content as GenAI log events (over HTTP alone, over gRPC with span
    attributes too), folded into the model events; metrics answered."""
    result = run_scenario(f"openai_v2_{transport}")
    assert_ran(result)
    sid = trace_session(result["trace_id"])
    run = assert_weather_run(session_events(sid), sid, tool_name="execute_tool get_weather")
    assert run["first"]["outputs"]["finish_reason"] == "tool_calls"
    assert run["second"]["outputs"]["finish_reason"] == "stop"
    assert run["first"]["config"]["provider"] == "openai"
    assert run["first"]["metadata"]["response_id"].startswith("chatcmpl-standin")
    assert run["agent"]["metadata"]["agent_name"] == "weather-agent"
    assert run["tool"]["inputs"] == {"city": "Paris"}
    assert run["tool"]["outputs"] == {"result": TOOL_RESULT}
    # Folded into the conversation, not kept a second time as log entries.
    for e in (run["first"], run["second"]):
        assert "otel_logs" not in e["metadata"], e["metadata"]


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_openinference(transport, run_scenario, session_events):
    sid = str(uuid.uuid4())
    result = run_scenario(f"openinference_{transport}", sid)
    assert_ran(result)
    run = assert_weather_run(session_events(sid), sid, tool_name="get_weather")
    for e in (run["agent"], run["first"], run["second"], run["tool"]):
        assert e["user_properties"] == {"user_id": "user-7"}, e["event_name"]
        assert e["metadata"]["tenant"] == "acme", e["event_name"]
    assert run["first"]["config"]["tools"][0]["function"]["name"] == "get_weather"
    assert run["first"]["metadata"]["finish_reasons"] == ["tool_calls"]
    # The answer is the message, not the raw response (`output.value`) again.
    assert set(run["first"]["outputs"]) == {"role", "tool_calls"}, run["first"]["outputs"]
    assert set(run["second"]["outputs"]) <= {"role", "content", "finish_reason"}, run["second"]["outputs"]
    assert run["tool"]["inputs"] == {"city": "Paris"}


def test_traceloop(run_scenario, session_events):
    """Traceloop's workflow, tool and LLM spans, its association
    properties, and the Python log records it exports as OTLP logs, kept on
    the event of the span they were logged in."""
    sid = str(uuid.uuid4())
    result = run_scenario("traceloop", sid)
    assert_ran(result)
    run = assert_weather_run(session_events(sid), sid, tool_name="get_weather")
    assert run["first"]["event_name"] == "openai.chat"
    assert run["first"]["config"]["tools"][0]["name"] == "get_weather"
    assert run["agent"]["outputs"]["answer"] == standin.FINAL_TEXT
    assert run["tool"]["inputs"]["kwargs"] == {"city": "Paris"}
    assert run["tool"]["outputs"] == {"value": TOOL_RESULT}
    for e in (run["agent"], run["first"], run["tool"]):
        assert e["user_properties"] == {"user_id": "user-7"}, e["event_name"]
    logs = run["tool"]["metadata"]["otel_logs"]
    warnings = [entry for entry in logs.values() if "weather service slow for Paris" in entry["body"]]
    assert len(warnings) == 1, logs
    assert warnings[0]["severity"] == "WARN"
    assert warnings[0]["scope"] == "weather"
    assert warnings[0]["attributes"]["code.function.name"] == "weather_tool"


def test_traceloop_events(run_scenario, session_events, raw_span):
    """Traceloop with `use_attributes=False`: the conversation as the older
    GenAI log events (gen_ai.system.message, gen_ai.user.message,
    gen_ai.assistant.message, gen_ai.tool.message, gen_ai.choice) through the
    application's logger provider, folded into the model events."""
    sid = str(uuid.uuid4())
    result = run_scenario("traceloop_events", sid)
    assert_ran(result)
    # Its gen_ai.tool.message carries no id of the call it answers.
    run = assert_weather_run(session_events(sid), sid, tool_name="get_weather", tool_result_id=False)
    assert run["first"]["outputs"]["finish_reason"] == "tool_calls"
    assert run["second"]["outputs"]["finish_reason"] == "stop"
    for e in (run["first"], run["second"]):
        assert "otel_logs" not in e["metadata"], e["metadata"]
        # No content in the span's attributes: it all came as log records.
        attributes = raw_span(e["event_id"])["attributes"]
        assert attributes["gen_ai.request.model"] == "gpt-4o-mini", attributes
        assert not [k for k in attributes if k.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.prompt"))], attributes
