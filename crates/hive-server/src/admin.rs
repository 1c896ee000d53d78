//! Health, statistics, projects and API keys.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use bytes::Bytes;
use hive_store::{KeyScope, NewKey};
use serde_json::{Value, json};

use crate::SharedState;
use crate::auth::authenticate;
use crate::body::{json_object, text};
use crate::error::{ApiError, ApiResult};

/// `GET /healthz` (no auth).
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Unknown routes: a JSON 404 naming the path.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

/// `GET /v1/stats` (admin): the write path's counters.
pub async fn stats(State(state): State<SharedState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    authenticate(&state, &headers)?.require_admin()?;
    let w = &state.writer;
    let s = &w.stats;
    let log = w.log();
    Ok(Json(json!({
        "ingest_log": {
            "durable_position": log.durable_end(),
            "applied_position": log.applied(),
            "lag": w.lag(),
            "max_backlog_bytes": w.config().max_backlog_bytes,
            "disk_full": log.disk_full.load(Ordering::Relaxed),
            "applier_error": w.last_error(),
        },
        "logged_requests": s.logged_requests.load(Ordering::Relaxed),
        "applied_ops": s.applied_ops.load(Ordering::Relaxed),
        "transactions": s.transactions.load(Ordering::Relaxed),
        "rejected_requests": s.rejected_requests.load(Ordering::Relaxed),
        "disk_full_requests": s.disk_full_requests.load(Ordering::Relaxed),
        "read_timeouts": s.read_timeouts.load(Ordering::Relaxed),
        "apply_retries": s.apply_retries.load(Ordering::Relaxed),
        "set_aside_records": s.set_aside_records.load(Ordering::Relaxed),
        "maintenance": state.maintenance.snapshot(),
    })))
}

/// `GET /v1/projects`: every project for admins, the key's own otherwise.
pub async fn list_projects(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let caller = authenticate(&state, &headers)?;
    let projects = state.store.auth().projects()?;
    let visible: Vec<_> = projects
        .into_iter()
        .filter(|p| caller.is_admin() || caller.key.project_id.as_deref() == Some(p.id.as_str()))
        .collect();
    Ok(Json(json!({"projects": visible})))
}

/// `POST /v1/projects` (admin): `{"name"}`.
pub async fn create_project(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    authenticate(&state, &headers)?.require_admin()?;
    let obj = json_object(&headers, &body, state.config.max_decompressed_bytes)?;
    let name = text(&obj, "name")?.ok_or_else(|| ApiError::bad("name is required"))?;
    let project = state.store.auth().ensure_project(&name)?;
    Ok(Json(json!({"project": project})))
}

/// `GET /v1/keys` (admin): keys without their secrets.
pub async fn list_keys(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    authenticate(&state, &headers)?.require_admin()?;
    Ok(Json(json!({"keys": state.store.auth().keys()?})))
}

/// `POST /v1/keys` (admin): `{"name", "scope": "ingest"|"read_write"|"admin",
/// "project"}`. The secret is in the answer, once.
pub async fn create_key(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    authenticate(&state, &headers)?.require_admin()?;
    let obj = json_object(&headers, &body, state.config.max_decompressed_bytes)?;
    let scope_name = text(&obj, "scope")?;
    let scope_name = scope_name.as_deref().unwrap_or("read_write");
    let scope = KeyScope::parse(scope_name).ok_or_else(|| {
        ApiError::bad(format!(
            "scope {scope_name:?}: use ingest, read_write or admin"
        ))
    })?;
    let name = text(&obj, "name")?.unwrap_or_else(|| "unnamed".to_owned());
    let project_id = match (scope, text(&obj, "project")?.as_deref()) {
        (KeyScope::Admin, _) => None,
        (_, None) => {
            return Err(ApiError::bad(
                "project is required for ingest and read_write keys",
            ));
        }
        (_, Some(p)) => Some(state.store.auth().ensure_project(p)?.id),
    };
    let (key, secret) = state.store.auth().create_key(&NewKey {
        name,
        scope,
        project_id,
    })?;
    Ok(Json(json!({"key": key, "secret": secret})))
}

/// `DELETE /v1/keys/{key_id}` (admin).
pub async fn revoke_key(
    State(state): State<SharedState>,
    Path(key_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    authenticate(&state, &headers)?.require_admin()?;
    if !state.store.auth().revoke_key(&key_id)? {
        return Err(ApiError::NotFound(format!("no live key {key_id:?}")));
    }
    state.keys.clear();
    Ok(Json(json!({"success": true})))
}
