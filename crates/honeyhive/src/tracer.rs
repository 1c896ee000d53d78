//! `HoneyHiveTracer`: configuration, session start, the tracer registry.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use opentelemetry::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider, SimpleSpanProcessor,
    SpanExporter, SpanProcessor,
};
use serde_json::{Map, Value};

use crate::enrichment::Enrichment;
use crate::exporter::OtlpExporter;
use crate::http::HttpClient;
use crate::processor::HoneyHiveProcessor;
use crate::record::Record;
use crate::session::{ActiveSession, SessionBuilder};
use crate::stats::{Counters, Limits, Stats};
use crate::worker::{RecordedRequest, Target, Transport, WorkerConfig, WorkerHandle};

/// The default server, as in the official SDK.
pub const DEFAULT_SERVER_URL: &str = "https://api.dp1.us.honeyhive.ai";

/// A HoneyHive tracer: one session, an OpenTelemetry tracer provider whose
/// spans carry that session, and a background worker for session enrichment.
///
/// Cheap to clone (an `Arc`). The most recently initialised tracer is the
/// process default that the global functions and `#[trace]` use when the
/// current context names none.
///
/// ```no_run
/// use honeyhive::HoneyHiveTracer;
///
/// let tracer = HoneyHiveTracer::builder()
///     .with_api_key("hh_...")
///     .with_project("my-app")
///     .with_session_name("user-123-chat")
///     .with_server_url("http://127.0.0.1:8080")
///     .build();
/// tracer.enrich_session(serde_json::json!({"tenant_id": "acme_corp"}));
/// tracer.shutdown(std::time::Duration::from_secs(5));
/// ```
#[derive(Clone)]
pub struct HoneyHiveTracer {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// Shared with every queued enrichment: no copy per call.
    pub(crate) session_id: Arc<str>,
    pub(crate) session_name: String,
    pub(crate) project: Option<String>,
    pub(crate) source: String,
    pub(crate) server_url: String,
    pub(crate) test_mode: bool,
    pub(crate) provider: SdkTracerProvider,
    pub(crate) tracer: SdkTracer,
    pub(crate) worker: WorkerHandle,
    pub(crate) counters: Arc<Counters>,
    pub(crate) limits: Arc<Limits>,
    pub(crate) recorded: Option<Arc<Mutex<Vec<RecordedRequest>>>>,
}

impl std::fmt::Debug for HoneyHiveTracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HoneyHiveTracer")
            .field("session_id", &self.inner.session_id)
            .field("session_name", &self.inner.session_name)
            .field("project", &self.inner.project)
            .field("source", &self.inner.source)
            .field("server_url", &self.inner.server_url)
            .field("test_mode", &self.inner.test_mode)
            .finish()
    }
}

static DEFAULT_TRACER: RwLock<Option<HoneyHiveTracer>> = RwLock::new(None);

/// The tracer the current context belongs to (set by `#[trace]` spans).
#[derive(Clone)]
pub(crate) struct ActiveTracer(pub(crate) HoneyHiveTracer);

impl HoneyHiveTracer {
    /// Starts a tracer from the environment (`HH_INGESTION_API_KEY` or
    /// `HH_API_KEY`, `HH_API_URL`, `HH_PROJECT`, `HH_SOURCE`) and defaults. Same as `builder().build()`.
    pub fn init() -> HoneyHiveTracer {
        Self::builder().build()
    }

    /// A builder; explicit settings win over the environment.
    pub fn builder() -> TracerBuilder {
        TracerBuilder::default()
    }

    /// The session this tracer records into (outside any [`Session`](crate::Session) scope). Known immediately: it is the id
    /// given to the builder, or a UUID v4 made locally, and it never changes.
    pub fn session_id(&self) -> &str {
        &self.inner.session_id
    }

    /// The session name sent at session start.
    pub fn session_name(&self) -> &str {
        &self.inner.session_name
    }

    /// The project, if one was set.
    pub fn project(&self) -> Option<&str> {
        self.inner.project.as_deref()
    }

