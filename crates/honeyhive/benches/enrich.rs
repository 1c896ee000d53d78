//! Caller-thread cost of the SDK's hot paths, next to a bare OpenTelemetry span.
//!
//! `cargo bench -p honeyhive --bench enrich -- --warm-up-time 1 --measurement-time 3`
//!
//! At the end of the `enrich_session` group it prints the worker's counters:
//! "0 dropped" says every timed call was a real enqueue.

use std::hint::black_box;
use std::time::{Duration, Instant};

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

/// Runs `f` `iters` times in chunks of at most 5 000 calls, flushing the
/// queue (untimed) after each chunk; returns the time spent in `f`.
fn in_chunks(tracer: &HoneyHiveTracer, iters: u64, mut f: impl FnMut()) -> Duration {
    const CHUNK: u64 = 5_000;
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(CHUNK);
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        total += start.elapsed();
        tracer.flush(Duration::from_secs(10));
        left -= n;
    }
    total
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

    // The queue is bounded (10 000): timed calls go in chunks that fit, and
    // the queue is drained (untimed) between chunks, so what is measured is
    // the enqueue, not the queue-full path. The worker runs meanwhile.
    let mut group = c.benchmark_group("enrich_session");
    group.bench_function("touch", |b| {
        b.iter_custom(|iters| in_chunks(&tracer, iters, || enrich_session!()))
    });
    group.bench_function("5_fields", |b| {
        b.iter_custom(|iters| {
            in_chunks(&tracer, iters, || {
                enrich_session!(
                    metadata = {"user_id": "user_123", "feature": "chat", "step": 3},
                    metrics = {"latency_ms": 150, "score": 0.95}
                )
            })
        })
    });
    group.finish();
    tracer.flush(Duration::from_secs(10));
    // The worker must keep up: enrichments dropped here would mean the
    // benchmark measured the queue-full path instead of the enqueue.
    let stats = tracer.stats();
    eprintln!(
        "enrich_session: {} enqueued, {} sent in {} requests, {} dropped",
        stats.enrichments_enqueued,
        stats.enrichments_sent,
        stats.enrichment_requests,
        stats.enrichments_dropped
    );

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
