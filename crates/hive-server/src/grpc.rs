//! OTLP/gRPC: the `Export` methods of `TraceService`, `LogsService` and
//! `MetricsService` over HTTP/2 (h2c), served on its own port. Each call is one length-prefixed protobuf message; the
//! answer carries `grpc-status` in trailers (or trailers-only on error).

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::post;
use bytes::Bytes;
use http_body::Frame;

use crate::SharedState;
use crate::auth::authenticate;
use crate::error::ApiError;

const TRACES_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const LOGS_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
const METRICS_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// The gRPC router.
pub fn router(state: SharedState) -> Router {
    let max = state.config.max_body_bytes;
    Router::new()
        .route(TRACES_PATH, post(export_traces))
        .route(LOGS_PATH, post(export_logs))
        .route(METRICS_PATH, post(export_metrics))
        .layer(axum::extract::DefaultBodyLimit::max(max))
        .layer(axum::middleware::from_fn_with_state(state.clone(), admit))
        .layer(axum::middleware::from_fn(crate::count_requests))
        .with_state(state)
}

/// gRPC status code of an API error.
fn grpc_code(e: &ApiError) -> u32 {
    match e {
        ApiError::BadRequest(_) => 3,           // INVALID_ARGUMENT
        ApiError::Unauthorized(_) => 16,        // UNAUTHENTICATED
        ApiError::Forbidden(_) => 7,            // PERMISSION_DENIED
        ApiError::NotFound(_) => 5,             // NOT_FOUND
        ApiError::PayloadTooLarge(_) => 8,      // RESOURCE_EXHAUSTED
        ApiError::UnsupportedMediaType(_) => 3, // INVALID_ARGUMENT
        ApiError::Busy(_)
        | ApiError::CatchingUp(_)
        | ApiError::StoreUnavailable(_)
        | ApiError::ShuttingDown => 14, // UNAVAILABLE
        ApiError::DiskFull(_) => 8,             // RESOURCE_EXHAUSTED
        ApiError::Internal(_) => 13,            // INTERNAL
    }
}

fn percent_encode(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    for b in msg.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Admits a call from its headers before its body is read (see
/// [`crate::writer::WriteQueue::admit`]).
async fn admit(
    State(state): State<SharedState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let length = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    match state.writer.admit(length) {
        Ok(admission) => {
            let resp = next.run(req).await;
            drop(admission);
            resp
        }
        Err(e) => error_response(grpc_code(&e), &e.to_string()),
    }
}

async fn export_traces(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(handle_traces(&state, &headers, &body).await)
}

async fn export_logs(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(handle_logs(&state, &headers, &body).await)
}

async fn export_metrics(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(handle_metrics(&state, &headers, &body).await)
}

/// The answer of a call: its response message, or its error as a status.
fn respond(result: Result<Vec<u8>, ApiError>) -> Response {
    match result {
        Ok(message) => ok_response(message),
        Err(e) => {
            if let ApiError::Internal(detail) = &e {
                tracing::error!(error = %detail, "gRPC export failed");
            }
            error_response(grpc_code(&e), &e.to_string())
        }
    }
}

/// The caller and the request message of a call.
fn unframe(
    state: &SharedState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(crate::auth::Caller, Vec<u8>), ApiError> {
    let caller = authenticate(state, headers)?;
    let encoding = headers.get("grpc-encoding").and_then(|v| v.to_str().ok());
    let message = hive_otlp::grpc_unframe(body, encoding, state.config.max_decompressed_bytes)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    Ok((caller, message))
}

async fn handle_traces(
    state: &SharedState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let (caller, message) = unframe(state, headers, body)?;
    let source = headers
        .get("x-source")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("unknown")
        .to_owned();
    crate::otlp::ingest(
        state,
        &caller,
        message,
        hive_otlp::Encoding::Protobuf,
        source,
    )
    .await?;
    Ok(hive_otlp::export_response_protobuf())
}

async fn handle_logs(
    state: &SharedState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let (caller, message) = unframe(state, headers, body)?;
    let outcome =
        crate::otlp_logs::ingest_logs(state, &caller, message, hive_otlp::Encoding::Protobuf)
            .await?;
    Ok(hive_otlp::export_logs_response(
        hive_otlp::Encoding::Protobuf,
        outcome.rejected,
        &outcome.message,
    ))
}

async fn handle_metrics(
    state: &SharedState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let (_caller, message) = unframe(state, headers, body)?;
    let points = crate::otlp_logs::count_metrics(message, hive_otlp::Encoding::Protobuf).await?;
    let text = if points > 0 {
        crate::otlp_logs::metrics_message(points)
    } else {
        String::new()
    };
    Ok(hive_otlp::export_metrics_response(
        hive_otlp::Encoding::Protobuf,
        points,
        &text,
    ))
}

fn ok_response(message: Vec<u8>) -> Response {
    let payload = hive_otlp::grpc_frame(&message);
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let mut resp = Response::new(Body::new(WithTrailers {
        data: Some(Bytes::from(payload)),
        trailers: Some(trailers),
    }));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/grpc"));
    resp
}

/// A trailers-only answer with gRPC status `code` and `message` (also for
/// failures outside the handlers, such as a stalled request body).
pub fn status_response(code: u32, message: &str) -> Response {
    error_response(code, message)
}

fn error_response(code: u32, message: &str) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::OK;
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/grpc"));
    if let Ok(v) = HeaderValue::from_str(&code.to_string()) {
        h.insert("grpc-status", v);
    }
    if let Ok(v) = HeaderValue::from_str(&percent_encode(message)) {
        h.insert("grpc-message", v);
    }
    resp
}

/// A body of one data frame followed by trailers.
struct WithTrailers {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl http_body::Body for WithTrailers {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if let Some(trailers) = self.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }
}
