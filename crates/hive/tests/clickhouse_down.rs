//! `hive keys`, `hive login` and `hive serve` when the store is ClickHouse
//! (issue 10), on one ClickHouse 18.16 server on 127.0.0.1:
//!
//! - the CLI with `--clickhouse URL` creates, lists and revokes keys and
//!   prints login links in ClickHouse, and the running server honours them;
//! - `hive serve --clickhouse URL` started while ClickHouse is down starts
//!   (saying so, and again every 10 s), acknowledges writes with a key it
//!   checked before into its ingest log, answers API reads and dashboard
//!   pages 503 naming ClickHouse, and once ClickHouse is up applies every
//!   acknowledged write once, without a restart.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{Acked, ClickHouse, Hive, api, get_ready, request_with_head, span_json};

/// Run the hive CLI; its stdout, or a panic with its stderr.
fn cli(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_hive"))
        .args(args)
        .env_remove("HIVE_CLICKHOUSE_URL")
        .env_remove("HIVE_DATA_DIR")
        .output()
        .expect("run hive");
    assert!(
        out.status.success(),
        "hive {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Wait until `hive` has applied everything it acknowledged.
fn wait_applied(addr: &str, key: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let s = get_ready(addr, key, "/v1/stats", within);
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

/// Log in to the dashboard with a one-time link: the session cookie.
fn log_in(addr: &str, link: &str) -> String {
    let token = link.split("token=").nth(1).expect("a token in the link");
    let (status, head, body) = request_with_head(
        addr,
        "POST",
        "/login",
        &[("content-type", "application/x-www-form-urlencoded")],
        format!("token={token}").as_bytes(),
        Duration::from_secs(30),
    )
    .expect("an answer");
    assert!((300..400).contains(&status), "login: {status} {body}");
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("set-cookie")
                .then(|| v.trim().split(';').next().unwrap().to_owned())
        })
        .unwrap_or_else(|| panic!("no cookie: {head}"))
}

fn page(addr: &str, path: &str, cookie: &str) -> (u16, String) {
    let (status, _, body) = request_with_head(
        addr,
        "GET",
        path,
        &[("cookie", cookie)],
        b"",
        Duration::from_secs(30),
    )
    .expect("an answer");
    (status, body)
}

#[test]
fn cli_and_a_server_started_while_clickhouse_is_down() {
    if !ClickHouse::available() {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let mut ch = ClickHouse::start_new(&tmp.path().join("clickhouse"));
    let url = ch.url("hive");
    let data = tmp.path().join("node");
    let node = Hive::start(&data, &["--clickhouse", &url]);
    let admin = node.key.clone().expect("the admin key");

    // The CLI works on ClickHouse: a key created there works on the
    // server, is listed, and once revoked is refused.
    let secret = cli(&[
        "keys",
        "create",
        "--clickhouse",
        &url,
        "--project",
        "cli-project",
        "--scope",
        "read-write",
        "--name",
        "from the cli",
    ]);
    let secret = secret.trim();
    assert!(secret.starts_with("hh_"), "{secret}");
    let session = "cccccccc-0000-4000-8000-000000000001";
    let (status, body) = api(
        &node.addr,
        "POST",
        "/session/start",
        secret,
        &json!({"session": {"session_id": session, "session_name": "cli"}}).to_string(),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let v = get_ready(
        &node.addr,
        secret,
        &format!("/v1/sessions/{session}"),
        Duration::from_secs(30),
    );
    assert_eq!(v["session"]["session_id"], session, "{v}");
    let list = cli(&["keys", "list", "--clickhouse", &url]);
    let line = list
        .lines()
        .find(|l| l.ends_with("from the cli"))
        .unwrap_or_else(|| panic!("the key is not listed:\n{list}"));
    assert!(
        line.contains("cli-project") && line.contains("live"),
        "{line}"
    );
    let id = line.split_whitespace().next().unwrap();
    cli(&["keys", "revoke", id, "--clickhouse", &url]);
    let list = cli(&["keys", "list", "--clickhouse", &url]);
    assert!(
        list.lines()
            .any(|l| l.starts_with(id) && l.contains("revoked")),
        "{list}"
    );
    // Refused once the server's key cache (2 s) lapses.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = api(&node.addr, "GET", "/v1/stats", secret, "").unwrap();
        if status == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "a revoked key still works");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A login link from the CLI logs in to the dashboard, once.
    let link = cli(&["login", "--clickhouse", &url, "--addr", &node.addr]);
    let link = link.trim();
    assert!(
        link.starts_with(&format!("http://{}/login?token=", node.addr)),
        "{link}"
    );
    let cookie = log_in(&node.addr, link);
    let (status, html) = page(&node.addr, "/sessions?project=cli-project", &cookie);
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("cli"), "{html}");
    // Without --clickhouse the CLI looks for SQLite in the data directory,
    // which a ClickHouse node has not.
    let out = Command::new(env!("CARGO_BIN_EXE_hive"))
        .args(["keys", "list", "--data-dir"])
        .arg(&data)
        .env_remove("HIVE_CLICKHOUSE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--clickhouse"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{:.1} s: the CLI checked", started.elapsed().as_secs_f64());

    // The node has applied writes and checked the admin key; then it stops,
    // and so does ClickHouse.
    let (status, body) = api(
        &node.addr,
        "POST",
        "/opentelemetry/v1/traces",
        &admin,
        &span_json(session, 0, 0),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    wait_applied(&node.addr, &admin, Duration::from_secs(30));
    drop(node);
    ch.kill();

    // Started while ClickHouse is down: it starts, and says why.
    let node = Hive::start(&data, &["--clickhouse", &url]);
    assert!(
        node.said("ClickHouse at http://127.0.0.1:") && node.said("starting without it"),
        "{:?}",
        node.output.lock().unwrap()
    );
    // Writes with a key this node checked before are acknowledged.
    let down = "cccccccc-0000-4000-8000-000000000002";
    let mut acked = Acked::default();
    for seq in 1..=20 {
        let answer = if seq % 2 == 0 {
            acked.spans.insert((1, seq));
            api(
                &node.addr,
                "POST",
                "/opentelemetry/v1/traces",
                &admin,
                &span_json(down, 1, seq),
            )
        } else {
            let k = format!("down_{seq}");
            acked.keys.insert(k.clone());
            let body = json!({"event_id": down, "metadata": {k: seq}});
            api(&node.addr, "PUT", "/events", &admin, &body.to_string())
        };
        let (status, body) = answer.unwrap();
        assert_eq!(status, 200, "write {seq} while ClickHouse is down: {body}");
    }
    // A key it never checked cannot be: 503, not 401.
    let (status, body) = api(
        &node.addr,
        "GET",
        "/v1/stats",
        "hh_never_seen_0000000000000000",
        "",
    )
    .unwrap();
    assert_eq!(status, 503, "{body}");
    // Reads answer 503 naming ClickHouse.
    for (method, path, body) in [
        ("GET", format!("/v1/sessions/{down}"), String::new()),
        (
            "POST",
            "/v1/events/export".to_owned(),
            json!({"filters": []}).to_string(),
        ),
    ] {
        let (status, v) = api(&node.addr, method, &path, &admin, &body).unwrap();
        assert_eq!(status, 503, "{path}: {v}");
        assert_eq!(v["error"]["code"], "store_unavailable", "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("ClickHouse"),
            "{v}"
        );
    }
    // Dashboard pages answer a page naming ClickHouse, not a blank 500.
    for path in ["/sessions", "/events", "/charts", "/alerts", "/keys"] {
        let (status, html) = page(&node.addr, path, &cookie);
        assert_eq!(status, 503, "{path}: {html}");
        assert!(
            html.contains("<html") && html.contains("ClickHouse"),
            "{path}: {html}"
        );
    }
    eprintln!(
        "{:.1} s: writes acknowledged and reads refused while ClickHouse is down",
        started.elapsed().as_secs_f64()
    );
    // It keeps saying so.
    let deadline = Instant::now() + Duration::from_secs(20);
    while node
        .output
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("writes wait in the ingest log"))
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "no repeated warning: {:?}",
            node.output.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // ClickHouse is back: everything acknowledged is applied, once, and the
    // dashboard answers again.
    ch.start();
    wait_applied(&node.addr, &admin, Duration::from_secs(60));
    support::verify_session(&node.addr, &admin, down, &acked);
    let (status, html) = page(&node.addr, "/sessions", &cookie);
    assert_eq!(status, 200, "{html}");
    // The login link it could not make at start is printed now.
    assert!(
        node.said("dashboard: http://"),
        "{:?}",
        node.output.lock().unwrap()
    );
    eprintln!(
        "cli and a start while ClickHouse is down: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
