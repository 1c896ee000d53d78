//! OTLP decoding: `ExportTraceServiceRequest` bodies (protobuf, OTLP/JSON
//! and the HoneyHive Python SDK's JSON dialect, optionally gzipped or
//! gRPC-framed) into protocol-neutral [`hive_core::span::Span`]s,
//! `ExportLogsServiceRequest` bodies into [`hive_core::log::LogRecord`]s
//! ([`decode_logs`]), and the data points of `ExportMetricsServiceRequest`
//! bodies counted ([`count_metric_points`]).
//!
//! ```
//! use hive_otlp::{decode_traces, encode_traces_protobuf, Encoding};
//!
//! let body = br#"{"resourceSpans":[{"scopeSpans":[{"scope":{"name":"demo"},"spans":[{
//!     "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
//!     "parentSpanId":null,"name":"hello","kind":"SPAN_KIND_INTERNAL",
//!     "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000500000000",
//!     "attributes":[{"key":"tokens","value":{"intValue":"42"}}]}]}]}]}"#;
//! let spans = decode_traces(body, Encoding::Json)?;
//! assert_eq!(spans[0].name, "hello");
//! assert_eq!(spans[0].parent_span_id, None);
//! assert_eq!(spans[0].attr_str("tokens").as_deref(), Some("42"));
//!
//! // The same spans as OTLP protobuf, and back.
//! let bytes = encode_traces_protobuf(&spans);
//! assert_eq!(decode_traces(&bytes, Encoding::Protobuf)?, spans);
//! # Ok::<(), hive_otlp::OtlpError>(())
//! ```
//!
//! Limits: `AnyValue` nesting (arrays / key-value lists inside each other) is
//! capped at [`MAX_ANY_VALUE_DEPTH`] levels for both encodings, decompression
//! output is capped by the caller's `max_out`, and no input makes the decoder
//! panic.

use std::io::Read;

use hive_core::log::LogRecord;
use hive_core::span::Span;

mod grpc;
mod json;
mod logs;
mod metrics;
mod path;
pub mod proto;
mod protobuf;
#[doc(hidden)]
pub mod sample;

pub use grpc::{grpc_frame, grpc_unframe};

/// How an OTLP body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Binary protobuf (`application/x-protobuf`, gRPC payloads).
    Protobuf,
    /// OTLP/JSON (`application/json`), including the HoneyHive SDK dialect.
    Json,
}

impl Encoding {
    /// The encoding for an HTTP `Content-Type` (parameters such as `charset`
    /// are ignored), or `None` when it is neither protobuf nor JSON.
    pub fn from_content_type(content_type: &str) -> Option<Encoding> {
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if mime.eq_ignore_ascii_case("application/x-protobuf")
            || mime.eq_ignore_ascii_case("application/protobuf")
            || mime.eq_ignore_ascii_case("application/grpc")
            || mime.eq_ignore_ascii_case("application/grpc+proto")
        {
            Some(Encoding::Protobuf)
        } else if mime.eq_ignore_ascii_case("application/json")
            || mime.to_ascii_lowercase().ends_with("+json")
        {
            Some(Encoding::Json)
        } else {
            None
        }
    }
}

/// Deepest allowed nesting of arrays / key-value lists inside an attribute
/// value; a value nested deeper is rejected with [`OtlpError::NestingTooDeep`].
pub const MAX_ANY_VALUE_DEPTH: usize = 32;

