//! What the applier's reading thread spends on each span of an OTLP request
//! before any store sees it: decoding the protobuf, mapping each span to an
//! event (conventions, the raw span) and preparing its write.
//!
//! `cargo bench -p hive-server --bench prepare -- --warm-up-time 1 --measurement-time 5`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hive_core::span::{AttrValue, KeyValue, Span, SpanKind};
use hive_store::WriteOp;

const PROMPT: &str = "You are a helpful support assistant for an online store. The customer asks how to reset the password of their account after the reset email did not arrive; answer in three short steps and mention the spam folder.";
const ANSWER: &str = "1. Check your spam or junk folder for the reset email. 2. Add no-reply@example.com to your contacts and request a new link from the sign-in page. 3. If nothing arrives within ten minutes, contact support with your order number.";

/// The ingest benchmark's span (`hive bench ingest`): an OpenInference LLM
/// span of about 1.4 KB and 20 attributes.
fn llm_span(i: usize) -> Span {
    let s = |k: &str, v: &str| KeyValue::new(k, AttrValue::Str(v.to_owned()));
    let n = |k: &str, v: i64| KeyValue::new(k, AttrValue::Int(v));
    let mut trace_id = [0xA7u8; 16];
    trace_id[8..].copy_from_slice(&(i as u64).to_be_bytes());
    let mut span_id = [0xB3u8; 8];
    span_id[4..].copy_from_slice(&(i as u32).to_be_bytes());
    Span {
        trace_id,
        span_id,
        parent_span_id: None,
        name: "openai.chat.completions".into(),
        kind: SpanKind::Client,
        start_time_unix_nano: 1_795_000_000_000_000_000 + i as u64 * 1_000_000,
        end_time_unix_nano: 1_795_000_000_000_000_000 + i as u64 * 1_000_000 + 850_000_000,
        attributes: vec![
            s(
                "honeyhive.session_id",
                &format!("5e55{:04x}-0000-4000-8000-{:012x}", i / 10, i / 10),
            ),
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

fn prepare(c: &mut Criterion) {
    const SPANS: usize = 500;
    let spans: Vec<Span> = (0..SPANS).map(llm_span).collect();
    let body = hive_otlp::encode_traces_protobuf(&spans);
    let ops = |spans: &[Span]| -> Vec<WriteOp> {
        hive_server::otlp::spans_to_ops(spans, "bench", false, |_| {
            Ok::<_, std::convert::Infallible>("project-id".to_owned())
        })
        .unwrap()
    };
    let mut g = c.benchmark_group("a request of 500 spans");
    g.throughput(Throughput::Elements(SPANS as u64));
    g.bench_function("decode", |b| {
        b.iter(|| {
            hive_otlp::decode_traces(black_box(&body), hive_otlp::Encoding::Protobuf).unwrap()
        })
    });
    g.bench_function("map", |b| b.iter(|| ops(black_box(&spans))));
    g.bench_function("decode and map", |b| {
        b.iter(|| {
            let spans =
                hive_otlp::decode_traces(black_box(&body), hive_otlp::Encoding::Protobuf).unwrap();
            ops(&spans)
        })
    });
    g.finish();
}

criterion_group!(benches, prepare);
criterion_main!(benches);
