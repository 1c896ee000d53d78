//! Property tests of the HTTP API over a real SQLite store: whatever the
//! filters, chart fields and dashboard URL parameters, the answer is never
//! a 5xx, and a 4xx is the JSON error shape.

mod common;

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::Request;
use common::{TestServer, server};
use proptest::prelude::*;
use serde_json::{Value, json};

struct Fixture {
    rt: tokio::runtime::Runtime,
    s: TestServer,
    cookie: String,
}

/// One server with a few sessions and events, shared by every case.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let s = server();
        let cookie = rt.block_on(async {
            let k = s.admin.clone();
            for i in 0..3 {
                let r = s
                    .json(
                        "POST",
                        "/session/start",
                        &k,
                        json!({"session": {"session_id": format!("s{i}"),
                               "metadata": {"a": i, "t": format!("x{i}"), "n": {"deep": [1, "2"]}},
                               "metrics": {"latency": 10.5 * i as f64}}}),
                    )
                    .await;
                assert!(r.status.is_success());
            }
            common::dashboard_cookie(&s).await
        });
        Fixture { rt, s, cookie }
    })
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        // Paths that parse, with characters that mean something to JSON
        // paths (or end a C string) inside their segments.
        3 => "(metadata|metrics|inputs|feedback|config|user_properties)(\\.[a-z0-9 \\x00\\x01\\x1f'\\[\\]$#*%-]{1,6}){1,3}",
        1 => "(metadata|metrics)(\\.[a-z0-9\"\\\\.]{0,4}){1,2}",
        1 => Just("event_name".to_owned()),
        1 => Just("start_time".to_owned()),
        1 => Just("duration".to_owned()),
        1 => ".{0,12}",
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(|x| json!(x)),
        ".{0,12}".prop_map(Value::String),
        Just(json!("2024-01-01T00:00:00Z")),
        Just(json!({})),
        Just(json!([1])),
    ]
}

fn operator() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "is",
            "is not",
            "contains",
            "not contains",
            "exists",
            "not exists",
            "greater than",
            "less than",
            "after",
            "before",
            "=",
            "!=",
            ">",
            "<",
        ])
        .prop_map(str::to_owned),
        ".{0,6}",
    ]
}

fn filter() -> impl Strategy<Value = Value> {
    (
        text(),
        operator(),
        value(),
        prop::sample::select(vec![
            Value::Null,
            json!("string"),
            json!("number"),
            json!("boolean"),
            json!("datetime"),
        ]),
    )
        .prop_map(|(f, o, v, t)| json!({"field": f, "operator": o, "value": v, "type": t}))
}

/// Never a 5xx; a 4xx carries a message.
fn check(r: &common::Resp, what: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        r.status.as_u16() < 500,
        "{what}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.bytes)
    );
    if r.status.is_client_error()
        && r.headers
            .get("content-type")
            .is_some_and(|c| c.as_bytes().starts_with(b"application/json"))
    {
        let v = r.json();
        prop_assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}: {v}"
        );
    }
    Ok(())
}

fn form(pairs: &[(&str, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn export_never_fails_on_the_server(
        filters in prop::collection::vec(filter(), 0..3),
        level in prop::sample::select(vec!["event", "session"]),
        limit in prop_oneof![Just(json!(10)), value()],
        page in prop_oneof![Just(json!(1)), value()],
        projections in prop_oneof![Just(Value::Null), prop::collection::vec(text(), 0..3).prop_map(|p| json!(p))],
    ) {
        let f = fixture();
        let body = json!({"filters": filters, "level": level, "limit": limit, "page": page,
                          "projections": projections});
        let r = f.rt.block_on(f.s.json("POST", "/v1/events/export", &f.s.admin, body.clone()));
        check(&r, &body.to_string())?;
    }

    #[test]
    fn charts_never_fail_on_the_server(
        metric in prop_oneof![Just("metrics.latency".to_owned()), text()],
        agg in prop_oneof![prop::sample::select(vec!["count", "sum", "avg", "p95", "median"]).prop_map(str::to_owned), ".{0,5}"],
        bucket in prop_oneof![prop::sample::select(vec!["minute", "hour", "week", "month", "total"]).prop_map(str::to_owned), ".{0,5}"],
        group_by in prop_oneof![Just(String::new()), text()],
        filters in prop::collection::vec(filter(), 0..2),
        level in prop::sample::select(vec!["event", "session"]),
    ) {
        let f = fixture();
        let body = json!({"metric": metric, "aggregation": agg, "bucket": bucket,
                          "groupBy": group_by, "filters": filters, "level": level});
        let r = f.rt.block_on(f.s.json("POST", "/v1/events/chart", &f.s.admin, body.clone()));
        check(&r, &body.to_string())?;
        let qs = form(&[("metric", metric), ("aggregation", agg), ("bucket", bucket),
                        ("groupBy", group_by), ("filters", json!(filters).to_string())]);
        let r = f.rt.block_on(f.s.get(&format!("/v1/events/chart?{qs}"), &f.s.admin));
        check(&r, &qs)?;
    }

    #[test]
    fn dashboard_urls_never_fail_on_the_server(
        page in prop::sample::select(vec!["/sessions", "/events", "/charts", "/alerts", "/views"]),
        rows in prop::collection::vec((text(), operator(), ".{0,8}"), 0..3),
        extra in prop::collection::vec((
            prop::sample::select(vec!["range", "sort", "page", "match", "project", "metric",
                                      "aggregation", "bucket", "groupBy", "level", "ff", "fo"]),
            ".{0,10}"), 0..4),
    ) {
        let f = fixture();
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (field, op, v) in rows {
            pairs.push(("ff", field));
            pairs.push(("fo", op));
            pairs.push(("fv", v));
        }
        for (k, v) in extra {
            pairs.push((k, v));
        }
        let uri = format!("{page}?{}", form(&pairs));
        let r = f.rt.block_on(f.s.raw(
            Request::builder().uri(&uri).header("cookie", &f.cookie).body(Body::empty()).unwrap(),
        ));
        check(&r, &uri)?;
    }
}
