//! The HTTP API in-process: HoneyHive REST semantics, reads, auth and bad input.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::server;
use hive_core::span::{AttrValue, KeyValue, Span};
use serde_json::{Value, json};

const SID: &str = "0f4b6c1e-6a0e-4a55-9c0e-2b1d4c3e5f60";

#[tokio::test]
async fn session_start_answers_what_the_sdk_requires_and_keeps_the_id() {
    let s = server();
    let r = s
        .json(
            "POST",
            "/session/start",
            &s.admin,
            json!({"session": {"session_id": SID, "session_name": "chat", "source": "dev", "project": "my-app", "inputs": {"q": "hi"}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    for field in [
        "event_id",
        "session_id",
        "org_id",
        "workspace_id",
        "project_id",
    ] {
        assert!(v[field].is_string(), "{field} missing in {v}");
    }
    assert_eq!(v["session_id"], SID);
    assert_eq!(v["event_id"], SID);
    let events = s.session_events(&s.admin, SID).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event_name"], "chat");
    assert_eq!(events[0]["inputs"]["q"], "hi");
    // Without an id, the server makes one.
    let v = s
        .json(
            "POST",
            "/session/start",
            &s.admin,
            json!({"session": {"session_name": "x"}}),
        )
        .await
        .json();
    assert_eq!(v["session_id"].as_str().map(str::len), Some(36));
}

#[tokio::test]
async fn enrichment_merges_across_calls_and_keeps_history() {
    let s = server();
    s.json(
        "POST",
        "/session/start",
        &s.admin,
        json!({"session": {"session_id": SID, "project": "p"}}),
    )
    .await;
    let puts = [
        json!({"event_id": SID, "metadata": {"user_id": "u1", "workflow": "reset", "user": {"tier": "free"}}}),
        json!({"event_id": SID, "metadata": {"step": "initial", "user": {"plan": "x"}}, "feature": "chat"}),
        json!({"event_id": SID, "metadata": {"step": "done"}, "metrics": {"n": 2}, "user_properties": {"plan": "pro"}, "inputs": {"q": 1}}),
    ];
    for p in &puts {
        let r = s.json("PUT", "/events", &s.admin, p.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.bytes)
        );
        assert_eq!(r.json()["success"], true);
    }
    let e = &s.session_events(&s.admin, SID).await[0];
    assert_eq!(e["metadata"]["user_id"], "u1");
    assert_eq!(e["metadata"]["step"], "done");
    assert_eq!(e["metadata"]["feature"], "chat");
    assert_eq!(e["metadata"]["user"], json!({"tier": "free", "plan": "x"}));
    assert_eq!(e["metrics"]["n"], 2);
    assert_eq!(e["user_properties"], json!({"plan": "pro"}));
    assert_eq!(e["inputs"]["q"], 1);
    assert!(e["metadata"].get("plan").is_none());
    let h = s
        .get(&format!("/v1/events/{SID}/history"), &s.admin)
        .await
        .json();
    let history = h["history"].as_array().unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(
        history[1]["keys"],
        json!(["metadata.step", "metadata.user.plan", "metadata.feature"])
    );
    assert_eq!(history[0]["key_name"], "admin (first start)");
}

#[tokio::test]
async fn enrichment_before_the_session_exists_is_applied_when_it_arrives() {
    let s = server();
    let p = s.key("read_write", "proj").await;
    s.json(
        "PUT",
        "/events",
        &p,
        json!({"event_id": SID, "feedback": {"rating": 5}}),
    )
    .await;
    let r = s
        .json(
            "POST",
            "/session/start",
            &p,
            json!({"session": {"session_id": SID, "session_name": "late"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let e = &s.session_events(&p, SID).await[0];
    assert_eq!(e["event_name"], "late");
    assert_eq!(e["feedback"]["rating"], 5);
    assert_eq!(e["metadata"]["has_feedback"], true);
}

#[tokio::test]
async fn admin_enrichment_finds_the_project_of_its_event() {
    let s = server();
    // The SDK names the project at session start but not in PUT /events.
    s.json(
        "POST",
        "/session/start",
        &s.admin,
        json!({"session": {"session_id": SID, "project": "my-app"}}),
    )
    .await;
    s.json(
        "PUT",
        "/events",
        &s.admin,
        json!({"event_id": SID, "metadata": {"a": 1}}),
    )
    .await;
    let events = s
        .export(&s.admin, json!({"project": "my-app", "filters": [{"field": "session_id", "operator": "is", "value": SID}]}))
        .await;
    assert_eq!(events.len(), 1, "one session, in my-app only");
    assert_eq!(events[0]["metadata"]["a"], 1);
    let other = s
        .export(&s.admin, json!({"project": "default", "filters": [{"field": "session_id", "operator": "is", "value": SID}]}))
        .await;
    assert!(other.is_empty());
}

#[tokio::test]
async fn fifty_concurrent_writers_lose_no_key() {
    let s = std::sync::Arc::new(server());
    s.json(
        "POST",
        "/session/start",
        &s.admin,
        json!({"session": {"session_id": SID}}),
    )
    .await;
    let mut tasks = Vec::new();
    for w in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let body = json!({"event_id": SID, "metadata": {format!("w{w}_k{i}"): i, "shared": {format!("w{w}"): i}}});
                let r = s.json("PUT", "/events", &s.admin, body).await;
                assert_eq!(r.status, StatusCode::OK);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let e = &s.session_events(&s.admin, SID).await[0];
    for w in 0..50 {
        for i in 0..10 {
            assert_eq!(e["metadata"][format!("w{w}_k{i}")], i, "w{w}_k{i} lost");
        }
        assert_eq!(e["metadata"]["shared"][format!("w{w}")], 9);
    }
    let h = s
        .get(&format!("/v1/events/{SID}/history"), &s.admin)
        .await
        .json();
    assert_eq!(h["history"].as_array().unwrap().len(), 500);
}

fn span(attrs: Vec<(&str, AttrValue)>, span_id: u8, parent: Option<u8>) -> Span {
    Span {
        trace_id: [7; 16],
        span_id: [span_id; 8],
        parent_span_id: parent.map(|p| [p; 8]),
        name: format!("span-{span_id}"),
        start_time_unix_nano: 1_700_000_000_000_000_000 + span_id as u64 * 1_000_000,
        end_time_unix_nano: 1_700_000_000_010_000_000 + span_id as u64 * 1_000_000,
        attributes: attrs
            .into_iter()
            .map(|(k, v)| KeyValue::new(k, v))
            .collect(),
        ..Span::default()
    }
}

#[tokio::test]
async fn otlp_protobuf_and_json_become_events_in_a_tree() {
    let s = server();
    let str_ = |v: &str| AttrValue::Str(v.into());
    let spans = vec![
        span(
            vec![
                ("honeyhive.session_id", str_(SID)),
                ("honeyhive_event_type", str_("chain")),
                ("honeyhive_metadata.user.id", str_("u9")),
            ],
            1,
            None,
        ),
        span(
            vec![
                ("honeyhive.session_id", str_(SID)),
                ("openinference.span.kind", str_("LLM")),
                ("llm.token_count.total", AttrValue::Int(30)),
                ("honeyhive_metrics.score", AttrValue::Double(0.5)),
            ],
            2,
            Some(1),
        ),
    ];
    let body = hive_otlp::encode_traces_protobuf(&spans);
    let r = s
        .call(
            "POST",
            "/opentelemetry/v1/traces",
            &s.admin,
            body,
            "application/x-protobuf",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["content-type"], "application/x-protobuf");
    // The SDK's JSON dialect on the standard path.
    let json_body = json!({"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {"name": "x"}, "spans": [{
        "traceId": "07070707070707070707070707070707", "spanId": "0303030303030303", "parentSpanId": null,
        "name": "tool-3", "kind": "SPAN_KIND_INTERNAL", "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000005000000",
        "attributes": [{"key": "honeyhive.session_id", "value": {"stringValue": SID}},
                       {"key": "honeyhive_feedback.ok", "value": {"boolValue": true}},
                       {"key": "honeyhive_metrics.n", "value": {"intValue": "42"}}],
        "events": [], "status": {"code": "STATUS_CODE_ERROR", "message": "ValueError: bad"}}]}]}]});
    let r = s.json("POST", "/v1/traces", &s.admin, json_body).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    let tree = s.get(&format!("/v1/sessions/{SID}"), &s.admin).await;
    assert_eq!(tree.status, StatusCode::OK);
    let tree = tree.json();
    assert_eq!(tree["num_events"], 3);
    let session = &tree["session"];
    assert_eq!(session["event_type"], "session");
    assert_eq!(session["metadata"]["num_events"], 3);
    assert_eq!(session["metadata"]["num_model_events"], 1);
    assert_eq!(session["metadata"]["total_tokens"], 30);
    assert_eq!(session["metadata"]["has_feedback"], true);
    let kids = session["children"].as_array().unwrap();
    assert_eq!(kids.len(), 2, "root spans hang off the session");
    let chain = kids.iter().find(|k| k["event_type"] == "chain").unwrap();
    assert_eq!(chain["metadata"]["user"]["id"], "u9");
    let model = &chain["children"][0];
    assert_eq!(model["event_type"], "model");
    assert_eq!(model["metrics"]["score"], 0.5);
    assert_eq!(model["parent_id"], chain["event_id"]);
    let tool = kids.iter().find(|k| k["event_name"] == "tool-3").unwrap();
    assert_eq!(tool["error"], "ValueError: bad");
    assert_eq!(tool["metrics"]["n"], 42);
    assert_eq!(tool["duration"], 5.0);
    // The raw span keeps what was not mapped.
    let id = model["event_id"].as_str().unwrap();
    let ev = s
        .get(&format!("/v1/events/{id}?include=span"), &s.admin)
        .await
        .json();
    assert_eq!(ev["event"]["event_id"], id);
    assert_eq!(ev["span"]["attributes"]["openinference.span.kind"], "LLM");
    // Key discovery.
    let schema = s.get("/v1/events/schema", &s.admin).await.json();
    let fields: Vec<&str> = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    for f in [
        "metadata.user.id",
        "metrics.score",
        "feedback.ok",
        "event_name",
    ] {
        assert!(fields.contains(&f), "{f} not in {fields:?}");
    }
}

#[tokio::test]
async fn spans_without_a_session_are_grouped_by_trace() {
    let s = server();
    let body = hive_otlp::encode_traces_protobuf(&[span(
        vec![("gen_ai.request.model", AttrValue::Str("m".into()))],
        1,
        None,
    )]);
    let r = s
        .call(
            "POST",
            "/v1/traces",
            &s.admin,
            body,
            "application/x-protobuf",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let sessions = s
        .export(
            &s.admin,
            json!({"filters": [{"field": "event_type", "operator": "is", "value": "session"}]}),
        )
        .await;
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        sessions[0]["session_id"],
        "07070707-0707-0707-0707-070707070707"
    );
    assert!(
        sessions[0]["event_name"]
            .as_str()
            .unwrap()
            .starts_with("trace ")
    );
    assert_eq!(sessions[0]["metadata"]["num_events"], 1);
}

#[tokio::test]
async fn keys_isolate_projects_and_scopes() {
    let s = server();
    let a = s.key("read_write", "team-a").await;
    let b = s.key("read_write", "team-b").await;
    let ingest_a = s.key("ingest", "team-a").await;
    // Writes with a project key go to its project, whatever the body says.
    s.json(
        "POST",
        "/session/start",
        &a,
        json!({"session": {"session_id": SID, "project": "team-b"}}),
    )
    .await;
    s.json(
        "PUT",
        "/events",
        &ingest_a,
        json!({"event_id": SID, "metadata": {"x": 1}}),
    )
    .await;
    assert_eq!(s.session_events(&a, SID).await[0]["metadata"]["x"], 1);
    assert!(
        s.session_events(&b, SID).await.is_empty(),
        "team-b must not see team-a"
    );
    assert_eq!(
        s.get(&format!("/v1/events/{SID}"), &b).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.get(&format!("/v1/sessions/{SID}"), &b).await.status,
        StatusCode::NOT_FOUND
    );
    // team-b writing the same id changes nothing in team-a.
    s.json(
        "PUT",
        "/events",
        &b,
        json!({"event_id": SID, "metadata": {"x": 2}}),
    )
    .await;
    assert_eq!(s.session_events(&a, SID).await[0]["metadata"]["x"], 1);
    let r = s
        .json("POST", "/v1/events/export", &ingest_a, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["error"]["code"], "forbidden");
    assert_eq!(s.get("/v1/keys", &a).await.status, StatusCode::FORBIDDEN);
    // Revocation takes effect.
    let keys = s.get("/v1/keys", &s.admin).await.json();
    let id = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["scope"] == "ingest")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        s.call(
            "DELETE",
            &format!("/v1/keys/{id}"),
            &s.admin,
            Body::empty(),
            "application/json"
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        s.json("PUT", "/events", &ingest_a, json!({"event_id": SID}))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.json("PUT", "/events", "hh_nope", json!({"event_id": SID}))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

/// A key made to expire works until its time and is refused from then on,
/// even while the node still holds its earlier answer for it (keys are
/// cached for 2 s); what the expiry may be is checked, naming the field.
#[tokio::test]
async fn keys_expire_at_their_time() {
    let s = server();
    let now = hive_core::time::format_rfc3339_ms(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
            + 1_500,
    );
    let r = s
        .json(
            "POST",
            "/v1/keys",
            &s.admin,
            json!({"name": "brief", "scope": "read_write", "project": "p", "expires_at": now}),
        )
        .await
        .expect_ok()
        .json();
    let secret = r["secret"].as_str().unwrap().to_owned();
    let expires_at = r["key"]["expires_at"]
        .as_i64()
        .expect("expires_at in the answer");
    let export = || s.json("POST", "/v1/events/export", &secret, json!({}));
    assert_eq!(
        export().await.status,
        StatusCode::OK,
        "live until it expires"
    );
    let listed = s.get("/v1/keys", &s.admin).await.json();
    let k = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "brief")
        .unwrap()
        .clone();
    assert_eq!(k["expires_at"], expires_at);
    // Past its time (and within the cache's 2 s of its last use).
    tokio::time::sleep(std::time::Duration::from_millis(1_600)).await;
    let r = export().await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(
        r.json()["message"].as_str().unwrap().contains("expired"),
        "{}",
        r.json()
    );
    // `expires_in`, and keys that never expire do not say when.
    let r = s
        .json(
            "POST",
            "/v1/keys",
            &s.admin,
            json!({"name": "week", "scope": "ingest", "project": "p", "expires_in": "7d"}),
        )
        .await
        .expect_ok()
        .json();
    let week = r["key"]["expires_at"].as_i64().unwrap() - r["key"]["created_at"].as_i64().unwrap();
    assert!((week - 7 * 86_400_000).abs() < 10_000, "{week}");
    let r = s
        .json(
            "POST",
            "/v1/keys",
            &s.admin,
            json!({"name": "forever", "scope": "admin"}),
        )
        .await
        .expect_ok()
        .json();
    assert!(r["key"].get("expires_at").is_none(), "{r}");
    for (body, field) in [
        (json!({"expires_at": "2020-01-01T00:00:00Z"}), "expires_at"),
        (json!({"expires_at": 1}), "expires_at"),
        (json!({"expires_at": "soon"}), "expires_at"),
        (json!({"expires_at": true}), "expires_at"),
        (json!({"expires_at": "9999-01-01"}), "expires_at"),
        (json!({"expires_in": "0s"}), "expires_in"),
        (json!({"expires_in": "-1d"}), "expires_in"),
        (json!({"expires_in": "99999999d"}), "expires_in"),
        (json!({"expires_in": 30}), "expires_in"),
        (
            json!({"expires_in": "7d", "expires_at": "2030-01-01"}),
            "expires_at or expires_in",
        ),
    ] {
        let mut body = body;
        body["scope"] = json!("admin");
        let r = s.json("POST", "/v1/keys", &s.admin, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        let message = r.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(field), "{body}: {message}");
    }
}

#[tokio::test]
async fn bad_input_gets_a_4xx_naming_the_problem() {
    let s = server();
    let k = s.admin.clone();
    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!({"a": deep});
    }
    // (method, path, body, content type, expected status, message excerpt)
    type Case<'a> = (&'a str, &'a str, Vec<u8>, &'a str, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        ("PUT", "/events", b"{not json".to_vec(), "application/json", StatusCode::BAD_REQUEST, "invalid JSON"),
        ("PUT", "/events", b"".to_vec(), "application/json", StatusCode::BAD_REQUEST, "empty body"),
        ("PUT", "/events", b"[1]".to_vec(), "application/json", StatusCode::BAD_REQUEST, "expected a JSON object"),
        ("PUT", "/events", br#"{"metadata":{}}"#.to_vec(), "application/json", StatusCode::BAD_REQUEST, "event_id is required"),
        ("PUT", "/events", br#"{"event_id":"x","metrics":"fast"}"#.to_vec(), "application/json", StatusCode::BAD_REQUEST, "metrics must be an object"),
        ("PUT", "/events", json!({"event_id": "x", "metadata": deep}).to_string().into_bytes(), "application/json", StatusCode::BAD_REQUEST, "nested deeper"),
        ("POST", "/events", br#"{"event":{"inputs":{}}}"#.to_vec(), "application/json", StatusCode::BAD_REQUEST, "event_type is required"),
        ("POST", "/events/batch", br#"{"events":[{"event_type":"tool"},5]}"#.to_vec(), "application/json", StatusCode::BAD_REQUEST, "events[1]"),
        ("POST", "/session/start", br#"{"session":"x"}"#.to_vec(), "application/json", StatusCode::BAD_REQUEST, "session must be an object"),
        ("POST", "/v1/traces", b"\x0a\xff\xff".to_vec(), "application/x-protobuf", StatusCode::BAD_REQUEST, "invalid protobuf"),
        ("POST", "/v1/traces", br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"0101010101010101"}]}]}]}"#.to_vec(), "application/json", StatusCode::BAD_REQUEST, "traceId"),
        ("POST", "/v1/traces", b"x".to_vec(), "text/plain", StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type"),
        ("POST", "/v1/events/export", br#"{"filters":[{"field":"nope","operator":"is","value":1}]}"#.to_vec(), "application/json", StatusCode::BAD_REQUEST, "filters[0]: unknown filter field"),
        ("POST", "/v1/events/export", br#"{"limit":100000}"#.to_vec(), "application/json", StatusCode::BAD_REQUEST, "limit must be at most"),
        ("POST", "/v1/events/export", br#"{"dateRange":{"$gte":"soon"}}"#.to_vec(), "application/json", StatusCode::BAD_REQUEST, "dateRange"),
        ("POST", "/v1/events/export", br#"{"project":"default","after":"x","level":"session"}"#.to_vec(), "application/json", StatusCode::BAD_REQUEST, "level must be event"),
        ("POST", "/v1/events/export", br#"{"project":"default","after":"x","page":2}"#.to_vec(), "application/json", StatusCode::BAD_REQUEST, "after and page"),
        ("POST", "/v1/events/export", br#"{"project":"default","after":5}"#.to_vec(), "application/json", StatusCode::BAD_REQUEST, "after"),
        ("POST", "/v1/events/export", br#"{"after":""}"#.to_vec(), "application/json", StatusCode::BAD_REQUEST, "after needs a project"),
        ("POST", "/v1/events/export", br#"{"evaluation_id":"run-1"}"#.to_vec(), "application/json", StatusCode::BAD_REQUEST, "evaluation_id: this server keeps no experiment runs"),
        ("POST", "/v1/events/search", br#"{"evaluation_id":"run-1","filters":[]}"#.to_vec(), "application/json", StatusCode::BAD_REQUEST, "evaluation_id"),
        ("GET", "/v1/events/does-not-exist", Vec::new(), "application/json", StatusCode::NOT_FOUND, "no event"),
        ("GET", "/v1/sessions/does-not-exist", Vec::new(), "application/json", StatusCode::NOT_FOUND, "no session"),
    ];
    for (method, path, body, ct, want, msg) in cases {
        let r = s.call(method, path, &k, body, ct).await;
        assert_eq!(
            r.status,
            want,
            "{method} {path}: {}",
            String::from_utf8_lossy(&r.bytes)
        );
        let v: Value = r.json();
        let m = v["error"]["message"].as_str().unwrap_or_default();
        assert!(m.contains(msg), "{method} {path}: {m:?} lacks {msg:?}");
        assert_eq!(v["message"], v["error"]["message"]);
    }
    // Oversized and gzip bombs.
    let big = vec![b' '; 17 << 20];
    let r = s.call("PUT", "/events", &k, big, "application/json").await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json()["error"]["code"], "payload_too_large");
    let r = s
        .call("DELETE", "/events", &k, Body::empty(), "application/json")
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.json()["error"]["code"], "method_not_allowed");
    let zeros = vec![0u8; 200 << 20];
    let mut enc = system_gzip(&zeros);
    let req = Request::builder()
        .method("POST")
        .uri("/v1/traces")
        .header("authorization", format!("Bearer {k}"))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(Body::from(std::mem::take(&mut enc)))
        .unwrap();
    let r = s.raw(req).await;
    assert_eq!(
        r.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    // Nothing stored was harmed: the store still answers.
    assert_eq!(s.get("/healthz", &k).await.status, StatusCode::OK);
}

/// gzip through the system's `gzip` (a real compressor, not a copy of ours).
fn system_gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip");
    let mut stdin = child.stdin.take().unwrap();
    let owned = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&owned));
    let out = child.wait_with_output().expect("gzip output");
    writer.join().unwrap().unwrap();
    out.stdout
}

#[tokio::test]
async fn writes_beyond_the_in_flight_budget_answer_503_with_retry_after() {
    // Room for one small body at a time.
    full_queue_refuses(hive_server::WriterConfig {
        max_inflight_bytes: 1024,
        ..Default::default()
    })
    .await;
}

async fn full_queue_refuses(config: hive_server::WriterConfig) {
    let s = common::server_with(config, hive_server::ApiConfig::default());
    let s = std::sync::Arc::new(s);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.json(
                "PUT",
                "/events",
                &s.admin,
                json!({"event_id": format!("e{i}"), "metadata": {"i": i}}),
            )
            .await
        }));
    }
    let mut busy = 0;
    let mut ok = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert_eq!(r.headers["retry-after"], "1");
                assert_eq!(r.json()["error"]["code"], "busy");
                assert!(
                    r.json()["message"]
                        .as_str()
                        .unwrap()
                        .contains("--max-inflight-mb"),
                    "{:?}",
                    r.json()
                );
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(ok >= 1);
    assert!(
        busy >= 1,
        "with room for one body, some of 40 concurrent requests must be refused"
    );
}

