"""Session-enrichment guide (a01..a12) run with the official SDK against hive serve."""

from __future__ import annotations

import datetime as dt

import fake_openai
from compat_helpers import (
    check_session_export,
    non_session,
    one_named,
    typed_equal,
    user_keys,
)


def _project_id(hive, name: str) -> str:
    """The project id Hive gave the project NAME, read through export's project filter."""
    events = hive.export([{"field": "event_type", "operator": "is", "value": "session", "type": "string"}],
                         project=name)
    ids = {e["project_id"] for e in events}
    assert len(ids) == 1, f"project {name!r}: expected one project_id among its sessions, got {ids}"
    return ids.pop()


def _iso(value, what: str) -> None:
    assert isinstance(value, str), f"{what}: expected an ISO timestamp string, got {value!r}"
    dt.datetime.fromisoformat(value)


def _untouched_tracer_session(hive, sid: str, name: str) -> dict:
    """The example's own tracer session exists, is named, and carries no enrichment."""
    s = check_session_export(hive.session_events(sid), sid)
    assert s["event_name"] == name, f"session {sid}: event_name {s['event_name']!r}, expected {name!r}"
    for ns in ("metrics", "feedback", "config", "outputs", "user_properties"):
        assert s[ns] == {}, f"tracer session {sid} ({name}) should have empty {ns}, got {s[ns]!r}"
    return s


# --------------------------------------------------------------------------


def test_a01_enrich_active_session(hive, run_example):
    run = run_example("a01_enrich_active_session")
    sid = run.session_ids["active"]
    events = hive.session_events(sid)
    s = check_session_export(events, sid)
    assert s["event_name"] == "user-123-chat"
    assert s["source"] == "dev", f"source {s['source']!r}, expected the SDK default 'dev'"
    typed_equal(user_keys(s["metadata"]), {
        "user_id": "user_123", "subscription_tier": "premium", "feature": "chat_assistant"},
        "session.metadata")
    assert non_session(events) == [], "the OpenAI call is not instrumented in a01: no span events expected"
    # the session is in project "my-app" (admin key: each project name is its own project)
    in_project = hive.export([{"field": "session_id", "operator": "is", "value": sid, "type": "string"}],
                             project="my-app")
    assert [e["event_id"] for e in in_project] == [sid], \
        f"export with project 'my-app' should return the session, got {[e['event_id'] for e in in_project]}"


def test_a02_enrich_specific_session_never_started(hive, run_example):
    run = run_example("a02_enrich_specific_session")
    sid = run.session_ids["specific"]
    assert sid == "sess_abc123xyz"
    events = hive.session_events(sid)
    assert len(events) == 1, f"enriched-only session {sid}: expected 1 event, got {len(events)}: {events}"
    s = check_session_export(events, sid)
    typed_equal(user_keys(s["metadata"]), {"experiment": "variant_b", "completed": True}, "session.metadata")
    typed_equal(s["metrics"], {"total_tokens": 1500, "total_cost": 0.045, "duration_seconds": 12.5},
                "session.metrics")
    got = hive.get_event(sid)
    assert got.status == 200, f"GET /v1/events/{sid} -> {got.status} {got.raw[:300]!r}"
    typed_equal(got.body["event"]["metrics"], s["metrics"], "GET event.metrics")
    _untouched_tracer_session(hive, run.session_ids["tracer"], "specific-session-demo")


def test_a03_legacy_positional_global_function(hive, run_example):
    run = run_example("a03_legacy_positional")
    positional = run.session_ids["positional"]
    assert positional == "sess_abc123"
    s = check_session_export(hive.session_events(positional), positional)
    typed_equal(user_keys(s["metadata"]), {"user_id": "user_456"}, "sess_abc123.metadata")

    tsid = run.session_ids["tracer"]
    t = check_session_export(hive.session_events(tsid), tsid)
    assert t["event_name"] == "legacy-positional-demo"
    typed_equal(user_keys(t["metadata"]), {"user_id": "user_456"}, "tracer session metadata")


