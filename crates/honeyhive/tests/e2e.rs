//! End-to-end: the examples run against a real `hive serve`, and what they
//! recorded is read back through the export API.
//!
//! Needs the `hive` binary (`HIVE_BIN`, else `<workspace>/target/debug/hive`)
//! and the example binaries `cargo test` builds. Skips, saying why, when either
//! is missing.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Hive {
    child: Child,
    url: String,
    key: String,
    _dir: TempDir,
}

impl Drop for Hive {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "honeyhive-e2e-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hive_bin() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("HIVE_BIN").map(PathBuf::from) {
        return path.exists().then_some(path);
    }
    // Beside this test's own binary (target/debug/deps/e2e-<hash> ->
    // target/debug/hive), wherever the target directory is.
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("hive")));
    beside
        .into_iter()
        .chain([workspace_root().join("target/debug/hive")])
        .find(|p| p.exists())
}

fn example_bin(name: &str) -> Option<PathBuf> {
    // target/debug/deps/e2e-<hash> -> target/debug/examples/<name>
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    path.exists().then_some(path)
}

fn start_hive(name: &str) -> Option<Hive> {
    let Some(bin) = hive_bin() else {
        assert!(
            std::env::var_os("HIVE_E2E_REQUIRED").is_none(),
            "HIVE_E2E_REQUIRED is set but there is no hive binary (build crates/hive or set HIVE_BIN)"
        );
        println!(
            "SKIP: no hive binary (set HIVE_BIN or build crates/hive); end-to-end tests not run"
        );
        return None;
    };
    let dir = TempDir::new(name);
    let mut child = Command::new(&bin)
        .args(["serve", "--data-dir"])
        .arg(&dir.0)
        .args(["--addr", "127.0.0.1:0", "--grpc-addr", "off"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hive serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let (mut key, mut url) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while key.is_none() || url.is_none() {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("hive serve did not print its key and address in time"));
        if let Some(i) = line.find("HH_API_KEY=") {
            let rest = &line[i + "HH_API_KEY=".len()..];
            key = Some(rest.split_whitespace().next().unwrap_or("").to_owned());
        }
        if let Some(i) = line.find("listening on http://") {
            let rest = &line[i + "listening on ".len()..];
            url = Some(
                rest.split_whitespace()
                    .next()
                    .unwrap_or("")
                    .trim_end_matches('/')
                    .to_owned(),
            );
        }
    }
    Some(Hive {
        child,
        url: url.unwrap_or_default(),
        key: key.unwrap_or_default(),
        _dir: dir,
    })
}

/// Runs an example against the server; returns its `SESSION label id` lines.
fn run_example(hive: &Hive, name: &str) -> Option<HashMap<String, String>> {
    run_example_with(hive, name, &[])
}

/// [`run_example`] with more environment variables.
fn run_example_with(
    hive: &Hive,
    name: &str,
    extra_env: &[(&str, &str)],
) -> Option<HashMap<String, String>> {
    let Some(bin) = example_bin(name) else {
        assert!(
            std::env::var_os("HIVE_E2E_REQUIRED").is_none(),
            "HIVE_E2E_REQUIRED is set but the example binary `{name}` was not built"
        );
        println!("SKIP: example binary `{name}` not built (run through `cargo test`)");
        return None;
    };
    let output = Command::new(bin)
        .env("HH_API_KEY", &hive.key)
        .env("HH_API_URL", &hive.url)
        .env("HH_PROJECT", "my-app")
        .env_remove("HH_SOURCE")
        .env_remove("HH_INGESTION_API_KEY")
        .envs(extra_env.iter().copied())
        .output()
        .expect("run example");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "example {name} failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !stdout.contains("DROPPED 1"),
        "example {name} dropped enrichments: {stdout}"
    );
    let mut sessions = HashMap::new();
    for line in stdout.lines() {
        let mut parts = line.split_whitespace();
        if parts.next() == Some("SESSION") {
            if let (Some(label), Some(id)) = (parts.next(), parts.next()) {
                sessions.insert(label.to_owned(), id.to_owned());
            }
        }
    }
    Some(sessions)
}

