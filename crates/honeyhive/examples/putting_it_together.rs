//! "Putting it all together": session-level and span-level enrichment in one
//! application, with other OpenTelemetry instrumentation joining the session
//! through the tracer's provider.
//!
//! `HH_API_KEY=hh_... HH_API_URL=http://127.0.0.1:8080 HH_PROJECT=my-app cargo run -p honeyhive --example putting_it_together`

mod common;

use std::time::Duration;

use common::{chat_completion, report, user};
use honeyhive::{HoneyHiveTracer, enrich_span, trace};
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use serde_json::json;

#[trace]
fn chat(message: &str, user_id: &str) -> String {
    enrich_span!({
        "user_id": user_id,
        "message_length": message.len(),
        "feature": "chat_support"
    });

    // Other instrumentation (here: a plain OpenTelemetry span from the
    // tracer's provider, as an auto-instrumented client would make) joins
    // the session and nests under this call.
    let provider = HoneyHiveTracer::current().map(|t| t.provider().clone());
    let response = match provider {
        Some(provider) => provider
            .tracer("openai-instrumentation")
            .in_span("ChatCompletion", |_cx| {
                chat_completion("gpt-4o-mini", &[user(message)], 0.7)
            }),
        None => chat_completion("gpt-4o-mini", &[user(message)], 0.7),
    };
    response.content
}

fn main() {
    let tracer = HoneyHiveTracer::builder()
        .with_session_name("putting-it-together")
        .build(); // HH_API_KEY, HH_PROJECT, HH_API_URL from the environment

    // Session-level context (set once)
    tracer.enrich_session(json!({
        "tenant_id": "acme_corp",
        "user_tier": "premium",
        "app_version": "2.1.0"
    }));

    // Each call inherits session context + gets its own span context
    chat("Hello!", "user_123");
    chat("What's the weather?", "user_456");

    report("together", tracer.session_id());
    tracer.shutdown(Duration::from_secs(10));
    println!("DROPPED {}", tracer.stats().enrichments_dropped);
}
