//! Support code for the `#[trace]` expansion. Not a stable API.

use std::any::Any;
use std::fmt::{Debug, Display};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::Poll;

use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::{Context, KeyValue};
use serde::Serialize;
use serde_json::Value;

pub use serde_json;

use crate::attributes::{flatten, flatten_owned, keys};
use crate::enrichment::Namespace;
use crate::record::scalar_attribute;
pub use crate::record::{Literal, NotStr, Record, Val};
use crate::stats::Limits;
use crate::tracer::{ActiveTracer, HoneyHiveTracer};

/// `enrich_session!`: queues the record with the tracer of the call (or of
/// the current context).
pub fn enrich_session_record(record: Record) {
    crate::enrich_session_record(record);
}

/// `enrich_span!`: sets the record's attributes on the current span.
pub fn enrich_span_record(record: Record) -> bool {
    crate::span::enrich_span_record(None, record)
}

static DEFAULT_LIMITS: Limits = Limits::new(100 * 1024, 1024);

/// The span of one `#[trace]` call.
pub struct TraceSpan {
    cx: Context,
    tracer: Option<HoneyHiveTracer>,
    recording: bool,
}

impl TraceSpan {
    /// Starts a span with the tracer of the current context (else the default
    /// tracer, else the global OpenTelemetry tracer).
    pub fn start(name: &'static str, event_type: &'static str) -> TraceSpan {
        let parent = Context::current();
        match parent.get::<ActiveTracer>() {
            // Children inherit the tracer through the parent's context.
            Some(active) => {
                let tracer = active.0.clone();
                Self::start_in(parent, Some(tracer), false, name, event_type)
            }
            // The default tracer needs no context entry: children find it too.
            None => Self::start_in(
                parent,
                HoneyHiveTracer::default_tracer(),
                false,
                name,
                event_type,
            ),
        }
    }

    /// Starts a span with the given tracer.
    pub fn start_with(
        name: &'static str,
        event_type: &'static str,
        tracer: &HoneyHiveTracer,
    ) -> TraceSpan {
        Self::start_in(
            Context::current(),
            Some(tracer.clone()),
            true,
            name,
            event_type,
        )
    }

    fn start_in(
        parent: Context,
        tracer: Option<HoneyHiveTracer>,
        mark_tracer: bool,
        name: &'static str,
        event_type: &'static str,
    ) -> TraceSpan {
        // Room for the session stamps, the inputs, the output and a few
        // enrichments: the span's attributes grow without reallocating.
        let mut attributes = Vec::with_capacity(16);
        attributes.push(KeyValue::new(keys::EVENT_TYPE, event_type));
        attributes.push(KeyValue::new(keys::EVENT_NAME, name));
        match tracer {
            Some(tracer) => {
                let span = tracer
                    .inner
                    .tracer
                    .span_builder(name)
                    .with_kind(SpanKind::Internal)
                    .with_attributes(attributes)
                    .start_with_context(&tracer.inner.tracer, &parent);
                let cx = parent.with_span(span);
                let cx = if mark_tracer {
                    cx.with_value(ActiveTracer(tracer.clone()))
                } else {
                    cx
                };
                let recording = cx.span().is_recording();
                TraceSpan {
                    cx,
                    tracer: Some(tracer),
                    recording,
                }
            }
            None => {
                let global = opentelemetry::global::tracer("honeyhive");
                let span = global
                    .span_builder(name)
                    .with_kind(SpanKind::Internal)
                    .with_attributes(attributes)
                    .start_with_context(&global, &parent);
                let cx = parent.with_span(span);
                let recording = cx.span().is_recording();
                TraceSpan {
                    cx,
                    tracer: None,
                    recording,
                }
            }
        }
    }

    /// Whether anything records this span.
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    fn limits(&self) -> &Limits {
        self.tracer
            .as_ref()
            .map_or(&DEFAULT_LIMITS, |t| &*t.inner.limits)
    }

    fn set_flattened(&self, namespace: Namespace, key: &str, value: &Value) {
        let mut prefix = String::with_capacity(namespace.attribute_prefix().len() + 1 + key.len());
        prefix.push_str(namespace.attribute_prefix());
        prefix.push('.');
        prefix.push_str(key);
        let mut attributes = Vec::new();
        flatten(&mut prefix, value, self.limits(), &mut attributes);
        if !attributes.is_empty() {
            self.cx.span().set_attributes(attributes);
        }
    }

    /// Sets a captured value as the attribute(s) `attribute` (a static name
    /// such as `honeyhive_inputs.query`).
    fn set_val(&self, attribute: &'static str, value: Val) {
        match value {
            Val::Json(value) => {
                let mut prefix = attribute.to_owned();
                let mut attributes = Vec::new();
                flatten_owned(&mut prefix, *value, self.limits(), &mut attributes);
                if !attributes.is_empty() {
                    self.cx.span().set_attributes(attributes);
                }
            }
            scalar => {
                if let Some(kv) = scalar_attribute(
                    opentelemetry::Key::from_static_str(attribute),
                    scalar,
                    self.limits(),
                ) {
                    self.cx.span().set_attribute(kv);
                }
            }
        }
    }

    /// Records an argument under its full attribute name (`honeyhive_inputs.<name>`).
    pub fn record_input_val(&self, attribute: &'static str, value: Option<Val>) {
        if let Some(value) = value {
            self.set_val(attribute, value);
        }
    }

    /// Records the return value as `outputs.result`.
    pub fn record_output_val(&self, value: Option<Val>) {
        if let Some(value) = value {
            self.set_val("honeyhive_outputs.result", value);
        }
    }

    /// Records an argument as `inputs.<name>`.
    pub fn record_input(&self, name: &str, value: Option<Value>) {
        if let Some(value) = value {
            self.set_flattened(Namespace::Inputs, name, &value);
        }
    }

