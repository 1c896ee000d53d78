"""Enrichments overview (b01..b05) run with the official SDK against hive serve."""

from __future__ import annotations

import fake_openai
from compat_helpers import (
    check_session_export,
    contains,
    named,
    non_session,
    one_named,
    typed_equal,
    user_keys,
)


def test_b01_tracer_enrich_session(hive, run_example):
    run = run_example("b01_tracer_enrich_session", project="compat")
    sid = run.session_ids["tracer"]
    s = check_session_export(hive.session_events(sid), sid)
    assert s["event_name"] == "b01_tracer_enrich_session", \
        f"session_name defaults to the script name, got {s['event_name']!r}"
    # positional dict = metadata
    typed_equal(user_keys(s["metadata"]),
                {"tenant_id": "acme_corp", "user_tier": "premium", "app_version": "2.1.0"}, "session.metadata")

    other = run.session_ids["specific"]
    o = check_session_export(hive.session_events(other), other)
    typed_equal(user_keys(o["metadata"]), {"completed": True}, "sess_abc123.metadata")
    assert "completed" not in s["metadata"], "the by-id enrichment must not touch the tracer's session"


def test_b02_global_vs_instance(hive, run_example):
    run = run_example("b02_global_vs_instance")
    sid = run.session_ids["tracer"]
    events = hive.session_events(sid)
    s = check_session_export(events, sid)
    typed_equal(user_keys(s["metadata"]), {"tenant_id": "acme"}, "session.metadata")
    spans = non_session(events)
    # the documented top-level enrich_span calls run outside any span: nothing is recorded for them
    assert [e["event_name"] for e in spans] == ["__main__.handle_request"], \
        f"expected only the handle_request span, got {[e['event_name'] for e in spans]}"
    e = spans[0]
    assert e["event_type"] == "tool"
    assert e["parent_id"] == sid
    contains(e["metadata"], {"user_id": "user_123", "via": "instance"}, "handle_request.metadata")
    typed_equal(e["outputs"], {"result": "done"}, "handle_request.outputs")
    assert "tenant_id" not in e["metadata"], "session enrichment must not be copied onto span events"


def test_b03_invocation_patterns(hive, run_example):
    run = run_example("b03_invocation_patterns")
    sid = run.session_ids["tracer"]
    events = hive.session_events(sid)
    check_session_export(events, sid)
    spans = non_session(events)
    assert len(spans) == 4, f"expected 4 span events, got {[e['event_name'] for e in spans]}"
    for e in spans:
        assert e["parent_id"] == sid, f"{e['event_name']}: root span parent_id {e['parent_id']!r}"
        assert e["event_type"] == "tool"

    for name in ("__main__.pattern_simple_dict", "__main__.pattern_kwargs"):
        e = one_named(spans, name)
        contains(e["metadata"], {"user_id": "user_12345", "feature": "chat"}, f"{name}.metadata")
        assert e["metrics"] == {} and e["user_properties"] == {} and e["feedback"] == {}, \
            f"{name}: only metadata was enriched, got metrics={e['metrics']} " \
            f"user_properties={e['user_properties']} feedback={e['feedback']}"

    e = one_named(spans, "__main__.pattern_namespaces")
    contains(e["metadata"], {"user_id": "user_12345", "feature": "chat"}, "pattern_namespaces.metadata")
    typed_equal(e["metrics"], {"latency_ms": 150, "score": 0.95}, "pattern_namespaces.metrics")
    typed_equal(e["user_properties"], {"plan": "premium"}, "pattern_namespaces.user_properties")
    typed_equal(e["feedback"], {"rating": 5}, "pattern_namespaces.feedback")
    assert "plan" not in e["metadata"] and "rating" not in e["metadata"] and "latency_ms" not in e["metadata"], \
        f"namespaced values leaked into metadata: {e['metadata']!r}"

    e = one_named(spans, "__main__.pattern_extra_kwargs")
    contains(e["metadata"], {"user_id": "user_12345", "feature": "chat", "priority": "high"},
             "pattern_extra_kwargs.metadata (extra kwargs land in metadata)")
    typed_equal(e["metrics"], {"score": 0.95}, "pattern_extra_kwargs.metrics")


