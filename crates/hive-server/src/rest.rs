//! HoneyHive REST ingest: session start, event updates (enrichment) and
//! event creation, with the response shapes the official SDK parses.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use bytes::Bytes;
use hive_core::model::{Event, EventDefaults, enrichment_from_update, event_from_json};
use hive_store::WriteOp;
use serde_json::{Map, Value, json};

use crate::SharedState;
use crate::auth::{Caller, project_for_write};
use crate::body::{caller_and_body, new_id, now_ms, text, type_name};
use crate::error::{ApiError, ApiResult};

/// `X-Source` header, the default source of what a request creates.
fn header_source(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-source")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// Whether events of this request follow their session's project (an admin
/// key, no project named).
fn floats(state: &SharedState, caller: &Caller, obj: &Map<String, Value>) -> ApiResult<bool> {
    Ok(caller.key.project_id.is_none() && named_project(state, caller, obj)?.is_none())
}

/// What a request's events get unless they say otherwise. The project is
/// left empty: it is resolved by [`assign_project`] once the events are
/// valid, as an admin key naming a new project creates it (a refused
/// request created its project).
fn defaults(headers: &HeaderMap) -> EventDefaults {
    EventDefaults {
        project_id: String::new(),
        source: header_source(headers).unwrap_or_else(|| "unknown".to_owned()),
        now_ms: now_ms(),
    }
}

/// Put the request's project (`obj`'s `project` for an admin key, else
/// the key's) on its validated events.
fn assign_project(
    state: &SharedState,
    caller: &Caller,
    obj: &Map<String, Value>,
    ops: &mut [WriteOp],
) -> ApiResult<()> {
    let named = named_project(state, caller, obj)?;
    let project_id = project_for_write(state, caller, named.as_deref())?;
    set_project(ops, &project_id);
    Ok(())
}

fn set_project(ops: &mut [WriteOp], project_id: &str) {
    for op in ops {
        if let WriteOp::Event { event, .. } = op {
            project_id.clone_into(&mut event.project_id);
        }
    }
}

fn object_field<'a>(obj: &'a Map<String, Value>, field: &str) -> ApiResult<&'a Map<String, Value>> {
    match obj.get(field) {
        Some(Value::Object(m)) => Ok(m),
        None | Some(Value::Null) => Err(ApiError::bad(format!("{field} is required"))),
        Some(other) => Err(ApiError::bad(format!(
            "{field} must be an object, got {}",
            type_name(other)
        ))),
    }
}

/// `root[field]` when the body wraps its object (`{"session": {...}}`), else
/// the body itself (the bare form of the `/v1` routes).
fn wrapped<'a>(root: &'a Map<String, Value>, field: &str) -> ApiResult<&'a Map<String, Value>> {
    match root.get(field) {
        Some(_) => object_field(root, field),
        None => Ok(root),
    }
}

/// The session-start answer: the session event plus the ids the SDK
/// requires (`org_id`, `workspace_id`, `project_id`).
fn session_response(event: &Event) -> Value {
    let mut v = event.to_json();
    if let Value::Object(m) = &mut v {
        m.insert("org_id".into(), json!("hive"));
        m.insert("workspace_id".into(), json!("hive"));
        m.insert("project_id".into(), json!(event.project_id));
    }
    v
}

