//! OTLP logs and metrics, over HTTP (`/v1/logs`, `/v1/metrics` and their
//! `/opentelemetry` twins) and gRPC ([`crate::grpc`]).
//!
//! **Logs.** GenAI content events (the conversation of a model call, sent
//! as log records by the OpenTelemetry GenAI instrumentations) are folded
//! into the event of their span as an enrichment of `inputs` and `outputs`
//! ([`hive_core::mapping::log_enrichments`]). Every other record is kept on
//! the event of its span, or on its trace's session when it names a trace
//! but no span, as an enrichment adding it under `metadata.otel_logs.<key>`
//! (shown as the Logs panel of the session view). Enrichments are RFC 7396
//! patches, where arrays replace: a keyed object lets records of many
//! requests add up. The key is the record's time in nanoseconds (20 digits,
//! so keys sort by time) and a checksum of the record and its place in the
//! request, so a retried request rewrites the same keys rather than adding
//! copies. Either kind of enrichment may arrive before its span: it waits
//! and is folded in when the span's event arrives, as any enrichment does.
//!
//! A record with no trace id has no event to be kept on: it is refused,
//! counted in the answer's `partial_success` (`rejected_log_records` and a
//! message saying why), never dropped silently.
//!
//! **Metrics** are not kept: a metrics export is read to count its data
//! points and answered with a `partial_success` naming them all rejected,
//! so exporters neither retry nor report an opaque 404.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hive_core::log::LogRecord;
use hive_core::mapping::{CONTENT_EVENT_NAMES, log_enrichments, span_event_id, trace_session_id};
use hive_otlp::Encoding;
use hive_store::WriteOp;
use serde_json::{Map, Value, json};

use crate::SharedState;
use crate::auth::{Caller, authenticate, project_for_write};
use crate::body::{decoded, now_ms};
use crate::error::{ApiError, ApiResult};

/// The metadata key under which log records are kept on their event.
pub const LOGS_KEY: &str = "otel_logs";

/// What became of the records of one logs export.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LogsOutcome {
    /// Records kept (folded into a conversation or kept as a log entry).
    pub kept: u64,
    /// Records refused (no trace context), with why.
    pub rejected: u64,
    pub message: String,
}

/// Who sent the records and where their enrichments go.
#[derive(Debug, Clone)]
pub struct LogTarget {
    /// Where the enrichments wait until their event arrives.
    pub project_id: String,
    /// The caller's key names no project (an admin key): the enrichments
    /// follow their event into whichever project has it.
    pub floating: bool,
    pub key_id: Option<String>,
    pub received_at_ms: i64,
}

/// The writes of decoded log records (pure: no IO), and what became of
/// them. One enrichment per span with GenAI content, one per event (or
/// session) with other records.
pub fn log_ops(records: &[LogRecord], target: &LogTarget) -> (Vec<WriteOp>, LogsOutcome) {
    let enrich = |event_id: String, patch: Map<String, Value>| WriteOp::Enrich {
        project_id: target.project_id.clone(),
        floating: target.floating,
        event_id,
        patch: Value::Object(patch),
        key_id: target.key_id.clone(),
        received_at_ms: target.received_at_ms,
    };
    let mut ops = Vec::new();
    let mut outcome = LogsOutcome::default();
    let conversations = log_enrichments(records);
    // Content events of a span that made a conversation are folded in;
    // one that made none (no message in it) is kept as a log entry.
    let folded: std::collections::HashSet<([u8; 16], [u8; 8])> = conversations
        .iter()
        .map(|e| (e.trace_id, e.span_id))
        .collect();
    for e in conversations {
        ops.push(enrich(e.event_id, e.patch));
    }
    // Entries per event, in order of each event's first record.
    let mut order: Vec<String> = Vec::new();
    let mut entries: HashMap<String, Map<String, Value>> = HashMap::new();
    for (i, record) in records.iter().enumerate() {
        let Some(trace_id) = record.trace_id else {
            outcome.rejected += 1;
            continue;
        };
        if let Some(span_id) = record.span_id
            && folded.contains(&(trace_id, span_id))
            && CONTENT_EVENT_NAMES.contains(&event_name(record))
        {
            outcome.kept += 1;
            continue;
        }
        let event_id = match record.span_id {
            Some(span_id) => span_event_id(&trace_id, &span_id),
            None => trace_session_id(&trace_id),
        };
        let (key, entry) = log_entry(record, i, target.received_at_ms);
        entries
            .entry(event_id.clone())
            .or_insert_with(|| {
                order.push(event_id);
                Map::new()
            })
            .insert(key, entry);
        outcome.kept += 1;
    }
    for event_id in order {
        if let Some(logs) = entries.remove(&event_id) {
            let mut metadata = Map::new();
            metadata.insert(LOGS_KEY.into(), Value::Object(logs));
            let mut patch = Map::new();
            patch.insert("metadata".into(), Value::Object(metadata));
            ops.push(enrich(event_id, patch));
        }
    }
    if outcome.rejected > 0 {
        outcome.message = format!(
            "{} log record(s) carry no trace id and were not stored: Hive keeps a log record on \
             the event of its span (or the session of its trace)",
            outcome.rejected
        );
    }
    (ops, outcome)
}

