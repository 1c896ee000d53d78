//! Golden test against the recorded HoneyHive SDK traffic: every OTLP request
//! body of `shared/wire/captures/*.jsonl` decodes to the spans the recorder
//! listed in `otlp_spans`.
//!
//! The bodies are OTLP/JSON in the SDK dialect, except for `x_protobuf_*`
//! whose body is the protobuf request rendered as protobuf-JSON
//! (`MessageToDict`: base64 ids, `flags`, empty `status`), which exercises
//! the base64 fallback of the JSON decoder.

use std::path::PathBuf;
use std::sync::Arc;

use hive_core::span::{AttrValue, KeyValue, Span, SpanKind, StatusCode, hex_lower};
use hive_otlp::{Encoding, decode_traces, encode_traces_protobuf};
use serde_json::Value;

fn captures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/wire/captures")
}

fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
        SpanKind::Internal => "SPAN_KIND_INTERNAL",
        SpanKind::Server => "SPAN_KIND_SERVER",
        SpanKind::Client => "SPAN_KIND_CLIENT",
        SpanKind::Producer => "SPAN_KIND_PRODUCER",
        SpanKind::Consumer => "SPAN_KIND_CONSUMER",
    }
}

fn status_name(code: StatusCode) -> &'static str {
    match code {
        StatusCode::Unset => "STATUS_CODE_UNSET",
        StatusCode::Ok => "STATUS_CODE_OK",
        StatusCode::Error => "STATUS_CODE_ERROR",
    }
}

/// Does a decoded value equal the recorder's flat Python value?
fn same_value(got: &AttrValue, want: &Value) -> bool {
    match (got, want) {
        (AttrValue::Str(s), Value::String(w)) => s == w,
        (AttrValue::Bool(b), Value::Bool(w)) => b == w,
        (AttrValue::Int(i), Value::Number(w)) => w.as_i64() == Some(*i),
        (AttrValue::Double(d), Value::Number(w)) => {
            let w = w.as_f64().unwrap_or(f64::NAN);
            (d - w).abs() <= 1e-12 * d.abs().max(w.abs()).max(1.0)
        }
        (AttrValue::Array(items), Value::Array(w)) => {
            items.len() == w.len() && items.iter().zip(w).all(|(g, w)| same_value(g, w))
        }
        (AttrValue::Empty, Value::Null) => true,
        _ => false,
    }
}

fn check_attributes(got: &[KeyValue], want: &Value, ctx: &str) {
    let want = want
        .as_object()
        .unwrap_or_else(|| panic!("{ctx}: attributes are not an object"));
    assert_eq!(got.len(), want.len(), "{ctx}: attribute count");
    for kv in got {
        let w = want
            .get(&kv.key)
            .unwrap_or_else(|| panic!("{ctx}: unexpected attribute {}", kv.key));
        assert!(
            same_value(&kv.value, w),
            "{ctx}: attribute {}: {:?} != {w}",
            kv.key,
            kv.value
        );
    }
}

fn check_span(span: &Span, want: &Value, ctx: &str) {
    let s = |key: &str| want[key].as_str().unwrap_or("");
    assert_eq!(span.name, s("name"), "{ctx}: name");
    assert_eq!(hex_lower(&span.trace_id), s("trace_id"), "{ctx}: trace_id");
    assert_eq!(hex_lower(&span.span_id), s("span_id"), "{ctx}: span_id");
    assert_eq!(
        span.parent_span_id.map(|p| hex_lower(&p)),
        want["parent_span_id"].as_str().map(str::to_owned),
        "{ctx}: parent"
    );
    assert_eq!(kind_name(span.kind), s("kind"), "{ctx}: kind");
    assert_eq!(
        Some(span.start_time_unix_nano),
        want["start_ns"].as_u64(),
        "{ctx}: start"
    );
    assert_eq!(
        Some(span.end_time_unix_nano),
        want["end_ns"].as_u64(),
        "{ctx}: end"
    );
    let code = want["status"]["code"]
        .as_str()
        .unwrap_or("STATUS_CODE_UNSET");
    assert_eq!(status_name(span.status_code), code, "{ctx}: status code");
    assert_eq!(
        span.status_message,
        want["status"]["message"].as_str().unwrap_or(""),
        "{ctx}: status message"
    );
    assert_eq!(
        span.scope_name,
        want["scope"]["name"].as_str().unwrap_or(""),
        "{ctx}: scope name"
    );
    assert_eq!(
        span.scope_version,
        want["scope"]["version"].as_str().unwrap_or(""),
        "{ctx}: scope version"
    );
    check_attributes(&span.attributes, &want["attributes"], ctx);
    check_attributes(
        &span.resource,
        &want["resource"],
        &format!("{ctx} resource"),
    );
    let events = want["events"].as_array().expect("events");
    assert_eq!(span.events.len(), events.len(), "{ctx}: event count");
    for (i, (event, w)) in span.events.iter().zip(events).enumerate() {
        assert_eq!(
            event.name,
            w["name"].as_str().unwrap_or(""),
            "{ctx}: event {i} name"
        );
        assert!(event.time_unix_nano > 0, "{ctx}: event {i} time");
        check_attributes(
            &event.attributes,
            &w["attributes"],
            &format!("{ctx} event {i}"),
        );
    }
}

