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
    let raw: Value = serde_json::from_str(&m.raw).unwrap();
    assert_eq!(raw["attributes"]["other.attr"], json!(7));
    assert!(
        raw["attributes"]
            .get("honeyhive_metadata.user.id")
            .is_none()
    );
    assert_eq!(raw["resource"]["service.name"], json!("svc"));
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

mod raw_text {
    use super::*;
    use crate::span::StatusCode;
    use proptest::prelude::*;

    fn key() -> impl Strategy<Value = String> {
        // Few keys, so some repeat; quotes, escapes and non-ASCII too.
        prop_oneof![
            Just("a".to_owned()),
            Just("b.c".to_owned()),
            Just("honeyhive_metadata.x".to_owned()),
            "[a-z\"\\\\é\n]{0,6}",
        ]
    }

    fn value() -> impl Strategy<Value = AttrValue> {
        let leaf = prop_oneof![
            "[ -~é\u{1F600}\t]{0,12}".prop_map(AttrValue::Str),
            any::<bool>().prop_map(AttrValue::Bool),
            any::<i64>().prop_map(AttrValue::Int),
            prop_oneof![
                any::<f64>(),
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(f64::NEG_INFINITY),
                Just(-0.0),
                Just(1e21),
                Just(0.1),
            ]
            .prop_map(AttrValue::Double),
            proptest::collection::vec(any::<u8>(), 0..6).prop_map(AttrValue::Bytes),
            Just(AttrValue::Empty),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(AttrValue::Array),
                proptest::collection::vec((key(), inner), 0..4).prop_map(|kvs| {
                    AttrValue::KvList(kvs.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect())
                }),
            ]
        })
    }

    fn kvs(n: usize) -> impl Strategy<Value = Vec<KeyValue>> {
        proptest::collection::vec((key(), value()), 0..n)
            .prop_map(|kvs| kvs.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect())
    }

    prop_compose! {
        fn any_span()(
            attributes in kvs(40),
            resource in kvs(4),
            events in proptest::collection::vec(("[a-z._]{0,8}", any::<u64>(), kvs(4)), 0..3),
            parent in proptest::option::of(any::<[u8; 8]>()),
            status in 0..3u8,
            message in "[ -~]{0,8}",
            name in "[ -~é]{0,10}",
        ) -> Span {
            Span {
                trace_id: [7; 16],
                span_id: [9; 8],
                parent_span_id: parent,
                name,
                kind: SpanKind::Client,
                start_time_unix_nano: 1_000_000,
                end_time_unix_nano: 2_000_000,
                attributes,
                events: events
                    .into_iter()
                    .map(|(name, time_unix_nano, attributes)| SpanEvent {
                        name,
                        time_unix_nano,
                        attributes,
                    })
                    .collect(),
                status_code: [StatusCode::Unset, StatusCode::Ok, StatusCode::Error]
                    [status as usize],
                status_message: message,
                resource: Arc::new(resource),
                scope_name: "scope".into(),
                scope_version: "1.0".into(),
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The raw span written straight from the span is, to the byte,
        /// the raw span's value serialised: keys in order, a repeated key
        /// once, numbers, non-finite doubles, bytes and nesting alike.
        #[test]
        fn written_as_the_value_serialises(span in any_span()) {
            let consumed: Vec<bool> =
                (0..span.attributes.len()).map(|i| i % 3 == 1).collect();
            let direct = serde_json::to_string(&RawSpan { span: &span, consumed: &consumed })
                .unwrap();
            prop_assert_eq!(direct, raw_span(&span, &consumed).to_string());
        }
    }

    #[test]
    fn map_span_writes_it() {
        let sp = span(vec![
            kv("a", s("1")),
            kv("a", AttrValue::Int(2)),
            kv("honeyhive_metadata.k", s("v")),
        ]);
        let m = map_span(&sp, "t");
        let raw: Value = serde_json::from_str(&m.raw).unwrap();
        assert_eq!(raw["attributes"], json!({"a": 2}));
    }
}
