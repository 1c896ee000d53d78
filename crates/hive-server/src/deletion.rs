//! Deleting data and setting retention (ADR 0009):
//!
//! - `DELETE /v1/sessions/{id}`: the session, its events and their history;
//! - `DELETE /v1/events/{id}`: one event (a session event: its session);
//! - `POST /v1/events/delete`: by filter (the export API's filters), a dry
//!   run (`"dry_run": true`, the default) answering the count, else a
//!   deletion carried out in the background ([`crate::retention`]);
//! - `GET /v1/deletions[/{id}]`: the audit trail (who, when, what, how many);
//! - `GET`/`PUT /v1/projects/{name}`: a project and its retention.
//!
//! Deletions are writes through the ingest log: they apply after every
//! write acknowledged before them, survive a crash, and a read after the
//! answer does not see what was deleted. Ingest-only keys cannot delete;
//! project keys delete only in their project.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use hive_store::{DeleteTarget, WriteOp};
use serde_json::{Value, json};

use crate::SharedState;
use crate::auth::{Caller, authenticate};
use crate::body::{json_object, new_id, now_ms};
use crate::error::{ApiError, ApiResult};
use crate::retention::{DELETION, SETTINGS, effective_days, parse_retention};

#[derive(serde::Deserialize, Default)]
pub struct ProjectParam {
    project: Option<String>,
}

/// Who asked, for the audit trail.
pub fn who(caller: &Caller) -> String {
    format!("key {} ({})", caller.key.id, caller.key.name)
}

fn require_delete(state: &SharedState, headers: &HeaderMap) -> ApiResult<Caller> {
    let caller = authenticate(state, headers)?;
    if !caller.key.scope.can_read() {
        return Err(ApiError::Forbidden(
            "this key is ingest-only and cannot delete".into(),
        ));
    }
    Ok(caller)
}

/// The event to delete and its project: a project key looks in its
/// project, an admin key in the project named (`?project=`) or wherever
/// the event is.
async fn find(
    state: &SharedState,
    caller: &Caller,
    named: Option<&str>,
    id: &str,
) -> ApiResult<Value> {
    let project = crate::auth::project_for_read(state, caller, named)?;
    let id = id.to_owned();
    state
        .blocking(move |s| {
            s.get_event(project.as_deref(), &id)?
                .ok_or_else(|| hive_store::StoreError::NotFound(format!("no event {id:?}")))
        })
        .await
}

/// Log a deletion, then record it in the audit trail.
pub async fn delete_logged(
    state: &SharedState,
    requested_by: String,
    project_id: String,
    target: DeleteTarget,
    deleted: u64,
) -> ApiResult<Value> {
    state
        .writer
        .submit(vec![WriteOp::Delete {
            project_id: project_id.clone(),
            target: target.clone(),
        }])
        .await?;
    // Answer once it is applied where possible, so that other nodes sharing
    // the store no longer show it either; it is durable already, so a slow
    // applier only delays the answer by at most the read wait.
    let wait = state.writer.config().read_wait;
    state.writer.wait_applied_for(wait).await;
    let (kind, id) = match &target {
        DeleteTarget::Session(s) => ("session", s),
        DeleteTarget::Event(e) => ("event", e),
    };
    let now = now_ms();
    let record = json!({
        "id": new_id(),
        "kind": kind,
        "target": id,
        "project_id": project_id,
        "requested_by": requested_by,
        "requested_at": now,
        "matched": deleted,
        "deleted": deleted,
        "state": "done",
        "finished_at": now,
    });
    let (p, doc) = (project_id, record.clone());
    state
        .blocking(move |s| {
            s.objects()
                .put(DELETION, &p, doc["id"].as_str().unwrap_or_default(), &doc)
                .map(|_| ())
        })
        .await?;
    state.maintenance.update_deleted(deleted);
    crate::metrics::deletion_deleted_events(deleted);
    crate::metrics::deletion_completed();
    Ok(record)
}

/// `DELETE /v1/sessions/{session_id}`.
#[utoipa::path(
    delete,
    path = "/v1/sessions/{session_id}",
    tag = "ingest",
    params(("session_id" = String, Path, description = "The session"), ("project" = Option<String>, Query, description = "Admin keys: the project (else wherever the session is)")),
    responses((status = 200, description = "Deleted, with its events and their history (answered once applied)", body = Object), (status = 404, description = "No such session", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 503, description = "Busy, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn delete_session(
    State(state): State<SharedState>,
    Path(session_id): Path<String>,
    Query(params): Query<ProjectParam>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let caller = require_delete(&state, &headers)?;
    let event = find(&state, &caller, params.project.as_deref(), &session_id)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => ApiError::NotFound(format!("no session {session_id:?}")),
            e => e,
        })?;
    if event["event_type"] != "session" || event["session_id"] != session_id.as_str() {
        return Err(ApiError::NotFound(format!(
            "no session {session_id:?} (it is an event: DELETE /v1/events/{session_id})"
        )));
    }
    let project_id = event["project_id"].as_str().unwrap_or_default().to_owned();
    let events = event
        .pointer("/metadata/num_events")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        + 1;
    let record = delete_logged(
        &state,
        who(&caller),
        project_id,
        DeleteTarget::Session(session_id.clone()),
        events,
    )
    .await?;
    Ok(Json(json!({
        "success": true,
        "deleted": session_id,
        "deleted_events": events,
        "deletion": record,
    })))
}