fn export(hive: &Hive, session_id: &str) -> Vec<Value> {
    let body = json!({
        "filters": [{"field": "session_id", "operator": "is", "value": session_id, "type": "string"}],
        "limit": 1000
    });
    let response = ureq::post(format!("{}/v1/events/export", hive.url))
        .header("Authorization", format!("Bearer {}", hive.key))
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes());
    match response {
        Ok(mut r) => {
            let text = r.body_mut().read_to_string().unwrap_or_default();
            let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            v["events"].as_array().cloned().unwrap_or_default()
        }
        Err(err) => panic!("export failed: {err}"),
    }
}

/// Polls the export until `check` passes (the server commits asynchronously).
fn eventually(
    hive: &Hive,
    session_id: &str,
    what: &str,
    check: impl Fn(&[Value]) -> Result<(), String>,
) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let events = export(hive, session_id);
        match check(&events) {
            Ok(()) => return,
            Err(why) if Instant::now() >= deadline => {
                panic!(
                    "{what} (session {session_id}): {why}\nevents: {}",
                    serde_json::to_string_pretty(&events).unwrap_or_default()
                )
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn session_event<'a>(events: &'a [Value], sid: &str) -> Result<&'a Value, String> {
    let sessions: Vec<&Value> = events
        .iter()
        .filter(|e| e["event_type"] == "session" && e["event_id"] == sid)
        .collect();
    match sessions.as_slice() {
        [] => Err("no session event".to_owned()),
        [one] => Ok(one),
        many => Err(format!(
            "the session exists {} times (projects {:?})",
            many.len(),
            many.iter()
                .map(|e| e["project_id"].clone())
                .collect::<Vec<_>>()
        )),
    }
}

fn event_named<'a>(events: &'a [Value], suffix: &str) -> Result<&'a Value, String> {
    events
        .iter()
        .find(|e| {
            e["event_name"]
                .as_str()
                .is_some_and(|n| n.ends_with(suffix))
        })
        .ok_or_else(|| format!("no event named *{suffix}"))
}

fn expect_eq(actual: &Value, expected: Value, what: &str) -> Result<(), String> {
    if *actual == expected {
        Ok(())
    } else {
        Err(format!("{what}: expected {expected}, got {actual}"))
    }
}

