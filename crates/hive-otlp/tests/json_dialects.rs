//! OTLP/JSON variants: the standard mapping, snake_case, base64 ids, the
//! HoneyHive SDK dialect and assorted leniencies. Table driven.

use hive_core::span::{AttrValue, Span, SpanKind, StatusCode};
use hive_otlp::{Encoding, decode_traces};

const TRACE_HEX: &str = "5b8efff798038103d269b633813fc60c";
const TRACE: [u8; 16] = [
    0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c,
];
const SPAN: [u8; 8] = [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74];
const PARENT: [u8; 8] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08];

/// Wraps one span object into a request.
fn request(span: &str) -> String {
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[]}},"scopeSpans":[{{"scope":{{"name":"s"}},"spans":[{span}]}}]}}]}}"#
    )
}

fn one(body: &str) -> Span {
    let spans =
        decode_traces(body.as_bytes(), Encoding::Json).unwrap_or_else(|e| panic!("{e}\n{body}"));
    assert_eq!(spans.len(), 1, "{body}");
    spans.into_iter().next().unwrap()
}

type Check = fn(&Span);

#[test]
fn span_level_variants() {
    let cases: Vec<(&str, String, Check)> = vec![
        (
            "standard OTLP/JSON: integer enums and int64 strings",
            request(&format!(
                r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174","parentSpanId":"0102030405060708",
                "name":"GET /","kind":2,"startTimeUnixNano":"1700000000000000001","endTimeUnixNano":"1700000000000000002",
                "status":{{"code":2,"message":"bad"}},"flags":256,"traceState":"x=y","droppedAttributesCount":0,
                "links":[{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174"}}]}}"#
            )),
            |s| {
                assert_eq!(s.trace_id, TRACE);
                assert_eq!(s.span_id, SPAN);
                assert_eq!(s.parent_span_id, Some(PARENT));
                assert_eq!(s.name, "GET /");
                assert_eq!(s.kind, SpanKind::Server);
                assert_eq!(s.start_time_unix_nano, 1_700_000_000_000_000_001);
                assert_eq!(s.end_time_unix_nano, 1_700_000_000_000_000_002);
                assert_eq!(s.status_code, StatusCode::Error);
                assert_eq!(s.status_message, "bad");
                assert_eq!(s.scope_name, "s");
            },
        ),
        (
            "SDK dialect: enum names, null parent",
            request(&format!(
                r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174","parentSpanId":null,"name":"n",
                "kind":"SPAN_KIND_CLIENT","startTimeUnixNano":"5","endTimeUnixNano":"6","attributes":[],"events":[],
                "status":{{"code":"STATUS_CODE_OK"}}}}"#
            )),
            |s| {
                assert_eq!(s.parent_span_id, None);
                assert_eq!(s.kind, SpanKind::Client);
                assert_eq!(s.status_code, StatusCode::Ok);
                assert_eq!(s.status_message, "");
            },
        ),
        (
            "snake_case field names and numeric times",
            format!(
                r#"{{"resource_spans":[{{"scope_spans":[{{"scope":{{"name":"s","version":"1.0"}},"spans":[{{
                "trace_id":"{TRACE_HEX}","span_id":"EEE19B7EC3C1B174","parent_span_id":"0102030405060708",
                "start_time_unix_nano":1700000000000000001,"end_time_unix_nano":17e17,"kind":"producer",
                "status":{{"code":"ERROR"}}}}]}}]}}]}}"#
            ),
            |s| {
                assert_eq!(s.span_id, SPAN, "upper-case hex");
                assert_eq!(s.parent_span_id, Some(PARENT));
                assert_eq!(s.start_time_unix_nano, 1_700_000_000_000_000_001);
                assert_eq!(s.end_time_unix_nano, 1_700_000_000_000_000_000);
                assert_eq!(s.kind, SpanKind::Producer);
                assert_eq!(s.status_code, StatusCode::Error);
                assert_eq!(s.scope_version, "1.0");
            },
        ),
        (
            "protobuf-JSON mapping: base64 ids",
            request(
                r#"{"traceId":"W47/95gDgQPSabYzgT/GDA==","spanId":"7uGbfsPBsXQ=","parentSpanId":"AQIDBAUGBwg="}"#,
            ),
            |s| {
                assert_eq!(s.trace_id, TRACE);
                assert_eq!(s.span_id, SPAN);
                assert_eq!(s.parent_span_id, Some(PARENT));
                assert_eq!(s.kind, SpanKind::Unspecified);
            },
        ),
        (
            "unpadded and url-safe base64 ids",
            request(r#"{"traceId":"W47_95gDgQPSabYzgT_GDA","spanId":"7uGbfsPBsXQ"}"#),
            |s| {
                assert_eq!(s.trace_id, TRACE);
                assert_eq!(s.span_id, SPAN);
            },
        ),
        (
            "empty parent id is a root",
            request(&format!(
                r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174","parentSpanId":""}}"#
            )),
            |s| assert_eq!(s.parent_span_id, None),
        ),
        (
            "all-zero parent id is a root",
            request(&format!(
                r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174","parentSpanId":"0000000000000000"}}"#
            )),
            |s| assert_eq!(s.parent_span_id, None),
        ),
        (
            "base64 all-zero parent id is a root",
            request(&format!(
                r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174","parentSpanId":"AAAAAAAAAAA="}}"#
            )),
            |s| assert_eq!(s.parent_span_id, None),
        ),
        (
            "unknown kind number and status code read as unspecified / unset",
            request(&format!(
                r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174","kind":9,"status":{{"code":7}}}}"#
            )),
            |s| {
                assert_eq!(s.kind, SpanKind::Unspecified);
                assert_eq!(s.status_code, StatusCode::Unset);
            },
        ),
        (
            "events",
            request(&format!(
                r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174","events":[
                {{"timeUnixNano":"1795253222286284272","name":"exception","attributes":[
                  {{"key":"exception.type","value":{{"stringValue":"ValueError"}}}}]}},
                {{"time_unix_nano":7,"name":"snake"}}]}}"#
            )),
            |s| {
                assert_eq!(s.events.len(), 2);
                assert_eq!(s.events[0].time_unix_nano, 1_795_253_222_286_284_272);
                assert_eq!(s.events[0].name, "exception");
                assert_eq!(
                    s.events[0].attributes[0].value,
                    AttrValue::Str("ValueError".into())
                );
                assert_eq!(s.events[1].time_unix_nano, 7);
            },
        ),
    ];
    for (name, body, check) in cases {
        let span = one(&body);
        eprintln!("case: {name}");
        check(&span);
    }
}