    /// The source (`dev` unless set).
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// The server base URL (no trailing slash).
    pub fn server_url(&self) -> &str {
        &self.inner.server_url
    }

    /// The OpenTelemetry tracer provider. Give it to other instrumentation so
    /// its spans join this session.
    pub fn provider(&self) -> &SdkTracerProvider {
        &self.inner.provider
    }

    /// The OpenTelemetry tracer the SDK records `#[trace]` spans with.
    pub fn otel_tracer(&self) -> &SdkTracer {
        &self.inner.tracer
    }

    /// Enriches this tracer's session (or the one named by
    /// [`Enrichment::session_id`]). Never blocks, never fails: the enrichment
    /// is queued for the background worker.
    pub fn enrich_session(&self, enrichment: impl Into<Enrichment>) {
        self.enrich_session_record(Record::from(enrichment.into()));
    }

    /// Queues one session enrichment: the record is turned into the merge
    /// patch on the worker.
    pub(crate) fn enrich_session_record(&self, record: Record) {
        let Record {
            body, session_id, ..
        } = record;
        // A session of the current context (`create_session`) wins over
        // the tracer's own.
        let target = match session_id {
            Some(id) => Target::Owned(id),
            None => {
                match Context::map_current(|cx| ActiveSession::of(cx, &self.inner.session_id)) {
                    Some(id) => Target::Shared(id),
                    None => Target::Shared(self.inner.session_id.clone()),
                }
            }
        };
        self.inner.worker.enqueue(target, body, false);
    }

    /// Enriches the current span (see [`crate::enrich_span`]).
    pub fn enrich_span(&self, enrichment: impl Into<Enrichment>) -> bool {
        crate::span::enrich_span_record(Some(self), Record::from(enrichment.into()))
    }

    /// A session of its own, scoped to a context (Python's
    /// `create_session`): spans started in [`Session::context`](crate::Session::context) carry its
    /// id, and `enrich_session` there enriches it. Concurrent requests of
    /// one process keep separate sessions this way. The session start is
    /// queued when the builder's `start()` is called.
    pub fn create_session(&self) -> SessionBuilder {
        SessionBuilder::new(self.clone())
    }

    /// The session of the current context: a [`Session`](crate::Session) of this tracer in
    /// scope, else the tracer's own.
    pub fn current_session_id(&self) -> String {
        Context::map_current(|cx| ActiveSession::of(cx, &self.inner.session_id))
            .unwrap_or_else(|| self.inner.session_id.clone())
            .to_string()
    }

    /// Makes this tracer the process default used by the global functions.
    pub fn set_as_default(&self) {
        if let Ok(mut slot) = DEFAULT_TRACER.write() {
            *slot = Some(self.clone());
        }
    }

    /// A context in which `#[trace]`, `enrich_span` and `enrich_session` use
    /// this tracer. Attach it (or use `opentelemetry::context::FutureExt`).
    pub fn context(&self) -> Context {
        Context::current().with_value(ActiveTracer(self.clone()))
    }

    /// Waits until queued enrichments are delivered and finished spans are
    /// exported, at most `timeout`. Returns whether everything got out.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let enrichments = self.inner.worker.flush(timeout);
        // The batch processor waits at most 5 s per force_flush while our
        // exporter may still be retrying: ask again until the deadline.
        let spans = loop {
            if self.inner.provider.force_flush().is_ok() {
                break true;
            }
            if std::time::Instant::now() >= deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        enrichments && spans
    }

