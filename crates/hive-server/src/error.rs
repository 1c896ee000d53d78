//! The one error type of the API. It becomes a JSON response
//! `{"error": {"code", "message"}, "message", "errorCode"}` (the flat
//! `message`/`errorCode` are what the official SDK surfaces). Details of
//! server faults are logged, not sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Too much is waiting to be applied or read: retry after a second.
    /// The message says what is full.
    #[error("server busy: {0}; retry after 1 s")]
    Busy(String),
    /// A read waited too long for the writes acknowledged before it.
    #[error("{0}")]
    CatchingUp(String),
    /// A write could not be logged for lack of disk space.
    #[error("{0}")]
    DiskFull(String),
    /// The store (ClickHouse) cannot be reached or fails: the message
    /// names it and its error. Writes are still acknowledged into the
    /// ingest log meanwhile.
    #[error("{0}")]
    StoreUnavailable(String),
    #[error("server is shutting down")]
    ShuttingDown,
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn bad(msg: impl Into<String>) -> ApiError {
        ApiError::BadRequest(msg.into())
    }

    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(e.to_string())
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ApiError::CatchingUp(_) => (StatusCode::SERVICE_UNAVAILABLE, "catching_up"),
            ApiError::DiskFull(_) => (StatusCode::INSUFFICIENT_STORAGE, "disk_full"),
            ApiError::StoreUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
            ApiError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "shutting_down"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<hive_store::StoreError> for ApiError {
    fn from(e: hive_store::StoreError) -> ApiError {
        match e {
            hive_store::StoreError::Invalid(m) => ApiError::BadRequest(m),
            hive_store::StoreError::NotFound(m) => ApiError::NotFound(m),
            hive_store::StoreError::Unavailable(m) => ApiError::StoreUnavailable(format!(
                "the store is unavailable: {m}; retry shortly (writes are still accepted)"
            )),
            // Only a dropped request cancels, so no one reads this.
            hive_store::StoreError::Cancelled => {
                ApiError::StoreUnavailable("the read was abandoned by its caller".into())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<hive_core::model::ModelError> for ApiError {
    fn from(e: hive_core::model::ModelError) -> ApiError {
        ApiError::BadRequest(e.to_string())
    }
}

impl From<hive_core::filter::FilterError> for ApiError {
    fn from(e: hive_core::filter::FilterError) -> ApiError {
        ApiError::BadRequest(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "request failed");
                "internal error (see the server log)".to_owned()
            }
            other => other.to_string(),
        };
        let body = json!({
            "error": {"code": code, "message": message},
            "message": message,
            "errorCode": code,
            "success": false,
        });
        let mut resp = (status, axum::Json(body)).into_response();
        if matches!(
            self,
            ApiError::Busy(_)
                | ApiError::CatchingUp(_)
                | ApiError::DiskFull(_)
                | ApiError::StoreUnavailable(_)
        ) {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
