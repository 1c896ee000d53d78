//! The OpenAPI 3.1 document of the HTTP API (`GET /openapi.json`), made by
//! `utoipa` from the handlers' `#[utoipa::path]` annotations and the types
//! the API answers with ([`Event`], [`Project`], [`ApiKey`]).
//!
//! Most handlers read their body as JSON text and validate it field by
//! field (so a wrong type is a 400 naming the field); the shapes they
//! accept are described here by the `*Body` types, which only document.
//! Routes that are aliases of another (`/v1/sessions` of
//! `/session/start`, ...) share its operation ([`ALIASES`]). A test checks
//! that every route of [`crate::api_routes`], with each of its methods, is
//! in the document and the reverse.
//!
//! [`Event`]: hive_core::model::Event
//! [`Project`]: hive_store::Project
//! [`ApiKey`]: hive_store::ApiKey

use std::sync::OnceLock;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// Routes served by the same handler as another: (alias, route).
pub const ALIASES: &[(&str, &str)] = &[
    ("/v1/sessions", "/session/start"),
    ("/v1/events/batch", "/events/batch"),
    (
        "/v1/sessions/{session_id}/events/batch",
        "/session/{session_id}/traces",
    ),
    ("/v1/traces", "/opentelemetry/v1/traces"),
    ("/v1/logs", "/opentelemetry/v1/logs"),
    ("/v1/metrics", "/opentelemetry/v1/metrics"),
];

/// `POST /v1/events` is `POST /events` (its `PUT` is not).
pub const POST_ALIASES: &[(&str, &str)] = &[("/v1/events", "/events")];

/// Every error: `{"error": {"code", "message"}, "message", "errorCode",
/// "success": false}`. A client's mistake is a 4xx whose message names the
/// field at fault; 5xx details are logged, not sent.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
    /// The same message (what the official SDK shows).
    message: String,
    /// The same code.
    #[schema(rename = "errorCode")]
    error_code: String,
    success: bool,
}

/// An error's code and message.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// One of `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `payload_too_large`, `unsupported_media_type`, `method_not_allowed`,
    /// `busy`, `catching_up`, `disk_full`, `store_unavailable`,
    /// `shutting_down`, `internal`.
    code: String,
    message: String,
}

/// The namespaces and fields of an event as sent. Any other top-level key
/// lands in `metadata`.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct EventFields {
    event_id: Option<String>,
    session_id: Option<String>,
    parent_id: Option<String>,
    /// `model`, `tool`, `chain` or a custom value.
    event_type: Option<String>,
    event_name: Option<String>,
    source: Option<String>,
    /// Project name (admin keys; a project key always writes its own).
    project: Option<String>,
    /// Without `project`: an existing project's id (as `/session/start`
    /// answers it) or name (admin keys); an unknown one is a 400.
    project_id: Option<String>,
    /// Epoch milliseconds (fractions allowed, as the official SDK sends).
    start_time: Option<f64>,
    end_time: Option<f64>,
    /// Milliseconds.
    duration: Option<f64>,
    error: Option<String>,
    #[schema(value_type = Option<Object>)]
    inputs: Option<Value>,
    #[schema(value_type = Option<Object>)]
    outputs: Option<Value>,
    #[schema(value_type = Option<Object>)]
    config: Option<Value>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    #[schema(value_type = Option<Object>)]
    metrics: Option<Value>,
    #[schema(value_type = Option<Object>)]
    feedback: Option<Value>,
    #[schema(value_type = Option<Object>)]
    user_properties: Option<Value>,
}