/// `POST /session/start` (`{"session": {...}}`) and `POST /v1/sessions`
/// (the bare session). A client-chosen `session_id` is honoured; starting
/// a session that exists joins it (its namespaces merge in).
#[utoipa::path(
    post,
    path = "/session/start",
    tag = "ingest",
    request_body(content = crate::openapi::SessionStartBody, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`)"),
    responses((status = 200, description = "The session started (or joined)", body = crate::openapi::SessionStarted), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 413, description = "Body over the limit", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody), (status = 507, description = "Disk full: the write was not stored", body = crate::openapi::ErrorBody))
)]
pub async fn session_start(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (caller, root) = caller_and_body(&state, &headers, &body)?;
    let session = wrapped(&root, "session")?;
    let event = event_from_json(session, &defaults(&headers), Some("session"), &mut new_id)?;
    let mut ops = vec![WriteOp::Event {
        event,
        raw: None,
        session_name: None,
        join: true,
        floating: false,
    }];
    assign_project(&state, &caller, session, &mut ops)?;
    // The answer shows the session as stored: redacted.
    state.redact(&mut ops).await?;
    let Some(WriteOp::Event { event, .. }) = ops.first() else {
        return Err(ApiError::Internal(
            "a session start without its event".into(),
        ));
    };
    let event = event.clone();
    state.writer.submit(ops).await?;
    tracing::debug!(session_id = %event.session_id, project_id = %event.project_id, "session started");
    Ok(Json(session_response(&event)))
}

async fn enrich(
    state: &SharedState,
    caller: &Caller,
    obj: &Map<String, Value>,
    path_id: Option<&str>,
) -> ApiResult<Json<Value>> {
    let enrichment = enrichment_from_update(obj, path_id)?;
    let named = named_project(state, caller, obj)?;
    let project_id = project_for_write(state, caller, named.as_deref())?;
    // PUT /events carries no project: with an admin key, the enrichment
    // follows its event into whichever project has it.
    let floating = caller.key.project_id.is_none() && named.is_none();
    let event_id = enrichment.event_id.clone();
    state
        .submit(vec![WriteOp::Enrich {
            project_id,
            floating,
            event_id: enrichment.event_id,
            patch: enrichment.patch,
            key_id: Some(caller.key.id.clone()),
            received_at_ms: now_ms(),
        }])
        .await?;
    Ok(Json(json!({"success": true, "event_id": event_id})))
}

/// `PUT /events`: enrich an event (RFC 7396 merge, kept in the history).
#[utoipa::path(
    put,
    path = "/events",
    tag = "ingest",
    request_body(content = crate::openapi::EnrichEventBody, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`)"),
    responses((status = 200, description = "Acknowledged", body = crate::openapi::WriteAck), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 413, description = "Body over the limit", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody), (status = 507, description = "Disk full: the write was not stored", body = crate::openapi::ErrorBody))
)]
pub async fn update_event(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (caller, obj) = caller_and_body(&state, &headers, &body)?;
    enrich(&state, &caller, &obj, None).await
}

/// `PUT /v1/events/{event_id}`.
#[utoipa::path(
    put,
    path = "/v1/events/{event_id}",
    tag = "ingest",
    params(("event_id" = String, Path, description = "The event id")),
    request_body(content = crate::openapi::EnrichBody, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`)"),
    responses((status = 200, description = "Acknowledged", body = crate::openapi::WriteAck), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 413, description = "Body over the limit", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody), (status = 507, description = "Disk full: the write was not stored", body = crate::openapi::ErrorBody))
)]
pub async fn update_event_by_path(
    State(state): State<SharedState>,
    Path(event_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (caller, obj) = caller_and_body(&state, &headers, &body)?;
    enrich(&state, &caller, &obj, Some(&event_id)).await
}

/// `POST /events` (`{"event": {...}}`) and `POST /v1/events` (bare).
#[utoipa::path(
    post,
    path = "/events",
    tag = "ingest",
    request_body(content = crate::openapi::CreateEventBody, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`)"),
    responses((status = 200, description = "Acknowledged", body = crate::openapi::WriteAck), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 413, description = "Body over the limit", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody), (status = 507, description = "Disk full: the write was not stored", body = crate::openapi::ErrorBody))
)]
pub async fn create_event(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (caller, root) = caller_and_body(&state, &headers, &body)?;
    let obj = wrapped(&root, "event")?;
    create_one(&state, &headers, &caller, obj, None).await
}

