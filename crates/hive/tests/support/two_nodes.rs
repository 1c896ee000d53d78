//! The scenario of issue 10 for two `hive serve --clickhouse` nodes
//! (separate data directories, so separate ingest logs) sharing one
//! ClickHouse, whether one server or a cluster:
//!
//! - 60 enrichers split across both nodes write the same session at once:
//!   no key is lost and the history has every patch once;
//! - alert rules are evaluated once per rule and window across the nodes,
//!   and no notification is sent twice (a webhook receiver on 127.0.0.1);
//! - a node killed with `kill -9` mid-ingest has every span it acknowledged
//!   once it is restarted.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Acked, Hive, api, get_ready, span_json, verify_session};

/// The arguments both nodes need besides `--clickhouse`: webhooks to
/// 127.0.0.1, and evaluators ticking every 200 ms.
pub const ARGS: [&str; 3] = ["--webhook-allow-private", "--alert-tick-ms", "200"];

/// Wait until `hive` has applied everything it acknowledged.
pub fn wait_applied(addr: &str, key: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let s = get_ready(addr, key, "/v1/stats", Duration::from_secs(10));
        let log = &s["ingest_log"];
        if log["applied_position"] == log["durable_position"] {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the applier does not catch up: {s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A webhook receiver on 127.0.0.1: every JSON body it was sent.
pub fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let sink = sink.clone();
            std::thread::spawn(move || {
                conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
                let Some((body, _)) = read_request(&mut conn) else {
                    return;
                };
                sink.lock().unwrap().push(body);
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            });
        }
    });
    (url, got)
}

/// One HTTP/1.1 request read from `conn`: its JSON body (`null` if it is
/// not JSON) and its `Idempotency-Key` (empty without one); `None` if the
/// connection ends first.
pub fn read_request(conn: &mut std::net::TcpStream) -> Option<(Value, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = conn.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let header = |name: &str| {
            head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        let len = header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        if body.len() >= len {
            let key = header("idempotency-key").unwrap_or_default();
            return Some((
                serde_json::from_str(&body[..len]).unwrap_or(Value::Null),
                key,
            ));
        }
    }
}