/// An event as created (`POST /events`, a batch's events): its
/// `event_type` is required; the other fields are those of [`EventFields`].
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct NewEventFields {
    /// `model`, `tool`, `chain` or a custom value.
    #[schema(min_length = 1)]
    event_type: String,
    event_id: Option<String>,
    session_id: Option<String>,
    parent_id: Option<String>,
    event_name: Option<String>,
    source: Option<String>,
    /// Project name (admin keys; a project key always writes its own).
    project: Option<String>,
    /// Without `project`: an existing project's id (as `/session/start`
    /// answers it) or name (admin keys); an unknown one is a 400.
    project_id: Option<String>,
    /// Epoch milliseconds (fractions allowed).
    start_time: Option<f64>,
    end_time: Option<f64>,
    /// Milliseconds.
    duration: Option<f64>,
    error: Option<String>,
    #[schema(value_type = Option<Object>)]
    inputs: Option<Value>,
    #[schema(value_type = Option<Object>)]
    outputs: Option<Value>,
    #[schema(value_type = Option<Object>)]
    config: Option<Value>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    #[schema(value_type = Option<Object>)]
    metrics: Option<Value>,
    #[schema(value_type = Option<Object>)]
    feedback: Option<Value>,
    #[schema(value_type = Option<Object>)]
    user_properties: Option<Value>,
}

/// `POST /session/start`: `{"session": {...}}`; `POST /v1/sessions`: the
/// session's fields bare. `session_name` names it; a `session_id` is kept.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SessionStartBody {
    session: Option<EventFields>,
    session_name: Option<String>,
}

/// The session event's fields, with the ids the official SDK reads
/// beside them (`org_id`, `workspace_id`).
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct SessionStarted {
    #[serde(flatten)]
    event: hive_core::model::Event,
    org_id: String,
    workspace_id: String,
}

/// `PUT /events`: an enrichment of the event or session `event_id` (the
/// other fields as in [`EnrichBody`]).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EnrichEventBody {
    #[schema(min_length = 1)]
    event_id: String,
    #[schema(value_type = Option<Object>)]
    inputs: Option<Value>,
    #[schema(value_type = Option<Object>)]
    outputs: Option<Value>,
    #[schema(value_type = Option<Object>)]
    config: Option<Value>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    #[schema(value_type = Option<Object>)]
    metrics: Option<Value>,
    #[schema(value_type = Option<Object>)]
    feedback: Option<Value>,
    #[schema(value_type = Option<Object>)]
    user_properties: Option<Value>,
}

/// An enrichment: a patch per namespace (RFC 7396: objects merge, `null`
/// removes a key, later patches win), kept in the event's history.
/// Unknown top-level keys land in `metadata`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EnrichBody {
    /// The event or session (`PUT /events`; the path names it in
    /// `PUT /v1/events/{event_id}`).
    event_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    inputs: Option<Value>,
    #[schema(value_type = Option<Object>)]
    outputs: Option<Value>,
    #[schema(value_type = Option<Object>)]
    config: Option<Value>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    #[schema(value_type = Option<Object>)]
    metrics: Option<Value>,
    #[schema(value_type = Option<Object>)]
    feedback: Option<Value>,
    #[schema(value_type = Option<Object>)]
    user_properties: Option<Value>,
}

/// `POST /events`: `{"event": {...}}`; `POST /v1/events`: the event bare.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CreateEventBody {
    /// The event (its fields may also come bare, as on `POST /v1/events`).
    event: Option<NewEventFields>,
}

/// A batch of events, optionally in one new session.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BatchBody {
    events: Vec<NewEventFields>,
    /// Make a session from `session_properties` holding every event.
    single_session: Option<bool>,
    is_single_session: Option<bool>,
    session_properties: Option<EventFields>,
}

