//! The Hive HTTP server: OTLP ingest (HTTP and gRPC), the HoneyHive REST
//! API, the query API and auth, over any [`hive_store::Store`].
//!
//! Handlers decode and validate; writes are appended to the ingest log
//! ([`writer::WriteQueue`]) and acknowledged once it is on disk, then
//! applied to the store behind them. Reads wait for the writes
//! acknowledged before them.

pub mod admin;
pub mod alerts;
pub mod applier;
pub mod auth;
pub mod body;
pub mod charts;
pub mod compaction;
pub mod dashboard;
pub mod deletion;
pub mod destination;
pub mod error;
pub mod grpc;
pub mod import;
pub mod ingest_log;
pub mod metered;
pub mod metrics;
pub mod openapi;
pub mod otlp;
pub mod otlp_logs;
pub mod read;
pub mod read_slots;
pub mod redaction;
pub mod rest;
pub mod retention;
pub mod webhook;
pub mod writer;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, delete, get, post, put};
use hive_store::{Project, Store};

pub use auth::Caller;
pub use error::{ApiError, ApiResult};
pub use writer::{WriteQueue, WriterConfig, WriterThreads};

/// Limits and settings of the HTTP API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest request body as received (compressed or not).
    pub max_body_bytes: usize,
    /// Largest body after decompression.
    pub max_decompressed_bytes: usize,
    /// Seconds an authenticated key stays cached (revocation delay on
    /// other nodes of a ClickHouse store).
    pub key_cache_secs: u64,
    /// The data directory's revocation file ([`auth::revocation_file`]):
    /// keys revoked from the command line are refused at once.
    pub revocations: Option<std::path::PathBuf>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            max_body_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
            key_cache_secs: 2,
            revocations: None,
        }
    }
}

/// Shared state of every handler.
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub writer: WriteQueue,
    pub default_project: Project,
    pub config: ApiConfig,
    pub keys: auth::KeyCache,
    pub projects: auth::ProjectCache,
    /// The alert evaluator's clock and settings.
    pub alerts: alerts::AlertRuntime,
    /// OTLP bodies decoded (validated) at once: one per core. Decoding is
    /// CPU-bound, so more at once would not go faster, and a decoded
    /// request takes several times its body in memory.
    pub decode_slots: tokio::sync::Semaphore,
    /// Each project's redaction rules and what they replaced.
    pub redaction: Arc<redaction::RedactionRuntime>,
    /// The in-memory columns' (bytes held, budget), for `/metrics`, when
    /// the store has them.
    pub column_memory: Option<ColumnMemory>,
    /// `/readyz`'s store check in flight: when it began (ms since the
    /// epoch; 0 when none), so a store that hangs holds one blocking
    /// thread, not one per probe.
    pub(crate) ping_since_ms: std::sync::atomic::AtomicI64,
    /// Retention and deletions in the background.
    pub maintenance: retention::Maintenance,
    /// This node's compactions of what the store derives for wide reads.
    pub compactions: compaction::Compactions,
    /// The dashboard lists' recent counts, and the one count at a time.
    pub(crate) list_counts: dashboard::ListCounts,
    /// Reads over a project (lists, counts, charts, exports) at once
    /// ([`AppState::read`]).
    pub read_slots: read_slots::ReadSlots,
}

/// What reports the in-memory columns' (bytes held, budget).
pub type ColumnMemory = Arc<dyn Fn() -> (usize, usize) + Send + Sync>;

