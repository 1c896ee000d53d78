//! Every malformed input gives a clean, descriptive error. Table driven.

mod common;

use std::io::Write;

use common::sample_spans;
use hive_otlp::proto::collector::trace::v1::ExportTraceServiceRequest;
use hive_otlp::proto::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList, any_value};
use hive_otlp::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use hive_otlp::{
    Encoding, MAX_ANY_VALUE_DEPTH, OtlpError, decode_traces, encode_traces_protobuf, grpc_unframe,
    gunzip,
};
use prost::Message;

const TRACE_HEX: &str = "5b8efff798038103d269b633813fc60c";

fn err(body: &[u8], encoding: Encoding) -> String {
    match decode_traces(body, encoding) {
        Ok(spans) => panic!(
            "expected an error, decoded {} spans from {:?}",
            spans.len(),
            String::from_utf8_lossy(body)
        ),
        Err(e) => e.to_string(),
    }
}

fn assert_contains(message: &str, want: &str, case: &str) {
    assert!(
        message.contains(want),
        "{case}: {message:?} does not contain {want:?}"
    );
}

fn pb_span(trace_id: Vec<u8>, span_id: Vec<u8>, parent: Vec<u8>) -> Span {
    Span {
        trace_id,
        span_id,
        parent_span_id: parent,
        name: "x".into(),
        ..Default::default()
    }
}

fn pb_request(spans: Vec<Span>) -> Vec<u8> {
    ExportTraceServiceRequest {
        resource_spans: vec![
            ResourceSpans::default(),
            ResourceSpans {
                scope_spans: vec![
                    ScopeSpans::default(),
                    ScopeSpans {
                        spans,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            },
        ],
    }
    .encode_to_vec()
}

#[test]
fn protobuf_errors() {
    let good_trace = vec![7u8; 16];
    let good_span = vec![8u8; 8];
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "short trace id",
            pb_request(vec![pb_span(vec![1; 15], good_span.clone(), vec![])]),
            "invalid OTLP protobuf at resource_spans[1].scope_spans[1].spans[0].trace_id: expected 16 bytes, got 15 bytes",
        ),
        (
            "missing trace id",
            pb_request(vec![pb_span(vec![], good_span.clone(), vec![])]),
            "spans[0].trace_id: expected 16 bytes, missing",
        ),
        (
            "long span id in second span",
            pb_request(vec![
                pb_span(good_trace.clone(), good_span.clone(), vec![]),
                pb_span(good_trace.clone(), vec![1; 9], vec![]),
            ]),
            "spans[1].span_id: expected 8 bytes, got 9 bytes",
        ),
        (
            "bad parent id",
            pb_request(vec![pb_span(
                good_trace.clone(),
                good_span.clone(),
                vec![1; 5],
            )]),
            "spans[0].parent_span_id: expected 8 bytes, got 5 bytes",
        ),
        (
            "garbage",
            b"\xff\xff\xff\xff\xff".to_vec(),
            "invalid protobuf: ",
        ),
        (
            "wrong wire type for resource_spans",
            vec![0x08, 0x01],
            "invalid protobuf: ",
        ),
        (
            "length beyond the buffer",
            vec![0x0a, 0x7f, 0x00],
            "invalid protobuf: ",
        ),
    ];
    for (case, body, want) in cases {
        assert_contains(&err(&body, Encoding::Protobuf), want, case);
    }
}

#[test]
fn every_truncation_of_a_protobuf_request_fails() {
    let bytes = encode_traces_protobuf(&sample_spans()[..1]);
    for cut in 1..bytes.len() {
        let message = err(&bytes[..cut], Encoding::Protobuf);
        assert!(
            message.starts_with("invalid protobuf: "),
            "cut at {cut}: {message}"
        );
    }
}

#[test]
fn protobuf_ids_are_valid_when_all_zero_parent() {
    let body = pb_request(vec![pb_span(vec![7; 16], vec![8; 8], vec![0; 8])]);
    let spans = decode_traces(&body, Encoding::Protobuf).unwrap();
    assert_eq!(spans[0].parent_span_id, None);
}

