//! Retention on a real `hive serve` with SQLite (ADR 0009): setting a
//! project's retention through the API expires its old sessions in the
//! background while ingest goes on, and the database file really shrinks.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Hive, api, get_ready};

const DAY: i64 = 86_400_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn batch(addr: &str, key: &str, events: Vec<Value>) -> u16 {
    api(
        addr,
        "POST",
        "/v1/events/batch",
        key,
        &json!({"events": events}).to_string(),
    )
    .map_or(0, |r| r.0)
}

fn count(addr: &str, key: &str, range: Value) -> u64 {
    let body = json!({"filters": [], "dateRange": range, "limit": 1});
    let (status, v) = api(addr, "POST", "/v1/events/export", key, &body.to_string()).unwrap();
    assert_eq!(status, 200, "{v}");
    v["totalEvents"].as_u64().unwrap()
}

fn db_bytes(dir: &std::path::Path) -> u64 {
    std::fs::metadata(dir.join("hive.db")).map_or(0, |m| m.len())
}

#[test]
fn retention_expires_old_sessions_shrinks_the_file_and_ingest_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let hive = Hive::start(
        dir.path(),
        &["--retention-interval-ms", "200", "--retention-days", "3650"],
    );
    let (addr, admin) = (hive.addr.clone(), hive.key.clone().unwrap());
    let body = json!({"name": "rw", "scope": "read_write", "project": "p1"});
    let (_, v) = api(&addr, "POST", "/v1/keys", &admin, &body.to_string()).unwrap();
    let key = v["secret"].as_str().unwrap().to_owned();

    // 40 days of old sessions: 12 000 events with 1 KiB prompts.
    let old = now_ms() - 40 * DAY;
    let prompt = "lorem ipsum ".repeat(90);
    for s in 0..240 {
        let sid = format!("old-{s}");
        let t = old + s as i64 * 1000;
        let mut events = vec![
            json!({"event_id": sid, "session_id": sid, "event_type": "session",
            "event_name": "chat", "start_time": t, "end_time": t + 1}),
        ];
        for e in 0..49 {
            events.push(json!({"event_id": format!("{sid}-{e}"), "session_id": sid,
                "event_type": "model", "event_name": "llm", "start_time": t + 1, "end_time": t + 2,
                "inputs": {"prompt": format!("{prompt}{s}-{e}")}}));
        }
        assert_eq!(batch(&addr, &key, events), 200);
    }
    let old_range = json!({"$gte": old - DAY, "$lte": old + DAY});
    assert_eq!(count(&addr, &key, old_range.clone()), 12_000);

    // The server default applies until the project sets its own.
    let p = get_ready(&addr, &admin, "/v1/projects/p1", Duration::from_secs(5));
    assert_eq!(p["default_retention_days"], 3650);
    assert_eq!(p["effective_retention_days"], 3650);
    let (status, v) = api(
        &addr,
        "PUT",
        "/v1/projects/p1",
        &admin,
        &json!({"retention_days": "a week"}).to_string(),
    )
    .unwrap();
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("retention_days")
    );
    let (status, _) = api(
        &addr,
        "PUT",
        "/v1/projects/p1",
        &key,
        &json!({"retention_days": 7}).to_string(),
    )
    .unwrap();
    assert_eq!(status, 403, "a project key does not set retention");

    // Let the WAL be checkpointed into the file before measuring it.
    std::thread::sleep(Duration::from_millis(1500));
    let before = db_bytes(dir.path());
    assert!(
        before > 15 << 20,
        "the database holds the data: {before} bytes"
    );

    // Ingest recent sessions all along the purge.
    let stop = Arc::new(AtomicBool::new(false));
    let (acked, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let slowest = Arc::new(AtomicU64::new(0));
    let ingest = {
        let (stop, acked, failed, slowest) =
            (stop.clone(), acked.clone(), failed.clone(), slowest.clone());
        let (addr, key) = (addr.clone(), key.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let sid = format!("new-{i}");
                let t = now_ms();
                let events = vec![
                    json!({"event_id": sid, "session_id": sid, "event_type": "session",
                        "event_name": "chat", "start_time": t, "end_time": t + 1}),
                    json!({"event_id": format!("{sid}-0"), "session_id": sid,
                        "event_type": "tool", "event_name": "t", "start_time": t, "end_time": t + 1}),
                ];
                let started = Instant::now();
                if batch(&addr, &key, events) == 200 {
                    acked.fetch_add(2, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                slowest.fetch_max(started.elapsed().as_millis() as u64, Ordering::Relaxed);
                i += 1;
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let acked_before_purge = acked.load(Ordering::Relaxed);

    let started = Instant::now();
    let (status, v) = api(
        &addr,
        "PUT",
        "/v1/projects/p1",
        &admin,
        &json!({"retention_days": 7}).to_string(),
    )
    .unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["retention_days"], 7);
    assert_eq!(v["effective_retention_days"], 7);

    // Expired, then the space given back.
    let mut shrunk = before;
    loop {
        let stats = get_ready(&addr, &admin, "/v1/stats", Duration::from_secs(5));
        let m = &stats["maintenance"];
        shrunk = shrunk.min(db_bytes(dir.path()));
        if count(&addr, &key, old_range.clone()) == 0
            && m["reclaimable_bytes"] == 0
            && shrunk < before / 4
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "not purged and shrunk after 60 s: {} -> {shrunk} bytes, {m}",
            before
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let purge = started.elapsed();
    let during = acked.load(Ordering::Relaxed) - acked_before_purge;
    stop.store(true, Ordering::Relaxed);
    ingest.join().unwrap();
    eprintln!(
        "purged 12 000 events in {purge:?}: {before} -> {shrunk} bytes; {during} events \
         acknowledged meanwhile, slowest request {} ms",
        slowest.load(Ordering::Relaxed)
    );
    assert!(during > 0, "ingest went on during the purge");
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    // Every recent event acknowledged is kept.
    let recent = json!({"$gte": now_ms() - DAY, "$lte": now_ms() + DAY});
    assert_eq!(count(&addr, &key, recent), acked.load(Ordering::Relaxed));
    let stats = get_ready(&addr, &admin, "/v1/stats", Duration::from_secs(5));
    assert!(stats["maintenance"]["expired"].as_u64().unwrap() >= 12_000);
}