#[test]
fn session_enrichment_guide_end_to_end() {
    let Some(hive) = start_hive("session") else {
        return;
    };
    let Some(s) = run_example(&hive, "session_enrichment") else {
        return;
    };

    eventually(&hive, &s["basic"], "basic usage", |ev| {
        let session = session_event(ev, &s["basic"])?;
        expect_eq(
            &session["event_name"],
            json!("user-123-chat"),
            "session name",
        )?;
        expect_eq(
            &session["metadata"]["user_id"],
            json!("user_123"),
            "metadata.user_id",
        )?;
        expect_eq(
            &session["metadata"]["subscription_tier"],
            json!("premium"),
            "tier",
        )?;
        expect_eq(
            &session["metadata"]["feature"],
            json!("chat_assistant"),
            "feature",
        )?;
        let model = event_named(ev, "chat.completions.create")?;
        expect_eq(&model["event_type"], json!("model"), "model event type")?;
        expect_eq(
            &model["parent_id"],
            json!(s["basic"]),
            "root span hangs off the session",
        )?;
        expect_eq(
            &model["config"]["model"],
            json!("gpt-3.5-turbo"),
            "model config",
        )
    });

    eventually(&hive, &s["specific"], "enrich a specific session", |ev| {
        let session = ev
            .iter()
            .find(|e| e["event_id"] == s["specific"])
            .ok_or("no event for the explicitly enriched session id")?;
        expect_eq(
            &session["metadata"]["experiment"],
            json!("variant_b"),
            "experiment",
        )?;
        expect_eq(&session["metadata"]["completed"], json!(true), "completed")?;
        expect_eq(
            &session["metrics"]["total_tokens"],
            json!(1500),
            "total_tokens",
        )?;
        expect_eq(
            &session["metrics"]["total_cost"],
            json!(0.045),
            "total_cost",
        )
    });

    eventually(&hive, &s["legacy"], "legacy signatures", |ev| {
        let session = ev
            .iter()
            .find(|e| e["event_id"] == s["legacy"])
            .ok_or("no event")?;
        expect_eq(
            &session["metadata"]["user_id"],
            json!("user_456"),
            "metadata.user_id",
        )?;
        expect_eq(
            &session["user_properties"],
            json!({"tier": "premium", "region": "us-east"}),
            "user_properties stored as their own field",
        )?;
        if session["metadata"].get("tier").is_some() {
            return Err("user_properties leaked into metadata".into());
        }
        Ok(())
    });

    eventually(&hive, &s["workflow"], "workflow + later feedback", |ev| {
        let session = session_event(ev, &s["workflow"])?;
        let md = &session["metadata"];
        expect_eq(&md["user_id"], json!("user_123"), "user_id")?;
        expect_eq(&md["workflow"], json!("password_reset"), "workflow")?;
        expect_eq(&md["step"], json!("workflow_complete"), "last step wins")?;
        expect_eq(&md["feedback_collected"], json!(true), "feedback_collected")?;
        if md["started_at"].is_null() || md["completed_at"].is_null() {
            return Err("started_at / completed_at missing".into());
        }
        expect_eq(
            &session["metrics"]["total_interactions"],
            json!(2),
            "interactions",
        )?;
        expect_eq(
            &session["metrics"]["resolution"],
            json!("success"),
            "resolution",
        )?;
        expect_eq(&session["feedback"]["user_rating"], json!(5), "rating")?;
        expect_eq(&session["feedback"]["helpful"], json!(true), "helpful")?;
        let models = ev.iter().filter(|e| e["event_type"] == "model").count();
        expect_eq(&json!(models), json!(2), "two model calls")
    });

    eventually(&hive, &s["experiment"], "experiment", |ev| {
        let session = session_event(ev, &s["experiment"])?;
        expect_eq(
            &session["metadata"]["variant"],
            json!("variant_a"),
            "variant",
        )?;
        expect_eq(&session["config"]["model"], json!("gpt-4"), "config.model")?;
        expect_eq(
            &session["config"]["temperature"],
            json!(0.7),
            "config.temperature",
        )?;
        if !session["metrics"]["token_count"].is_number() || !session["metrics"]["cost"].is_number()
        {
            return Err("metrics.token_count / cost missing".into());
        }
        if !session["outputs"]["response"].is_string() {
            return Err("outputs.response missing".into());
        }
        Ok(())
    });

    eventually(&hive, &s["cost"], "cost tracking", |ev| {
        let session = session_event(ev, &s["cost"])?;
        expect_eq(&session["metrics"]["call_count"], json!(2), "call_count")?;
        if session["metrics"]["total_tokens"].as_u64().unwrap_or(0) == 0 {
            return Err("total_tokens missing".into());
        }
        Ok(())
    });

    eventually(
        &hive,
        &s["multi_prod"],
        "multi-instance: production",
        |ev| {
            let session = session_event(ev, &s["multi_prod"])?;
            expect_eq(
                &session["metadata"]["environment"],
                json!("production"),
                "environment",
            )?;
            expect_eq(
                &session["metadata"]["user_id"],
                json!("user_123"),
                "user_id",
            )?;
            expect_eq(&session["source"], json!("production"), "source")?;
            if session["metadata"].get("test_case").is_some() {
                return Err("test tracer's data landed in the production session".into());
            }
            Ok(())
        },
    );
    eventually(&hive, &s["multi_test"], "multi-instance: testing", |ev| {
        let session = session_event(ev, &s["multi_test"])?;
        expect_eq(
            &session["metadata"]["environment"],
            json!("testing"),
            "environment",
        )?;
        expect_eq(
            &session["metadata"]["test_case"],
            json!("scenario_1"),
            "test_case",
        )
    });

    eventually(&hive, &s["lifecycle_ok"], "lifecycle success", |ev| {
        let session = session_event(ev, &s["lifecycle_ok"])?;
        expect_eq(&session["metadata"]["status"], json!("completed"), "status")?;
        expect_eq(&session["metrics"]["success"], json!(true), "success")?;
        if !session["outputs"]["result"].is_string() {
            return Err("outputs.result missing".into());
        }
        Ok(())
    });
    eventually(&hive, &s["lifecycle_failed"], "lifecycle failure", |ev| {
        let session = session_event(ev, &s["lifecycle_failed"])?;
        expect_eq(&session["metadata"]["status"], json!("failed"), "status")?;
        expect_eq(
            &session["metadata"]["error_type"],
            json!("TaskError"),
            "error_type",
        )?;
        expect_eq(&session["metrics"]["success"], json!(false), "success")
    });

    eventually(&hive, &s["complex"], "complex data", |ev| {
        let session = session_event(ev, &s["complex"])?;
        expect_eq(
            &session["metadata"]["user"]["profile"]["features"],
            json!(["chat", "analytics", "export"]),
            "nested list",
        )?;
        expect_eq(
            &session["metadata"]["user"]["profile"]["settings"],
            json!({"notifications": true, "language": "en"}),
            "nested object",
        )?;
        expect_eq(
            &session["config"]["model_pipeline"][1]["model"],
            json!("gpt-3.5-turbo"),
            "list of objects",
        )?;
        expect_eq(
            &session["config"]["fallback_strategy"]["models"],
            json!(["gpt-4", "gpt-3.5-turbo", "claude-2"]),
            "fallback models",
        )
    });
}

