//! OTLP/gRPC: the `TraceService/Export` method over HTTP/2 (h2c), served on
//! its own port. Each call is one length-prefixed protobuf message; the
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

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// The gRPC router.
pub fn router(state: SharedState) -> Router {
    let max = state.config.max_body_bytes;
    Router::new()
        .route(EXPORT_PATH, post(export))
        .layer(axum::extract::DefaultBodyLimit::max(max))
        .layer(axum::middleware::from_fn_with_state(state.clone(), admit))
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

async fn export(State(state): State<SharedState>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&state, &headers, &body).await {
        Ok(()) => ok_response(),
        Err(e) => {
            if let ApiError::Internal(detail) = &e {
                tracing::error!(error = %detail, "gRPC export failed");
            }
            error_response(grpc_code(&e), &e.to_string())
        }
    }
}

async fn handle(state: &SharedState, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    let caller = authenticate(state, headers)?;
    let encoding = headers.get("grpc-encoding").and_then(|v| v.to_str().ok());
    let message = hive_otlp::grpc_unframe(body, encoding, state.config.max_decompressed_bytes)
        .map_err(|e| ApiError::bad(e.to_string()))?;
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
    Ok(())
}

fn ok_response() -> Response {
    let payload = hive_otlp::grpc_frame(&hive_otlp::export_response_protobuf());
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