    /// Flushes (at most `timeout`), then stops the worker and the span
    /// pipeline. Later enrichments are counted as dropped. Totals are logged.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        let delivered = self.inner.worker.shutdown(timeout);
        let spans = self.inner.provider.shutdown_with_timeout(timeout).is_ok();
        let stats = self.stats();
        tracing::info!(
            session_id = %self.inner.session_id,
            enrichments_sent = stats.enrichments_sent,
            enrichments_dropped = stats.enrichments_dropped,
            retried = stats.retried,
            spans_exported = stats.spans_exported,
            spans_dropped = stats.spans_dropped,
            "honeyhive: tracer shut down"
        );
        if let Ok(mut slot) = DEFAULT_TRACER.write() {
            if slot
                .as_ref()
                .is_some_and(|t| Arc::ptr_eq(&t.inner, &self.inner))
            {
                *slot = None;
            }
        }
        delivered && spans
    }

    /// The counters: enrichments enqueued, sent, retried, dropped; spans
    /// exported and dropped; attributes dropped by the limit.
    pub fn stats(&self) -> Stats {
        let mut stats = self.inner.counters.snapshot();
        stats.oversize_warnings = self.inner.limits.warnings.load(Relaxed);
        stats
    }

    /// The requests the worker made in `test_mode` (nothing goes on the
    /// network there; they are recorded instead). Empty otherwise.
    pub fn recorded_requests(&self) -> Vec<RecordedRequest> {
        self.inner
            .recorded
            .as_ref()
            .and_then(|r| r.lock().ok().map(|r| r.clone()))
            .unwrap_or_default()
    }

    /// The tracer the global functions use here: the one of the current
    /// context, else the process default.
    pub fn current() -> Option<HoneyHiveTracer> {
        if let Some(tracer) =
            Context::map_current(|cx| cx.get::<ActiveTracer>().map(|a| a.0.clone()))
        {
            return Some(tracer);
        }
        Self::default_tracer()
    }

    /// The process default tracer.
    pub(crate) fn default_tracer() -> Option<HoneyHiveTracer> {
        DEFAULT_TRACER.read().ok().and_then(|slot| slot.clone())
    }
}

/// Makes the exporting span processor (`true`: batch) for a custom exporter.
type MakeProcessor = Box<dyn FnOnce(bool) -> Box<dyn SpanProcessor> + Send>;

/// Builds a [`HoneyHiveTracer`]. Every setting falls back to its environment
/// variable, then to the default.
pub struct TracerBuilder {
    api_key: Option<String>,
    ingestion_api_key: Option<String>,
    project: Option<String>,
    session_name: Option<String>,
    source: Option<String>,
    server_url: Option<String>,
    session_id: Option<String>,
    inputs: Option<Value>,
    metadata: Option<Value>,
    disable_batch: bool,
    verbose: bool,
    test_mode: bool,
    set_default: bool,
    queue_capacity: usize,
    request_timeout: Duration,
    backoff_base: Duration,
    backoff_cap: Duration,
    export_retry_budget: Duration,
    max_attributes_per_span: u32,
    max_enrichment_bytes: usize,
    max_field_bytes: usize,
    exporter: Option<MakeProcessor>,
}

impl Default for TracerBuilder {
    fn default() -> Self {
        TracerBuilder {
            api_key: None,
            ingestion_api_key: None,
            project: None,
            session_name: None,
            source: None,
            server_url: None,
            session_id: None,
            inputs: None,
            metadata: None,
            disable_batch: false,
            verbose: false,
            test_mode: false,
            set_default: true,
            queue_capacity: 10_000,
            request_timeout: Duration::from_secs(5),
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(10),
            export_retry_budget: Duration::from_secs(30),
            max_attributes_per_span: 1024,
            max_enrichment_bytes: 100 * 1024,
            max_field_bytes: 1024,
            exporter: None,
        }
    }
}

impl TracerBuilder {
    /// The API key (else `HH_API_KEY`).
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The key every request of the tracer is sent with when it is set, in
    /// place of the API key (else `HH_INGESTION_API_KEY`), as HoneyHive's
    /// Python SDK sends its writes: an ingest key, `hh_ingst_…`. The tracer
    /// only writes (sessions, events, enrichments, spans).
    pub fn with_ingestion_api_key(mut self, key: impl Into<String>) -> Self {
        self.ingestion_api_key = Some(key.into());
        self
    }

    /// The project (else `HH_PROJECT`).
    pub fn with_project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// The session name (else the executable's name).
    pub fn with_session_name(mut self, name: impl Into<String>) -> Self {
        self.session_name = Some(name.into());
        self
    }

