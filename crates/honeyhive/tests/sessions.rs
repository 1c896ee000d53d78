//! Sessions scoped to a context (`create_session`): concurrent requests of
//! one process keep separate sessions, for their spans, their children and
//! their session enrichments; outside a scope the tracer's own session is
//! used; a session of one tracer never applies to another's spans.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use honeyhive::testing::{InMemorySpanExporter, SpanData, attributes};
use honeyhive::{HoneyHiveTracer, RecordedRequest, enrich_session, enrich_span, trace};
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::Tracer as _;
use serde_json::{Value, json};

fn setup(session_id: &str) -> (HoneyHiveTracer, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let tracer = HoneyHiveTracer::builder()
        .with_test_mode(true)
        .with_project("sessions")
        .with_session_id(session_id)
        .with_session_name("the process")
        .with_disable_batch(true)
        .with_set_default(false)
        .with_span_exporter(exporter.clone())
        .build();
    (tracer, exporter)
}

fn spans(exporter: &InMemorySpanExporter) -> Vec<SpanData> {
    exporter.get_finished_spans().unwrap_or_default()
}

fn session_of(span: &SpanData) -> String {
    attributes(span)["honeyhive.session_id"]
        .as_str()
        .expect("session id")
        .to_owned()
}

/// The recorded session starts, by session id.
fn starts(requests: &[RecordedRequest]) -> HashMap<String, Value> {
    requests
        .iter()
        .filter(|r| (r.method, r.path) == ("POST", "/session/start"))
        .map(|r| {
            let s = r.body["session"].clone();
            (s["session_id"].as_str().unwrap().to_owned(), s)
        })
        .collect()
}

/// The merged metadata of every `PUT /events`, by event id.
fn enrichments(requests: &[RecordedRequest]) -> BTreeMap<String, serde_json::Map<String, Value>> {
    let mut out: BTreeMap<String, serde_json::Map<String, Value>> = BTreeMap::new();
    for r in requests.iter().filter(|r| r.path == "/events") {
        let id = r.body["event_id"].as_str().unwrap().to_owned();
        if let Some(Value::Object(m)) = r.body.get("metadata") {
            out.entry(id).or_default().extend(m.clone());
        }
    }
    out
}

#[trace]
async fn lookup(request: u32) -> u32 {
    tokio::task::yield_now().await;
    request * 10
}

