//! What the applier's reading thread spends on each span of an OTLP request
//! before any store sees it: decoding the protobuf, mapping each span to an
//! event (conventions, the raw span) and preparing its write.
//!
//! `cargo bench -p hive-server --bench prepare -- --warm-up-time 1 --measurement-time 5`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hive_core::span::Span;
use hive_store::WriteOp;
use std::hint::black_box;

/// The ingest benchmark's span (`hive bench ingest`): an OpenInference LLM
/// span of about 1.4 KB and 20 attributes, ten to a session.
fn llm_span(i: usize) -> Span {
    let mut trace = [0xA7u8; 16];
    trace[8..].copy_from_slice(&(i as u64).to_be_bytes());
    let mut span = [0xB3u8; 8];
    span[4..].copy_from_slice(&(i as u32).to_be_bytes());
    let session = format!("5e55{:04x}-0000-4000-8000-{:012x}", i / 10, i / 10);
    hive_otlp::sample::llm_span(trace, span, &session, i)
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
