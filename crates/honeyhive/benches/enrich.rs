//! Caller-thread cost of the SDK's hot paths, next to a bare OpenTelemetry span.
//!
//! `cargo bench -p honeyhive --bench enrich -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use honeyhive::{HoneyHiveTracer, enrich_session, enrich_span, trace};
use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};

/// Exports nothing: the benchmarks measure the caller's side only.
#[derive(Debug)]
struct NullExporter;

impl SpanExporter for NullExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        drop(batch);
        std::future::ready(Ok(()))
    }
}

fn tracer() -> HoneyHiveTracer {
    // Test mode: the worker coalesces and records instead of sending, so the
    // queue drains as it would against a healthy server.
    HoneyHiveTracer::builder()
        .with_test_mode(true)
        .with_project("bench")
        .with_session_id("sess-bench")
        .with_span_exporter(NullExporter)
        .build()
}

#[trace]
fn traced_with_enrichment(user_id: &str) {
    enrich_span!(
        metadata = {"user_id": user_id, "feature": "chat", "ab_variant": "B"},
        metrics = {"latency_ms": 150, "score": 0.95}
    );
}

#[trace(skip_all)]
fn traced_empty() {}

fn benches(c: &mut Criterion) {
    let tracer = tracer();

    let mut group = c.benchmark_group("enrich_session");
    group.bench_function("touch", |b| b.iter(|| enrich_session!()));
    group.bench_function("5_fields", |b| {
        b.iter(|| {
            enrich_session!(
                metadata = {"user_id": "user_123", "feature": "chat", "step": 3},
                metrics = {"latency_ms": 150, "score": 0.95}
            )
        })
    });
    group.finish();
    tracer.flush(Duration::from_secs(10));

    let mut group = c.benchmark_group("span");
    group.bench_function("trace_with_5_field_enrich_span", |b| {
        b.iter(|| traced_with_enrichment(black_box("user_123")))
    });
    group.bench_function("trace_empty", |b| b.iter(traced_empty));

    // Baseline: a bare OpenTelemetry span on an SDK provider with the same
    // batch processor and exporter.
    let provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(NullExporter).build())
        .build();
    let otel = provider.tracer("baseline");
    group.bench_function("otel_bare_span", |b| {
        b.iter(|| {
            let mut span = otel.start("bare");
            span.end();
        })
    });
    group.bench_function("otel_span_5_attributes", |b| {
        b.iter(|| {
            let mut span = otel.start("five");
            span.set_attributes([
                KeyValue::new("honeyhive_metadata.user_id", "user_123"),
                KeyValue::new("honeyhive_metadata.feature", "chat"),
                KeyValue::new("honeyhive_metadata.ab_variant", "B"),
                KeyValue::new("honeyhive_metrics.latency_ms", 150),
                KeyValue::new("honeyhive_metrics.score", 0.95),
            ]);
            span.end();
        })
    });
    group.finish();
    let _ = provider.shutdown();
    tracer.shutdown(Duration::from_secs(5));
}

criterion_group!(enrich, benches);
criterion_main!(enrich);