#[test]
fn capture_bodies_decode_to_the_recorded_spans() {
    let dir = captures_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!(
            "note: capture directory {} is missing; skipping the golden test",
            dir.display()
        );
        return;
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let (mut requests, mut total_spans, mut protobuf_requests) = (0, 0, 0);
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).unwrap();
        for (line_no, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let record: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{name}:{}: {e}", line_no + 1));
            let Some(want) = record.get("otlp_spans").and_then(Value::as_array) else {
                continue;
            };
            if !record["path"]
                .as_str()
                .unwrap_or("")
                .ends_with("/v1/traces")
            {
                continue;
            }
            let ctx = format!("{name}:{}", line_no + 1);
            match record["body_decoding"].as_str() {
                Some("json") => {}
                Some("otlp-protobuf") => protobuf_requests += 1,
                other => panic!("{ctx}: unexpected body_decoding {other:?}"),
            }
            let body = serde_json::to_vec(&record["body"]).unwrap();
            let spans =
                decode_traces(&body, Encoding::Json).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_eq!(spans.len(), want.len(), "{ctx}: span count");
            for (i, (span, w)) in spans.iter().zip(want).enumerate() {
                check_span(span, w, &format!("{ctx} span {i} ({})", span.name));
            }
            // One ResourceSpans per request: every span shares one resource.
            assert!(
                spans
                    .iter()
                    .all(|s| Arc::ptr_eq(&s.resource, &spans[0].resource)),
                "{ctx}: shared resource"
            );
            // And they survive a protobuf round trip unchanged.
            let again = decode_traces(&encode_traces_protobuf(&spans), Encoding::Protobuf).unwrap();
            assert_eq!(again, spans, "{ctx}: protobuf round trip");
            requests += 1;
            total_spans += spans.len();
        }
    }
    eprintln!(
        "checked {requests} OTLP requests ({protobuf_requests} protobuf), {total_spans} spans"
    );
    assert!(
        requests >= 10,
        "expected the captured OTLP requests, found {requests}"
    );
    assert!(protobuf_requests >= 1, "expected the x_protobuf capture");
}

#[test]
fn sdk_dialect_details_from_the_captures() {
    let path = captures_dir().join("b04_use_cases.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("note: {} is missing; skipping", path.display());
        return;
    };
    let record: Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|r| r.get("otlp_spans").is_some_and(|s| !s.is_null()))
        .expect("an OTLP request");
    let spans = decode_traces(
        &serde_json::to_vec(&record["body"]).unwrap(),
        Encoding::Json,
    )
    .unwrap();
    let risky = spans
        .iter()
        .find(|s| s.name == "__main__.risky_operation" && s.status_code == StatusCode::Error)
        .expect("the failing call");
    assert_eq!(risky.parent_span_id, None, "null parentSpanId is a root");
    assert_eq!(
        risky.status_message,
        "ValueError: processing failed: bad input"
    );
    assert_eq!(risky.events.len(), 2);
    assert_eq!(risky.events[0].name, "exception");
    assert_eq!(
        risky.attr("honeyhive_metadata.success"),
        Some(&AttrValue::Bool(false))
    );
    let expensive = spans
        .iter()
        .find(|s| s.name == "__main__.expensive_operation")
        .unwrap();
    assert_eq!(expensive.attributes.len(), 1014);
    assert_eq!(
        expensive.attr("honeyhive_outputs.result.999"),
        Some(&AttrValue::Int(999))
    );
    assert!(matches!(
        expensive.attr("honeyhive_metrics.throughput"),
        Some(AttrValue::Double(_))
    ));
    assert_eq!(expensive.scope_version, "", "the SDK omits scope.version");
}
