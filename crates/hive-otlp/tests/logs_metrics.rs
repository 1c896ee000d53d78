//! OTLP logs decoding and metrics counting: protobuf built with the
//! official generated messages (`opentelemetry-proto`), so the hand-written
//! ones are checked field by field against the schema; OTLP/JSON in the
//! standard encoding and in the dialects `decode_traces` accepts; errors;
//! the partial-success answers; and GenAI content logs all the way to an
//! enrichment patch.

use hive_core::log::LogRecord;
use hive_core::mapping::log_enrichments;
use hive_otlp::{
    Encoding, OtlpError, count_metric_points, decode_logs, export_logs_response,
    export_metrics_response,
};
use opentelemetry_proto::tonic::collector::logs::v1 as cl;
use opentelemetry_proto::tonic::collector::metrics::v1 as cm;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord as PLogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1 as pm;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::{Value, json};

fn s(v: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(v.into())),
    }
}

fn kv(k: &str, v: AnyValue) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(v),
        ..Default::default()
    }
}

const TRACE: [u8; 16] = [
    0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c,
];
const SPAN: [u8; 8] = [0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31];

/// A record as comparable JSON.
fn summary(r: &LogRecord) -> Value {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    json!({
        "time": r.time_unix_nano.to_string(),
        "observed": r.observed_time_unix_nano.to_string(),
        "trace_id": r.trace_id.map(|t| hex(&t)),
        "span_id": r.span_id.map(|t| hex(&t)),
        "severity": r.severity_number,
        "severity_text": r.severity_text,
        "body": r.body,
        "attributes": r.attributes.iter().map(|kv| (kv.key.clone(), kv.value.to_json())).collect::<serde_json::Map<_, _>>(),
        "event_name": r.event_name,
        "flags": r.flags,
        "resource": r.resource.iter().map(|kv| (kv.key.clone(), kv.value.to_json())).collect::<serde_json::Map<_, _>>(),
        "scope": format!("{}@{}", r.scope_name, r.scope_version),
    })
}