/// Create one event; its errors name `field` first when given (the field
/// the event came as).
async fn create_one(
    state: &SharedState,
    headers: &HeaderMap,
    caller: &Caller,
    obj: &Map<String, Value>,
    field: Option<&str>,
) -> ApiResult<Json<Value>> {
    let event =
        event_from_json(obj, &defaults(headers), None, &mut new_id).map_err(|e| match field {
            Some(f) => ApiError::bad(format!("{f}: {e}")),
            None => e.into(),
        })?;
    let event_id = event.event_id.clone();
    let mut ops = vec![WriteOp::Event {
        event,
        raw: None,
        session_name: None,
        join: false,
        floating: floats(state, caller, obj)?,
    }];
    assign_project(state, caller, obj, &mut ops)?;
    state.submit(ops).await?;
    Ok(Json(json!({"success": true, "event_id": event_id})))
}

/// A HoneyHive `ModelEvent` as an event's fields. Its `event_type` is
/// `model` unless it says otherwise. `model` (or the older `model_name`),
/// `model_version`, `provider`, `hyperparameters`, `template`, `tools`,
/// `tool_choice` and `response_format` go to `config`; `messages` to
/// `inputs.chat_history` and `template_inputs` beside it; `response` to
/// `outputs` (its fields, or `content` when it is not an object); `usage`'s
/// counts and `cost` to `metadata`, where session rollups read them. What the
/// event's own namespaces already hold wins; a null field is absent.
fn model_event(m: &Map<String, Value>) -> ApiResult<Map<String, Value>> {
    let mut out = Map::new();
    let (mut config, mut inputs, mut outputs, mut metadata) =
        (Map::new(), Map::new(), Map::new(), Map::new());
    let spread = |into: &mut Map<String, Value>, from: &Map<String, Value>| {
        for (k, v) in from {
            into.entry(k.clone()).or_insert_with(|| v.clone());
        }
    };
    for (k, v) in m {
        if v.is_null() {
            continue;
        }
        match k.as_str() {
            "model" => {
                config.insert("model".into(), v.clone());
            }
            "model_name" if m.get("model").is_none_or(Value::is_null) => {
                config.insert("model".into(), v.clone());
            }
            "model_name" => {}
            "model_version" | "provider" | "hyperparameters" | "template" | "tools"
            | "tool_choice" | "response_format" => {
                config.insert(k.clone(), v.clone());
            }
            "messages" => {
                inputs.insert("chat_history".into(), v.clone());
            }
            "template_inputs" => match v {
                Value::Object(t) => spread(&mut inputs, t),
                other => {
                    inputs.insert("template_inputs".into(), other.clone());
                }
            },
            "response" => match v {
                Value::Object(r) => spread(&mut outputs, r),
                other => {
                    outputs.insert("content".into(), other.clone());
                }
            },
            "usage" => match v {
                Value::Object(u) => spread(&mut metadata, u),
                other => {
                    return Err(ApiError::bad(format!(
                        "usage must be an object, got {}",
                        type_name(other)
                    )));
                }
            },
            "cost" => {
                metadata.insert("cost".into(), v.clone());
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    for (ns, extra) in [
        ("config", config),
        ("inputs", inputs),
        ("outputs", outputs),
        ("metadata", metadata),
    ] {
        if extra.is_empty() {
            continue;
        }
        match out.get_mut(ns) {
            Some(Value::Object(own)) => spread(own, &extra),
            None => {
                out.insert(ns.into(), Value::Object(extra));
            }
            Some(other) => {
                return Err(ApiError::bad(format!(
                    "{ns} must be an object, got {}",
                    type_name(other)
                )));
            }
        }
    }
    out.entry("event_type").or_insert_with(|| json!("model"));
    Ok(out)
}

/// `POST /events/model` (`{"model_event": {...}}`): a model event in
/// HoneyHive's model-event shape.
#[utoipa::path(
    post,
    path = "/events/model",
    tag = "ingest",
    request_body(content = crate::openapi::ModelEventBody, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`)"),
    responses((status = 200, description = "Acknowledged", body = crate::openapi::WriteAck), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 413, description = "Body over the limit", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody), (status = 507, description = "Disk full: the write was not stored", body = crate::openapi::ErrorBody))
)]
pub async fn create_model_event(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (caller, root) = caller_and_body(&state, &headers, &body)?;
    let obj = object_field(&root, "model_event")?;
    let obj = model_event(obj).map_err(|e| ApiError::bad(format!("model_event: {e}")))?;
    create_one(&state, &headers, &caller, &obj, Some("model_event")).await
}

/// `POST /events/model/batch` (`{"model_events": [...]}`, optionally in
/// one new session, as `POST /events/batch`).
#[utoipa::path(
    post,
    path = "/events/model/batch",
    tag = "ingest",
    request_body(content = crate::openapi::ModelBatchBody, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`)"),
    responses((status = 200, description = "Acknowledged", body = crate::openapi::WriteAck), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 413, description = "Body over the limit", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody), (status = 507, description = "Disk full: the write was not stored", body = crate::openapi::ErrorBody))
)]
pub async fn create_model_event_batch(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (caller, root) = caller_and_body(&state, &headers, &body)?;
    let events = array_field(&root, "model_events")?
        .ok_or_else(|| ApiError::bad("model_events is required (an array of model events)"))?;
    let events = events
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Object(m) => model_event(m)
                .map(Value::Object)
                .map_err(|e| ApiError::bad(format!("model_events[{i}]: {e}"))),
            _ => Err(ApiError::bad(format!(
                "model_events[{i}] must be an object"
            ))),
        })
        .collect::<ApiResult<Vec<Value>>>()?;
    batch(&state, &headers, &caller, &root, &events, "model_events").await
}

