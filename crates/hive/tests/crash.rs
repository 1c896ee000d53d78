//! Crash test: `kill -9` the server while clients ingest spans and
//! enrichments, restart it on the same data directory, and check that
//! every acknowledged span and enrichment is there.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Server {
    child: Child,
    addr: String,
    key: Option<String>,
}

fn start(dir: &std::path::Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hive"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "off",
            "--log",
            "warn",
        ])
        .arg("--data-dir")
        .arg(dir)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start hive serve");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut key, mut addr) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(k) = line.trim().strip_prefix("HH_API_KEY=") {
            key = Some(k.to_owned());
        }
        if let Some(rest) = line.strip_prefix("listening on http://") {
            addr = rest.split_whitespace().next().map(str::to_owned);
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        addr: addr.expect("listening line"),
        key,
    }
}

/// One HTTP/1.1 request on its own connection; `None` on any transport error.
fn http(addr: &str, method: &str, path: &str, key: &str, body: &str) -> Option<(u16, Value)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {key}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out);
    let status: u16 = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1;
    Some((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

fn span_json(session: &str, client: usize, seq: usize) -> String {
    let trace = format!("{:016x}{:016x}", client as u64 + 1, seq as u64);
    let span = format!("{:016x}", (client as u64) << 32 | seq as u64);
    json!({"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {"name": "crash"}, "spans": [{
        "traceId": trace, "spanId": span, "parentSpanId": null, "name": "work", "kind": "SPAN_KIND_INTERNAL",
        "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000001000000",
        "attributes": [
            {"key": "honeyhive.session_id", "value": {"stringValue": session}},
            {"key": "honeyhive_metadata.client", "value": {"intValue": client.to_string()}},
            {"key": "honeyhive_metadata.seq", "value": {"intValue": seq.to_string()}}
        ], "events": [], "status": {"code": "STATUS_CODE_UNSET"}}]}]}]})
    .to_string()
}

/// Pseudo-random milliseconds in `lo..hi` (the kill moments vary per run).
fn jitter(state: &mut u64, lo: u64, hi: u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    lo + *state % (hi - lo)
}

/// Load the server at `addr` with spans and enrichments from 6 clients
/// until `stop`; what was acknowledged goes into `spans` and `keys`.
fn load(
    addr: &str,
    key: &str,
    session: &'static str,
    round: usize,
    stop: Arc<AtomicBool>,
    spans: Arc<Mutex<BTreeSet<(usize, usize)>>>,
    keys: Arc<Mutex<BTreeSet<String>>>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..6)
        .map(|c| {
            let (stop, spans, keys, addr, key) = (
                stop.clone(),
                spans.clone(),
                keys.clone(),
                addr.to_owned(),
                key.to_owned(),
            );
            std::thread::spawn(move || {
                let mut seq = round * 1_000_000;
                while !stop.load(Ordering::Relaxed) {
                    seq += 1;
                    if seq.is_multiple_of(2) {
                        if let Some((200, _)) = http(
                            &addr,
                            "POST",
                            "/opentelemetry/v1/traces",
                            &key,
                            &span_json(session, c, seq),
                        ) {
                            spans.lock().unwrap().insert((c, seq));
                        }
                    } else {
                        let body =
                            json!({"event_id": session, "metadata": {format!("c{c}_{seq}"): seq}})
                                .to_string();
                        if let Some((200, _)) = http(&addr, "PUT", "/events", &key, &body) {
                            keys.lock().unwrap().insert(format!("c{c}_{seq}"));
                        }
                    }
                }
            })
        })
        .collect()
}

/// GET a path, retrying while the server starts (or catches up).
fn get_ready(addr: &str, key: &str, path: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((200, v)) = http(addr, "GET", path, key, "") {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "restarted server does not answer {path}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn every_acknowledged_write_survives_repeated_kill_9() {
    const ROUNDS: usize = 5;
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path());
    let key = first.key.clone().expect("first start prints the admin key");
    let session = "c0ffee00-0000-4000-8000-000000000001";
    let (status, _) = http(
        &first.addr,
        "POST",
        "/session/start",
        &key,
        &json!({"session": {"session_id": session, "project": "crash"}}).to_string(),
    )
    .unwrap();
    assert_eq!(status, 200);

    let acked_spans = Arc::new(Mutex::new(BTreeSet::new()));
    let acked_keys = Arc::new(Mutex::new(BTreeSet::new()));
    let mut rng = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut server = first;
    for round in 0..ROUNDS {
        if round > 0 {
            server = start(dir.path());
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
            acked_spans.clone(),
            acked_keys.clone(),
        );
        // Kill at a random moment: mid-append, mid-apply, mid-replay.
        std::thread::sleep(Duration::from_millis(jitter(&mut rng, 300, 1500)));
        server.child.kill().expect("kill -9");
        let _ = server.child.wait();
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            c.join().unwrap();
        }
    }
    let spans = acked_spans.lock().unwrap().clone();
    let keys = acked_keys.lock().unwrap().clone();
    assert!(
        spans.len() > 20 && keys.len() > 20,
        "too little load before the kills: {} spans, {} keys",
        spans.len(),
        keys.len()
    );

    let mut last = start(dir.path());
    let v = get_ready(&last.addr, &key, &format!("/v1/sessions/{session}"));
    let metadata = &v["session"]["metadata"];
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| metadata.get(k.as_str()).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged enrichments lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let stored: Vec<(usize, usize)> = v["session"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["metadata"]["client"].as_u64().unwrap() as usize,
                e["metadata"]["seq"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    let distinct: BTreeSet<(usize, usize)> = stored.iter().copied().collect();
    assert_eq!(distinct.len(), stored.len(), "a span is stored twice");
    let lost: Vec<_> = spans.difference(&distinct).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged spans lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert_eq!(
        metadata["num_events"].as_u64().unwrap() as usize,
        stored.len()
    );
    // Every enrichment is in the history exactly once: none was applied
    // twice by a replay.
    let history = get_ready(&last.addr, &key, &format!("/v1/events/{session}/history"));
    let entries = history["history"]
        .as_array()
        .or_else(|| history.as_array())
        .unwrap_or_else(|| panic!("history: {history}"));
    let mut seen = BTreeSet::new();
    for e in entries {
        if let Some(m) = e["patch"]["metadata"].as_object() {
            for k in m.keys() {
                assert!(
                    seen.insert(k.clone()),
                    "enrichment {k} is in the history twice"
                );
            }
        }
    }
    let unrecorded: Vec<&String> = keys.iter().filter(|k| !seen.contains(*k)).collect();
    assert!(
        unrecorded.is_empty(),
        "acknowledged enrichments missing from the history: {unrecorded:?}"
    );
    let _ = last.child.kill();
    let _ = last.child.wait();
}