/// Run the scenario on `node1` and `node2` (started with [`ARGS`]; the
/// admin key is `key`); `node2` is killed and restarted on `node2_dir`
/// with `node2_args`. `started` times the log lines.
pub fn exercise(
    started: Instant,
    key: &str,
    node1: &Hive,
    mut node2: Hive,
    node2_dir: &Path,
    node2_args: &[&str],
) {
    let nodes = [node1.addr.clone(), node2.addr.clone()];

    // Alert rules that cross at once (a count below a million), created on
    // one node: both nodes' evaluators see each due every 200 ms.
    let (hook, notifications) = receiver();
    let mut rules = Vec::new();
    for i in 0..12 {
        let (status, body) = api(
            &nodes[i % 2],
            "POST",
            "/v1/alerts",
            key,
            &json!({"name": format!("rule {i}"), "type": "aggregate", "comparison": "below",
                    "threshold": 1_000_000, "frequency": "hourly",
                    "query": {"aggregation": "count"}, "webhook": {"url": hook}})
            .to_string(),
        )
        .unwrap();
        assert_eq!(status, 200, "{body}");
        let id = body["id"]
            .as_str()
            .or_else(|| body["data"]["id"].as_str())
            .or_else(|| body["alert"]["id"].as_str())
            .unwrap_or_else(|| panic!("no id in {body}"))
            .to_owned();
        rules.push(id);
    }

    // 60 enrichers, 30 per node, 10 patches each, on one session.
    let session = "dddddddd-0000-4000-8000-000000000001";
    let (status, body) = api(
        &nodes[0],
        "POST",
        "/session/start",
        key,
        &json!({"session": {"session_id": session}}).to_string(),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let enrichers: Vec<_> = (0..60)
        .map(|t| {
            let (addr, key) = (nodes[t % 2].clone(), key.to_owned());
            std::thread::spawn(move || {
                let mut keys = Vec::new();
                for i in 0..10 {
                    let k = format!("e{t}_{i}");
                    let body = json!({"event_id": session, "metadata": {&k: i}});
                    let (status, body) =
                        api(&addr, "PUT", "/events", &key, &body.to_string()).expect("an answer");
                    assert_eq!(status, 200, "{body}");
                    keys.push(k);
                }
                keys
            })
        })
        .collect();
    let mut acked = Acked::default();
    for e in enrichers {
        acked.keys.extend(e.join().unwrap());
    }
    assert_eq!(acked.keys.len(), 600);
    for addr in &nodes {
        wait_applied(addr, key, Duration::from_secs(60));
    }
    // Both nodes read the same, complete session.
    for addr in &nodes {
        verify_session(addr, key, session, &acked);
    }
    eprintln!(
        "{:.1} s: enrichers checked",
        started.elapsed().as_secs_f64()
    );

    // Every rule is evaluated once (its first window), by one node, and
    // notified once.
    let deadline = Instant::now() + Duration::from_secs(60);
    let history = |id: &str| -> Vec<Value> {
        let v = get_ready(
            &nodes[0],
            key,
            &format!("/v1/alerts/{id}/history"),
            Duration::from_secs(10),
        );
        v["data"]
            .as_array()
            .or_else(|| v["history"].as_array())
            .or_else(|| v.as_array())
            .cloned()
            .unwrap_or_else(|| panic!("history: {v}"))
    };
    while rules.iter().any(|id| history(id).is_empty()) {
        assert!(Instant::now() < deadline, "rules are not evaluated");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Long enough for a second claim round of either node to show.
    std::thread::sleep(Duration::from_secs(5));
    for id in &rules {
        let h = history(id);
        assert_eq!(h.len(), 1, "rule {id} evaluated {} times: {h:?}", h.len());
        assert_eq!(h[0]["notified"], "triggered", "{h:?}");
    }
    let got = notifications.lock().unwrap().clone();
    let mut per_rule: BTreeMap<String, usize> = BTreeMap::new();
    for n in &got {
        *per_rule
            .entry(n["alert"]["id"].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    for id in &rules {
        assert_eq!(per_rule.get(id), Some(&1), "notifications: {per_rule:?}");
    }
    assert_eq!(got.len(), rules.len(), "{per_rule:?}");
    eprintln!("{:.1} s: alerts checked", started.elapsed().as_secs_f64());

    // kill -9 of node 2 mid-ingest; everything it acknowledged is there
    // once it is restarted (its ingest log is replayed).
    let spans_session = "dddddddd-0000-4000-8000-000000000002";
    let stop = Arc::new(AtomicBool::new(false));
    let acked_spans = Arc::new(Mutex::new(Acked::default()));
    let senders: Vec<_> = (0..4)
        .map(|c| {
            let (stop, acked, addr, key) = (
                stop.clone(),
                acked_spans.clone(),
                nodes[1].clone(),
                key.to_owned(),
            );
            std::thread::spawn(move || {
                let mut seq = 0;
                while !stop.load(Ordering::Relaxed) {
                    seq += 1;
                    let answer = if seq % 2 == 0 {
                        api(
                            &addr,
                            "POST",
                            "/opentelemetry/v1/traces",
                            &key,
                            &span_json(spans_session, c, seq),
                        )
                    } else {
                        let body =
                            json!({"event_id": spans_session, "metadata": {format!("k{c}_{seq}"): seq}});
                        api(&addr, "PUT", "/events", &key, &body.to_string())
                    };
                    if let Some((200, _)) = answer {
                        let mut a = acked.lock().unwrap();
                        if seq % 2 == 0 {
                            a.spans.insert((c, seq));
                        } else {
                            a.keys.insert(format!("k{c}_{seq}"));
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1200));
    node2.kill();
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.join().unwrap();
    }
    let acked = acked_spans.lock().unwrap().clone();
    assert!(
        acked.spans.len() > 10 && acked.keys.len() > 10,
        "too little load before the kill: {acked:?}"
    );
    let node2 = Hive::start(node2_dir, node2_args);
    wait_applied(&node2.addr, key, Duration::from_secs(60));
    // Read through the other node.
    verify_session(&nodes[0], key, spans_session, &acked);
    drop(node2);
}
