//! The span the ingest benchmarks send (`hive bench ingest`, and the
//! criterion benchmark of decoding and mapping a request): not part of the
//! API.

use std::sync::Arc;

use hive_core::span::{AttrValue, KeyValue, Span, SpanKind};

const PROMPT: &str = "You are a helpful support assistant for an online store. The customer asks how to reset the password of their account after the reset email did not arrive; answer in three short steps and mention the spam folder.";
const ANSWER: &str = "1. Check your spam or junk folder for the reset email. 2. Add no-reply@example.com to your contacts and request a new link from the sign-in page. 3. If nothing arrives within ten minutes, contact support with your order number.";

/// A realistic LLM span: about 1 KB of protobuf and 20 attributes.
pub fn llm_span(trace: [u8; 16], span: [u8; 8], session: &str, i: usize) -> Span {
    let s = |k: &str, v: &str| KeyValue::new(k, AttrValue::Str(v.to_owned()));
    let n = |k: &str, v: i64| KeyValue::new(k, AttrValue::Int(v));
    Span {
        trace_id: trace,
        span_id: span,
        parent_span_id: None,
        name: "openai.chat.completions".into(),
        kind: SpanKind::Client,
        start_time_unix_nano: 1_795_000_000_000_000_000 + i as u64 * 1_000_000,
        end_time_unix_nano: 1_795_000_000_000_000_000 + i as u64 * 1_000_000 + 850_000_000,
        attributes: vec![
            s("honeyhive.session_id", session),
            s("honeyhive.project", "bench"),
            s("honeyhive.source", "bench"),
            s("honeyhive_event_type", "model"),
            s("openinference.span.kind", "LLM"),
            s("llm.model_name", "gpt-4o-mini"),
            s("llm.provider", "openai"),
            s(
                "llm.invocation_parameters",
                "{\"temperature\": 0.7, \"max_tokens\": 256}",
            ),
            s("llm.input_messages.0.message.role", "user"),
            s("llm.input_messages.0.message.content", PROMPT),
            s("llm.output_messages.0.message.role", "assistant"),
            s("llm.output_messages.0.message.content", ANSWER),
            n("llm.token_count.prompt", 52),
            n("llm.token_count.completion", 61),
            n("llm.token_count.total", 113),
            s("honeyhive_metadata.user_id", &format!("user-{}", i % 97)),
            s(
                "honeyhive_metadata.variant",
                if i.is_multiple_of(2) { "a" } else { "b" },
            ),
            s("honeyhive_metadata.tenant", "acme"),
            KeyValue::new(
                "honeyhive_metrics.latency_ms",
                AttrValue::Double(850.0 + i as f64),
            ),
            KeyValue::new("honeyhive_config.temperature", AttrValue::Double(0.7)),
        ],
        resource: Arc::new(vec![s("service.name", "bench-agent")]),
        scope_name: "openinference.instrumentation.openai".into(),
        scope_version: "0.1.66".into(),
        ..Span::default()
    }
}