fn official_logs_request() -> cl::ExportLogsServiceRequest {
    let content = AnyValue {
        value: Some(any_value::Value::KvlistValue(KeyValueList {
            values: vec![kv("content", s("Weather in Paris?")), kv("role", s("user"))],
        })),
    };
    cl::ExportLogsServiceRequest {
        resource_logs: vec![
            ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", s("agent"))],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "opentelemetry.instrumentation.openai_v2".into(),
                        version: "2.1b0".into(),
                        ..Default::default()
                    }),
                    log_records: vec![
                        PLogRecord {
                            time_unix_nano: 1_700_000_000_000_000_001,
                            observed_time_unix_nano: 1_700_000_000_000_000_002,
                            severity_number: 13,
                            severity_text: "WARN".into(),
                            body: Some(content),
                            attributes: vec![kv("gen_ai.system", s("openai"))],
                            flags: 1,
                            trace_id: TRACE.to_vec(),
                            span_id: SPAN.to_vec(),
                            event_name: "gen_ai.user.message".into(),
                            ..Default::default()
                        },
                        PLogRecord {
                            // Older SDKs: the name as an attribute, no ids.
                            attributes: vec![kv("event.name", s("gen_ai.choice"))],
                            body: Some(s("plain text body")),
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            },
            ResourceLogs {
                resource: None,
                scope_logs: vec![ScopeLogs {
                    scope: None,
                    log_records: vec![PLogRecord {
                        trace_id: vec![0; 16],
                        span_id: vec![0; 8],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
        ],
    }
}

#[test]
fn protobuf_logs_from_the_official_messages() {
    let body = official_logs_request().encode_to_vec();
    let records = decode_logs(&body, Encoding::Protobuf).expect("decodes");
    let got: Vec<Value> = records.iter().map(summary).collect();
    assert_eq!(
        got,
        vec![
            json!({
                "time": "1700000000000000001", "observed": "1700000000000000002",
                "trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331",
                "severity": 13, "severity_text": "WARN",
                "body": {"content": "Weather in Paris?", "role": "user"},
                "attributes": {"gen_ai.system": "openai"},
                "event_name": "gen_ai.user.message", "flags": 1,
                "resource": {"service.name": "agent"},
                "scope": "opentelemetry.instrumentation.openai_v2@2.1b0",
            }),
            json!({
                "time": "0", "observed": "0", "trace_id": null, "span_id": null,
                "severity": 0, "severity_text": "", "body": "plain text body",
                "attributes": {"event.name": "gen_ai.choice"}, "event_name": "gen_ai.choice",
                "flags": 0, "resource": {"service.name": "agent"},
                "scope": "opentelemetry.instrumentation.openai_v2@2.1b0",
            }),
            json!({
                "time": "0", "observed": "0", "trace_id": null, "span_id": null,
                "severity": 0, "severity_text": "", "body": null, "attributes": {},
                "event_name": "", "flags": 0, "resource": {}, "scope": "@",
            }),
        ]
    );
}

/// (case, body, expected summaries of every record).
fn json_cases() -> Vec<(&'static str, Value, Vec<Value>)> {
    vec![
        (
            "standard OTLP/JSON: camelCase, hex ids, enums as numbers, 64-bit integers as strings",
            json!({"resourceLogs": [{
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "agent"}}]},
                "scopeLogs": [{"scope": {"name": "s", "version": "1"}, "logRecords": [{
                    "timeUnixNano": "1700000000000000001", "observedTimeUnixNano": 1700000000000000002u64,
                    "severityNumber": 9, "severityText": "INFO",
                    "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
                    "eventName": "gen_ai.choice", "flags": 1,
                    "body": {"kvlistValue": {"values": [
                        {"key": "index", "value": {"intValue": "0"}},
                        {"key": "finish_reason", "value": {"stringValue": "stop"}},
                        {"key": "message", "value": {"kvlistValue": {"values": [
                            {"key": "content", "value": {"stringValue": "Rainy."}}]}}}
                    ]}},
                    "attributes": [{"key": "gen_ai.system", "value": {"stringValue": "openai"}}]
                }]}]
            }]}),
            vec![json!({
                "time": "1700000000000000001", "observed": "1700000000000000002",
                "trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331",
                "severity": 9, "severity_text": "INFO",
                "body": {"index": 0, "finish_reason": "stop", "message": {"content": "Rainy."}},
                "attributes": {"gen_ai.system": "openai"}, "event_name": "gen_ai.choice", "flags": 1,
                "resource": {"service.name": "agent"}, "scope": "s@1",
            })],
        ),
        (
            "dialect: snake_case names, enum names, nulls, base64 ids, event.name attribute",
            json!({"resource_logs": [{
                "resource": null,
                "scope_logs": [{"scope": {"name": "py"}, "log_records": [{
                    "time_unix_nano": 5, "severity_number": "SEVERITY_NUMBER_ERROR2",
                    "severity_text": null, "trace_id": "CvdlGRbNQ92ESOshHIAxnA==", "span_id": "t61rcWkgMzE=",
                    "body": {"arrayValue": {"values": [{"stringValue": "a"}, {"boolValue": true}]}},
                    "attributes": [{"key": "event.name", "value": {"stringValue": "gen_ai.user.message"}}]
                }, {
                    "severityNumber": "WARN4", "traceId": "", "spanId": null, "body": {"doubleValue": 1.5}
                }]}]
            }]}),
            vec![
                json!({
                    "time": "5", "observed": "0",
                    "trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331",
                    "severity": 18, "severity_text": "", "body": ["a", true],
                    "attributes": {"event.name": "gen_ai.user.message"},
                    "event_name": "gen_ai.user.message", "flags": 0, "resource": {}, "scope": "py@",
                }),
                json!({
                    "time": "0", "observed": "0", "trace_id": null, "span_id": null,
                    "severity": 16, "severity_text": "", "body": 1.5, "attributes": {},
                    "event_name": "", "flags": 0, "resource": {}, "scope": "py@",
                }),
            ],
        ),
        ("empty request", json!({}), vec![]),
    ]
}