    /// The source, e.g. `production` (else `HH_SOURCE`, else `dev`).
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The server base URL (else `HH_API_URL`, else HoneyHive's).
    pub fn with_server_url(mut self, url: impl Into<String>) -> Self {
        self.server_url = Some(url.into());
        self
    }

    /// Joins (or creates) the session with this id. Any string is kept as
    /// given, whatever the server answers.
    pub fn with_session_id(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// The session's inputs, sent with the session start.
    pub fn with_inputs(mut self, inputs: impl serde::Serialize) -> Self {
        self.inputs = serde_json::to_value(inputs).ok().filter(Value::is_object);
        self
    }

    /// The session's metadata, sent with the session start.
    pub fn with_metadata(mut self, metadata: impl serde::Serialize) -> Self {
        self.metadata = serde_json::to_value(metadata).ok().filter(Value::is_object);
        self
    }

    /// Export each span as soon as it ends instead of in batches (still off
    /// the caller's thread for the OTLP exporter).
    pub fn with_disable_batch(mut self, disable: bool) -> Self {
        self.disable_batch = disable;
        self
    }

    /// Log every request at `info`.
    pub fn with_verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// Nothing goes on the network: no session start, no span export (unless
    /// an exporter is given), enrichments are recorded in memory.
    pub fn with_test_mode(mut self, test_mode: bool) -> Self {
        self.test_mode = test_mode;
        self
    }

    /// Whether `build()` makes the tracer the process default (yes by default).
    pub fn with_set_default(mut self, set_default: bool) -> Self {
        self.set_default = set_default;
        self
    }

    /// How many enrichments may wait for delivery (default 10 000). Beyond,
    /// new ones are dropped and counted.
    pub fn with_queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// Timeout of one HTTP request (default 5 s).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Backoff between delivery rounds after a transient failure: starts at
    /// `base`, doubles, capped at `cap` (default 100 ms .. 10 s).
    pub fn with_retry_backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_cap = cap.max(base);
        self
    }

    /// How long one span batch may be retried (default 30 s).
    pub fn with_export_retry_budget(mut self, budget: Duration) -> Self {
        self.export_retry_budget = budget;
        self
    }

    /// Span attribute limit (default 1024). The session attributes are kept
    /// whatever the limit; other attributes past it are dropped and counted.
    pub fn with_max_attributes_per_span(mut self, max: u32) -> Self {
        self.max_attributes_per_span = max;
        self
    }

    /// Size above which an enrichment, or one field, is warned about
    /// (defaults: the documents' 100 KB and 1 KB).
    pub fn with_size_warnings(
        mut self,
        max_enrichment_bytes: usize,
        max_field_bytes: usize,
    ) -> Self {
        self.max_enrichment_bytes = max_enrichment_bytes;
        self.max_field_bytes = max_field_bytes;
        self
    }

    /// Exports spans with this exporter instead of OTLP to the server. With
    /// `disable_batch` each span is exported synchronously when it ends.
    pub fn with_span_exporter<E: SpanExporter + 'static>(mut self, exporter: E) -> Self {
        self.exporter = Some(Box::new(move |batch: bool| -> Box<dyn SpanProcessor> {
            if batch {
                Box::new(BatchSpanProcessor::builder(exporter).build())
            } else {
                Box::new(SimpleSpanProcessor::new(exporter))
            }
        }));
        self
    }

    /// Starts the tracer. Never blocks on the network: the session start is
    /// the first request of the background worker.
    pub fn build(self) -> HoneyHiveTracer {
        self.build_with_env(&|name| std::env::var(name).ok())
    }

    /// `build` with the environment given as a lookup function.
    #[doc(hidden)]
    pub fn build_with_env(self, lookup: &dyn Fn(&str) -> Option<String>) -> HoneyHiveTracer {
        let env = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        // The tracer only writes, so an ingestion key, where there is one,
        // is the key it sends (the Python SDK's precedence: the explicit
        // one, its variable, then the API key).
        let api_key = self
            .ingestion_api_key
            .filter(|k| !k.trim().is_empty())
            .or_else(|| env("HH_INGESTION_API_KEY"))
            .or(self.api_key)
            .or_else(|| env("HH_API_KEY"));
        let project = self.project.or_else(|| env("HH_PROJECT"));
        let source = self
            .source
            .or_else(|| env("HH_SOURCE"))
            .unwrap_or_else(|| "dev".to_owned());
        let server_url = self
            .server_url
            .or_else(|| env("HH_API_URL"))
            .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
            .unwrap_or_else(|| DEFAULT_SERVER_URL.to_owned())
            .trim_end_matches('/')
            .to_owned();
        let session_name = self.session_name.unwrap_or_else(default_session_name);
        let session_id = self
            .session_id
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());