def test_a04_user_properties_separate_from_metadata(hive, run_example):
    run = run_example("a04_legacy_user_properties")
    sid = run.session_ids["specific"]
    s = check_session_export(hive.session_events(sid), sid)
    typed_equal(s["user_properties"], {"tier": "premium", "region": "us-east"}, "session.user_properties")
    md = user_keys(s["metadata"])
    assert not {"tier", "region", "user_properties"} & set(md), \
        f"user_properties must not be merged into metadata; metadata = {s['metadata']!r}"
    got = hive.get_event(sid)
    assert got.status == 200, f"GET /v1/events/{sid} -> {got.status}"
    typed_equal(got.body["event"]["user_properties"], {"tier": "premium", "region": "us-east"},
                "GET event.user_properties")
    _untouched_tracer_session(hive, run.session_ids["tracer"], "legacy-user-properties-demo")


def test_a05_modern_signature(hive, run_example):
    run = run_example("a05_modern_signature")
    sid = run.session_ids["specific"]
    assert sid == "sess_abc123"
    s = check_session_export(hive.session_events(sid), sid)
    typed_equal(user_keys(s["metadata"]), {"user_id": "user_456", "tier": "premium", "region": "us-east"},
                "session.metadata")
    typed_equal(s["metrics"], {"total_cost": 0.045}, "session.metrics")
    assert s["user_properties"] == {}, f"no user_properties were sent, got {s['user_properties']!r}"


def test_a06_three_puts_merge_later_keys_win(hive, run_example):
    run = run_example("a06_pattern1_user_workflow")
    sid = run.session_ids["workflow"]
    s = check_session_export(hive.session_events(sid), sid)
    assert s["event_name"] == "password-reset-user-789"
    md = user_keys(s["metadata"])
    assert set(md) == {"user_id", "workflow", "started_at", "step", "completed_at"}, \
        f"merged metadata keys: {sorted(md)}"
    assert md["user_id"] == "user-789" and md["workflow"] == "password-reset", \
        f"keys of the first PUT must stay: {md!r}"
    assert md["step"] == "workflow_complete", \
        f"metadata.step: the third PUT's value must win over 'initial_query_complete', got {md['step']!r}"
    _iso(md["started_at"], "metadata.started_at")
    _iso(md["completed_at"], "metadata.completed_at")
    assert dt.datetime.fromisoformat(md["completed_at"]) >= dt.datetime.fromisoformat(md["started_at"]), \
        f"completed_at {md['completed_at']} precedes started_at {md['started_at']}"
    typed_equal(s["metrics"], {"total_interactions": 2, "resolution": "success"}, "session.metrics")

    history = hive.history(sid)
    assert [set(h["keys"]) for h in history] == [
        {"metadata.user_id", "metadata.workflow", "metadata.started_at"},
        {"metadata.step"},
        {"metadata.step", "metadata.completed_at", "metrics.total_interactions", "metrics.resolution"},
    ], f"history should list the three PUTs in order with the paths each changed: {history!r}"
    assert [h["seq"] for h in history] == sorted(h["seq"] for h in history)
    typed_equal(history[1]["patch"], {"metadata": {"step": "initial_query_complete"}}, "history[1].patch")
    # the project named in init
    in_project = hive.export([{"field": "session_id", "operator": "is", "value": sid, "type": "string"}],
                             project="customer-support")
    assert [e["event_id"] for e in in_project] == [sid]


