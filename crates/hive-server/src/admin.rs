//! Health, readiness, metrics, statistics, projects and API keys.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hive_store::{KeyScope, NewKey};
use serde_json::{Value, json};

use crate::SharedState;
use crate::auth::{authenticate, project_in_path};
use crate::body::{json_object, text};
use crate::error::{ApiError, ApiResult};

/// `GET /healthz` (no auth): the process is up and answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The process is up", body = crate::openapi::Health))
)]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// How long `/readyz` waits for the store to answer.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /readyz` (no auth): ready to take traffic when the store answers
/// (within 2 s), the ingest backlog is under `--max-backlog-mb` and the
/// server is not stopping. `200 {"status": "ok", "checks": ...}`, else
/// `503 {"status": "unavailable", "not_ready": [names], "checks": ...}`.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    security(()),
    responses((status = 200, description = "Ready: the store answers and the backlog is under its bound", body = crate::openapi::Readiness), (status = 503, description = "Not ready; `not_ready` names what", body = crate::openapi::Readiness))
)]
pub async fn readyz(State(state): State<SharedState>) -> Response {
    let store = ping_store(&state).await;
    let lag = state.writer.lag();
    let limit = state.writer.config().max_backlog_bytes;
    let backlog_ok = lag.bytes <= limit;
    let stopping = state.writer.is_closed();
    let mut not_ready = Vec::new();
    let store_check = match &store {
        Ok(ms) => json!({"ok": true, "ms": ms}),
        Err(e) => {
            not_ready.push("store");
            json!({"ok": false, "error": e})
        }
    };
    if !backlog_ok {
        not_ready.push("backlog");
    }
    if stopping {
        not_ready.push("shutting_down");
    }
    let checks = json!({
        "store": store_check,
        "backlog": {
            "ok": backlog_ok,
            "bytes": lag.bytes,
            "records": lag.records,
            "lag_seconds": lag.seconds,
            "limit_bytes": limit,
        },
        "shutting_down": stopping,
    });
    if not_ready.is_empty() {
        (
            StatusCode::OK,
            Json(json!({"status": "ok", "checks": checks})),
        )
            .into_response()
    } else {
        let message = format!("not ready: {}", not_ready.join(", "));
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "unavailable",
                "not_ready": not_ready,
                "message": message,
                "checks": checks,
            })),
        )
            .into_response()
    }
}

/// Ask the store for something cheap (the applied log position: one row
/// on SQLite and on ClickHouse); its milliseconds, or why it failed. One
/// check at a time: while one hangs, others report it rather than start
/// another.
async fn ping_store(state: &SharedState) -> Result<f64, String> {
    let now = crate::body::now_ms();
    if let Err(since) =
        state
            .ping_since_ms
            .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire)
    {
        return Err(format!(
            "the store has not answered a check for {} ms",
            now.saturating_sub(since)
        ));
    }
    let started = Instant::now();
    let task = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || {
            let r = state.store.ping();
            state.ping_since_ms.store(0, Ordering::Release);
            r
        })
    };
    match tokio::time::timeout(PING_TIMEOUT, task).await {
        Ok(Ok(Ok(_))) => Ok((started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0),
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Err(e)) => {
            state.ping_since_ms.store(0, Ordering::Release);
            Err(format!("the store check failed: {e}"))
        }
        Err(_) => Err(format!(
            "the store did not answer within {} s",
            PING_TIMEOUT.as_secs()
        )),
    }
}

/// `GET /metrics` on the main port (admin key): Prometheus text.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition (admin key; without a key on `--metrics-addr`)", body = String, content_type = "text/plain; version=0.0.4"), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody))
)]
pub async fn metrics(State(state): State<SharedState>, headers: HeaderMap) -> ApiResult<Response> {
    authenticate(&state, &headers)?.require_admin()?;
    Ok(metrics_text(&state))
}

/// `GET /metrics` on `--metrics-addr` (no key: that listener is for the
/// scraper alone).
pub async fn metrics_open(State(state): State<SharedState>) -> Response {
    metrics_text(&state)
}

fn metrics_text(state: &SharedState) -> Response {
    let body = crate::metrics::render(state);
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// Unknown routes: a JSON 404 naming the path.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {}", uri.path()))
}

/// `GET /v1/stats` (admin): the write path's counters, and what the
/// background work (maintenance, compactions of the events' state) did.
#[utoipa::path(
    get,
    path = "/v1/stats",
    tag = "admin",
    responses((status = 200, description = "The write path's counters, the ingest log's lag, maintenance and the events' state (`state`: its newest compaction by any node, and this node's compactions)", body = Object), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody))
)]
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
        "redaction": crate::redaction::stats_json(&state),
        "maintenance": state.maintenance.snapshot(),
        "state": state.compactions.snapshot(),
    })))
}

