//! Operating `hive serve` (issue 12): `/metrics` scraped after real ingest
//! and checked line by line against the Prometheus text format, on the
//! main port (admin key) and on `--metrics-addr` (no key); `/healthz` and
//! `/readyz`, which turns 503 naming the store while ClickHouse is down and
//! the backlog once it is over its bound; `/openapi.json` as served.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{ClickHouse, Hive, api, free_port, get_ready, request, span_json};

// ---- A strict reader of the Prometheus text format (0.0.4) -----------------

/// One sample: metric name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_value(v: &str) -> Result<f64, String> {
    match v {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => v.parse::<f64>().map_err(|e| format!("value {v:?}: {e}")),
    }
}

/// `{a="x",b="y"}` (escapes `\\`, `\"`, `\n`); the labels and the rest.
fn parse_labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = s.strip_prefix('{').ok_or("labels must open with {")?;
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((labels, r));
        }
        let eq = rest.find('=').ok_or("label without =")?;
        let name = rest[..eq].trim();
        if !valid_name(name) || name.contains(':') {
            return Err(format!("label name {name:?}"));
        }
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value must be quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err("unterminated label value".into()),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?}")),
                },
                Some((_, '\n')) => return Err("newline in a label value".into()),
                Some((_, c)) => value.push(c),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = &rest[end + 1..];
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if !rest.starts_with('}') {
            return Err("labels must be separated by commas".into());
        }
    }
}

/// Parse the exposition; every line must be a HELP, a TYPE (before its
/// family's samples, once), a comment, blank, or a well-formed sample; no
/// series twice; histogram buckets cumulative, ending in `+Inf` = `_count`.
fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut sampled: HashMap<String, bool> = HashMap::new();
    let mut samples = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            let words: Vec<&str> = c.trim_start().splitn(3, ' ').collect();
            match words.as_slice() {
                ["TYPE", name, kind] => {
                    if !valid_name(name) {
                        return Err(at("bad metric name".into()));
                    }
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(kind) {
                        return Err(at(format!("type {kind}")));
                    }
                    if types.insert(name.to_string(), kind.to_string()).is_some() {
                        return Err(at("TYPE twice".into()));
                    }
                    if sampled.contains_key(*name) {
                        return Err(at("TYPE after samples".into()));
                    }
                }
                ["HELP", name, ..] if !valid_name(name) => {
                    return Err(at("bad metric name".into()));
                }
                _ => {}
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        if !valid_name(name) {
            return Err(at("bad metric name".into()));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..]).map_err(at)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let value = match fields.as_slice() {
            [v] => parse_value(v).map_err(at)?,
            [v, ts] => {
                ts.parse::<i64>()
                    .map_err(|e| at(format!("timestamp: {e}")))?;
                parse_value(v).map_err(at)?
            }
            _ => return Err(at("expected a value and an optional timestamp".into())),
        };
        if !seen.insert(format!("{name}{labels:?}")) {
            return Err(at("the same series twice".into()));
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        sampled.insert(family.to_owned(), true);
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    // Histograms: cumulative buckets, +Inf equal to _count.
    for (family, kind) in &types {
        if kind != "histogram" {
            continue;
        }
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for s in samples
            .iter()
            .filter(|s| s.name == format!("{family}_bucket"))
        {
            let le = parse_value(
                s.labels
                    .get("le")
                    .ok_or(format!("{family}: bucket without le"))?,
            )?;
            let mut rest = s.labels.clone();
            rest.remove("le");
            series
                .entry(format!("{rest:?}"))
                .or_default()
                .push((le, s.value));
        }
        for (labels, mut buckets) in series {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            if buckets.windows(2).any(|w| w[1].1 < w[0].1) {
                return Err(format!("{family}{labels}: buckets are not cumulative"));
            }
            let (last_le, inf) = *buckets.last().unwrap();
            if last_le != f64::INFINITY {
                return Err(format!("{family}{labels}: no +Inf bucket"));
            }
            let count = samples
                .iter()
                .find(|s| {
                    s.name == format!("{family}_count") && {
                        let mut l = s.labels.clone();
                        l.remove("le");
                        format!("{l:?}") == labels
                    }
                })
                .ok_or(format!("{family}{labels}: no _count"))?;
            if count.value != inf {
                return Err(format!(
                    "{family}{labels}: +Inf bucket {inf} != count {}",
                    count.value
                ));
            }
        }
    }
    Ok(samples)
}

