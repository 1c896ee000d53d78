//! Alerts end to end: webhook receivers on 127.0.0.1 (plain HTTP, and HTTPS
//! with a certificate of the test CA in `tests/fixtures`), a manual clock,
//! and the evaluator called at chosen instants.

mod common;

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use common::{TestServer, server_with_alerts};
use hive_core::alert::{AlertState, Notify};
use hive_server::alerts::{AlertConfig, AlertRuntime, ManualClock, evaluate_due};
use hive_server::webhook::WebhookCa;
use hive_server::{ApiConfig, WriterConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000;
const H: i64 = 3_600_000;

/// Records every request's path and JSON body (and its head, lowercased);
/// answers 500 to the first `fail` requests, then 200.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(String, Value)>>>,
    heads: Arc<Mutex<Vec<String>>>,
    fail: Arc<Mutex<u32>>,
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// A whole request read into `buf` so far: its path, its head (lowercased)
/// and its JSON body; `None` while it is incomplete.
fn parse_request(buf: &[u8]) -> Option<(String, String, Value)> {
    let i = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = String::from_utf8_lossy(&buf[..i]);
    let head = text.to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:")?.trim().parse().ok())
        .unwrap_or(0);
    if buf.len() < i + 4 + len {
        return None;
    }
    let path = text.split_whitespace().nth(1).unwrap_or("").to_owned();
    let body = serde_json::from_slice(&buf[i + 4..i + 4 + len]).unwrap();
    Some((path, head, body))
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let r = Receiver::default();
        let rc = r.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let rc = rc.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let n = sock.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some((path, head, body)) = parse_request(&buf) {
                            rc.got.lock().unwrap().push((path, body));
                            rc.heads.lock().unwrap().push(head);
                            break;
                        }
                    }
                    let status = {
                        let mut f = rc.fail.lock().unwrap();
                        if *f > 0 {
                            *f -= 1;
                            "500 Internal Server Error"
                        } else {
                            "200 OK"
                        }
                    };
                    let _ = sock
                        .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes())
                        .await;
                });
            }
        });
        (r, format!("http://{addr}"))
    }

    /// An HTTPS receiver (a rustls server on a thread) presenting the
    /// fixture certificate for 127.0.0.1, signed by the fixture CA. Each
    /// connection carries one request.
    fn start_tls() -> (Receiver, String) {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(format!("{FIXTURES}/server.pem"))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_file(format!("{FIXTURES}/server.key")).unwrap();
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let r = Receiver::default();
        let rc = r.clone();
        std::thread::spawn(move || {
            for sock in listener.incoming() {
                let Ok(mut sock) = sock else { return };
                let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
                let Ok(mut conn) = rustls::ServerConnection::new(config.clone()) else {
                    continue;
                };
                let mut tls = rustls::Stream::new(&mut conn, &mut sock);
                // A client that rejects the certificate ends the handshake:
                // reading fails and the connection is dropped.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let request = loop {
                    let n = match tls.read(&mut chunk) {
                        Ok(0) | Err(_) => break None,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(request) = parse_request(&buf) {
                        break Some(request);
                    }
                };
                let Some((path, head, body)) = request else {
                    continue;
                };
                rc.got.lock().unwrap().push((path, body));
                rc.heads.lock().unwrap().push(head);
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.conn.complete_io(tls.sock);
            }
        });
        (r, format!("https://{addr}"))
    }

    fn bodies(&self, path: &str) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .collect()
    }
}

struct Fixture {
    s: TestServer,
    clock: Arc<ManualClock>,
    key: String,
    n: usize,
}

impl Fixture {
    /// An event of variant "a" with this latency, a minute before now.
    async fn event(&mut self, latency: f64) {
        self.event_of(Some("a"), latency).await;
    }