/// `obj[key]` when it is an array, `None` when absent or null; any other
/// type is a 400 naming the key.
fn array_field<'a>(obj: &'a Map<String, Value>, key: &str) -> ApiResult<Option<&'a Vec<Value>>> {
    match obj.get(key) {
        Some(Value::Array(a)) => Ok(Some(a)),
        None | Some(Value::Null) => Ok(None),
        Some(other) => Err(ApiError::bad(format!(
            "{key} must be an array, got {}",
            type_name(other)
        ))),
    }
}

fn events_array(obj: &Map<String, Value>) -> ApiResult<&Vec<Value>> {
    let key = if obj.contains_key("events") {
        "events"
    } else {
        "logs"
    };
    array_field(obj, key)?.ok_or_else(|| ApiError::bad("events is required (an array of events)"))
}

/// The name of the project a request object names (trimmed; empty is
/// none): its `project`, else its `project_id` (HoneyHive's `/v1` event
/// bodies carry only that), which must be an existing project's id, as
/// `/session/start` answers it, or name: an unknown one is refused rather
/// than written to another project. A project key writes to its own project
/// whatever the body names, so its `project_id` is not looked up.
fn named_project(
    state: &SharedState,
    caller: &Caller,
    obj: &Map<String, Value>,
) -> ApiResult<Option<String>> {
    let trimmed = |v: Option<String>| v.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty());
    if let Some(name) = trimmed(text(obj, "project")?) {
        return Ok(Some(name));
    }
    let Some(id) = trimmed(text(obj, "project_id")?) else {
        return Ok(None);
    };
    if caller.key.project_id.is_some() {
        return Ok(None);
    }
    let auth = state.store.auth();
    if let Some(p) = auth.project_by_id(&id)? {
        return Ok(Some(p.name));
    }
    if auth.project_by_name(&id)?.is_some() {
        return Ok(Some(id));
    }
    Err(ApiError::bad(format!(
        "project_id: no project has the id or name {id:?} (name a new project with `project`)"
    )))
}

