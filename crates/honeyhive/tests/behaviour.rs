//! Behaviour tests with the in-memory exporter: attributes, parentage,
//! namespaces, errors, async, the tracing layer, and the enrichment requests
//! recorded in test mode.

use std::collections::BTreeMap;
use std::time::Duration;

use honeyhive::testing::{InMemorySpanExporter, SpanData, attributes};
use honeyhive::{Enrichment, HoneyHiveTracer, enrich_session, enrich_span, trace};
use opentelemetry::trace::{Status, TraceContextExt, Tracer as _};
use serde_json::{Value, json};

fn setup(session_id: &str) -> (HoneyHiveTracer, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let tracer = HoneyHiveTracer::builder()
        .with_test_mode(true)
        .with_project("behaviour")
        .with_session_id(session_id)
        .with_disable_batch(true)
        .with_set_default(false)
        .with_span_exporter(exporter.clone())
        .build();
    (tracer, exporter)
}

fn spans(exporter: &InMemorySpanExporter) -> Vec<SpanData> {
    exporter.get_finished_spans().unwrap_or_default()
}

fn span_named(exporter: &InMemorySpanExporter, suffix: &str) -> SpanData {
    spans(exporter)
        .into_iter()
        .find(|s| s.name.ends_with(suffix))
        .unwrap_or_else(|| panic!("no span named *{suffix}"))
}

fn attrs(span: &SpanData) -> BTreeMap<String, Value> {
    attributes(span)
}

// ----- #[trace] -----

#[trace]
fn add(a: i32, b: i32) -> i32 {
    a + b
}

#[test]
fn trace_records_session_inputs_outputs() {
    let (tracer, exporter) = setup("sess-trace-1");
    let _cx = tracer.context().attach();
    assert_eq!(add(1, 2), 3);
    let span = span_named(&exporter, "::add");
    let a = attrs(&span);
    assert_eq!(span.name, "behaviour::add");
    assert_eq!(a["honeyhive.session_id"], "sess-trace-1");
    assert_eq!(a["honeyhive.project"], "behaviour");
    assert_eq!(a["honeyhive.source"], "dev");
    assert_eq!(a["honeyhive_event_type"], "tool");
    assert_eq!(a["honeyhive_event_name"], "behaviour::add");
    assert_eq!(a["honeyhive_inputs.a"], 1);
    assert_eq!(a["honeyhive_inputs.b"], 2);
    assert_eq!(a["honeyhive_outputs.result"], 3);
    assert_eq!(span.status, Status::Unset);
}

#[trace]
fn outer(n: u32) -> u32 {
    inner(n) + inner(n + 1)
}

#[trace(name = "inner_step", event_type = "model")]
fn inner(n: u32) -> u32 {
    n * 10
}

#[test]
fn nested_calls_form_the_tree() {
    let (tracer, exporter) = setup("sess-tree");
    let _cx = tracer.context().attach();
    outer(1);
    let all = spans(&exporter);
    assert_eq!(all.len(), 3);
    let outer = all.iter().find(|s| s.name.ends_with("::outer")).unwrap();
    let inners: Vec<_> = all.iter().filter(|s| s.name == "inner_step").collect();
    assert_eq!(inners.len(), 2);
    for child in inners {
        assert_eq!(child.parent_span_id, outer.span_context.span_id());
        assert_eq!(child.span_context.trace_id(), outer.span_context.trace_id());
        let a = attrs(child);
        assert_eq!(a["honeyhive_event_type"], "model");
        assert_eq!(a["honeyhive_event_name"], "inner_step");
        assert_eq!(a["honeyhive.session_id"], "sess-tree");
    }
    assert_eq!(outer.parent_span_id, opentelemetry::trace::SpanId::INVALID);
}

#[derive(Debug)]
struct NotSerialize {
    _x: u8,
}

#[derive(serde::Serialize)]
struct Query {
    text: String,
    tags: Vec<&'static str>,
}

#[trace(skip(secret))]
fn with_skip(query: Query, secret: &str, opaque: NotSerialize) -> usize {
    let _ = (&opaque, secret);
    query.text.len()
}

#[trace(skip_all, skip_output)]
fn skip_everything(password: &str) -> String {
    password.to_uppercase()
}

