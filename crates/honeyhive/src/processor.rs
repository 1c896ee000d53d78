//! The span processor every HoneyHive provider carries.
//!
//! At span start it stamps `honeyhive.session_id`, `honeyhive.project` and
//! `honeyhive.source` on every span, ours or another instrumentation's. At span
//! end it makes sure they are still there (re-inserting them in front if the
//! attribute limit kept them out), counts attributes the limit dropped, and
//! hands the span to the exporting processor.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::Span as _;
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use crate::attributes::keys;
use crate::stats::{Counters, bump_and_should_log};

#[derive(Debug)]
pub(crate) struct HoneyHiveProcessor {
    stamps: Vec<KeyValue>,
    inner: Option<Box<dyn SpanProcessor>>,
    counters: Arc<Counters>,
}

impl HoneyHiveProcessor {
    pub(crate) fn new(
        session_id: &str,
        project: Option<&str>,
        source: &str,
        inner: Option<Box<dyn SpanProcessor>>,
        counters: Arc<Counters>,
    ) -> Self {
        // Ref-counted strings: stamping a span clones pointers, not text.
        let shared = |s: &str| opentelemetry::StringValue::from(std::sync::Arc::<str>::from(s));
        let mut stamps = vec![KeyValue::new(keys::SESSION_ID, shared(session_id))];
        if let Some(project) = project {
            stamps.push(KeyValue::new(keys::PROJECT, shared(project)));
        }
        stamps.push(KeyValue::new(keys::SOURCE, shared(source)));
        HoneyHiveProcessor {
            stamps,
            inner,
            counters,
        }
    }
}

impl SpanProcessor for HoneyHiveProcessor {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        span.set_attributes(self.stamps.iter().cloned());
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
        // The session attributes can never be lost: put back any the limit kept out.
        let missing: Vec<KeyValue> = self
            .stamps
            .iter()
            .filter(|stamp| !span.attributes.iter().any(|kv| kv.key == stamp.key))
            .cloned()
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
