//! `hive serve --clickhouse` while ClickHouse fails (issue 10): killed
//! (down), frozen with SIGSTOP (slow: every statement times out), and
//! refusing a record for its content. Ingest keeps being acknowledged into
//! the ingest log, reads answer 503 naming ClickHouse, and once ClickHouse
//! is back every acknowledged span and enrichment is there, once, without
//! restarting hive. One ClickHouse server (Debian's 18.16) for the test.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Acked, ClickHouse, Hive, api, get_ready, span_json, verify_session};

/// Clients sending spans and enrichments of `session` until `stop`.
struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Acked>>,
    /// Writes that were not acknowledged: (status or 0, body).
    refused: Arc<Mutex<Vec<(u16, Value)>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(addr: &str, key: &str, session: &str, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Acked::default()));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..clients)
            .map(|c| {
                let (stop, acked, refused) = (stop.clone(), acked.clone(), refused.clone());
                let (addr, key, session) = (addr.to_owned(), key.to_owned(), session.to_owned());
                std::thread::spawn(move || {
                    let mut seq = 0;
                    while !stop.load(Ordering::Relaxed) {
                        seq += 1;
                        let answer = if seq % 2 == 0 {
                            let a = api(
                                &addr,
                                "POST",
                                "/opentelemetry/v1/traces",
                                &key,
                                &span_json(&session, c, seq),
                            );
                            if let Some((200, _)) = a {
                                acked.lock().unwrap().spans.insert((c, seq));
                            }
                            a
                        } else {
                            let k = format!("c{c}_{seq}");
                            let body = json!({"event_id": session, "metadata": {&k: seq}});
                            let a = api(&addr, "PUT", "/events", &key, &body.to_string());
                            if let Some((200, _)) = a {
                                acked.lock().unwrap().keys.insert(k);
                            }
                            a
                        };
                        match answer {
                            Some((200, _)) => {}
                            Some((s, v)) => refused.lock().unwrap().push((s, v)),
                            None => refused.lock().unwrap().push((0, Value::Null)),
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                })
            })
            .collect();
        Load {
            stop,
            acked,
            refused,
            threads,
        }
    }

    fn acked_count(&self) -> usize {
        let a = self.acked.lock().unwrap();
        a.spans.len() + a.keys.len()
    }

    fn finish(self) -> (Acked, Vec<(u16, Value)>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        let acked = self.acked.lock().unwrap().clone();
        let refused = self.refused.lock().unwrap().clone();
        (acked, refused)
    }
}

/// A read answered 503 `store_unavailable` with a message naming ClickHouse.
fn assert_store_unavailable(answer: Option<(u16, Value)>, while_: &str) {
    let (status, body) = answer.unwrap_or_else(|| panic!("no answer to a read {while_}"));
    assert_eq!(status, 503, "a read {while_}: {body}");
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("ClickHouse"),
        "the message of a read {while_} does not name ClickHouse: {message}"
    );
}

fn stats(addr: &str, key: &str) -> Value {
    get_ready(addr, key, "/v1/stats", Duration::from_secs(10))
}