/// `DELETE /v1/events/{event_id}`.
#[utoipa::path(
    delete,
    path = "/v1/events/{event_id}",
    tag = "ingest",
    params(("event_id" = String, Path, description = "The event"), ("project" = Option<String>, Query, description = "Admin keys: the project (else wherever the event is)")),
    responses((status = 200, description = "Deleted, with its history (answered once applied)", body = Object), (status = 404, description = "No such event", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 503, description = "Busy, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn delete_event(
    State(state): State<SharedState>,
    Path(event_id): Path<String>,
    Query(params): Query<ProjectParam>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let caller = require_delete(&state, &headers)?;
    let event = find(&state, &caller, params.project.as_deref(), &event_id).await?;
    let project_id = event["project_id"].as_str().unwrap_or_default().to_owned();
    let is_session = event["event_type"] == "session" && event["session_id"] == event_id.as_str();
    let events = if is_session {
        event
            .pointer("/metadata/num_events")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            + 1
    } else {
        1
    };
    let record = delete_logged(
        &state,
        who(&caller),
        project_id,
        DeleteTarget::Event(event_id.clone()),
        events,
    )
    .await?;
    Ok(Json(json!({
        "success": true,
        "deleted": event_id,
        "deleted_events": events,
        "deletion": record,
    })))
}

/// Start a deletion by filter (or count it): shared by the API and the
/// dashboard. `query` is what matches; `source` is how the record keeps it
/// (`filters` as the API received them, or the dashboard's `list_query`).
/// The deletion covers what matches among events that started before now.
pub async fn start_filter_deletion(
    state: &SharedState,
    requested_by: String,
    query: hive_store::EventQuery,
    source: serde_json::Map<String, Value>,
    dry_run: bool,
) -> ApiResult<Value> {
    let Some(project_id) = query.project_id.clone() else {
        return Err(ApiError::bad(
            "project is required to delete by filter (an admin key names one)",
        ));
    };
    let mut count_q = query.clone();
    count_q.limit = 1;
    count_q.offset = 0;
    let matched = state.read(move |s| s.query(&count_q)).await?.total;
    let level = match query.level {
        hive_store::Level::Event => "event",
        hive_store::Level::Session => "session",
        hive_store::Level::SessionEvent => "session_event",
    };
    if dry_run {
        return Ok(json!({"dry_run": true, "matched": matched, "level": level}));
    }
    let now = now_ms();
    let end = query
        .date_range
        .end_ms
        .map_or(now as f64, |e| e.min(now as f64));
    let id = new_id();
    let mut doc = json!({
        "id": id,
        "kind": "filter",
        "project_id": project_id,
        "level": level,
        "start_ms": query.date_range.start_ms,
        "end_ms": end,
        "requested_by": requested_by,
        "requested_at": now,
        "matched": matched,
        "deleted": 0,
        "state": "running",
    });
    for (k, v) in source {
        doc[k] = v;
    }
    let (p, d) = (project_id.clone(), doc.clone());
    // Recorded before it is acknowledged: a crash from here on resumes it.
    state
        .blocking(move |s| s.objects().put(DELETION, &p, &id, &d).map(|_| ()))
        .await?;
    state.maintenance.wake();
    Ok(json!({"dry_run": false, "matched": matched, "level": level, "deletion": doc}))
}

/// `POST /v1/events/delete`: `{"project", "filters", "dateRange", "level":
/// "event"|"session", "dry_run": true}`.
#[utoipa::path(
    post,
    path = "/v1/events/delete",
    tag = "ingest",
    request_body(content = Object, description = "`{\"project\", \"filters\", \"dateRange\", \"level\": \"event\"|\"session\", \"dry_run\": true}` (the export API's filters)", content_type = "application/json"),
    responses((status = 200, description = "A dry run: how many would be deleted", body = Object), (status = 202, description = "The deletion started in the background (its audit record)", body = Object), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (`Retry-After`): the node's reads over `--max-concurrent-reads` for `--read-queue-secs` (a dry run counts what matches), or the backlog over its bound; catching up; or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn delete_by_filter(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let caller = require_delete(&state, &headers)?;
    let obj = json_object(&headers, &body, state.config.max_decompressed_bytes)?;
    let dry_run = match obj.get("dry_run").or_else(|| obj.get("dryRun")) {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ApiError::bad(format!(
                "dry_run must be a boolean, got {}",
                crate::body::type_name(other)
            )));
        }
    };
    let mut source = serde_json::Map::new();
    source.insert(
        "filters".into(),
        obj.get("filters").cloned().unwrap_or(json!([])),
    );
    let (query, _, _, include) = crate::read::parse_query(&state, &headers, &body)?;
    if include.after.is_some() {
        return Err(ApiError::bad(
            "after pages an export: a deletion takes every match",
        ));
    }
    let out = start_filter_deletion(&state, who(&caller), query, source, dry_run).await?;
    let status = if dry_run {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(out)))
}

