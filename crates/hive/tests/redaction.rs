//! Redaction end to end, against the real binary: secrets sent through
//! every write path (OTLP/HTTP protobuf and JSON, OTLP logs, session
//! start, events, batches, enrichments) to a project that redacts are
//! nowhere in the data directory afterwards (the ingest log's segments,
//! the SQLite database and its WAL, every other file), while the same
//! kind of values sent to a project that does not redact are found there
//! (so the search is not blind).

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hive_core::span::{AttrValue, KeyValue, Span, SpanEvent, StatusCode};
use serde_json::{Value, json};
use support::{Hive, api, get_ready, request};

/// Values that must not survive, each as it would be stored verbatim.
const SECRETS: &[&str] = &[
    "lovelace.7f3",             // an email's local part
    "4111111111111111",         // a card number, unspaced
    "4111 1111 1111 1111",      // and spaced
    "tok9Zq7Xw2Lp4Vn8Rb3",      // a bearer token
    "R3dact3dS3cr3tK3yValue01", // an sk- API key
    "AKIAREDACTTEST000001",     // an AWS access key id
    "hunter2-pw-9c1e",          // a value under `password`
    "ORD-482913",               // a custom pattern
    "078-05-1120",              // a value under a custom key (`ssn`)
    "cookie-val-55aa",          // a value under `cookie`
];
/// Sent to the project that does not redact: must be found.
const VISIBLE: &[&str] = &["grace.hopper.9d1", "plain-password-7e2"];

fn http(addr: &str, method: &str, path: &str, key: &str, body: Value) -> Value {
    let (status, v) = api(addr, method, path, key, &body.to_string()).expect("the server answers");
    assert_eq!(status, 200, "{method} {path}: {v}");
    v
}

fn otlp(addr: &str, key: &str, path: &str, content_type: &str, body: &[u8]) {
    let auth = format!("Bearer {key}");
    let (status, text) = request(
        addr,
        "POST",
        path,
        &[("authorization", &auth), ("content-type", content_type)],
        body,
        Duration::from_secs(30),
    )
    .expect("the server answers");
    assert_eq!(status, 200, "{path}: {text}");
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue::new(key, AttrValue::Str(value.to_owned()))
}

/// A span of the official SDK's shape carrying secrets everywhere.
fn secret_span(session: &str, span_id: u8) -> Span {
    Span {
        trace_id: [7; 16],
        span_id: [span_id; 8],
        parent_span_id: None,
        name: "send mail to ada.lovelace.7f3@example.com".into(),
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_100_000_000,
        attributes: vec![
            kv("honeyhive.session_id", session),
            kv("honeyhive_event_type", "tool"),
            kv("honeyhive_inputs.password", "hunter2-pw-9c1e"),
            kv(
                "honeyhive_inputs.question",
                "mail ada.lovelace.7f3@example.com please",
            ),
            kv(
                "honeyhive_config.api_key",
                "sk-proj-R3dact3dS3cr3tK3yValue01",
            ),
            kv("honeyhive_metadata.card", "4111 1111 1111 1111"),
            kv(
                "traceloop.entity.input",
                r#"{"args": [], "kwargs": {"token": "tok9Zq7Xw2Lp4Vn8Rb3", "ssn": "078-05-1120"}}"#,
            ),
            KeyValue::new(
                "http.request.header.cookie",
                AttrValue::Array(vec![AttrValue::Str("cookie-val-55aa".into())]),
            ),
        ],
        events: vec![SpanEvent {
            time_unix_nano: 1_700_000_000_050_000_000,
            name: "exception".into(),
            attributes: vec![kv("exception.message", "denied for AKIAREDACTTEST000001")],
        }],
        status_code: StatusCode::Error,
        status_message: "upstream said: Authorization: Bearer tok9Zq7Xw2Lp4Vn8Rb3".into(),
        resource: Arc::new(vec![kv("user.email", "ada.lovelace.7f3@example.com")]),
        scope_name: "e2e".into(),
        ..Span::default()
    }
}

