//! `hive keys`, `hive login` and `hive serve` when the store is ClickHouse
//! (issue 10), on one ClickHouse 18.16 server on 127.0.0.1:
//!
//! - the CLI with `--clickhouse URL` creates, lists and revokes keys,
//!   prints login links, lists projects and sets their retention in
//!   ClickHouse, and the running server honours them;
//! - `hive serve --clickhouse URL` started while ClickHouse is down starts
//!   (saying so, and again every 10 s), acknowledges writes with a key it
//!   checked before into its ingest log, answers API reads and dashboard
//!   pages 503 naming ClickHouse, and once ClickHouse is up applies every
//!   acknowledged write once, without a restart;
//! - the redaction rules saved while ClickHouse was up apply to the writes
//!   such a node acknowledges (from its copy of them): nothing of what they
//!   replace reaches its data directory or ClickHouse; a node without the
//!   copy refuses writes (503) rather than log them unredacted.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use support::{Acked, ClickHouse, Hive, api, get_ready, request_with_head, span_json};

/// Run the hive CLI; its stdout, or a panic with its stderr.
fn cli(args: &[&str]) -> String {
    cli_with(args, None)
}

/// [`cli`] with `HIVE_CLICKHOUSE_URL` set to `url`.
fn cli_with(args: &[&str], url: Option<&str>) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hive"));
    command
        .args(args)
        .env_remove("HIVE_CLICKHOUSE_URL")
        .env_remove("HIVE_DATA_DIR");
    if let Some(url) = url {
        command.env("HIVE_CLICKHOUSE_URL", url);
    }
    let out = command.output().expect("run hive");
    assert!(
        out.status.success(),
        "hive {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The line of `hive projects list` for `name`.
fn project_line(list: &str, name: &str) -> String {
    list.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| panic!("project {name} is not listed:\n{list}"))
        .to_owned()
}

/// Files under `dir` (recursively) holding `needle`.
fn files_holding(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            {
                found.push(path);
            }
        }
    }
    found
}