def test_a07_experiment_config_metrics_outputs(hive, run_example):
    run = run_example("a07_pattern2_experiment")
    sid = run.session_ids["experiment"]
    s = check_session_export(hive.session_events(sid), sid)
    assert s["event_name"] == "experiment-user-42"
    md = user_keys(s["metadata"])
    assert md.get("variant") in ("variant_a", "variant_b"), f"metadata.variant {md.get('variant')!r}"
    typed_equal(md, {"experiment": "prompt_optimization_v2", "variant": md["variant"], "user_id": "user-42"},
                "session.metadata")
    expected_config = ({"model": "gpt-4", "temperature": 0.7} if md["variant"] == "variant_a"
                       else {"model": "gpt-3.5-turbo", "temperature": 0.9})
    typed_equal(s["config"], expected_config, "session.config")
    question = "What is the capital of France?"
    messages = [{"role": "user", "content": question}]
    tokens = fake_openai.usage_for(messages)["total_tokens"]
    m = s["metrics"]
    assert set(m) == {"response_time", "token_count", "cost"}, f"session.metrics keys {sorted(m)}"
    typed_equal(m["token_count"], tokens, "metrics.token_count")
    typed_equal(m["cost"], tokens * 0.0000015, "metrics.cost")
    assert isinstance(m["response_time"], float) and 0 <= m["response_time"] < 60, \
        f"metrics.response_time {m['response_time']!r}"
    typed_equal(s["outputs"], {"response": fake_openai.reply_for(messages)}, "session.outputs")
    assert s["inputs"] == {} and s["feedback"] == {} and s["user_properties"] == {}, \
        "namespaces that were not sent must stay empty"


def test_a08_feedback_after_span_export(hive, run_example):
    run = run_example("a08_pattern3_feedback")
    sid = run.session_ids["feedback"]
    events = hive.session_events(sid)
    s = check_session_export(events, sid)
    span = one_named(non_session(events), "__main__.answer")
    assert span["event_type"] == "tool"
    assert span["parent_id"] == sid, f"root span parent_id {span['parent_id']!r}, expected the session id"
    typed_equal(span["inputs"], {"question": "meaning of life?"}, "answer.inputs")
    typed_equal(span["outputs"], {"result": "42"}, "answer.outputs")

    fb = s["feedback"]
    assert set(fb) == {"user_rating", "user_comments", "feedback_timestamp", "helpful"}, \
        f"session.feedback keys {sorted(fb)}"
    typed_equal(fb["user_rating"], 5, "feedback.user_rating")
    typed_equal(fb["helpful"], True, "feedback.helpful")
    typed_equal(fb["user_comments"], "Clear and correct answer", "feedback.user_comments")
    _iso(fb["feedback_timestamp"], "feedback.feedback_timestamp")
    typed_equal(s["metadata"].get("feedback_collected"), True, "metadata.feedback_collected")
    typed_equal(s["metadata"].get("has_feedback"), True, "metadata.has_feedback (rollup)")
    # the feedback arrived as a PUT after the span export
    history = hive.history(sid)
    assert history and history[-1]["patch"].get("feedback", {}).get("user_rating") == 5, \
        f"last history entry should be the feedback PUT: {history!r}"


def test_a09_metrics_overwritten(hive, run_example):
    run = run_example("a09_pattern4_cost_tracker")
    sid = run.session_ids["cost"]
    s = check_session_export(hive.session_events(sid), sid)
    assert s["event_name"] == "cost-tracking-session"
    calls = [[{"role": "user", "content": "Hello!"}], [{"role": "user", "content": "Tell me more"}]]
    usages = [fake_openai.usage_for(m) for m in calls]
    cost = sum(u["prompt_tokens"] * 0.000001 + u["completion_tokens"] * 0.000002 for u in usages)
    total = sum(u["total_tokens"] for u in usages)
    typed_equal(s["metrics"], {
        "total_tokens": total, "total_cost": cost, "call_count": 2, "avg_tokens_per_call": total / 2},
        "session.metrics (second PUT overwrites the first)")
    history = hive.history(sid)
    assert len(history) == 2, f"expected 2 PUTs in history, got {len(history)}: {history!r}"
    typed_equal(history[0]["patch"]["metrics"]["total_tokens"], usages[0]["total_tokens"],
                "history[0].metrics.total_tokens")
    typed_equal(history[0]["patch"]["metrics"]["call_count"], 1, "history[0].metrics.call_count")