/// `GET /v1/projects`: every project for admins, the key's own otherwise.
#[utoipa::path(
    get,
    path = "/v1/projects",
    tag = "admin",
    responses((status = 200, description = "`{\"projects\": [Project]}`: every project for admin keys, the key's own otherwise", body = Object), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody))
)]
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
#[utoipa::path(
    post,
    path = "/v1/projects",
    tag = "admin",
    request_body(content = crate::openapi::NewProjectBody, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`)"),
    responses((status = 200, description = "`{\"project\": Project}` (created, or the existing one of that name)", body = Object), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody))
)]
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
#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "admin",
    responses((status = 200, description = "`{\"keys\": [ApiKey]}`, never their secrets", body = Object), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody))
)]
pub async fn list_keys(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    authenticate(&state, &headers)?.require_admin()?;
    Ok(Json(json!({"keys": state.store.auth().keys()?})))
}

/// `POST /v1/keys` (admin): `{"name", "scope": "ingest"|"read_write"|"admin",
/// "project", "expires_at" | "expires_in"}`. The secret is in the answer,
/// once.
#[utoipa::path(
    post,
    path = "/v1/keys",
    tag = "admin",
    request_body(content = crate::openapi::NewKeyBody, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`)"),
    responses((status = 200, description = "The key and its secret, shown only here", body = crate::openapi::KeyCreated), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody))
)]
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
    let expires_at = expiry(&obj, crate::body::now_ms())?;
    let (key, secret) = state.store.auth().create_key(&NewKey {
        name,
        scope,
        project_id,
        expires_at,
        permissions: Vec::new(),
    })?;
    Ok(Json(json!({"key": key, "secret": secret})))
}

/// When a new key expires, from `expires_at` (RFC 3339, or epoch
/// milliseconds) or `expires_in` (`30d`, `12h`, `4w`…); neither: never. It
/// must lie ahead of `now_ms`, by at most a century.
pub fn expiry(obj: &serde_json::Map<String, Value>, now_ms: i64) -> ApiResult<Option<i64>> {
    use hive_core::time::parse_relative_ms;
    let at = match (obj.get("expires_at"), obj.get("expires_in")) {
        (None | Some(Value::Null), None | Some(Value::Null)) => return Ok(None),
        (Some(a), Some(b)) if !a.is_null() && !b.is_null() => {
            return Err(ApiError::bad("give expires_at or expires_in, not both"));
        }
        (Some(v), _) if !v.is_null() => expires_at(v, now_ms)?,
        (_, Some(v)) => {
            let ms = v
                .as_str()
                .and_then(parse_relative_ms)
                .filter(|ms| *ms > 0.0)
                .ok_or_else(|| {
                    ApiError::bad(format!(
                        "expires_in: {v} is not a duration (e.g. \"30d\", \"12h\", \"4w\"; at most a century)"
                    ))
                })?;
            now_ms as f64 + ms
        }
        _ => return Ok(None),
    };
    Ok(Some(at as i64))
}

/// `expires_at` as given (RFC 3339, or epoch milliseconds): ahead of
/// `now_ms`, by at most a century.
fn expires_at(v: &Value, now_ms: i64) -> ApiResult<f64> {
    use hive_core::time::{MAX_RELATIVE_MS, parse_datetime_ms};
    let ms = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .or_else(|| parse_datetime_ms(s)),
        _ => None,
    }
    .filter(|ms| ms.is_finite())
    .ok_or_else(|| {
        ApiError::bad(format!(
            "expires_at: {v} is not a date (use RFC 3339 or epoch milliseconds)"
        ))
    })?;
    if ms <= now_ms as f64 {
        return Err(ApiError::bad(format!(
            "expires_at: {v} is not in the future"
        )));
    }
    if ms > now_ms as f64 + MAX_RELATIVE_MS {
        return Err(ApiError::bad(format!(
            "expires_at: {v} is more than a century ahead"
        )));
    }
    Ok(ms)
}

/// What both of HoneyHive's key routes take first: an admin key, the
/// project the path names, the JSON body and its `name` (not blank).
fn key_request(
    state: &SharedState,
    headers: &HeaderMap,
    project: &str,
    body: &[u8],
) -> ApiResult<(String, serde_json::Map<String, Value>, String)> {
    let caller = authenticate(state, headers)?;
    caller.require_admin()?;
    let project_id = project_in_path(state, &caller, project)?;
    let obj = json_object(headers, body, state.config.max_decompressed_bytes)?;
    let name = text(&obj, "name")?
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad("name is required"))?;
    Ok((project_id, obj, name))
}

/// `POST /v1/projects/{project}/ingestion_api_keys` (admin): HoneyHive's
/// `{name, description?}`, answered as HoneyHive does, with an ingest key of
/// the project the path names (its id or name) in `data.key_value`, once.
/// The description is given back but not kept.
#[utoipa::path(
    post,
    path = "/v1/projects/{name}/ingestion_api_keys",
    tag = "admin",
    params(("name" = String, Path, description = "The project's id or name")),
    request_body(content = crate::openapi::IngestionKeyBody, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`)"),
    responses((status = 200, description = "`{\"success\": true, \"data\": {\"key_value\", \"key_id\", \"name\", \"description\", \"root_scope_type\": \"project\", \"root_scope_id\"}}`", body = crate::openapi::DataEnvelope), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "Not an admin key", body = crate::openapi::ErrorBody), (status = 404, description = "No such project", body = crate::openapi::ErrorBody), (status = 503, description = "The store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn create_ingestion_key(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(project): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (project_id, obj, name) = key_request(&state, &headers, &project, &body)?;
    let description = text(&obj, "description")?;
    let (key, secret) = state.store.auth().create_key(&NewKey {
        name,
        scope: KeyScope::Ingest,
        project_id: Some(project_id.clone()),
        expires_at: None,
        permissions: Vec::new(),
    })?;
    Ok(Json(json!({
        "success": true,
        "data": {
            "key_value": secret,
            "key_id": key.id,
            "name": key.name,
            "description": description,
            "root_scope_type": "project",
            "root_scope_id": project_id,
        },
    })))
}