/// A model event in HoneyHive's model-event shape: an event's fields
/// ([`EventFields`]; `event_type` defaults to `model`) and the model's.
#[derive(ToSchema, serde::Serialize)]
#[allow(dead_code)]
pub struct ModelEventFields {
    #[serde(flatten)]
    event: EventFields,
    /// `config.model`.
    model: Option<String>,
    /// `config.model`, where `model` is absent (an older name).
    model_name: Option<String>,
    /// `config.model_version`.
    model_version: Option<String>,
    /// `config.provider`.
    provider: Option<String>,
    /// `inputs.chat_history`.
    #[schema(value_type = Option<Vec<Object>>)]
    messages: Option<Value>,
    /// `outputs` (its fields, or `outputs.content`).
    #[schema(value_type = Option<Object>)]
    response: Option<Value>,
    /// Token counts, kept in `metadata` (`prompt_tokens`, `completion_tokens`,
    /// `total_tokens`).
    #[schema(value_type = Option<Object>)]
    usage: Option<Value>,
    /// `metadata.cost`.
    cost: Option<f64>,
    /// `config.hyperparameters`.
    #[schema(value_type = Option<Object>)]
    hyperparameters: Option<Value>,
    /// `config.template`.
    #[schema(value_type = Option<Object>)]
    template: Option<Value>,
    /// Beside `inputs.chat_history` (their fields, when an object).
    #[schema(value_type = Option<Object>)]
    template_inputs: Option<Value>,
    /// `config.tools`.
    #[schema(value_type = Option<Object>)]
    tools: Option<Value>,
    /// `config.tool_choice`.
    #[schema(value_type = Option<Object>)]
    tool_choice: Option<Value>,
    /// `config.response_format`.
    #[schema(value_type = Option<Object>)]
    response_format: Option<Value>,
}

/// `POST /events/model`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ModelEventBody {
    model_event: ModelEventFields,
}

/// `POST /events/model/batch`: as [`BatchBody`], of model events.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ModelBatchBody {
    model_events: Vec<ModelEventFields>,
    /// Make a session from `session_properties` holding every event.
    single_session: Option<bool>,
    is_single_session: Option<bool>,
    session_properties: Option<EventFields>,
}

/// Events of one session (`POST /session/{session_id}/traces`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SessionTracesBody {
    /// Required, or `logs` instead.
    events: Option<Vec<NewEventFields>>,
    logs: Option<Vec<NewEventFields>>,
}

/// A write acknowledged (in the ingest log; readable once applied).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct WriteAck {
    success: bool,
    event_id: Option<String>,
    event_ids: Option<Vec<String>>,
    session_id: Option<String>,
}

/// A HoneyHive filter.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FilterBody {
    /// A top-level field (`event_type`, `duration`, ...) or a dotted
    /// namespace path (`metadata.user.tier`).
    field: String,
    /// `is`, `is not`, `contains`, `not contains`, `exists`, `not exists`,
    /// `greater than`, `less than`, `after`, `before`.
    operator: String,
    #[schema(value_type = Option<Object>)]
    value: Option<Value>,
    /// `string`, `number`, `boolean`, `datetime`.
    #[schema(rename = "type")]
    ty: Option<String>,
}

/// The body of `POST /v1/events/export` and `/v1/events/search` (empty
/// means no filters).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ExportBody {
    /// Project name (admin keys; a project key reads its own).
    project: Option<String>,
    filters: Option<Vec<FilterBody>>,
    /// `{"$gte", "$lte"}` (ISO or epoch ms) or `{"relative": "24h"}`.
    #[schema(rename = "dateRange", value_type = Option<Object>)]
    date_range: Option<Value>,
    /// At most 7 500 (default 1 000).
    #[schema(minimum = 1, maximum = 7500)]
    limit: Option<u32>,
    /// 1-based.
    #[schema(minimum = 1)]
    page: Option<u32>,
    /// Fields to keep (dotted paths allowed).
    projections: Option<Vec<String>>,
    /// `event` (default), `session` (a session matches when it or any of
    /// its events does), `session_event`.
    level: Option<String>,
    /// `history` and/or `span`: also answer `history` and `spans`, each an
    /// object by event id (what `hive export` uses).
    include: Option<Vec<String>>,
    /// Page by event id (`""`: from the first): the events whose id sorts
    /// after this one, in id order, at event level in a named project;
    /// not counted (`totalEvents` and `count` are null), and the answer's
    /// `next` is the following page's `after` (null after the last page).
    /// Each page costs about its own size, where `page` costs every event
    /// before it (what `hive export` uses).
    after: Option<String>,
    /// HoneyHive's experiment run: refused (400) when set, since this
    /// server keeps no runs (a read it ignored would answer every event).
    evaluation_id: Option<String>,
}

