//! `hive serve` over real sockets on 127.0.0.1: slow and idle clients,
//! the connection cap (on the HTTP and the OTLP/gRPC port), errors of the
//! HTTP layer in the JSON shape, and key revocation from the command line
//! while the server runs (issue 13), and answers to clients still sending
//! a body the server refused.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Server {
    child: Child,
    addr: String,
    /// The OTLP/gRPC address, when started with one.
    grpc: Option<String>,
    key: String,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &[&str]) -> Server {
    start_with_grpc(extra, "off")
}

fn start_with_grpc(extra: &[&str], grpc: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hive"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--grpc-addr",
            grpc,
            "--log",
            "warn",
        ])
        .args(extra)
        .arg("--data-dir")
        .arg(dir.path())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start hive serve");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut key, mut addr, mut grpc) = (None, None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(k) = line.trim().strip_prefix("HH_API_KEY=") {
            key = Some(k.to_owned());
        }
        if let Some(rest) = line.strip_prefix("listening on http://") {
            addr = rest.split_whitespace().next().map(str::to_owned);
            grpc = rest
                .split_once("(OTLP/gRPC on ")
                .map(|(_, g)| g.trim_end_matches(')').to_owned());
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        addr: addr.expect("listening line"),
        grpc,
        key: key.expect("first key"),
        dir,
    }
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// Read one response (status, JSON body) from a connection the server
/// closes after it (or that is given `connection: close`).
fn response(s: &mut TcpStream) -> (u16, Value) {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no response: {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|b| b.1).unwrap_or_default();
    let v = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    (status, v)
}

fn request(addr: &str, method: &str, path: &str, key: &str, body: &str) -> (u16, Value) {
    let mut s = connect(addr);
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {key}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    response(&mut s)
}

/// Whether the server closed the connection (EOF) within `within`.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// A client that sends half a head is disconnected after the header
/// timeout (it stayed open for more than 75 s); a connection that sends
/// nothing, or nothing after its last request, after the idle timeout.
#[test]
fn slow_heads_and_idle_connections_are_closed() {
    let server = start(&["--header-timeout-secs", "1", "--idle-timeout-secs", "2"]);
    let started = Instant::now();
    let mut half = connect(&server.addr);
    half.write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\n")
        .unwrap();
    // A byte now and then does not keep it open.
    std::thread::sleep(Duration::from_millis(500));
    let _ = half.write_all(b"x");
    assert!(closed_within(&mut half, Duration::from_secs(5)));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let mut idle = connect(&server.addr);
    assert!(closed_within(&mut idle, Duration::from_secs(6)));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1900),
        "{waited:?}: not before the idle timeout"
    );

    // Kept alive after a request, then closed when idle.
    let mut kept = connect(&server.addr);
    kept.write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = kept.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_within(&mut kept, Duration::from_secs(6)));
}

/// A body that stops after 5 bytes is answered 408 in the JSON shape after
/// the body timeout (it got no answer in 40 s).
#[test]
fn a_stalled_body_is_answered_408() {
    let server = start(&["--body-timeout-secs", "1"]);
    let mut s = connect(&server.addr);
    let started = Instant::now();
    write!(
        s,
        "POST /v1/events/export HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"fi",
        server.key
    )
    .unwrap();
    let (status, v) = response(&mut s);
    assert_eq!(status, 408, "{v}");
    assert_eq!(v["error"]["code"], "timeout");
    assert_eq!(v["success"], false);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // A body that keeps coming, slowly, is read to its end.
    let mut s = connect(&server.addr);
    let body = br#"{"limit": 5}"#;
    write!(
        s,
        "POST /v1/events/export HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        server.key,
        body.len()
    )
    .unwrap();
    for chunk in body.chunks(4) {
        std::thread::sleep(Duration::from_millis(400));
        s.write_all(chunk).unwrap();
    }
    let (status, v) = response(&mut s);
    assert_eq!(status, 200, "{v}");
}