/// A list of events' ops, the project each names (its own `project`, else
/// `None`) and their ids.
struct Batch {
    ops: Vec<WriteOp>,
    projects: Vec<Option<String>>,
    ids: Vec<String>,
}

/// What names the project of an event's object ([`named_project`]).
type NamedProject<'a> = dyn Fn(&Map<String, Value>) -> ApiResult<Option<String>> + 'a;

/// Build the ops of a list of events, all in `session_id` when given.
fn batch_ops(
    events: &[Value],
    list: &str,
    defaults: &EventDefaults,
    session_id: Option<&str>,
    named: &NamedProject<'_>,
) -> ApiResult<Batch> {
    let mut ops = Vec::with_capacity(events.len());
    let mut projects = Vec::with_capacity(events.len());
    let mut ids = Vec::with_capacity(events.len());
    for (i, v) in events.iter().enumerate() {
        let Value::Object(obj) = v else {
            return Err(ApiError::bad(format!("{list}[{i}] must be an object")));
        };
        let mut obj = obj.clone();
        if let Some(sid) = session_id
            && obj
                .get("session_id")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            obj.insert("session_id".into(), json!(sid));
        }
        let event = event_from_json(&obj, defaults, None, &mut new_id)
            .map_err(|e| ApiError::bad(format!("{list}[{i}]: {e}")))?;
        projects.push(named(&obj).map_err(|e| ApiError::bad(format!("{list}[{i}]: {e}")))?);
        ids.push(event.event_id.clone());
        ops.push(WriteOp::Event {
            event,
            raw: None,
            session_name: None,
            join: false,
            floating: false,
        });
    }
    Ok(Batch { ops, projects, ids })
}