/// A batch's events go to the projects they name (an event's `project`, as
/// HoneyHive's batch events carry it), else to the batch's; a one-session
/// batch holds one project; a project key writes its own.
/// HoneyHive's `/v1` event bodies name their project by `project_id` alone
/// (`PostEventRequest` has no `project`): with an admin key, an existing
/// project's id (as `/session/start` answers it) or name puts the event
/// there; an unknown one is refused, naming the field, and nothing is
/// written; `project` wins over it; a project key writes to its own project.
#[tokio::test]
async fn events_name_their_project_by_project_id_too() {
    let s = server();
    let names = |events: Vec<Value>| -> Vec<Value> {
        let mut n: Vec<Value> = events.iter().map(|e| e["event_name"].clone()).collect();
        n.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        n
    };
    let tools = |project: &str| json!({"project": project, "filters": [{"field": "event_type", "operator": "is", "value": "tool"}]});
    let started = s
        .json(
            "POST",
            "/session/start",
            &s.admin,
            json!({"session": {"project": "by-id"}}),
        )
        .await
        .expect_ok()
        .json();
    let id = started["project_id"].as_str().unwrap().to_owned();
    let sid = started["session_id"].as_str().unwrap().to_owned();
    for body in [
        json!({"event_type": "tool", "event_name": "bare", "inputs": {}, "project_id": id}),
        json!({"event": {"event_type": "tool", "event_name": "wrapped", "inputs": {}, "project_id": id}}),
        json!({"event_type": "tool", "event_name": "by-name", "inputs": {}, "project_id": "by-id"}),
        json!({"event_type": "tool", "event_name": "project-wins", "inputs": {}, "project": "by-id", "project_id": "elsewhere"}),
    ] {
        s.json("POST", "/v1/events", &s.admin, body)
            .await
            .expect_ok();
    }
    s.json(
        "POST",
        "/v1/events/batch",
        &s.admin,
        json!({"events": [{"event_type": "tool", "event_name": "batched", "inputs": {}, "project_id": id}]}),
    )
    .await
    .expect_ok();
    assert_eq!(
        json!(names(s.export(&s.admin, tools("by-id")).await)),
        json!(["bare", "batched", "by-name", "project-wins", "wrapped"])
    );
    assert!(s.export(&s.admin, tools("default")).await.is_empty());
    // An enrichment naming the project by id is in it (not floating).
    s.json(
        "PUT",
        "/events",
        &s.admin,
        json!({"event_id": sid, "project_id": id, "metadata": {"via": "id"}}),
    )
    .await
    .expect_ok();
    let session = s
        .export(&s.admin, json!({"project": "by-id", "filters": [{"field": "event_type", "operator": "is", "value": "session"}]}))
        .await;
    assert_eq!(session[0]["metadata"]["via"], "id");
    // An unknown id is refused, naming the field, and writes nothing.
    for (path, body) in [
        (
            "/v1/events",
            json!({"event_type": "tool", "event_name": "lost", "inputs": {}, "project_id": "65e0fc2d6a2eb95f55a92cbc"}),
        ),
        (
            "/v1/events/batch",
            json!({"events": [{"event_type": "tool", "event_name": "lost", "inputs": {}, "project_id": "nope"}]}),
        ),
        (
            "/events",
            json!({"event_id": sid, "project_id": "nope", "metadata": {"x": 1}}),
        ),
    ] {
        let method = if path == "/events" { "PUT" } else { "POST" };
        let r = s.json(method, path, &s.admin, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(
            r.json()["message"].as_str().unwrap().contains("project_id"),
            "{}",
            r.json()
        );
    }
    let r = s
        .json(
            "POST",
            "/v1/events",
            &s.admin,
            json!({"event_type": "tool", "inputs": {}, "project_id": 7}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["message"].as_str().unwrap().contains("project_id"),
        "{}",
        r.json()
    );
    assert!(
        s.get("/v1/projects", &s.admin).await.json()["projects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != "nope" && p["name"] != "65e0fc2d6a2eb95f55a92cbc")
    );
    // A project key writes to its own project whatever the id.
    let own = s.key("read_write", "own").await;
    s.json(
        "POST",
        "/v1/events",
        &own,
        json!({"event_type": "tool", "event_name": "mine", "inputs": {}, "project_id": "nope"}),
    )
    .await
    .expect_ok();
    assert_eq!(
        json!(names(s.export(&own, tools("own")).await)),
        json!(["mine"])
    );
}

#[tokio::test]
async fn batch_events_land_in_the_projects_they_name() {
    let s = server();
    let names = |events: Vec<Value>| -> Vec<Value> {
        let mut n: Vec<Value> = events.iter().map(|e| e["event_name"].clone()).collect();
        n.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        n
    };
    let tools = |project: &str| json!({"project": project, "filters": [{"field": "event_type", "operator": "is", "value": "tool"}]});
    s.json(
        "POST",
        "/events/batch",
        &s.admin,
        json!({"project": "batch-c", "events": [
            {"event_type": "tool", "event_name": "in-a", "project": "batch-a"},
            {"event_type": "tool", "event_name": "in-b", "project": " batch-b "},
            {"event_type": "tool", "event_name": "in-c"},
            {"event_type": "tool", "event_name": "in-c too", "project": ""},
        ]}),
    )
    .await
    .expect_ok();
    for (project, want) in [
        ("batch-a", json!(["in-a"])),
        ("batch-b", json!(["in-b"])),
        ("batch-c", json!(["in-c", "in-c too"])),
    ] {
        assert_eq!(
            json!(names(s.export(&s.admin, tools(project)).await)),
            want,
            "{project}"
        );
    }

    // One session: its events are in its project, named by the batch, the
    // session or, failing both, the events.
    let r = s
        .json(
            "POST",
            "/events/batch",
            &s.admin,
            json!({"single_session": true, "session_properties": {"session_name": "one"}, "events": [
                {"event_type": "tool", "event_name": "one-a", "project": "batch-d"},
                {"event_type": "tool", "event_name": "one-b"},
            ]}),
        )
        .await;
    let sid = r.expect_ok().json()["session_id"].clone();
    let in_d = s
        .export(&s.admin, json!({"project": "batch-d", "filters": [{"field": "session_id", "operator": "is", "value": sid}]}))
        .await;
    assert_eq!(in_d.len(), 3, "the session and its two events: {in_d:?}");
    let r = s
        .json(
            "POST",
            "/events/batch",
            &s.admin,
            json!({"single_session": true, "session_properties": {"project": "batch-d"}, "events": [
                {"event_type": "tool", "event_name": "two-a"},
                {"event_type": "tool", "event_name": "two-b", "project": "batch-e"},
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let message = r.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("events[1].project")
            && message.contains("batch-d")
            && message.contains("batch-e"),
        "{message}"
    );
    // Refused whole: nothing written, not even the project it named.
    let r = s
        .json("POST", "/v1/events/export", &s.admin, tools("batch-e"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A project key writes to its own project, whatever the events name.
    let key = s.key("read-write", "batch-f").await;
    s.json(
        "POST",
        "/events/batch",
        &key,
        json!({"events": [{"event_type": "tool", "event_name": "f", "project": "batch-a"}]}),
    )
    .await
    .expect_ok();
    assert_eq!(
        json!(names(s.export(&key, tools("batch-f")).await)),
        json!(["f"])
    );
    assert_eq!(
        json!(names(s.export(&s.admin, tools("batch-a")).await)),
        json!(["in-a"])
    );
}

/// HoneyHive's model-event routes: the model's fields land where span
/// mapping puts them (config, inputs.chat_history, outputs, token counts and
/// cost in metadata), so session rollups count them.
#[tokio::test]
async fn model_events_land_in_the_event_shape() {
    let s = server();
    let sid = "5e000000-0000-4000-8000-000000000001";
    s.json(
        "POST",
        "/session/start",
        &s.admin,
        json!({"session": {"session_id": sid, "project": "models"}}),
    )
    .await
    .expect_ok();
    let r = s
        .json(
            "POST",
            "/events/model",
            &s.admin,
            json!({"model_event": {
                "project": "models", "session_id": sid, "event_name": "chat",
                "model": "gpt-4o", "model_name": "older-name", "provider": "openai",
                "hyperparameters": {"temperature": 0.2},
                "messages": [{"role": "user", "content": "hi"}],
                "template_inputs": {"topic": "greetings"},
                "response": {"role": "assistant", "content": "hello"},
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
                "cost": 0.001,
                "config": {"provider": "kept", "model_version": null},
                "metadata": {"tenant": "acme"},
                "model_version": null,
            }}),
        )
        .await;
    let id = r.expect_ok().json()["event_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let batch = s
        .json(
            "POST",
            "/events/model/batch",
            &s.admin,
            json!({"project": "models", "model_events": [
                {"session_id": sid, "model_name": "claude", "response": "plain text", "usage": {"total_tokens": 7}},
                {"session_id": sid, "event_type": "tool", "event_name": "search"},
            ]}),
        )
        .await;
    let ids = batch.expect_ok().json()["event_ids"].clone();
    let get = |id: String| {
        let s = &s;
        async move {
            s.get(&format!("/v1/events/{id}"), &s.admin)
                .await
                .expect_ok()
                .json()["event"]
                .clone()
        }
    };
    let e = get(id).await;
    assert_eq!(e["event_type"], "model");
    assert_eq!(e["config"]["model"], "gpt-4o", "model wins over model_name");
    assert_eq!(
        e["config"]["provider"], "kept",
        "the event's own config wins"
    );
    assert_eq!(e["config"]["hyperparameters"]["temperature"], 0.2);
    assert_eq!(e["inputs"]["chat_history"][0]["content"], "hi");
    assert_eq!(e["inputs"]["topic"], "greetings");
    assert_eq!(e["outputs"]["content"], "hello");
    assert_eq!(e["metadata"]["total_tokens"], 5);
    assert_eq!(e["metadata"]["cost"], 0.001);
    assert_eq!(e["metadata"]["tenant"], "acme");
    let e = get(ids[0].as_str().unwrap().to_owned()).await;
    assert_eq!(
        (e["event_type"].clone(), e["config"]["model"].clone()),
        (json!("model"), json!("claude"))
    );
    assert_eq!(e["outputs"]["content"], "plain text");
    let e = get(ids[1].as_str().unwrap().to_owned()).await;
    assert_eq!(e["event_type"], "tool", "its own event_type is kept");
    // The session's rollup counts the model events' tokens and cost.
    let session = get(sid.to_owned()).await;
    assert_eq!(session["metadata"]["num_model_events"], 2, "{session}");
    assert_eq!(session["metadata"]["total_tokens"], 12, "{session}");
    // Errors name the field.
    for (path, body, excerpt) in [
        ("/events/model", json!({}), "model_event is required"),
        (
            "/events/model",
            json!({"model_event": {"usage": 5}}),
            "model_event: usage must be an object",
        ),
        (
            "/events/model",
            json!({"model_event": {"metadata": [1]}}),
            "model_event: metadata must be an object",
        ),
        (
            "/events/model/batch",
            json!({"model_events": {}}),
            "model_events must be an array",
        ),
        (
            "/events/model/batch",
            json!({"model_events": [{}, 3]}),
            "model_events[1] must be an object",
        ),
        (
            "/events/model/batch",
            json!({"model_events": [{"start_time": "x"}]}),
            "model_events[0]: start_time",
        ),
    ] {
        let r = s.json("POST", path, &s.admin, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        let message = r.json()["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.contains(excerpt), "{body}: {message}");
    }
}

#[tokio::test]
async fn export_pages_projects_and_filters_at_session_level() {
    let s = server();
    for i in 0..12 {
        let sid = format!("00000000-0000-4000-8000-{i:012}");
        s.json(
            "POST",
            "/session/start",
            &s.admin,
            json!({"session": {"session_id": sid, "start_time": 1000 + i}}),
        )
        .await;
        let body = json!({"event": {"event_type": "model", "session_id": sid, "inputs": {}, "metadata": {"variant": if i % 3 == 0 {"b"} else {"a"}}, "start_time": 2000 + i}});
        assert_eq!(
            s.json("POST", "/events", &s.admin, body).await.status,
            StatusCode::OK
        );
    }
    let r = s
        .json(
            "POST",
            "/v1/events/export",
            &s.admin,
            json!({"limit": 5, "page": 3}),
        )
        .await
        .json();
    assert_eq!(r["totalEvents"], 24);
    assert_eq!(r["events"].as_array().unwrap().len(), 5);
    let r = s
        .json("POST", "/v1/events/export", &s.admin, json!({"limit": 2, "projections": ["event_type", "metadata.variant"], "filters": [{"field": "event_type", "operator": "is", "value": "model"}]}))
        .await
        .json();
    assert_eq!(
        r["events"][0],
        json!({"event_id": r["events"][0]["event_id"], "event_type": "model", "metadata": {"variant": "b"}})
    );
    let sessions = s
        .export(&s.admin, json!({"level": "session", "filters": [{"field": "metadata.variant", "operator": "is", "value": "b"}]}))
        .await;
    assert_eq!(sessions.len(), 4);
    assert!(sessions.iter().all(|e| e["event_type"] == "session"));
    let search = s
        .json(
            "POST",
            "/v1/events/search",
            &s.admin,
            json!({"filters": [{"field": "metadata.variant", "operator": "is", "value": "b"}]}),
        )
        .await
        .json();
    assert_eq!(search["count"], 4);

    // Pages by event id (`after`): every event once, in id order, not
    // counted; `next` is the following page's `after`, null after the last.
    let (mut after, mut ids, mut pages) = (String::new(), Vec::new(), 0);
    loop {
        let r = s
            .json(
                "POST",
                "/v1/events/export",
                &s.admin,
                json!({"project": "default", "limit": 10, "after": after}),
            )
            .await;
        let r = r.expect_ok().json();
        assert!(r["totalEvents"].is_null() && r["count"].is_null(), "{r}");
        pages += 1;
        for e in r["events"].as_array().unwrap() {
            ids.push(e["event_id"].as_str().unwrap().to_owned());
        }
        match &r["next"] {
            Value::String(next) => {
                assert_eq!(Some(next), ids.last());
                after.clone_from(next);
            }
            Value::Null => break,
            other => panic!("next: {other}"),
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), 24);
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, ids, "in id order, each once");
}

/// Garbage of every shape to every route: never a 5xx, and every 4xx is a
/// JSON error naming the problem.
#[tokio::test]
async fn no_client_input_causes_a_server_error() {
    let s = server();
    let k = s.admin.clone();
    let routes = [
        ("POST", "/session/start"),
        ("POST", "/v1/sessions"),
        ("PUT", "/events"),
        ("PUT", "/v1/events/abc"),
        ("POST", "/events"),
        ("POST", "/v1/events"),
        ("POST", "/events/batch"),
        ("POST", "/v1/events/batch"),
        ("POST", "/session/abc/traces"),
        ("POST", "/v1/events/export"),
        ("POST", "/v1/events/search"),
        ("POST", "/v1/traces"),
        ("POST", "/v1/keys"),
        ("POST", "/v1/projects"),
    ];
    let mut deep = String::new();
    for _ in 0..200 {
        deep.push('[');
    }
    let fixed: Vec<Vec<u8>> = vec![
        b"null".to_vec(),
        b"\"x\"".to_vec(),
        b"{\"session\":{\"session_id\":5}}".to_vec(),
        b"{\"event_id\":\"a\",\"metadata\":{\"x\":1e999}}".to_vec(),
        b"{\"event\":{\"event_type\":\"tool\",\"start_time\":-1e300,\"duration\":\"x\"}}".to_vec(),
        b"{\"events\":[{\"event_type\":\"tool\",\"children_ids\":{}}]}".to_vec(),
        b"{\"filters\":[{\"field\":\"metadata.a\",\"operator\":\"after\",\"value\":{}}],\"page\":0}".to_vec(),
        b"{\"limit\":-5,\"page\":1e20}".to_vec(),
        b"{\"name\":\"\",\"scope\":\"root\"}".to_vec(),
        deep.into_bytes(),
        vec![0xff, 0xfe, 0x00, 0x01],
    ];
    let valid = json!({"session": {"session_id": "s", "metadata": {"a": [1, {"b": null}]}}, "event_id": "e",
        "events": [{"event_type": "tool", "inputs": {}}], "filters": [], "event": {"event_type": "model"}})
    .to_string()
    .into_bytes();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut bodies = fixed;
    for _ in 0..150 {
        // Mutations of a valid body: flipped, dropped and duplicated bytes.
        let mut b = valid.clone();
        for _ in 0..(1 + next() % 4) {
            let i = (next() as usize) % b.len();
            match next() % 3 {
                0 => b[i] = (next() % 256) as u8,
                1 => {
                    b.remove(i);
                }
                _ => b.insert(i, b[i]),
            }
        }
        bodies.push(b);
    }
    for (method, path) in routes {
        for body in &bodies {
            for ct in ["application/json", "application/x-protobuf"] {
                let r = s.call(method, path, &k, body.clone(), ct).await;
                assert!(
                    r.status.as_u16() < 500,
                    "{method} {path} ({ct}) answered {} to {:?}: {}",
                    r.status,
                    String::from_utf8_lossy(body),
                    String::from_utf8_lossy(&r.bytes)
                );
                if r.status.is_client_error() {
                    let v = r.json();
                    assert!(
                        v["error"]["message"]
                            .as_str()
                            .is_some_and(|m| !m.is_empty()),
                        "{v}"
                    );
                }
            }
        }
    }
    assert_eq!(s.get("/healthz", &k).await.status, StatusCode::OK);
}

#[tokio::test]
async fn children_follow_a_parent_whose_event_id_was_overridden() {
    let s = server();
    let str_ = |v: &str| AttrValue::Str(v.into());
    let spans = vec![
        span(
            vec![
                ("honeyhive.session_id", str_(SID)),
                ("honeyhive_event_id", str_("my-parent-id")),
            ],
            1,
            None,
        ),
        span(vec![("honeyhive.session_id", str_(SID))], 2, Some(1)),
    ];
    let body = hive_otlp::encode_traces_protobuf(&spans);
    let r = s
        .call(
            "POST",
            "/v1/traces",
            &s.admin,
            body,
            "application/x-protobuf",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let tree = s.get(&format!("/v1/sessions/{SID}"), &s.admin).await.json();
    let parent = &tree["session"]["children"][0];
    assert_eq!(parent["event_id"], "my-parent-id");
    assert_eq!(parent["children"][0]["parent_id"], "my-parent-id");
}

/// Nodes below the root of a session tree.
fn tree_size(node: &Value) -> usize {
    node["children"]
        .as_array()
        .map_or(0, |c| c.iter().map(|k| 1 + tree_size(k)).sum())
}

#[tokio::test]
async fn large_sessions_are_returned_and_drawn_in_part() {
    use hive_store::{Store, WriteOp};
    let s = server();
    let project = s.store.auth().ensure_project("default").unwrap();
    let sid = "big-session";
    let n = 2_105;
    let mut ops = Vec::new();
    for i in 0..=n {
        let is_session = i == 0;
        let event = hive_core::model::Event {
            event_id: if is_session {
                sid.into()
            } else {
                format!("ev-{i:05}")
            },
            session_id: sid.into(),
            parent_id: (!is_session).then(|| sid.to_owned()),
            project_id: project.id.clone(),
            source: "test".into(),
            event_type: if is_session { "session" } else { "tool" }.into(),
            event_name: if is_session {
                "big".into()
            } else {
                format!("step {i}")
            },
            start_time: 1_700_000_000_000 + i as i64,
            end_time: 1_700_000_000_010 + i as i64,
            duration: 10.0,
            ..Default::default()
        };
        ops.push(WriteOp::Event {
            event,
            raw: None,
            session_name: None,
            join: false,
            floating: false,
        });
    }
    s.store.apply(&ops).unwrap();

    let v = s.get(&format!("/v1/sessions/{sid}"), &s.admin).await.json();
    assert_eq!(v["num_events"], n);
    assert_eq!(v["truncated"], false);
    assert_eq!(tree_size(&v["session"]), n);
    let v = s
        .get(&format!("/v1/sessions/{sid}?limit=100"), &s.admin)
        .await
        .json();
    assert_eq!(v["num_events"], n, "all events are counted");
    assert_eq!(v["truncated"], true);
    assert_eq!(tree_size(&v["session"]), 100, "the earliest 100");
    for bad in ["0", "50001", "x"] {
        let r = s
            .get(&format!("/v1/sessions/{sid}?limit={bad}"), &s.admin)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "limit={bad}");
        assert!(r.json()["error"]["message"].is_string());
    }

    // The dashboard draws the first 2 000 and says so; a later event can
    // still be selected.
    let (cookie, _) = s.store.auth().create_web_session(60_000).unwrap();
    let page = |path: String| {
        let req = Request::builder()
            .uri(path)
            .header("cookie", format!("hive_session={cookie}"))
            .body(Body::empty())
            .unwrap();
        s.raw(req)
    };
    let r = page(format!("/sessions/{sid}?project=default")).await;
    assert_eq!(r.status, StatusCode::OK);
    let html = String::from_utf8_lossy(&r.bytes).into_owned();
    assert!(
        html.contains("The first 2000 of 2105 events by start time are drawn"),
        "no notice"
    );
    assert!(html.contains("step 2000") && !html.contains("step 2001<"));
    let r = page(format!("/sessions/{sid}?project=default&event=ev-02100")).await;
    let html = String::from_utf8_lossy(&r.bytes).into_owned();
    assert!(html.contains("step 2100"), "the selected event is shown");
}
