//! Golden tests of span mapping, one file per convention under
//! `tests/golden/mapping/`: attribute sets as the instrumentation documents
//! them, and the event Hive makes of each.
//!
//! A case is `{"name", "span": {"name", "attributes", "events"?, "status"?},
//! "expected": {...}}`. Attribute values keep their JSON type (string,
//! integer, double, boolean, array); an object is an OTLP key-value list,
//! and `{"$json": value}` is a string attribute holding `value` as JSON
//! text (how most instrumentations record structured values). In
//! `expected`, `event_type`, `event_name`, `session_id` and `error` are
//! compared as given and every namespace named is compared whole.
//!
//! `tests/golden/logs/` holds OTLP log records and the enrichment patches
//! [`hive_core::mapping::log_enrichments`] makes of them.
//!
//! Set `HIVE_GOLDEN_SHOW=1` to print what each case produced.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hive_core::log::LogRecord;
use hive_core::mapping::{log_enrichments, map_span};
use hive_core::span::{AttrValue, KeyValue, Span, SpanEvent, SpanKind, StatusCode};
use serde_json::{Map, Value, json};

fn golden_dir(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(kind)
}

fn files(kind: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir(kind))
        .expect("golden dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no golden files for {kind}");
    files
}

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).expect("read golden file");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn attr_value(v: &Value) -> AttrValue {
    match v {
        Value::String(s) => AttrValue::Str(s.clone()),
        Value::Bool(b) => AttrValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => AttrValue::Int(i),
            None => AttrValue::Double(n.as_f64().expect("a number")),
        },
        Value::Array(items) => AttrValue::Array(items.iter().map(attr_value).collect()),
        Value::Object(m) if m.len() == 1 && m.contains_key("$json") => {
            AttrValue::Str(serde_json::to_string(&m["$json"]).expect("json text"))
        }
        Value::Object(m) => AttrValue::KvList(attributes(m)),
        Value::Null => AttrValue::Empty,
    }
}

fn attributes(m: &Map<String, Value>) -> Vec<KeyValue> {
    m.iter()
        .map(|(k, v)| KeyValue::new(k, attr_value(v)))
        .collect()
}

fn object(v: &Value, key: &str) -> Map<String, Value> {
    v.get(key)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn span_of(case: &Value) -> Span {
    let s = &case["span"];
    let events = s
        .get("events")
        .and_then(Value::as_array)
        .map(|events| {
            events
                .iter()
                .map(|e| SpanEvent {
                    time_unix_nano: 1_700_000_000_100_000_000,
                    name: e["name"].as_str().expect("event name").to_owned(),
                    attributes: attributes(&object(e, "attributes")),
                })
                .collect()
        })
        .unwrap_or_default();
    let (status_code, status_message) = match s.get("status").and_then(Value::as_str) {
        Some(msg) => (StatusCode::Error, msg.to_owned()),
        None => (StatusCode::Unset, String::new()),
    };
    Span {
        trace_id: [0xab; 16],
        span_id: [0xcd; 8],
        parent_span_id: Some([0xef; 8]),
        name: s["name"].as_str().unwrap_or_default().to_owned(),
        kind: SpanKind::Internal,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_250_000_000,
        attributes: attributes(&object(s, "attributes")),
        events,
        status_code,
        status_message,
        resource: Arc::new(vec![KeyValue::new(
            "service.name",
            AttrValue::Str("golden".into()),
        )]),
        scope_name: "golden".into(),
        scope_version: String::new(),
    }
}

fn show() -> bool {
    std::env::var_os("HIVE_GOLDEN_SHOW").is_some()
}

#[test]
fn spans_map_to_the_expected_events() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for path in files("mapping") {
        let file = load(&path);
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        for case in file["cases"].as_array().expect("cases") {
            cases += 1;
            let name = format!("{file_name}: {}", case["name"].as_str().unwrap_or("?"));
            let event = serde_json::to_value(map_span(&span_of(case), "golden").event)
                .expect("event as JSON");
            if show() {
                println!("{name}\n{}", serde_json::to_string_pretty(&event).unwrap());
            }
            let expected = case["expected"].as_object().expect("expected");
            assert!(!expected.is_empty(), "{name}: expects nothing");
            for (key, want) in expected {
                let got = event.get(key).cloned().unwrap_or(Value::Null);
                if &got != want {
                    failures.push(format!(
                        "{name}: {key}\n  want {}\n  got  {}",
                        serde_json::to_string(want).unwrap(),
                        serde_json::to_string(&got).unwrap()
                    ));
                }
            }
        }
    }
    assert!(cases > 0);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn id<const N: usize>(hex: &str) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex id");
    }
    out
}

#[test]
fn genai_log_events_become_enrichment_patches() {
    let mut failures = Vec::new();
    for path in files("logs") {
        let file = load(&path);
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        for case in file["cases"].as_array().expect("cases") {
            let name = format!("{file_name}: {}", case["name"].as_str().unwrap_or("?"));
            let records: Vec<LogRecord> = case["records"]
                .as_array()
                .expect("records")
                .iter()
                .map(|r| LogRecord {
                    trace_id: r.get("trace_id").and_then(Value::as_str).map(id::<16>),
                    span_id: r.get("span_id").and_then(Value::as_str).map(id::<8>),
                    event_name: r["event_name"].as_str().unwrap_or_default().to_owned(),
                    body: r.get("body").cloned().unwrap_or(Value::Null),
                    attributes: attributes(&object(r, "attributes")),
                    ..LogRecord::default()
                })
                .collect();
            let got: Vec<Value> = log_enrichments(&records)
                .into_iter()
                .map(|e| json!({"event_id": e.event_id, "patch": e.patch}))
                .collect();
            let got = Value::Array(got);
            if show() {
                println!("{name}\n{}", serde_json::to_string_pretty(&got).unwrap());
            }
            if got != case["expected"] {
                failures.push(format!(
                    "{name}\n  want {}\n  got  {}",
                    serde_json::to_string(&case["expected"]).unwrap(),
                    serde_json::to_string(&got).unwrap()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