/// A page of events.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ExportPage {
    events: Vec<hive_core::model::Event>,
    /// Null when paged by id (`after`).
    #[schema(rename = "totalEvents")]
    total_events: Option<u64>,
    /// Null when paged by id (`after`).
    count: Option<u64>,
    page: Option<u32>,
    limit: Option<u32>,
    /// With `after`: the next page's `after` (null after the last page).
    next: Option<String>,
    /// With `include: ["history"]`: each event's enrichment history, by id.
    #[schema(value_type = Option<Object>)]
    history: Option<Value>,
    /// With `include: ["span"]`: each event's raw span, by id.
    #[schema(value_type = Option<Object>)]
    spans: Option<Value>,
}

/// A chart query (`POST /v1/events/chart`; the same fields as a query
/// string for `GET`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ChartBody {
    project: Option<String>,
    /// Any numeric field or path; omitted for `count`.
    metric: Option<String>,
    /// `count`, `sum`, `avg`, `min`, `max`, `median`, `p50`, `p75`, `p90`,
    /// `p95`, `p99`.
    aggregation: Option<String>,
    /// `minute`, `hour`, `day`, `week`, `month`, `total`.
    bucket: Option<String>,
    #[schema(rename = "groupBy")]
    group_by: Option<String>,
    filters: Option<Vec<FilterBody>>,
    #[schema(rename = "dateRange", value_type = Option<Object>)]
    date_range: Option<Value>,
    /// `event` or `session`.
    level: Option<String>,
}

/// A saved chart (HoneyHive's shape).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SavedChartBody {
    #[schema(min_length = 1)]
    name: String,
    description: Option<String>,
    metric: Option<String>,
    func: Option<String>,
    #[schema(rename = "groupBy")]
    group_by: Option<String>,
    bucketing: Option<String>,
    #[schema(rename = "dateRange", value_type = Option<Object>)]
    date_range: Option<Value>,
    query: Option<Vec<FilterBody>>,
    project: Option<String>,
}

/// An alert rule.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AlertBody {
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    /// `aggregate` or `drift`.
    #[schema(rename = "type")]
    ty: String,
    /// `above` or `below`.
    comparison: Option<String>,
    threshold: f64,
    /// `hourly`, `daily`, `weekly`, `monthly` or an interval (`15m`).
    frequency: String,
    /// A chart query (see `ChartBody`).
    query: ChartBody,
    /// `{"url", "slack"}`: http(s) to a public address unless the server
    /// allows private ones.
    #[schema(value_type = Option<Object>)]
    webhook: Option<Value>,
    project: Option<String>,
}

/// `{"success": true, "data": ...}`: a saved chart, an alert, or a chart's
/// series.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DataEnvelope {
    success: bool,
    #[schema(value_type = Object)]
    data: Value,
}

/// `{"success": true, "data": [...]}`: saved charts, alert rules, or an
/// alert's evaluations.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ListEnvelope {
    success: bool,
    #[schema(value_type = Vec<Object>)]
    data: Vec<Value>,
}

/// `POST /v1/projects`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct NewProjectBody {
    /// 1 to 200 characters once trimmed, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    name: String,
}

/// `POST /v1/keys`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct NewKeyBody {
    name: Option<String>,
    /// `read_write` by default.
    scope: Option<KeyScope>,
    /// Project name; required unless `admin`.
    project: Option<String>,
    /// When the key stops working: RFC 3339, or epoch milliseconds; ahead
    /// of now, by at most a century. Not with `expires_in`. Neither: never.
    expires_at: Option<String>,
    /// When the key stops working, from now: `30d`, `12h`, `4w`, … (at
    /// most a century). Not with `expires_at`.
    #[schema(pattern = "^[0-9.]+[smhdw]$")]
    expires_in: Option<String>,
}