fn json_span(span: &str) -> Vec<u8> {
    format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[]}},{{"spans":[{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174"}},{span}]}}]}}]}}"#)
        .into_bytes()
}

#[test]
fn json_errors() {
    const AT: &str = "invalid OTLP/JSON at resourceSpans[0].scopeSpans[1].spans[1]";
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "not JSON",
            b"{\"resourceSpans\":".to_vec(),
            "invalid JSON: ".into(),
        ),
        ("empty body", b"".to_vec(), "invalid JSON: ".into()),
        (
            "binary",
            b"\x0a\x02\x08\x01".to_vec(),
            "invalid JSON: ".into(),
        ),
        (
            "top-level array",
            b"[]".to_vec(),
            "invalid OTLP/JSON at (root): expected an object, got an array".into(),
        ),
        (
            "resourceSpans not an array",
            br#"{"resourceSpans":{}}"#.to_vec(),
            "invalid OTLP/JSON at resourceSpans: expected an array, got an object".into(),
        ),
        (
            "span not an object",
            json_span("3"),
            format!("{AT}: expected an object, got a number"),
        ),
        (
            "trace id of wrong length",
            json_span(r#"{"traceId":"abc","spanId":"eee19b7ec3c1b174"}"#),
            format!("{AT}.traceId: expected 32 hex characters"),
        ),
        (
            "trace id not hex nor base64",
            json_span(
                r#"{"traceId":"zz8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"}"#,
            ),
            format!("{AT}.traceId: expected 32 hex characters"),
        ),
        (
            "missing trace id",
            json_span(r#"{"spanId":"eee19b7ec3c1b174"}"#),
            format!("{AT}.traceId: missing, expected 32 hex characters"),
        ),
        (
            "null span id",
            json_span(&format!(r#"{{"traceId":"{TRACE_HEX}","spanId":null}}"#)),
            format!("{AT}.spanId: missing, expected 16 hex characters"),
        ),
        (
            "numeric span id",
            json_span(&format!(r#"{{"traceId":"{TRACE_HEX}","spanId":12}}"#)),
            format!("{AT}.spanId: expected a string of 16 hex characters, got a number"),
        ),
        (
            "base64 of the wrong length",
            json_span(&format!(
                r#"{{"traceId":"{TRACE_HEX}","spanId":"AAECAw=="}}"#
            )),
            format!("{AT}.spanId: expected 16 hex characters"),
        ),
        (
            "bad parent",
            json_span(&format!(
                r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174","parentSpanId":"xyz"}}"#
            )),
            format!("{AT}.parentSpanId: expected 16 hex characters"),
        ),
        (
            "unknown kind name",
            json_span(&format!(
                r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174","kind":"SPAN_KIND_WEIRD"}}"#
            )),
            format!("{AT}.kind: unknown span kind \"SPAN_KIND_WEIRD\""),
        ),
        (
            "unknown status name",
            json_span(&format!(
                r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174","status":{{"code":"MEH"}}}}"#
            )),
            format!("{AT}.status.code: unknown status code \"MEH\""),
        ),
        (
            "negative start time",
            json_span(&format!(
                r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174","startTimeUnixNano":"-1"}}"#
            )),
            format!("{AT}.startTimeUnixNano: expected an unsigned 64-bit integer, got \"-1\""),
        ),
        (
            "name not a string",
            json_span(&format!(
                r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174","name":[]}}"#
            )),
            format!("{AT}.name: expected a string, got an array"),
        ),
        (
            "bad intValue",
            json_span(&format!(
                r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174","attributes":[{{"key":"a","value":{{"intValue":"1.5x"}}}}]}}"#
            )),
            format!("{AT}.attributes[0].value.intValue: expected a 64-bit integer, got \"1.5x\""),
        ),
        (
            "int out of range",
            json_span(&format!(
                r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174","attributes":[{{"key":"a","value":{{"intValue":"9223372036854775808"}}}}]}}"#
            )),
            format!("{AT}.attributes[0].value.intValue: expected a 64-bit integer"),
        ),
        (
            "bad bytesValue",
            json_span(&format!(
                r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174","attributes":[{{"key":"a","value":{{"bytesValue":"!!"}}}}]}}"#
            )),
            format!("{AT}.attributes[0].value.bytesValue: expected base64"),
        ),
        (
            "bad event time in nested path",
            json_span(&format!(
                r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174","events":[{{}},{{"timeUnixNano":true}}]}}"#
            )),
            format!(
                "{AT}.events[1].timeUnixNano: expected an unsigned 64-bit integer, got a boolean"
            ),
        ),
        (
            "attribute in an array",
            json_span(&format!(
                r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174","attributes":[{{"key":"a","value":{{"arrayValue":{{"values":[{{}},{{"boolValue":1}}]}}}}}}]}}"#
            )),
            format!(
                "{AT}.attributes[0].value.arrayValue.values[1].boolValue: expected a boolean, got 1"
            ),
        ),
    ];
    for (case, body, want) in cases {
        assert_contains(&err(&body, Encoding::Json), &want, case);
    }
}

/// An attribute value made of `depth` nested arrays around a string.
fn nested_json(depth: usize) -> Vec<u8> {
    let mut value = r#"{"stringValue":"leaf"}"#.to_string();
    for i in 0..depth {
        value = if i % 2 == 0 {
            format!(r#"{{"arrayValue":{{"values":[{value}]}}}}"#)
        } else {
            format!(r#"{{"kvlistValue":{{"values":[{{"key":"k","value":{value}}}]}}}}"#)
        };
    }
    json_span(&format!(
        r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174","attributes":[{{"key":"a","value":{value}}}]}}"#
    ))
}

/// The same as protobuf, built bottom-up without recursion.
fn nested_protobuf(depth: usize) -> Vec<u8> {
    let mut value = AnyValue {
        value: Some(any_value::Value::StringValue("leaf".into())),
    };
    for i in 0..depth {
        value = AnyValue {
            value: Some(if i % 2 == 0 {
                any_value::Value::ArrayValue(ArrayValue {
                    values: vec![value],
                })
            } else {
                any_value::Value::KvlistValue(KeyValueList {
                    values: vec![KeyValue {
                        key: "k".into(),
                        value: Some(value),
                    }],
                })
            }),
        };
    }
    let mut span = pb_span(vec![7; 16], vec![8; 8], vec![]);
    span.attributes = vec![KeyValue {
        key: "a".into(),
        value: Some(value),
    }];
    pb_request(vec![span])
}

/// Raw protobuf bytes of `depth` nested `AnyValue.array_value` levels,
/// wrapped into a request; built iteratively so huge depths are cheap.
fn nested_protobuf_raw(depth: usize) -> Vec<u8> {
    fn wrap(tag: u8, inner: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let mut len = inner.len();
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend_from_slice(inner);
        out
    }
    let mut any = wrap(0x0a, b"leaf"); // AnyValue.string_value
    for _ in 0..depth {
        let array = wrap(0x0a, &any); // ArrayValue.values
        any = wrap(0x2a, &array); // AnyValue.array_value
    }
    let kv = [wrap(0x0a, b"a"), wrap(0x12, &any)].concat(); // KeyValue
    let span = [wrap(0x0a, &[7; 16]), wrap(0x12, &[8; 8]), wrap(0x4a, &kv)].concat();
    let scope_spans = wrap(0x12, &span);
    let resource_spans = wrap(0x12, &scope_spans);
    wrap(0x0a, &resource_spans)
}

#[test]
fn nesting_limits() {
    // JSON and protobuf: exactly the limit is fine, one more is an error.
    for (encoding, build) in [
        (Encoding::Json, nested_json as fn(usize) -> Vec<u8>),
        (Encoding::Protobuf, nested_protobuf),
    ] {
        let ok = decode_traces(&build(MAX_ANY_VALUE_DEPTH), encoding).unwrap();
        assert_eq!(ok.last().unwrap().attributes.len(), 1);
        let message = err(&build(MAX_ANY_VALUE_DEPTH + 1), encoding);
        assert!(
            message.starts_with("nesting too deep at "),
            "{encoding:?}: {message}"
        );
        assert!(
            message.contains("attributes[0].value"),
            "{encoding:?}: {message}"
        );
    }
    assert_eq!(nested_protobuf_raw(3), nested_protobuf_raw(3));
    assert_eq!(
        decode_traces(
            &nested_protobuf_raw(MAX_ANY_VALUE_DEPTH),
            Encoding::Protobuf
        )
        .unwrap()
        .len(),
        1
    );
    // Far deeper than anything: rejected by the decoders' own guards, no stack overflow.
    for depth in [40, 100, 5_000] {
        let message = err(&nested_protobuf_raw(depth), Encoding::Protobuf);
        assert!(
            message.starts_with("nesting too deep"),
            "protobuf depth {depth}: {message}"
        );
    }
    for depth in [100, 1_000] {
        let message = err(&nested_json(depth), Encoding::Json);
        assert!(
            message.starts_with("nesting too deep") || message.contains("recursion limit"),
            "json depth {depth}: {message}"
        );
    }
    let deep_plain_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_contains(
        &err(deep_plain_json.as_bytes(), Encoding::Json),
        "recursion limit",
        "deep plain json",
    );
}

#[test]
fn gzip_errors() {
    // A 64 MiB zip bomb (~64 KiB compressed) against a 1 MiB cap.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    let e = gunzip(&bomb, 1 << 20).unwrap_err();
    assert!(matches!(e, OtlpError::TooLarge { limit } if limit == 1 << 20));
    assert_eq!(
        e.to_string(),
        "body too large after decompression (limit 1048576 bytes)"
    );

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"0123456789").unwrap();
    let small = gz.finish().unwrap();
    assert_eq!(gunzip(&small, 10).unwrap(), b"0123456789");
    assert!(matches!(
        gunzip(&small, 9),
        Err(OtlpError::TooLarge { limit: 9 })
    ));
    assert!(matches!(
        gunzip(&small, 0),
        Err(OtlpError::TooLarge { limit: 0 })
    ));

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not gzip", b"hello world".to_vec()),
        ("truncated", small[..small.len() - 6].to_vec()),
        ("corrupt crc", {
            let mut b = small.clone();
            let n = b.len();
            b[n - 8] ^= 0xff;
            b
        }),
        (
            "trailing garbage",
            [small.clone(), b"xyz".to_vec()].concat(),
        ),
    ];
    for (case, body) in cases {
        let e = gunzip(&body, 1 << 20).expect_err(case);
        assert!(e.to_string().starts_with("gzip: "), "{case}: {e}");
    }
}

#[test]
fn grpc_frame_errors() {
    let frame =
        |flag: u8, len: u32, payload: &[u8]| [&[flag][..], &len.to_be_bytes(), payload].concat();
    let cases: Vec<(&str, Vec<u8>, Option<&str>, &str)> = vec![
        (
            "empty",
            vec![],
            None,
            "invalid gRPC frame: 0 bytes is shorter than the 5-byte message header",
        ),
        (
            "short header",
            vec![0, 0, 0],
            None,
            "shorter than the 5-byte message header",
        ),
        (
            "length too big",
            frame(0, 10, b"abc"),
            None,
            "message length 10 exceeds the 3 bytes received",
        ),
        (
            "huge length",
            frame(0, u32::MAX, b"abc"),
            None,
            "exceeds the 3 bytes received",
        ),
        (
            "trailing bytes",
            frame(0, 1, b"abc"),
            None,
            "2 trailing bytes after a 1-byte message",
        ),
        (
            "bad flag",
            frame(2, 3, b"abc"),
            None,
            "invalid compressed flag 2",
        ),
        (
            "compressed, no encoding",
            frame(1, 3, b"abc"),
            None,
            "compressed flag set but no grpc-encoding",
        ),
        (
            "compressed, identity",
            frame(1, 3, b"abc"),
            Some("identity"),
            "compressed flag set but no grpc-encoding",
        ),
        (
            "compressed, brotli",
            frame(1, 3, b"abc"),
            Some("br"),
            "unsupported grpc-encoding \"br\"",
        ),
        (
            "compressed, not gzip data",
            frame(1, 3, b"abc"),
            Some("gzip"),
            "gzip: ",
        ),
        (
            "over the cap",
            frame(0, 3, b"abc"),
            None,
            "body too large after decompression (limit 2 bytes)",
        ),
    ];
    for (case, body, encoding, want) in cases {
        let max = if case == "over the cap" { 2 } else { 1 << 20 };
        let e = grpc_unframe(&body, encoding, max).expect_err(case);
        assert_contains(&e.to_string(), want, case);
    }
    assert_eq!(grpc_unframe(&frame(0, 0, b""), None, 0).unwrap(), b"");
}
