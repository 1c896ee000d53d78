//! Crash test: `kill -9` the server at random moments while clients ingest
//! spans and enrichments, restart it on the same data directory, and check
//! that every acknowledged span and enrichment is there, once.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use support::{Acked, Hive, api, span_json, verify_session};

/// Pseudo-random milliseconds in `lo..hi` (the kill moments vary per run).
fn jitter(state: &mut u64, lo: u64, hi: u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    lo + *state % (hi - lo)
}

/// Load the server at `addr` with spans and enrichments from 6 clients
/// until `stop`; what was acknowledged goes into `acked`.
fn load(
    addr: &str,
    key: &str,
    session: &'static str,
    round: usize,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Acked>>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..6)
        .map(|c| {
            let (stop, acked, addr, key) =
                (stop.clone(), acked.clone(), addr.to_owned(), key.to_owned());
            std::thread::spawn(move || {
                let mut seq = round * 1_000_000;
                while !stop.load(Ordering::Relaxed) {
                    seq += 1;
                    if seq.is_multiple_of(2) {
                        let body = span_json(session, c, seq);
                        if let Some((200, _)) =
                            api(&addr, "POST", "/opentelemetry/v1/traces", &key, &body)
                        {
                            acked.lock().unwrap().spans.insert((c, seq));
                        }
                    } else {
                        let k = format!("c{c}_{seq}");
                        let body = json!({"event_id": session, "metadata": {&k: seq}}).to_string();
                        if let Some((200, _)) = api(&addr, "PUT", "/events", &key, &body) {
                            acked.lock().unwrap().keys.insert(k);
                        }
                    }
                }
            })
        })
        .collect()
}

#[test]
fn every_acknowledged_write_survives_repeated_kill_9() {
    const ROUNDS: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let mut server = Hive::start(dir.path(), &[]);
    let key = server
        .key
        .clone()
        .expect("first start prints the admin key");
    let session = "c0ffee00-0000-4000-8000-000000000001";
    let (status, _) = api(
        &server.addr,
        "POST",
        "/session/start",
        &key,
        &json!({"session": {"session_id": session, "project": "crash"}}).to_string(),
    )
    .unwrap();
    assert_eq!(status, 200);

    let acked = Arc::new(Mutex::new(Acked::default()));
    let mut rng = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    for round in 0..ROUNDS {
        if round > 0 {
            server = Hive::start(dir.path(), &[]);
            assert!(
                server.key.is_none(),
                "a restart must not make a new admin key"
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let clients = load(
            &server.addr,
            &key,
            session,
            round,
            stop.clone(),
            acked.clone(),
        );
        // Kill at a random moment: mid-append, mid-apply, mid-replay.
        std::thread::sleep(Duration::from_millis(jitter(&mut rng, 300, 1500)));
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.spans.len() > 20 && acked.keys.len() > 20,
        "too little load before the kills: {} spans, {} keys",
        acked.spans.len(),
        acked.keys.len()
    );
    let last = Hive::start(dir.path(), &[]);
    verify_session(&last.addr, &key, session, &acked);
}