pub type SharedState = Arc<AppState>;

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        writer: WriteQueue,
        config: ApiConfig,
    ) -> Result<AppState, ApiError> {
        let default_project = store.auth().ensure_project("default")?;
        let state = Self::with_default_project(store, writer, config, default_project);
        state.redaction.load(&*state.store)?;
        Ok(state)
    }

    /// [`AppState::new`] with the default project known already (a store
    /// that derives project ids from names, while it cannot be reached).
    /// The redaction rules are loaded at the first write that finds the
    /// store answering.
    pub fn with_default_project(
        store: Arc<dyn Store>,
        writer: WriteQueue,
        config: ApiConfig,
        default_project: Project,
    ) -> AppState {
        AppState {
            redaction: Arc::new(redaction::RedactionRuntime::default()),
            keys: Self::key_cache(&config, None),
            projects: auth::ProjectCache::default(),
            alerts: alerts::AlertRuntime::default(),
            decode_slots: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
            column_memory: None,
            ping_since_ms: std::sync::atomic::AtomicI64::new(0),
            maintenance: retention::Maintenance::default(),
            compactions: compaction::Compactions::default(),
            list_counts: dashboard::ListCounts::default(),
            read_slots: read_slots::ReadSlots::default(),
            store,
            writer,
            default_project,
            config,
        }
    }

    /// Keep a copy of the redaction rules this node loads from the store in
    /// `path`, and start with it while the store cannot be reached
    /// ([`redaction::RedactionRuntime::keep_copy`]).
    pub fn with_redaction_copy(self, path: &std::path::Path) -> AppState {
        self.redaction.keep_copy(path);
        self
    }

    /// Keep the live keys this node checked in `path` ([`auth::KeyCache::persistent`]),
    /// so they are accepted while the store fails, after a restart too.
    pub fn with_known_keys(mut self, path: &std::path::Path) -> AppState {
        self.keys = Self::key_cache(&self.config, Some(path));
        self
    }

    /// The key cache: persistent in `known` when given, and watching the
    /// CLI's revocations when configured.
    fn key_cache(config: &ApiConfig, known: Option<&std::path::Path>) -> auth::KeyCache {
        let ttl = std::time::Duration::from_secs(config.key_cache_secs);
        let cache = match known {
            Some(path) => auth::KeyCache::persistent(ttl, path),
            None => auth::KeyCache::new(ttl),
        };
        match &config.revocations {
            Some(path) => cache.watching(path.clone()),
            None => cache,
        }
    }

    /// Report the in-memory columns' (bytes held, budget) in `/metrics`.
    pub fn with_column_memory(mut self, f: ColumnMemory) -> AppState {
        self.column_memory = Some(f);
        self
    }

    /// Use these retention settings.
    pub fn with_retention(mut self, config: retention::RetentionConfig) -> AppState {
        self.maintenance = retention::Maintenance::new(config);
        self
    }

    /// Run at most `max` reads over a project at once; the others wait up
    /// to `wait` ([`read_slots`]).
    pub fn with_read_slots(mut self, max: usize, wait: std::time::Duration) -> AppState {
        self.read_slots = read_slots::ReadSlots::new(max, wait);
        self
    }

    /// Use this alert runtime (a manual clock in tests).
    pub fn with_alerts(mut self, alerts: alerts::AlertRuntime) -> AppState {
        self.alerts = alerts;
        self
    }

    /// Redact ops with their projects' rules (before they are logged) and
    /// count what was redacted; 503 when this node knows no rules yet
    /// ([`redaction::RedactionRuntime::snapshot`]).
    pub async fn redact(&self, ops: &mut [hive_store::WriteOp]) -> Result<(), ApiError> {
        let snap = self.redaction.snapshot(&self.store).await?;
        if !snap.is_empty() {
            self.redaction.record(redaction::redact_ops(&snap, ops));
        }
        Ok(())
    }

    /// Redact ops, then log them (see [`WriteQueue::submit`]).
    pub async fn submit(&self, mut ops: Vec<hive_store::WriteOp>) -> Result<(), ApiError> {
        self.redact(&mut ops).await?;
        self.writer.submit(ops).await
    }

    /// [`AppState::blocking`] for a read that passes over a project (a
    /// list, a count, a chart, an export page) asked by a client: it
    /// first waits for one of the node's read slots ([`read_slots`]), held
    /// until the store work ends.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> hive_store::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let slot = self.read_slots.acquire().await?;
        self.blocking(move |store| {
            let _slot = slot;
            f(store)
        })
        .await
    }

    /// Run store work on the blocking pool (SQLite calls block), as every
    /// handler does. If the request is dropped first (its client went
    /// away), a read stops at its next statement, row or batch instead of
    /// running to an answer no one will read ([`cancellable`]).
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> hive_store::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        Ok(cancellable(move || f(&*store))
            .await
            .map_err(ApiError::internal)??)
    }
}