def test_b04_use_cases(hive, run_example):
    run = run_example("b04_use_cases")
    sid = run.session_ids["tracer"]
    events = hive.session_events(sid)
    check_session_export(events, sid)
    spans = non_session(events)
    assert sorted(e["event_name"] for e in spans) == sorted([
        "__main__.generate_response", "__main__.summarize_document", "__main__.chat_endpoint",
        "__main__.generate_recommendation", "__main__.expensive_operation",
        "__main__.risky_operation", "__main__.risky_operation", "risky_operation_error",
    ]), f"span events: {sorted(e['event_name'] for e in spans)}"

    e = one_named(spans, "__main__.generate_response")
    typed_equal(e["user_properties"], {"user_id": "user_123"}, "generate_response.user_properties")
    contains(e["metadata"], {"message_length": 25}, "generate_response.metadata")
    assert "user_id" not in e["metadata"], f"user_properties leaked into metadata: {e['metadata']!r}"
    contains(e["inputs"], {"user_id": "user_123", "message": "Hello there, how are you?"},
             "generate_response.inputs")

    e = one_named(spans, "__main__.summarize_document")
    contains(e["metadata"], {"feature": "summarizer", "document_length": 160}, "summarize_document.metadata")

    e = one_named(spans, "__main__.chat_endpoint")
    contains(e["metadata"], {"request_id": "req-abc-123", "endpoint": "/api/chat"}, "chat_endpoint.metadata")

    e = one_named(spans, "__main__.generate_recommendation")
    typed_equal(e["user_properties"], {"user_id": "user_123"}, "generate_recommendation.user_properties")
    contains(e["metadata"], {"product_id": "prod_987", "ab_variant": "B"}, "generate_recommendation.metadata")
    typed_equal(e["metrics"], {"recommendation_score": 0.92}, "generate_recommendation.metrics")

    e = one_named(spans, "__main__.expensive_operation")
    m = e["metrics"]
    assert set(m) == {"duration_ms", "data_size", "throughput"}, f"expensive_operation.metrics keys {sorted(m)}"
    typed_equal(m["data_size"], 1000, "expensive_operation.metrics.data_size")
    assert isinstance(m["duration_ms"], float) and m["duration_ms"] > 0, f"metrics.duration_ms {m['duration_ms']!r}"
    assert isinstance(m["throughput"], float) and m["throughput"] > 0, f"metrics.throughput {m['throughput']!r}"
    result = e["outputs"].get("result")
    assert isinstance(result, list), \
        f"outputs.result (1000 flattened attributes result.0..999) must come back as a list, " \
        f"got {type(result).__name__} {str(result)[:200]}"
    typed_equal(result, list(range(1000)), "expensive_operation.outputs.result")
    assert e["error"] is None

    risky = named(spans, "__main__.risky_operation")
    ok = [r for r in risky if r["metadata"].get("operation_id") == "op_ok"]
    bad = [r for r in risky if r["metadata"].get("operation_id") == "op_fail"]
    assert len(ok) == 1 and len(bad) == 1, f"risky_operation metadata: {[r['metadata'] for r in risky]}"
    ok, bad = ok[0], bad[0]
    typed_equal(ok["metadata"]["success"], True, "risky_operation(op_ok).metadata.success")
    typed_equal(ok["outputs"], {"result": {"processed": True}}, "risky_operation(op_ok).outputs")
    assert ok["error"] is None, f"successful call has error {ok['error']!r}"
    typed_equal(bad["metadata"]["success"], False, "risky_operation(op_fail).metadata.success")
    assert bad["error"] and "processing failed: bad input" in bad["error"], \
        f"failing risky_operation: error should carry the exception message, got {bad['error']!r}"
    assert "result" not in bad["outputs"], f"failing call returned nothing, outputs {bad['outputs']!r}"

    err = one_named(spans, "risky_operation_error")
    assert err["error"] and "processing failed: bad input" in err["error"], \
        f"risky_operation_error span: error {err['error']!r}"
    assert err["parent_id"] == sid, f"risky_operation_error is a root span, parent_id {err['parent_id']!r}"


