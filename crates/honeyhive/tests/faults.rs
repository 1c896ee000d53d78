//! Fault tests against a tiny hand-written HTTP server: server down, answering
//! 500, slow, rejecting. No call blocks the caller, nothing panics, and the
//! data arrives once the server is back (within the queue bound).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use honeyhive::{HoneyHiveTracer, enrich_session, trace};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
    at: Instant,
}

impl Request {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// How the server answers.
#[derive(Debug, Clone)]
enum Mode {
    Ok,
    Status(u16, Option<&'static str>),
    /// Answer 200 after this delay.
    Slow(Duration),
    /// Read the request, then close without answering.
    Close,
    /// Answer 503 to this many session starts, then 200; 200 to the rest.
    FailStarts(u32),
}

struct FakeServer {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
    mode: Arc<Mutex<Mode>>,
    stop: Arc<AtomicBool>,
}

impl FakeServer {
    fn start(port: u16, mode: Mode) -> FakeServer {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind fake server");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let mode = Arc::new(Mutex::new(mode));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, m, s) = (requests.clone(), mode.clone(), stop.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !s.load(Ordering::Relaxed) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (r, m) = (r.clone(), m.clone());
                        std::thread::spawn(move || serve(stream, &r, &m));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeServer {
            port,
            requests,
            mode,
            stop,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    fn puts(&self) -> Vec<Value> {
        self.requests()
            .iter()
            .filter(|r| r.method == "PUT" && r.path == "/events")
            .map(Request::json)
            .collect()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(stream: TcpStream, requests: &Mutex<Vec<Request>>, mode: &Mutex<Mode>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let mut content_length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header == "\r\n" || header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; content_length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let current = mode.lock().unwrap().clone();
    let mut stream = reader.into_inner();
    let (status, extra) = match current {
        Mode::Close => return,
        Mode::Ok => (200, None),
        Mode::Slow(delay) => {
            std::thread::sleep(delay);
            (200, None)
        }
        Mode::Status(code, retry_after) => (code, retry_after),
        Mode::FailStarts(n) if path == "/session/start" && n > 0 => {
            *mode.lock().unwrap() = Mode::FailStarts(n - 1);
            (503, None)
        }
        Mode::FailStarts(_) => (200, None),
    };
    if status == 200 {
        requests.lock().unwrap().push(Request {
            method,
            path: path.clone(),
            body,
            at: Instant::now(),
        });
    } else {
        requests.lock().unwrap().push(Request {
            method: format!("FAILED {method}"),
            path: path.clone(),
            body,
            at: Instant::now(),
        });
    }
    let payload = if path == "/session/start" {
        r#"{"event_id":"x","session_id":"x","org_id":"o","workspace_id":"w","project_id":"p"}"#
    } else {
        r#"{"success":true}"#
    };
    let retry = extra
        .map(|s| format!("Retry-After: {s}\r\n"))
        .unwrap_or_default();
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{retry}Connection: close\r\n\r\n{payload}",
        payload.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

/// A port nothing listens on yet, where a test starts its fake server
/// later. Chosen below Linux's ephemeral range (32768 and up): a port from
/// `bind(0)` can be handed out again meanwhile, even as the source port of
/// the SDK's own connection to it, which then connects to itself.
fn free_port() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    let seed = RandomState::new();
    (0u32..10_000)
        .map(|i| 20_000 + (seed.hash_one(i) % 12_000) as u16)
        .find(|&p| TcpListener::bind(("127.0.0.1", p)).is_ok())
        .expect("a free port on 127.0.0.1 in 20000-31999")
}

fn tracer(url: &str, session_id: &str) -> HoneyHiveTracer {
    HoneyHiveTracer::builder()
        .with_api_key("hh_test")
        .with_project("faults")
        .with_session_id(session_id)
        .with_server_url(url)
        .with_set_default(false)
        .with_request_timeout(Duration::from_secs(2))
        .with_retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .build()
}

/// Whether `f` becomes true within 5 s (polled).
fn eventually(f: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

/// Calls `f` and returns how long it took.
fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn merged_metadata(puts: &[Value], session_id: &str) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for body in puts.iter().filter(|b| b["event_id"] == session_id) {
        if let Some(Value::Object(md)) = body.get("metadata") {
            for (k, v) in md {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

#[test]
fn server_down_then_back_delivers_everything_in_order() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let tracer = tracer(&url, "sess-down");
    let _cx = tracer.context().attach();
    let mut worst = Duration::ZERO;
    for i in 0..50 {
        worst = worst.max(timed(|| {
            enrich_session(
                honeyhive::Enrichment::new()
                    .metadata(json!({"step": i}))
                    .field(&format!("k{i}"), i),
            )
        }));
    }
    // A call that waited for the network would wait through the retries
    // (the server is down); the bound leaves room for a busy machine.
    assert!(
        worst < Duration::from_millis(100),
        "enrich_session blocked for {worst:?}"
    );
    assert!(
        eventually(|| tracer.stats().retried > 0),
        "{:?}",
        tracer.stats()
    );
    assert_eq!(tracer.stats().enrichments_sent, 0);

    let server = FakeServer::start(port, Mode::Ok);
    assert!(
        tracer.flush(Duration::from_secs(10)),
        "flush timed out: {:?}",
        tracer.stats()
    );
    let requests = server.requests();
    assert_eq!(
        requests[0].path, "/session/start",
        "session start goes first"
    );
    assert_eq!(requests[0].json()["session"]["session_id"], "sess-down");
    let md = merged_metadata(&server.puts(), "sess-down");
    assert_eq!(md["step"], 49);
    for i in 0..50 {
        assert_eq!(md[&format!("k{i}")], i);
    }
    let stats = tracer.stats();
    assert_eq!(stats.enrichments_sent, 50);
    assert_eq!(stats.enrichments_dropped, 0);
    assert!(stats.session_started);
    assert_eq!(tracer.session_id(), "sess-down");
    tracer.shutdown(Duration::from_secs(2));
}

#[test]
fn enrichments_wait_for_a_session_start_being_retried() {
    // The server refuses the first two session starts but would take the
    // enrichments: they must still arrive after the start (a server may
    // reject enrichments of a session it does not know). Two, so that the
    // enrichment is queued by the time of a failed start, however the
    // worker's first round falls.
    let server = FakeServer::start(0, Mode::FailStarts(2));
    let tracer = tracer(&server.url(), "sess-order");
    tracer.enrich_session(json!({"a": 1}));
    assert!(
        tracer.flush(Duration::from_secs(10)),
        "{:?}",
        tracer.stats()
    );
    let seen: Vec<String> = server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        seen,
        [
            "FAILED POST /session/start",
            "FAILED POST /session/start",
            "POST /session/start",
            "PUT /events"
        ],
        "{seen:?}"
    );
    assert_eq!(tracer.stats().enrichments_sent, 1);
}

#[test]
fn server_answering_500_is_retried_until_it_recovers() {
    let server = FakeServer::start(0, Mode::Status(500, None));
    let tracer = tracer(&server.url(), "sess-500");
    tracer.enrich_session(json!({"a": 1}));
    tracer.enrich_session(json!({"b": 2}));
    assert!(
        eventually(|| server.requests().len() >= 2),
        "expected retries, saw {} requests",
        server.requests().len()
    );
    assert!(tracer.stats().retried > 0);
    server.set_mode(Mode::Ok);
    assert!(tracer.flush(Duration::from_secs(10)));
    let md = merged_metadata(&server.puts(), "sess-500");
    assert_eq!(md["a"], 1);
    assert_eq!(md["b"], 2);
    assert_eq!(tracer.stats().enrichments_sent, 2);
}

#[test]
fn retry_after_is_honoured() {
    let server = FakeServer::start(0, Mode::Status(503, Some("1")));
    let tracer = tracer(&server.url(), "sess-retry-after");
    tracer.enrich_session(json!({"a": 1}));
    // The session start fails first, with Retry-After: 1.
    std::thread::sleep(Duration::from_millis(300));
    server.set_mode(Mode::Ok);
    assert!(tracer.flush(Duration::from_secs(10)));
    let requests = server.requests();
    let first_failure = requests
        .iter()
        .find(|r| r.method.starts_with("FAILED"))
        .unwrap()
        .at;
    let first_success = requests
        .iter()
        .find(|r| !r.method.starts_with("FAILED"))
        .unwrap()
        .at;
    let gap = first_success - first_failure;
    assert!(
        gap >= Duration::from_millis(900),
        "retried after {gap:?}, before Retry-After"
    );
}

#[test]
fn slow_server_never_blocks_the_caller() {
    let server = FakeServer::start(0, Mode::Slow(Duration::from_millis(700)));
    let tracer = tracer(&server.url(), "sess-slow");
    let mut worst = Duration::ZERO;
    for i in 0..20 {
        worst = worst.max(timed(|| tracer.enrich_session(json!({ "i": i }))));
        std::thread::sleep(Duration::from_millis(10));
    }
    // The server takes 700 ms to answer; the bound leaves room for a busy
    // machine.
    assert!(
        worst < Duration::from_millis(100),
        "enrich_session blocked for {worst:?}"
    );
    assert!(tracer.flush(Duration::from_secs(15)));
    assert_eq!(merged_metadata(&server.puts(), "sess-slow")["i"], 19);
}

#[test]
fn server_closing_connections_is_retried() {
    let server = FakeServer::start(0, Mode::Close);
    let tracer = tracer(&server.url(), "sess-close");
    tracer.enrich_session(json!({"x": true}));
    std::thread::sleep(Duration::from_millis(200));
    server.set_mode(Mode::Ok);
    assert!(tracer.flush(Duration::from_secs(10)));
    assert_eq!(merged_metadata(&server.puts(), "sess-close")["x"], true);
}

#[test]
fn rejected_enrichments_are_dropped_not_retried() {
    let server = FakeServer::start(0, Mode::Status(400, None));
    let tracer = tracer(&server.url(), "sess-400");
    tracer.enrich_session(json!({"x": 1}));
    assert!(tracer.flush(Duration::from_secs(5)));
    let stats = tracer.stats();
    assert_eq!(stats.enrichments_dropped, 1);
    assert_eq!(stats.enrichments_sent, 0);
    assert_eq!(server.requests().len(), 2); // session start + one PUT
}

#[test]
fn the_queue_is_bounded_and_counts_drops() {
    let port = free_port();
    let tracer = HoneyHiveTracer::builder()
        .with_server_url(format!("http://127.0.0.1:{port}"))
        .with_session_id("sess-bounded")
        .with_set_default(false)
        .with_queue_capacity(5)
        .with_retry_backoff(Duration::from_millis(20), Duration::from_millis(100))
        .build();
    let worst = timed(|| {
        for i in 0..200 {
            // Different sessions cannot be coalesced.
            tracer.enrich_session(
                honeyhive::Enrichment::from(json!({ "i": i })).session_id(format!("s{i}")),
            );
        }
    });
    assert!(worst < Duration::from_millis(200));
    std::thread::sleep(Duration::from_millis(100));
    let stats = tracer.stats();
    assert!(stats.enrichments_dropped > 0, "{stats:?}");
    // Shutting down with the server still down gives up in time and counts the rest.
    let took = timed(|| {
        tracer.shutdown(Duration::from_millis(300));
    });
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    let stats = tracer.stats();
    assert_eq!(stats.enrichments_sent, 0);
    assert_eq!(stats.enrichments_dropped, 200);
    // After shutdown: dropped, no panic.
    tracer.enrich_session(json!({"late": true}));
    assert_eq!(tracer.stats().enrichments_dropped, 201);
}

#[trace]
fn traced_work(n: u32) -> u32 {
    honeyhive::enrich_span!(metrics = {"n": n});
    n + 1
}

#[test]
fn spans_are_exported_once_the_server_is_back() {
    let port = free_port();
    let tracer = HoneyHiveTracer::builder()
        .with_api_key("hh_test")
        .with_server_url(format!("http://127.0.0.1:{port}"))
        .with_session_id("sess-spans")
        .with_set_default(false)
        .with_disable_batch(true)
        .with_export_retry_budget(Duration::from_secs(20))
        .build();
    let worst = {
        let _cx = tracer.context().attach();
        timed(|| {
            for i in 0..10 {
                traced_work(i);
            }
        })
    };
    assert!(
        worst < Duration::from_millis(50),
        "traced calls took {worst:?}"
    );
    std::thread::sleep(Duration::from_millis(200));
    let server = FakeServer::start(port, Mode::Ok);
    assert!(tracer.flush(Duration::from_secs(20)));
    let exports: Vec<Request> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/opentelemetry/v1/traces")
        .collect();
    assert!(!exports.is_empty(), "no span export reached the server");
    let all: Vec<u8> = exports.iter().flat_map(|r| r.body.clone()).collect();
    let text = String::from_utf8_lossy(&all);
    assert!(text.contains("sess-spans"));
    assert!(text.contains("traced_work"));
    assert!(text.contains("honeyhive_metrics.n"));
    assert_eq!(tracer.stats().spans_exported, 10);
}
