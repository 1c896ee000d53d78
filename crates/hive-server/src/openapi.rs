//! The OpenAPI document of the REST API (`GET /openapi.json`).

use axum::Json;
use serde_json::Value;

/// `GET /openapi.json` (no auth).
pub async fn serve() -> Json<Value> {
    Json(serde_json::json!({"openapi": "3.1.0"}))
}