fn event_name(record: &LogRecord) -> &str {
    if record.event_name.is_empty() {
        match record.attr("event.name") {
            Some(hive_core::span::AttrValue::Str(s)) => s,
            _ => "",
        }
    } else {
        &record.event_name
    }
}

/// OTLP severity number to its short name.
fn severity_name(n: i32) -> &'static str {
    match n {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        21..=24 => "FATAL",
        _ => "",
    }
}

/// One record as kept: `(key, entry)`. The entry has the record's time
/// (epoch ms), severity, event name, body, attributes and scope; empty
/// fields are left out. The resource is not copied (the span has it).
fn log_entry(record: &LogRecord, index: usize, received_at_ms: i64) -> (String, Value) {
    let nanos = [record.time_unix_nano, record.observed_time_unix_nano]
        .into_iter()
        .find(|t| *t > 0)
        .unwrap_or_else(|| {
            u64::try_from(received_at_ms)
                .unwrap_or(0)
                .saturating_mul(1_000_000)
        });
    let mut entry = Map::new();
    entry.insert("time".into(), json!(nanos / 1_000_000));
    let severity = if record.severity_text.is_empty() {
        severity_name(record.severity_number)
    } else {
        record.severity_text.as_str()
    };
    if !severity.is_empty() {
        entry.insert("severity".into(), json!(severity));
    }
    if record.severity_number != 0 {
        entry.insert("severity_number".into(), json!(record.severity_number));
    }
    let name = event_name(record);
    if !name.is_empty() {
        entry.insert("event_name".into(), json!(name));
    }
    if !record.body.is_null() {
        entry.insert("body".into(), record.body.clone());
    }
    if !record.attributes.is_empty() {
        let attrs: Map<String, Value> = record
            .attributes
            .iter()
            .map(|kv| (kv.key.clone(), kv.value.to_json()))
            .collect();
        entry.insert("attributes".into(), Value::Object(attrs));
    }
    if !record.scope_name.is_empty() {
        let scope = if record.scope_version.is_empty() {
            record.scope_name.clone()
        } else {
            format!("{} {}", record.scope_name, record.scope_version)
        };
        entry.insert("scope".into(), json!(scope));
    }
    let entry = Value::Object(entry);
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&(index as u64).to_le_bytes());
    hasher.update(entry.to_string().as_bytes());
    (format!("{nanos:020}_{:08x}", hasher.finalize()), entry)
}