#[test]
fn arguments_serialize_or_debug_and_skip() {
    let (tracer, exporter) = setup("sess-skip");
    let _cx = tracer.context().attach();
    with_skip(
        Query {
            text: "hello".into(),
            tags: vec!["a", "b"],
        },
        "hunter2",
        NotSerialize { _x: 7 },
    );
    skip_everything("hunter2");
    let a = attrs(&span_named(&exporter, "::with_skip"));
    assert_eq!(a["honeyhive_inputs.query.text"], "hello");
    assert_eq!(a["honeyhive_inputs.query.tags.0"], "a");
    assert_eq!(a["honeyhive_inputs.query.tags.1"], "b");
    assert_eq!(a["honeyhive_inputs.opaque"], "NotSerialize { _x: 7 }");
    assert!(!a.contains_key("honeyhive_inputs.secret"));
    assert_eq!(a["honeyhive_outputs.result"], 5);
    let b = attrs(&span_named(&exporter, "::skip_everything"));
    assert!(
        b.keys()
            .all(|k| !k.starts_with("honeyhive_inputs") && !k.starts_with("honeyhive_outputs"))
    );
}

struct Agent {
    name: String,
}

impl Agent {
    #[trace(event_type = "chain")]
    fn run(&self, task: &str) -> String {
        format!("{} did {task}", self.name)
    }

    #[trace]
    fn generic<T: std::fmt::Debug + Clone>(&mut self, item: T) -> Vec<T> {
        vec![item.clone(), item]
    }
}

#[test]
fn methods_and_generics() {
    let (tracer, exporter) = setup("sess-methods");
    let _cx = tracer.context().attach();
    let mut agent = Agent { name: "bot".into() };
    assert_eq!(agent.run("x"), "bot did x");
    assert_eq!(agent.generic(7u8).len(), 2);
    let run = attrs(&span_named(&exporter, "::run"));
    assert_eq!(run["honeyhive_event_type"], "chain");
    assert_eq!(run["honeyhive_inputs.task"], "x");
    assert_eq!(run["honeyhive_outputs.result"], "bot did x");
    // T is only Debug here, so the Debug text is recorded.
    let generic = attrs(&span_named(&exporter, "::generic"));
    assert_eq!(generic["honeyhive_inputs.item"], "7");
    assert_eq!(generic["honeyhive_outputs.result"], "[7, 7]");
}

// ----- errors -----

#[derive(Debug)]
struct MyError(&'static str);
impl std::fmt::Display for MyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "my error: {}", self.0)
    }
}

#[trace]
fn fallible(fail: bool) -> Result<u32, MyError> {
    if fail {
        return Err(MyError("bad input"));
    }
    let parsed: u32 = "41".parse().map_err(|_| MyError("parse"))?;
    Ok(parsed + 1)
}

#[trace]
fn panics() -> u32 {
    panic!("boom")
}

#[test]
fn errors_and_panics_are_recorded() {
    let (tracer, exporter) = setup("sess-errors");
    let _cx = tracer.context().attach();
    assert_eq!(fallible(false).ok(), Some(42));
    assert!(fallible(true).is_err());
    let caught = std::panic::catch_unwind(panics);
    assert!(caught.is_err());

    let all = spans(&exporter);
    let ok = all
        .iter()
        .find(|s| {
            s.name.ends_with("::fallible")
                && attrs(s).get("honeyhive_inputs.fail") == Some(&json!(false))
        })
        .unwrap();
    assert_eq!(attrs(ok)["honeyhive_outputs.result"], 42);
    assert!(!attrs(ok).contains_key("honeyhive_error"));
    let err = all
        .iter()
        .find(|s| {
            s.name.ends_with("::fallible")
                && attrs(s).get("honeyhive_inputs.fail") == Some(&json!(true))
        })
        .unwrap();
    assert_eq!(attrs(err)["honeyhive_error"], "my error: bad input");
    assert_eq!(err.status, Status::error("my error: bad input"));
    let panicked = all.iter().find(|s| s.name.ends_with("::panics")).unwrap();
    assert_eq!(attrs(panicked)["honeyhive_error"], "panic: boom");
    assert!(matches!(panicked.status, Status::Error { .. }));
}

// ----- enrich_span forms -----

