//! Test doubles (feature `testing`): an in-memory span exporter and helpers
//! to read the HoneyHive attributes of exported spans.

use std::collections::BTreeMap;

pub use opentelemetry_sdk::trace::{InMemorySpanExporter, InMemorySpanExporterBuilder, SpanData};
use serde_json::Value;

pub use crate::attributes::otel_to_json;
pub use crate::worker::RecordedRequest;

/// A span's attributes as JSON values, by key (the last value wins when a key
/// was set twice, as the server reads them).
pub fn attributes(span: &SpanData) -> BTreeMap<String, Value> {
    span.attributes
        .iter()
        .map(|kv| (kv.key.as_str().to_owned(), otel_to_json(&kv.value)))
        .collect()
}

/// The finished spans of an exporter, by name (the first span of each name).
pub fn spans_by_name(exporter: &InMemorySpanExporter) -> BTreeMap<String, SpanData> {
    let mut out = BTreeMap::new();
    for span in exporter.get_finished_spans().unwrap_or_default() {
        out.entry(span.name.to_string()).or_insert(span);
    }
    out
}