fn span_json(session: &str, span_id: &str, attrs: Value) -> Vec<u8> {
    let mut attributes =
        vec![json!({"key": "honeyhive.session_id", "value": {"stringValue": session}})];
    for (k, v) in attrs.as_object().unwrap() {
        attributes.push(json!({"key": k, "value": {"stringValue": v}}));
    }
    json!({"resourceSpans": [{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "billing ORD-482913"}}]},
        "scopeSpans": [{"scope": {"name": "e2e"}, "spans": [{
        "traceId": "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a", "spanId": span_id, "parentSpanId": null,
        "name": "charge", "kind": "SPAN_KIND_INTERNAL",
        "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000001000000",
        "attributes": attributes, "status": {"code": "STATUS_CODE_UNSET"}}]}]}]})
    .to_string()
    .into_bytes()
}

/// Every file under `dir` that holds one of `needles`: (file, needle).
fn grep(dir: &Path, needles: &[&str]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            files += 1;
            let bytes = std::fs::read(&path).unwrap_or_default();
            for n in needles {
                if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                    found.push((path.display().to_string(), (*n).to_owned()));
                }
            }
        }
    }
    assert!(
        files >= 3,
        "the data directory holds the database and the log"
    );
    found
}

#[test]
fn nothing_of_a_secret_survives_in_any_file_of_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let hive = Hive::start(&data, &[]);
    let addr = hive.addr.clone();
    let admin = hive.key.clone().unwrap();

    let key = |scope: &str, project: &str| {
        http(
            &addr,
            "POST",
            "/v1/keys",
            &admin,
            json!({"name": "t", "scope": scope, "project": project}),
        )["secret"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let rw = key("read_write", "secure");
    let ingest = key("ingest", "secure");
    let plain = key("read_write", "plain");
    http(
        &addr,
        "PUT",
        "/v1/redaction",
        &rw,
        json!({"enabled": true, "keys": ["ssn"], "patterns": [{"name": "order_ref", "regex": "ORD-[0-9]{6}"}]}),
    );

    // OTLP/HTTP protobuf (a project key) and JSON (an ingest key), and an
    // admin key's span naming the project.
    let pb = hive_otlp::encode_traces_protobuf(&[secret_span("s-secure", 1)]);
    otlp(
        &addr,
        &rw,
        "/opentelemetry/v1/traces",
        "application/x-protobuf",
        &pb,
    );
    let js = span_json(
        "s-secure",
        "0b0b0b0b0b0b0b0b",
        json!({"honeyhive_outputs.receipt": "sent to ada.lovelace.7f3@example.com, ref ORD-482913",
               "honeyhive_metadata.ssn": "078-05-1120"}),
    );
    otlp(&addr, &ingest, "/v1/traces", "application/json", &js);
    let mut admin_span = secret_span("s-secure", 2);
    admin_span
        .attributes
        .push(kv("honeyhive.project", "secure"));
    otlp(
        &addr,
        &admin,
        "/v1/traces",
        "application/x-protobuf",
        &hive_otlp::encode_traces_protobuf(&[admin_span]),
    );
    // OTLP logs: a record kept on the span's event.
    let logs = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [{
        "timeUnixNano": "1700000000060000000", "severityText": "WARN",
        "traceId": "07070707070707070707070707070707", "spanId": "0101010101010101",
        "body": {"stringValue": "retrying with card 4111111111111111"},
        "attributes": [{"key": "password", "value": {"stringValue": "hunter2-pw-9c1e"}}]}]}]}]});
    otlp(
        &addr,
        &rw,
        "/v1/logs",
        "application/json",
        logs.to_string().as_bytes(),
    );

    // REST: session start, events, a batch, enrichments.
    let started = http(
        &addr,
        "POST",
        "/session/start",
        &rw,
        json!({"session": {"session_id": "s-rest", "session_name": "for ada.lovelace.7f3@example.com",
            "inputs": {"password": "hunter2-pw-9c1e"}, "user_properties": {"email": "ada.lovelace.7f3@example.com"},
            "metadata": {"headers": {"Cookie": "cookie-val-55aa", "authorization": "Bearer tok9Zq7Xw2Lp4Vn8Rb3"}}}}),
    );
    assert_eq!(started["user_properties"]["email"], "[REDACTED:email]");
    http(
        &addr,
        "POST",
        "/events",
        &rw,
        json!({"event": {"session_id": "s-rest", "event_id": "e-rest", "event_type": "model",
            "outputs": {"content": "your key is sk-proj-R3dact3dS3cr3tK3yValue01"},
            "error": "AKIAREDACTTEST000001 has no access"}}),
    );
    http(
        &addr,
        "POST",
        "/events/batch",
        &rw,
        json!({"events": [{"session_id": "s-rest", "event_type": "tool", "inputs": {"ssn": "078-05-1120"},
            "outputs": {"order": "ORD-482913"}}]}),
    );
    http(
        &addr,
        "PUT",
        "/events",
        &rw,
        json!({"event_id": "s-rest", "feedback": {"comment": "charge 4111 1111 1111 1111 again"},
            "metadata": {"api_key": "sk-proj-R3dact3dS3cr3tK3yValue01"}}),
    );
    http(
        &addr,
        "PUT",
        "/v1/events/e-rest",
        &rw,
        json!({"user_properties": {"contact": "ada.lovelace.7f3@example.com"}}),
    );
    // Enrich a span's event (through the SDK's span enrichment path too).
    http(
        &addr,
        "PUT",
        "/events",
        &rw,
        json!({"event_id": hive_core::mapping::span_event_id(&[7; 16], &[1; 8]),
            "metrics": {"token": 12345, "score": 0.5}}),
    );

    // A project that does not redact keeps what it is sent.
    http(
        &addr,
        "POST",
        "/session/start",
        &plain,
        json!({"session": {"session_id": "s-plain", "user_properties": {"email": "grace.hopper.9d1@example.org"},
            "inputs": {"password": "plain-password-7e2"}}}),
    );

    // Everything applied: the stored values carry the markers.
    let s = get_ready(&addr, &rw, "/v1/sessions/s-secure", Duration::from_secs(30));
    let children = s["session"]["children"].as_array().unwrap();
    let sdk = children
        .iter()
        .find(|e| e["inputs"]["password"].is_string() && e["config"].get("api_key").is_some())
        .expect("the protobuf span's event");
    assert_eq!(sdk["inputs"]["password"], "[REDACTED:password]");
    assert_eq!(sdk["inputs"]["question"], "mail [REDACTED:email] please");
    assert_eq!(sdk["config"]["api_key"], "[REDACTED:api_key]");
    assert_eq!(sdk["metadata"]["card"], "[REDACTED:credit_card]");
    let event_id = sdk["event_id"].as_str().unwrap();
    let raw = get_ready(
        &addr,
        &rw,
        &format!("/v1/events/{event_id}?include=span"),
        Duration::from_secs(5),
    );
    let raw_text = raw.to_string();
    assert!(
        raw_text.contains("[REDACTED:cookie]") && raw_text.contains("[REDACTED:aws_access_key]"),
        "{raw_text}"
    );
    let rest = get_ready(&addr, &rw, "/v1/sessions/s-rest", Duration::from_secs(5));
    assert_eq!(
        rest["session"]["feedback"]["comment"],
        "charge [REDACTED:credit_card] again"
    );
    assert_eq!(
        rest["session"]["metadata"]["headers"]["Cookie"],
        "[REDACTED:cookie]"
    );
    let history = get_ready(
        &addr,
        &rw,
        "/v1/events/s-rest/history",
        Duration::from_secs(5),
    );
    assert!(history.to_string().contains("[REDACTED:credit_card]"));

    // Counted.
    let stats = get_ready(&addr, &admin, "/v1/stats", Duration::from_secs(5));
    let secure = stats["redaction"]["projects"]
        .as_object()
        .unwrap()
        .values()
        .find(|p| p["name"] == "secure")
        .expect("the project's counts")
        .clone();
    for rule in [
        "email",
        "password",
        "api_key",
        "credit_card",
        "bearer_token",
        "aws_access_key",
        "ssn",
        "order_ref",
        "cookie",
        "token",
    ] {
        assert!(
            secure["redacted"][rule].as_u64().unwrap_or(0) >= 1,
            "{rule}: {secure}"
        );
    }

    // Nothing of a secret in any file, while the server runs (the WAL, the
    // log's segments) and after a kill -9.
    let found = grep(&data, SECRETS);
    assert!(found.is_empty(), "secrets survive: {found:?}");
    let visible: Vec<String> = grep(&data, VISIBLE).into_iter().map(|(_, n)| n).collect();
    for v in VISIBLE {
        assert!(
            visible.iter().any(|n| n == v),
            "{v} was not found: the search is blind"
        );
    }
    let mut hive = hive;
    hive.kill();
    let found = grep(&data, SECRETS);
    assert!(found.is_empty(), "secrets survive: {found:?}");
}