/// `POST /v1/projects/{project}/fine_grained_api_keys` (admin): HoneyHive's
/// `{name, description?, permissions, expires_at}`, answered as HoneyHive
/// does, with a fine-grained data-plane key of the project in
/// `data.key_value`, once. The key works only on the routes under its
/// project that its permissions name (`project.chart.list`, `.get`, `.post`,
/// `.put`, `.patch`, `.delete`), until `expires_at`. The description is
/// given back but not kept.
#[utoipa::path(
    post,
    path = "/v1/projects/{name}/fine_grained_api_keys",
    tag = "admin",
    params(("name" = String, Path, description = "The project's id or name")),
    request_body(content = crate::openapi::DataPlaneKeyBody, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`)"),
    responses((status = 200, description = "`{\"success\": true, \"data\": {\"key_value\", \"key_id\", \"permissions\", \"root_scope_type\": \"project\", \"root_scope_id\", \"expires_at\"}}`", body = crate::openapi::DataEnvelope), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "Not an admin key", body = crate::openapi::ErrorBody), (status = 404, description = "No such project", body = crate::openapi::ErrorBody), (status = 503, description = "The store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn create_data_plane_key(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(project): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (project_id, obj, name) = key_request(&state, &headers, &project, &body)?;
    // HoneyHive's answer has no description: checked, not kept.
    text(&obj, "description")?;
    let permissions = match obj.get("permissions") {
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, p)| {
                p.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::bad(format!("permissions[{i}]: {p} is not a string")))
            })
            .collect::<ApiResult<Vec<String>>>()?,
        Some(other) => {
            return Err(ApiError::bad(format!(
                "permissions: {other} is not a list of strings"
            )));
        }
        None => return Err(ApiError::bad("permissions is required")),
    };
    let expires_at = match obj.get("expires_at") {
        Some(v) if !v.is_null() => expires_at(v, crate::body::now_ms())? as i64,
        _ => {
            return Err(ApiError::bad(
                "expires_at is required: a data-plane key expires",
            ));
        }
    };
    let (key, secret) = state.store.auth().create_key(&NewKey {
        name,
        scope: KeyScope::DataPlane,
        project_id: Some(project_id.clone()),
        expires_at: Some(expires_at),
        permissions,
    })?;
    Ok(Json(json!({
        "success": true,
        "data": {
            "key_value": secret,
            "key_id": key.id,
            "name": key.name,
            "permissions": key.permissions,
            "root_scope_type": "project",
            "root_scope_id": project_id,
            "expires_at": key.expires_at.map(hive_core::time::format_rfc3339_ms),
        },
    })))
}

/// `DELETE /v1/keys/{key_id}` (admin).
#[utoipa::path(
    delete,
    path = "/v1/keys/{key_id}",
    tag = "admin",
    params(("key_id" = String, Path, description = "The key id")),
    responses((status = 200, description = "`{\"success\": true}`", body = Object), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody))
)]
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