/// A request refused before its body is read (over the body limit; a
/// refused key), or refused by the HTTP layer while its head still comes
/// (431), is answered to a client that is still sending it, as clients
/// send a whole request before they read: the server reads and drops the
/// rest before it closes. Closed at once, the connection was reset
/// under the client's feet, and the answer on its way was lost with it
/// ("broken pipe" instead of 413).
#[test]
fn a_refused_body_is_answered_to_a_client_still_sending_it() {
    let server = start(&["--max-body-bytes", "1048576"]);
    for (key, size, want) in [
        (server.key.as_str(), 3 << 20, 413),
        ("hh_not-a-key", 512 << 10, 401),
    ] {
        let mut s = connect(&server.addr);
        write!(
            s,
            "POST /v1/events/export HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {key}\r\n\
             content-type: application/json\r\ncontent-length: {size}\r\nconnection: close\r\n\r\n",
        )
        .unwrap();
        // The body comes in pieces, well after the server has answered.
        std::thread::sleep(Duration::from_millis(200));
        let piece = vec![b' '; 64 << 10];
        for i in 0..size / piece.len() {
            if let Err(e) = s.write_all(&piece) {
                panic!("{want}: the connection broke after {} KiB: {e}", i * 64);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let (status, v) = response(&mut s);
        assert_eq!(status, want, "{v}");
        assert_eq!(v["success"], false, "{v}");
    }
    // A head over its limit, still coming: hyper's own 431 (in the JSON
    // shape) reaches the client too.
    let mut s = connect(&server.addr);
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\nx-big: ")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let piece = vec![b'x'; 64 << 10];
    for i in 0..32 {
        if let Err(e) = s.write_all(&piece) {
            panic!("431: the connection broke after {} KiB: {e}", i * 64);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let (status, v) = response(&mut s);
    assert_eq!(status, 431, "{v}");
    assert_eq!(v["success"], false, "{v}");
    // The server goes on answering.
    let (status, _) = request(&server.addr, "POST", "/v1/events/export", &server.key, "{}");
    assert_eq!(status, 200);
}

/// Past --max-connections, a new connection waits until one closes.
#[test]
fn connections_past_the_cap_wait() {
    let server = start(&["--max-connections", "2", "--idle-timeout-secs", "30"]);
    let first = connect(&server.addr);
    let second = connect(&server.addr);
    std::thread::sleep(Duration::from_millis(300));
    let mut third = connect(&server.addr);
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(
        third.read(&mut buf).is_err(),
        "the third connection was served while two were open"
    );
    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = Vec::new();
    third.read_to_end(&mut out).unwrap();
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
    drop(second);
}

/// Errors the HTTP layer makes itself (431, 414, 400) carry the JSON error
/// shape (they had an empty body).
#[test]
fn http_layer_errors_carry_the_json_shape() {
    let server = start(&[]);
    // hyper's limit on a head (about 400 KiB) is checked between reads, and
    // one read can fill the buffer to twice it: a head of 1 MiB is refused
    // however the reads fall (500 KiB was once read whole and served).
    let big = "x".repeat(1 << 20);
    let long = format!("/v1/events/{}", "a".repeat(70_000));
    let cases = [
        (
            format!("GET /healthz HTTP/1.1\r\nhost: t\r\nx-big: {big}\r\n\r\n"),
            431,
            "headers_too_large",
        ),
        (
            format!("GET {long} HTTP/1.1\r\nhost: t\r\n\r\n"),
            414,
            "uri_too_long",
        ),
        ("NOT HTTP\r\n\r\n".to_owned(), 400, "bad_request"),
    ];
    for (req, want, code) in cases {
        let mut s = connect(&server.addr);
        let _ = s.write_all(req.as_bytes());
        let (status, v) = response(&mut s);
        assert_eq!(status, want, "{v}");
        assert_eq!(v["error"]["code"], code);
        assert_eq!(v["errorCode"], code);
        assert_eq!(v["success"], false);
        assert!(!v["message"].as_str().unwrap().is_empty());
    }
    // A keep-alive connection that served requests gets the same shape.
    let mut s = connect(&server.addr);
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: t\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    s.write_all(format!("GET {long} HTTP/1.1\r\nhost: t\r\n\r\n").as_bytes())
        .unwrap();
    let (status, v) = response(&mut s);
    assert_eq!(status, 414, "{v}");
    // The server still serves.
    let (status, _) = request(&server.addr, "GET", "/healthz", &server.key, "");
    assert_eq!(status, 200);
}

/// A key revoked with `hive keys revoke` is refused by the running server
/// as soon as the command returns (it was accepted for up to 2 s more, the
/// time keys stay cached).
#[test]
fn a_key_revoked_from_the_command_line_is_refused_at_once() {
    let server = start(&[]);
    let hive = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_hive"))
            .args(args)
            .arg("--data-dir")
            .arg(server.dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (stdout, stderr) = hive(&["keys", "create", "--project", "p", "--scope", "read-write"]);
    let all = format!("{stdout}{stderr}");
    let secret = all
        .split_whitespace()
        .find(|w| w.starts_with("hh_"))
        .unwrap_or_else(|| panic!("no secret in {all:?}"))
        .to_owned();
    let export = || request(&server.addr, "POST", "/v1/events/export", &secret, "{}").0;
    assert_eq!(export(), 200);
    let id = stderr
        .strip_prefix("created key ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no key id in {stderr:?}"))
        .to_owned();
    // Cached now (it was just used).
    assert_eq!(export(), 200);
    let (_, said) = hive(&["keys", "revoke", &id]);
    assert!(said.contains("refuses it from now on"), "{said}");
    assert_eq!(export(), 401, "the revoked key is still accepted");
}

const TRACE_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// An HTTP/2 connection to the gRPC port: the handle to send calls on, and
/// the task driving the connection (done when the server closes it).
async fn h2_connect(
    addr: &str,
) -> (
    h2::client::SendRequest<bytes::Bytes>,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    (client, tokio::spawn(conn))
}

/// Start a `TraceService/Export` call sending `body` (ending the stream
/// when `end`); the call's grpc-status, from the trailers or a
/// trailers-only answer.
async fn grpc_call(
    client: &mut h2::client::SendRequest<bytes::Bytes>,
    addr: &str,
    key: &str,
    body: &[u8],
    end: bool,
) -> (String, Option<h2::SendStream<bytes::Bytes>>) {
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{TRACE_EXPORT}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {key}"))
        .body(())
        .unwrap();
    let mut ready = client.clone().ready().await.unwrap();
    let (resp, mut stream) = ready.send_request(req, false).unwrap();
    stream
        .send_data(bytes::Bytes::copy_from_slice(body), end)
        .unwrap();
    *client = ready;
    let resp = resp.await.unwrap();
    let (parts, mut body) = resp.into_parts();
    if let Some(s) = parts.headers.get("grpc-status") {
        return (s.to_str().unwrap().to_owned(), Some(stream));
    }
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let trailers = body.trailers().await.unwrap().expect("trailers");
    let status = trailers["grpc-status"].to_str().unwrap().to_owned();
    (status, Some(stream))
}

/// The OTLP/gRPC port has the HTTP port's protection (it had none): a
/// connection that never makes a call is closed after the header timeout,
/// one idle after its calls after the idle timeout (with GOAWAY), and a
/// call whose body stalls fails with DEADLINE_EXCEEDED after the body
/// timeout.
#[test]
fn grpc_slow_and_idle_connections_are_closed() {
    let server = start_with_grpc(
        &[
            "--header-timeout-secs",
            "1",
            "--idle-timeout-secs",
            "2",
            "--body-timeout-secs",
            "1",
        ],
        "127.0.0.1:0",
    );
    let addr = server.grpc.clone().expect("a gRPC address");

    // Half the HTTP/2 preface, then nothing.
    let started = Instant::now();
    let mut half = connect(&addr);
    half.write_all(b"PRI * HTTP/2.0\r\n").unwrap();
    assert!(closed_within(&mut half, Duration::from_secs(8)));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // A call (an empty request is a valid one), then idle: the server
        // says GOAWAY and closes after the idle timeout.
        let (mut client, conn) = h2_connect(&addr).await;
        let (status, _) = grpc_call(&mut client, &addr, &server.key, &[0; 5], true).await;
        assert_eq!(status, "0");
        let idle_from = Instant::now();
        let closed = tokio::time::timeout(Duration::from_secs(8), conn).await;
        assert!(closed.is_ok(), "the idle connection is still open");
        let waited = idle_from.elapsed();
        assert!(
            waited >= Duration::from_millis(1900),
            "{waited:?}: closed before the idle timeout"
        );
        drop(client);

        // A body that stops after 5 bytes of a 100-byte message.
        let (mut client, _conn) = h2_connect(&addr).await;
        let started = Instant::now();
        let (status, _stream) = grpc_call(
            &mut client,
            &addr,
            &server.key,
            &[0, 0, 0, 0, 100, 1, 2, 3, 4, 5],
            false,
        )
        .await;
        assert_eq!(status, "4", "DEADLINE_EXCEEDED");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
    });
}

/// Past --max-connections, a new gRPC connection waits until one closes.
#[test]
fn grpc_connections_past_the_cap_wait() {
    let server = start_with_grpc(
        &[
            "--max-connections",
            "2",
            "--header-timeout-secs",
            "30",
            "--idle-timeout-secs",
            "30",
        ],
        "127.0.0.1:0",
    );
    let addr = server.grpc.clone().expect("a gRPC address");
    let first = connect(&addr);
    let second = connect(&addr);
    std::thread::sleep(Duration::from_millis(300));
    let mut third = connect(&addr);
    // The preface and an empty SETTINGS frame: a served connection answers
    // with the server's SETTINGS.
    third
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(
        third.read(&mut buf).is_err(),
        "the third connection was served while two were open"
    );
    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let n = third.read(&mut buf).unwrap();
    assert!(
        n >= 9 && buf[3] == 0x04,
        "a SETTINGS frame: {:?}",
        &buf[..n]
    );
    drop(second);
}

/// A command pointed at the data directory of a server on ClickHouse (which
/// holds its ingest log, not its data) says to pass the ClickHouse URL, not
/// to start a server there.
#[test]
fn a_command_on_a_clickhouse_servers_data_directory_asks_for_its_url() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("clickhouse-node"), "n1").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hive"))
        .args(["keys", "list", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("belongs to a server that keeps its data in ClickHouse")
            && said.contains("--clickhouse or HIVE_CLICKHOUSE_URL"),
        "{said}"
    );
    assert!(!dir.path().join("hive.db").exists(), "nothing made there");
}
