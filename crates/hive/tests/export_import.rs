//! `hive export` of a project and `hive import` into a project of another
//! server: every field of every event, its raw span and its enrichment
//! history (when, which key, what) come back the same. Then what goes
//! wrong: a filter, a project that already has events, a file cut short
//! mid-line or at a line boundary, a line of the wrong types, a damaged
//! gzip stream, and the import endpoint's own refusals. Last, the same
//! round trip into a server on ClickHouse (18.16) and back out of it.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hive_store::Store;
use serde_json::{Value, json};
use support::{ClickHouse, Hive, api, get_ready};

/// Run the hive binary against `addr` with `key`: (success, stderr).
fn hive(addr: &str, key: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hive"))
        .args(args)
        .env("HH_API_URL", format!("http://{addr}"))
        .env("HH_API_KEY", key)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run hive");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(call: Option<(u16, Value)>) -> Value {
    match call {
        Some((200, v)) => v,
        other => panic!("request failed: {other:?}"),
    }
}

/// A project with a bit of everything: session starts with every
/// namespace, events posted with errors and nested values, a span (raw
/// span kept), enrichments that add, nest, remove (null), replace arrays
/// and set durations, one sent before its event arrived, and feedback.
fn populate(addr: &str, key: &str, project: &str) {
    let post = |path: &str, body: Value| ok(api(addr, "POST", path, key, &body.to_string()));
    let put = |body: Value| ok(api(addr, "PUT", "/events", key, &body.to_string()));
    post(
        "/session/start",
        json!({"session": {"session_id": "s-1", "project": project, "session_name": "checkout",
            "source": "prod", "inputs": {"question": "where is my order?"},
            "config": {"model": "gpt", "temperature": 0.2},
            "metadata": {"tenant": "acme", "tags": ["a", "b"]},
            "user_properties": {"plan": "pro", "user": {"id": 7}}}}),
    );
    post(
        "/session/start",
        json!({"session": {"session_id": "s-2", "project": project, "metadata": {"tenant": "globex"}}}),
    );
    // An enrichment of an event that does not exist yet (out of order).
    put(json!({"event_id": "e-late", "project": project, "feedback": {"rating": 2}}));
    post(
        "/events/batch",
        json!({"project": project, "events": [
            {"event_id": "e-1", "session_id": "s-1", "event_type": "model", "event_name": "llm",
             "start_time": 1700000000000i64, "end_time": 1700000001500i64,
             "inputs": {"chat_history": [{"role": "user", "content": "hi <b>"}]},
             "outputs": {"content": "hello"}, "metrics": {"cost": 0.25, "total_tokens": 30,
             "prompt_tokens": 20, "completion_tokens": 10}, "config": {"model": "gpt"}},
            {"event_id": "e-2", "session_id": "s-1", "parent_id": "e-1", "event_type": "tool",
             "event_name": "search", "start_time": 1700000000100i64, "duration": 42.5,
             "error": "timeout after 3 s", "metadata": {"attempt": 2}},
            {"event_id": "e-late", "session_id": "s-2", "event_type": "chain",
             "event_name": "late", "start_time": 1700000005000i64, "end_time": 1700000006000i64},
        ]}),
    );
    put(
        json!({"event_id": "s-1", "metadata": {"variant": "b", "nested": {"x": 1, "y": [1, 2]}},
        "feedback": {"rating": 5, "comment": "great"}}),
    );
    put(json!({"event_id": "s-1", "metadata": {"nested": {"x": null, "z": true}, "tags": ["c"]}}));
    put(json!({"event_id": "e-1", "metrics": {"score": 0.9}, "duration": 1234}));
    put(json!({"event_id": "e-2", "metadata": {"attempt": null}, "outputs": {"hits": 3}}));
    let span = support::span_json("s-2", 3, 9);
    let span: Value = serde_json::from_str(&span).unwrap();
    let mut span = span;
    span["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
        .as_array_mut()
        .unwrap()
        .push(json!({"key": "honeyhive.project", "value": {"stringValue": project}}));
    post("/opentelemetry/v1/traces", span);
}

/// Every event of `project` by id: the event (without its project id),
/// its raw span, and its history as (received_at, key_id, patch).
fn snapshot(addr: &str, key: &str, project: &str) -> BTreeMap<String, (Value, Value, Vec<Value>)> {
    let page = get_ready_post(addr, key, project);
    let mut out = BTreeMap::new();
    for e in page["events"].as_array().unwrap() {
        let id = e["event_id"].as_str().unwrap().to_owned();
        let one = get_ready(
            addr,
            key,
            &format!("/v1/events/{id}?project={project}&include=span"),
            Duration::from_secs(30),
        );
        let mut event = one["event"].clone();
        event.as_object_mut().unwrap().remove("project_id");
        let history = get_ready(
            addr,
            key,
            &format!("/v1/events/{id}/history?project={project}"),
            Duration::from_secs(30),
        );
        let history: Vec<Value> = history["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| json!([h["received_at"], h["key_id"], h["patch"]]))
            .collect();
        out.insert(id, (event, one["span"].clone(), history));
    }
    out
}

fn get_ready_post(addr: &str, key: &str, project: &str) -> Value {
    ok(api(
        addr,
        "POST",
        "/v1/events/export",
        key,
        &json!({"project": project, "limit": 7500}).to_string(),
    ))
}

fn count(addr: &str, key: &str, project: &str) -> u64 {
    match api(
        addr,
        "POST",
        "/v1/events/export",
        key,
        &json!({"project": project, "limit": 1}).to_string(),
    ) {
        Some((200, v)) => v["totalEvents"].as_u64().unwrap(),
        Some((404, _)) => 0,
        other => panic!("{other:?}"),
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn export_then_import_into_another_server_keeps_every_field_and_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let source = Hive::start(&dir.path().join("source"), &[]);
    let skey = source.key.clone().unwrap();
    populate(&source.addr, &skey, "shop");
    populate(&source.addr, &skey, "elsewhere");
    let original = snapshot(&source.addr, &skey, "shop");
    assert_eq!(original.len(), 6, "{:?}", original.keys());
    assert!(original.values().any(|(_, span, _)| !span.is_null()));
    assert!(original["s-1"].2.len() >= 2);

    // Export with a project key (read_write) of the project, gzip.
    let (status, k) = api(
        &source.addr,
        "POST",
        "/v1/keys",
        &skey,
        &json!({"name": "shop rw", "scope": "read_write", "project": "shop"}).to_string(),
    )
    .unwrap();
    assert_eq!(status, 200, "{k}");
    let rw = k["secret"].as_str().unwrap().to_owned();
    let file = dir.path().join("shop.jsonl.gz");
    let (done, out) = hive(
        &source.addr,
        &rw,
        &[
            "export",
            "--project",
            "shop",
            "--to",
            file.to_str().unwrap(),
        ],
    );
    assert!(done, "{out}");
    assert!(
        out.contains("exported 6 events (2 sessions, ") && out.contains(" spans)"),
        "{out}"
    );
    let raw = std::fs::read(&file).unwrap();
    assert_eq!(&raw[..2], &[0x1f, 0x8b], "a .gz export is gzip");

    // Import into another server (a project of another name).
    let target = Hive::start(&dir.path().join("target"), &[]);
    let tkey = target.key.clone().unwrap();
    let (done, out) = hive(
        &target.addr,
        &tkey,
        &[
            "import",
            "--from",
            file.to_str().unwrap(),
            "--project",
            "restored",
        ],
    );
    assert!(done, "{out}");
    assert!(out.contains("imported 6 events (2 sessions, "), "{out}");
    let copy = snapshot(&target.addr, &tkey, "restored");
    assert_eq!(
        copy.keys().collect::<Vec<_>>(),
        original.keys().collect::<Vec<_>>()
    );
    for (id, (event, span, history)) in &original {
        let (e2, s2, h2) = &copy[id];
        assert_eq!(event, e2, "event {id} differs after the round trip");
        assert_eq!(span, s2, "the span of {id} differs after the round trip");
        assert_eq!(
            history, h2,
            "the history of {id} differs after the round trip"
        );
    }
    // And the imported project exports the same file again (but its
    // header and project ids).
    let again = dir.path().join("again.jsonl");
    let (done, out) = hive(
        &target.addr,
        &tkey,
        &[
            "export",
            "--project",
            "restored",
            "--to",
            again.to_str().unwrap(),
        ],
    );
    assert!(done, "{out}");
    let plain = dir.path().join("shop.jsonl");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&raw[..]), &mut text).unwrap();
    std::fs::write(&plain, &text).unwrap();
    let strip = |l: &str| -> Value {
        let mut v: Value = serde_json::from_str(l).unwrap();
        if let Some(e) = v.get_mut("event").and_then(Value::as_object_mut) {
            e.remove("project_id");
        }
        if let Some(h) = v.get_mut("history").and_then(Value::as_array_mut) {
            for e in h {
                e.as_object_mut().unwrap().remove("seq");
            }
        }
        v
    };
    let (a, b) = (lines(&plain), lines(&again));
    assert_eq!(a.len(), b.len());
    for (x, y) in a[1..].iter().zip(&b[1..]) {
        assert_eq!(strip(x), strip(y));
    }

    // An import key must be an admin key: the history names other keys.
    let (status, v) = api(
        &source.addr,
        "POST",
        "/v1/import",
        &rw,
        &json!({"project": "shop", "records": []}).to_string(),
    )
    .unwrap();
    assert_eq!(status, 403, "{v}");

    // A project that already has events: refused unless --force.
    let (done, out) = hive(
        &target.addr,
        &tkey,
        &[
            "import",
            "--from",
            file.to_str().unwrap(),
            "--project",
            "restored",
        ],
    );
    assert!(!done && out.contains("already has 6 events"), "{out}");
    assert_eq!(snapshot(&target.addr, &tkey, "restored"), copy);

    // A filter: only the matching events.
    let filtered = dir.path().join("acme.jsonl");
    let (done, out) = hive(
        &source.addr,
        &skey,
        &[
            "export",
            "--project",
            "shop",
            "--filter",
            "metadata.tenant is acme",
            "--to",
            filtered.to_str().unwrap(),
        ],
    );
    assert!(done, "{out}");
    let ids: Vec<String> = lines(&filtered)[1..]
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["event"]["event_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids, vec!["s-1".to_owned()], "{out}");
    let (done, out) = hive(
        &source.addr,
        &skey,
        &[
            "export",
            "--project",
            "shop",
            "--filter",
            "metadata.tenant frobs x",
            "--to",
            "x",
        ],
    );
    assert!(!done && out.contains("no operator"), "{out}");

    // Damaged files: nothing imported, the line named.
    let records = lines(&plain);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "cut mid-line",
            {
                let mut t = records[..3].join("\n");
                t.push('\n');
                t.push_str(&records[3][..records[3].len() / 2]);
                t.into_bytes()
            },
            "line 4 is not valid JSON",
        ),
        (
            "cut at a line boundary",
            (records[..4].join("\n") + "\n").into_bytes(),
            "cut short",
        ),
        (
            "a wrongly typed field",
            {
                let mut r = records.clone();
                let mut v: Value = serde_json::from_str(&r[2]).unwrap();
                v["event"]["start_time"] = json!("yesterday");
                r[2] = v.to_string();
                (r.join("\n") + "\n").into_bytes()
            },
            "line 3: event.start_time must be a number",
        ),
        (
            "a wrongly typed history entry",
            {
                let mut r = records.clone();
                let line = r
                    .iter()
                    .position(|l| l.contains("\"received_at\""))
                    .unwrap();
                let mut v: Value = serde_json::from_str(&r[line]).unwrap();
                v["history"][0]["received_at"] = json!("noon");
                r[line] = v.to_string();
                (r.join("\n") + "\n").into_bytes()
            },
            ": history[0].received_at must be a whole number",
        ),
        (
            "a damaged gzip stream",
            {
                let mut g = raw.clone();
                let n = g.len();
                g[n / 2] ^= 0xff;
                g
            },
            "nothing was imported",
        ),
    ];
    for (what, bytes, expected) in cases {
        let bad = dir.path().join("bad.jsonl");
        std::fs::write(&bad, bytes).unwrap();
        let (done, out) = hive(
            &target.addr,
            &tkey,
            &[
                "import",
                "--from",
                bad.to_str().unwrap(),
                "--project",
                "broken",
            ],
        );
        assert!(!done, "{what}: imported: {out}");
        assert!(
            out.contains(expected) && out.contains("nothing was imported"),
            "{what}: {out}"
        );
        assert_eq!(count(&target.addr, &tkey, "broken"), 0, "{what}");
    }

    // The endpoint's own checks name the field; nothing is written.
    let mut record: Value = serde_json::from_str(&records[1]).unwrap();
    record["history"] = json!([{"received_at": 1, "key_id": 5, "patch": {}}]);
    let (status, v) = api(
        &target.addr,
        "POST",
        "/v1/import",
        &tkey,
        &json!({"project": "broken", "records": [record]}).to_string(),
    )
    .unwrap();
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("records[0]: history[0].key_id must be a string"),
        "{v}"
    );
    let (status, v) = api(
        &target.addr,
        "POST",
        "/v1/import",
        &tkey,
        &json!({"records": []}).to_string(),
    )
    .unwrap();
    assert_eq!(status, 400, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("project"));
    let one: Value = serde_json::from_str(&records[1]).unwrap();
    let (status, v) = api(
        &target.addr,
        "POST",
        "/v1/import",
        &tkey,
        &json!({"project": "broken", "records": [one, one]}).to_string(),
    )
    .unwrap();
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("records[1]")
    );
    assert_eq!(count(&target.addr, &tkey, "broken"), 0);

    // The same file into a server on ClickHouse: the same events, spans
    // and histories; and out of it again, the same file.
    if !ClickHouse::available() {
        return;
    }
    let ch = ClickHouse::start_new(&dir.path().join("clickhouse"));
    let on_ch = Hive::start(
        &dir.path().join("on-clickhouse"),
        &["--clickhouse", &ch.url("hive")],
    );
    let ckey = on_ch.key.clone().unwrap();
    let (done, out) = hive(
        &on_ch.addr,
        &ckey,
        &[
            "import",
            "--from",
            file.to_str().unwrap(),
            "--project",
            "restored",
        ],
    );
    assert!(done, "{out}");
    let on_clickhouse = snapshot(&on_ch.addr, &ckey, "restored");
    assert_eq!(
        on_clickhouse.keys().collect::<Vec<_>>(),
        original.keys().collect::<Vec<_>>()
    );
    for (id, (event, span, history)) in &original {
        let (e2, s2, h2) = &on_clickhouse[id];
        assert_eq!(event, e2, "event {id} differs on ClickHouse");
        assert_eq!(span, s2, "the span of {id} differs on ClickHouse");
        assert_eq!(history, h2, "the history of {id} differs on ClickHouse");
    }
    eprintln!(
        "compared {} events imported into ClickHouse",
        on_clickhouse.len()
    );
    let from_ch = dir.path().join("from-clickhouse.jsonl");
    let (done, out) = hive(
        &on_ch.addr,
        &ckey,
        &[
            "export",
            "--project",
            "restored",
            "--to",
            from_ch.to_str().unwrap(),
        ],
    );
    assert!(done, "{out}");
    let c = lines(&from_ch);
    assert_eq!(a.len(), c.len());
    let by_id = |ls: &[String]| -> BTreeMap<String, Value> {
        ls[1..ls.len() - 1]
            .iter()
            .map(|l| strip(l))
            .map(|v| (v["event"]["event_id"].as_str().unwrap().to_owned(), v))
            .collect()
    };
    assert_eq!(by_id(&a), by_id(&c));
    // Stop ClickHouse and let its watchdog shell notice, so that no
    // process of the test outlives it.
    drop(on_ch);
    drop(ch);
    std::thread::sleep(Duration::from_millis(700));
}

