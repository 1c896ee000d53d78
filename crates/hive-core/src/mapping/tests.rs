use super::*;
use crate::span::SpanEvent;
use serde_json::json;
use std::sync::Arc;

fn kv(k: &str, v: AttrValue) -> KeyValue {
    KeyValue::new(k, v)
}
fn s(v: &str) -> AttrValue {
    AttrValue::Str(v.into())
}

fn span(attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id: [1; 16],
        span_id: [2; 8],
        parent_span_id: None,
        name: "__main__.chat".into(),
        kind: SpanKind::Internal,
        start_time_unix_nano: 1_795_253_222_280_873_855,
        end_time_unix_nano: 1_795_253_222_286_559_260,
        attributes: attrs,
        resource: Arc::new(vec![kv("service.name", s("svc"))]),
        scope_name: "honeyhive".into(),
        ..Span::default()
    }
}

#[test]
fn honeyhive_attributes_unflatten_with_types() {
    let sp = span(vec![
        kv("honeyhive.session_id", s("sess-1")),
        kv("honeyhive.project", s("proj")),
        kv("honeyhive.source", s("prod")),
        kv("honeyhive_event_type", s("tool")),
        kv("honeyhive_metadata.user.id", s("u1")),
        kv("honeyhive_metadata.user.tier", s("pro")),
        kv("honeyhive_metadata.tags.0", s("a")),
        kv("honeyhive_metadata.tags.1", s("b")),
        kv("honeyhive_metadata.items.0.ok", AttrValue::Bool(true)),
        kv("honeyhive_metrics.latency_ms", AttrValue::Int(150)),
        kv("honeyhive_metrics.score", AttrValue::Double(0.95)),
        kv("honeyhive_user_properties.plan", s("premium")),
        kv("honeyhive_feedback.rating", AttrValue::Int(5)),
        kv("honeyhive_inputs.data", s("{\"x\": 1}")),
        kv("honeyhive_outputs.result", s("42")),
        kv("other.attr", AttrValue::Int(7)),
    ]);
    let m = map_span(&sp, "dev");
    let ev = &m.event;
    assert_eq!(ev.session_id, "sess-1");
    assert_eq!(ev.parent_id.as_deref(), Some("sess-1"));
    assert_eq!(ev.event_type, "tool");
    assert_eq!(ev.event_name, "__main__.chat");
    assert_eq!(ev.source, "prod");
    assert_eq!(m.project.as_deref(), Some("proj"));
    assert_eq!(
        Value::Object(ev.metadata.clone()),
        json!({"user": {"id": "u1", "tier": "pro"}, "tags": ["a", "b"], "items": [{"ok": true}]})
    );
    assert_eq!(
        Value::Object(ev.metrics.clone()),
        json!({"latency_ms": 150, "score": 0.95})
    );
    assert_eq!(
        Value::Object(ev.user_properties.clone()),
        json!({"plan": "premium"})
    );
    assert_eq!(Value::Object(ev.feedback.clone()), json!({"rating": 5}));
    assert_eq!(
        Value::Object(ev.inputs.clone()),
        json!({"data": "{\"x\": 1}"})
    );
    assert_eq!(ev.start_time, 1_795_253_222_280);
    assert_eq!(ev.end_time, 1_795_253_222_286);
    assert!((ev.duration - 5.685405).abs() < 1e-6);
    assert_eq!(ev.event_id, "01010101-0101-0101-0202-020202020202");
    // Raw attributes keep what was not unflattened.
    assert_eq!(m.raw["attributes"]["other.attr"], json!(7));
    assert!(
        m.raw["attributes"]
            .get("honeyhive_metadata.user.id")
            .is_none()
    );
    assert_eq!(m.raw["resource"]["service.name"], json!("svc"));
}

#[test]
fn index_keys_only_become_arrays_when_contiguous() {
    let sp = span(vec![
        kv("honeyhive.session_id", s("s")),
        kv("honeyhive_metadata.a.0", s("x")),
        kv("honeyhive_metadata.a.2", s("y")),
        kv("honeyhive_metadata.b.0", s("x")),
        kv("honeyhive_metadata.b.01", s("y")),
    ]);
    let ev = map_span(&sp, "dev").event;
    assert_eq!(
        Value::Object(ev.metadata),
        json!({"a": {"0": "x", "2": "y"}, "b": {"0": "x", "01": "y"}})
    );
}

#[test]
fn errors_from_attribute_status_or_exception() {
    let mut sp = span(vec![
        kv("honeyhive.session_id", s("s")),
        kv("honeyhive_error", s("boom")),
    ]);
    assert_eq!(map_span(&sp, "dev").event.error.as_deref(), Some("boom"));
    sp.attributes.pop();
    assert_eq!(map_span(&sp, "dev").event.error, None);
    sp.status_code = StatusCode::Error;
    sp.status_message = "ValueError: bad".into();
    assert_eq!(
        map_span(&sp, "dev").event.error.as_deref(),
        Some("ValueError: bad")
    );
    sp.status_message.clear();
    sp.events.push(SpanEvent {
        name: "exception".into(),
        attributes: vec![
            kv("exception.type", s("KeyError")),
            kv("exception.message", s("k")),
        ],
        ..SpanEvent::default()
    });
    assert_eq!(
        map_span(&sp, "dev").event.error.as_deref(),
        Some("KeyError: k")
    );
}