#[trace]
fn enriched(user_id: &str, message: &str) {
    enrich_span!({"user_id": user_id, "message_length": message.len()});
    enrich_span!(feature = "chat", priority = "high");
    enrich_span!(
        metadata = {"product_id": "p1", "ab_variant": "B"},
        metrics = {"score": 0.95, "latency_ms": 150},
        user_properties = {"plan": "premium"},
        feedback = {"rating": 5},
        inputs = {"q": "x"},
        outputs = {"a": "y"},
        config = {"model": "gpt-4o-mini", "pipeline": [{"step": 1, "temperature": 0.7}]}
    );
    enrich_span!(metadata = {"success": false}, error = "processing failed: bad input");
    let mut map = std::collections::HashMap::new();
    map.insert("from_hashmap", 1);
    enrich_span!(map);
    honeyhive::enrich_span(
        Enrichment::new()
            .field("via_builder", true)
            .field("dropped", None::<u8>),
    );
}

#[test]
fn every_enrich_span_form_lands_in_its_namespace() {
    let (tracer, exporter) = setup("sess-forms");
    let _cx = tracer.context().attach();
    enriched("user_123", "hello");
    let a = attrs(&span_named(&exporter, "::enriched"));
    let expect = [
        ("honeyhive_metadata.user_id", json!("user_123")),
        ("honeyhive_metadata.message_length", json!(5)),
        ("honeyhive_metadata.feature", json!("chat")),
        ("honeyhive_metadata.priority", json!("high")),
        ("honeyhive_metadata.product_id", json!("p1")),
        ("honeyhive_metadata.ab_variant", json!("B")),
        ("honeyhive_metrics.score", json!(0.95)),
        ("honeyhive_metrics.latency_ms", json!(150)),
        ("honeyhive_user_properties.plan", json!("premium")),
        ("honeyhive_feedback.rating", json!(5)),
        ("honeyhive_inputs.q", json!("x")),
        ("honeyhive_outputs.a", json!("y")),
        ("honeyhive_config.model", json!("gpt-4o-mini")),
        ("honeyhive_config.pipeline.0.step", json!(1)),
        ("honeyhive_config.pipeline.0.temperature", json!(0.7)),
        ("honeyhive_metadata.success", json!(false)),
        ("honeyhive_error", json!("processing failed: bad input")),
        ("honeyhive_metadata.from_hashmap", json!(1)),
        ("honeyhive_metadata.via_builder", json!(true)),
    ];
    for (key, value) in expect {
        assert_eq!(a.get(key), Some(&value), "{key}");
    }
    assert!(!a.contains_key("honeyhive_metadata.dropped"));
}

#[trace]
fn enriched_twice(n: u64) {
    enrich_span!({"a": {"x": 1}, "b": 1, "c": 1}, metadata = {"a": {"y": n + 1}, "c": null});
}

#[test]
fn within_one_enrich_span_the_last_value_of_a_key_wins() {
    let (tracer, exporter) = setup("sess-last-wins");
    let _cx = tracer.context().attach();
    enriched_twice(1);
    let a = attrs(&span_named(&exporter, "::enriched_twice"));
    assert_eq!(a.get("honeyhive_metadata.a.y"), Some(&json!(2)));
    assert!(!a.contains_key("honeyhive_metadata.a.x"));
    assert_eq!(a["honeyhive_metadata.b"], 1);
    assert!(!a.contains_key("honeyhive_metadata.c"));
    assert_eq!(a["honeyhive_inputs.n"], 1);
}

#[test]
fn enrich_span_outside_a_span_does_nothing() {
    assert!(!enrich_span!(user_id = "u1"));
}

#[test]
fn tracer_method_and_plain_otel_spans() {
    let (tracer, exporter) = setup("sess-otel");
    let otel = tracer.provider().clone();
    use opentelemetry::trace::TracerProvider as _;
    let third_party = otel.tracer("third-party");
    third_party.in_span("plain-otel", |_cx| {
        assert!(tracer.enrich_span(json!({"deep": {"list": [1, 2], "flag": true}})));
    });
    let a = attrs(&span_named(&exporter, "plain-otel"));
    assert_eq!(a["honeyhive.session_id"], "sess-otel");
    assert_eq!(a["honeyhive_metadata.deep.list.0"], 1);
    assert_eq!(a["honeyhive_metadata.deep.list.1"], 2);
    assert_eq!(a["honeyhive_metadata.deep.flag"], true);
}

