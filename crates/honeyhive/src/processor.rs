//! The span processor every HoneyHive provider carries.
//!
//! At span start it stamps `honeyhive.session_id`, `honeyhive.project` and
//! `honeyhive.source` on every span, ours or another instrumentation's. At span
//! end it makes sure they are still there (re-inserting them in front if the
//! attribute limit kept them out), counts attributes the limit dropped, and
//! hands the span to the exporting processor.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use opentelemetry::trace::{Span as _, SpanId};
use opentelemetry::{Context, KeyValue, StringValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use crate::attributes::keys;
use crate::session::ActiveSession;
use crate::stats::{Counters, bump_and_should_log};

#[derive(Debug)]
pub(crate) struct HoneyHiveProcessor {
    /// The tracer's own session (compared by pointer with a context's
    /// [`ActiveSession`] owner).
    session_id: Arc<str>,
    stamps: Vec<KeyValue>,
    /// Spans started in a [`crate::Session`]'s context, with that session,
    /// until they end (to put it back if the attribute limit kept it out).
    scoped: Mutex<HashMap<SpanId, StringValue>>,
    inner: Option<Box<dyn SpanProcessor>>,
    counters: Arc<Counters>,
}

impl HoneyHiveProcessor {
    pub(crate) fn new(
        session_id: &Arc<str>,
        project: Option<&str>,
        source: &str,
        inner: Option<Box<dyn SpanProcessor>>,
        counters: Arc<Counters>,
    ) -> Self {
        // Ref-counted strings: stamping a span clones pointers, not text.
        let shared = |s: &str| opentelemetry::StringValue::from(std::sync::Arc::<str>::from(s));
        let mut stamps = vec![KeyValue::new(keys::SESSION_ID, shared(session_id))];
        debug_assert_eq!(stamps[0].key.as_str(), keys::SESSION_ID);
        if let Some(project) = project {
            stamps.push(KeyValue::new(keys::PROJECT, shared(project)));
        }
        stamps.push(KeyValue::new(keys::SOURCE, shared(source)));
        HoneyHiveProcessor {
            session_id: session_id.clone(),
            stamps,
            scoped: Mutex::new(HashMap::new()),
            inner,
            counters,
        }
    }
}

impl SpanProcessor for HoneyHiveProcessor {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        match ActiveSession::of(cx, &self.session_id) {
            // The first stamp is the session id: this context's session instead.
            Some(id) => {
                let id = StringValue::from(id);
                span.set_attribute(KeyValue::new(keys::SESSION_ID, id.clone()));
                span.set_attributes(self.stamps[1..].iter().cloned());
                let span_id = span.span_context().span_id();
                lock(&self.scoped).insert(span_id, id);
            }
            None => span.set_attributes(self.stamps.iter().cloned()),
        }
        if let Some(inner) = &self.inner {
            inner.on_start(span, cx);
        }
    }

    fn on_end(&self, mut span: SpanData) {
        if span.dropped_attributes_count > 0 {
            let n = u64::from(span.dropped_attributes_count);
            if bump_and_should_log(&self.counters.attributes_dropped, n) {
                tracing::warn!(
                    span = %span.name,
                    dropped = span.dropped_attributes_count,
                    "honeyhive: span attribute limit reached; attributes dropped (raise it with with_max_attributes_per_span)"
                );
            }
        }
        // The session attributes can never be lost: put back any the limit
        // kept out (a scoped span's session rather than the tracer's).
        let scoped = {
            let mut scoped = lock(&self.scoped);
            if scoped.is_empty() {
                None
            } else {
                scoped.remove(&span.span_context.span_id())
            }
        };
        let missing: Vec<KeyValue> = self
            .stamps
            .iter()
            .filter(|stamp| !span.attributes.iter().any(|kv| kv.key == stamp.key))
            .map(|stamp| match &scoped {
                Some(id) if stamp.key.as_str() == keys::SESSION_ID => {
                    KeyValue::new(keys::SESSION_ID, id.clone())
                }
                _ => stamp.clone(),
            })
            .collect();
        if !missing.is_empty() {
            span.attributes.splice(0..0, missing);
        }
        if let Some(inner) = &self.inner {
            inner.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        match &self.inner {
            Some(inner) => inner.force_flush(),
            None => Ok(()),
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        match &self.inner {
            Some(inner) => inner.shutdown_with_timeout(timeout),
            None => Ok(()),
        }
    }

    fn set_resource(&mut self, resource: &Resource) {
        if let Some(inner) = &mut self.inner {
            inner.set_resource(resource);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
