//! The read API: export/search with HoneyHive filters, one event, one
//! session as a tree, the enrichment history and key discovery.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use bytes::Bytes;
use hive_core::filter::{DateRange, Filter, TopField};
use hive_store::{EventQuery, Level, Order};
use serde_json::{Map, Value, json};

use crate::SharedState;
use crate::auth::{authenticate, project_for_read};
use crate::body::{json_object, now_ms, type_name};
use crate::error::{ApiError, ApiResult};

/// Default and largest page sizes (the SDK documents 7500 as the maximum).
const DEFAULT_LIMIT: usize = 1000;
const MAX_LIMIT: usize = hive_store::query::MAX_LIMIT;

fn positive(obj: &Map<String, Value>, key: &str, default: usize) -> ApiResult<usize> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => {
            let n = v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| ApiError::bad(format!("{key} must be a positive number")))?;
            if n < 1.0 || n.fract() != 0.0 {
                return Err(ApiError::bad(format!(
                    "{key} must be a positive whole number"
                )));
            }
            Ok(n as usize)
        }
    }
}

/// What an export adds to each event besides its state (a Hive extension:
/// `"include": ["history", "span"]`, what `hive export` asks for), and
/// where a page by id starts (`"after"`, also an extension).
#[derive(Debug, Clone, Default)]
pub(crate) struct Include {
    history: bool,
    span: bool,
    /// Page by event id: the events whose id sorts after this one, in id
    /// order, not counted (`Store::events_after`).
    pub(crate) after: Option<String>,
}

/// Parse the body shared by export and search.
pub(crate) fn parse_query(
    state: &SharedState,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<(EventQuery, Option<Vec<String>>, usize, Include)> {
    let caller = authenticate(state, headers)?;
    let obj = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        json_object(headers, body, state.config.max_decompressed_bytes)?
    };
    let typed = |keys: &[&str]| -> ApiResult<Option<String>> {
        hive_core::fields::first(&obj, keys).map_err(ApiError::BadRequest)
    };
    let project = typed(&["project", "project_id"])?;
    let project_id = project_for_read(state, &caller, project.as_deref())?;
    // HoneyHive narrows a read to an experiment run's events by its id.
    // Runs are not kept here: ignored, the read would answer every event.
    if obj.get("evaluation_id").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::bad(
            "evaluation_id: this server keeps no experiment runs (evaluations), so it cannot \
             narrow a read to one; filter on a field the run's events carry (for example \
             metadata.run_id)",
        ));
    }
    let filters = match obj.get("filters") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, f)| {
                Filter::from_json(f).map_err(|e| ApiError::bad(format!("filters[{i}]: {e}")))
            })
            .collect::<ApiResult<Vec<_>>>()?,
        Some(other) => {
            return Err(ApiError::bad(format!(
                "filters must be an array, got {}",
                type_name(other)
            )));
        }
    };
    let date_range = match obj.get("dateRange").or_else(|| obj.get("date_range")) {
        None => DateRange::default(),
        Some(v) => DateRange::from_json(v, now_ms() as f64)?,
    };
    let limit = positive(&obj, "limit", DEFAULT_LIMIT)?;
    if limit > MAX_LIMIT {
        return Err(ApiError::bad(format!("limit must be at most {MAX_LIMIT}")));
    }
    let page = positive(&obj, "page", 1)?;
    let level = match typed(&["level"])?.as_deref() {
        None | Some("event") | Some("events") => Level::Event,
        Some("session") | Some("sessions") => Level::Session,
        Some(other) => {
            return Err(ApiError::bad(format!(
                "level {other:?}: use event or session"
            )));
        }
    };
    let order = match typed(&["order"])?.as_deref() {
        None | Some("asc") => Order::StartAsc,
        Some("desc") => Order::StartDesc,
        Some(other) => return Err(ApiError::bad(format!("order {other:?}: use asc or desc"))),
    };
    let projections: Option<Vec<String>> =
        hive_core::fields::field(&obj, "projections").map_err(ApiError::BadRequest)?;
    let projections = projections.filter(|p| !p.is_empty());
    let mut include = Include::default();
    let names: Option<Vec<String>> =
        hive_core::fields::field(&obj, "include").map_err(ApiError::BadRequest)?;
    for name in names.unwrap_or_default() {
        match name.as_str() {
            "history" => include.history = true,
            "span" => include.span = true,
            other => {
                return Err(ApiError::bad(format!(
                    "include {other:?}: use \"history\" or \"span\""
                )));
            }
        }
    }
    include.after = hive_core::fields::field(&obj, "after").map_err(ApiError::BadRequest)?;
    if include.after.is_some() {
        if level != Level::Event {
            return Err(ApiError::bad(
                "after pages events by id: level must be event",
            ));
        }
        if page != 1 {
            return Err(ApiError::bad(
                "after and page cannot be combined: the next page starts after the last id",
            ));
        }
        if project_id.is_none() {
            return Err(ApiError::bad("after needs a project"));
        }
    }
    let offset = (page - 1)
        .checked_mul(limit)
        .filter(|o| i64::try_from(*o).is_ok())
        .ok_or_else(|| ApiError::bad("page is too large"))?;
    Ok((
        EventQuery {
            project_id,
            filters,
            date_range,
            level,
            order,
            limit,
            offset,
            brief: false,
        },
        projections,
        page,
        include,
    ))
}

