//! `enrich_span`: attributes on the current span.

use opentelemetry::trace::{Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use crate::attributes::{flatten_owned, keys};
use crate::enrichment::{Enrichment, Namespace};
use crate::stats::Limits;
use crate::tracer::HoneyHiveTracer;

static DEFAULT_LIMITS: Limits = Limits::new(100 * 1024, 1024);

/// Enriches the current span: each namespace becomes
/// `honeyhive_<namespace>.<dotted.path>` attributes (lists as `.0`, `.1`
/// segments, value types kept), the error becomes `honeyhive_error` and the
/// span status. Works inside `#[trace]` functions, `tracing` spans (with
/// [`crate::layer`]) and plain OpenTelemetry spans.
///
/// With [`Enrichment::event_id`] it updates that event through the API instead
/// (queued like `enrich_session`).
///
/// Returns whether there was a span (or event id) to enrich. Never panics.
pub fn enrich_span(enrichment: impl Into<Enrichment>) -> bool {
    enrich_span_with(None, enrichment.into())
}

pub(crate) fn enrich_span_with(
    tracer: Option<&HoneyHiveTracer>,
    mut enrichment: Enrichment,
) -> bool {
    let explicit = enrichment.take_tracer();
    let tracer = explicit.or_else(|| tracer.cloned());
    if let Some(event_id) = enrichment.take_event_id() {
        let Some(tracer) = tracer.or_else(HoneyHiveTracer::current) else {
            tracing::warn!("honeyhive: enrich_span(event_id) without a tracer; nothing sent");
            return false;
        };
        return tracer
            .inner
            .worker
            .enqueue(event_id, enrichment.into_patch(true));
    }

    let cx = Context::current();
    let span = cx.span();
    if !span.is_recording() {
        return false;
    }
    let current;
    let limits = match &tracer {
        Some(t) => &*t.inner.limits,
        None => {
            current = HoneyHiveTracer::current();
            current
                .as_ref()
                .map_or(&DEFAULT_LIMITS, |t| &*t.inner.limits)
        }
    };
    let (namespaces, error) = enrichment.into_parts();
    let mut attributes = Vec::with_capacity(8);
    let mut prefix = String::with_capacity(64);
    for (namespace, map) in Namespace::ALL.into_iter().zip(namespaces) {
        for (key, value) in map {
            prefix.clear();
            prefix.push_str(namespace.attribute_prefix());
            prefix.push('.');
            prefix.push_str(&key);
            flatten_owned(&mut prefix, value, limits, &mut attributes);
        }
    }
    if let Some(error) = error {
        attributes.push(KeyValue::new(keys::ERROR, error.clone()));
        span.set_status(Status::error(error));
    }
    span.set_attributes(attributes);
    true
}