/// A command that fails says why on one line, and exits 1, without a
/// backtrace even where RUST_BACKTRACE is set (for panics) in the shell.
#[test]
fn a_failing_command_says_why_in_one_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_hive"))
        .args([
            "export",
            "--url",
            "http://127.0.0.1:9",
            "--key",
            "k",
            "--project",
            "p",
        ])
        .args([
            "--to",
            "/nonexistent/x.jsonl",
            "--filter",
            "metadata.x greater",
        ])
        .env("RUST_BACKTRACE", "1")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .expect("run hive");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("Error: --filter \"metadata.x greater\": no operator after"),
        "{stderr}"
    );
}

fn list(addr: &str, key: &str, path: &str) -> Vec<Value> {
    let v = get_ready(addr, key, path, Duration::from_secs(30));
    v["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no list in {v}"))
        .clone()
}

/// `hive migrate` moves a stopped SQLite server's whole store into a new
/// ClickHouse database (18.16): a server on it then answers every key as
/// before (a revoked one still refused), has the projects with their
/// retention, the charts and alert rules with the same ids, the alert's
/// evaluations, the saved views, and every event with its span and its
/// history as before; an enrichment still waiting for its event applies
/// when the event arrives. A second migration into the same database is
/// refused, and so is a data directory whose log is not applied.
#[test]
fn migrate_moves_a_stopped_sqlite_server_to_clickhouse() {
    if !ClickHouse::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("source");
    let source = Hive::start(&data, &[]);
    let (addr, admin) = (source.addr.clone(), source.key.clone().unwrap());
    populate(&addr, &admin, "shop");
    populate(&addr, &admin, "elsewhere");
    let new_key = |body: Value| -> String {
        let v = ok(api(&addr, "POST", "/v1/keys", &admin, &body.to_string()));
        v["secret"].as_str().unwrap().to_owned()
    };
    let rw = new_key(json!({"name": "shop rw", "scope": "read_write", "project": "shop"}));
    let ingest = new_key(
        json!({"name": "shop in", "scope": "ingest", "project": "shop", "expires_in": "30d"}),
    );
    let revoked = new_key(json!({"name": "old", "scope": "read_write", "project": "shop"}));
    let keys = ok(api(&addr, "GET", "/v1/keys", &admin, ""));
    let old_id = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "old")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(api(
        &addr,
        "DELETE",
        &format!("/v1/keys/{old_id}"),
        &admin,
        "",
    ));
    // An enrichment waiting for an event that has not arrived.
    ok(api(
        &addr,
        "PUT",
        "/events",
        &rw,
        &json!({"event_id": "e-future", "metadata": {"waited": true}}).to_string(),
    ));
    let shop = snapshot(&addr, &admin, "shop");
    let elsewhere = snapshot(&addr, &admin, "elsewhere");
    let chart = ok(api(
        &addr,
        "POST",
        "/v1/charts",
        &rw,
        &json!({"name": "cost", "metric": "metrics.cost", "func": "sum"}).to_string(),
    ));
    let chart_id = chart["id"]
        .as_str()
        .or_else(|| chart["data"]["id"].as_str())
        .unwrap()
        .to_owned();
    let alert = ok(api(
        &addr,
        "POST",
        "/v1/alerts",
        &admin,
        &json!({"name": "few", "project": "shop", "type": "aggregate", "comparison": "below",
                "threshold": 1_000_000, "frequency": "hourly",
                "query": {"aggregation": "count"}})
        .to_string(),
    ));
    let alert_id = alert["id"]
        .as_str()
        .or_else(|| alert["data"]["id"].as_str())
        .or_else(|| alert["alert"]["id"].as_str())
        .unwrap()
        .to_owned();
    ok(api(
        &addr,
        "PUT",
        "/v1/projects/shop",
        &admin,
        &json!({"retention_days": "off"}).to_string(),
    ));
    let settings = get_ready(&addr, &admin, "/v1/projects/shop", Duration::from_secs(30));
    assert_eq!(settings["retention_days"], "off", "{settings}");
    // Charts and alert rules by id and name (their project ids change).
    let named = |l: Vec<Value>| -> Vec<(Value, Value, Value)> {
        l.iter()
            .map(|o| (o["id"].clone(), o["name"].clone(), o["created_at"].clone()))
            .collect()
    };
    let charts = named(list(&addr, &rw, "/v1/charts"));
    let alerts = named(list(&addr, &admin, "/v1/alerts?project=shop"));
    assert!(
        charts.iter().any(|(id, _, _)| id == chart_id.as_str()),
        "{charts:?}"
    );
    assert!(
        alerts.iter().any(|(id, _, _)| id == alert_id.as_str()),
        "{alerts:?}"
    );
    source.stop();
    // A saved view (the dashboard makes them), and an evaluation of the
    // alert, written into the stopped server's database.
    {
        let c = rusqlite::Connection::open(data.join("hive.db")).unwrap();
        let shop_id: String = c
            .query_row("SELECT id FROM projects WHERE name = 'shop'", [], |r| {
                r.get(0)
            })
            .unwrap();
        c.execute(
            "INSERT INTO saved_views (id, project_id, name, page, query, created_at) \
             VALUES ('v-1', ?1, 'slow ones', 'events', 'filter=metrics.latency', 1)",
            [&shop_id],
        )
        .unwrap();
        // An enrichment with no row of its event (none is expected; it
        // still moves, and waits for its event).
        c.execute(
            "INSERT INTO patches (project_id, event_id, received_at, key_id, patch, floating) \
             VALUES (?1, 'e-stray', 1700000000000, NULL, '{\"metadata\":{\"stray\":1}}', 0)",
            [&shop_id],
        )
        .unwrap();
        c.execute(
            "INSERT INTO alert_evaluations (alert_id, at, doc) VALUES (?1, 1700000000000, ?2)",
            [
                &alert_id,
                &json!({"value": 3, "state": "ok", "project_id": shop_id}).to_string(),
            ],
        )
        .unwrap();
    }

    let ch = ClickHouse::start_new(&dir.path().join("clickhouse"));
    let migrate = |db: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_hive"))
            .args(["migrate", "--data-dir", data.to_str().unwrap()])
            .args(["--to-clickhouse", &ch.url(db)])
            .output()
            .expect("run hive migrate");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (done, out) = migrate("moved");
    assert!(done, "{out}");
    assert!(
        out.contains(": 3 projects, 4 keys, 1 saved view, 3 saved objects (1 alert evaluation), ")
            && out.contains(" 12 events with 10 history entries, 2 enrichments waiting"),
        "{out}"
    );
    let (done, out) = migrate("moved");
    assert!(!done && out.contains("already holds hive data"), "{out}");

    // The saved view, read from the store (the dashboard shows them).
    let store =
        hive_store::clickhouse::ClickHouseStore::open(&ch.url("moved"), "test-reader").unwrap();
    let project = store.auth().project_by_name("shop").unwrap().unwrap();
    let views: Vec<(String, String, String)> = store
        .auth()
        .views(&project.id)
        .unwrap()
        .into_iter()
        .map(|v| (v.name, v.page, v.query))
        .collect();
    assert_eq!(
        views,
        [(
            "slow ones".to_owned(),
            "events".to_owned(),
            "filter=metrics.latency".to_owned()
        )]
    );
    let moved = Hive::start(
        &dir.path().join("on-clickhouse"),
        &["--clickhouse", &ch.url("moved")],
    );
    assert!(moved.key.is_none(), "no new admin key: the old ones moved");
    let addr = moved.addr.clone();
    for (project, before) in [("shop", &shop), ("elsewhere", &elsewhere)] {
        let mut after = snapshot(&addr, &admin, project);
        // Moved as it was, waiting; on ClickHouse it waits as a placeholder.
        after.remove("e-stray");
        assert_eq!(
            after.keys().collect::<Vec<_>>(),
            before.keys().collect::<Vec<_>>(),
            "{project}"
        );
        for (id, (event, span, history)) in before {
            let (e2, s2, h2) = &after[id];
            assert_eq!(event, e2, "event {id} of {project}");
            assert_eq!(span, s2, "the span of {id} of {project}");
            assert_eq!(history, h2, "the history of {id} of {project}");
        }
    }
    // Keys: the same secrets; the revoked one refused.
    assert_eq!(named(list(&addr, &rw, "/v1/charts")), charts);
    assert_eq!(
        named(list(&addr, &admin, "/v1/alerts?project=shop")),
        alerts
    );
    let (status, _) = api(&addr, "GET", "/v1/charts", &revoked, "").unwrap();
    assert_eq!(status, 401);
    let (status, v) = api(
        &addr,
        "POST",
        "/events/batch",
        &ingest,
        &json!({"events": [{"event_id": "e-future", "session_id": "s-9", "event_type": "tool",
            "event_name": "late", "start_time": 1700000009000i64},
            {"event_id": "e-stray", "session_id": "s-9", "event_type": "tool",
            "event_name": "stray", "start_time": 1700000009000i64}]})
        .to_string(),
    )
    .unwrap();
    assert_eq!(status, 200, "{v}");
    let late = get_ready(&addr, &rw, "/v1/events/e-future", Duration::from_secs(30));
    assert_eq!(late["event"]["metadata"]["waited"], true, "{late}");
    let stray = get_ready(&addr, &rw, "/v1/events/e-stray", Duration::from_secs(30));
    assert_eq!(stray["event"]["metadata"]["stray"], 1, "{stray}");
    let project = get_ready(&addr, &admin, "/v1/projects/shop", Duration::from_secs(30));
    assert_eq!(project["retention_days"], "off", "{project}");
    let history = get_ready(
        &addr,
        &admin,
        &format!("/v1/alerts/{alert_id}/history"),
        Duration::from_secs(30),
    );
    let shop_id = project["project"]["id"].as_str().unwrap();
    assert!(
        history
            .to_string()
            .contains(&format!("\"project_id\":\"{shop_id}\"")),
        "the evaluation names the project's new id: {history}"
    );
    drop(moved);

    // A data directory whose log is not applied is refused.
    let log = data.join("log");
    let last = std::fs::read_dir(&log)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .max()
        .unwrap();
    let mut record = Vec::new();
    hive_server::ingest_log::format::frame(b"{}", &mut record);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&last)
        .unwrap();
    std::io::Write::write_all(&mut f, &record).unwrap();
    drop(f);
    let (done, out) = migrate("other");
    assert!(
        !done && out.contains("not applied to the database yet"),
        "{out}"
    );
    drop(ch);
    std::thread::sleep(Duration::from_millis(700));
}