/// Run `f` on the blocking pool inside a [`hive_store::cancel`] token that
/// is cancelled if this future is dropped before `f` is done.
pub async fn cancellable<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, tokio::task::JoinError> {
    /// Cancels its token when dropped before the work is done.
    struct OnDrop(Option<hive_store::cancel::Cancel>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            if let Some(token) = self.0.take() {
                token.cancel();
            }
        }
    }
    let token = hive_store::cancel::Cancel::new();
    let mut guard = OnDrop(Some(token.clone()));
    let out = tokio::task::spawn_blocking(move || token.scope(f)).await;
    guard.0 = None;
    out
}

/// The routes of the HTTP API (not the dashboard's pages), each
/// registered once, here: [`ApiRoutes::paths`] lists their templates, and
/// a test checks that each, with every method it answers, is in the
/// OpenAPI document ([`openapi::document`]).
pub struct ApiRoutes {
    router: Router<SharedState>,
    paths: Vec<&'static str>,
}

impl ApiRoutes {
    fn route(mut self, path: &'static str, methods: MethodRouter<SharedState>) -> ApiRoutes {
        self.paths.push(path);
        self.router = self.router.route(path, methods);
        self
    }

    /// The route templates, in registration order.
    pub fn paths(&self) -> &[&'static str] {
        &self.paths
    }

    /// The routes alone (no middleware, no fallback), e.g. to ask a route
    /// which methods it answers.
    pub fn into_router(self) -> Router<SharedState> {
        self.router
    }
}