def test_a10_multi_instance_isolation(hive, run_example):
    run = run_example("a10_pattern5_multi_instance")
    prod, test = run.session_ids["production"], run.session_ids["testing"]
    assert prod != test
    p = check_session_export(hive.session_events(prod), prod)
    t = check_session_export(hive.session_events(test), test)
    assert p["event_name"] == "prod-session-1" and t["event_name"] == "test-session-1"
    assert p["source"] == "production", f"prod session source {p['source']!r}"
    assert t["source"] == "testing", f"test session source {t['source']!r}"
    typed_equal(user_keys(p["metadata"]), {"environment": "production", "user_id": "user_123"},
                "production session metadata")
    typed_equal(user_keys(t["metadata"]), {"environment": "testing", "test_case": "scenario_1"},
                "testing session metadata")
    assert p["project_id"] != t["project_id"], \
        "projects 'production' and 'testing' must be different projects (admin key, project by name)"
    assert p["project_id"] == _project_id(hive, "production")
    assert t["project_id"] == _project_id(hive, "testing")
    cross = hive.export([{"field": "session_id", "operator": "is", "value": test, "type": "string"}],
                        project="production")
    assert cross == [], f"project 'production' must not contain the testing session: {cross!r}"


def test_a11_lifecycle_status_progression(hive, run_example):
    run = run_example("a11_lifecycle")
    sid = run.session_ids["lifecycle"]
    s = check_session_export(hive.session_events(sid), sid)
    assert s["event_name"] == "write-a-haiku-user-321"
    md = user_keys(s["metadata"])
    assert set(md) == {"user_id", "task", "status", "started_at", "completed_at"}, f"metadata keys {sorted(md)}"
    assert md["status"] == "completed", f"metadata.status {md['status']!r}, expected 'completed'"
    _iso(md["started_at"], "metadata.started_at (kept from the first PUT)")
    _iso(md["completed_at"], "metadata.completed_at")
    typed_equal(md["user_id"], "user-321", "metadata.user_id")
    typed_equal(md["task"], "write-a-haiku", "metadata.task")
    typed_equal(s["metrics"], {"success": True}, "session.metrics (boolean metric)")
    typed_equal(s["outputs"], {"result": fake_openai.reply_for(
        [{"role": "user", "content": "Help me with: write-a-haiku"}])}, "session.outputs")
    statuses = [h["patch"]["metadata"]["status"] for h in hive.history(sid)]
    assert statuses == ["started", "in_progress", "completed"], f"status progression in history: {statuses}"


def test_a12_nested_data_kept_nested(hive, run_example):
    run = run_example("a12_complex_data")
    sid = run.session_ids["complex"]
    s = check_session_export(hive.session_events(sid), sid)
    typed_equal(user_keys(s["metadata"]), {"user": {
        "id": "user_123",
        "profile": {
            "tier": "premium",
            "features": ["chat", "analytics", "export"],
            "settings": {"notifications": True, "language": "en"},
        },
    }}, "session.metadata")
    typed_equal(s["config"], {
        "model_pipeline": [
            {"step": 1, "model": "gpt-4", "temperature": 0.7},
            {"step": 2, "model": "gpt-3.5-turbo", "temperature": 0.5},
        ],
        "fallback_strategy": {"enabled": True, "models": ["gpt-4", "gpt-3.5-turbo", "claude-2"]},
    }, "session.config")
    # dotted paths into nested data work as filters
    hits = hive.export([{"field": "metadata.user.profile.tier", "operator": "is", "value": "premium",
                         "type": "string"}])
    assert [e["event_id"] for e in hits] == [sid], \
        f"filter metadata.user.profile.tier is premium -> {[e['event_id'] for e in hits]}"
    hits = hive.export([{"field": "metadata.user.profile.tier", "operator": "is", "value": "basic",
                         "type": "string"}])
    assert hits == [], f"filter metadata.user.profile.tier is basic should match nothing, got {len(hits)}"
