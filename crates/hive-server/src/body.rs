//! Request bodies: decompression and JSON with errors that name the problem.

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The body, gunzipped when `Content-Encoding: gzip`.
pub fn decoded(headers: &HeaderMap, body: &[u8], max_out: usize) -> Result<Vec<u8>, ApiError> {
    let encoding = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("") | Some("identity") => Ok(body.to_vec()),
        Some("gzip") | Some("x-gzip") => hive_otlp::gunzip(body, max_out).map_err(|e| match e {
            hive_otlp::OtlpError::TooLarge { .. } => ApiError::PayloadTooLarge(e.to_string()),
            other => ApiError::bad(other.to_string()),
        }),
        Some(other) => Err(ApiError::UnsupportedMediaType(format!(
            "unsupported Content-Encoding {other:?}: send identity or gzip"
        ))),
    }
}

/// Parse a JSON body.
pub fn json(headers: &HeaderMap, body: &[u8], max_out: usize) -> Result<Value, ApiError> {
    let bytes = decoded(headers, body, max_out)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad("empty body: expected a JSON object"));
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad(format!("invalid JSON: {e}")))
}

/// Parse a JSON body that must be an object.
pub fn json_object(
    headers: &HeaderMap,
    body: &[u8],
    max_out: usize,
) -> Result<Map<String, Value>, ApiError> {
    match json(headers, body, max_out)? {
        Value::Object(m) => Ok(m),
        other => Err(ApiError::bad(format!(
            "expected a JSON object, got {}",
            type_name(&other)
        ))),
    }
}

/// A string field of a request object (`None` when absent or null); any
/// other type is a 400 naming the field.
pub fn text(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    hive_core::fields::field(obj, key).map_err(ApiError::BadRequest)
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Current time in epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A fresh id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The caller and the JSON object body of a request (authenticated first,
/// so a bad key is reported before a bad body).
pub fn caller_and_body(
    state: &crate::AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(crate::auth::Caller, Map<String, Value>), ApiError> {
    let caller = crate::auth::authenticate(state, headers)?;
    let obj = json_object(headers, body, state.config.max_decompressed_bytes)?;
    Ok((caller, obj))
}
