//! OTLP logs and metrics through the router: GenAI content events folded
//! into the event of their span whichever arrives first, other records kept
//! on their event or their trace's session (adding up across requests),
//! records without a trace refused in `partial_success`, metrics answered
//! as rejected; the same over gRPC.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{TestServer, server};
use hive_core::span::{AttrValue, KeyValue, Span};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const TRACE: &str = "0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a";
const SPAN: &str = "0b0b0b0b0b0b0b0b";

/// The id Hive gives the event of span `SPAN` of trace `TRACE`.
fn span_event() -> String {
    hive_core::mapping::span_event_id(&[0x0a; 16], &[0x0b; 8])
}

fn trace_session() -> String {
    hive_core::mapping::trace_session_id(&[0x0a; 16])
}

/// An OTLP/JSON logs request of these records.
fn logs_body(records: Vec<Value>) -> Value {
    json!({"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeLogs": [{"scope": {"name": "opentelemetry.instrumentation.openai_v2", "version": "2.4b0"},
        "logRecords": records}]}]})
}

fn kv(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

fn record(time: u64, event_name: &str, body: Value, span: bool) -> Value {
    let mut r = json!({
        "timeUnixNano": time.to_string(),
        "severityNumber": 9,
        "traceId": TRACE,
        "body": body,
    });
    if span {
        r["spanId"] = json!(SPAN);
    }
    if !event_name.is_empty() {
        r["eventName"] = json!(event_name);
    }
    r
}

fn kvlist(pairs: &[(&str, &str)]) -> Value {
    json!({"kvlistValue": {"values": pairs.iter().map(|(k, v)| kv(k, v)).collect::<Vec<_>>()}})
}

/// The LLM span the content events belong to (GenAI attributes, no
/// content).
fn llm_span() -> Vec<u8> {
    let str_ = |v: &str| AttrValue::Str(v.into());
    let span = Span {
        trace_id: [0x0a; 16],
        span_id: [0x0b; 8],
        name: "chat gpt-4o-mini".into(),
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_500_000_000,
        attributes: vec![
            KeyValue::new("gen_ai.operation.name", str_("chat")),
            KeyValue::new("gen_ai.system", str_("openai")),
            KeyValue::new("gen_ai.request.model", str_("gpt-4o-mini")),
            KeyValue::new("gen_ai.usage.input_tokens", AttrValue::Int(12)),
            KeyValue::new("gen_ai.usage.output_tokens", AttrValue::Int(5)),
        ],
        ..Span::default()
    };
    hive_otlp::encode_traces_protobuf(&[span])
}

async fn post_logs(s: &TestServer, path: &str, body: Value) -> Value {
    let r = s.json("POST", path, &s.admin, body).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    assert_eq!(r.headers["content-type"], "application/json");
    r.json()
}

async fn post_span(s: &TestServer) {
    let r = s
        .call(
            "POST",
            "/v1/traces",
            &s.admin,
            llm_span(),
            "application/x-protobuf",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

async fn event(s: &TestServer, id: &str) -> Value {
    let r = s.get(&format!("/v1/events/{id}"), &s.admin).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    let v = r.json();
    v.get("event").cloned().unwrap_or(v)
}

fn conversation() -> Vec<Value> {
    vec![
        record(
            1_700_000_000_100_000_000,
            "gen_ai.system.message",
            kvlist(&[("content", "Be brief.")]),
            true,
        ),
        record(
            1_700_000_000_100_000_001,
            "gen_ai.user.message",
            kvlist(&[("content", "Weather in Paris?")]),
            true,
        ),
        record(
            1_700_000_000_400_000_000,
            "gen_ai.choice",
            json!({"kvlistValue": {"values": [
                {"key": "index", "value": {"intValue": "0"}},
                {"key": "finish_reason", "value": {"stringValue": "stop"}},
                {"key": "message", "value": {"kvlistValue": {"values": [
                    kv("role", "assistant"), kv("content", "Sunny.")]}}}]}}),
            true,
        ),
    ]
}

fn assert_conversation(ev: &Value) {
    let history = ev["inputs"]["chat_history"]
        .as_array()
        .expect("chat_history");
    assert_eq!(history.len(), 2, "{ev}");
    assert_eq!(history[0]["role"], "system");
    assert_eq!(history[0]["content"], "Be brief.");
    assert_eq!(history[1]["role"], "user");
    assert_eq!(history[1]["content"], "Weather in Paris?");
    assert_eq!(ev["outputs"]["role"], "assistant");
    assert_eq!(ev["outputs"]["content"], "Sunny.");
    assert_eq!(ev["outputs"]["finish_reason"], "stop");
    assert_eq!(ev["event_type"], "model");
    assert_eq!(ev["config"]["model"], "gpt-4o-mini");
    // Content events are folded in, not kept as log entries too.
    assert!(ev["metadata"].get("otel_logs").is_none(), "{ev}");
}

#[tokio::test]
async fn content_events_before_their_span_are_folded_in_when_it_arrives() {
    let s = server();
    let answer = post_logs(&s, "/v1/logs", logs_body(conversation())).await;
    assert_eq!(answer, json!({}));
    post_span(&s).await;
    assert_conversation(&event(&s, &span_event()).await);
}

#[tokio::test]
async fn content_events_after_their_span_are_folded_in() {
    let s = server();
    post_span(&s).await;
    post_logs(&s, "/opentelemetry/v1/logs", logs_body(conversation())).await;
    let ev = event(&s, &span_event()).await;
    assert_conversation(&ev);
    // The session is the trace's, with the model event's tokens rolled up.
    let events = s.session_events(&s.admin, &trace_session()).await;
    let session = events
        .iter()
        .find(|e| e["event_type"] == "session")
        .expect("session");
    assert_eq!(session["metadata"]["total_tokens"], 17);
}

#[tokio::test]
async fn other_records_add_up_on_their_event_across_requests_and_retries() {
    let s = server();
    post_span(&s).await;
    let warn = |time: u64, text: &str| {
        let mut r = record(time, "", json!({"stringValue": text}), true);
        r["severityNumber"] = json!(13);
        r["severityText"] = json!("WARNING");
        r["attributes"] = json!([kv("code.function", "call_tool")]);
        r
    };
    let first = logs_body(vec![warn(1_700_000_000_200_000_000, "retrying the tool")]);
    post_logs(&s, "/v1/logs", first.clone()).await;
    // A retry of the same request adds nothing.
    post_logs(&s, "/v1/logs", first).await;
    post_logs(
        &s,
        "/v1/logs",
        logs_body(vec![
            warn(1_700_000_000_300_000_000, "tool answered"),
            // Same time, same text, another place in the request: its own entry.
            warn(1_700_000_000_300_000_000, "tool answered"),
        ]),
    )
    .await;
    let ev = event(&s, &span_event()).await;
    let logs = ev["metadata"]["otel_logs"].as_object().expect("otel_logs");
    assert_eq!(logs.len(), 3, "{logs:?}");
    let mut keys: Vec<&String> = logs.keys().collect();
    keys.sort();
    let first = &logs[keys[0].as_str()];
    assert!(keys[0].starts_with("01700000000200000000_"), "{keys:?}");
    assert_eq!(first["body"], "retrying the tool");
    assert_eq!(first["severity"], "WARNING");
    assert_eq!(first["severity_number"], 13);
    assert_eq!(first["time"], 1_700_000_000_200i64);
    assert_eq!(first["attributes"]["code.function"], "call_tool");
    assert_eq!(
        first["scope"],
        "opentelemetry.instrumentation.openai_v2 2.4b0"
    );
    assert_eq!(logs[keys[2].as_str()]["body"], "tool answered");
    // The span's own fields are untouched.
    assert_eq!(ev["event_type"], "model");
    // Discovery lists the container, not one field per record.
    let schema = s.get("/v1/events/schema", &s.admin).await.json();
    let fields: Vec<&str> = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["field"].as_str())
        .filter(|f| f.contains("otel_logs"))
        .collect();
    assert_eq!(fields, ["metadata.otel_logs"]);
}

#[tokio::test]
async fn records_without_a_span_go_to_their_trace_session_and_without_a_trace_are_refused() {
    let s = server();
    let mut untraced = record(
        1_700_000_000_000_000_000,
        "",
        json!({"stringValue": "boot"}),
        false,
    );
    untraced.as_object_mut().unwrap().remove("traceId");
    let answer = post_logs(
        &s,
        "/v1/logs",
        logs_body(vec![
            record(
                1_700_000_000_000_000_000,
                "app.started",
                json!({"stringValue": "hello"}),
                false,
            ),
            untraced,
        ]),
    )
    .await;
    assert_eq!(answer["partialSuccess"]["rejectedLogRecords"], "1");
    let message = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(message.contains("no trace id"), "{message}");
    let session = event(&s, &trace_session()).await;
    let logs = session["metadata"]["otel_logs"].as_object().expect("logs");
    assert_eq!(logs.len(), 1);
    let entry = logs.values().next().unwrap();
    assert_eq!(entry["event_name"], "app.started");
    assert_eq!(entry["body"], "hello");
    assert_eq!(entry["severity"], "INFO");
}

#[tokio::test]
async fn logs_in_protobuf_and_gzip_with_a_project_key() {
    use hive_otlp::proto::collector::logs::v1::ExportLogsServiceRequest;
    use hive_otlp::proto::common::v1::{AnyValue, any_value};
    use hive_otlp::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    use prost::Message;
    let s = server();
    let key = s.key("ingest", "team-logs").await;
    let reader = s.key("read_write", "team-logs").await;
    let text = |t: &str| AnyValue {
        value: Some(any_value::Value::StringValue(t.into())),
    };
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord {
                        time_unix_nano: 1_700_000_000_000_000_000,
                        trace_id: vec![0x0a; 16],
                        span_id: vec![0x0b; 8],
                        severity_number: 17,
                        body: Some(text("tool failed")),
                        ..LogRecord::default()
                    },
                    LogRecord {
                        body: Some(text("no trace")),
                        ..LogRecord::default()
                    },
                ],
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
    .encode_to_vec();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &request).unwrap();
    let req = Request::builder()
        .method("POST")
        .uri("/v1/logs")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(Body::from(gz.finish().unwrap()))
        .unwrap();
    let r = s.raw(req).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    assert_eq!(r.headers["content-type"], "application/x-protobuf");
    let answer =
        hive_otlp::proto::collector::logs::v1::ExportLogsServiceResponse::decode(&r.bytes[..])
            .unwrap();
    let partial = answer.partial_success.expect("partial success");
    assert_eq!(partial.rejected_log_records, 1);
    // Kept in the key's project, waiting for its span, and visible there.
    let r = s
        .get(&format!("/v1/events/{}", span_event()), &reader)
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    let v = r.json();
    let ev = v.get("event").unwrap_or(&v);
    let logs = ev["metadata"]["otel_logs"].as_object().expect("logs");
    assert_eq!(logs.values().next().unwrap()["severity"], "ERROR");
}