#[test]
fn session_attributes_survive_the_attribute_limit() {
    let exporter = InMemorySpanExporter::default();
    let tracer = HoneyHiveTracer::builder()
        .with_test_mode(true)
        .with_session_id("sess-limit")
        .with_project("limits")
        .with_disable_batch(true)
        .with_set_default(false)
        .with_max_attributes_per_span(8)
        .with_span_exporter(exporter.clone())
        .build();
    let _cx = tracer.context().attach();
    let big: Vec<u32> = (0..100).collect();
    tracer
        .otel_tracer()
        .in_span("big", |_| enrich_span!(outputs = {"list": big}));
    let span = span_named(&exporter, "big");
    let a = attrs(&span);
    assert_eq!(a["honeyhive.session_id"], "sess-limit");
    assert_eq!(a["honeyhive.project"], "limits");
    assert!(span.dropped_attributes_count > 0);
    assert!(tracer.stats().span_attributes_dropped > 0);
}

#[test]
fn session_attributes_are_reinserted_when_the_limit_kept_them_out() {
    let exporter = InMemorySpanExporter::default();
    let tracer = HoneyHiveTracer::builder()
        .with_test_mode(true)
        .with_session_id("sess-full")
        .with_disable_batch(true)
        .with_set_default(false)
        .with_max_attributes_per_span(2)
        .with_span_exporter(exporter.clone())
        .build();
    use opentelemetry::trace::Span as _;
    let attributes: Vec<opentelemetry::KeyValue> = (0..5)
        .map(|i| opentelemetry::KeyValue::new(format!("k{i}"), i))
        .collect();
    let mut span = tracer
        .otel_tracer()
        .span_builder("full-at-start")
        .with_attributes(attributes)
        .start(tracer.otel_tracer());
    span.end();
    let a = attrs(&span_named(&exporter, "full-at-start"));
    assert_eq!(a["honeyhive.session_id"], "sess-full");
    assert_eq!(a["honeyhive.source"], "dev");
}

// ----- async -----

#[trace]
async fn fetch(id: u32) -> Result<String, String> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    enrich_span!(metrics = {"after_await": id});
    let child = child_step(id).await;
    if id == 0 {
        return Err("id 0 is invalid".to_owned());
    }
    Ok(format!("doc-{id}-{child}"))
}

