//! Redaction settings through the API and the dashboard, and what they do
//! to writes (in process; `crates/hive/tests/redaction.rs` greps the data
//! directory of the real binary).

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{TestServer, server};
use hive_server::redaction::{REFRESH, RedactionRuntime};
use hive_store::Store;
use serde_json::{Value, json};

fn text(r: &common::Resp) -> String {
    String::from_utf8_lossy(&r.bytes).into_owned()
}

#[tokio::test]
async fn the_api_validates_settings_and_keeps_projects_apart() {
    let s = server();
    // Off by default, with the default set described.
    let r = s.get("/v1/redaction", &s.admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let v = r.json();
    assert_eq!(v["project"]["name"], "default");
    assert_eq!(v["settings"]["enabled"], false);
    assert!(
        v["default_rules"]["keys"]
            .as_array()
            .unwrap()
            .contains(&json!("password"))
    );
    assert!(
        v["default_rules"]["patterns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "credit_card")
    );

    let rw_a = s.key("read_write", "team-a").await;
    let ingest_a = s.key("ingest", "team-a").await;
    // An ingest key neither reads nor changes them.
    assert_eq!(
        s.get("/v1/redaction", &ingest_a).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.json("PUT", "/v1/redaction", &ingest_a, json!({"enabled": true}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Mistakes are 400s naming the field.
    for (body, field) in [
        (
            json!({"enabled": true, "patterns": [{"name": "x", "regex": "(unclosed"}]}),
            "patterns[0].regex",
        ),
        (json!({"enabled": "yes"}), "enabled"),
        (json!({"keys": ["fine", "<b>"]}), "keys[1]"),
        (
            json!({"patterns": [{"name": "big", "regex": "x{1000}{1000}"}]}),
            "patterns[0].regex",
        ),
        (json!({"project": 5}), "project"),
        (json!({"colour": "red"}), "colour"),
    ] {
        let r = s.json("PUT", "/v1/redaction", &rw_a, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", text(&r));
        let message = r.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains(field), "{body}: {message}");
    }
    // A project key acts on its own project, whatever project it names.
    let r = s
        .json(
            "PUT",
            "/v1/redaction",
            &rw_a,
            json!({"project": "team-b", "enabled": true, "keys": ["ssn"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    assert_eq!(r.json()["project"]["name"], "team-a");
    let b = s.get("/v1/redaction?project=team-b", &s.admin).await;
    assert_eq!(
        b.status,
        StatusCode::NOT_FOUND,
        "team-b was never made: {}",
        text(&b)
    );
    let a = s.get("/v1/redaction?project=team-a", &s.admin).await.json();
    assert_eq!(a["settings"]["enabled"], true);
    assert_eq!(a["settings"]["keys"], json!(["ssn"]));
    // An admin key names the project (created on first use).
    let r = s
        .json(
            "PUT",
            "/v1/redaction",
            &s.admin,
            json!({"project": "team-b", "enabled": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    assert_eq!(
        s.get("/v1/redaction?project=team-b", &rw_a).await.json()["project"]["name"],
        "team-a"
    );
}

async fn enable(s: &TestServer, key: &str, extra: Value) {
    let mut body = json!({"enabled": true});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().cloned().unwrap_or_default());
    let r = s.json("PUT", "/v1/redaction", key, body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
}

#[tokio::test]
async fn rest_writes_are_redacted_before_they_are_logged_and_counted() {
    let s = server();
    let key = s.key("read_write", "secure").await;
    let plain = s.key("read_write", "plain").await;
    enable(
        &s,
        &key,
        json!({"patterns": [{"name": "order_ref", "regex": "ORD-[0-9]{6}"}]}),
    )
    .await;

    let r = s
        .json("POST", "/session/start", &key, json!({"session": {
            "session_id": "s-red", "session_name": "chat with ada@example.com",
            "inputs": {"password": "hunter2-xyz"}, "user_properties": {"email": "ada@example.com"}}}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    // The answer shows the session as stored.
    assert_eq!(r.json()["user_properties"]["email"], "[REDACTED:email]");
    let r = s
        .json("POST", "/events", &key, json!({"event": {"session_id": "s-red", "event_id": "e-red", "event_type": "tool",
            "event_name": "lookup", "outputs": {"ref": "ORD-123456"}, "error": "401: Bearer abcdefgh12345678 refused"}}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let r = s
        .json("PUT", "/events", &key, json!({"event_id": "e-red", "feedback": {"note": "card 4111 1111 1111 1111"},
            "metadata": {"api_key": "sk-live-0123456789abcdef", "removed": null}, "tenant_token": "t0k"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    // The same in a project that does not redact is kept as sent.
    let r = s
        .json("POST", "/session/start", &plain, json!({"session": {"session_id": "s-plain", "user_properties": {"email": "ada@example.com"}}}))
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let events = s.session_events(&key, "s-red").await;
    let session = events.iter().find(|e| e["event_id"] == "s-red").unwrap();
    assert_eq!(session["event_name"], "chat with [REDACTED:email]");
    assert_eq!(session["inputs"]["password"], "[REDACTED:password]");
    let event = events.iter().find(|e| e["event_id"] == "e-red").unwrap();
    assert_eq!(event["outputs"]["ref"], "[REDACTED:order_ref]");
    assert_eq!(event["error"], "401: [REDACTED:bearer_token] refused");
    assert_eq!(event["feedback"]["note"], "card [REDACTED:credit_card]");
    assert_eq!(event["metadata"]["api_key"], "[REDACTED:api_key]");
    assert_eq!(event["metadata"]["tenant_token"], "[REDACTED:token]");
    let history = s.get("/v1/events/e-red/history", &key).await;
    assert!(!text(&history).contains("4111"), "{}", text(&history));
    let plain_events = s.session_events(&plain, "s-plain").await;
    assert_eq!(
        plain_events[0]["user_properties"]["email"],
        "ada@example.com"
    );

    // Nothing of it in the ingest log.
    let mut logged = Vec::new();
    for entry in std::fs::read_dir(s.dir().join("log")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            logged.extend(std::fs::read(path).unwrap());
        }
    }
    let logged = String::from_utf8_lossy(&logged);
    assert!(
        logged.contains("[REDACTED:email]"),
        "the log holds the records"
    );
    for secret in [
        "hunter2-xyz",
        "ORD-123456",
        "abcdefgh12345678",
        "4111 1111",
        "sk-live-0123456789abcdef",
        "t0k\"",
    ] {
        assert!(!logged.contains(secret), "{secret} is in the ingest log");
    }

    // Counted per project and rule, in /v1/stats and the settings.
    let stats = s.get("/v1/stats", &s.admin).await.json();
    let secure_id = s.get("/v1/redaction", &key).await.json()["project"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let counts = &stats["redaction"]["projects"][&secure_id];
    assert_eq!(counts["name"], "secure");
    assert_eq!(counts["enabled"], true);
    assert_eq!(counts["redacted"]["email"], 2, "{counts}");
    assert_eq!(counts["redacted"]["password"], 1);
    assert_eq!(counts["redacted"]["order_ref"], 1);
    assert_eq!(counts["redacted"]["credit_card"], 1);
    assert_eq!(counts["redacted_total"], 8, "{counts}");
    assert_eq!(
        s.get("/v1/redaction", &key).await.json()["redacted"]["bearer_token"],
        1
    );
}

#[tokio::test]
async fn another_node_sees_a_change_within_the_refresh_time() {
    let s = server();
    let store = s.store.clone() as Arc<dyn Store>;
    // A second node on the same store: its own copy of the rules.
    let other = Arc::new(RedactionRuntime::default());
    other.load(&*store).unwrap();
    assert!(other.snapshot(&store).await.unwrap().is_empty());
    enable(&s, &s.admin.clone(), json!({})).await;
    // This node applies it at once; the other within REFRESH.
    assert!(!s.state.redaction.snapshot(&store).await.unwrap().is_empty());
    let changed_at = std::time::Instant::now();
    assert!(
        other.snapshot(&store).await.unwrap().is_empty(),
        "its copy is fresh"
    );
    loop {
        if !other.snapshot(&store).await.unwrap().is_empty() {
            break;
        }
        assert!(
            changed_at.elapsed() < REFRESH + std::time::Duration::from_secs(1),
            "not seen after {REFRESH:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let default_id = s.state.default_project.id.clone();
    assert!(
        other
            .snapshot(&store)
            .await
            .unwrap()
            .rules(&default_id)
            .is_some()
    );
}

/// The copy of the rules a ClickHouse node keeps (ADR 0010): written when
/// they are loaded or change, read back at start (the store unreachable
/// then is `crates/hive/tests/clickhouse_down.rs`), refused when it cannot
/// be trusted.
#[tokio::test]
async fn a_node_keeps_a_copy_of_the_rules_it_loaded() {
    use hive_server::redaction::RulesSource;
    let s = server();
    let store = s.store.clone() as Arc<dyn Store>;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("redaction-rules.json");
    enable(
        &s,
        &s.admin.clone(),
        json!({"keys": ["customer_ref"], "patterns": [{"name": "order_ref", "regex": "ORD-[0-9]{6}"}]}),
    )
    .await;
    let default_id = s.state.default_project.id.clone();

    // No copy and nothing loaded: no rules are known.
    let node = RedactionRuntime::default();
    node.keep_copy(&path);
    assert_eq!(node.source(), RulesSource::Unknown);
    assert!(!path.exists());
    // Loaded from the store: the copy is written, readable by its owner only.
    node.load(&*store).unwrap();
    assert_eq!(node.source(), RulesSource::Store);
    let copy: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let saved = &copy["projects"][&default_id];
    assert_eq!(saved["name"], "default", "{copy}");
    assert_eq!(saved["settings"]["keys"], json!(["customer_ref"]), "{copy}");
    assert_eq!(saved["settings"]["patterns"][0]["name"], "order_ref");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The same rules loaded again do not rewrite it.
    let written = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    node.load(&*store).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        written
    );

    // A node started with the copy uses its rules before asking the store.
    let restarted = RedactionRuntime::default();
    restarted.keep_copy(&path);
    assert_eq!(restarted.source(), RulesSource::Copy);
    assert_eq!(restarted.enabled_projects(), vec![default_id.clone()]);

    // A change is copied: a project that stops redacting leaves it.
    let r = s
        .json("PUT", "/v1/redaction", &s.admin, json!({"enabled": false}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    node.load(&*store).unwrap();
    let copy: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(copy["projects"], json!({}), "{copy}");
    let restarted = RedactionRuntime::default();
    restarted.keep_copy(&path);
    assert_eq!(restarted.source(), RulesSource::Copy);
    assert!(restarted.enabled_projects().is_empty());

    // A copy that does not parse is not trusted: no rules are known.
    std::fs::write(
        &path,
        b"{\"version\": 1, \"projects\": {\"p\": {\"settings\": {\"enabled\": \"yes\"}}}}",
    )
    .unwrap();
    let broken = RedactionRuntime::default();
    broken.keep_copy(&path);
    assert_eq!(broken.source(), RulesSource::Unknown);
}

async fn page(s: &TestServer, cookie: &str, method: &str, path: &str, form: &str) -> common::Resp {
    s.raw(
        Request::builder()
            .method(method)
            .uri(path)
            .header("cookie", cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .unwrap(),
    )
    .await
}

fn form(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

#[tokio::test]
async fn the_dashboard_page_saves_settings_with_its_csrf_token_and_escapes_what_it_shows() {
    let s = server();
    let cookie = common::dashboard_cookie(&s).await;
    let r = page(&s, &cookie, "GET", "/redaction?project=default", "").await;
    assert_eq!(r.status, StatusCode::OK);
    let html = text(&r);
    assert!(html.contains("Redaction") && html.contains("credit_card"));
    let csrf = html
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();

    // Without the token: refused, nothing saved.
    let r = page(
        &s,
        &cookie,
        "POST",
        "/redaction",
        &form(&[("project", "default"), ("enabled", "1")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        s.get("/v1/redaction", &s.admin).await.json()["settings"]["enabled"],
        false
    );

    // A mistake shows the form again with what is wrong, escaped.
    let r = page(
        &s,
        &cookie,
        "POST",
        "/redaction",
        &form(&[
            ("csrf", &csrf),
            ("project", "default"),
            ("enabled", "1"),
            ("patterns", "x: (<script>alert(1)</script>"),
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let html = text(&r);
    assert!(html.contains("patterns[0].regex"), "{html}");
    assert!(!html.contains("<script>alert"), "user text is escaped");
    assert!(html.contains("&#60;script&#62;alert(1)"), "{html}");

    // Saved: every default rule but email, a key and a pattern.
    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("project", "default"),
        ("enabled", "1"),
        ("defaults", "1"),
        ("keys", "ssn\n\n  member_id "),
        ("patterns", "order_ref: ORD-[0-9]{6}"),
    ];
    let rules: Vec<&str> = hive_core::redact::default_rule_names()
        .filter(|n| *n != "email")
        .collect();
    for r in &rules {
        fields.push(("rule", r));
    }
    let r = page(&s, &cookie, "POST", "/redaction", &form(&fields)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text(&r));
    let v = s.get("/v1/redaction", &s.admin).await.json();
    assert_eq!(
        v["settings"],
        json!({"enabled": true, "defaults": true, "disabled_defaults": ["email"], "keys": ["ssn", "member_id"],
            "patterns": [{"name": "order_ref", "regex": "ORD-[0-9]{6}"}]})
    );
    // It applies at once: the page then counts what it replaced.
    let r = s
        .json("POST", "/session/start", &s.admin, json!({"session": {"session_id": "s-dash", "metadata": {"ssn": "078-05-1120", "mail": "ada@example.com"}}}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.json()["metadata"],
        json!({"ssn": "[REDACTED:ssn]", "mail": "ada@example.com"})
    );
    let html = text(&page(&s, &cookie, "GET", "/redaction?project=default&saved=1", "").await);
    assert!(html.contains("Saved."));
    assert!(
        html.contains(r#"<td class="mono">ssn</td><td class="num">1</td>"#),
        "{html}"
    );
    assert!(html.contains("member_id"));
}

#[tokio::test]
async fn an_admin_keys_spans_follow_the_rules_of_the_project_each_names() {
    use hive_core::span::{AttrValue, KeyValue, Span};
    let s = server();
    let admin = s.admin.clone();
    let r = s
        .json(
            "PUT",
            "/v1/redaction",
            &admin,
            json!({"project": "secure", "enabled": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    // Two spans of one request share a resource; one names a project that
    // redacts, the other one that does not.
    let resource = Arc::new(vec![KeyValue::new(
        "user.email",
        AttrValue::Str("ada@example.com".into()),
    )]);
    let span = |id: u8, project: &str| Span {
        trace_id: [9; 16],
        span_id: [id; 8],
        name: "work".into(),
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_100_000_000,
        attributes: vec![
            KeyValue::new(
                "honeyhive.session_id",
                AttrValue::Str(format!("s-{project}")),
            ),
            KeyValue::new("honeyhive.project", AttrValue::Str(project.into())),
            KeyValue::new(
                "honeyhive_inputs.password",
                AttrValue::Str("hunter2".into()),
            ),
        ],
        resource: resource.clone(),
        ..Span::default()
    };
    let body = hive_otlp::encode_traces_protobuf(&[span(1, "secure"), span(2, "plain")]);
    let r = s
        .call("POST", "/v1/traces", &admin, body, "application/x-protobuf")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", text(&r));
    let path = |id: u8| {
        let event_id = hive_core::mapping::span_event_id(&[9; 16], &[id; 8]);
        format!("/v1/events/{event_id}?include=span")
    };
    let secure = s.get(&path(1), &admin).await.json();
    assert_eq!(
        secure["event"]["inputs"]["password"], "[REDACTED:password]",
        "{secure}"
    );
    assert_eq!(
        secure["span"]["resource"]["user.email"], "[REDACTED:email]",
        "{secure}"
    );
    let plain = s.get(&path(2), &admin).await.json();
    assert_eq!(plain["event"]["inputs"]["password"], "hunter2", "{plain}");
    assert_eq!(
        plain["span"]["resource"]["user.email"], "ada@example.com",
        "{plain}"
    );
}