/// An OTLP/JSON span as [`span_json`] makes, with secrets the redaction
/// rules replace: a custom key rule's (`customer_ref`) and an email.
fn secret_span(session: &str, client: usize, seq: usize) -> String {
    let mut v: serde_json::Value = serde_json::from_str(&span_json(session, client, seq)).unwrap();
    let attrs = v["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
        .as_array_mut()
        .unwrap();
    attrs.push(json!({"key": "honeyhive_metadata.customer_ref",
        "value": {"stringValue": format!("CUST-SECRET-S{seq}")}}));
    attrs.push(json!({"key": "honeyhive_metadata.contact",
        "value": {"stringValue": format!("ada{seq}@example.com")}}));
    v.to_string()
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
    // A URL naming no hive database (a typo) is told so, and nothing is
    // made there.
    let out = Command::new(env!("CARGO_BIN_EXE_hive"))
        .args(["keys", "list", "--clickhouse", &ch.url("hvie")])
        .env_remove("HIVE_CLICKHOUSE_URL")
        .output()
        .expect("run hive");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("no hive data"),
        "{stderr}"
    );
    assert_eq!(
        ch.query("SELECT count() FROM system.databases WHERE name = 'hvie'")
            .unwrap()
            .trim(),
        "0"
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
    // Projects and their retention, from the CLI (the flag or the
    // server's variable) and the API alike.
    let list = cli(&["projects", "list", "--clickhouse", &url]);
    assert!(
        project_line(&list, "cli-project").ends_with("default"),
        "{list}"
    );
    assert!(
        project_line(&list, "default").ends_with("default"),
        "{list}"
    );
    cli(&[
        "projects",
        "retention",
        "cli-project",
        "7",
        "--clickhouse",
        &url,
    ]);
    cli_with(&["projects", "retention", "default", "off"], Some(&url));
    let v = get_ready(
        &node.addr,
        &admin,
        "/v1/projects/cli-project",
        Duration::from_secs(10),
    );
    assert_eq!(v["retention_days"], 7, "{v}");
    let (status, body) = api(
        &node.addr,
        "PUT",
        "/v1/projects/cli-project",
        &admin,
        &json!({"retention_days": 30}).to_string(),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let list = cli_with(&["projects", "list"], Some(&url));
    assert!(
        project_line(&list, "cli-project").ends_with("30 days"),
        "{list}"
    );
    assert!(project_line(&list, "default").ends_with("off"), "{list}");
    let out = Command::new(env!("CARGO_BIN_EXE_hive"))
        .args([
            "projects",
            "retention",
            "no-such-project",
            "3",
            "--clickhouse",
            &url,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no project named"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{:.1} s: the CLI checked", started.elapsed().as_secs_f64());

    // Redaction of the default project (where the admin key's writes go),
    // with a rule of its own: the node keeps a copy of the rules.
    let (status, body) = api(
        &node.addr,
        "PUT",
        "/v1/redaction",
        &admin,
        &json!({"enabled": true, "keys": ["customer_ref"]}).to_string(),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let copy = data.join("redaction-rules.json");
    let saved = std::fs::read_to_string(&copy).expect("a copy of the redaction rules");
    assert!(saved.contains("customer_ref"), "{saved}");

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
    let down = "cccccccc-0000-4000-8000-000000000002";

    // Without its copy of the rules (as a node from before it kept one),
    // a node started while ClickHouse is down cannot tell which projects
    // redact: it refuses writes rather than log secrets.
    let aside = data.join("redaction-rules.json.aside");
    std::fs::rename(&copy, &aside).unwrap();
    let node = Hive::start(&data, &["--clickhouse", &url]);
    assert!(
        node.said("keeps no copy of the rules"),
        "{:?}",
        node.output.lock().unwrap()
    );
    let (status, body) = api(
        &node.addr,
        "POST",
        "/opentelemetry/v1/traces",
        &admin,
        &secret_span(down, 2, 1),
    )
    .unwrap();
    assert_eq!(status, 503, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("redaction rules"), "{body}");
    drop(node);
    std::fs::rename(&aside, &copy).unwrap();

    // Started while ClickHouse is down: it starts, and says why.
    let node = Hive::start(&data, &["--clickhouse", &url]);
    assert!(
        node.said("ClickHouse at http://127.0.0.1:") && node.said("starting without it"),
        "{:?}",
        node.output.lock().unwrap()
    );
    assert!(
        node.said("the rules this node loaded last"),
        "{:?}",
        node.output.lock().unwrap()
    );
    // Writes with a key this node checked before are acknowledged, and
    // redacted by the rules it loaded last.
    let mut acked = Acked::default();
    for seq in 1..=20 {
        let answer = if seq % 2 == 0 {
            acked.spans.insert((1, seq));
            api(
                &node.addr,
                "POST",
                "/opentelemetry/v1/traces",
                &admin,
                &secret_span(down, 1, seq),
            )
        } else {
            let k = format!("down_{seq}");
            acked.keys.insert(k.clone());
            let body = json!({"event_id": down, "metadata": {
                k: seq,
                format!("down_{seq}_customer_ref"): format!("CUST-SECRET-E{seq}"),
            }});
            api(&node.addr, "PUT", "/events", &admin, &body.to_string())
        };
        let (status, body) = answer.unwrap();
        assert_eq!(status, 200, "write {seq} while ClickHouse is down: {body}");
    }
    // Nothing of what the rules replace is in the data directory (the
    // ingest log holds what was acknowledged, with the markers).
    assert!(!files_holding(&data.join("log"), b"[REDACTED:customer_ref]").is_empty());
    for secret in ["CUST-SECRET", "@example.com"] {
        let found = files_holding(&data, secret.as_bytes());
        assert!(found.is_empty(), "{secret} is in {found:?}");
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
    // What was acknowledged meanwhile is stored redacted: in the events
    // read back, and in every row ClickHouse holds.
    let v = get_ready(
        &node.addr,
        &admin,
        &format!("/v1/sessions/{down}"),
        Duration::from_secs(30),
    );
    let metadata = &v["session"]["metadata"];
    for seq in (1..=20).step_by(2) {
        assert_eq!(
            metadata[format!("down_{seq}_customer_ref")],
            "[REDACTED:customer_ref]",
            "{metadata}"
        );
    }
    let children = v["session"]["children"].as_array().unwrap();
    assert_eq!(children.len(), 10, "{v}");
    for child in children {
        assert_eq!(
            child["metadata"]["customer_ref"], "[REDACTED:customer_ref]",
            "{child}"
        );
        assert_eq!(child["metadata"]["contact"], "[REDACTED:email]", "{child}");
    }
    let count = |needle: &str| -> u64 {
        ch.query(&format!(
            "SELECT count() FROM hive.hive_writes WHERE position(doc, '{needle}') > 0 \
             OR position(raw, '{needle}') > 0 OR has(strs, '{needle}')"
        ))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
    };
    assert!(count("[REDACTED:customer_ref]") >= 20);
    assert_eq!(count("CUST-SECRET"), 0);
    assert_eq!(count("@example.com"), 0);
    for secret in ["CUST-SECRET", "@example.com"] {
        let found = files_holding(&data, secret.as_bytes());
        assert!(found.is_empty(), "{secret} is in {found:?}");
    }
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