#[tokio::test]
async fn metrics_are_answered_as_rejected_in_both_encodings() {
    let s = server();
    let body = json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "gen_ai.client.token.usage", "histogram": {"dataPoints": [{}, {}]}},
        {"name": "gen_ai.client.operation.duration", "sum": {"dataPoints": [{"asDouble": 1.5}]}}]}]}]});
    for path in ["/v1/metrics", "/opentelemetry/v1/metrics"] {
        let answer = post_logs(&s, path, body.clone()).await;
        assert_eq!(
            answer["partialSuccess"]["rejectedDataPoints"], "3",
            "{answer}"
        );
        let message = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
        assert!(message.contains("does not keep metrics"), "{message}");
    }
    // Protobuf: an empty request is answered with an empty response.
    let r = s
        .call(
            "POST",
            "/v1/metrics",
            &s.admin,
            Vec::<u8>::new(),
            "application/x-protobuf",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.bytes.is_empty());
    // Still authenticated and validated like any export.
    let r = s
        .call("POST", "/v1/metrics", "hh_nope", "{}", "application/json")
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = s
        .call(
            "POST",
            "/v1/logs",
            &s.admin,
            "{\"resourceLogs\": 1}",
            "application/json",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

/// One gRPC call through the gRPC router: `(grpc-status, message)`.
async fn grpc_call(s: &TestServer, method: &str, message: &[u8]) -> (String, Vec<u8>) {
    let router = hive_server::grpc::router(s.state.clone());
    let req = Request::builder()
        .method("POST")
        .uri(method)
        .header("content-type", "application/grpc")
        .header("authorization", format!("Bearer {}", s.admin))
        .body(Body::from(hive_otlp::grpc_frame(message)))
        .unwrap();
    let resp = router.oneshot(req).await.unwrap();
    let header_status = resp
        .headers()
        .get("grpc-status")
        .map(|v| v.to_str().unwrap().to_owned());
    let collected = resp.into_body().collect().await.unwrap();
    let trailer_status = collected
        .trailers()
        .and_then(|t| t.get("grpc-status"))
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = collected.to_bytes();
    let message = if bytes.len() >= 5 {
        bytes[5..].to_vec()
    } else {
        Vec::new()
    };
    (
        trailer_status.or(header_status).expect("grpc-status"),
        message,
    )
}

#[tokio::test]
async fn logs_and_metrics_over_grpc() {
    use hive_otlp::proto::collector::logs::v1::ExportLogsServiceResponse;
    use hive_otlp::proto::collector::metrics::v1::ExportMetricsServiceResponse;
    use prost::Message;
    let s = server();
    // The JSON conversation, re-encoded as protobuf.
    let request = json_to_proto_logs(&logs_body(conversation()));
    let (status, answer) = grpc_call(
        &s,
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        &request.encode_to_vec(),
    )
    .await;
    assert_eq!(status, "0");
    assert_eq!(
        ExportLogsServiceResponse::decode(&answer[..]).unwrap(),
        ExportLogsServiceResponse::default()
    );
    post_span(&s).await;
    assert_conversation(&event(&s, &span_event()).await);

    let metrics = hive_otlp::proto::collector::metrics::v1::ExportMetricsServiceRequest {
        resource_metrics: vec![hive_otlp::proto::metrics::v1::ResourceMetrics {
            scope_metrics: vec![hive_otlp::proto::metrics::v1::ScopeMetrics {
                metrics: vec![hive_otlp::proto::metrics::v1::Metric {
                    name: "gen_ai.client.token.usage".into(),
                    data: Some(hive_otlp::proto::metrics::v1::metric::Data::Gauge(
                        hive_otlp::proto::metrics::v1::DataPoints {
                            data_points: vec![Vec::new(); 4],
                        },
                    )),
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let (status, answer) = grpc_call(
        &s,
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        &metrics.encode_to_vec(),
    )
    .await;
    assert_eq!(status, "0");
    let partial = ExportMetricsServiceResponse::decode(&answer[..])
        .unwrap()
        .partial_success
        .expect("partial success");
    assert_eq!(partial.rejected_data_points, 4);
    // A malformed logs message is INVALID_ARGUMENT.
    let (status, _) = grpc_call(
        &s,
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        b"\x0a\xff\xff",
    )
    .await;
    assert_eq!(status, "3");
}

/// The protobuf request of an OTLP/JSON logs body as built by
/// [`logs_body`] (string, int and key-value list bodies).
fn json_to_proto_logs(
    body: &Value,
) -> hive_otlp::proto::collector::logs::v1::ExportLogsServiceRequest {
    use hive_otlp::proto::common::v1::{AnyValue, KeyValueList, any_value};
    use hive_otlp::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    fn any(v: &Value) -> AnyValue {
        let value = if let Some(s) = v.get("stringValue") {
            any_value::Value::StringValue(s.as_str().unwrap().into())
        } else if let Some(i) = v.get("intValue") {
            any_value::Value::IntValue(i.as_str().unwrap().parse().unwrap())
        } else {
            any_value::Value::KvlistValue(KeyValueList {
                values: v["kvlistValue"]["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|kv| hive_otlp::proto::common::v1::KeyValue {
                        key: kv["key"].as_str().unwrap().into(),
                        value: Some(any(&kv["value"])),
                    })
                    .collect(),
            })
        };
        AnyValue { value: Some(value) }
    }
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let records = body["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| LogRecord {
            time_unix_nano: r["timeUnixNano"].as_str().unwrap().parse().unwrap(),
            severity_number: 9,
            trace_id: hex(r["traceId"].as_str().unwrap()),
            span_id: r["spanId"].as_str().map(hex).unwrap_or_default(),
            event_name: r["eventName"].as_str().unwrap_or("").into(),
            body: Some(any(&r["body"])),
            ..LogRecord::default()
        })
        .collect();
    hive_otlp::proto::collector::logs::v1::ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    }
}

#[tokio::test]
async fn the_session_view_shows_log_records_in_a_logs_panel() {
    let s = server();
    post_span(&s).await;
    let mut r = record(
        1_700_000_000_200_000_000,
        "",
        json!({"stringValue": "<b>tool</b> failed"}),
        true,
    );
    r["severityNumber"] = json!(17);
    post_logs(&s, "/v1/logs", logs_body(vec![r])).await;
    let cookie = common::dashboard_cookie(&s).await;
    let page = s
        .raw(
            Request::builder()
                .uri(format!(
                    "/sessions/{}?event={}",
                    trace_session(),
                    span_event()
                ))
                .header("cookie", &cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8(page.bytes).unwrap();
    assert!(html.contains("id=\"p-logs\""), "no Logs panel");
    assert!(
        html.contains("&lt;b&gt;tool&lt;/b&gt; failed"),
        "body not shown escaped"
    );
    assert!(!html.contains("<b>tool</b>"));
    assert!(html.contains("<span class=\"bad\">ERROR</span>"));
}