/// Why an OTLP body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    /// The bytes are not a valid protobuf export request.
    #[error("invalid protobuf: {0}")]
    Protobuf(String),
    /// A protobuf field has an invalid value (for instance a span id that is
    /// not 8 bytes long).
    #[error("invalid OTLP protobuf at {path}: {message}")]
    ProtobufField { path: String, message: String },
    /// The body is not JSON at all.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// The JSON is well formed but a field is missing or has the wrong shape.
    #[error("invalid OTLP/JSON at {path}: {message}")]
    JsonField { path: String, message: String },
    /// Attribute values nested deeper than [`MAX_ANY_VALUE_DEPTH`] (or deeper
    /// than the protobuf decoder's recursion limit).
    #[error("nesting too deep at {path} (limit {limit} levels)")]
    NestingTooDeep { path: String, limit: usize },
    /// The gzip stream is corrupt or truncated.
    #[error("gzip: {0}")]
    Gzip(String),
    /// Decompression would produce more than the allowed number of bytes.
    #[error("body too large after decompression (limit {limit} bytes)")]
    TooLarge { limit: usize },
    /// A gRPC length-prefixed message is malformed.
    #[error("invalid gRPC frame: {0}")]
    GrpcFrame(String),
    /// A compressed gRPC message uses an encoding other than gzip.
    #[error("unsupported grpc-encoding {0:?} (only gzip and identity are supported)")]
    GrpcEncoding(String),
}

/// Decode an `ExportTraceServiceRequest` body (already decompressed and, for
/// gRPC, unframed) into spans, in request order.
pub fn decode_traces(body: &[u8], encoding: Encoding) -> Result<Vec<Span>, OtlpError> {
    match encoding {
        Encoding::Protobuf => protobuf::decode(body),
        Encoding::Json => json::decode(body),
    }
}

/// Decode an `ExportLogsServiceRequest` body (already decompressed and, for
/// gRPC, unframed) into log records, in request order.
///
/// Each record keeps its times, severity, `trace_id`/`span_id` (`None` when
/// absent or all zero), body (the `AnyValue` as JSON: a key-value list as
/// an object, bytes as hex; `Null` when absent), attributes, flags, its
/// resource's attributes and its scope. `event_name` is the record's
/// `event_name` field, or else its `event.name` attribute (older SDKs),
/// or else empty. The JSON encoding accepts the same dialects as
/// [`decode_traces`], and severity numbers as numbers or enum names
/// (`SEVERITY_NUMBER_WARN`). Errors and limits are those of
/// [`decode_traces`].
///
/// ```
/// use hive_otlp::{decode_logs, Encoding};
///
/// let body = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{
///     "timeUnixNano":"1700000000000000000","severityNumber":"SEVERITY_NUMBER_INFO",
///     "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
///     "eventName":"gen_ai.user.message","body":{"kvlistValue":{"values":[
///         {"key":"content","value":{"stringValue":"Hello"}}]}}}]}]}]}"#;
/// let records = decode_logs(body, Encoding::Json)?;
/// assert_eq!(records[0].event_name, "gen_ai.user.message");
/// assert_eq!(records[0].severity_number, 9);
/// assert_eq!(records[0].body["content"], "Hello");
/// # Ok::<(), hive_otlp::OtlpError>(())
/// ```
pub fn decode_logs(body: &[u8], encoding: Encoding) -> Result<Vec<LogRecord>, OtlpError> {
    match encoding {
        Encoding::Protobuf => logs::decode_protobuf(body),
        Encoding::Json => logs::decode_json(body),
    }
}

/// The number of data points in an `ExportMetricsServiceRequest` body
/// (gauge, sum, histogram, exponential histogram and summary points), so a
/// server that does not store metrics can answer with an OTLP partial
/// success naming them as rejected ([`export_metrics_response`]). The
/// points themselves are not decoded; a body that is not a metrics request
/// is an error as in [`decode_traces`].
pub fn count_metric_points(body: &[u8], encoding: Encoding) -> Result<u64, OtlpError> {
    match encoding {
        Encoding::Protobuf => metrics::count_protobuf(body),
        Encoding::Json => metrics::count_json(body),
    }
}

