//! Every example of the "Enrichments" overview, in Rust: session context,
//! global vs instance methods, the four invocation patterns and the common
//! use cases.
//!
//! `HH_API_KEY=hh_... HH_API_URL=http://127.0.0.1:8080 HH_PROJECT=my-app cargo run -p honeyhive --example enrichment_overview`

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{chat_completion, report, user};
use honeyhive::{HoneyHiveTracer, enrich_span, trace};
use serde_json::json;

// ----- Invocation patterns -----

#[trace]
fn plain_map() {
    enrich_span!({"user_id": "user_12345", "feature": "chat"});
}

#[trace]
fn keyword_fields() {
    enrich_span!(user_id = "user_12345", feature = "chat");
}

#[trace]
fn named_namespaces() {
    enrich_span!(
        metadata = {"user_id": "user_12345", "feature": "chat"},
        metrics = {"latency_ms": 150, "score": 0.95},
        user_properties = {"plan": "premium"},
        feedback = {"rating": 5}
    );
}

#[trace]
fn extras_into_metadata() {
    enrich_span!(
        metadata = {"user_id": "user_12345"},
        metrics = {"score": 0.95},
        feature = "chat",   // -> metadata.feature
        priority = "high"   // -> metadata.priority
    );
}

// ----- Common use cases -----

#[trace]
fn generate_response(user_id: &str, message: &str) -> String {
    enrich_span!(
        user_properties = {"user_id": user_id},
        metadata = {"message_length": message.len()}
    );
    chat_completion("gpt-4o-mini", &[user(message)], 0.7).content
}

#[trace]
fn summarize_document(document: &str, feature: &str) -> String {
    enrich_span!({"feature": feature, "document_length": document.len()});
    chat_completion(
        "gpt-4o-mini",
        &[user(format!("Summarize: {document}"))],
        0.2,
    )
    .content
}

/// A stand-in for the web framework's request.
struct Request {
    headers: HashMap<&'static str, &'static str>,
}

#[trace(skip(request))]
fn chat_endpoint(request: &Request) -> &'static str {
    enrich_span!({
        "request_id": request.headers.get("X-Request-ID"),
        "endpoint": "/api/chat"
    });
    "ok"
}

#[trace]
fn generate_recommendation(product_id: &str, user_id: &str) -> String {
    enrich_span!(
        user_properties = {"user_id": user_id},
        metadata = {"product_id": product_id, "ab_variant": "B"},
        metrics = {"recommendation_score": 0.92}
    );
    chat_completion(
        "gpt-4o-mini",
        &[user(format!("Recommend for {product_id}"))],
        0.7,
    )
    .content
}

fn process_data(data_size: usize) -> Vec<usize> {
    (0..data_size).map(|i| i * 2).collect()
}

#[trace]
fn expensive_operation(data_size: usize) -> Vec<usize> {
    let start_time = Instant::now();
    let result = process_data(data_size);
    let duration_ms = start_time.elapsed().as_secs_f64() * 1000.0;
    enrich_span!(metrics = {
        "duration_ms": duration_ms,
        "data_size": data_size,
        "throughput": data_size as f64 / (duration_ms.max(1e-6) / 1000.0)
    });
    result
}

#[derive(Debug)]
struct ProcessingError(String);

impl std::fmt::Display for ProcessingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

fn process(data: &serde_json::Value) -> Result<String, ProcessingError> {
    if data["fail"] == true {
        Err(ProcessingError("processing failed: bad input".to_owned()))
    } else {
        Ok("processed".to_owned())
    }
}

#[trace]
fn risky_operation(operation_id: &str, data: serde_json::Value) -> Result<String, ProcessingError> {
    enrich_span!(metadata = {"operation_id": operation_id});
    match process(&data) {
        Ok(result) => {
            enrich_span!(metadata = {"success": true});
            Ok(result)
        }
        Err(e) => {
            enrich_span!(metadata = {"success": false}, error = e.to_string());
            Err(e)
        }
    }
}

fn main() {
    // Session-level context: set once, applies to the whole session.
    let tracer = HoneyHiveTracer::builder()
        .with_session_name("enrichment-overview")
        .build(); // api key and project from HH_API_KEY / HH_PROJECT
    tracer.enrich_session(json!({
        "tenant_id": "acme_corp",
        "user_tier": "premium",
        "app_version": "2.1.0"
    }));
    report("overview", tracer.session_id());

    // Enrich a specific session by id (distributed systems).
    let other_session = format!("sess_abc123-{}", uuid_like());
    tracer.enrich_session(
        honeyhive::Enrichment::new()
            .session_id(&other_session)
            .metadata(json!({"completed": true})),
    );
    report("overview_by_id", &other_session);

    // Global vs instance methods.
    #[trace]
    fn global_and_instance(tracer: &HoneyHiveTracer) {
        // Global function: works within any #[trace] context
        honeyhive::enrich_span(json!({"user_id": "user_123"}));
        // Instance methods: an explicit tracer reference
        tracer.enrich_span(json!({"via_instance": true}));
        tracer.enrich_session(json!({"tenant_id": "acme"}));
    }
    global_and_instance(&tracer);

    plain_map();
    keyword_fields();
    named_namespaces();
    extras_into_metadata();

    generate_response("user_123", "Hello there");
    summarize_document("Rust is a systems programming language.", "summarizer");
    chat_endpoint(&Request {
        headers: HashMap::from([("X-Request-ID", "req-42")]),
    });
    generate_recommendation("prod_7", "user_123");
    expensive_operation(1000);
    let _ = risky_operation("op_ok", json!({"fail": false}));
    let _ = risky_operation("op_fail", json!({"fail": true}));

    tracer.shutdown(Duration::from_secs(10));
    println!("DROPPED {}", tracer.stats().enrichments_dropped);
}

fn uuid_like() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}", t % 0xffff_ffff)
}