/// Keep only the projected fields (dotted paths allowed) plus `event_id`.
fn project_fields(event: Value, projections: &[String]) -> Value {
    let mut out = Map::new();
    out.insert(
        "event_id".into(),
        event.get("event_id").cloned().unwrap_or(Value::Null),
    );
    for p in projections {
        let mut parts = p.split('.');
        let Some(first) = parts.next() else { continue };
        let rest: Vec<&str> = parts.collect();
        let Some(mut value) = event.get(first) else {
            continue;
        };
        let mut ok = true;
        for seg in &rest {
            match value.get(*seg) {
                Some(v) => value = v,
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            hive_core::mapping::insert_path(&mut out, p, value.clone());
        }
    }
    Value::Object(out)
}

/// An export page's histories and spans, by event id.
#[derive(Default)]
struct Extras {
    history: Map<String, Value>,
    spans: Map<String, Value>,
}

/// A page of an export or search: its events, the total (`None` when
/// paged by id, which does not count), the page number and limit, the
/// histories and spans asked for, and with `after` the next page's
/// `after` (`None` past the last page).
type Answer = (
    Vec<Value>,
    Option<u64>,
    usize,
    usize,
    Option<Extras>,
    Option<Option<String>>,
);

async fn run_query(state: SharedState, headers: HeaderMap, body: Bytes) -> ApiResult<Answer> {
    let (query, projections, page, include) = parse_query(&state, &headers, &body)?;
    let limit = query.limit;
    let by_id = include.after.is_some();
    let (result, total, extras) = state
        .read(move |store| {
            let (result, total) = match (&include.after, &query.project_id) {
                (Some(after), Some(project)) => {
                    let events = store.events_after(project, &query, after)?;
                    (
                        hive_store::EventPage {
                            events,
                            total: 0,
                            received_from: None,
                        },
                        None,
                    )
                }
                _ => {
                    let page = store.query(&query)?;
                    let total = page.total;
                    (page, Some(total))
                }
            };
            if !include.history && !include.span {
                return Ok((result, total, None));
            }
            let project = query.project_id.as_deref();
            let mut extras = Extras::default();
            let ids: Vec<&str> = result
                .events
                .iter()
                .filter_map(|e| e.get("event_id").and_then(Value::as_str))
                .collect();
            // The page's histories and spans read together, not one
            // lookup per event.
            if include.history {
                // (From the day the page's events were first written, when
                // the store knows it.)
                let histories = store.histories(project, &ids, result.received_from)?;
                for id in &ids {
                    let entries: Vec<Value> = histories
                        .get(*id)
                        .into_iter()
                        .flatten()
                        .map(|h| {
                            json!({
                                "seq": h.seq,
                                "received_at": h.received_at,
                                "key_id": h.key_id,
                                "patch": h.patch,
                            })
                        })
                        .collect();
                    extras
                        .history
                        .insert((*id).to_owned(), Value::Array(entries));
                }
            }
            if include.span {
                for (id, span) in store.raws(project, &ids, result.received_from)? {
                    extras.spans.insert(id, span);
                }
            }
            Ok((result, total, Some(extras)))
        })
        .await?;
    // The next page starts after the last id, when this one is full.
    let next = by_id.then(|| {
        (result.events.len() == limit)
            .then(|| {
                result
                    .events
                    .last()
                    .and_then(|e| e.get("event_id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .flatten()
    });
    let events = match projections {
        Some(p) => result
            .events
            .into_iter()
            .map(|e| project_fields(e, &p))
            .collect(),
        None => result.events,
    };
    Ok((events, total, page, limit, extras, next))
}

/// `POST /v1/events/export`: `{"events", "totalEvents", "count"}`; with
/// `"include": ["history", "span"]` also `"history"` and `"spans"`, each
/// an object by event id (an event without a span is left out of
/// `spans`).
#[utoipa::path(
    post,
    path = "/v1/events/export",
    tag = "query",
    request_body(content = Option<crate::openapi::ExportBody>, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`)"),
    responses((status = 200, description = "A page of events", body = crate::openapi::ExportPage), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (`Retry-After`): the node's reads over `--max-concurrent-reads` for `--read-queue-secs`, or the backlog over its bound; catching up; or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn export(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (events, total, page, limit, extras, next) = run_query(state, headers, body).await?;
    let mut out = json!({
        "events": events,
        "totalEvents": total,
        "count": total,
        "page": page,
        "limit": limit,
    });
    if let Some(next) = next {
        out["next"] = json!(next);
    }
    if let Some(extras) = extras {
        out["history"] = Value::Object(extras.history);
        out["spans"] = Value::Object(extras.spans);
    }
    Ok(Json(out))
}

/// `POST /v1/events/search`: `{"events", "count"}`.
#[utoipa::path(
    post,
    path = "/v1/events/search",
    tag = "query",
    request_body(content = Option<crate::openapi::ExportBody>, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`)"),
    responses((status = 200, description = "`{\"events\", \"count\"}`", body = Object), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (`Retry-After`): the node's reads over `--max-concurrent-reads` for `--read-queue-secs`, or the backlog over its bound; catching up; or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn search(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (events, total, _, _, _, next) = run_query(state, headers, body).await?;
    let mut out = json!({"events": events, "count": total});
    if let Some(next) = next {
        out["next"] = json!(next);
    }
    Ok(Json(out))
}

/// Authenticate a read, resolve the project it may see, and run `f` on the
/// store off the async threads.
async fn read_store<T: Send + 'static>(
    state: &SharedState,
    headers: &HeaderMap,
    project: Option<&str>,
    f: impl FnOnce(&dyn hive_store::Store, Option<&str>) -> hive_store::Result<T> + Send + 'static,
) -> ApiResult<T> {
    let caller = authenticate(state, headers)?;
    let project_id = project_for_read(state, &caller, project)?;
    state
        .blocking(move |store| f(store, project_id.as_deref()))
        .await
}

#[derive(serde::Deserialize, Default)]
pub struct EventParams {
    project: Option<String>,
    include: Option<String>,
    /// Most events of a session returned (`GET /v1/sessions/{id}`).
    limit: Option<usize>,
}

/// Events of one session returned by default, and at most.
pub const SESSION_LIMIT: usize = 10_000;
pub const SESSION_LIMIT_MAX: usize = 50_000;

/// `GET /v1/events/{event_id}`: `{"event": ...}`; with `?include=span`
/// also the raw span (`"span"`).
#[utoipa::path(
    get,
    path = "/v1/events/{event_id}",
    tag = "query",
    params(("event_id" = String, Path, description = "The event id"), ("project" = Option<String>, Query, description = "Project name (admin keys)"), ("include" = Option<String>, Query, description = "`span` adds the raw span")),
    responses((status = 200, description = "`{\"event\": Event}` (and `span`)", body = Object), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn get_event(
    State(state): State<SharedState>,
    Path(event_id): Path<String>,
    Query(params): Query<EventParams>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let with_span = params
        .include
        .as_deref()
        .is_some_and(|i| i.split(',').any(|p| p.trim() == "span"));
    let (event, span) = read_store(
        &state,
        &headers,
        params.project.as_deref(),
        move |store, project| {
            let event = store.get_event(project, &event_id)?.ok_or_else(|| {
                hive_store::StoreError::NotFound(format!("no event {event_id:?}"))
            })?;
            let span = if with_span {
                store.get_raw(project, &event_id)?
            } else {
                None
            };
            Ok((event, span))
        },
    )
    .await?;
    let mut resp = json!({ "event": event });
    if with_span {
        resp["span"] = span.unwrap_or(Value::Null);
    }
    Ok(Json(resp))
}

/// `GET /v1/events/{event_id}/history`: every enrichment, oldest first,
/// with the name of the key that sent it.
#[utoipa::path(
    get,
    path = "/v1/events/{event_id}/history",
    tag = "query",
    params(("event_id" = String, Path, description = "The event id"), ("project" = Option<String>, Query, description = "Project name (admin keys)")),
    responses((status = 200, description = "`{\"event_id\", \"history\": [{\"seq\", \"received_at\", \"key_id\", \"key_name\", \"keys\", \"patch\"}]}`, oldest first", body = Object), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn history(
    State(state): State<SharedState>,
    Path(event_id): Path<String>,
    Query(params): Query<EventParams>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let id = event_id.clone();
    let (entries, keys) = read_store(
        &state,
        &headers,
        params.project.as_deref(),
        move |store, project| {
            let history = store.history(project, &id)?;
            // Like GET /v1/events/{id}: an event that is not there (and
            // was never enriched) is a 404, not an empty history.
            if history.is_empty() && store.get_event(project, &id)?.is_none() {
                return Err(hive_store::StoreError::NotFound(format!("no event {id:?}")));
            }
            Ok((history, store.auth().keys()?))
        },
    )
    .await?;
    let names: HashMap<&str, &str> = keys
        .iter()
        .map(|k| (k.id.as_str(), k.name.as_str()))
        .collect();
    let history: Vec<Value> = entries
        .iter()
        .map(|h| {
            json!({
                "seq": h.seq,
                "received_at": h.received_at,
                "key_id": h.key_id,
                "key_name": h.key_id.as_deref().and_then(|k| names.get(k).copied()),
                "keys": h.patch.as_object().map(changed_paths).unwrap_or_default(),
                "patch": h.patch,
            })
        })
        .collect();
    Ok(Json(json!({"event_id": event_id, "history": history})))
}

/// The dotted leaf paths a patch touches (`metadata.user.tier`).
fn changed_paths(patch: &Map<String, Value>) -> Vec<String> {
    fn walk(m: &Map<String, Value>, prefix: &str, out: &mut Vec<String>) {
        for (k, v) in m {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                Value::Object(child) if !child.is_empty() => walk(child, &path, out),
                _ => out.push(path),
            }
        }
    }
    let mut out = Vec::new();
    walk(patch, "", &mut out);
    out
}

/// Arrange a session's events as a tree under the session event. Events
/// whose parent is unknown hang off the session.
pub fn session_tree(events: Vec<Value>) -> Option<Value> {
    let mut iter = events.into_iter();
    let mut root = iter.next()?;
    let root_id = root
        .get("event_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let rest: Vec<Value> = iter.collect();
    let ids: std::collections::HashSet<String> = rest
        .iter()
        .filter_map(|e| e.get("event_id").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let mut children: HashMap<String, Vec<Value>> = HashMap::new();
    for e in rest {
        let parent = e
            .get("parent_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let key = if ids.contains(parent) {
            parent.to_owned()
        } else {
            root_id.clone()
        };
        children.entry(key).or_default().push(e);
    }
    fn attach(node: &mut Value, children: &mut HashMap<String, Vec<Value>>, depth: usize) {
        let id = node
            .get("event_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut kids = children.remove(&id).unwrap_or_default();
        if depth < 256 {
            for k in &mut kids {
                attach(k, children, depth + 1);
            }
        }
        if let Value::Object(m) = node {
            m.insert("children".into(), Value::Array(kids));
        }
    }
    attach(&mut root, &mut children, 0);
    // Cycles (a parent loop) would leave events unattached: keep them visible.
    if let Value::Object(m) = &mut root
        && let Some(Value::Array(kids)) = m.get_mut("children")
    {
        for (_, orphans) in children.drain() {
            kids.extend(orphans);
        }
    }
    Some(root)
}

/// `GET /v1/sessions/{session_id}`: the session with its event tree: the
/// first `limit` events by start time (10 000 unless asked, at most
/// 50 000), `truncated` when the session has more, `num_events` all of
/// them.
#[utoipa::path(
    get,
    path = "/v1/sessions/{session_id}",
    tag = "query",
    params(("session_id" = String, Path, description = "The session id"), ("project" = Option<String>, Query, description = "Project name (admin keys)"), ("limit" = Option<usize>, Query, minimum = 1, maximum = 50000, description = "Events returned, 10 000 by default, at most 50 000")),
    responses((status = 200, description = "`{\"session\": Event with `children`, \"num_events\", \"truncated\"}`", body = Object), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn get_session(
    State(state): State<SharedState>,
    Path(session_id): Path<String>,
    Query(params): Query<EventParams>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let sid = session_id.clone();
    let limit = params.limit.unwrap_or(SESSION_LIMIT);
    if !(1..=SESSION_LIMIT_MAX).contains(&limit) {
        return Err(ApiError::bad(format!(
            "limit must be between 1 and {SESSION_LIMIT_MAX}"
        )));
    }
    let mut events = read_store(
        &state,
        &headers,
        params.project.as_deref(),
        move |store, project| store.session_events(project, &sid, limit + 2),
    )
    .await?;
    // The session event and `limit` events.
    let truncated = events.len() > limit + 1;
    events.truncate(limit + 1);
    let is_session = events.first().is_some_and(|e| {
        e.get("event_id").and_then(Value::as_str) == Some(session_id.as_str())
            && e.get("event_type").and_then(Value::as_str) == Some("session")
    });
    if !is_session {
        return Err(ApiError::NotFound(format!("no session {session_id:?}")));
    }
    let n = if truncated {
        events[0]
            .pointer("/metadata/num_events")
            .and_then(Value::as_u64)
            .unwrap_or((events.len() - 1) as u64)
    } else {
        (events.len() - 1) as u64
    };
    let tree = session_tree(events).unwrap_or(Value::Null);
    Ok(Json(
        json!({"session": tree, "num_events": n, "truncated": truncated}),
    ))
}

/// `GET /v1/events/schema`: the fields a project has (top-level fields,
/// session rollups and every namespace path seen, with value types).
#[utoipa::path(
    get,
    path = "/v1/events/schema",
    tag = "query",
    params(("project" = Option<String>, Query, description = "Project name (admin keys)")),
    responses((status = 200, description = "`{\"fields\": [{\"field\", \"name\", \"type\", \"namespace\"}]}`: every field and namespace path seen, with types", body = Object), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn schema(
    State(state): State<SharedState>,
    Query(params): Query<EventParams>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let caller = authenticate(&state, &headers)?;
    let project_id = match project_for_read(&state, &caller, params.project.as_deref())? {
        Some(p) => p,
        None => state.default_project.id.clone(),
    };
    let fields = state
        .blocking(move |store| store.fields(&project_id))
        .await?;
    let mut out: Vec<Value> = TopField::ALL
        .iter()
        .map(|f| {
            json!({
                "field": f.name(),
                "name": f.name(),
                "type": if f.is_numeric() { "number" } else { "string" },
                "namespace": null,
            })
        })
        .collect();
    for f in fields {
        let namespace = f.field.split('.').next().unwrap_or_default().to_owned();
        out.push(json!({"field": f.field, "name": f.field, "type": f.ty, "namespace": namespace}));
    }
    Ok(Json(json!({"fields": out, "datasets": [], "mappings": {}})))
}