def test_b05_all_together_model_events(hive, run_example):
    run = run_example("b05_all_together")
    sid = run.session_ids["tracer"]
    events = hive.session_events(sid)
    s = check_session_export(events, sid)
    typed_equal({k: v for k, v in user_keys(s["metadata"]).items()},
                {"tenant_id": "acme_corp", "user_tier": "premium", "app_version": "2.1.0"}, "session.metadata")
    spans = non_session(events)
    chats = named(spans, "__main__.chat")
    models = [e for e in spans if e["event_type"] == "model"]
    assert len(chats) == 2, f"expected 2 chat events, got {[e['event_name'] for e in spans]}"
    assert len(models) == 2, \
        f"expected 2 model events (ChatCompletion), got types {[(e['event_name'], e['event_type']) for e in spans]}"
    assert len(spans) == 4, f"unexpected events: {[e['event_name'] for e in spans]}"

    chat_by_msg = {c["inputs"].get("message"): c for c in chats}
    assert set(chat_by_msg) == {"Hello!", "What's the weather?"}, f"chat inputs {[c['inputs'] for c in chats]}"
    chat_ids = {c["event_id"] for c in chats}
    usage_sum = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    for msg, user in (("Hello!", "user_123"), ("What's the weather?", "user_456")):
        c = chat_by_msg[msg]
        assert c["event_type"] == "tool" and c["parent_id"] == sid
        contains(c["metadata"], {"user_id": user, "message_length": len(msg), "feature": "chat_support"},
                 f"chat({msg!r}).metadata")
        messages = [{"role": "user", "content": msg}]
        typed_equal(c["outputs"], {"result": fake_openai.reply_for(messages)}, f"chat({msg!r}).outputs")

        children = [m for m in models if m["parent_id"] == c["event_id"]]
        assert len(children) == 1, \
            f"chat({msg!r}) {c['event_id']}: expected one model child, model parents are " \
            f"{[m['parent_id'] for m in models]}"
        m = children[0]
        assert m["event_name"] == "ChatCompletion", f"model event name {m['event_name']!r}"
        assert m["config"].get("model") == "gpt-4o-mini", f"model event config {m['config']!r}"
        history = m["inputs"].get("chat_history")
        assert isinstance(history, list) and history and history[-1].get("content") == msg, \
            f"model event inputs.chat_history {m['inputs']!r}"
        usage = fake_openai.usage_for(messages)
        contains(m["metadata"], usage, f"ChatCompletion({msg!r}).metadata token counts")
        for k in usage_sum:
            usage_sum[k] += usage[k]
        assert "tenant_id" not in m["metadata"] and "feature" not in m["metadata"], \
            f"model event must not inherit the chat span's / session's enrichment: {m['metadata']!r}"
    assert {m["parent_id"] for m in models} <= chat_ids

    md = s["metadata"]
    typed_equal(md.get("num_model_events"), 2, "session.metadata.num_model_events")
    for k, v in usage_sum.items():
        assert md.get(k) == v, f"session rollup metadata.{k} = {md.get(k)!r}, expected the sum {v}"
    typed_equal(md.get("has_feedback"), False, "session.metadata.has_feedback")

    # GET /v1/sessions/{id}: the tree chat -> ChatCompletion
    r = hive.get_session(sid)
    assert r.status == 200, f"GET /v1/sessions/{sid} -> {r.status} {r.raw[:300]!r}"
    tree = r.body["session"]
    assert tree["event_id"] == sid and r.body["num_events"] == 4, \
        f"GET session: event_id {tree.get('event_id')!r}, num_events {r.body.get('num_events')!r}"
    top = sorted((c["event_name"], [g["event_name"] for g in c["children"]]) for c in tree["children"])
    assert top == [("__main__.chat", ["ChatCompletion"]), ("__main__.chat", ["ChatCompletion"])], \
        f"session tree: {top}"

    # level=session: sessions where any event matches
    hits = hive.export([{"field": "metadata.user_id", "operator": "is", "value": "user_456", "type": "string"}],
                       level="session")
    assert [(e["event_id"], e["event_type"]) for e in hits] == [(sid, "session")], \
        f"level=session export for metadata.user_id is user_456 -> {[(e['event_id'], e['event_type']) for e in hits]}"
