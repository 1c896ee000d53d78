//! The ingest log seen through the API: back-pressure from the unapplied
//! backlog, reads that wait for the writes acknowledged before them, and
//! recovery once the store takes writes again.

mod common;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use hive_server::WriterConfig;
use hive_store::Store;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_store_fills_the_backlog_then_writes_get_503_and_reads_catching_up() {
    let s = common::server_with(
        WriterConfig {
            max_backlog_bytes: 4096,
            read_wait: Duration::from_millis(300),
            ..WriterConfig::default()
        },
        hive_server::ApiConfig::default(),
    );
    let session = "b0c10600-0000-4000-8000-000000000001";
    let r = s
        .json(
            "POST",
            "/session/start",
            &s.admin,
            json!({"session": {"session_id": session}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        s.get(&format!("/v1/sessions/{session}"), &s.admin)
            .await
            .status,
        StatusCode::OK
    );

    let (cookie, _) = s.store.auth().create_web_session(60_000).unwrap();
    // Another connection holds SQLite's write lock: the applier waits.
    let lock = rusqlite::Connection::open(s.store.path()).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();

    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..200 {
        let k = format!("k{i}");
        let r = s
            .json(
                "PUT",
                "/events",
                &s.admin,
                json!({"event_id": session, "metadata": {&k: i}}),
            )
            .await;
        match r.status {
            StatusCode::OK => acked.push(k),
            StatusCode::SERVICE_UNAVAILABLE => {
                refused = Some(r);
                break;
            }
            other => panic!("unexpected {other}"),
        }
    }
    let refused = refused.expect("a full backlog refuses writes");
    assert_eq!(refused.headers["retry-after"], "1");
    let v = refused.json();
    assert_eq!(v["error"]["code"], "busy");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("waiting to be applied"),
        "{v}"
    );
    assert!(!acked.is_empty());

    // A read waits for the writes acknowledged before it, then says why.
    let started = Instant::now();
    let r = s.get(&format!("/v1/sessions/{session}"), &s.admin).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() >= Duration::from_millis(250));
    let v = r.json();
    assert_eq!(v["error"]["code"], "catching_up", "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("catching up"),
        "{v}"
    );
    let stats = s.get("/v1/stats", &s.admin).await.json();
    assert!(
        stats["ingest_log"]["lag"]["records"].as_u64().unwrap() >= acked.len() as u64,
        "{stats}"
    );
    assert!(
        stats["ingest_log"]["lag"]["bytes"].as_u64().unwrap() > 4096,
        "{stats}"
    );

    // A dashboard page does not fail: it shows what is applied and says
    // what is not.
    let req = axum::http::Request::builder()
        .uri("/sessions")
        .header("cookie", format!("hive_session={cookie}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let page = s.raw(req).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = String::from_utf8_lossy(&page.bytes);
    assert!(
        html.contains("acknowledged writes"),
        "no note of the writes being applied"
    );

    // The store takes writes again: everything acknowledged is applied.
    lock.execute_batch("ROLLBACK").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let v = loop {
        let r = s.get(&format!("/v1/sessions/{session}"), &s.admin).await;
        if r.status == StatusCode::OK {
            break r.json();
        }
        assert!(Instant::now() < deadline, "the applier did not catch up");
    };
    let metadata = &v["session"]["metadata"];
    for k in &acked {
        assert!(metadata.get(k).is_some(), "{k} lost");
    }
    let r = s
        .json(
            "PUT",
            "/events",
            &s.admin,
            json!({"event_id": session, "metadata": {"after": 1}}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "writes resume once the backlog is applied"
    );
    // A read waits for it; then nothing is left to apply.
    assert_eq!(
        s.get(&format!("/v1/sessions/{session}"), &s.admin)
            .await
            .status,
        StatusCode::OK
    );
    let stats = s.get("/v1/stats", &s.admin).await.json();
    assert_eq!(stats["ingest_log"]["lag"]["records"], 0, "{stats}");
}

#[tokio::test]
async fn a_read_sees_every_write_acknowledged_before_it() {
    let s = common::server();
    for i in 0..50 {
        let session = format!("00000000-0000-4000-8000-{i:012}");
        let r = s
            .json(
                "POST",
                "/session/start",
                &s.admin,
                json!({"session": {"session_id": session}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let r = s
            .json(
                "PUT",
                "/events",
                &s.admin,
                json!({"event_id": session, "metadata": {"n": i}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        // Read at once: the enrichment acknowledged just now is there.
        let r = s.get(&format!("/v1/events/{session}"), &s.admin).await;
        assert_eq!(r.status, StatusCode::OK);
        let v = r.json();
        let event = if v.get("event").is_some() {
            &v["event"]
        } else {
            &v
        };
        assert_eq!(event["metadata"]["n"], i, "{v}");
    }
}
