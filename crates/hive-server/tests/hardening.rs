//! Regression tests of issue 13 ("Hardening"): client mistakes are 4xx
//! JSON errors that name the field, never a 5xx.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{Resp, dashboard_cookie, page, server, server_configured};
use serde_json::{Value, json};

/// A 400 whose JSON error message contains `excerpt`.
#[track_caller]
fn assert_400(r: &Resp, excerpt: &str, what: &str) {
    assert_eq!(
        r.status,
        StatusCode::BAD_REQUEST,
        "{what}: {}",
        String::from_utf8_lossy(&r.bytes)
    );
    let v = r.json();
    let m = v["error"]["message"].as_str().unwrap_or_default();
    assert!(m.contains(excerpt), "{what}: {m:?} lacks {excerpt:?}");
    assert_eq!(v["success"], false, "{what}");
}

/// Issue 13, item 1: a NUL in a field name reached SQLite's JSON path
/// ("storage: bad JSON path") and answered 500.
#[tokio::test]
async fn a_nul_in_a_field_name_is_a_400_everywhere() {
    let s = server();
    let k = s.admin.clone();
    // Some data, so that queries really run.
    let r = s
        .json(
            "POST",
            "/session/start",
            &k,
            json!({"session": {"session_id": "s1", "metadata": {"a": 1}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let fields = ["metadata.\u{0}", "metadata.a\u{0}b", "metrics.\u{0}.x"];
    for field in fields {
        for (op, value, ty) in [
            ("is", json!("x"), "string"),
            ("exists", Value::Null, "string"),
            ("greater than", json!(1), "number"),
            ("after", json!("2024-01-01T00:00:00Z"), "datetime"),
        ] {
            let f = json!([{"field": field, "operator": op, "value": value, "type": ty}]);
            for level in ["event", "session"] {
                let r = s
                    .json(
                        "POST",
                        "/v1/events/export",
                        &k,
                        json!({"filters": f, "level": level}),
                    )
                    .await;
                assert_400(&r, "filters[0]", &format!("export {field:?} {op}"));
            }
            let r = s
                .json("POST", "/v1/events/chart", &k, json!({"filters": f}))
                .await;
            assert_400(&r, "filters[0]", &format!("chart filter {field:?} {op}"));
        }
        for key in ["metric", "groupBy"] {
            let mut q = json!({"aggregation": "sum", "metric": "metrics.x"});
            q[key] = json!(field);
            let r = s.json("POST", "/v1/events/chart", &k, q.clone()).await;
            assert_400(&r, key, &format!("chart {key} {field:?}"));
            let mut saved = q.clone();
            saved["name"] = json!("c");
            let r = s.json("POST", "/v1/charts", &k, saved).await;
            assert_400(&r, key, &format!("saved chart {key} {field:?}"));
            let r = s
                .json(
                    "POST",
                    "/v1/alerts",
                    &k,
                    json!({"name": "a", "threshold": 1, "query": q}),
                )
                .await;
            assert_400(&r, key, &format!("alert {key} {field:?}"));
        }
        let qs: String = form_urlencode(&[("metric", field), ("aggregation", "sum")]);
        let r = s.get(&format!("/v1/events/chart?{qs}"), &k).await;
        assert_400(&r, "metric", &format!("chart GET {field:?}"));
    }
    // The dashboard shows the problem with the row and lists the rest.
    let cookie = dashboard_cookie(&s).await;
    for list in ["/sessions", "/events"] {
        for op in ["is", "exists", "greater than"] {
            let qs = form_urlencode(&[("ff", "metadata.\u{0}"), ("fo", op), ("fv", "1")]);
            let r = page(&s, &cookie, &format!("{list}?{qs}")).await;
            assert_eq!(r.status, StatusCode::OK, "{list} {op}");
            let html = String::from_utf8_lossy(&r.bytes);
            assert!(html.contains("control character"), "{list} {op}");
        }
    }
    let qs = form_urlencode(&[("metric", "metrics.\u{0}"), ("aggregation", "sum")]);
    for path in ["/charts", "/charts/preview"] {
        let r = page(&s, &cookie, &format!("{path}?{qs}&draw=now")).await;
        assert!(r.status.as_u16() < 500, "{path}: {}", r.status);
    }
}

fn form_urlencode(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Pages far past the end: the offset overflowed SQLite's integers.
#[tokio::test]
async fn a_page_past_any_offset_is_a_400() {
    let s = server();
    let k = s.admin.clone();
    let r = s
        .json(
            "POST",
            "/v1/events/export",
            &k,
            json!({"limit": 1000, "page": 10_000_000_000_000_000u64}),
        )
        .await;
    assert_400(&r, "page", "huge page");
}

/// Issue 13, item 2: webhooks to loopback, private, link-local (cloud
/// metadata) and other non-public addresses are refused when the rule is
/// saved, unless the server allows private destinations. Nothing is sent:
/// the check is on the address.
#[tokio::test]
async fn private_webhook_destinations_are_refused_at_save_time() {
    let s = server();
    let k = s.admin.clone();
    let refused = [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://[::1]:9/hook",
        "http://[fd00::1]/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:169.254.169.254]/hook",
        "http://100.64.0.1/hook",
        "http://192.168.0.1/hook",
        "http://172.16.0.1/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
    ];
    for url in refused {
        let r = s
            .json(
                "POST",
                "/v1/alerts",
                &k,
                json!({"name": "a", "threshold": 1, "webhook": {"url": url}}),
            )
            .await;
        assert_400(&r, "webhook.url", url);
    }
    // An update is checked the same way.
    let r = s
        .json(
            "POST",
            "/v1/alerts",
            &k,
            json!({"name": "a", "threshold": 1, "webhook": {"url": "https://hooks.example.com/x"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let id = r.json()["data"]["id"].as_str().unwrap().to_owned();
    let r = s
        .json(
            "PATCH",
            &format!("/v1/alerts/{id}"),
            &k,
            json!({"webhook": {"url": "http://169.254.169.254/"}}),
        )
        .await;
    assert_400(&r, "webhook.url", "update");

    // Allowed with --webhook-allow-private.
    let open = common::server_with_alerts(
        hive_server::WriterConfig::default(),
        hive_server::ApiConfig::default(),
        hive_server::alerts::AlertRuntime::new(
            std::sync::Arc::new(hive_server::alerts::SystemClock),
            hive_server::alerts::AlertConfig {
                webhook_allow_private: true,
                ..Default::default()
            },
        ),
    );
    let r = open
        .json(
            "POST",
            "/v1/alerts",
            &open.admin,
            json!({"name": "a", "threshold": 1, "webhook": {"url": "http://127.0.0.1:9/hook"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
}

/// Issue 13, item 3: fields of the wrong type (or out of range) were
/// accepted with a 200 and silently ignored or truncated.
#[tokio::test]
async fn wrong_types_are_400s_naming_the_field() {
    let s = server();
    let k = s.admin.clone();
    let alert = |extra: Value| {
        let mut a = json!({"name": "a", "threshold": 1});
        for (key, v) in extra.as_object().unwrap() {
            a[key] = v.clone();
        }
        a
    };
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "POST",
            "/v1/charts",
            json!({"name": "c", "metric": {"a": 1}}),
            "metric: invalid type: map",
        ),
        (
            "POST",
            "/v1/charts",
            json!({"name": "c", "metric": 5}),
            "metric: invalid type",
        ),
        (
            "POST",
            "/v1/charts",
            json!({"name": "c", "func": ["sum"]}),
            "func: invalid type",
        ),
        (
            "POST",
            "/v1/charts",
            json!({"name": "c", "groupBy": true}),
            "groupBy: invalid type",
        ),
        (
            "POST",
            "/v1/charts",
            json!({"name": {"x": 1}}),
            "name: invalid type",
        ),
        (
            "POST",
            "/v1/charts",
            json!({"name": "c", "description": 5}),
            "description: invalid type",
        ),
        (
            "POST",
            "/v1/charts",
            json!({"name": "c", "project": 5}),
            "project: invalid type",
        ),
        (
            "POST",
            "/v1/events/chart",
            json!({"metric": {"a": 1}}),
            "metric: invalid type",
        ),
        (
            "POST",
            "/v1/events/chart",
            json!({"project": ["p"]}),
            "project: invalid type",
        ),
        (
            "POST",
            "/v1/alerts",
            alert(json!({"webhook": {"url": 5}})),
            "webhook.url: invalid type: integer `5`",
        ),
        (
            "POST",
            "/v1/alerts",
            alert(json!({"webhook": {"url": "https://hooks.example.com/x", "slack": "yes"}})),
            "webhook.slack: invalid type",
        ),
        (
            "POST",
            "/v1/alerts",
            alert(json!({"webhook": 5})),
            "webhook must be",
        ),
        (
            "POST",
            "/v1/alerts",
            alert(json!({"frequency": "99999999999999999999m"})),
            "frequency",
        ),
        (
            "POST",
            "/v1/alerts",
            alert(json!({"frequency": "366d"})),
            "frequency",
        ),
        (
            "POST",
            "/v1/alerts",
            alert(json!({"frequency": 15})),
            "frequency: invalid type",
        ),
        (
            "POST",
            "/v1/alerts",
            alert(json!({"type": ["drift"]})),
            "type: invalid type",
        ),
        (
            "POST",
            "/v1/alerts",
            alert(json!({"comparison": 1})),
            "comparison: invalid type",
        ),
        (
            "POST",
            "/v1/alerts",
            alert(json!({"name": 5})),
            "name: invalid type",
        ),
        (
            "POST",
            "/v1/alerts",
            alert(json!({"description": {}})),
            "description: invalid type",
        ),
        (
            "POST",
            "/v1/alerts",
            alert(json!({"query": {"metric": {"a": 1}}})),
            "query: metric: invalid type",
        ),
        (
            "POST",
            "/session/start",
            json!({"session": {"event_type": 123}}),
            "event_type must be a string",
        ),
        (
            "POST",
            "/session/start",
            json!({"session": {"event_type": []}}),
            "event_type must be a string",
        ),
        (
            "POST",
            "/session/start",
            json!({"session": {"event_type": {}}}),
            "event_type must be a string",
        ),
        (
            "POST",
            "/session/start",
            json!({"session": {"project": 5}}),
            "project: invalid type",
        ),
        (
            "POST",
            "/session/start",
            json!({"session": {"org_id": 5}}),
            "org_id must be a string",
        ),
        (
            "PUT",
            "/events",
            json!({"event_id": "e", "session_id": 123}),
            "session_id must be a string",
        ),
        (
            "PUT",
            "/events",
            json!({"event_id": "e", "session_id": []}),
            "session_id must be a string",
        ),
        (
            "PUT",
            "/events",
            json!({"event_id": "e", "session_id": {}}),
            "session_id must be a string",
        ),
        (
            "PUT",
            "/events",
            json!({"event_id": "e", "session_id": true}),
            "session_id must be a string",
        ),
        (
            "PUT",
            "/events",
            json!({"event_id": "e", "parent_id": 1}),
            "parent_id must be a string",
        ),
        (
            "PUT",
            "/events",
            json!({"event_id": "e", "start_time": null}),
            "start_time cannot be removed (null)",
        ),
        (
            "PUT",
            "/v1/events/e",
            json!({"start_time": null}),
            "start_time cannot be removed (null)",
        ),
        (
            "PUT",
            "/events",
            json!({"event_id": "e", "project": 1}),
            "project",
        ),
        (
            "POST",
            "/events/batch",
            json!({"events": [], "single_session": "yes"}),
            "single_session: invalid type",
        ),
        (
            "POST",
            "/events/batch",
            json!({"events": [], "single_session": true, "session_properties": 5}),
            "session_properties must be an object",
        ),
        (
            "POST",
            "/events/batch",
            json!({"events": [], "single_session": true,
                   "session_properties": {"user_properties": 5}}),
            "session_properties: user_properties must be an object",
        ),
        (
            "POST",
            "/events/batch",
            json!({"events": [], "single_session": true, "session": {"metadata": "x"}}),
            "session: metadata must be an object",
        ),
        (
            "POST",
            "/events/batch",
            json!({"events": [{"event_type": "tool"}, {"event_type": "tool", "project": 5}]}),
            "events[1]: project: invalid type",
        ),
        (
            "POST",
            "/events/batch",
            json!({"events": [], "single_session": true, "session_properties": {"project": ["p"]}}),
            "session_properties: project: invalid type",
        ),
        (
            "POST",
            "/v1/events/export",
            json!({"project": 5}),
            "project: invalid type",
        ),
        (
            "POST",
            "/v1/events/export",
            json!({"level": 1}),
            "level: invalid type",
        ),
        (
            "POST",
            "/v1/events/export",
            json!({"order": true}),
            "order: invalid type",
        ),
        (
            "POST",
            "/v1/events/export",
            json!({"projections": "event_name"}),
            "projections: invalid type",
        ),
        (
            "POST",
            "/v1/events/export",
            json!({"projections": ["event_name", 5]}),
            "projections[1]: invalid type",
        ),
        (
            "POST",
            "/v1/events/export",
            json!({"filters": [{"field": 5, "operator": "is", "value": "x"}]}),
            "filters[0]: field: invalid type",
        ),
        (
            "POST",
            "/v1/events/export",
            json!({"filters": [{"field": "event_name", "operator": "~", "value": "x"}]}),
            "unknown filter operator",
        ),
        (
            "POST",
            "/v1/keys",
            json!({"name": 5, "scope": "admin"}),
            "name: invalid type",
        ),
        (
            "POST",
            "/v1/keys",
            json!({"scope": ["admin"]}),
            "scope: invalid type",
        ),
        (
            "POST",
            "/v1/projects",
            json!({"name": 5}),
            "name: invalid type",
        ),
    ];
    for (method, path, body, excerpt) in cases {
        let r = s.json(method, path, &k, body.clone()).await;
        assert_400(&r, excerpt, &format!("{method} {path} {body}"));
    }
    // Nothing of the above was saved.
    let charts = s.get("/v1/charts", &k).await.json();
    assert_eq!(charts["data"], json!([]));
    let alerts = s.get("/v1/alerts", &k).await.json();
    assert_eq!(alerts["data"], json!([]));
}

/// The aliases of the operators (`=`, `!=`, `>`, ...) mean what they say.
#[tokio::test]
async fn operator_aliases_match() {
    let s = server();
    let k = s.admin.clone();
    let r = s
        .json(
            "POST",
            "/session/start",
            &k,
            json!({"session": {"session_id": "s1", "session_name": "n", "metadata": {"tenant": "acme", "n": 3}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    for (field, op, value, want) in [
        ("metadata.tenant", "=", json!("acme"), 1),
        ("metadata.tenant", "==", json!("acme"), 1),
        ("metadata.tenant", "!=", json!("acme"), 0),
        ("metadata.n", "=", json!(3), 1),
        ("metadata.n", ">", json!(2), 1),
        ("metadata.n", "<", json!(2), 0),
        ("event_name", "=", json!("n"), 1),
    ] {
        let events = s
            .export(
                &k,
                json!({"filters": [{"field": field, "operator": op, "value": value}]}),
            )
            .await;
        assert_eq!(events.len(), want, "{field} {op} {value}");
    }
}

/// Issue 13, item 6: the history of an unknown event was a 200 with an
/// empty list while the event itself was a 404.
#[tokio::test]
async fn history_of_an_unknown_event_is_a_404() {
    let s = server();
    let k = s.admin.clone();
    let r = s.get("/v1/events/nope/history", &k).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.json());
    assert_eq!(r.json()["error"]["code"], "not_found");
    // An enrichment of an event not seen yet has a history.
    let r = s
        .json(
            "PUT",
            "/events",
            &k,
            json!({"event_id": "later", "metadata": {"a": 1}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = s.get("/v1/events/later/history", &k).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["history"].as_array().unwrap().len(), 1);
}

/// Issue 13, item 6: what the Authorization header may hold. The official
/// SDK sends `Bearer <key>`; the scheme is case-insensitive; a bare key is
/// accepted; another scheme is not a key.
#[tokio::test]
async fn authorization_header_forms() {
    let s = server();
    let k = s.admin.clone();
    let with = |value: String| {
        Request::builder()
            .uri("/v1/events/schema")
            .header("authorization", value)
            .body(Body::empty())
            .unwrap()
    };
    for value in [
        format!("Bearer {k}"),
        format!("bearer {k}"),
        format!("BEARER  {k}"),
        k.clone(),
    ] {
        assert_eq!(
            s.raw(with(value.clone())).await.status,
            StatusCode::OK,
            "{value}"
        );
    }
    for value in [format!("Basic {k}"), "Bearer ".into(), "Bearer None".into()] {
        let r = s.raw(with(value.clone())).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{value}");
        assert_eq!(r.json()["error"]["code"], "unauthorized");
    }
}

/// Issue 13, item 6: an empty export body means no filters (every event of
/// the key's projects), as `{}` does.
#[tokio::test]
async fn an_empty_export_body_means_no_filters() {
    let s = server();
    let k = s.admin.clone();
    let r = s
        .json(
            "POST",
            "/session/start",
            &k,
            json!({"session": {"session_id": "s1"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = s
        .call("POST", "/v1/events/export", &k, "", "application/json")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["totalEvents"], 1);
}

/// Found by the reliability suite's corpus (tests/reliability): errors that
/// named another field, a relative range past any date, a project name with
/// a NUL, and projects created by requests that were then refused.
#[tokio::test]
async fn reliability_suite_findings() {
    let s = server();
    let k = s.admin.clone();
    let long = "x".repeat(300);
    let r = s
        .json(
            "POST",
            "/session/start",
            &k,
            json!({"session": {"session_id": long}}),
        )
        .await;
    assert_400(&r, "session_id is longer than 256", "a long session id");
    let r = s
        .json("POST", "/session/s/traces", &k, json!({"logs": {"a": 1}}))
        .await;
    assert_400(&r, "logs must be an array", "logs of the wrong type");
    let r = s
        .json(
            "POST",
            "/v1/events/export",
            &k,
            json!({"dateRange": {"relative": "99999999999999999999d"}}),
        )
        .await;
    assert_400(&r, "dateRange", "a relative range of 10^20 days");
    let r = s
        .json(
            "POST",
            "/v1/alerts",
            &k,
            json!({"name": "a", "threshold": 1, "webhook": {"url": "ftp://x"}}),
        )
        .await;
    assert_400(&r, "webhook.url", "an ftp webhook");
    let r = s
        .json("POST", "/v1/projects", &k, json!({"name": "p\u{0}q"}))
        .await;
    assert_400(&r, "project", "a project name with a NUL");
    let r = s
        .json(
            "POST",
            "/session/start",
            &k,
            json!({"session": {"session_id": "s", "project": "line\nbreak"}}),
        )
        .await;
    assert_400(&r, "project", "a project name with a newline");

    let refused = [
        (
            "POST",
            "/v1/sessions",
            json!({"session_id": [], "project": "new-1"}),
        ),
        (
            "POST",
            "/events",
            json!({"event": {"session_id": "s", "event_type": []}, "project": "new-2"}),
        ),
        (
            "POST",
            "/events/batch",
            json!({"events": [{"event_type": 5}], "project": "new-3"}),
        ),
        (
            "POST",
            "/session/s/traces",
            json!({"events": [{"event_type": 5}], "project": "new-4"}),
        ),
        (
            "POST",
            "/v1/charts",
            json!({"name": "c", "metric": {"a": 1}, "project": "new-5"}),
        ),
        (
            "POST",
            "/v1/alerts",
            json!({"name": "a", "threshold": "x", "project": "new-6"}),
        ),
    ];
    for (method, path, body) in refused {
        let r = s.json(method, path, &k, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path} {body}");
    }
    let projects = s.get("/v1/projects", &k).await.json();
    let names: Vec<&str> = projects["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default"], "refused requests created projects");
    // A valid one still creates its project.
    let r = s
        .json(
            "POST",
            "/session/start",
            &k,
            json!({"session": {"session_id": "s2", "project": "new-ok"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["project_id"].as_str().map(str::len), Some(36));
}

/// Times at the ends of what a client can send (±1e300 ms is kept as the
/// nearest i64; durations as large as an f64 goes) are charted in every
/// bucket, listed in every order and drawn in the dashboard, without an
/// error: the debug build this runs in checks every overflow.
#[tokio::test]
async fn times_at_any_extreme_are_charted_and_listed() {
    let s = server();
    let k = s.admin.clone();
    let sid = "7e000000-0000-4000-8000-000000000001";
    s.json(
        "POST",
        "/session/start",
        &k,
        json!({"session": {"session_id": sid, "project": "far"}}),
    )
    .await
    .expect_ok();
    for (i, (start, end, duration)) in [
        (json!(1e300), json!(1e300), json!(0)),
        (json!(-1e300), json!(1e300), json!(1.7e308)),
        (json!(-9.3e18), json!(9.3e18), Value::Null),
        (json!(253_402_300_800_000.0_f64), Value::Null, json!(5)),
        (json!(0), json!(-1e300), Value::Null),
    ]
    .into_iter()
    .enumerate()
    {
        let body = json!({"event": {"project": "far", "session_id": sid, "event_type": "model",
            "event_name": format!("e{i}"), "start_time": start, "end_time": end, "duration": duration,
            "metrics": {"x": i}}});
        s.json("POST", "/events", &k, body).await.expect_ok();
    }
    for bucket in ["minute", "hour", "day", "week", "month", "total"] {
        for (agg, metric) in [
            ("count", Value::Null),
            ("avg", json!("duration")),
            ("p95", json!("metrics.x")),
        ] {
            for level in ["event", "session"] {
                let body = json!({"project": "far", "aggregation": agg, "metric": metric, "bucket": bucket, "level": level});
                let r = s.json("POST", "/v1/events/chart", &k, body.clone()).await;
                assert_eq!(
                    r.status,
                    StatusCode::OK,
                    "{body}: {}",
                    String::from_utf8_lossy(&r.bytes)
                );
                if agg == "count" && level == "event" {
                    let counted: u64 = r.json()["data"]["series"][0]["points"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| p["count"].as_u64().unwrap())
                        .sum();
                    assert_eq!(counted, 6, "{body}: the session and its five events");
                }
            }
        }
    }
    let cookie = common::dashboard_cookie(&s).await;
    for path in [
        "/sessions?project=far",
        "/events?project=far&sort=oldest",
        "/events?project=far&sort=duration",
        "/sessions?project=far&sort=duration&range=7d",
        &format!("/sessions/{sid}?project=far"),
        "/charts?project=far&agg=count&bucket=week&range=all&draw=now",
        "/charts?project=far&agg=avg&metric=duration&bucket=month&range=all&draw=now",
        "/charts?project=far&agg=count&bucket=minute&range=30d&draw=now",
        "/charts/preview?project=far&agg=count&bucket=week&range=all",
        "/charts/preview?project=far&agg=avg&metric=duration&bucket=month&range=all",
        "/charts/preview?project=far&agg=count&bucket=minute&range=30d",
    ] {
        let r = common::page(&s, &cookie, path).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{path}: {}",
            String::from_utf8_lossy(&r.bytes)
        );
    }
}

/// Lists, counts, charts and exports take turns (`--max-concurrent-reads`):
/// with every slot taken, they wait, then answer 503 `busy` with
/// `Retry-After`, the dashboard's list too; looking up one event does not
/// wait; a slot that comes free lets the next read run.
#[tokio::test]
async fn reads_past_the_concurrent_limit_wait_then_are_busy() {
    use std::time::Duration;
    let s = server_configured(Default::default(), Default::default(), |state| {
        state.with_read_slots(2, Duration::from_millis(300))
    });
    let k = s.admin.clone();
    let r = s
        .json(
            "POST",
            "/session/start",
            &k,
            json!({"session": {"session_id": "s1", "metadata": {"a": 1}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let cookie = dashboard_cookie(&s).await;
    let taken = s.state.read_slots.acquire().await.unwrap();
    let _taken_too = s.state.read_slots.acquire().await.unwrap();
    let chart = json!({"metric": "duration", "aggregation": "count", "bucket": "hour"});
    let busy = |r: &Resp, what: &str| {
        assert_eq!(
            r.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{what}: {}",
            String::from_utf8_lossy(&r.bytes)
        );
        assert_eq!(
            r.headers.get("retry-after").map(|v| v.to_str().unwrap()),
            Some("1"),
            "{what}"
        );
    };
    for (path, body) in [
        ("/v1/events/export", json!({})),
        ("/v1/events/search", json!({})),
        ("/v1/events/chart", chart.clone()),
    ] {
        let r = s.json("POST", path, &k, body).await;
        busy(&r, path);
        let v = r.json();
        assert_eq!(v["errorCode"], "busy", "{path}");
        assert!(
            v["message"]
                .as_str()
                .unwrap_or_default()
                .contains("--max-concurrent-reads"),
            "{path}: {v}"
        );
    }
    let r = page(&s, &cookie, "/sessions").await;
    busy(&r, "the dashboard's session list");
    // Not a read over the project: answered at once.
    let r = s.get("/v1/events/s1", &k).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(s.state.read_slots.refused(), 4);
    // A slot that comes free while a read waits lets it run.
    let freed = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(taken);
    });
    let r = s.json("POST", "/v1/events/chart", &k, chart).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    freed.await.unwrap();
}