#[trace]
async fn handle(request: u32) -> u32 {
    enrich_session!(metadata = {"request": request});
    tokio::time::sleep(Duration::from_millis(u64::from(5 - request % 5))).await;
    enrich_span!(metadata = {"handled": request});
    let found = lookup(request).await;
    enrich_session!(metadata = {"found": found});
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_keep_separate_sessions() {
    let (tracer, exporter) = setup("sess-process");
    let mut tasks = Vec::new();
    let mut ids = HashMap::new();
    for request in 0..8u32 {
        let session = tracer
            .create_session()
            .with_session_name(format!("request {request}"))
            .with_inputs(json!({"request": request}))
            .with_metadata(json!({"kind": "chat"}))
            .start();
        ids.insert(request, session.session_id().to_owned());
        tasks.push(tokio::spawn(
            handle(request).with_context(session.context()),
        ));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(tracer.flush(Duration::from_secs(5)));

    // Every span (the handler and its child) in its request's session.
    let all = spans(&exporter);
    assert_eq!(all.len(), 16);
    for span in all.iter().filter(|s| s.name.ends_with("::handle")) {
        let request = attributes(span)["honeyhive_inputs.request"]
            .as_u64()
            .unwrap() as u32;
        assert_eq!(session_of(span), ids[&request], "handle({request})");
        let child = all
            .iter()
            .find(|s| s.parent_span_id == span.span_context.span_id())
            .expect("lookup under handle");
        assert_eq!(session_of(child), ids[&request], "lookup({request})");
        assert_eq!(attributes(span)["honeyhive_metadata.handled"], request);
    }

    // One session start per request (with its name, inputs and metadata),
    // none for the tracer's own session in test mode.
    let requests = tracer.recorded_requests();
    let started = starts(&requests);
    assert_eq!(started.len(), 8);
    for (request, id) in &ids {
        let s = &started[id];
        assert_eq!(s["session_name"], format!("request {request}"));
        assert_eq!(s["inputs"], json!({"request": request}));
        assert_eq!(s["metadata"], json!({"kind": "chat"}));
        assert_eq!(s["project"], "sessions");
    }
    // Each session got its own enrichments; the tracer's session none.
    let enriched = enrichments(&requests);
    assert_eq!(enriched.len(), 8, "{enriched:?}");
    for (request, id) in &ids {
        assert_eq!(
            Value::Object(enriched[id].clone()),
            json!({"request": request, "found": request * 10})
        );
    }
    // Each session's start went out before its enrichments.
    for id in ids.values() {
        let start = requests
            .iter()
            .position(|r| r.path == "/session/start" && r.body["session"]["session_id"] == *id)
            .unwrap();
        let first_put = requests
            .iter()
            .position(|r| r.path == "/events" && r.body["event_id"] == *id)
            .unwrap();
        assert!(
            start < first_put,
            "session {id}: start at {start}, enrichment at {first_put}"
        );
    }
}

#[test]
fn outside_a_session_the_tracers_own_is_used() {
    let (tracer, exporter) = setup("sess-own");
    let session = tracer
        .create_session()
        .with_session_id("sess-scoped")
        .start();
    assert_eq!(session.session_id(), "sess-scoped");
    let _cx = tracer.context().attach();
    session.in_scope(|| {
        assert_eq!(tracer.current_session_id(), "sess-scoped");
        tracer.otel_tracer().in_span("inside", |_| {});
        enrich_session!(metadata = {"where": "inside"});
    });
    assert_eq!(tracer.current_session_id(), "sess-own");
    tracer.otel_tracer().in_span("outside", |_| {});
    enrich_session!(metadata = {"where": "outside"});
    session.enrich(json!({"by": "handle"}));
    assert!(tracer.flush(Duration::from_secs(5)));

    let by_name: HashMap<String, String> = spans(&exporter)
        .iter()
        .map(|s| (s.name.to_string(), session_of(s)))
        .collect();
    assert_eq!(by_name["inside"], "sess-scoped");
    assert_eq!(by_name["outside"], "sess-own");
    let enriched = enrichments(&tracer.recorded_requests());
    assert_eq!(
        Value::Object(enriched["sess-scoped"].clone()),
        json!({"where": "inside", "by": "handle"})
    );
    assert_eq!(
        Value::Object(enriched["sess-own"].clone()),
        json!({"where": "outside"})
    );
    // The session start names the tracer's session name when none is given.
    assert_eq!(
        starts(&tracer.recorded_requests())["sess-scoped"]["session_name"],
        "the process"
    );
}

#[test]
fn a_session_of_one_tracer_does_not_apply_to_another() {
    let (a, exporter_a) = setup("sess-a");
    let (b, exporter_b) = setup("sess-b");
    let session = a.create_session().with_session_id("sess-a-scoped").start();
    session.in_scope(|| {
        a.otel_tracer().in_span("of-a", |_| {});
        b.otel_tracer().in_span("of-b", |_| {});
    });
    assert_eq!(session_of(&spans(&exporter_a)[0]), "sess-a-scoped");
    assert_eq!(session_of(&spans(&exporter_b)[0]), "sess-b");
    assert_eq!(b.current_session_id(), "sess-b");
}

#[test]
fn a_scoped_session_survives_the_attribute_limit() {
    let exporter = InMemorySpanExporter::default();
    let tracer = HoneyHiveTracer::builder()
        .with_test_mode(true)
        .with_session_id("sess-full")
        .with_disable_batch(true)
        .with_set_default(false)
        .with_max_attributes_per_span(2)
        .with_span_exporter(exporter.clone())
        .build();
    let session = tracer
        .create_session()
        .with_session_id("sess-scoped-full")
        .start();
    use opentelemetry::trace::Span as _;
    let attributes_at_start: Vec<opentelemetry::KeyValue> = (0..5)
        .map(|i| opentelemetry::KeyValue::new(format!("k{i}"), i))
        .collect();
    session.in_scope(|| {
        let mut span = tracer
            .otel_tracer()
            .span_builder("full-at-start")
            .with_attributes(attributes_at_start)
            .start(tracer.otel_tracer());
        span.end();
    });
    let span = &spans(&exporter)[0];
    assert!(span.dropped_attributes_count > 0);
    assert_eq!(session_of(span), "sess-scoped-full");
    assert_eq!(attributes(span)["honeyhive.source"], "dev");
}

#[tracing::instrument]
fn traced_step(x: u32) -> u32 {
    x + 1
}

#[test]
fn tracing_spans_in_a_session_carry_it() {
    use tracing_subscriber::prelude::*;
    let (tracer, exporter) = setup("sess-tracing-own");
    let subscriber = tracing_subscriber::registry().with(honeyhive::layer(&tracer));
    let session = tracer
        .create_session()
        .with_session_id("sess-tracing-scoped")
        .start();
    tracing::subscriber::with_default(subscriber, || {
        session.in_scope(|| traced_step(1));
        traced_step(2);
    });
    let all = spans(&exporter);
    // `tracing` records the argument as its Debug text.
    let of = |x: &str| {
        all.iter()
            .find(|s| s.name == "traced_step" && attributes(s)["x"] == x)
            .map(session_of)
            .expect("a traced_step span")
    };
    assert_eq!(of("1"), "sess-tracing-scoped");
    assert_eq!(of("2"), "sess-tracing-own");
}
