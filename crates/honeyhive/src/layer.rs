//! `tracing` integration.

use opentelemetry_sdk::trace::SdkTracer;
use tracing_opentelemetry::OpenTelemetryLayer;

use crate::HoneyHiveTracer;

/// A `tracing` layer that records `tracing` spans (e.g. `#[tracing::instrument]`)
/// as HoneyHive events of `tracer`'s session. Inside those spans the
/// OpenTelemetry context is current, so [`crate::enrich_span`] and `#[trace]`
/// nest under them and they nest under `#[trace]` spans.
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
///
/// let tracer = honeyhive::HoneyHiveTracer::init();
/// tracing_subscriber::registry().with(honeyhive::layer(&tracer)).init();
/// ```
pub fn layer<S>(tracer: &HoneyHiveTracer) -> OpenTelemetryLayer<S, SdkTracer>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    tracing_opentelemetry::layer()
        .with_tracer(tracer.otel_tracer().clone())
        .with_context_activation(true)
}