#[test]
fn json_logs_in_every_dialect() {
    for (name, body, want) in json_cases() {
        let records = decode_logs(body.to_string().as_bytes(), Encoding::Json)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let got: Vec<Value> = records.iter().map(summary).collect();
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn malformed_logs_say_where() {
    let cases: Vec<(&str, Vec<u8>, Encoding, &str)> = vec![
        (
            "span id of the wrong length",
            cl::ExportLogsServiceRequest {
                resource_logs: vec![ResourceLogs {
                    scope_logs: vec![ScopeLogs {
                        log_records: vec![PLogRecord {
                            span_id: vec![1, 2, 3],
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            }
            .encode_to_vec(),
            Encoding::Protobuf,
            "resource_logs[0].scope_logs[0].log_records[0].span_id",
        ),
        (
            "not protobuf",
            vec![0xff, 0xff, 0xff],
            Encoding::Protobuf,
            "invalid protobuf",
        ),
        ("not JSON", b"{".to_vec(), Encoding::Json, "invalid JSON"),
        (
            "bad trace id",
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"xyz"}]}]}]}"#.to_vec(),
            Encoding::Json,
            "resourceLogs[0].scopeLogs[0].logRecords[0].traceId",
        ),
        (
            "unknown severity",
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"LOUD"}]}]}]}"#
                .to_vec(),
            Encoding::Json,
            "unknown severity",
        ),
        (
            "records not an array",
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":{}}]}]}"#.to_vec(),
            Encoding::Json,
            "expected an array",
        ),
    ];
    for (name, body, encoding, want) in cases {
        let err: OtlpError = decode_logs(&body, encoding).expect_err(name);
        assert!(err.to_string().contains(want), "{name}: {err}");
    }
}

fn points<T: Default>(n: usize) -> Vec<T> {
    (0..n).map(|_| T::default()).collect()
}

fn metric(data: pm::metric::Data) -> pm::Metric {
    pm::Metric {
        name: "m".into(),
        data: Some(data),
        ..Default::default()
    }
}

#[test]
fn metric_points_are_counted() {
    use pm::metric::Data;
    let request = cm::ExportMetricsServiceRequest {
        resource_metrics: vec![
            pm::ResourceMetrics {
                scope_metrics: vec![pm::ScopeMetrics {
                    metrics: vec![
                        metric(Data::Gauge(pm::Gauge {
                            data_points: points(2),
                        })),
                        metric(Data::Sum(pm::Sum {
                            data_points: points(3),
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        })),
                        metric(Data::Histogram(pm::Histogram {
                            data_points: vec![pm::HistogramDataPoint {
                                count: 4,
                                bucket_counts: vec![1, 3],
                                explicit_bounds: vec![1.0],
                                ..Default::default()
                            }],
                            aggregation_temporality: 1,
                        })),
                        metric(Data::ExponentialHistogram(pm::ExponentialHistogram {
                            data_points: points(1),
                            aggregation_temporality: 1,
                        })),
                        pm::Metric {
                            name: "no data".into(),
                            ..Default::default()
                        },
                    ],
                    ..Default::default()
                }],
                ..Default::default()
            },
            pm::ResourceMetrics {
                scope_metrics: vec![pm::ScopeMetrics {
                    metrics: vec![metric(Data::Summary(pm::Summary {
                        data_points: points(2),
                    }))],
                    ..Default::default()
                }],
                ..Default::default()
            },
        ],
    };
    let body = request.encode_to_vec();
    assert_eq!(count_metric_points(&body, Encoding::Protobuf).unwrap(), 9);
    assert_eq!(
        count_metric_points(
            &cm::ExportMetricsServiceRequest::default().encode_to_vec(),
            Encoding::Protobuf
        )
        .unwrap(),
        0
    );
    assert!(count_metric_points(&[0xff, 0xff], Encoding::Protobuf).is_err());

    let json_cases = [
        (
            json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
                {"name": "a", "gauge": {"dataPoints": [{"asDouble": 1.0}, {"asInt": "2"}]}},
                {"name": "b", "sum": {"dataPoints": [{"asInt": "1"}], "isMonotonic": true}},
                {"name": "c", "histogram": {"dataPoints": [{"count": "3"}]}},
                {"name": "d", "exponentialHistogram": {"dataPoints": [{}, {}]}},
                {"name": "e", "summary": {"dataPoints": [{}]}}
            ]}]}]}),
            7,
        ),
        (
            json!({"resource_metrics": [{"scope_metrics": [{"metrics": [
                {"name": "a", "exponential_histogram": {"data_points": [{}]}},
                {"name": "b", "gauge": {"data_points": null}}
            ]}]}]}),
            1,
        ),
        (json!({}), 0),
    ];
    for (body, want) in json_cases {
        assert_eq!(
            count_metric_points(body.to_string().as_bytes(), Encoding::Json).unwrap(),
            want,
            "{body}"
        );
    }
    let err = count_metric_points(
        br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":3}}]}]}]}"#,
        Encoding::Json,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("resourceMetrics[0].scopeMetrics[0].metrics[0].gauge"),
        "{err}"
    );
}

