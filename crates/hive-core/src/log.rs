//! A protocol-neutral OTLP log record, the output of OTLP logs decoding
//! (`hive_otlp::decode_logs`) and the input of
//! [`crate::mapping::log_enrichments`], which turns GenAI content events
//! into enrichment patches of the events of their spans.

use std::sync::Arc;

use crate::span::KeyValue;

/// One log record with its resource and instrumentation scope.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogRecord {
    /// When the event occurred (0 when unknown).
    pub time_unix_nano: u64,
    /// When the collector or SDK observed it (0 when unknown).
    pub observed_time_unix_nano: u64,
    /// `None` when absent, empty or all zero.
    pub trace_id: Option<[u8; 16]>,
    /// `None` when absent, empty or all zero.
    pub span_id: Option<[u8; 8]>,
    /// OTLP `SeverityNumber` (0 unspecified, 1-4 trace ... 21-24 fatal).
    pub severity_number: i32,
    pub severity_text: String,
    /// The body (`AnyValue`) as JSON: a string, number, array, object
    /// (from a key-value list), bytes as lower-case hex; `Null` when absent.
    pub body: serde_json::Value,
    pub attributes: Vec<KeyValue>,
    /// The record's `event_name` field, or else its `event.name`
    /// attribute; empty when neither is set.
    pub event_name: String,
    pub flags: u32,
    /// The resource's attributes (shared by all records of one `ResourceLogs`).
    pub resource: Arc<Vec<KeyValue>>,
    pub scope_name: String,
    pub scope_version: String,
}

impl LogRecord {
    /// The first attribute with this key.
    pub fn attr(&self, key: &str) -> Option<&crate::span::AttrValue> {
        self.attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| &kv.value)
    }
}