#[test]
fn enrichment_overview_end_to_end() {
    let Some(hive) = start_hive("overview") else {
        return;
    };
    let Some(s) = run_example(&hive, "enrichment_overview") else {
        return;
    };
    let sid = s["overview"].clone();

    eventually(&hive, &s["overview_by_id"], "enrich by id", |ev| {
        let e = ev
            .iter()
            .find(|e| e["event_id"] == s["overview_by_id"])
            .ok_or("no event")?;
        expect_eq(&e["metadata"]["completed"], json!(true), "completed")
    });

    eventually(&hive, &sid, "overview", |ev| {
        let session = session_event(ev, &sid)?;
        // The later instance call overwrote tenant_id; the rest is kept.
        expect_eq(
            &session["metadata"]["tenant_id"],
            json!("acme"),
            "later value wins",
        )?;
        expect_eq(
            &session["metadata"]["user_tier"],
            json!("premium"),
            "user_tier",
        )?;
        expect_eq(
            &session["metadata"]["app_version"],
            json!("2.1.0"),
            "app_version",
        )?;

        let plain = event_named(ev, "::plain_map")?;
        expect_eq(
            &plain["metadata"]["user_id"],
            json!("user_12345"),
            "plain map",
        )?;
        expect_eq(&plain["metadata"]["feature"], json!("chat"), "plain map")?;
        expect_eq(
            &plain["parent_id"],
            json!(sid),
            "root span parent is the session",
        )?;
        let kw = event_named(ev, "::keyword_fields")?;
        expect_eq(&kw["metadata"]["user_id"], json!("user_12345"), "keywords")?;
        let ns = event_named(ev, "::named_namespaces")?;
        expect_eq(&ns["metrics"]["score"], json!(0.95), "metrics")?;
        expect_eq(&ns["metrics"]["latency_ms"], json!(150), "metrics int")?;
        expect_eq(
            &ns["user_properties"]["plan"],
            json!("premium"),
            "user_properties",
        )?;
        expect_eq(&ns["feedback"]["rating"], json!(5), "feedback")?;
        let extras = event_named(ev, "::extras_into_metadata")?;
        expect_eq(
            &extras["metadata"]["feature"],
            json!("chat"),
            "extra -> metadata",
        )?;
        expect_eq(
            &extras["metadata"]["priority"],
            json!("high"),
            "extra -> metadata",
        )?;

        let global = event_named(ev, "::global_and_instance")?;
        expect_eq(
            &global["metadata"]["user_id"],
            json!("user_123"),
            "global enrich_span",
        )?;
        expect_eq(
            &global["metadata"]["via_instance"],
            json!(true),
            "instance enrich_span",
        )?;

        let response = event_named(ev, "::generate_response")?;
        expect_eq(
            &response["inputs"]["user_id"],
            json!("user_123"),
            "inputs from arguments",
        )?;
        expect_eq(
            &response["user_properties"]["user_id"],
            json!("user_123"),
            "user_properties",
        )?;
        expect_eq(
            &response["metadata"]["message_length"],
            json!(11),
            "message_length",
        )?;
        let model = ev
            .iter()
            .find(|e| e["event_type"] == "model" && e["parent_id"] == response["event_id"])
            .ok_or("model call not nested under generate_response")?;
        expect_eq(&model["config"]["model"], json!("gpt-4o-mini"), "model")?;

        let endpoint = event_named(ev, "::chat_endpoint")?;
        expect_eq(
            &endpoint["metadata"]["request_id"],
            json!("req-42"),
            "request_id",
        )?;
        let rec = event_named(ev, "::generate_recommendation")?;
        expect_eq(
            &rec["metrics"]["recommendation_score"],
            json!(0.92),
            "score",
        )?;
        expect_eq(&rec["metadata"]["ab_variant"], json!("B"), "variant")?;
        let expensive = event_named(ev, "::expensive_operation")?;
        expect_eq(&expensive["metrics"]["data_size"], json!(1000), "data_size")?;
        if !expensive["metrics"]["throughput"].is_number() {
            return Err("throughput missing".into());
        }

        let risky: Vec<&Value> = ev
            .iter()
            .filter(|e| {
                e["event_name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("::risky_operation"))
            })
            .collect();
        let failed = risky
            .iter()
            .find(|e| e["metadata"]["operation_id"] == "op_fail")
            .ok_or("no failed risky_operation")?;
        expect_eq(
            &failed["error"],
            json!("processing failed: bad input"),
            "error",
        )?;
        expect_eq(
            &failed["metadata"]["success"],
            json!(false),
            "success false",
        )?;
        let ok = risky
            .iter()
            .find(|e| e["metadata"]["operation_id"] == "op_ok")
            .ok_or("no successful risky_operation")?;
        expect_eq(&ok["metadata"]["success"], json!(true), "success true")?;
        expect_eq(
            &ok["outputs"]["result"],
            json!("processed"),
            "outputs.result",
        )?;
        if !ok["error"].is_null() {
            return Err(format!("unexpected error on op_ok: {}", ok["error"]));
        }
        Ok(())
    });
}

/// With `HH_INGESTION_API_KEY` set (an ingest key, `hh_ingst_…`), the tracer
/// sends every write with it rather than with `HH_API_KEY`, as the Python
/// SDK does: the session lands in the ingest key's project, not in the one
/// the admin key and `HH_PROJECT` name.
#[test]
fn an_ingestion_key_sends_the_writes() {
    let Some(hive) = start_hive("ingestion-key") else {
        return;
    };
    let made: Value = {
        let mut r = ureq::post(format!("{}/v1/keys", hive.url))
            .header("Authorization", format!("Bearer {}", hive.key))
            .header("Content-Type", "application/json")
            .send(r#"{"name": "e2e", "scope": "ingest", "project": "keyed"}"#.as_bytes())
            .expect("create an ingest key");
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
    };
    let secret = made["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("hh_ingst_"), "{secret}");
    let project_id = made["key"]["project_id"].clone();
    let Some(s) = run_example_with(
        &hive,
        "putting_it_together",
        &[("HH_INGESTION_API_KEY", secret.as_str())],
    ) else {
        return;
    };
    let sid = s["together"].clone();
    eventually(
        &hive,
        &sid,
        "the session in the ingest key's project",
        |ev| {
            let session = session_event(ev, &sid)?;
            expect_eq(&session["project_id"], project_id.clone(), "project")?;
            expect_eq(
                &session["metadata"]["tenant_id"],
                json!("acme_corp"),
                "tenant",
            )
        },
    );
}

#[test]
fn putting_it_together_and_tracing_end_to_end() {
    let Some(hive) = start_hive("together") else {
        return;
    };
    let Some(s) = run_example(&hive, "putting_it_together") else {
        return;
    };
    let sid = s["together"].clone();
    eventually(&hive, &sid, "putting it all together", |ev| {
        let session = session_event(ev, &sid)?;
        expect_eq(
            &session["metadata"]["tenant_id"],
            json!("acme_corp"),
            "tenant",
        )?;
        let chats: Vec<&Value> = ev
            .iter()
            .filter(|e| {
                e["event_name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("::chat"))
            })
            .collect();
        expect_eq(&json!(chats.len()), json!(2), "two chat events")?;
        for chat in &chats {
            if chat["metadata"]["feature"] != "chat_support" {
                return Err("chat event misses its span enrichment".into());
            }
            let instrumented = ev
                .iter()
                .find(|e| e["event_name"] == "ChatCompletion" && e["parent_id"] == chat["event_id"])
                .ok_or("third-party span did not join the session under chat")?;
            expect_eq(
                &instrumented["session_id"],
                json!(sid),
                "third-party span session",
            )?;
        }
        Ok(())
    });

    let Some(t) = run_example(&hive, "tracing_integration") else {
        return;
    };
    let tsid = t["tracing"].clone();
    eventually(&hive, &tsid, "tracing integration", |ev| {
        let answer = ev
            .iter()
            .find(|e| e["event_name"] == "answer")
            .ok_or("tracing span not recorded")?;
        expect_eq(
            &answer["metadata"]["feature"],
            json!("tracing"),
            "enrich_span inside tracing span",
        )?;
        expect_eq(
            &answer["metadata"]["question_length"],
            json!(20),
            "question_length",
        )?;
        ev.iter()
            .find(|e| e["event_type"] == "model" && e["parent_id"] == answer["event_id"])
            .ok_or("model call not nested under the tracing span")?;
        Ok(())
    });
}

#[honeyhive::trace]
fn answer_request(request: u32) -> String {
    honeyhive::enrich_session!(metadata = {"request": request});
    std::thread::sleep(Duration::from_millis(u64::from(20 - request * 5)));
    honeyhive::enrich_span!(metrics = {"score": request});
    format!("answer {request}")
}

#[test]
fn concurrent_sessions_of_one_tracer_end_to_end() {
    let Some(hive) = start_hive("scoped") else {
        return;
    };
    let tracer = honeyhive::HoneyHiveTracer::builder()
        .with_api_key(&hive.key)
        .with_server_url(&hive.url)
        .with_project("my-app")
        .with_session_name("the server")
        .with_set_default(false)
        .build();
    // Four requests served at once, each in a session of its own.
    let threads: Vec<_> = (0..4u32)
        .map(|request| {
            let session = tracer
                .create_session()
                .with_session_name(format!("request {request}"))
                .with_inputs(json!({"request": request}))
                .start();
            std::thread::spawn(move || {
                let answer = session.in_scope(|| answer_request(request));
                session.enrich(honeyhive::Enrichment::new().outputs(json!({"answer": answer})));
                session.session_id().to_owned()
            })
        })
        .collect();
    let ids: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(tracer.flush(Duration::from_secs(15)));

    for (request, sid) in ids.iter().enumerate() {
        eventually(&hive, sid, "a request's own session", |ev| {
            let session = session_event(ev, sid)?;
            expect_eq(
                &session["event_name"],
                json!(format!("request {request}")),
                "name",
            )?;
            expect_eq(&session["inputs"], json!({"request": request}), "inputs")?;
            expect_eq(
                &session["metadata"]["request"],
                json!(request),
                "enrich_session",
            )?;
            expect_eq(
                &session["outputs"],
                json!({"answer": format!("answer {request}")}),
                "session.enrich",
            )?;
            let span = event_named(ev, "answer_request")?;
            expect_eq(&span["parent_id"], json!(sid), "the span under its session")?;
            expect_eq(&span["metrics"]["score"], json!(request), "enrich_span")?;
            expect_eq(&span["inputs"]["request"], json!(request), "inputs")?;
            if ev.len() != 2 {
                return Err(format!(
                    "{} events, expected the session and its span",
                    ev.len()
                ));
            }
            Ok(())
        });
    }
    // The tracer's own session holds none of them.
    let own = export(&hive, tracer.session_id());
    assert!(
        own.iter().all(|e| e["event_type"] == "session"),
        "events in the tracer's own session: {own:?}"
    );
    tracer.shutdown(Duration::from_secs(5));
}