#[test]
fn the_text_format_reader_refuses_what_is_not_prometheus_text() {
    assert!(parse_exposition("# TYPE a counter\na 1\n").is_ok());
    assert!(parse_exposition("a{b=\"x\\\"y\"} 2 1700000000000\n").is_ok());
    for bad in [
        "a b\n",
        "1a 1\n",
        "a{b=x} 1\n",
        "a{b=\"x\"\n",
        "a 1\na 2\n",
        "a 1\n# TYPE a counter\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 1\n",
    ] {
        assert!(parse_exposition(bad).is_err(), "accepted {bad:?}");
    }
}

/// The value of the one sample of `name` with these labels (0 when none).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

fn scrape(addr: &str, headers: &[(&str, &str)]) -> (u16, String) {
    request(
        addr,
        "GET",
        "/metrics",
        headers,
        b"",
        Duration::from_secs(10),
    )
    .expect("an answer")
}

fn scrape_parsed(addr: &str) -> Vec<Sample> {
    let (status, text) = scrape(addr, &[]);
    assert_eq!(status, 200, "{text}");
    parse_exposition(&text).unwrap_or_else(|e| panic!("/metrics is not Prometheus text: {e}"))
}

// ---- The server, SQLite ----------------------------------------------------

#[test]
fn metrics_health_and_openapi_of_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let hive = Hive::start(dir.path(), &["--metrics-addr", &metrics_addr]);
    let (addr, key) = (&hive.addr, hive.key.clone().unwrap());

    // Health: no key.
    let (s, body) = request(addr, "GET", "/healthz", &[], b"", Duration::from_secs(5)).unwrap();
    assert_eq!(
        (s, serde_json::from_str::<Value>(&body).unwrap()),
        (200, json!({"status": "ok"}))
    );
    let (s, body) = request(addr, "GET", "/readyz", &[], b"", Duration::from_secs(5)).unwrap();
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(s, 200, "{ready}");
    assert_eq!(ready["status"], "ok");
    assert_eq!(ready["checks"]["store"]["ok"], true);
    assert_eq!(ready["checks"]["backlog"]["ok"], true);
    assert_eq!(ready["checks"]["backlog"]["limit_bytes"], 256u64 << 20);

    let before = scrape_parsed(&metrics_addr);

    // Ingest: a session, a span, an enrichment, a batch of two events.
    let session = "obs-session-1";
    let (s, _) = api(
        addr,
        "POST",
        "/session/start",
        &key,
        &json!({"session": {"session_id": session, "session_name": "observe"}}).to_string(),
    )
    .unwrap();
    assert_eq!(s, 200);
    let (s, _) = api(addr, "POST", "/v1/traces", &key, &span_json(session, 1, 1)).unwrap();
    assert_eq!(s, 200);
    let (s, _) = api(
        addr,
        "PUT",
        "/events",
        &key,
        &json!({"event_id": session, "metadata": {"tier": "pro"}}).to_string(),
    )
    .unwrap();
    assert_eq!(s, 200);
    let (s, _) = api(
        addr,
        "POST",
        "/events/batch",
        &key,
        &json!({"events": [
        {"session_id": session, "event_type": "tool", "event_name": "a"},
        {"session_id": session, "event_type": "tool", "event_name": "b"}]})
        .to_string(),
    )
    .unwrap();
    assert_eq!(s, 200);
    // Reads: the event by id (a route with a parameter), a path that is no
    // route, and a method no client should invent a label for.
    let got = get_ready(
        addr,
        &key,
        &format!("/v1/sessions/{session}"),
        Duration::from_secs(20),
    );
    assert_eq!(got["session"]["metadata"]["tier"], "pro");
    let (s, _) = api(addr, "GET", &format!("/v1/events/{session}"), &key, "").unwrap();
    assert_eq!(s, 200);
    let (s, _) = api(addr, "GET", "/no-such-route-7f3a", &key, "").unwrap();
    assert_eq!(s, 404);
    let (s, _) = request(
        addr,
        "FOOBAR",
        "/v1/stats",
        &[],
        b"",
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(s >= 400);

    // /metrics on the main port: an admin key only.
    assert_eq!(scrape(addr, &[]).0, 401);
    let (s, v) = api(
        addr,
        "POST",
        "/v1/keys",
        &key,
        &json!({"scope": "read_write", "project": "default"}).to_string(),
    )
    .unwrap();
    assert_eq!(s, 200);
    let project_key = v["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        scrape(addr, &[("authorization", &format!("Bearer {project_key}"))]).0,
        403
    );
    let (s, main_text) = scrape(addr, &[("authorization", &format!("Bearer {key}"))]);
    assert_eq!(s, 200);
    parse_exposition(&main_text).unwrap_or_else(|e| panic!("main port /metrics: {e}"));
    // Every family exported is a documented one, with its help and type.
    for line in main_text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut words = line.split_whitespace().skip(2);
        let (name, kind) = (words.next().unwrap(), words.next().unwrap());
        assert!(
            hive_server::metrics::NAMES
                .iter()
                .any(|(n, k, _)| *n == name && *k == kind),
            "{name} ({kind}) is not in hive_server::metrics::NAMES"
        );
        assert!(
            main_text.contains(&format!("# HELP {name} ")),
            "{name} has help"
        );
    }

    // The separate listener: no key, the same metrics, and nothing else.
    let after = scrape_parsed(&metrics_addr);
    let (s, _) = request(
        &metrics_addr,
        "GET",
        "/v1/stats",
        &[],
        b"",
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(s, 404, "the metrics listener serves no API");
    let (s, _) = request(
        &metrics_addr,
        "GET",
        "/readyz",
        &[],
        b"",
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(s, 200);

    let moved = |name: &str| value(&after, name, &[]) - value(&before, name, &[]);
    assert_eq!(moved("hive_ingested_spans_total"), 1.0);
    // The session start and the batch's two events.
    assert_eq!(moved("hive_ingested_events_total"), 3.0);
    assert_eq!(moved("hive_ingested_enrichments_total"), 1.0);
    assert_eq!(moved("hive_ingest_logged_requests_total"), 4.0);
    assert!(moved("hive_applier_applied_ops_total") >= 5.0);
    assert!(moved("hive_applier_transactions_total") >= 1.0);
    assert!(moved("hive_store_commit_seconds_count") >= 1.0);
    assert!(
        value(
            &after,
            "hive_store_query_seconds_count",
            &[("op", "session_events")]
        ) >= 1.0
    );
    assert_eq!(value(&after, "hive_ingest_backlog_bytes", &[]), 0.0);
    assert_eq!(
        value(&after, "hive_ingest_backlog_limit_bytes", &[]),
        (256u64 << 20) as f64
    );
    assert_eq!(
        value(&after, "hive_column_memory_budget_bytes", &[]),
        (256u64 << 20) as f64
    );
    assert_eq!(value(&after, "hive_up", &[]), 1.0);
    for name in ["hive_webhook_failures_total", "hive_webhook_attempts_total"] {
        assert!(after.iter().any(|s| s.name == name), "{name} is exported");
    }

    // Requests by route template and status, never by raw path.
    let requests = |route: &str, method: &str, status: &str| {
        value(
            &after,
            "hive_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    assert_eq!(requests("/session/start", "POST", "200"), 1.0);
    assert_eq!(requests("/v1/traces", "POST", "200"), 1.0);
    assert_eq!(requests("/events", "PUT", "200"), 1.0);
    assert_eq!(requests("/v1/events/{event_id}", "GET", "200"), 1.0);
    assert_eq!(requests("/metrics", "GET", "401"), 1.0);
    assert_eq!(requests("/metrics", "GET", "403"), 1.0);
    assert!(requests("unmatched", "GET", "404") >= 1.0);
    assert!(
        requests("/v1/stats", "other", "405") >= 1.0,
        "an invented method is `other`"
    );
    for s in after.iter().filter(|s| s.name.starts_with("hive_http_")) {
        let route = &s.labels["route"];
        assert!(
            !route.contains(session)
                && !route.contains("no-such-route")
                && s.labels["method"] != "FOOBAR",
            "a label made of what a client sent: {s:?}"
        );
    }
    let b = |le: &str| {
        value(
            &after,
            "hive_http_request_duration_seconds_bucket",
            &[("route", "/session/start"), ("method", "POST"), ("le", le)],
        )
    };
    assert_eq!(
        b("+Inf"),
        1.0,
        "request latency is a histogram with buckets"
    );

    // The OpenAPI document, as served (no key).
    let (s, body) = request(
        addr,
        "GET",
        "/openapi.json",
        &[],
        b"",
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(s, 200);
    let doc: Value = serde_json::from_str(&body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in hive_server::api_routes().paths() {
        assert!(
            doc["paths"].get(*path).is_some(),
            "{path} is in /openapi.json"
        );
    }
}

// ---- Readiness on ClickHouse -----------------------------------------------

fn readyz(addr: &str) -> (u16, Value) {
    let (s, body) =
        request(addr, "GET", "/readyz", &[], b"", Duration::from_secs(10)).expect("an answer");
    (
        s,
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("readyz is JSON: {body}")),
    )
}

fn wait_readyz(addr: &str, status: u16, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (s, v) = readyz(addr);
        if s == status {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz did not turn {status}: {s} {v}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn readyz_names_the_store_while_clickhouse_is_down_and_the_backlog_past_its_bound() {
    if !ClickHouse::available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut ch = ClickHouse::start_new(&tmp.path().join("clickhouse"));
    let url = ch.url("hive_observe");
    let hive = Hive::start(
        &tmp.path().join("hive"),
        &[
            "--clickhouse",
            &url,
            "--max-backlog-mb",
            "1",
            "--read-wait-ms",
            "1000",
            "--compact-every-ms",
            "300",
        ],
    );
    let (addr, key) = (&hive.addr, hive.key.clone().unwrap());
    let v = wait_readyz(addr, 200, Duration::from_secs(10));
    assert_eq!(v["checks"]["store"]["ok"], true, "{v}");
    // The events' state is built, and its age shows.
    let state = wait_state(addr, &key, "a first compaction", |s| {
        s["newest_at"].is_i64() && s["compactions"].as_u64() >= Some(1)
    });
    assert!(state["last"]["full"].is_boolean(), "{state}");

    // The key is checked once while ClickHouse answers (a node keeps a
    // key it checked while the store fails).
    let (s, _) = api(
        addr,
        "PUT",
        "/events",
        &key,
        &json!({"event_id": "obs-big", "metadata": {"first": 1}}).to_string(),
    )
    .unwrap();
    assert_eq!(s, 200);

    ch.kill();
    let v = wait_readyz(addr, 503, Duration::from_secs(10));
    assert_eq!(v["status"], "unavailable");
    assert_eq!(v["not_ready"], json!(["store"]), "{v}");
    assert_eq!(v["checks"]["store"]["ok"], false);
    assert!(
        v["checks"]["store"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("store"));
    // Compactions fail meanwhile, and say why; the age of the state is
    // still the last one known.
    let down = wait_state(addr, &key, "a failed compaction", |s| {
        s["failures"].as_u64() >= Some(1) && s["last_error"].is_string()
    });
    assert!(
        down["last_error"].as_str().unwrap().contains("ClickHouse"),
        "{down}"
    );
    assert_eq!(down["newest_at"], state["newest_at"], "{down}");

    // Writes are still acknowledged into the ingest log; past 1 MiB the
    // backlog is over its bound too.
    let big = "x".repeat(250 << 10);
    let mut acked = 0;
    for i in 0..12 {
        let body = json!({"event_id": "obs-big", "metadata": {format!("k{i}"): big}}).to_string();
        if let Some((200, _)) = api(addr, "PUT", "/events", &key, &body) {
            acked += 1;
        }
    }
    assert!(
        acked >= 5,
        "writes acknowledged while ClickHouse is down: {acked}"
    );
    let (s, v) = readyz(addr);
    assert_eq!(s, 503);
    assert_eq!(v["not_ready"], json!(["store", "backlog"]), "{v}");
    assert!(
        v["checks"]["backlog"]["bytes"].as_u64().unwrap() > 1 << 20,
        "{v}"
    );

    // The same in /metrics (admin key on the main port).
    let (s, text) = scrape(addr, &[("authorization", &format!("Bearer {key}"))]);
    assert_eq!(s, 200);
    let samples = parse_exposition(&text).unwrap();
    assert!(value(&samples, "hive_ingest_backlog_bytes", &[]) > (1 << 20) as f64);
    assert_eq!(
        value(&samples, "hive_ingest_backlog_limit_bytes", &[]),
        (1 << 20) as f64
    );

    // ClickHouse back: the backlog drains and the server is ready again.
    ch.start();
    wait_readyz(addr, 200, Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (s, v) = readyz(addr);
        assert_eq!(s, 200, "{v}");
        if v["checks"]["backlog"]["bytes"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the backlog does not drain: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (s, text) = scrape(addr, &[("authorization", &format!("Bearer {key}"))]);
    assert_eq!(s, 200);
    let samples = parse_exposition(&text).unwrap();
    assert!(
        value(&samples, "hive_applier_retries_total", &[]) >= 1.0,
        "failed commits were retried"
    );
    assert!(value(&samples, "hive_store_errors_total", &[("op", "commit")]) >= 1.0);
    assert_eq!(
        value(&samples, "hive_ingested_enrichments_total", &[]),
        (acked + 1) as f64
    );

    // The state is compacted again (the writes of the outage with it),
    // and its age in /metrics is that of the newest compaction.
    let up = wait_state(addr, &key, "a compaction after the outage", |s| {
        s["newest_at"].as_i64() > down["newest_at"].as_i64() && s["last_error"].is_null()
    });
    let (s, text) = scrape(addr, &[("authorization", &format!("Bearer {key}"))]);
    assert_eq!(s, 200);
    let samples = parse_exposition(&text).unwrap();
    let at = value(
        &samples,
        "hive_state_last_compaction_timestamp_seconds",
        &[],
    );
    assert!(
        at * 1000.0 >= up["newest_at"].as_i64().unwrap() as f64 - 1.0,
        "{at} against {up}"
    );
    assert!(
        value(
            &samples,
            "hive_state_compactions_total",
            &[("result", "failed")]
        ) >= 1.0
    );
    let made = value(
        &samples,
        "hive_state_compactions_total",
        &[("result", "compacted")],
    ) + value(
        &samples,
        "hive_state_compactions_total",
        &[("result", "built")],
    );
    assert!(
        made >= 2.0,
        "compactions before and after the outage: {made}"
    );
}

/// `/v1/stats`'s `state` once `done` holds of it (within 30 s).
fn wait_state(addr: &str, key: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, v) = api(addr, "GET", "/v1/stats", key, "").unwrap();
        assert_eq!(s, 200, "{v}");
        if done(&v["state"]) {
            return v["state"].clone();
        }
        assert!(Instant::now() < deadline, "no {what}: {}", v["state"]);
        std::thread::sleep(Duration::from_millis(100));
    }
}