/// An `ExportLogsServiceResponse` in `encoding`: empty (`{}`) when
/// `rejected` is 0 and `message` empty, else with `partial_success`
/// (`rejected_log_records`, `error_message`).
pub fn export_logs_response(encoding: Encoding, rejected: u64, message: &str) -> Vec<u8> {
    use proto::collector::logs::v1 as pl;
    let partial = (rejected > 0 || !message.is_empty()).then(|| pl::ExportLogsPartialSuccess {
        rejected_log_records: i64::try_from(rejected).unwrap_or(i64::MAX),
        error_message: message.to_owned(),
    });
    match encoding {
        Encoding::Protobuf => {
            use prost::Message;
            pl::ExportLogsServiceResponse {
                partial_success: partial,
            }
            .encode_to_vec()
        }
        Encoding::Json => partial_json("rejectedLogRecords", rejected, message),
    }
}

/// An `ExportMetricsServiceResponse` in `encoding`: empty (`{}`) when
/// `rejected` is 0 and `message` empty, else with `partial_success`
/// (`rejected_data_points`, `error_message`).
pub fn export_metrics_response(encoding: Encoding, rejected: u64, message: &str) -> Vec<u8> {
    use proto::collector::metrics::v1 as pm;
    let partial = (rejected > 0 || !message.is_empty()).then(|| pm::ExportMetricsPartialSuccess {
        rejected_data_points: i64::try_from(rejected).unwrap_or(i64::MAX),
        error_message: message.to_owned(),
    });
    match encoding {
        Encoding::Protobuf => {
            use prost::Message;
            pm::ExportMetricsServiceResponse {
                partial_success: partial,
            }
            .encode_to_vec()
        }
        Encoding::Json => partial_json("rejectedDataPoints", rejected, message),
    }
}

/// OTLP/JSON: `{}` or `{"partialSuccess": {<count key>: "N", "errorMessage"}}`
/// (64-bit integers as strings).
fn partial_json(count_key: &str, rejected: u64, message: &str) -> Vec<u8> {
    if rejected == 0 && message.is_empty() {
        return b"{}".to_vec();
    }
    let mut partial = serde_json::Map::new();
    if rejected > 0 {
        partial.insert(
            count_key.into(),
            rejected.min(i64::MAX as u64).to_string().into(),
        );
    }
    if !message.is_empty() {
        partial.insert("errorMessage".into(), message.into());
    }
    serde_json::json!({ "partialSuccess": partial })
        .to_string()
        .into_bytes()
}

/// gunzip `body` (one or more concatenated gzip members), failing with
/// [`OtlpError::TooLarge`] as soon as the output would exceed `max_out`
/// bytes, so a zip bomb costs at most `max_out` bytes of memory.
pub fn gunzip(body: &[u8], max_out: usize) -> Result<Vec<u8>, OtlpError> {
    // Typical OTLP payloads compress 5-20x; start there and let it grow.
    let initial = body.len().saturating_mul(8).min(max_out).min(1 << 24);
    let mut out = Vec::with_capacity(initial);
    let limit = u64::try_from(max_out).unwrap_or(u64::MAX).saturating_add(1);
    let mut reader = flate2::read::MultiGzDecoder::new(body).take(limit);
    reader
        .read_to_end(&mut out)
        .map_err(|e| OtlpError::Gzip(e.to_string()))?;
    if out.len() > max_out {
        return Err(OtlpError::TooLarge { limit: max_out });
    }
    Ok(out)
}

/// Encode spans as an OTLP protobuf `ExportTraceServiceRequest`.
///
/// Spans sharing a resource `Arc` become one `ResourceSpans` (in order of
/// first appearance), and within it spans with the same scope name and
/// version one `ScopeSpans`.
pub fn encode_traces_protobuf(spans: &[Span]) -> Vec<u8> {
    protobuf::encode(spans)
}

/// An empty `ExportTraceServiceResponse` as protobuf (the body of a
/// successful gRPC or `application/x-protobuf` export response).
pub fn export_response_protobuf() -> Vec<u8> {
    use prost::Message;
    proto::collector::trace::v1::ExportTraceServiceResponse::default().encode_to_vec()
}

/// An empty `ExportTraceServiceResponse` as OTLP/JSON: `{}`.
pub fn export_response_json() -> &'static str {
    "{}"
}