#[test]
fn partial_success_answers() {
    let ok = export_logs_response(Encoding::Protobuf, 0, "");
    let decoded = cl::ExportLogsServiceResponse::decode(ok.as_slice()).unwrap();
    assert_eq!(decoded.partial_success, None);
    let partial = export_metrics_response(Encoding::Protobuf, 9, "metrics are not stored");
    let decoded = cm::ExportMetricsServiceResponse::decode(partial.as_slice()).unwrap();
    let p = decoded.partial_success.expect("partial success");
    assert_eq!(p.rejected_data_points, 9);
    assert_eq!(p.error_message, "metrics are not stored");
    let logs = export_logs_response(Encoding::Protobuf, 2, "x");
    let p = cl::ExportLogsServiceResponse::decode(logs.as_slice())
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!((p.rejected_log_records, p.error_message.as_str()), (2, "x"));

    assert_eq!(export_logs_response(Encoding::Json, 0, ""), b"{}");
    let json: Value =
        serde_json::from_slice(&export_metrics_response(Encoding::Json, 9, "not stored")).unwrap();
    assert_eq!(
        json,
        json!({"partialSuccess": {"rejectedDataPoints": "9", "errorMessage": "not stored"}})
    );
    let json: Value = serde_json::from_slice(&export_logs_response(Encoding::Json, 3, "")).unwrap();
    assert_eq!(json, json!({"partialSuccess": {"rejectedLogRecords": "3"}}));
}

#[test]
fn genai_content_logs_become_an_enrichment_of_their_span() {
    let body = json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"eventName": "gen_ai.system.message", "traceId": "0af7651916cd43dd8448eb211c80319c",
         "spanId": "b7ad6b7169203331", "body": {"kvlistValue": {"values": [
            {"key": "content", "value": {"stringValue": "Be brief."}}]}}},
        {"eventName": "gen_ai.user.message", "traceId": "0af7651916cd43dd8448eb211c80319c",
         "spanId": "b7ad6b7169203331", "body": {"kvlistValue": {"values": [
            {"key": "content", "value": {"stringValue": "Hi"}}]}}},
        {"eventName": "gen_ai.choice", "traceId": "0af7651916cd43dd8448eb211c80319c",
         "spanId": "b7ad6b7169203331", "body": {"kvlistValue": {"values": [
            {"key": "index", "value": {"intValue": "0"}},
            {"key": "finish_reason", "value": {"stringValue": "stop"}},
            {"key": "message", "value": {"kvlistValue": {"values": [
                {"key": "role", "value": {"stringValue": "assistant"}},
                {"key": "content", "value": {"stringValue": "Hello!"}}]}}}]}}}
    ]}]}]});
    let records = decode_logs(body.to_string().as_bytes(), Encoding::Json).unwrap();
    let enrichments = log_enrichments(&records);
    assert_eq!(enrichments.len(), 1);
    assert_eq!(
        enrichments[0].event_id,
        "0af76519-16cd-43dd-b7ad-6b7169203331"
    );
    assert_eq!(enrichments[0].trace_id, TRACE);
    assert_eq!(enrichments[0].span_id, SPAN);
    assert_eq!(
        Value::Object(enrichments[0].patch.clone()),
        json!({
            "inputs": {"chat_history": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"}
            ]},
            "outputs": {"role": "assistant", "content": "Hello!", "finish_reason": "stop"}
        })
    );
}
