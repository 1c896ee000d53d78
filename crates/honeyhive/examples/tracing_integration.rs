//! `tracing` integration: `#[tracing::instrument]` spans become events of the
//! session, and `enrich_span!` works inside them.
//!
//! `HH_API_KEY=hh_... HH_API_URL=http://127.0.0.1:8080 cargo run -p honeyhive --example tracing_integration`

mod common;

use std::time::Duration;

use common::{chat_completion, report, user};
use honeyhive::{HoneyHiveTracer, enrich_span};
use tracing_subscriber::prelude::*;

#[tracing::instrument]
fn answer(question: &str) -> String {
    enrich_span!(metadata = {"question_length": question.len()}, feature = "tracing");
    chat_completion("gpt-4o-mini", &[user(question)], 0.3).content
}

fn main() {
    let tracer = HoneyHiveTracer::builder()
        .with_session_name("tracing-integration")
        .build();
    tracing_subscriber::registry()
        .with(honeyhive::layer(&tracer))
        .init();

    answer("Why is the sky blue?");

    report("tracing", tracer.session_id());
    tracer.shutdown(Duration::from_secs(10));
}