/// `POST /v1/projects/{name}/ingestion_api_keys` (HoneyHive's
/// `CreateIngestionApiKeyRequest`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct IngestionKeyBody {
    /// Not blank.
    #[schema(pattern = "\\S")]
    name: String,
    /// Given back in the answer, not kept.
    description: Option<String>,
}

/// `POST /v1/projects/{name}/fine_grained_api_keys` (HoneyHive's
/// `CreateDataPlaneApiKeyRequest`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DataPlaneKeyBody {
    /// Not blank.
    #[schema(pattern = "\\S")]
    name: String,
    /// Given back in the answer, not kept.
    description: Option<String>,
    /// What the key may do: one or more of `project.chart.list`, `.get`,
    /// `.post`, `.put`, `.patch`, `.delete`.
    #[schema(min_items = 1)]
    permissions: Vec<DataPlanePermission>,
    /// When the key stops working: RFC 3339, ahead of now by at most a
    /// century.
    expires_at: String,
}

/// A permission of a fine-grained data-plane key.
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum DataPlanePermission {
    #[schema(rename = "project.chart.list")]
    List,
    #[schema(rename = "project.chart.get")]
    Get,
    #[schema(rename = "project.chart.post")]
    Post,
    #[schema(rename = "project.chart.put")]
    Put,
    #[schema(rename = "project.chart.patch")]
    Patch,
    #[schema(rename = "project.chart.delete")]
    Delete,
}

/// What a key may do.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
pub enum KeyScope {
    /// Write events (ingest, enrichment).
    Ingest,
    /// Write and read its project's events.
    ReadWrite,
    /// Everything, in every project.
    Admin,
}

/// `PUT /v1/projects/{name}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RetentionBody {
    /// Days (a positive integer), `"off"` (kept for ever) or null (the
    /// server's default).
    #[schema(required = true, schema_with = retention_days)]
    retention_days: Option<Value>,
}

/// A positive whole number of days, `"off"` or null.
fn retention_days() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    let one_of = OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["off"])),
        )
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .build();
    Schema::OneOf(one_of)
}

/// `POST /v1/import`: records as `hive export` writes them (one per JSON
/// Lines line).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImportBody {
    /// The name of the project to import into.
    #[schema(min_length = 1)]
    project: String,
    /// `{"event", "history", "span"}` each.
    #[schema(value_type = Vec<Object>)]
    records: Vec<Value>,
}

/// A new key: its secret is shown only here.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct KeyCreated {
    key: hive_store::ApiKey,
    secret: String,
}

/// `GET /readyz`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Readiness {
    /// `ok` or `unavailable`.
    status: String,
    /// What is not ready: `store`, `backlog`, `shutting_down`.
    not_ready: Option<Vec<String>>,
    message: Option<String>,
    /// `store` (`ok`, `ms` or `error`), `backlog` (`ok`, `bytes`,
    /// `records`, `lag_seconds`, `limit_bytes`), `shutting_down`.
    #[schema(value_type = Object)]
    checks: Value,
}