/// Every route of the HTTP API.
pub fn api_routes() -> ApiRoutes {
    ApiRoutes {
        router: Router::new(),
        paths: Vec::new(),
    }
    .route("/healthz", get(admin::healthz))
    .route("/readyz", get(admin::readyz))
    .route("/metrics", get(admin::metrics))
    .route("/openapi.json", get(openapi::serve))
    // HoneyHive REST: sessions and events.
    .route("/session/start", post(rest::session_start))
    .route("/v1/sessions", post(rest::session_start))
    .route("/events", put(rest::update_event).post(rest::create_event))
    .route("/v1/events", post(rest::create_event))
    .route("/events/batch", post(rest::create_event_batch))
    .route("/v1/events/batch", post(rest::create_event_batch))
    .route("/events/model", post(rest::create_model_event))
    .route("/events/model/batch", post(rest::create_model_event_batch))
    .route("/session/{session_id}/traces", post(rest::session_traces))
    .route(
        "/v1/sessions/{session_id}/events/batch",
        post(rest::session_traces),
    )
    // OTLP/HTTP.
    .route("/opentelemetry/v1/traces", post(otlp::export_traces))
    .route("/v1/traces", post(otlp::export_traces))
    .route("/opentelemetry/v1/logs", post(otlp_logs::export_logs))
    .route("/v1/logs", post(otlp_logs::export_logs))
    .route("/opentelemetry/v1/metrics", post(otlp_logs::export_metrics))
    .route("/v1/metrics", post(otlp_logs::export_metrics))
    // Reads.
    .route("/v1/events/export", post(read::export))
    .route("/v1/events/search", post(read::search))
    .route("/v1/events/schema", get(read::schema))
    .route(
        "/v1/events/chart",
        get(charts::chart_get).post(charts::chart_post),
    )
    .route(
        "/v1/charts",
        get(charts::list_charts).post(charts::create_chart),
    )
    .route(
        "/v1/charts/{chart_id}",
        get(charts::get_chart)
            .put(charts::update_chart)
            .patch(charts::update_chart)
            .delete(charts::delete_chart),
    )
    .route("/v1/events/delete", post(deletion::delete_by_filter))
    .route(
        "/v1/events/{event_id}",
        get(read::get_event)
            .put(rest::update_event_by_path)
            .delete(deletion::delete_event),
    )
    .route("/v1/events/{event_id}/history", get(read::history))
    .route(
        "/v1/sessions/{session_id}",
        get(read::get_session).delete(deletion::delete_session),
    )
    .route("/v1/deletions", get(deletion::list_deletions))
    .route("/v1/deletions/{deletion_id}", get(deletion::get_deletion))
    .route(
        "/v1/alerts",
        get(alerts::list_alerts).post(alerts::create_alert),
    )
    .route(
        "/v1/alerts/{alert_id}",
        get(alerts::get_alert)
            .put(alerts::update_alert)
            .patch(alerts::update_alert)
            .delete(alerts::delete_alert),
    )
    .route("/v1/alerts/{alert_id}/history", get(alerts::alert_history))
    .route("/v1/alerts/{alert_id}/{action}", post(alerts::alert_action))
    // Administration.
    .route(
        "/v1/projects",
        get(admin::list_projects).post(admin::create_project),
    )
    .route(
        "/v1/projects/{name}",
        get(deletion::get_project).put(deletion::update_project),
    )
    // HoneyHive's routes under a project named in the path (its SDK sends
    // them its data-plane key, a read-write key here).
    .route(
        "/v1/projects/{name}/charts",
        get(charts::project_list_charts).post(charts::project_create_chart),
    )
    .route(
        "/v1/projects/{name}/charts/{chart_id}",
        get(charts::project_get_chart)
            .patch(charts::project_update_chart)
            .put(charts::project_update_chart)
            .delete(charts::project_delete_chart),
    )
    .route(
        "/v1/projects/{name}/ingestion_api_keys",
        post(admin::create_ingestion_key),
    )
    .route(
        "/v1/projects/{name}/fine_grained_api_keys",
        post(admin::create_data_plane_key),
    )
    .route("/v1/keys", get(admin::list_keys).post(admin::create_key))
    .route("/v1/keys/{key_id}", delete(admin::revoke_key))
    .route("/v1/stats", get(admin::stats))
    .route(
        "/v1/redaction",
        get(redaction::get_settings).put(redaction::put_settings),
    )
    .route("/v1/import", post(import::import))
}

/// The HTTP API router.
pub fn router(state: SharedState) -> Router {
    let max_body = state.config.max_body_bytes;
    api_routes()
        .into_router()
        // The dashboard (cookie sessions, HTML pages).
        .merge(dashboard::router())
        .fallback(admin::not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            write_path,
        ))
        .layer(axum::middleware::from_fn(json_errors))
        .layer(axum::middleware::from_fn(access_log))
        .with_state(state)
}

/// The separate listener of `hive serve --metrics-addr`: `/metrics`
/// without a key, and the health checks. Meant for a loopback or private
/// address that only the scraper reaches.
pub fn metrics_router(state: SharedState) -> Router {
    Router::new()
        .route("/metrics", get(admin::metrics_open))
        .route("/healthz", get(admin::healthz))
        .route("/readyz", get(admin::readyz))
        .fallback(admin::not_found)
        .with_state(state)
}

/// Whether a request writes through the ingest log.
fn is_write(method: &axum::http::Method, path: &str) -> bool {
    use axum::http::Method;
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::PUT, ["", "events"]) | (&Method::PUT, ["", "v1", "events", _]) => true,
        (&Method::POST, s) => matches!(
            s,
            ["", "events"]
                | ["", "v1", "events"]
                | ["", "events", "batch"]
                | ["", "v1", "events", "batch"]
                | ["", "session", "start"]
                | ["", "v1", "sessions"]
                | ["", "session", _, "traces"]
                | ["", "v1", "sessions", _, "events", "batch"]
                | ["", "opentelemetry", "v1", "traces" | "logs" | "metrics"]
                | ["", "v1", "traces" | "logs" | "metrics"]
                | ["", "v1", "import"]
        ),
        _ => false,
    }
}