/// `GET /v1/deletions`: the audit trail of a project (admins: every
/// project, or `?project=`), newest first.
#[utoipa::path(
    get,
    path = "/v1/deletions",
    tag = "admin",
    params(("project" = Option<String>, Query, description = "Admin keys: one project (else every project)")),
    responses((status = 200, description = "`{\"deletions\": [...]}`: the audit trail, newest first (who, when, what, how many)", body = Object), (status = 404, description = "No such project", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody))
)]
pub async fn list_deletions(
    State(state): State<SharedState>,
    Query(params): Query<ProjectParam>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let caller = authenticate(&state, &headers)?;
    let project = crate::auth::project_for_read(&state, &caller, params.project.as_deref())?;
    let mut list = state
        .blocking(move |s| s.objects().list(DELETION, project.as_deref()))
        .await?;
    list.reverse();
    let docs: Vec<Value> = list.into_iter().map(|o| o.doc).collect();
    Ok(Json(json!({"deletions": docs})))
}

/// `GET /v1/deletions/{id}`.
#[utoipa::path(
    get,
    path = "/v1/deletions/{deletion_id}",
    tag = "admin",
    params(("deletion_id" = String, Path, description = "The deletion")),
    responses((status = 200, description = "`{\"deletion\": ...}`: one audit record and its progress", body = Object), (status = 404, description = "No such deletion", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody))
)]
pub async fn get_deletion(
    State(state): State<SharedState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let caller = authenticate(&state, &headers)?;
    let project = crate::auth::project_for_read(&state, &caller, None)?;
    let found = state
        .blocking(move |s| s.objects().get(DELETION, project.as_deref(), &id))
        .await?
        .ok_or_else(|| ApiError::NotFound("no such deletion".into()))?;
    Ok(Json(json!({"deletion": found.doc})))
}

async fn project_view(state: &SharedState, name: &str) -> ApiResult<Value> {
    let auth = state.store.auth();
    let project = match auth.project_by_name(name)? {
        Some(p) => p,
        None => auth
            .project_by_id(name)?
            .ok_or_else(|| ApiError::NotFound(format!("no project named {name:?}")))?,
    };
    let id = project.id.clone();
    let settings = state
        .blocking(move |s| s.objects().get(SETTINGS, Some(&id), &id))
        .await?
        .map(|o| o.doc);
    let own = settings
        .as_ref()
        .and_then(|s| s.get("retention_days"))
        .cloned()
        .unwrap_or(Value::Null);
    let default = state.maintenance.config.default_days;
    Ok(json!({
        "project": project,
        "retention_days": own,
        "default_retention_days": default,
        "effective_retention_days": effective_days(settings.as_ref(), default),
    }))
}

/// `GET /v1/projects/{name}`: the project and its retention.
#[utoipa::path(
    get,
    path = "/v1/projects/{name}",
    tag = "admin",
    params(("name" = String, Path, description = "The project's name")),
    responses((status = 200, description = "The project and its retention", body = Object), (status = 404, description = "No such project", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody))
)]
pub async fn get_project(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let caller = authenticate(&state, &headers)?;
    let view = project_view(&state, &name).await?;
    if !caller.is_admin() && caller.key.project_id.as_deref() != view["project"]["id"].as_str() {
        return Err(ApiError::NotFound(format!("no project named {name:?}")));
    }
    Ok(Json(view))
}

/// `PUT /v1/projects/{name}` (admin): `{"retention_days": N | "off" |
/// null}` (null: the server's default).
#[utoipa::path(
    put,
    path = "/v1/projects/{name}",
    tag = "admin",
    params(("name" = String, Path, description = "The project's name")),
    request_body(content = crate::openapi::RetentionBody, description = "`{\"retention_days\": N | \"off\" | null}` (null: the server's default)", content_type = "application/json"),
    responses((status = 200, description = "The project and its retention", body = Object), (status = 400, description = "A bad retention value (the message names the field)", body = crate::openapi::ErrorBody), (status = 404, description = "No such project", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody))
)]
pub async fn update_project(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    authenticate(&state, &headers)?.require_admin()?;
    let obj = json_object(&headers, &body, state.config.max_decompressed_bytes)?;
    let Some(v) = obj.get("retention_days") else {
        return Err(ApiError::bad("retention_days is required"));
    };
    let value = parse_retention(v).map_err(ApiError::BadRequest)?;
    let view = project_view(&state, &name).await?;
    let id = view["project"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    set_retention(&state, &id, value).await?;
    Ok(Json(project_view(&state, &name).await?))
}

/// Store a project's retention setting (a value from [`parse_retention`]).
pub async fn set_retention(state: &SharedState, project_id: &str, value: Value) -> ApiResult<()> {
    let id = project_id.to_owned();
    state
        .blocking(move |s| {
            s.objects()
                .put(SETTINGS, &id, &id, &json!({"retention_days": value}))
                .map(|_| ())
        })
        .await?;
    state.maintenance.wake();
    Ok(())
}
