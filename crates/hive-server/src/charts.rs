//! The chart API: `GET /v1/events/chart` aggregates a metric per time
//! bucket (and group) now; `/v1/charts` keeps named charts (HoneyHive's
//! `{name, metric, func, groupBy, bucketing, dateRange, query}`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use bytes::Bytes;
use hive_core::chart::{ChartQuery, filter_json};
use hive_core::time::format_rfc3339_ms;
use hive_store::objects::{CHART, StoredObject};
use serde_json::{Map, Value, json};

use crate::SharedState;
use crate::auth::{
    authenticate, authenticate_for, project_for_read, project_for_write, project_in_path,
};
use crate::body::{caller_and_body, json_object, new_id, now_ms, text};
use crate::error::{ApiError, ApiResult};

/// Query-string parameters as a JSON object (values stay strings;
/// `filters`/`query`/`dateRange` may hold JSON text).
fn params_object(params: &HashMap<String, String>) -> Value {
    Value::Object(
        params
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// Parse a chart query.
pub fn parse_chart(v: &Value) -> ApiResult<ChartQuery> {
    ChartQuery::from_json(v, now_ms() as f64).map_err(|e| ApiError::bad(e.to_string()))
}

/// Run a chart query on the blocking pool; the response's `data`.
pub async fn run_chart(
    state: &SharedState,
    project: Option<String>,
    q: ChartQuery,
) -> ApiResult<Value> {
    let query = q.clone();
    let series = state
        .read(move |store| store.chart(project.as_deref(), &query))
        .await?;
    let mut data = q.to_json();
    if let Value::Object(m) = &mut data {
        m.insert(
            "series".into(),
            series.iter().map(|s| s.to_json()).collect(),
        );
    }
    Ok(data)
}

fn named_project(v: &Value) -> ApiResult<Option<String>> {
    let empty = Map::new();
    hive_core::fields::first(v.as_object().unwrap_or(&empty), &["project", "project_id"])
        .map_err(ApiError::BadRequest)
}

/// `GET /v1/events/chart?metric=&aggregation=&bucket=&groupBy=&filters=&dateRange=&level=&project=`
#[utoipa::path(
    get,
    path = "/v1/events/chart",
    tag = "charts",
    params(("metric" = Option<String>, Query, description = "See ChartBody"), ("aggregation" = Option<String>, Query, description = "See ChartBody"), ("bucket" = Option<String>, Query, description = "See ChartBody"), ("groupBy" = Option<String>, Query, description = "See ChartBody"), ("filters" = Option<String>, Query, description = "See ChartBody"), ("dateRange" = Option<String>, Query, description = "See ChartBody"), ("level" = Option<String>, Query, description = "See ChartBody"), ("project" = Option<String>, Query, description = "See ChartBody")),
    responses((status = 200, description = "`{\"success\", \"data\": {..., \"series\": [{\"group\", \"points\": [{\"bucket\", \"timestamp\", \"value\", \"count\"}]}]}}`", body = crate::openapi::DataEnvelope), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (`Retry-After`): the node's reads over `--max-concurrent-reads` for `--read-queue-secs`, or the backlog over its bound; catching up; or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn chart_get(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let caller = authenticate(&state, &headers)?;
    let v = params_object(&params);
    let project = project_for_read(&state, &caller, named_project(&v)?.as_deref())?;
    let q = parse_chart(&v)?;
    let data = run_chart(&state, project, q).await?;
    Ok(Json(json!({"success": true, "data": data})))
}

/// `POST /v1/events/chart` with the same fields as a JSON body.
#[utoipa::path(
    post,
    path = "/v1/events/chart",
    tag = "charts",
    request_body(content = crate::openapi::ChartBody, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`)"),
    responses((status = 200, description = "The series, as for GET", body = crate::openapi::DataEnvelope), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (`Retry-After`): the node's reads over `--max-concurrent-reads` for `--read-queue-secs`, or the backlog over its bound; catching up; or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn chart_post(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let caller = authenticate(&state, &headers)?;
    let v = Value::Object(json_object(
        &headers,
        &body,
        state.config.max_decompressed_bytes,
    )?);
    let project = project_for_read(&state, &caller, named_project(&v)?.as_deref())?;
    let q = parse_chart(&v)?;
    let data = run_chart(&state, project, q).await?;
    Ok(Json(json!({"success": true, "data": data})))
}

/// A saved chart's stored document from a request body (validated).
pub fn chart_doc(body: &Map<String, Value>, previous: Option<&Value>) -> ApiResult<Value> {
    let mut merged = previous
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, v) in body {
        merged.insert(k.clone(), v.clone());
    }
    let merged = Value::Object(merged);
    let q = parse_chart(&merged)?;
    let merged_obj = merged.as_object().cloned().unwrap_or_default();
    let name = text(&merged_obj, "name")?;
    let description = text(&merged_obj, "description")?;
    let owner_id = text(&merged_obj, "owner_id")?;
    let name = name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad("a chart needs a name"))?;
    if name.len() > 200 {
        return Err(ApiError::bad("the name is longer than 200 characters"));
    }
    let date_range = match merged.get("dateRange").or_else(|| merged.get("date_range")) {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            serde_json::from_str(s).map_err(|e| ApiError::bad(format!("dateRange: {e}")))?
        }
        Some(Value::Object(m)) => Value::Object(m.clone()),
        _ => Value::Null,
    };
    Ok(json!({
        "name": name,
        "description": description,
        "metric": q.metric.as_ref().map(|m| m.dotted()).unwrap_or_else(|| "count".into()),
        "func": q.aggregation.name(),
        "groupBy": q.group_by.as_ref().map(|g| g.dotted()),
        "bucketing": q.bucket.name(),
        "level": match q.level { hive_core::chart::ChartLevel::Event => "event", _ => "session" },
        "dateRange": date_range,
        "query": q.filters.iter().map(filter_json).collect::<Vec<_>>(),
        "owner_id": owner_id,
        "is_active": true,
    }))
}

/// A saved object as the API shows it.
pub fn object_json(o: &StoredObject) -> Value {
    let mut m = o.doc.as_object().cloned().unwrap_or_default();
    m.insert("id".into(), json!(o.id));
    m.insert("_id".into(), json!(o.id));
    m.insert("project_id".into(), json!(o.project_id));
    m.insert("created_at".into(), json!(format_rfc3339_ms(o.created_at)));
    m.insert("updated_at".into(), json!(format_rfc3339_ms(o.updated_at)));
    Value::Object(m)
}

/// `GET /v1/charts[?project=]`
#[utoipa::path(
    get,
    path = "/v1/charts",
    tag = "charts",
    params(("project" = Option<String>, Query, description = "Project name (admin keys)")),
    responses((status = 200, description = "Saved charts", body = crate::openapi::ListEnvelope), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn list_charts(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let caller = authenticate(&state, &headers)?;
    let project = project_for_read(&state, &caller, params.get("project").map(String::as_str))?;
    list_in(&state, project.as_deref())
}

/// The saved charts of `project` (`None`: every project).
fn list_in(state: &SharedState, project: Option<&str>) -> ApiResult<Json<Value>> {
    let list = state.store.objects().list(CHART, project)?;
    Ok(Json(
        json!({"success": true, "data": list.iter().map(object_json).collect::<Vec<_>>()}),
    ))
}

/// `POST /v1/charts`
#[utoipa::path(
    post,
    path = "/v1/charts",
    tag = "charts",
    request_body(content = crate::openapi::SavedChartBody, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`)"),
    responses((status = 200, description = "The saved chart", body = crate::openapi::DataEnvelope), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn create_chart(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (caller, obj) = caller_and_body(&state, &headers, &body)?;
    caller.require_read()?;
    let named = text(&obj, "project")?;
    let doc = chart_doc(&obj, None)?;
    // Only a valid chart may create the project it names.
    let project = project_for_write(&state, &caller, named.as_deref())?;
    save_new(&state, &project, &doc)
}

fn save_new(state: &SharedState, project: &str, doc: &Value) -> ApiResult<Json<Value>> {
    let saved = state.store.objects().put(CHART, project, &new_id(), doc)?;
    Ok(Json(json!({"success": true, "data": object_json(&saved)})))
}

/// `GET /v1/charts/{id}`
#[utoipa::path(
    get,
    path = "/v1/charts/{chart_id}",
    tag = "charts",
    params(("chart_id" = String, Path, description = "The chart id")),
    responses((status = 200, description = "The saved chart", body = crate::openapi::DataEnvelope), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn get_chart(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let caller = authenticate(&state, &headers)?;
    let project = project_for_read(&state, &caller, None)?;
    get_in(&state, project.as_deref(), &id)
}

fn saved(state: &SharedState, project: Option<&str>, id: &str) -> ApiResult<StoredObject> {
    state
        .store
        .objects()
        .get(CHART, project, id)?
        .ok_or_else(|| ApiError::NotFound(format!("no chart {id:?}")))
}

fn get_in(state: &SharedState, project: Option<&str>, id: &str) -> ApiResult<Json<Value>> {
    let o = saved(state, project, id)?;
    Ok(Json(json!({"success": true, "data": object_json(&o)})))
}

/// `PUT|PATCH /v1/charts/{id}`: the fields given replace the saved ones.
#[utoipa::path(
    method(put, patch),
    path = "/v1/charts/{chart_id}",
    tag = "charts",
    params(("chart_id" = String, Path, description = "The chart id")),
    request_body(content = crate::openapi::SavedChartBody, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`)"),
    responses((status = 200, description = "The chart; the fields given replace the saved ones", body = crate::openapi::DataEnvelope), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn update_chart(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (caller, obj) = caller_and_body(&state, &headers, &body)?;
    caller.require_read()?;
    let project = project_for_read(&state, &caller, None)?;
    update_in(&state, project.as_deref(), &id, &obj)
}

fn update_in(
    state: &SharedState,
    project: Option<&str>,
    id: &str,
    obj: &Map<String, Value>,
) -> ApiResult<Json<Value>> {
    let o = saved(state, project, id)?;
    let doc = chart_doc(obj, Some(&o.doc))?;
    let saved = state.store.objects().put(CHART, &o.project_id, id, &doc)?;
    Ok(Json(json!({"success": true, "data": object_json(&saved)})))
}

/// `DELETE /v1/charts/{id}`
#[utoipa::path(
    delete,
    path = "/v1/charts/{chart_id}",
    tag = "charts",
    params(("chart_id" = String, Path, description = "The chart id")),
    responses((status = 200, description = "Deleted", body = Object), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn delete_chart(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let caller = authenticate(&state, &headers)?;
    caller.require_read()?;
    let project = project_for_read(&state, &caller, None)?;
    delete_in(&state, project.as_deref(), &id)
}

fn delete_in(state: &SharedState, project: Option<&str>, id: &str) -> ApiResult<Json<Value>> {
    if !state.store.objects().delete(CHART, project, id)? {
        return Err(ApiError::NotFound(format!("no chart {id:?}")));
    }
    Ok(Json(json!({"success": true, "message": "chart deleted"})))
}

// HoneyHive's charts of a project named in the path
// (`/v1/projects/{project_id}/charts…`): the routes its SDK calls when it is
// given a `project_id`, with the data-plane key (a read-write key, or a
// fine-grained data-plane key with the operation's permission). The project
// is its id or its name; a project key may name its own alone.

/// The project a path names, for a key that may read and write, or a
/// data-plane key of that project with one of `permissions`.
fn path_project(
    state: &SharedState,
    headers: &HeaderMap,
    named: &str,
    permissions: &[&str],
) -> ApiResult<String> {
    let caller = authenticate_for(state, headers, permissions)?;
    caller.require_read()?;
    project_in_path(state, &caller, named)
}

/// `GET /v1/projects/{project}/charts`
#[utoipa::path(
    get,
    path = "/v1/projects/{name}/charts",
    tag = "charts",
    params(("name" = String, Path, description = "The project's id or name")),
    responses((status = 200, description = "The project's saved charts", body = crate::openapi::ListEnvelope), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "No such project", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn project_list_charts(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let project = path_project(&state, &headers, &name, &["project.chart.list"])?;
    list_in(&state, Some(&project))
}

/// `POST /v1/projects/{project}/charts`
#[utoipa::path(
    post,
    path = "/v1/projects/{name}/charts",
    tag = "charts",
    params(("name" = String, Path, description = "The project's id or name")),
    request_body(content = crate::openapi::SavedChartBody, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`); a `project` in it is ignored: the path names the project"),
    responses((status = 200, description = "The saved chart", body = crate::openapi::DataEnvelope), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "No such project", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn project_create_chart(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let project = path_project(&state, &headers, &name, &["project.chart.post"])?;
    let obj = json_object(&headers, &body, state.config.max_decompressed_bytes)?;
    let doc = chart_doc(&obj, None)?;
    save_new(&state, &project, &doc)
}

/// `GET /v1/projects/{project}/charts/{chart_id}`
#[utoipa::path(
    get,
    path = "/v1/projects/{name}/charts/{chart_id}",
    tag = "charts",
    params(("name" = String, Path, description = "The project's id or name"), ("chart_id" = String, Path, description = "The chart id")),
    responses((status = 200, description = "The saved chart", body = crate::openapi::DataEnvelope), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "No such project, or no such chart in it", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn project_get_chart(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let project = path_project(&state, &headers, &name, &["project.chart.get"])?;
    get_in(&state, Some(&project), &id)
}

/// `PATCH|PUT /v1/projects/{project}/charts/{chart_id}`: the fields given
/// replace the saved ones.
#[utoipa::path(
    method(patch, put),
    path = "/v1/projects/{name}/charts/{chart_id}",
    tag = "charts",
    params(("name" = String, Path, description = "The project's id or name"), ("chart_id" = String, Path, description = "The chart id")),
    request_body(content = crate::openapi::SavedChartBody, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`)"),
    responses((status = 200, description = "The chart; the fields given replace the saved ones", body = crate::openapi::DataEnvelope), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "No such project, or no such chart in it", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn project_update_chart(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path((name, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let project = path_project(
        &state,
        &headers,
        &name,
        &["project.chart.put", "project.chart.patch"],
    )?;
    let obj = json_object(&headers, &body, state.config.max_decompressed_bytes)?;
    update_in(&state, Some(&project), &id, &obj)
}

/// `DELETE /v1/projects/{project}/charts/{chart_id}`
#[utoipa::path(
    delete,
    path = "/v1/projects/{name}/charts/{chart_id}",
    tag = "charts",
    params(("name" = String, Path, description = "The project's id or name"), ("chart_id" = String, Path, description = "The chart id")),
    responses((status = 200, description = "Deleted", body = Object), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "No such project, or no such chart in it", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn project_delete_chart(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let project = path_project(&state, &headers, &name, &["project.chart.delete"])?;
    delete_in(&state, Some(&project), &id)
}

/// Run every saved chart and alert rule once, so that the columns they
/// read are in memory before anyone opens a dashboard (the first chart of
/// a field scans the project). Meant for a blocking thread at start-up;
/// returns how many queries ran.
pub fn warm_up(store: &dyn hive_store::Store) -> usize {
    let now = now_ms() as f64;
    let mut queries = Vec::new();
    for (kind, key) in [(CHART, None), (hive_store::objects::ALERT, Some("query"))] {
        match store.objects().list(kind, None) {
            Ok(objects) => {
                for o in objects {
                    let doc = match key {
                        Some(k) => o.doc.get(k).cloned().unwrap_or(Value::Null),
                        None => o.doc.clone(),
                    };
                    if let Ok(q) = ChartQuery::from_json(&doc, now) {
                        queries.push((o.project_id.clone(), q));
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot list saved {kind}s to warm up"),
        }
    }
    let mut ran = 0;
    for (project, q) in queries {
        match store.chart(Some(&project), &q) {
            Ok(_) => ran += 1,
            Err(e) => tracing::warn!(error = %e, %project, "warming up a chart failed"),
        }
    }
    ran
}