    /// An event of this variant (none: without the field) with this
    /// latency, a minute before now.
    async fn event_of(&mut self, variant: Option<&str>, latency: f64) {
        self.n += 1;
        let metadata = match variant {
            Some(v) => json!({"variant": v}),
            None => json!({}),
        };
        let at = self.clock_now() - 60_000;
        let r = self
            .s
            .json(
                "POST",
                "/v1/events",
                &self.key,
                json!({"event": {"event_id": format!("00000000-0000-4000-8000-{:012}", self.n),
                       "session_id": "00000000-0000-4000-8000-999999999999",
                       "event_type": "model", "event_name": "llm", "source": "test",
                       "start_time": at, "end_time": at + 10,
                       "metadata": metadata, "metrics": {"latency_ms": latency}}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }

    fn clock_now(&self) -> i64 {
        use hive_server::alerts::Clock;
        self.clock.now_ms()
    }

    async fn evaluate(&self) -> Vec<(String, AlertState, Notify)> {
        evaluate_due(&self.s.state)
            .await
            .unwrap()
            .into_iter()
            .map(|o| (o.alert_id, o.state, o.notified))
            .collect()
    }

    async fn action(&self, id: &str, action: &str) -> StatusCode {
        self.s
            .call(
                "POST",
                &format!("/v1/alerts/{id}/{action}"),
                &self.key,
                "",
                "application/json",
            )
            .await
            .status
    }
}

#[tokio::test]
async fn alert_fires_once_resolves_respects_mute_and_pause_and_retries() {
    let clock = Arc::new(ManualClock::new(T0));
    let config = AlertConfig {
        retries: 3,
        backoff: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
        // Receivers listen on 127.0.0.1.
        webhook_allow_private: true,
        ..AlertConfig::default()
    };
    let s = server_with_alerts(
        WriterConfig::default(),
        ApiConfig::default(),
        AlertRuntime::new(clock.clone(), config),
    );
    let key = s.key("read_write", "team-a").await;
    let other = s.key("read_write", "team-b").await;
    let (receiver, base) = Receiver::start().await;
    let mut f = Fixture {
        s,
        clock,
        key,
        n: 0,
    };

    let r = f
        .s
        .json(
            "POST",
            "/v1/alerts",
            &f.key,
            json!({"name": "slow variant a", "type": "aggregate", "comparison": "above", "threshold": 100,
                   "frequency": "hourly",
                   "query": {"metric": "metrics.latency_ms", "aggregation": "avg",
                             "filters": [{"field": "metadata.variant", "operator": "is", "value": "a", "type": "string"}]},
                   "webhook": {"url": format!("{base}/hook")}}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    let id = r.json()["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json()["data"]["state"], "active");
    // Validation and isolation.
    let bad =
        f.s.json(
            "POST",
            "/v1/alerts",
            &f.key,
            json!({"name": "x", "threshold": 1, "webhook": {"url": "ftp://x"}}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        f.s.get(&format!("/v1/alerts/{id}"), &other).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(
        f.s.get("/v1/alerts", &other).await.json()["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    use AlertState::*;
    // Below the threshold: nothing sent.
    f.event(50.0).await;
    assert_eq!(
        f.evaluate().await,
        vec![(id.clone(), Active, Notify::Nothing)]
    );
    // Not due again within the hour.
    f.clock.advance(10 * 60_000);
    assert!(f.evaluate().await.is_empty());
    // Crossed: fires once.
    f.clock.advance(H);
    f.event(200.0).await;
    assert_eq!(
        f.evaluate().await,
        vec![(id.clone(), Triggered, Notify::Fired)]
    );
    f.clock.advance(H);
    f.event(300.0).await;
    assert_eq!(
        f.evaluate().await,
        vec![(id.clone(), Triggered, Notify::Nothing)]
    );
    let sent = receiver.bodies("/hook");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["status"], "triggered");
    assert_eq!(sent[0]["value"], 200.0);
    assert_eq!(sent[0]["threshold"], 100.0);
    assert_eq!(sent[0]["alert"]["id"], id);
    assert!(
        sent[0]["link"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/alerts/{id}"))
    );
    // Back within bounds: resolves once.
    f.clock.advance(H);
    f.event(40.0).await;
    assert_eq!(
        f.evaluate().await,
        vec![(id.clone(), Resolved, Notify::Resolved)]
    );
    assert_eq!(receiver.bodies("/hook").len(), 2);
    assert_eq!(receiver.bodies("/hook")[1]["status"], "resolved");

    // Muted: evaluated, never sent.
    assert_eq!(f.action(&id, "mute").await, StatusCode::OK);
    assert_eq!(f.action(&id, "mute").await, StatusCode::BAD_REQUEST);
    f.clock.advance(H);
    f.event(500.0).await;
    assert_eq!(
        f.evaluate().await,
        vec![(id.clone(), Muted, Notify::Nothing)]
    );
    assert_eq!(receiver.bodies("/hook").len(), 2);
    // Paused: not even evaluated.
    assert_eq!(f.action(&id, "unmute").await, StatusCode::OK);
    assert_eq!(f.action(&id, "pause").await, StatusCode::OK);
    f.clock.advance(H);
    f.event(500.0).await;
    assert!(f.evaluate().await.is_empty());
    assert_eq!(receiver.bodies("/hook").len(), 2);

    // A failing webhook is retried with backoff until it answers 2xx.
    assert_eq!(f.action(&id, "resume").await, StatusCode::OK);
    *receiver.fail.lock().unwrap() = 2;
    f.clock.advance(H);
    f.event(500.0).await;
    assert_eq!(
        f.evaluate().await,
        vec![(id.clone(), Triggered, Notify::Fired)]
    );
    let sent = receiver.bodies("/hook");
    assert_eq!(sent.len(), 5, "two failed attempts, then the delivery");
    assert!(
        sent[2..]
            .iter()
            .all(|b| b["status"] == "triggered" && b["value"] == 500.0)
    );

    // The history: every evaluation, newest first, with the delivery.
    let h =
        f.s.get(&format!("/v1/alerts/{id}/history"), &f.key)
            .await
            .json();
    let h = h["data"].as_array().unwrap().clone();
    assert_eq!(h.len(), 6);
    assert_eq!(h[0]["state"], "triggered");
    assert_eq!(h[0]["delivery"]["attempts"], 3);
    assert_eq!(h[0]["delivery"]["ok"], true);
    // The URL's path (a Slack URL's secret) is not kept in the history.
    let recorded = h[0]["delivery"]["url"].as_str().unwrap();
    assert!(!recorded.contains("/hook"), "{recorded}");
    assert!(
        base.ends_with(&recorded.replace("/…", "")[7..]),
        "{recorded}"
    );
    assert_eq!(h[1]["state"], "muted");
    assert_eq!(h[5]["state"], "active");

    // A webhook that never answers 2xx: attempts = 1 + retries, recorded.
    f.s.json(
        "PATCH",
        &format!("/v1/alerts/{id}"),
        &f.key,
        json!({"threshold": 1000}),
    )
    .await;
    *receiver.fail.lock().unwrap() = 100;
    f.clock.advance(H);
    f.event(10.0).await;
    assert_eq!(
        f.evaluate().await,
        vec![(id.clone(), Resolved, Notify::Resolved)]
    );
    let h =
        f.s.get(&format!("/v1/alerts/{id}/history?limit=1"), &f.key)
            .await
            .json();
    assert_eq!(h["data"][0]["delivery"]["attempts"], 4);
    assert_eq!(h["data"][0]["delivery"]["ok"], false);
    *receiver.fail.lock().unwrap() = 0;

    // Slack-compatible body; drift against the previous window.
    let r =
        f.s.json(
            "POST",
            "/v1/alerts",
            &f.key,
            json!({"name": "more events", "type": "drift", "comparison": "above", "threshold": 50,
                   "frequency": "1h", "query": {"aggregation": "count"},
                   "webhook": {"url": format!("{base}/slack"), "slack": true}}),
        )
        .await;
    let drift_id = r.json()["data"]["id"].as_str().unwrap().to_owned();
    f.clock.advance(H);
    f.event(1.0).await;
    f.event(1.0).await;
    let out = f.evaluate().await;
    // Previous hour had 1 event, this one 2: +100% > 50%.
    assert!(
        out.contains(&(drift_id.clone(), Triggered, Notify::Fired)),
        "{out:?}"
    );
    let slack = receiver.bodies("/slack");
    assert_eq!(slack.len(), 1);
    assert!(slack[0]["text"].as_str().unwrap().contains("more events"));

    // Delete removes the rule and its history.
    let r =
        f.s.call(
            "DELETE",
            &format!("/v1/alerts/{drift_id}"),
            &f.key,
            "",
            "application/json",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        f.s.get(&format!("/v1/alerts/{drift_id}/history"), &f.key)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// A fixture with a fresh server whose alerts use `config`, and a key of
/// project team-a.
async fn fixture(config: AlertConfig) -> Fixture {
    let clock = Arc::new(ManualClock::new(T0));
    let s = server_with_alerts(
        WriterConfig::default(),
        ApiConfig::default(),
        AlertRuntime::new(clock.clone(), config),
    );
    let key = s.key("read_write", "team-a").await;
    Fixture {
        s,
        clock,
        key,
        n: 0,
    }
}

fn quick() -> AlertConfig {
    AlertConfig {
        retries: 1,
        backoff: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
        // Receivers listen on 127.0.0.1.
        webhook_allow_private: true,
        ..AlertConfig::default()
    }
}

impl Fixture {
    async fn create(&self, rule: Value) -> String {
        let r = self.s.json("POST", "/v1/alerts", &self.key, rule).await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.bytes)
        );
        r.json()["data"]["id"].as_str().unwrap().to_owned()
    }

    async fn history(&self, id: &str) -> Vec<Value> {
        let h = self
            .s
            .get(&format!("/v1/alerts/{id}/history"), &self.key)
            .await
            .json();
        h["data"].as_array().unwrap().clone()
    }

    /// A dashboard cookie (through a one-time login link).
    async fn web_cookie(&self) -> String {
        common::dashboard_cookie(&self.s).await
    }

    async fn page(&self, cookie: &str, path: &str) -> String {
        let r = self
            .s
            .raw(
                axum::http::Request::builder()
                    .uri(path)
                    .header("cookie", cookie)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        String::from_utf8(r.bytes).unwrap()
    }
}

#[tokio::test]
async fn https_webhooks_with_the_ca_trusted_and_not() {
    let (receiver, base) = Receiver::start_tls();
    let rule = json!({"name": "slow over https", "type": "aggregate", "comparison": "above",
        "threshold": 100, "frequency": "hourly",
        "query": {"metric": "metrics.latency_ms", "aggregation": "avg"},
        "webhook": {"url": format!("{base}/tls-hook")}});

    // The test CA trusted (besides Mozilla's roots): delivered, once.
    let ca = WebhookCa::from_file(std::path::Path::new(&format!("{FIXTURES}/ca.pem"))).unwrap();
    let mut f = fixture(AlertConfig {
        webhook_ca: Some(ca),
        ..quick()
    })
    .await;
    let id = f.create(rule.clone()).await;
    f.event(500.0).await;
    assert_eq!(
        f.evaluate().await,
        vec![(id.clone(), AlertState::Triggered, Notify::Fired)]
    );
    f.clock.advance(H);
    f.event(600.0).await;
    assert_eq!(
        f.evaluate().await,
        vec![(id.clone(), AlertState::Triggered, Notify::Nothing)]
    );
    let sent = receiver.bodies("/tls-hook");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["status"], "triggered");
    assert_eq!(sent[0]["value"], 500.0);
    assert_eq!(sent[0]["alert"]["id"], id);
    let head = receiver.heads.lock().unwrap()[0].clone();
    assert!(head.starts_with("post /tls-hook http/1.1"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    assert!(head.contains("user-agent: hive-alerts"), "{head}");
    let h = f.history(&id).await;
    assert_eq!(h[1]["delivery"]["ok"], true, "{:?}", h[1]);
    assert_eq!(h[1]["delivery"]["attempts"], 1);
    assert_eq!(h[1]["delivery"]["error"], Value::Null);

    // Not trusted (Mozilla's roots only): every attempt fails on the
    // certificate, and the history says so.
    let mut f = fixture(quick()).await;
    let id = f.create(rule).await;
    f.event(500.0).await;
    assert_eq!(
        f.evaluate().await,
        vec![(id.clone(), AlertState::Triggered, Notify::Fired)]
    );
    assert_eq!(
        receiver.bodies("/tls-hook").len(),
        1,
        "nothing more arrived"
    );
    let h = f.history(&id).await;
    let delivery = &h[0]["delivery"];
    assert_eq!(delivery["ok"], false);
    assert_eq!(delivery["attempts"], 2);
    let error = delivery["error"].as_str().unwrap();
    let host = base.trim_start_matches("https://");
    assert!(
        error.contains(&format!(
            "TLS certificate of {host} rejected: it is not signed by a trusted CA"
        )) && error.contains("--webhook-ca"),
        "{error}"
    );
}

#[tokio::test]
async fn webhook_urls_must_be_http_or_https() {
    let f = fixture(quick()).await;
    for url in [
        "ftp://127.0.0.1/x",
        "hooks.slack.com/services/x",
        "https:///x",
    ] {
        let r =
            f.s.json(
                "POST",
                "/v1/alerts",
                &f.key,
                json!({"name": "x", "threshold": 1, "webhook": {"url": url}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}");
        let msg = r.json().to_string();
        assert!(msg.contains("webhook.url: "), "{url}: {msg}");
    }
    let r =
        f.s.json(
            "POST",
            "/v1/alerts",
            &f.key,
            json!({"name": "x", "threshold": 1, "webhook": {"url": "ftp://x/y"}}),
        )
        .await;
    assert!(
        r.json()
            .to_string()
            .contains(r#"the scheme \"ftp\" is not supported, use http:// or https://"#),
        "{}",
        r.json()
    );
    // Updates are checked the same way; https is accepted.
    let id = f
        .create(json!({"name": "x", "threshold": 1,
                       "webhook": {"url": "https://hooks.example.com/x", "slack": true}}))
        .await;
    let r =
        f.s.json(
            "PATCH",
            &format!("/v1/alerts/{id}"),
            &f.key,
            json!({"webhook": {"url": "gopher://x"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // The dashboard's form says what is wrong.
    let cookie = f.web_cookie().await;
    let page = f.page(&cookie, "/alerts?project=team-a").await;
    let csrf = page
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let form = format!(
        "csrf={csrf}&project=team-a&name=x&agg=count&metric=&ff=&fv=&gb=&type=aggregate\
         &comparison=above&threshold=1&frequency=hourly&webhook=ftp%3A%2F%2Fx%2Fy"
    );
    let r =
        f.s.raw(
            axum::http::Request::builder()
                .method("POST")
                .uri("/alerts")
                .header("cookie", &cookie)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(axum::body::Body::from(form))
                .unwrap(),
        )
        .await;
    let html = String::from_utf8_lossy(&r.bytes);
    assert!(
        html.contains("is not supported, use http:// or https://"),
        "{html}"
    );
}

#[tokio::test]
async fn grouped_rule_fires_when_one_variant_crosses_and_resolves() {
    use AlertState::*;
    let (receiver, base) = Receiver::start().await;
    let mut f = fixture(quick()).await;
    let query = json!({"metric": "metrics.latency_ms", "aggregation": "p95",
                       "groupBy": "metadata.variant"});
    let id = f
        .create(
            json!({"name": "slow variant", "type": "aggregate", "comparison": "above",
            "threshold": 2000, "frequency": "hourly", "query": query,
            "webhook": {"url": format!("{base}/hook")}}),
        )
        .await;
    let slack_id = f
        .create(
            json!({"name": "slow variant (slack)", "type": "aggregate", "comparison": "above",
            "threshold": 2000, "frequency": "hourly", "query": query,
            "webhook": {"url": format!("{base}/slack"), "slack": true}}),
        )
        .await;
    let both = |state, notify| {
        vec![
            (id.clone(), state, notify),
            (slack_id.clone(), state, notify),
        ]
    };
    let sorted = |mut v: Vec<(String, AlertState, Notify)>| {
        v.sort_by_key(|(i, _, _)| (i != &id, i.clone()));
        v
    };

    // Every variant fast: nothing.
    for v in ["a", "b", "c<script>"] {
        f.event_of(Some(v), 100.0).await;
    }
    f.event_of(None, 300.0).await;
    assert_eq!(sorted(f.evaluate().await), both(Active, Notify::Nothing));
    let h = f.history(&id).await;
    assert_eq!(h[0]["crossed"], false);
    assert_eq!(h[0]["group_by"], "metadata.variant");
    assert_eq!(h[0]["groups"], json!([]));
    assert_eq!(h[0]["groups_evaluated"], 4);
    // The value recorded is the slowest group's: the one without a variant.
    assert_eq!(
        (h[0]["value"].clone(), h[0]["group"].clone()),
        (json!(300.0), Value::Null)
    );

    // Variant b slow: fires once, naming b.
    f.clock.advance(H);
    for (v, ms) in [
        ("a", 100.0),
        ("b", 2500.0),
        ("b", 2400.0),
        ("c<script>", 150.0),
    ] {
        f.event_of(Some(v), ms).await;
    }
    assert_eq!(sorted(f.evaluate().await), both(Triggered, Notify::Fired));
    let sent = receiver.bodies("/hook");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["status"], "triggered");
    assert_eq!(sent[0]["group_by"], "metadata.variant");
    assert_eq!(sent[0]["group"], "b");
    assert_eq!(sent[0]["value"], 2500.0);
    assert_eq!(
        sent[0]["groups"],
        json!([{"group": "b", "value": 2500.0, "previous": null, "change_percent": null}])
    );
    assert_eq!(sent[0]["groups_more"], 0);
    let slack = receiver.bodies("/slack");
    assert_eq!(slack.len(), 1);
    let text = slack[0]["text"].as_str().unwrap();
    assert!(
        text.contains("triggered (p95 above 2000) for metadata.variant b: 2500."),
        "{text}"
    );
    let h = f.history(&id).await;
    assert_eq!(h[0]["groups"][0]["group"], "b");
    assert_eq!(h[0]["crossed"], true);

    // Still crossed, by more variants: one state per rule, nothing sent;
    // the history lists them worst first, the null group included.
    f.clock.advance(H);
    for (v, ms) in [(Some("a"), 3000.0), (Some("b"), 2600.0), (None, 2100.0)] {
        f.event_of(v, ms).await;
    }
    f.event_of(Some("c<script>"), 9000.0).await;
    assert_eq!(sorted(f.evaluate().await), both(Triggered, Notify::Nothing));
    assert_eq!(receiver.bodies("/hook").len(), 1);
    let h = f.history(&id).await;
    let groups: Vec<Value> = h[0]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| json!([g["group"], g["value"]]))
        .collect();
    assert_eq!(
        groups,
        vec![
            json!(["c<script>", 9000.0]),
            json!(["a", 3000.0]),
            json!(["b", 2600.0]),
            json!([null, 2100.0])
        ]
    );
    assert_eq!(h[0]["value"], 9000.0);

    // The dashboard's history names the groups, escaped.
    let cookie = f.web_cookie().await;
    let page = f
        .page(&cookie, &format!("/alerts/{id}?project=team-a"))
        .await;
    assert!(page.contains("for any metadata.variant"), "{page}");
    assert!(
        page.contains("<th>Crossing metadata.variant</th>"),
        "{page}"
    );
    assert!(
        page.contains("<code>c&#60;script&#62;</code> 9000"),
        "{page}"
    );
    assert!(page.contains("<code>(none)</code> 2100"), "{page}");
    assert!(!page.contains("<script>"), "user data is escaped");

    // Every variant back: resolves once.
    f.clock.advance(H);
    for v in ["a", "b", "c<script>"] {
        f.event_of(Some(v), 100.0).await;
    }
    assert_eq!(sorted(f.evaluate().await), both(Resolved, Notify::Resolved));
    let sent = receiver.bodies("/hook");
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1]["status"], "resolved");
    assert_eq!(sent[1]["groups"], json!([]));
    assert_eq!(sent[1]["value"], 100.0);
    let slack = receiver.bodies("/slack");
    assert_eq!(slack.len(), 2);
    let text = slack[1]["text"].as_str().unwrap();
    assert!(
        text.contains("resolved: no metadata.variant crosses (p95 above 2000); closest a: 100."),
        "{text}"
    );
}

/// A webhook endpoint that accepts connections and never answers.
async fn silent_endpoint() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    (format!("http://{addr}"), task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_webhook_holds_up_neither_users_nor_other_rules() {
    let f = fixture(AlertConfig {
        retries: 1,
        backoff: Duration::from_millis(10),
        timeout: Duration::from_secs(3),
        // Receivers listen on 127.0.0.1.
        webhook_allow_private: true,
        ..AlertConfig::default()
    })
    .await;
    let (silent, _silent) = silent_endpoint().await;
    let (receiver, base) = Receiver::start().await;
    let rule = |name: &str, url: String| {
        json!({"name": name, "type": "aggregate", "comparison": "above", "threshold": -1,
               "frequency": "hourly", "query": {"aggregation": "count"},
               "webhook": {"url": url}})
    };
    let hanging = f.create(rule("hanging", format!("{silent}/hook"))).await;
    let fine = f.create(rule("fine", format!("{base}/fine"))).await;

    let state = f.s.state.clone();
    let started = std::time::Instant::now();
    let evaluation = tokio::spawn(async move { evaluate_due(&state).await.unwrap() });
    // The other rule's notification arrives while the first one hangs.
    while receiver.bodies("/fine").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "the other rule's webhook waited for the hanging one"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A user can mute the rule whose webhook hangs, at once.
    let t = std::time::Instant::now();
    assert_eq!(f.action(&hanging, "mute").await, StatusCode::OK);
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "muting waited {:?} for the delivery",
        t.elapsed()
    );
    assert!(
        !evaluation.is_finished(),
        "the hanging delivery is still going"
    );
    let outcomes = evaluation.await.unwrap();
    assert_eq!(outcomes.len(), 2);
    // Both evaluations are recorded, with what their delivery came to.
    let h = f.history(&hanging).await;
    assert_eq!(h[0]["delivery"]["ok"], false);
    assert_eq!(h[0]["delivery"]["attempts"], 2);
    assert!(
        h[0]["delivery"]["error"]
            .as_str()
            .unwrap()
            .contains("did not answer"),
        "{}",
        h[0]["delivery"]
    );
    assert_eq!(f.history(&fine).await[0]["delivery"]["ok"], true);
}

#[tokio::test]
async fn a_grouped_count_alert_notices_a_group_that_stopped() {
    let mut f = fixture(quick()).await;
    let (receiver, base) = Receiver::start().await;
    let id = f
        .create(
            json!({"name": "quiet variant", "type": "aggregate", "comparison": "below",
                       "threshold": 1, "frequency": "hourly",
                       "query": {"aggregation": "count", "groupBy": "metadata.variant"},
                       "webhook": {"url": format!("{base}/quiet")}}),
        )
        .await;
    // Both variants in the first hour: nothing crosses.
    f.event_of(Some("a"), 10.0).await;
    f.event_of(Some("b"), 10.0).await;
    assert_eq!(f.evaluate().await[0].2, Notify::Nothing);
    // The next hour only "a" has events: "b" counts 0 and crosses.
    f.clock.advance(H);
    f.event_of(Some("a"), 10.0).await;
    let outcome = f.evaluate().await;
    assert_eq!(
        (outcome[0].0.as_str(), outcome[0].1, outcome[0].2),
        (id.as_str(), AlertState::Triggered, Notify::Fired)
    );
    let body = &receiver.bodies("/quiet")[0];
    assert_eq!(body["groups"][0]["group"], "b", "{body}");
    assert_eq!(body["groups"][0]["value"], 0.0);
}

/// A webhook endpoint that records each request's body on arrival and
/// answers the first one only after `hold`.
async fn slow_first_endpoint(hold: Duration) -> (String, Arc<std::sync::Mutex<Vec<Value>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = got.clone();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut conn, _)) = listener.accept().await {
            n += 1;
            let (seen, first) = (seen.clone(), n == 1);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let body = loop {
                    let k = conn.read(&mut chunk).await.unwrap_or(0);
                    if k == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..k]);
                    if let Some((_, _, body)) = parse_request(&buf) {
                        break body;
                    }
                };
                seen.lock().unwrap().push(body);
                if first {
                    tokio::time::sleep(hold).await;
                }
                let _ = conn
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (format!("http://{addr}"), got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rules_notifications_arrive_in_order_when_one_is_slow() {
    let mut f = fixture(quick()).await;
    let (url, got) = slow_first_endpoint(Duration::from_millis(1500)).await;
    f.create(
        json!({"name": "slow", "type": "aggregate", "comparison": "above", "threshold": 100,
                    "frequency": "hourly",
                    "query": {"metric": "metrics.latency_ms", "aggregation": "avg"},
                    "webhook": {"url": format!("{url}/hook")}}),
    )
    .await;
    f.event(500.0).await;
    let state = f.s.state.clone();
    let first = tokio::spawn(async move { evaluate_due(&state).await.unwrap() });
    while got.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The next hour is fine again: the rule resolves while "triggered" is
    // still being delivered; "resolved" waits for it.
    f.clock.advance(H);
    f.event(10.0).await;
    let state = f.s.state.clone();
    let second = tokio::spawn(async move { evaluate_due(&state).await.unwrap() });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(got.lock().unwrap().len(), 1, "resolved overtook triggered");
    first.await.unwrap();
    second.await.unwrap();
    let statuses: Vec<Value> = got
        .lock()
        .unwrap()
        .iter()
        .map(|b| b["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("triggered"), json!("resolved")]);
}

/// A `CONNECT` proxy on 127.0.0.1 (blocking threads): records each
/// request's target and `Proxy-Authorization`, then tunnels to the target,
/// or answers 403 when `refuse`.
struct ConnectProxy {
    url: String,
    seen: Arc<Mutex<Vec<Tunnel>>>,
}

/// A `CONNECT` target and the `Proxy-Authorization` sent with it.
type Tunnel = (String, Option<String>);

impl ConnectProxy {
    fn start(refuse: bool) -> ConnectProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut client) = conn else { return };
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if client.read(&mut byte).unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let head = String::from_utf8_lossy(&head).to_string();
                    let mut lines = head.lines();
                    let first = lines.next().unwrap_or_default();
                    let target = first
                        .strip_prefix("CONNECT ")
                        .and_then(|r| r.split(' ').next())
                        .unwrap_or(first)
                        .to_owned();
                    let auth = lines.find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("proxy-authorization")
                            .then(|| v.trim().to_owned())
                    });
                    log.lock().unwrap().push((target.clone(), auth));
                    if refuse || !first.starts_with("CONNECT ") {
                        let _ = client
                            .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
                        return;
                    }
                    // A name only this proxy resolves.
                    let upstream = target.replace("receiver.test", "127.0.0.1");
                    let Ok(mut upstream) = std::net::TcpStream::connect(&upstream) else {
                        let _ = client
                            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
                        return;
                    };
                    client
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .unwrap();
                    let (mut c2, mut u2) =
                        (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut u2, &mut c2);
                        let _ = c2.shutdown(std::net::Shutdown::Write);
                    });
                    let _ = std::io::copy(&mut client, &mut upstream);
                    let _ = upstream.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        ConnectProxy { url, seen }
    }
}

#[tokio::test]
async fn webhooks_go_through_the_configured_proxy() {
    let (receiver, base) = Receiver::start().await;
    let target = base.trim_start_matches("http://").to_owned();
    let rule = |path: &str| {
        json!({"name": "slow via proxy", "type": "aggregate", "comparison": "above",
            "threshold": 100, "frequency": "hourly",
            "query": {"metric": "metrics.latency_ms", "aggregation": "avg"},
            "webhook": {"url": format!("{base}{path}")}})
    };

    // Through a proxy with credentials: delivered once, tunnelled.
    let proxy = ConnectProxy::start(false);
    let with_creds = proxy.url.replace("http://", "http://alerts:s3cret@");
    let mut f = fixture(AlertConfig {
        webhook_proxy: Some(hive_server::webhook::WebhookProxy::parse(&with_creds).unwrap()),
        ..quick()
    })
    .await;
    let id = f.create(rule("/via-proxy")).await;
    f.event(500.0).await;
    assert_eq!(
        f.evaluate().await,
        vec![(id.clone(), AlertState::Triggered, Notify::Fired)]
    );
    let sent = receiver.bodies("/via-proxy");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["value"], 500.0);
    let seen = proxy.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![(
            target.clone(),
            Some("Basic YWxlcnRzOnMzY3JldA==".to_owned())
        )],
        "one CONNECT to the receiver, with the credentials"
    );
    let h = f.history(&id).await;
    assert_eq!(h[0]["delivery"]["ok"], true, "{:?}", h[0]);

    // Without --webhook-allow-private the proxy (on loopback: the
    // operator's choice) is still used, and a host that only the proxy
    // resolves is delivered to; a private address is refused at save time.
    let mut strict = fixture(AlertConfig {
        webhook_proxy: Some(hive_server::webhook::WebhookProxy::parse(&proxy.url).unwrap()),
        webhook_allow_private: false,
        ..quick()
    })
    .await;
    let r = strict
        .s
        .json("POST", "/v1/alerts", &strict.key, rule("/private"))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("webhook.url: ")
    );
    let mut named = rule("/named");
    named["webhook"]["url"] = json!(format!(
        "{}/named",
        base.replace("127.0.0.1", "receiver.test")
    ));
    let id = strict.create(named).await;
    strict.event(500.0).await;
    strict.evaluate().await;
    assert_eq!(receiver.bodies("/named").len(), 1);
    let h = strict.history(&id).await;
    assert_eq!(h[0]["delivery"]["ok"], true, "{:?}", h[0]);
    let (tunnel, _) = proxy.seen.lock().unwrap().pop().unwrap();
    assert!(tunnel.starts_with("receiver.test:"), "{tunnel}");

    // HTTPS through the same proxy: the tunnel carries TLS end to end
    // (the receiver's certificate is checked against the test CA).
    let (tls_receiver, tls_base) = Receiver::start_tls();
    let ca = WebhookCa::from_file(std::path::Path::new(&format!("{FIXTURES}/ca.pem"))).unwrap();
    let mut f = fixture(AlertConfig {
        webhook_proxy: Some(hive_server::webhook::WebhookProxy::parse(&with_creds).unwrap()),
        webhook_ca: Some(ca),
        ..quick()
    })
    .await;
    let mut tls_rule = rule("/tls-via-proxy");
    tls_rule["webhook"]["url"] = json!(format!("{tls_base}/tls-via-proxy"));
    let id = f.create(tls_rule).await;
    f.event(500.0).await;
    assert_eq!(
        f.evaluate().await,
        vec![(id.clone(), AlertState::Triggered, Notify::Fired)]
    );
    assert_eq!(tls_receiver.bodies("/tls-via-proxy").len(), 1);
    // Two tunnels: Mozilla's roots refuse the test CA's certificate, then
    // the extra CA accepts it, each over its own connection.
    let tunnels = proxy.seen.lock().unwrap().clone();
    let tls_host = tls_base.trim_start_matches("https://");
    assert_eq!(tunnels.len(), 3, "{tunnels:?}");
    assert!(
        tunnels[1..].iter().all(|(t, _)| t == tls_host),
        "{tunnels:?}"
    );

    // A proxy that refuses: each attempt fails, the history names the
    // proxy (never its credentials) and what it answered.
    let refusing = ConnectProxy::start(true);
    let mut f = fixture(AlertConfig {
        webhook_proxy: Some(
            hive_server::webhook::WebhookProxy::parse(
                &refusing.url.replace("http://", "http://alerts:s3cret@"),
            )
            .unwrap(),
        ),
        ..quick()
    })
    .await;
    let id = f.create(rule("/refused")).await;
    f.event(500.0).await;
    assert_eq!(
        f.evaluate().await,
        vec![(id.clone(), AlertState::Triggered, Notify::Fired)]
    );
    assert!(receiver.bodies("/refused").is_empty());
    assert_eq!(refusing.seen.lock().unwrap().len(), 2, "two attempts");
    let h = f.history(&id).await;
    let delivery = &h[0]["delivery"];
    assert_eq!(delivery["ok"], false);
    assert_eq!(delivery["attempts"], 2);
    let error = delivery["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "the proxy {} did not open a tunnel to {target}",
            refusing.url
        )) && error.contains("403")
            && !error.contains("s3cret"),
        "{error}"
    );

    // A proxy that is down: the history says the proxy cannot be reached.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut f = fixture(AlertConfig {
        webhook_proxy: Some(hive_server::webhook::WebhookProxy::parse(&down).unwrap()),
        ..quick()
    })
    .await;
    let id = f.create(rule("/down")).await;
    f.event(500.0).await;
    f.evaluate().await;
    let h = f.history(&id).await;
    let error = h[0]["delivery"]["error"].as_str().unwrap();
    assert!(error.contains(&format!("the proxy {down}")), "{error}");
}

/// Rules of several projects, of several kinds (a filtered average, a
/// drift that reads the window before, a grouped count, which also reads
/// it, and another project's rule), due in the same round: each project's
/// windows are read together, and each rule records what its own windows
/// hold, counted by hand here.
#[tokio::test]
async fn rules_due_together_each_read_their_own_windows() {
    let clock = Arc::new(ManualClock::new(T0));
    let s = server_with_alerts(
        WriterConfig::default(),
        ApiConfig::default(),
        AlertRuntime::new(clock.clone(), quick()),
    );
    let a = s.key("read_write", "team-a").await;
    let b = s.key("read_write", "team-b").await;
    let mut n = 0;
    let mut send = async |key: &str, at: i64, variant: &str, latency: f64| {
        n += 1;
        let r = s
            .json(
                "POST",
                "/v1/events",
                key,
                json!({"event": {"event_id": format!("00000000-0000-4000-8000-{n:012}"),
                       "session_id": format!("00000000-0000-4000-8000-9999999999{}", &key[3..5]),
                       "event_type": "model", "event_name": "llm", "source": "test",
                       "start_time": at, "end_time": at + 10,
                       "metadata": {"variant": variant}, "metrics": {"latency_ms": latency}}}),
            )
            .await;
        r.expect_ok();
    };
    let create = async |key: &str, rule: Value| -> String {
        let r = s.json("POST", "/v1/alerts", key, rule).await;
        r.expect_ok().json()["data"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let avg_a = create(
        &a,
        json!({"name": "slow a", "threshold": 150, "frequency": "hourly",
               "query": {"metric": "metrics.latency_ms", "aggregation": "avg",
                         "filters": [{"field": "metadata.variant", "operator": "is",
                                      "value": "a", "type": "string"}]}}),
    )
    .await;
    let drift = create(
        &a,
        json!({"name": "more events", "type": "drift", "threshold": 40, "frequency": "hourly",
               "query": {"aggregation": "count",
                         "filters": [{"field": "event_type", "operator": "is",
                                      "value": "model", "type": "string"}]}}),
    )
    .await;
    let grouped = create(
        &a,
        json!({"name": "quiet variant", "comparison": "below", "threshold": 1,
               "frequency": "hourly",
               "query": {"aggregation": "count", "groupBy": "metadata.variant",
                         "filters": [{"field": "event_type", "operator": "is",
                                      "value": "model", "type": "string"}]}}),
    )
    .await;
    let avg_b = create(
        &b,
        json!({"name": "slow b", "threshold": 500, "frequency": "hourly",
               "query": {"metric": "metrics.latency_ms", "aggregation": "avg"}}),
    )
    .await;
    // Hour 0: a: 100 (a), 300 (a), 50 (b); b: 1000.
    for (key, v, ms) in [
        (&a, "a", 100.0),
        (&a, "a", 300.0),
        (&a, "b", 50.0),
        (&b, "a", 1000.0),
    ] {
        send(key, T0 + 10 * 60_000, v, ms).await;
    }
    clock.advance(H);
    let first = evaluate_due(&s.state).await.unwrap();
    assert_eq!(first.len(), 4, "every rule evaluated in the round");
    let history = async |key: &str, id: &str| -> Value {
        let h = s.get(&format!("/v1/alerts/{id}/history"), key).await.json();
        h["data"][0].clone()
    };
    assert_eq!(history(&a, &avg_a).await["value"], 200.0);
    assert_eq!(history(&a, &drift).await["value"], 3.0);
    assert_eq!(history(&a, &grouped).await["groups_evaluated"], 2);
    assert_eq!(history(&b, &avg_b).await["value"], 1000.0);
    assert_eq!(history(&b, &avg_b).await["crossed"], true);
    // Hour 1: a: 400 (a), 20 (a), 30 (a), 40 (a); variant b stops; b: 100.
    for (key, v, ms) in [
        (&a, "a", 400.0),
        (&a, "a", 20.0),
        (&a, "a", 30.0),
        (&a, "a", 40.0),
        (&b, "a", 100.0),
    ] {
        send(key, T0 + H + 10 * 60_000, v, ms).await;
    }
    clock.advance(H);
    assert_eq!(evaluate_due(&s.state).await.unwrap().len(), 4);
    assert_eq!(history(&a, &avg_a).await["value"], 122.5);
    let d = history(&a, &drift).await;
    assert_eq!(
        (d["value"].clone(), d["previous"].clone()),
        (json!(4.0), json!(3.0))
    );
    assert_eq!(d["crossed"], false, "{d}");
    let g = history(&a, &grouped).await;
    assert_eq!(g["crossed"], true, "variant b stopped: {g}");
    assert_eq!(g["groups"][0]["group"], "b", "{g}");
    let h = history(&b, &avg_b).await;
    assert_eq!(
        (h["value"].clone(), h["crossed"].clone()),
        (json!(100.0), json!(false))
    );
}