#[test]
fn parentage_and_trace_grouping() {
    let mut sp = span(vec![]);
    let m = map_span(&sp, "dev");
    assert!(m.session_from_trace);
    assert_eq!(m.event.session_id, "01010101-0101-0101-0101-010101010101");
    assert_eq!(
        m.event.parent_id.as_deref(),
        Some(m.event.session_id.as_str())
    );
    sp.parent_span_id = Some([3; 8]);
    let m = map_span(&sp, "dev");
    assert_eq!(
        m.event.parent_id.as_deref(),
        Some("01010101-0101-0101-0303-030303030303")
    );
    assert_eq!(m.event.source, "dev");
}

#[test]
fn openinference_llm_span() {
    let sp = span(vec![
        kv("session.id", s("oi-session")),
        kv("user.id", s("user-9")),
        kv("openinference.span.kind", s("LLM")),
        kv("llm.model_name", s("gpt-4o-mini")),
        kv("llm.provider", s("openai")),
        kv("llm.invocation_parameters", s("{\"temperature\": 0.2}")),
        kv("llm.input_messages.0.message.role", s("user")),
        kv("llm.input_messages.0.message.content", s("Hello!")),
        kv("llm.output_messages.0.message.role", s("assistant")),
        kv("llm.output_messages.0.message.content", s("Hi")),
        kv("llm.token_count.prompt", AttrValue::Int(9)),
        kv("llm.token_count.completion", AttrValue::Int(3)),
        kv("llm.token_count.total", AttrValue::Int(12)),
        kv("input.value", s("{\"messages\": []}")),
        kv("input.mime_type", s("application/json")),
    ]);
    let ev = map_span(&sp, "dev").event;
    assert_eq!(ev.session_id, "oi-session");
    assert_eq!(ev.event_type, "model");
    assert_eq!(ev.config["model"], json!("gpt-4o-mini"));
    assert_eq!(ev.config["provider"], json!("openai"));
    assert_eq!(ev.config["temperature"], json!(0.2));
    assert_eq!(
        ev.inputs["chat_history"],
        json!([{"role": "user", "content": "Hello!"}])
    );
    assert_eq!(
        Value::Object(ev.outputs.clone()),
        json!({"role": "assistant", "content": "Hi"})
    );
    assert_eq!(ev.metadata["total_tokens"], json!(12));
    assert_eq!(ev.metadata["prompt_tokens"], json!(9));
    assert_eq!(ev.user_properties["user_id"], json!("user-9"));
}

/// Regression (found by the OpenInference end-to-end test): an answer
/// that is only a tool call has no `content`, and the whole response in
/// `output.value` was spread into `outputs` next to it.
#[test]
fn openinference_tool_call_answer_is_not_repeated_from_output_value() {
    let sp = span(vec![
        kv("openinference.span.kind", s("LLM")),
        kv("llm.model_name", s("gpt-4o-mini")),
        kv("llm.output_messages.0.message.role", s("assistant")),
        kv(
            "llm.output_messages.0.message.tool_calls.0.tool_call.id",
            s("call_1"),
        ),
        kv(
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.name",
            s("get_weather"),
        ),
        kv(
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments",
            s("{\"city\": \"Paris\"}"),
        ),
        kv(
            "output.value",
            s("{\"id\": \"chatcmpl-1\", \"choices\": [], \"usage\": {}}"),
        ),
        kv("output.mime_type", s("application/json")),
    ]);
    let ev = map_span(&sp, "dev").event;
    assert_eq!(ev.outputs["role"], json!("assistant"));
    assert_eq!(
        ev.outputs["tool_calls"][0]["function"]["name"],
        json!("get_weather")
    );
    for raw in ["id", "choices", "usage", "value"] {
        assert!(!ev.outputs.contains_key(raw), "{raw} in {:?}", ev.outputs);
    }
}

#[test]
fn genai_and_traceloop_spans() {
    let sp = span(vec![
        kv("gen_ai.operation.name", s("chat")),
        kv("gen_ai.request.model", s("claude")),
        kv("gen_ai.system", s("anthropic")),
        kv("gen_ai.usage.input_tokens", AttrValue::Int(10)),
        kv("gen_ai.usage.output_tokens", AttrValue::Int(5)),
        kv("traceloop.association.properties.session_id", s("tl")),
        kv("traceloop.association.properties.tenant", s("acme")),
    ]);
    let ev = map_span(&sp, "dev").event;
    assert_eq!(ev.event_type, "model");
    assert_eq!(ev.session_id, "tl");
    assert_eq!(ev.metadata["total_tokens"], json!(15));
    assert_eq!(ev.metadata["tenant"], json!("acme"));
    assert_eq!(ev.config["provider"], json!("anthropic"));

    let sp = span(vec![
        kv("traceloop.span.kind", s("workflow")),
        kv("traceloop.entity.name", s("plan")),
        kv("traceloop.entity.input", s("{\"goal\": \"x\"}")),
    ]);
    let ev = map_span(&sp, "dev").event;
    assert_eq!(ev.event_type, "chain");
    assert_eq!(ev.event_name, "plan");
    assert_eq!(ev.inputs["goal"], json!("x"));
}

#[test]
fn explicit_event_id_and_name() {
    let sp = span(vec![
        kv("honeyhive_event_id", s("custom-id")),
        kv("honeyhive_event_name", s("named")),
    ]);
    let ev = map_span(&sp, "dev").event;
    assert_eq!(ev.event_id, "custom-id");
    assert_eq!(ev.event_name, "named");
}
