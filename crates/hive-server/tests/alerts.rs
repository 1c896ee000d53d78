//! Alerts end to end: a webhook receiver on 127.0.0.1, a manual clock, and
//! the evaluator called at chosen instants.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use common::{TestServer, server_with_alerts};
use hive_core::alert::{AlertState, Notify};
use hive_server::alerts::{AlertConfig, AlertRuntime, ManualClock, evaluate_due};
use hive_server::{ApiConfig, WriterConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000;
const H: i64 = 3_600_000;

/// Records every request's path and JSON body; answers 500 to the first
/// `fail` requests, then 200.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(String, Value)>>>,
    fail: Arc<Mutex<u32>>,
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
                        let text = String::from_utf8_lossy(&buf).to_string();
                        if let Some(i) = text.find("\r\n\r\n") {
                            let len: usize = text[..i]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse().unwrap())
                                })
                                .unwrap_or(0);
                            if buf.len() >= i + 4 + len {
                                let path = text.split_whitespace().nth(1).unwrap_or("").to_owned();
                                let body: Value =
                                    serde_json::from_slice(&buf[i + 4..i + 4 + len]).unwrap();
                                rc.got.lock().unwrap().push((path, body));
                                break;
                            }
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
    /// An event with this latency, a minute before now.
    async fn event(&mut self, latency: f64) {
        self.n += 1;
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
                       "metadata": {"variant": "a"}, "metrics": {"latency_ms": latency}}}),
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