/// `POST /events/batch` and `POST /v1/events/batch`. With
/// `single_session` (or `is_single_session`), a session is made from
/// `session_properties` (or `session`) and holds every event.
#[utoipa::path(
    post,
    path = "/events/batch",
    tag = "ingest",
    request_body(content = crate::openapi::BatchBody, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`)"),
    responses((status = 200, description = "Acknowledged", body = crate::openapi::WriteAck), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 413, description = "Body over the limit", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody), (status = 507, description = "Disk full: the write was not stored", body = crate::openapi::ErrorBody))
)]
pub async fn create_event_batch(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (caller, root) = caller_and_body(&state, &headers, &body)?;
    let events = events_array(&root)?;
    batch(&state, &headers, &caller, &root, events, "events").await
}

/// A batch of events (`events`, the list as the request calls it), with
/// the request's `project` and single-session fields in `root`.
async fn batch(
    state: &SharedState,
    headers: &HeaderMap,
    caller: &Caller,
    root: &Map<String, Value>,
    events: &[Value],
    list: &str,
) -> ApiResult<Json<Value>> {
    let defaults = defaults(headers);
    let single = ["single_session", "is_single_session"]
        .iter()
        .map(|k| hive_core::fields::field::<bool>(root, k).map_err(ApiError::BadRequest))
        .collect::<ApiResult<Vec<_>>>()?
        .into_iter()
        .any(|b| b == Some(true));
    let named = |obj: &Map<String, Value>| named_project(state, caller, obj);
    let root_project = named(root)?;
    let mut ops = Vec::new();
    let mut session_id = None;
    let ids;
    if single {
        let (name, props) = match ["session_properties", "session"]
            .into_iter()
            .find_map(|k| root.get(k).map(|v| (k, v)))
        {
            Some((k, Value::Object(m))) => (k, m.clone()),
            None | Some((_, Value::Null)) => ("session_properties", Map::new()),
            Some((k, other)) => {
                return Err(ApiError::bad(format!(
                    "{k} must be an object, got {}",
                    type_name(other)
                )));
            }
        };
        // Its errors name the field it came as, as the events' do.
        let session = event_from_json(&props, &defaults, Some("session"), &mut new_id)
            .map_err(|e| ApiError::bad(format!("{name}: {e}")))?;
        let sid = session.session_id.clone();
        let Batch {
            ops: event_ops,
            projects,
            ids: event_ids,
        } = batch_ops(events, list, &defaults, Some(&sid), &named)?;
        ids = event_ids;
        // One session, one project: the batch's, else the session's, else
        // the one its events name; an event naming another is refused
        // rather than moved.
        let project = match root_project {
            Some(p) => Some(p),
            None => named(&props).map_err(|e| ApiError::bad(format!("{name}: {e}")))?,
        }
        .or_else(|| projects.iter().flatten().next().cloned());
        if caller.key.project_id.is_none()
            && let Some(want) = &project
            && let Some((i, other)) = projects
                .iter()
                .enumerate()
                .find_map(|(i, p)| p.as_ref().filter(|p| *p != want).map(|p| (i, p)))
        {
            return Err(ApiError::bad(format!(
                "{list}[{i}].project: the batch is one session, in project {want:?}; this event names {other:?}"
            )));
        }
        session_id = Some(sid);
        ops.push(WriteOp::Event {
            event: session,
            raw: None,
            session_name: None,
            join: true,
            floating: false,
        });
        ops.extend(event_ops);
        let project_id = project_for_write(state, caller, project.as_deref())?;
        set_project(&mut ops, &project_id);
    } else {
        let Batch {
            ops: mut event_ops,
            projects,
            ids: event_ids,
        } = batch_ops(events, list, &defaults, None, &named)?;
        ids = event_ids;
        // Each event in the project it names, else the batch's; with an
        // admin key and neither, it follows its session's project.
        let mut resolved: HashMap<Option<String>, String> = HashMap::new();
        for (op, named) in event_ops.iter_mut().zip(projects) {
            let named = named.or_else(|| root_project.clone());
            let project_id = match resolved.get(&named) {
                Some(id) => id.clone(),
                None => {
                    let id = project_for_write(state, caller, named.as_deref())?;
                    resolved.insert(named.clone(), id.clone());
                    id
                }
            };
            if let WriteOp::Event {
                event, floating, ..
            } = op
            {
                event.project_id = project_id;
                *floating = caller.key.project_id.is_none() && named.is_none();
            }
        }
        ops.extend(event_ops);
    }
    state.submit(ops).await?;
    let mut resp = json!({"success": true, "event_ids": ids});
    if let Some(sid) = session_id {
        resp["session_id"] = json!(sid);
    }
    Ok(Json(resp))
}

/// `POST /session/{session_id}/traces` and
/// `POST /v1/sessions/{session_id}/events/batch`.
#[utoipa::path(
    post,
    path = "/session/{session_id}/traces",
    tag = "ingest",
    params(("session_id" = String, Path, description = "The session id")),
    request_body(content = crate::openapi::SessionTracesBody, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`)"),
    responses((status = 200, description = "Acknowledged", body = crate::openapi::WriteAck), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 413, description = "Body over the limit", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody), (status = 507, description = "Disk full: the write was not stored", body = crate::openapi::ErrorBody))
)]
pub async fn session_traces(
    State(state): State<SharedState>,
    Path(session_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (caller, root) = caller_and_body(&state, &headers, &body)?;
    let events = events_array(&root)?;
    let defaults = defaults(&headers);
    // Its events are the session's in the path, in the request's project.
    let Batch { mut ops, ids, .. } =
        batch_ops(events, "events", &defaults, Some(&session_id), &|_| {
            Ok(None)
        })?;
    let floating = floats(&state, &caller, &root)?;
    for op in &mut ops {
        if let WriteOp::Event { floating: f, .. } = op {
            *f = floating;
        }
    }
    assign_project(&state, &caller, &root, &mut ops)?;
    state.submit(ops).await?;
    Ok(Json(
        json!({"success": true, "event_ids": ids, "session_id": session_id}),
    ))
}