/// Requests that neither write nor read events: they never wait.
fn is_exempt(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/readyz" | "/metrics" | "/openapi.json" | "/v1/stats"
    ) || path.starts_with("/static/")
}

/// The ingest log's side of every request. A write is admitted or refused
/// (503, `Retry-After`) from its headers, before its body is read, and
/// holds its share of the in-flight budget until answered. Any other
/// request first waits until every write acknowledged before it arrived is
/// applied (read-your-writes), or gets 503 saying the server is catching up.
async fn write_path(
    axum::extract::State(state): axum::extract::State<SharedState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if is_write(req.method(), req.uri().path()) {
        let length = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let admission = match state.writer.admit(length) {
            Ok(a) => a,
            Err(e) => return e.into_response(),
        };
        let resp = next.run(req).await;
        drop(admission);
        resp
    } else if is_exempt(req.uri().path()) {
        next.run(req).await
    } else if !req.uri().path().starts_with("/v1/") {
        // A dashboard page waits a little for recent writes, then shows
        // what is applied, with a note of what is not (rather than a 503).
        state
            .writer
            .wait_applied_for(std::time::Duration::from_secs(1))
            .await;
        next.run(req).await
    } else {
        if let Err(e) = state.writer.wait_applied().await {
            return e.into_response();
        }
        next.run(req).await
    }
}

/// Errors made outside the handlers (axum's own rejections: a body over
/// the limit, a method a route does not have, a malformed path) come as
/// plain text or nothing; give them the API's JSON error shape too. HTML
/// error pages of the dashboard are left alone.
async fn json_errors(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::header::CONTENT_TYPE;
    let resp = next.run(req).await;
    let status = resp.status();
    let plain = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    let code = match status.as_u16() {
        413 => "payload_too_large",
        405 => "method_not_allowed",
        415 => "unsupported_media_type",
        400..=499 => "bad_request",
        _ => "internal",
    };
    let body = serde_json::json!({
        "error": {"code": code, "message": message},
        "message": message,
        "errorCode": code,
        "success": false,
    });
    let mut out = (status, axum::Json(body)).into_response();
    for (name, value) in parts.headers.iter() {
        if name != CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

/// Count a request in `/metrics` (the gRPC listener's; the HTTP API's are
/// counted by [`access_log`]).
pub(crate) async fn count_requests(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    crate::metrics::request(
        route.as_deref(),
        &method,
        resp.status().as_u16(),
        started.elapsed(),
    );
    resp
}

/// One structured log line per request: method, path (never the query,
/// which may carry a login token), status and milliseconds. Client errors
/// at info, server errors at warn, the rest at debug. Counted in
/// `/metrics` by route template (never the path itself).
async fn access_log(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    crate::metrics::request(route.as_deref(), &method, status, started.elapsed());
    let ms = (started.elapsed().as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
    match status {
        500.. => tracing::warn!(%method, %path, status, ms, "request"),
        400..=499 => tracing::info!(%method, %path, status, ms, "request"),
        _ => tracing::debug!(%method, %path, status, ms, "request"),
    }
    resp
}

#[cfg(test)]
mod cancel_tests {
    use std::time::{Duration, Instant};

    /// Work whose request is dropped sees its token cancelled; work that
    /// ends first never does.
    #[tokio::test]
    async fn a_dropped_request_cancels_its_work() {
        let (tx, rx) = std::sync::mpsc::channel();
        let work = super::cancellable(move || {
            let started = Instant::now();
            while !hive_store::cancel::is_cancelled() && started.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            tx.send(hive_store::cancel::check().is_err()).unwrap();
        });
        assert!(
            tokio::time::timeout(Duration::from_millis(50), work)
                .await
                .is_err()
        );
        let seen = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(5)))
            .await
            .unwrap();
        assert_eq!(seen, Ok(true));
        let token = super::cancellable(hive_store::cancel::current)
            .await
            .unwrap()
            .expect("a token");
        assert!(!token.is_cancelled());
    }
}
