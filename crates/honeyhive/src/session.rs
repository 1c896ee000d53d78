//! Sessions scoped to a context: one per task or request, so concurrent
//! requests served by one process (and one tracer) keep separate sessions.
//! Python's `create_session`.
//!
//! A [`Session`] is a value carried by the OpenTelemetry [`Context`]. Spans
//! started in that context (`#[trace]`, the tracer's own, other
//! instrumentation on the tracer's provider, `tracing` spans through the
//! layer) are stamped with its id instead of the tracer's, and
//! `enrich_session` there enriches it.

use std::sync::Arc;

use opentelemetry::Context;
use serde_json::{Map, Value};

use crate::enrichment::Enrichment;
use crate::record::Record;
use crate::tracer::{ActiveTracer, HoneyHiveTracer};

/// The session of the current context, for the tracer whose own session
/// id is `owner` (compared by pointer: a session of one tracer never
/// applies to another's spans).
#[derive(Clone)]
pub(crate) struct ActiveSession {
    pub(crate) owner: Arc<str>,
    pub(crate) id: Arc<str>,
}

impl ActiveSession {
    /// The session id of `cx` for the tracer whose own session is `owner`.
    pub(crate) fn of(cx: &Context, owner: &Arc<str>) -> Option<Arc<str>> {
        cx.get::<ActiveSession>()
            .filter(|s| Arc::ptr_eq(&s.owner, owner))
            .map(|s| s.id.clone())
    }
}

/// A session of its own, scoped to a context: made by
/// [`HoneyHiveTracer::create_session`]. Cheap to clone.
///
/// ```no_run
/// use honeyhive::{HoneyHiveTracer, enrich_session, trace};
/// use opentelemetry::context::FutureExt;
///
/// #[trace]
/// async fn handle(question: String) -> String {
///     enrich_session!(metadata = {"question_length": question.len()});
///     format!("echo: {question}")
/// }
///
/// # async fn serve(tracer: HoneyHiveTracer) {
/// // One session per request, whatever else runs concurrently.
/// let session = tracer
///     .create_session()
///     .with_session_name("chat request")
///     .with_inputs(serde_json::json!({"user": "u-42"}))
///     .start();
/// let answer = handle("hi".into()).with_context(session.context()).await;
/// session.enrich(honeyhive::Enrichment::new().outputs(serde_json::json!({"answer": answer})));
/// # }
/// ```
#[derive(Clone)]
pub struct Session {
    tracer: HoneyHiveTracer,
    id: Arc<str>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("id", &self.id).finish()
    }
}

impl Session {
    /// The session's id (the one given, or a UUID v4 made locally).
    pub fn session_id(&self) -> &str {
        &self.id
    }

    /// The tracer the session belongs to.
    pub fn tracer(&self) -> &HoneyHiveTracer {
        &self.tracer
    }

    /// The current context with this session (and its tracer) in it. Attach
    /// it for synchronous code, or run a future in it with
    /// `opentelemetry::context::FutureExt::with_context`.
    pub fn context(&self) -> Context {
        self.context_from(&Context::current())
    }

    /// `cx` with this session (and its tracer) in it.
    pub fn context_from(&self, cx: &Context) -> Context {
        cx.with_value(ActiveTracer(self.tracer.clone()))
            .with_value(ActiveSession {
                owner: self.tracer.inner.session_id.clone(),
                id: self.id.clone(),
            })
    }

    /// Runs `f` in this session's context.
    pub fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.context().attach();
        f()
    }

    /// Enriches this session (same forms as `enrich_session`). Never blocks,
    /// never fails.
    pub fn enrich(&self, enrichment: impl Into<Enrichment>) {
        let mut record = Record::from(enrichment.into());
        if record.session_id.is_none() {
            record.session_id = Some(self.id.to_string());
        }
        record.tracer = None;
        self.tracer.enrich_session_record(record);
    }
}

/// Builds a [`Session`]: [`HoneyHiveTracer::create_session`].
#[must_use = "a session is made by start()"]
pub struct SessionBuilder {
    tracer: HoneyHiveTracer,
    session_id: Option<String>,
    session_name: Option<String>,
    inputs: Option<Value>,
    metadata: Option<Value>,
    user_properties: Option<Value>,
}

impl SessionBuilder {
    pub(crate) fn new(tracer: HoneyHiveTracer) -> SessionBuilder {
        SessionBuilder {
            tracer,
            session_id: None,
            session_name: None,
            inputs: None,
            metadata: None,
            user_properties: None,
        }
    }

    /// Joins (or creates) the session with this id (else a new UUID v4).
    pub fn with_session_id(mut self, id: impl Into<String>) -> Self {
        self.session_id = Some(id.into()).filter(|s: &String| !s.is_empty());
        self
    }

    /// The session name (else the tracer's).
    pub fn with_session_name(mut self, name: impl Into<String>) -> Self {
        self.session_name = Some(name.into());
        self
    }

    /// The session's inputs, sent with its start.
    pub fn with_inputs(mut self, inputs: impl serde::Serialize) -> Self {
        self.inputs = serde_json::to_value(inputs).ok().filter(Value::is_object);
        self
    }

    /// The session's metadata, sent with its start.
    pub fn with_metadata(mut self, metadata: impl serde::Serialize) -> Self {
        self.metadata = serde_json::to_value(metadata).ok().filter(Value::is_object);
        self
    }

    /// The session's user properties, sent with its start.
    pub fn with_user_properties(mut self, properties: impl serde::Serialize) -> Self {
        self.user_properties = serde_json::to_value(properties)
            .ok()
            .filter(Value::is_object);
        self
    }

    /// Queues the session start (`POST /session/start`, first in line before
    /// the enrichments queued after it) and returns the session. Never
    /// blocks on the network.
    pub fn start(self) -> Session {
        let id: Arc<str> = Arc::from(
            self.session_id
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        );
        let inner = &self.tracer.inner;
        let mut session = Map::new();
        session.insert("session_id".into(), Value::String(id.to_string()));
        session.insert(
            "session_name".into(),
            Value::String(
                self.session_name
                    .unwrap_or_else(|| inner.session_name.clone()),
            ),
        );
        session.insert("source".into(), Value::String(inner.source.clone()));
        if let Some(project) = &inner.project {
            session.insert("project".into(), Value::String(project.clone()));
        }
        for (key, value) in [
            ("inputs", self.inputs),
            ("metadata", self.metadata),
            ("user_properties", self.user_properties),
        ] {
            if let Some(value) = value {
                session.insert(key.into(), value);
            }
        }
        let mut body = Map::new();
        body.insert("session".into(), Value::Object(session));
        inner.worker.start_session(Value::Object(body));
        Session {
            tracer: self.tracer,
            id,
        }
    }
}