#[trace(event_type = "model")]
async fn child_step(id: u32) -> u32 {
    tokio::task::yield_now().await;
    id * 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_functions_keep_their_context_across_awaits() {
    let (tracer, exporter) = setup("sess-async");
    use opentelemetry::context::FutureExt as _;
    let (a, b) = tokio::join!(
        fetch(1).with_context(tracer.context()),
        fetch(0).with_context(tracer.context())
    );
    assert_eq!(a.unwrap(), "doc-1-2");
    assert_eq!(b.unwrap_err(), "id 0 is invalid");
    let all = spans(&exporter);
    assert_eq!(all.len(), 4);
    for parent in all.iter().filter(|s| s.name.ends_with("::fetch")) {
        let pa = attrs(parent);
        let id = pa["honeyhive_inputs.id"].as_u64().unwrap();
        assert_eq!(pa["honeyhive_metrics.after_await"], id);
        let child = all
            .iter()
            .find(|s| {
                s.name.ends_with("::child_step")
                    && s.parent_span_id == parent.span_context.span_id()
            })
            .expect("child under its own parent");
        assert_eq!(attrs(child)["honeyhive_outputs.result"], id * 2);
        if id == 0 {
            assert_eq!(pa["honeyhive_error"], "id 0 is invalid");
        } else {
            assert_eq!(pa["honeyhive_outputs.result"], "doc-1-2");
        }
    }
}

#[trace]
async fn async_panics() {
    tokio::task::yield_now().await;
    panic!("async boom");
}

#[tokio::test]
async fn async_panic_is_recorded() {
    let (tracer, exporter) = setup("sess-async-panic");
    use opentelemetry::context::FutureExt as _;
    let handle = tokio::spawn(async_panics().with_context(tracer.context()));
    assert!(handle.await.is_err());
    let span = span_named(&exporter, "::async_panics");
    assert_eq!(attrs(&span)["honeyhive_error"], "panic: async boom");
}

// ----- tracing layer -----

#[tracing::instrument]
fn instrumented(x: i32) -> i32 {
    enrich_span!(metadata = {"inside_tracing": true}, metrics = {"x": x});
    add(x, 1)
}

#[test]
fn tracing_spans_become_events_and_can_be_enriched() {
    use tracing_subscriber::prelude::*;
    let (tracer, exporter) = setup("sess-tracing");
    let subscriber = tracing_subscriber::registry().with(honeyhive::layer(&tracer));
    tracing::subscriber::with_default(subscriber, || {
        let _cx = tracer.context().attach();
        instrumented(4);
    });
    let all = spans(&exporter);
    let t = all
        .iter()
        .find(|s| s.name == "instrumented")
        .expect("tracing span exported");
    let a = attrs(t);
    assert_eq!(a["honeyhive.session_id"], "sess-tracing");
    assert_eq!(a["honeyhive_metadata.inside_tracing"], true);
    assert_eq!(a["honeyhive_metrics.x"], 4);
    let child = all.iter().find(|s| s.name.ends_with("::add")).unwrap();
    assert_eq!(child.parent_span_id, t.span_context.span_id());
}

// ----- enrich_session (test mode records the requests) -----

/// RFC 7396 apply.
fn apply(target: &mut Value, patch: &Value) {
    if let Value::Object(p) = patch {
        if !target.is_object() {
            *target = json!({});
        }
        let t = target.as_object_mut().unwrap();
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                apply(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    } else {
        *target = patch.clone();
    }
}

/// The state of each event after folding the recorded `PUT /events`.
fn folded(tracer: &HoneyHiveTracer) -> BTreeMap<String, Value> {
    let mut out: BTreeMap<String, Value> = BTreeMap::new();
    for req in tracer.recorded_requests() {
        assert_eq!((req.method, req.path), ("PUT", "/events"));
        let mut body = req.body.clone();
        let id = body["event_id"].as_str().unwrap().to_owned();
        body.as_object_mut().unwrap().remove("event_id");
        apply(out.entry(id).or_insert(json!({})), &body);
    }
    out
}

#[test]
fn enrich_session_forms_and_merging() {
    let (tracer, _exporter) = setup("sess-enrich");
    let other = HoneyHiveTracer::builder()
        .with_test_mode(true)
        .with_session_id("sess-other")
        .with_set_default(false)
        .build();
    {
        let _cx = tracer.context().attach();
        enrich_session!({"tenant_id": "acme_corp", "user_tier": "premium"});
        enrich_session!(metadata = {"user": {"id": "u1", "profile": {"tier": "free"}}});
        enrich_session!(metadata = {"user": {"profile": {"tier": "premium", "features": ["chat", "export"]}}});
        enrich_session!(metrics = {"total_tokens": 1500}, feedback = {"rating": 5}, inputs = {"q": "hi"});
        enrich_session!(outputs = {"r": "ok"}, config = {"model": "gpt-4"}, user_properties = {"plan": "pro"});
        enrich_session!(feature = "chat", error = "late failure");
        enrich_session!(session_id = "sess_abc123", metadata = {"completed": true});
        enrich_session!("sess_legacy", {"user_id": "user_456"});
        enrich_session!("sess_legacy", metadata = {"region": "us-east"});
        enrich_session!(metadata = {"environment": "testing"}, tracer_instance = other);
        enrich_session!(metadata = {"user_tier": null});
        tracer.enrich_session(Enrichment::new().metrics(json!({"cost": 0.045})));
        enrich_session(Enrichment::from(json!({"via_fn": 1})));
    }
    assert!(tracer.flush(Duration::from_secs(5)));
    assert!(other.flush(Duration::from_secs(5)));

    let state = folded(&tracer);
    assert_eq!(
        state["sess-enrich"],
        json!({
            "metadata": {
                "tenant_id": "acme_corp",
                "user": {"id": "u1", "profile": {"tier": "premium", "features": ["chat", "export"]}},
                "feature": "chat", "error": "late failure", "via_fn": 1
            },
            "metrics": {"total_tokens": 1500, "cost": 0.045},
            "feedback": {"rating": 5},
            "inputs": {"q": "hi"},
            "outputs": {"r": "ok"},
            "config": {"model": "gpt-4"},
            "user_properties": {"plan": "pro"}
        })
    );
    assert_eq!(
        state["sess_abc123"],
        json!({"metadata": {"completed": true}})
    );
    assert_eq!(
        state["sess_legacy"],
        json!({"metadata": {"user_id": "user_456", "region": "us-east"}})
    );
    assert_eq!(
        folded(&other)["sess-other"],
        json!({"metadata": {"environment": "testing"}})
    );
    let stats = tracer.stats();
    assert_eq!(stats.enrichments_enqueued, 12);
    assert_eq!(stats.enrichments_sent, 12);
    assert_eq!(stats.enrichments_dropped, 0);
}

#[test]
fn empty_enrich_session_touches_the_session() {
    let (tracer, _exporter) = setup("sess-touch");
    tracer.enrich_session(Enrichment::new());
    {
        let _cx = tracer.context().attach();
        enrich_session!();
        enrich_session!(session_id = "sess-touch-2");
    }
    assert!(tracer.flush(Duration::from_secs(5)));
    let bodies: Vec<Value> = tracer
        .recorded_requests()
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert!(bodies.contains(&json!({"event_id": "sess-touch"})));
    assert!(bodies.contains(&json!({"event_id": "sess-touch-2"})));
}

#[test]
fn enrich_span_with_event_id_updates_that_event() {
    let (tracer, _exporter) = setup("sess-event-id");
    {
        let _cx = tracer.context().attach();
        assert!(
            enrich_span!(event_id = "evt-1", metadata = {"k": "v"}, inputs = {"i": 1}, error = "e")
        );
    }
    assert!(tracer.flush(Duration::from_secs(5)));
    let bodies: Vec<Value> = tracer
        .recorded_requests()
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert_eq!(
        bodies,
        vec![
            json!({"event_id": "evt-1", "metadata": {"k": "v"}, "inputs": {"i": 1}, "error": "e"})
        ]
    );
}

#[test]
fn session_id_is_kept_or_generated() {
    let (tracer, _) = setup("sess_abc123");
    assert_eq!(tracer.session_id(), "sess_abc123");
    let generated = HoneyHiveTracer::builder()
        .with_test_mode(true)
        .with_set_default(false)
        .build();
    assert!(uuid_like(generated.session_id()));
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

#[test]
fn environment_fills_what_the_builder_leaves_open() {
    let env = |name: &str| -> Option<String> {
        match name {
            "HH_API_KEY" => Some("hh_env".into()),
            "HH_API_URL" => Some("http://env.example:1/".into()),
            "HH_PROJECT" => Some("env-project".into()),
            "HH_SOURCE" => Some("env-source".into()),
            _ => None,
        }
    };
    let from_env = HoneyHiveTracer::builder()
        .with_test_mode(true)
        .with_set_default(false)
        .build_with_env(&env);
    assert_eq!(from_env.project(), Some("env-project"));
    assert_eq!(from_env.source(), "env-source");
    assert_eq!(from_env.server_url(), "http://env.example:1");
    let explicit = HoneyHiveTracer::builder()
        .with_test_mode(true)
        .with_set_default(false)
        .with_project("explicit")
        .with_source("production")
        .with_server_url("http://127.0.0.1:9")
        .build_with_env(&env);
    assert_eq!(explicit.project(), Some("explicit"));
    assert_eq!(explicit.source(), "production");
    assert_eq!(explicit.server_url(), "http://127.0.0.1:9");
    let defaults = HoneyHiveTracer::builder()
        .with_test_mode(true)
        .with_set_default(false)
        .build_with_env(&|_| None);
    assert_eq!(defaults.source(), "dev");
    assert_eq!(defaults.server_url(), honeyhive::DEFAULT_SERVER_URL);
    assert_eq!(defaults.project(), None);
}

#[test]
fn context_selects_the_tracer() {
    let (a, exporter_a) = setup("sess-a");
    let (b, exporter_b) = setup("sess-b");
    {
        let _cx = a.context().attach();
        add(1, 1);
        {
            let _cx = b.context().attach();
            add(2, 2);
        }
    }
    assert_eq!(spans(&exporter_a).len(), 1);
    assert_eq!(spans(&exporter_b).len(), 1);
    assert_eq!(
        attrs(&spans(&exporter_b)[0])["honeyhive.session_id"],
        "sess-b"
    );
    let _ = opentelemetry::Context::current().span().is_recording();
}