/// Validate and decode one logs export (on the blocking pool), log its
/// writes, and say what became of its records.
pub async fn ingest_logs(
    state: &SharedState,
    caller: &Caller,
    body: Vec<u8>,
    encoding: Encoding,
) -> ApiResult<LogsOutcome> {
    let target = LogTarget {
        project_id: project_for_write(state, caller, None)?,
        floating: caller.key.project_id.is_none(),
        key_id: Some(caller.key.id.clone()),
        received_at_ms: now_ms(),
    };
    let snap = state.redaction.snapshot(&state.store).await?;
    let (ops, outcome, counts) = tokio::task::spawn_blocking(move || {
        hive_otlp::decode_logs(&body, encoding)
            .map(|records| {
                let (mut ops, outcome) = log_ops(&records, &target);
                let counts = crate::redaction::redact_ops(&snap, &mut ops);
                (ops, outcome, counts)
            })
            .map_err(|e| ApiError::bad(e.to_string()))
    })
    .await
    .map_err(ApiError::internal)??;
    state.redaction.record(counts);
    state.writer.submit(ops).await?;
    if outcome.rejected > 0 {
        tracing::info!(
            rejected = outcome.rejected,
            kept = outcome.kept,
            "log records without a trace id refused"
        );
    }
    Ok(outcome)
}

/// The message of a metrics answer.
pub fn metrics_message(points: u64) -> String {
    format!("Hive does not keep metrics: {points} data point(s) were not stored")
}

/// Count the data points of one metrics export (on the blocking pool).
pub async fn count_metrics(body: Vec<u8>, encoding: Encoding) -> ApiResult<u64> {
    tokio::task::spawn_blocking(move || {
        hive_otlp::count_metric_points(&body, encoding).map_err(|e| ApiError::bad(e.to_string()))
    })
    .await
    .map_err(ApiError::internal)?
}

fn answer(encoding: Encoding, body: Vec<u8>) -> Response {
    let ct = match encoding {
        Encoding::Json => "application/json",
        Encoding::Protobuf => "application/x-protobuf",
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(ct))],
        body,
    )
        .into_response()
}

/// `POST /v1/logs` and `POST /opentelemetry/v1/logs`: OTLP/HTTP, protobuf
/// or JSON, optionally gzip. Answers 200 with an `ExportLogsServiceResponse`
/// (a `partial_success` when records were refused).
#[utoipa::path(
    post,
    path = "/opentelemetry/v1/logs",
    tag = "ingest",
    request_body(description = "An OTLP ExportLogsServiceRequest: protobuf, or JSON (standard OTLP/JSON or the HoneyHive SDK's dialect); gzip accepted", content(("application/x-protobuf"), (Object = "application/json"))),
    responses((status = 200, description = "ExportLogsServiceResponse; records without a trace id are counted in `partial_success`"), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 413, description = "Body over the limit", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody), (status = 507, description = "Disk full: the write was not stored", body = crate::openapi::ErrorBody))
)]
pub async fn export_logs(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let caller = authenticate(&state, &headers)?;
    let encoding = crate::otlp::encoding_of(&headers)?;
    let bytes = decoded(&headers, &body, state.config.max_decompressed_bytes)?;
    let outcome = ingest_logs(&state, &caller, bytes, encoding).await?;
    Ok(answer(
        encoding,
        hive_otlp::export_logs_response(encoding, outcome.rejected, &outcome.message),
    ))
}

/// `POST /v1/metrics` and `POST /opentelemetry/v1/metrics`: authenticated
/// and decoded like any export, then answered with every data point
/// rejected (metrics are not kept).
#[utoipa::path(
    post,
    path = "/opentelemetry/v1/metrics",
    tag = "ingest",
    request_body(description = "An OTLP ExportMetricsServiceRequest: protobuf, or JSON (standard OTLP/JSON or the HoneyHive SDK's dialect); gzip accepted", content(("application/x-protobuf"), (Object = "application/json"))),
    responses((status = 200, description = "ExportMetricsServiceResponse with a `partial_success` rejecting every data point (metrics are not kept)"), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 413, description = "Body over the limit", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn export_metrics(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    authenticate(&state, &headers)?;
    let encoding = crate::otlp::encoding_of(&headers)?;
    let bytes = decoded(&headers, &body, state.config.max_decompressed_bytes)?;
    let points = count_metrics(bytes, encoding).await?;
    let message = if points > 0 {
        metrics_message(points)
    } else {
        String::new()
    };
    Ok(answer(
        encoding,
        hive_otlp::export_metrics_response(encoding, points, &message),
    ))
}