#[test]
fn attribute_values() {
    let cases: Vec<(&str, &str, AttrValue)> = vec![
        (
            "string",
            r#"{"stringValue":"x"}"#,
            AttrValue::Str("x".into()),
        ),
        (
            "snake string",
            r#"{"string_value":"x"}"#,
            AttrValue::Str("x".into()),
        ),
        ("bool", r#"{"boolValue":true}"#, AttrValue::Bool(true)),
        (
            "int as string",
            r#"{"intValue":"-9223372036854775808"}"#,
            AttrValue::Int(i64::MIN),
        ),
        ("int as number", r#"{"intValue":42}"#, AttrValue::Int(42)),
        (
            "int as float number",
            r#"{"intValue":4.0}"#,
            AttrValue::Int(4),
        ),
        ("double", r#"{"doubleValue":0.5}"#, AttrValue::Double(0.5)),
        (
            "double from integer",
            r#"{"doubleValue":3}"#,
            AttrValue::Double(3.0),
        ),
        (
            "double Infinity",
            r#"{"doubleValue":"Infinity"}"#,
            AttrValue::Double(f64::INFINITY),
        ),
        (
            "double -Infinity",
            r#"{"doubleValue":"-Infinity"}"#,
            AttrValue::Double(f64::NEG_INFINITY),
        ),
        (
            "double as string",
            r#"{"doubleValue":"1.25"}"#,
            AttrValue::Double(1.25),
        ),
        (
            "bytes",
            r#"{"bytesValue":"AAEC/w=="}"#,
            AttrValue::Bytes(vec![0, 1, 2, 255]),
        ),
        ("empty object", r#"{}"#, AttrValue::Empty),
        ("null", r#"null"#, AttrValue::Empty),
        ("null member", r#"{"stringValue":null}"#, AttrValue::Empty),
        (
            "unknown member only",
            r#"{"futureValue":1}"#,
            AttrValue::Empty,
        ),
        (
            "unknown member first",
            r#"{"futureValue":1,"intValue":"3"}"#,
            AttrValue::Int(3),
        ),
        (
            "array",
            r#"{"arrayValue":{"values":[{"stringValue":"a"},{"intValue":"1"},{}]}}"#,
            AttrValue::Array(vec![
                AttrValue::Str("a".into()),
                AttrValue::Int(1),
                AttrValue::Empty,
            ]),
        ),
        (
            "empty array",
            r#"{"arrayValue":{}}"#,
            AttrValue::Array(vec![]),
        ),
        (
            "kvlist",
            r#"{"kvlistValue":{"values":[{"key":"k","value":{"boolValue":false}},{"key":"n"}]}}"#,
            AttrValue::KvList(vec![
                hive_core::span::KeyValue::new("k", AttrValue::Bool(false)),
                hive_core::span::KeyValue::new("n", AttrValue::Empty),
            ]),
        ),
        (
            "snake kvlist in array",
            r#"{"array_value":{"values":[{"kvlist_value":{"values":[{"key":"k","value":{"int_value":2}}]}}]}}"#,
            AttrValue::Array(vec![AttrValue::KvList(vec![
                hive_core::span::KeyValue::new("k", AttrValue::Int(2)),
            ])]),
        ),
        (
            "bare string (lenient)",
            r#""plain""#,
            AttrValue::Str("plain".into()),
        ),
        ("bare number (lenient)", r#"7"#, AttrValue::Int(7)),
    ];
    for (name, value, want) in cases {
        let body = request(&format!(
            r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174","attributes":[{{"key":"a","value":{value}}}]}}"#
        ));
        let span = one(&body);
        assert_eq!(span.attributes.len(), 1, "{name}");
        assert_eq!(span.attributes[0].key, "a", "{name}");
        assert_eq!(span.attributes[0].value, want, "{name}");
    }
    // NaN is not equal to itself: checked separately.
    let body = request(&format!(
        r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174","attributes":[{{"key":"a","value":{{"doubleValue":"NaN"}}}}]}}"#
    ));
    assert!(matches!(one(&body).attributes[0].value, AttrValue::Double(d) if d.is_nan()));
}

#[test]
fn resource_and_scope_variants() {
    let span = format!(r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174"}}"#);
    let cases: Vec<(&str, String, usize, &str, &str)> = vec![
        (
            "SDK: resource without attributes, scope without version",
            format!(
                r#"{{"resourceSpans":[{{"resource":{{}},"scopeSpans":[{{"scope":{{"name":"hh"}},"spans":[{span}]}}]}}]}}"#
            ),
            0,
            "hh",
            "",
        ),
        (
            "no resource, no scope",
            format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{span}]}}]}}]}}"#),
            0,
            "",
            "",
        ),
        (
            "null resource and scope version",
            format!(
                r#"{{"resourceSpans":[{{"resource":null,"scopeSpans":[{{"scope":{{"name":"x","version":null}},"spans":[{span}]}}]}}]}}"#
            ),
            0,
            "x",
            "",
        ),
        (
            "resource attributes",
            format!(
                r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"svc"}}}}],"droppedAttributesCount":0}},"scopeSpans":[{{"scope":{{"name":"x","version":"2"}},"spans":[{span}]}}],"schemaUrl":"u"}}]}}"#
            ),
            1,
            "x",
            "2",
        ),
        (
            "legacy instrumentationLibrarySpans",
            format!(
                r#"{{"resourceSpans":[{{"instrumentationLibrarySpans":[{{"instrumentationLibrary":{{"name":"old","version":"0.1"}},"spans":[{span}]}}]}}]}}"#
            ),
            0,
            "old",
            "0.1",
        ),
    ];
    for (name, body, n_resource, scope, version) in cases {
        let s = one(&body);
        assert_eq!(s.resource.len(), n_resource, "{name}");
        assert_eq!(s.scope_name, scope, "{name}");
        assert_eq!(s.scope_version, version, "{name}");
    }
}

#[test]
fn utf8_bom_is_ignored() {
    let mut body = b"\xEF\xBB\xBF".to_vec();
    body.extend_from_slice(
        request(&format!(
            r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174"}}"#
        ))
        .as_bytes(),
    );
    assert_eq!(decode_traces(&body, Encoding::Json).unwrap().len(), 1);
}

#[test]
fn many_resources_share_per_resource() {
    let span = format!(r#"{{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b174"}}"#);
    let rs = format!(
        r#"{{"resource":{{"attributes":[{{"key":"k","value":{{"stringValue":"v"}}}}]}},"scopeSpans":[{{"spans":[{span},{span}]}},{{"spans":[{span}]}}]}}"#
    );
    let body = format!(r#"{{"resourceSpans":[{rs},{rs}]}}"#);
    let spans = decode_traces(body.as_bytes(), Encoding::Json).unwrap();
    assert_eq!(spans.len(), 6);
    assert!(std::sync::Arc::ptr_eq(
        &spans[0].resource,
        &spans[2].resource
    ));
    assert!(!std::sync::Arc::ptr_eq(
        &spans[0].resource,
        &spans[3].resource
    ));
    assert_eq!(spans[0].resource, spans[3].resource);
}