    /// Records the return value as `outputs.result`.
    pub fn record_output(&self, value: Option<Value>) {
        if let Some(value) = value {
            self.set_flattened(Namespace::Outputs, "result", &value);
        }
    }

    /// Records an error (an `Err` return or a panic).
    pub fn record_error(&self, message: String) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(keys::ERROR, message.clone()));
        span.set_status(Status::error(message));
    }

    /// Runs a sync body inside the span; a panic is recorded and resumed.
    pub fn in_scope<R>(&self, body: impl FnOnce() -> R) -> R {
        let _guard = self.cx.clone().attach();
        match catch_unwind(AssertUnwindSafe(body)) {
            Ok(value) => value,
            Err(payload) => {
                record_panic(&self.cx, payload.as_ref());
                resume_unwind(payload)
            }
        }
    }

    /// Wraps an async body: the span's context is current while it is polled;
    /// a panic is recorded and resumed.
    pub fn in_scope_async<F: Future>(&self, body: F) -> InScope<F> {
        InScope {
            inner: body,
            cx: self.cx.clone(),
        }
    }

    /// Ends the span.
    pub fn end(self) {
        // Dropping ends it.
    }
}

impl Drop for TraceSpan {
    fn drop(&mut self) {
        // Also runs when an async call is cancelled or a panic unwinds.
        self.cx.span().end();
    }
}

fn record_panic(cx: &Context, payload: &(dyn Any + Send)) {
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_owned()
    };
    let message = format!("panic: {message}");
    let span = cx.span();
    span.set_attribute(KeyValue::new(keys::ERROR, message.clone()));
    span.set_status(Status::error(message));
}

pin_project_lite::pin_project! {
    /// An async `#[trace]` body: polled inside its span's context.
    pub struct InScope<F> {
        #[pin]
        inner: F,
        cx: Context,
    }
}

impl<F: Future> Future for InScope<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _guard = this.cx.clone().attach();
        let inner = this.inner;
        match catch_unwind(AssertUnwindSafe(|| inner.poll(task))) {
            Ok(poll) => poll,
            Err(payload) => {
                record_panic(this.cx, payload.as_ref());
                resume_unwind(payload)
            }
        }
    }
}

// ----- value capture by autoref specialization -----
//
// `(&&Wrap(&x)).__hh_value()` picks, in order: `Serialize` (structured JSON),
// `Debug` (its text), nothing (the value is not recorded).

/// A borrowed argument or return value.
pub struct Wrap<'a, T: ?Sized>(pub &'a T);

/// Capture through `Serialize`.
pub trait ViaSerialize {
    /// The value as JSON.
    fn __hh_value(&self) -> Option<Value>;
    /// The value, scalars unboxed.
    fn __hh_val(&self) -> Option<Val>;
}
impl<T: Serialize + ?Sized> ViaSerialize for &Wrap<'_, T> {
    fn __hh_value(&self) -> Option<Value> {
        serde_json::to_value(self.0).ok()
    }
    fn __hh_val(&self) -> Option<Val> {
        Val::capture(self.0)
    }
}

/// Capture through `Debug`.
pub trait ViaDebug {
    /// The value as its `Debug` text.
    fn __hh_value(&self) -> Option<Value>;
    /// The value as its `Debug` text.
    fn __hh_val(&self) -> Option<Val>;
}
impl<T: Debug + ?Sized> ViaDebug for &&Wrap<'_, T> {
    fn __hh_value(&self) -> Option<Value> {
        Some(Value::String(format!("{:?}", self.0)))
    }
    fn __hh_val(&self) -> Option<Val> {
        Some(Val::Str(format!("{:?}", self.0).into()))
    }
}

/// No capture.
pub trait ViaNothing {
    /// Nothing.
    fn __hh_value(&self) -> Option<Value>;
    /// Nothing.
    fn __hh_val(&self) -> Option<Val>;
}
impl<T: ?Sized> ViaNothing for Wrap<'_, T> {
    fn __hh_value(&self) -> Option<Value> {
        None
    }
    fn __hh_val(&self) -> Option<Val> {
        None
    }
}

/// Error text through `Display`.
pub trait ErrViaDisplay {
    /// The error message.
    fn __hh_error_text(&self) -> String;
}
impl<T: Display + ?Sized> ErrViaDisplay for &Wrap<'_, T> {
    fn __hh_error_text(&self) -> String {
        self.0.to_string()
    }
}

/// Error text through `Debug`.
pub trait ErrViaDebug {
    /// The error message.
    fn __hh_error_text(&self) -> String;
}
impl<T: Debug + ?Sized> ErrViaDebug for &&Wrap<'_, T> {
    fn __hh_error_text(&self) -> String {
        format!("{:?}", self.0)
    }
}

/// Error text: the type name.
pub trait ErrViaNothing {
    /// The error's type name.
    fn __hh_error_text(&self) -> String;
}
impl<T: ?Sized> ErrViaNothing for Wrap<'_, T> {
    fn __hh_error_text(&self) -> String {
        std::any::type_name::<T>().to_owned()
    }
}

/// Builds an enrichment from a macro's keyword list.
pub fn new_enrichment() -> crate::Enrichment {
    crate::Enrichment::new()
}

/// Serializes a keyword value given as an expression; a value that does not
/// serialize is logged and skipped instead of panicking.
pub fn to_value<T: Serialize + ?Sized>(key: &str, value: &T) -> Option<Value> {
    match serde_json::to_value(value) {
        Ok(v) => Some(v),
        Err(err) => {
            tracing::warn!(key, error = %err, "honeyhive: enrichment value does not serialize; ignored");
            None
        }
    }
}
