//! OTLP ingest: spans are decoded, mapped to events and written like any
//! other event. Shared by OTLP/HTTP and OTLP/gRPC.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hive_core::mapping::map_span;
use hive_core::span::Span;
use hive_otlp::Encoding;
use hive_store::{PreparedEvent, WriteOp};

use crate::SharedState;
use crate::auth::{Caller, authenticate};
use crate::body::decoded;
use crate::error::{ApiError, ApiResult};
use crate::redaction::{self, SpanOwner};
use crate::writer::OtlpHeader;

/// Validate one export request (decode it, on the blocking pool) and log
/// it; returns the span count. Mapping the spans to events happens behind
/// the acknowledgement, in the applier ([`spans_to_ops`]).
pub async fn ingest(
    state: &SharedState,
    caller: &Caller,
    body: Vec<u8>,
    encoding: Encoding,
    source: String,
) -> ApiResult<usize> {
    let snap = state.redaction.snapshot(&state.store).await?;
    let key_project = caller.key.project_id.clone();
    let default_project = state.default_project.id.clone();
    let slot = state
        .decode_slots
        .acquire()
        .await
        .map_err(|_| ApiError::ShuttingDown)?;
    let (body, n, redacted, counts) = {
        let key_project = key_project.clone();
        let default_project = default_project.clone();
        tokio::task::spawn_blocking(move || -> ApiResult<_> {
            let mut spans = hive_otlp::decode_traces(&body, encoding)
                .map_err(|e| ApiError::bad(e.to_string()))?;
            let owner = SpanOwner {
                key_project: key_project.as_deref(),
                default_project: &default_project,
            };
            if redaction::spans_may_need(&snap, &owner) {
                // Redacted spans are logged re-encoded (as protobuf), so
                // nothing of what the rules replaced reaches the log.
                let (changed, counts) = redaction::redact_spans(&snap, &owner, &mut spans);
                if changed {
                    let n = spans.len();
                    return Ok((hive_otlp::encode_traces_protobuf(&spans), n, true, counts));
                }
            }
            Ok((body, spans.len(), false, Default::default()))
        })
        .await
        .map_err(ApiError::internal)?
    }?;
    drop(slot);
    if n == 0 {
        return Ok(0);
    }
    state.redaction.record(counts);
    let header = OtlpHeader {
        key_project,
        default_project,
        source,
        json: encoding == Encoding::Json && !redacted,
        received_at_ms: crate::body::now_ms(),
    };
    state.writer.submit_otlp(header, body).await?;
    crate::metrics::ingested_spans(n);
    Ok(n)
}

/// The writes of decoded spans: `admin` when the caller's key has no
/// project (spans then go to the project they name, through `resolve`, or
/// follow their session when they name none).
pub fn spans_to_ops<E>(
    spans: &[Span],
    source: &str,
    admin: bool,
    mut resolve: impl FnMut(Option<&str>) -> Result<String, E>,
) -> Result<Vec<WriteOp>, E> {
    let mapped: Vec<_> = spans.iter().map(|span| map_span(span, source)).collect();
    // A span whose id was overridden (`honeyhive_event_id`) is still the
    // parent of its children: point them at the id it really has.
    let overridden: std::collections::HashMap<String, String> = spans
        .iter()
        .zip(&mapped)
        .filter_map(|(span, m)| {
            let derived = hive_core::mapping::span_event_id(&span.trace_id, &span.span_id);
            (m.event.event_id != derived).then(|| (derived, m.event.event_id.clone()))
        })
        .collect();
    let mut ops = Vec::with_capacity(spans.len());
    // Projects named by spans repeat: resolve each name once.
    let mut last: Option<(Option<String>, String)> = None;
    for (span, mut mapped) in spans.iter().zip(mapped) {
        if let Some(real) = mapped
            .event
            .parent_id
            .as_ref()
            .and_then(|p| overridden.get(p))
        {
            mapped.event.parent_id = Some(real.clone());
        }
        // A span of an admin key that names no project follows its session.
        let floating = admin && mapped.project.is_none();
        let project_id = match &last {
            Some((name, id)) if *name == mapped.project => id.clone(),
            _ => {
                let id = resolve(mapped.project.as_deref())?;
                last = Some((mapped.project.clone(), id.clone()));
                id
            }
        };
        let mut event = mapped.event;
        event.project_id = project_id;
        let session_name = mapped.session_name.or_else(|| {
            mapped
                .session_from_trace
                .then(|| format!("trace {}", hive_core::span::hex_lower(&span.trace_id)))
        });
        ops.push(WriteOp::Prepared(Box::new(PreparedEvent::with_raw_text(
            event,
            Some(mapped.raw),
            session_name,
            false,
            floating,
        ))));
    }
    Ok(ops)
}

pub(crate) fn encoding_of(headers: &HeaderMap) -> ApiResult<Encoding> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-protobuf")
        .to_ascii_lowercase();
    if ct.contains("json") {
        Ok(Encoding::Json)
    } else if ct.contains("protobuf") || ct.contains("octet-stream") {
        Ok(Encoding::Protobuf)
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "unsupported Content-Type {ct:?}: send application/x-protobuf or application/json"
        )))
    }
}

/// `POST /opentelemetry/v1/traces` and `POST /v1/traces`: OTLP/HTTP,
/// protobuf or JSON, optionally gzip. Answers 200 with an empty
/// `ExportTraceServiceResponse` in the request's encoding.
#[utoipa::path(
    post,
    path = "/opentelemetry/v1/traces",
    tag = "ingest",
    request_body(description = "An OTLP ExportTraceServiceRequest: protobuf, or JSON (standard OTLP/JSON or the HoneyHive SDK's dialect); gzip accepted", content(("application/x-protobuf"), (Object = "application/json"))),
    responses((status = 200, description = "ExportTraceServiceResponse, in the request's encoding"), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 413, description = "Body over the limit", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody), (status = 507, description = "Disk full: the write was not stored", body = crate::openapi::ErrorBody))
)]
pub async fn export_traces(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let caller = authenticate(&state, &headers)?;
    let encoding = encoding_of(&headers)?;
    let bytes = decoded(&headers, &body, state.config.max_decompressed_bytes)?;
    let source = headers
        .get("x-source")
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown")
        .to_owned();
    ingest(&state, &caller, bytes, encoding, source).await?;
    Ok(match encoding {
        Encoding::Json => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            hive_otlp::export_response_json(),
        )
            .into_response(),
        Encoding::Protobuf => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-protobuf"),
            )],
            hive_otlp::export_response_protobuf(),
        )
            .into_response(),
    })
}