/// Wait until hive has applied everything it acknowledged.
fn wait_applied(addr: &str, key: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let s = stats(addr, key);
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

#[test]
fn ingest_survives_clickhouse_down_slow_and_refusing() {
    if !ClickHouse::available() {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let mut ch = ClickHouse::start_new(&tmp.path().join("clickhouse"));
    let data = tmp.path().join("hive");
    // Statements time out after 2 s (the frozen server); reads wait for
    // the writes before them at most 3 s.
    let url = format!("{}?timeout=2", ch.url("hive"));
    let hive = Hive::start(&data, &["--clickhouse", &url, "--read-wait-ms", "3000"]);
    let addr = hive.addr.clone();
    let key = hive
        .admin_key(Duration::from_secs(60))
        .expect("the first start prints the admin key");
    let session = "c1c1c1c1-0000-4000-8000-000000000001";
    let (status, body) = api(
        &addr,
        "POST",
        "/session/start",
        &key,
        &json!({"session": {"session_id": session}}).to_string(),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    get_ready(
        &addr,
        &key,
        &format!("/v1/sessions/{session}"),
        Duration::from_secs(10),
    );

    let load = Load::start(&addr, &key, session, 4);
    std::thread::sleep(Duration::from_millis(700));

    // Down: ClickHouse killed mid-ingest.
    eprintln!("{:.1} s: down", started.elapsed().as_secs_f64());
    ch.kill();
    let before = load.acked_count();
    std::thread::sleep(Duration::from_millis(1500));
    assert_store_unavailable(
        api(&addr, "GET", &format!("/v1/sessions/{session}"), &key, ""),
        "while ClickHouse is down",
    );
    assert_store_unavailable(
        api(&addr, "POST", "/v1/events/export", &key, "{}"),
        "while ClickHouse is down",
    );
    let during_down = load.acked_count() - before;
    assert!(
        during_down > 20,
        "only {during_down} writes acknowledged while ClickHouse was down"
    );
    ch.start();
    std::thread::sleep(Duration::from_millis(1500));

    // Slow: ClickHouse frozen, every statement times out.
    eprintln!("{:.1} s: slow", started.elapsed().as_secs_f64());
    ch.pause();
    let before = load.acked_count();
    std::thread::sleep(Duration::from_millis(2500));
    assert_store_unavailable(
        api(&addr, "GET", &format!("/v1/sessions/{session}"), &key, ""),
        "while ClickHouse does not answer",
    );
    let during_slow = load.acked_count() - before;
    assert!(
        during_slow > 20,
        "only {during_slow} writes acknowledged while ClickHouse was frozen"
    );
    // Statements sent before the freeze and timed out are executed once it
    // resumes, and retried as well: they must not count twice.
    ch.resume();
    std::thread::sleep(Duration::from_millis(700));
    eprintln!("{:.1} s: resumed", started.elapsed().as_secs_f64());
    let (acked, refused) = load.finish();
    assert!(
        refused.is_empty(),
        "writes were refused: {:?}",
        &refused[..refused.len().min(3)]
    );

    eprintln!("{:.1} s: applying", started.elapsed().as_secs_f64());
    wait_applied(&addr, &key, Duration::from_secs(60));
    let spans = verify_session(&addr, &key, session, &acked);
    assert!(
        spans > 20 && acked.keys.len() > 20,
        "too little load: {acked:?}"
    );

    eprintln!("{:.1} s: down again", started.elapsed().as_secs_f64());
    // Down with nothing waiting: the read itself fails, 503 naming
    // ClickHouse; then it is back and reads work, hive never restarted.
    ch.kill();
    assert_store_unavailable(
        api(&addr, "GET", &format!("/v1/sessions/{session}"), &key, ""),
        "of the store while ClickHouse is down",
    );
    ch.start();
    get_ready(
        &addr,
        &key,
        &format!("/v1/sessions/{session}"),
        Duration::from_secs(10),
    );

    eprintln!("{:.1} s: refusing", started.elapsed().as_secs_f64());
    // Refusing: a check on hive_writes (a MATERIALIZED column computed by
    // throwIf, what a CHECK constraint is on newer servers) refuses any row
    // with metadata.poison. Writes pile up while ClickHouse is frozen, so
    // the refused record comes in a batch of many: the batch is split down
    // to it, it is kept aside, and every other record is applied once.
    ch.query(
        "ALTER TABLE hive.hive_writes ADD COLUMN poison UInt8 \
         MATERIALIZED throwIf(has(paths, 'metadata.poison'))",
    )
    .unwrap();
    ch.pause();
    let mut keys = Vec::new();
    for i in 0..30 {
        let (k, body) = if i == 17 {
            (
                "poison".to_owned(),
                json!({"event_id": session, "metadata": {"poison": true}}),
            )
        } else {
            let k = format!("r{i}");
            (k.clone(), json!({"event_id": session, "metadata": {&k: i}}))
        };
        let (status, body) = api(&addr, "PUT", "/events", &key, &body.to_string()).unwrap();
        assert_eq!(status, 200, "{body}");
        keys.push(k);
    }
    ch.resume();
    wait_applied(&addr, &key, Duration::from_secs(60));
    let v = get_ready(
        &addr,
        &key,
        &format!("/v1/sessions/{session}"),
        Duration::from_secs(10),
    );
    let metadata = &v["session"]["metadata"];
    for k in &keys {
        if k == "poison" {
            assert!(
                metadata.get("poison").is_none(),
                "the refused record was applied"
            );
        } else {
            assert!(
                metadata.get(k).is_some(),
                "{k} was lost with the refused record"
            );
        }
    }
    let s = stats(&addr, &key);
    assert_eq!(s["set_aside_records"], 1, "{s}");
    let rejected = data.join("log").join("rejected");
    let reasons: Vec<String> = std::fs::read_dir(&rejected)
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            p.to_str()?
                .ends_with(".reason.txt")
                .then(|| std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].contains("ClickHouse") && reasons[0].contains("throwIf"),
        "{}",
        reasons[0]
    );
    ch.query("ALTER TABLE hive.hive_writes DROP COLUMN poison")
        .unwrap();
    // The rest of the history is intact: once each.
    let mut all = acked;
    all.keys.extend(keys.into_iter().filter(|k| k != "poison"));
    verify_session(&addr, &key, session, &all);
    eprintln!(
        "clickhouse faults: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
