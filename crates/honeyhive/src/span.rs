//! `enrich_span`: attributes on the current span.

use opentelemetry::Context;
use opentelemetry::trace::TraceContextExt;

use crate::enrichment::Enrichment;
use crate::record::Record;
use crate::stats::Limits;
use crate::tracer::{ActiveTracer, HoneyHiveTracer};
use crate::worker::Target;

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
    enrich_span_record(None, Record::from(enrichment.into()))
}

pub(crate) fn enrich_span_record(tracer: Option<&HoneyHiveTracer>, mut record: Record) -> bool {
    let explicit = record.tracer.take();
    if let Some(event_id) = record.event_id.take() {
        let Some(tracer) = explicit
            .or_else(|| tracer.cloned())
            .or_else(HoneyHiveTracer::current)
        else {
            tracing::warn!("honeyhive: enrich_span(event_id) without a tracer; nothing sent");
            return false;
        };
        return tracer
            .inner
            .worker
            .enqueue(Target::Owned(event_id), record.body, true);
    }

    let cx = Context::current();
    let span = cx.span();
    if !span.is_recording() {
        return false;
    }
    // The size guidance of the tracer in charge (explicit, of the context, or
    // the default one).
    let current;
    let limits = match explicit.as_ref().or(tracer) {
        Some(t) => &*t.inner.limits,
        None => {
            current = match cx.get::<ActiveTracer>() {
                Some(active) => Some(active.0.clone()),
                None => HoneyHiveTracer::default_tracer(),
            };
            current
                .as_ref()
                .map_or(&DEFAULT_LIMITS, |t| &*t.inner.limits)
        }
    };
    record.body.set_on_span(&span, limits);
    true
}