        let counters = Arc::new(Counters::default());
        let limits = Arc::new(Limits::new(self.max_enrichment_bytes, self.max_field_bytes));
        let client = HttpClient::new(api_key.as_deref(), &source, self.request_timeout);
        if api_key.is_none() && !self.test_mode {
            tracing::warn!(
                "honeyhive: no API key (set HH_API_KEY or HH_INGESTION_API_KEY, or with_api_key); the server may refuse the data"
            );
        }

        // Spans.
        let export: Option<Box<dyn SpanProcessor>> = match self.exporter {
            Some(make) => Some(make(!self.disable_batch)),
            None if self.test_mode => None,
            None => {
                let exporter = OtlpExporter::new(
                    client.clone(),
                    &server_url,
                    self.export_retry_budget,
                    counters.clone(),
                );
                let mut config = BatchConfigBuilder::default();
                if self.disable_batch {
                    config = config
                        .with_max_export_batch_size(1)
                        .with_scheduled_delay(Duration::from_millis(10));
                }
                Some(Box::new(
                    BatchSpanProcessor::builder(exporter)
                        .with_batch_config(config.build())
                        .build(),
                ))
            }
        };
        let session_id: Arc<str> = Arc::from(session_id);
        let processor = HoneyHiveProcessor::new(
            &session_id,
            project.as_deref(),
            &source,
            export,
            counters.clone(),
        );
        let service_name = project
            .clone()
            .unwrap_or_else(|| "honeyhive-rust".to_owned());
        let provider = SdkTracerProvider::builder()
            .with_resource(Resource::builder().with_service_name(service_name).build())
            .with_max_attributes_per_span(self.max_attributes_per_span)
            .with_span_processor(processor)
            .build();
        let tracer = provider.tracer("honeyhive");

        // Session enrichment.
        let recorded = self.test_mode.then(|| Arc::new(Mutex::new(Vec::new())));
        let transport = match &recorded {
            Some(log) => Transport::Memory(log.clone()),
            None => Transport::Http {
                client,
                base_url: server_url.clone(),
            },
        };
        let worker = WorkerHandle::spawn(
            WorkerConfig {
                capacity: self.queue_capacity,
                backoff_base: self.backoff_base,
                backoff_cap: self.backoff_cap,
                verbose: self.verbose,
            },
            transport,
            counters.clone(),
            limits.clone(),
        );
        if !self.test_mode {
            let mut session = Map::new();
            session.insert("session_id".into(), Value::String(session_id.to_string()));
            session.insert("session_name".into(), Value::String(session_name.clone()));
            session.insert("source".into(), Value::String(source.clone()));
            if let Some(project) = &project {
                session.insert("project".into(), Value::String(project.clone()));
            }
            if let Some(inputs) = self.inputs {
                session.insert("inputs".into(), inputs);
            }
            if let Some(metadata) = self.metadata {
                session.insert("metadata".into(), metadata);
            }
            let mut body = Map::new();
            body.insert("session".into(), Value::Object(session));
            worker.start_session(Value::Object(body));
        }
        if self.verbose {
            tracing::info!(%session_id, %server_url, "honeyhive: tracer started");
        }

        let tracer = HoneyHiveTracer {
            inner: Arc::new(Inner {
                session_id,
                session_name,
                project,
                source,
                server_url,
                test_mode: self.test_mode,
                provider,
                tracer,
                worker,
                counters,
                limits,
                recorded,
            }),
        };
        if self.set_default {
            tracer.set_as_default();
        }
        tracer
    }
}

fn default_session_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