/// `GET /healthz`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Health {
    /// `ok`.
    status: String,
}

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("hh_...")
                    .description(Some(
                        "An API key: `Authorization: Bearer hh_...` (ingest, read_write or admin scope)",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hive",
        description = "Self-hosted, HoneyHive-compatible LLM observability: OTLP ingest, \
                       the HoneyHive REST API, queries, charts, alerts and administration. \
                       Every error is `ErrorBody`.",
    ),
    modifiers(&BearerKey),
    security(("api_key" = [])),
    paths(
        crate::admin::healthz,
        crate::admin::readyz,
        crate::admin::metrics,
        serve,
        crate::rest::session_start,
        crate::rest::update_event,
        crate::rest::create_event,
        crate::rest::create_event_batch,
        crate::rest::create_model_event,
        crate::rest::create_model_event_batch,
        crate::rest::session_traces,
        crate::rest::update_event_by_path,
        crate::otlp::export_traces,
        crate::otlp_logs::export_logs,
        crate::otlp_logs::export_metrics,
        crate::read::export,
        crate::read::search,
        crate::read::schema,
        crate::read::get_event,
        crate::read::history,
        crate::read::get_session,
        crate::charts::chart_get,
        crate::charts::chart_post,
        crate::charts::list_charts,
        crate::charts::create_chart,
        crate::charts::get_chart,
        crate::charts::update_chart,
        crate::charts::delete_chart,
        crate::charts::project_list_charts,
        crate::charts::project_create_chart,
        crate::charts::project_get_chart,
        crate::charts::project_update_chart,
        crate::charts::project_delete_chart,
        crate::alerts::list_alerts,
        crate::alerts::create_alert,
        crate::alerts::get_alert,
        crate::alerts::update_alert,
        crate::alerts::delete_alert,
        crate::alerts::alert_history,
        crate::alerts::alert_action,
        crate::admin::list_projects,
        crate::admin::create_project,
        crate::admin::list_keys,
        crate::admin::create_key,
        crate::admin::create_ingestion_key,
        crate::admin::create_data_plane_key,
        crate::admin::revoke_key,
        crate::admin::stats,
        crate::redaction::get_settings,
        crate::redaction::put_settings,
        crate::import::import,
        crate::deletion::delete_session,
        crate::deletion::delete_event,
        crate::deletion::delete_by_filter,
        crate::deletion::list_deletions,
        crate::deletion::get_deletion,
        crate::deletion::get_project,
        crate::deletion::update_project,
    ),
    components(schemas(ErrorBody, hive_core::model::Event, hive_store::Project, hive_store::ApiKey)),
    tags(
        (name = "ingest", description = "Sessions, events, enrichments and OTLP"),
        (name = "query", description = "Events, sessions, history, key discovery"),
        (name = "charts", description = "Chart queries and saved charts"),
        (name = "alerts", description = "Alert rules and their history"),
        (name = "admin", description = "Projects, keys and statistics (admin keys)"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
struct ApiDoc;

/// The document, with the aliases added.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let paths = &mut doc.paths.paths;
    for (alias, route) in ALIASES {
        if let Some(item) = paths.get(*route).cloned() {
            paths.insert((*alias).to_owned(), item);
        }
    }
    for (alias, route) in POST_ALIASES {
        if let Some(post) = paths.get(*route).and_then(|i| i.post.clone()) {
            let mut item = utoipa::openapi::PathItem::default();
            item.post = Some(post);
            paths.insert((*alias).to_owned(), item);
        }
    }
    // Operation ids must be unique: a second use of one (an alias, or a
    // handler that answers PUT and PATCH) gets the method, then the path.
    let mut seen = std::collections::HashSet::new();
    for (path, item) in paths.iter_mut() {
        let ops = [
            ("get", &mut item.get),
            ("post", &mut item.post),
            ("put", &mut item.put),
            ("patch", &mut item.patch),
            ("delete", &mut item.delete),
        ];
        for (method, op) in ops {
            let Some(op) = op else { continue };
            let Some(id) = op.operation_id.clone() else {
                continue;
            };
            let mut unique = id.clone();
            if seen.contains(&unique) {
                unique = format!("{id}_{method}");
            }
            if seen.contains(&unique) {
                let slug = path.trim_matches('/').replace(['/', '{', '}', '.'], "_");
                unique = format!("{id}_{method}_{slug}");
            }
            seen.insert(unique.clone());
            op.operation_id = Some(unique);
        }
    }
    doc
}

/// `GET /openapi.json` (no key: it describes the API, not its data).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    security(()),
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object))
)]
pub async fn serve() -> Response {
    static JSON: OnceLock<String> = OnceLock::new();
    let body = JSON.get_or_init(|| document().to_json().unwrap_or_else(|_| "{}".into()));
    let mut resp = body.clone().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
