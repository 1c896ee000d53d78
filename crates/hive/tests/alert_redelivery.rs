//! An alert notification is never lost when its node dies (issue 10): a
//! node decides a notification and is killed (`kill -9`) while the webhook
//! has not answered; once a node runs again on the store, the notification
//! is delivered, once, and the evaluation is recorded with its delivery.
//! On SQLite (the same node restarted) and on ClickHouse 18.16 (a node
//! restarted on its data directory, and a second node: whichever comes
//! first delivers it). A lease past the claims' grace time is refused.

mod support;

use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::two_nodes::read_request;
use support::{ClickHouse, Hive, api};

/// A webhook receiver on 127.0.0.1 that reads the first request and never
/// answers it (until `release`); later ones get 200. Every body, in order,
/// with when it arrived and its `Idempotency-Key`.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<(Instant, Value, String)>>>,
    release: Arc<AtomicBool>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let release = Arc::new(AtomicBool::new(false));
        let (sink, held) = (bodies.clone(), release.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let (sink, held) = (sink.clone(), held.clone());
                std::thread::spawn(move || {
                    conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
                    let Some((body, key)) = read_request(&mut conn) else {
                        return;
                    };
                    let first = {
                        let mut b = sink.lock().unwrap();
                        b.push((Instant::now(), body, key));
                        b.len() == 1
                    };
                    if first {
                        while !held.load(Ordering::Relaxed) {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        return;
                    }
                    let _ = conn.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                });
            }
        });
        Receiver {
            url,
            bodies,
            release,
        }
    }

    fn count(&self) -> usize {
        self.bodies.lock().unwrap().len()
    }

    fn wait_for(&self, n: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.count() < n {
            assert!(
                Instant::now() < deadline,
                "the webhook got {} requests, not {n}",
                self.count()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.release.store(true, Ordering::Relaxed);
    }
}

const ARGS: [&str; 5] = [
    "--webhook-allow-private",
    "--alert-tick-ms",
    "200",
    "--alert-redeliver-after-ms",
    "3000",
];

fn history(addr: &str, key: &str, id: &str) -> Vec<Value> {
    let (status, v) = api(addr, "GET", &format!("/v1/alerts/{id}/history"), key, "").unwrap();
    assert_eq!(status, 200, "{v}");
    v["data"]
        .as_array()
        .or_else(|| v["history"].as_array())
        .cloned()
        .unwrap_or_else(|| panic!("history: {v}"))
}

/// Start a node on `root/node0` (with `store`'s arguments), create a rule
/// that crosses at once, kill the node while its webhook hangs, then start
/// `restart` nodes (each on its own data directory, the first on the dead
/// node's): the notification arrives once more, answered, and is recorded
/// once.
fn notification_outlives_its_node(root: &std::path::Path, store: &[&str], restart: usize) {
    let started = Instant::now();
    let args: Vec<&str> = store.iter().chain(ARGS.iter()).copied().collect();
    let hook = Receiver::start();
    let mut node = Hive::start(&root.join("node0"), &args);
    let key = node
        .admin_key(Duration::from_secs(60))
        .expect("the first start prints the admin key");
    // The rule is decided after it is made.
    let made = Instant::now();
    let (status, body) = api(
        &node.addr,
        "POST",
        "/v1/alerts",
        &key,
        &json!({"name": "outlives", "type": "aggregate", "comparison": "below",
                "threshold": 1_000_000, "frequency": "hourly",
                "query": {"aggregation": "count"}, "webhook": {"url": hook.url}})
        .to_string(),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let id = body["id"]
        .as_str()
        .or_else(|| body["data"]["id"].as_str())
        .unwrap_or_else(|| panic!("no id in {body}"))
        .to_owned();
    // The node decided and is delivering: it dies before the webhook
    // answers.
    hook.wait_for(1, Duration::from_secs(30));
    node.kill();

    let nodes: Vec<Hive> = (0..restart)
        .map(|i| Hive::start(&root.join(format!("node{i}")), &args))
        .collect();
    hook.wait_for(2, Duration::from_secs(30));
    let bodies = hook.bodies.lock().unwrap().clone();
    let waited = bodies[1].0 - made;
    assert!(
        waited >= Duration::from_secs(3),
        "delivered again {waited:?} after the rule was made, before the lease ran out"
    );
    assert_eq!(bodies[1].1, bodies[0].1, "the same notification");
    // With the same key, by which a receiver knows it.
    assert!(!bodies[0].2.is_empty(), "no Idempotency-Key");
    assert_eq!(bodies[1].2, bodies[0].2);
    assert_eq!(bodies[1].1["alert"]["id"], id.as_str(), "{}", bodies[1].1);

    // Recorded once, with its delivery; delivered once more only.
    let deadline = Instant::now() + Duration::from_secs(30);
    let h = loop {
        let h = history(&nodes[0].addr, &key, &id);
        if !h.is_empty() {
            break h;
        }
        assert!(Instant::now() < deadline, "the evaluation is not recorded");
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(hook.count(), 2, "{:?}", hook.bodies.lock().unwrap());
    let again = history(&nodes[0].addr, &key, &id);
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(h[0]["notified"], "triggered", "{h:?}");
    assert_eq!(h[0]["redelivered"], true, "{h:?}");
    assert_eq!(h[0]["delivery"]["ok"], true, "{h:?}");
    eprintln!(
        "notification delivered after its node died: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    notification_outlives_its_node(tmp.path(), &[], 1);
}

#[test]
fn on_clickhouse() {
    if !ClickHouse::available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ch = ClickHouse::start_new(&tmp.path().join("clickhouse"));
    let url = ch.url("hive");
    notification_outlives_its_node(tmp.path(), &["--clickhouse", &url], 2);
}

/// A lease as long as the claims' grace time is refused: the sweep tells a
/// stored decision from one that was not by the lease ending first.
#[test]
fn a_lease_past_the_claims_grace_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, stderr, _) = support::run_hive(
        &[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "off",
            "--alert-redeliver-after-ms",
            "300000",
        ],
        tmp.path(),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("--alert-redeliver-after-ms") && stderr.contains("240000"),
        "{stderr}"
    );
}
