//! Deleting data through the API of a real `hive serve` (ADR 0009):
//! sessions, events, by filter with a dry run and an audit trail, the
//! scopes that may delete, and deletions that survive `kill -9`.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Hive, api, get_ready};

fn key(addr: &str, admin: &str, scope: &str, project: &str) -> String {
    let body = json!({"name": format!("{scope}-{project}"), "scope": scope, "project": project});
    let (status, v) = api(addr, "POST", "/v1/keys", admin, &body.to_string()).unwrap();
    assert_eq!(status, 200, "{v}");
    v["secret"].as_str().unwrap().to_owned()
}

/// `sessions` sessions of `per` events each; session `i` belongs to user
/// `u{i % 3}`.
fn ingest(addr: &str, key: &str, prefix: &str, sessions: usize, per: usize) {
    let now = 1_760_000_000_000i64;
    for s in 0..sessions {
        let sid = format!("{prefix}-s{s}");
        let mut events = vec![json!({
            "event_id": sid, "session_id": sid, "event_type": "session",
            "event_name": "chat", "start_time": now + s as i64, "end_time": now + s as i64 + 5,
            "user_properties": {"user_id": format!("u{}", s % 3)},
        })];
        for e in 0..per {
            events.push(json!({
                "event_id": format!("{sid}-e{e}"), "session_id": sid, "parent_id": sid,
                "event_type": "model", "event_name": "llm",
                "start_time": now + s as i64 + 1, "end_time": now + s as i64 + 3,
                "metadata": {"cost": 0.5},
            }));
        }
        let (status, v) = api(
            addr,
            "POST",
            "/v1/events/batch",
            key,
            &json!({"events": events}).to_string(),
        )
        .unwrap();
        assert_eq!(status, 200, "{v}");
    }
}

fn count(addr: &str, key: &str, filters: Value, level: &str) -> u64 {
    let body = json!({"filters": filters, "level": level, "limit": 1});
    let (status, v) = api(addr, "POST", "/v1/events/export", key, &body.to_string()).unwrap();
    assert_eq!(status, 200, "{v}");
    v["totalEvents"].as_u64().unwrap()
}

fn user_is(u: &str) -> Value {
    json!([{"field": "user_properties.user_id", "operator": "is", "value": u, "type": "string"}])
}

fn wait_done(addr: &str, key: &str, id: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let v = get_ready(addr, key, &format!("/v1/deletions/{id}"), within);
        if v["deletion"]["state"] == "done" {
            return v["deletion"].clone();
        }
        assert!(Instant::now() < deadline, "deletion not done: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn deletes_sessions_events_and_by_filter_with_audit() {
    let dir = tempfile::tempdir().unwrap();
    let hive = Hive::start(dir.path(), &["--retention-interval-ms", "200"]);
    let (addr, admin) = (hive.addr.as_str(), hive.key.clone().unwrap());
    let rw = key(addr, &admin, "read_write", "p1");
    let ingest_only = key(addr, &admin, "ingest", "p1");
    let other = key(addr, &admin, "read_write", "p2");
    ingest(addr, &rw, "a", 9, 3);
    ingest(addr, &other, "a", 1, 1);
    assert_eq!(count(addr, &rw, json!([]), "event"), 36);

    // Who may delete: not an ingest key, not another project's key.
    let (status, v) = api(addr, "DELETE", "/v1/sessions/a-s0", &ingest_only, "").unwrap();
    assert_eq!(status, 403, "{v}");
    let (status, _) = api(addr, "DELETE", "/v1/sessions/a-s0", &other, "").unwrap();
    assert_eq!(status, 200, "p2's own a-s0 goes, p1's stays");
    let (status, v) = api(addr, "DELETE", "/v1/sessions/a-s2", &other, "").unwrap();
    assert_eq!(status, 404, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("a-s2"));
    assert_eq!(count(addr, &rw, json!([]), "event"), 36);
    assert_eq!(count(addr, &other, json!([]), "event"), 0);

    // One event: gone with its history; the session's rollup follows.
    let (status, _) = api(
        addr,
        "PUT",
        "/events",
        &rw,
        &json!({"event_id": "a-s0-e0", "feedback": {"rating": 1}}).to_string(),
    )
    .unwrap();
    assert_eq!(status, 200);
    let (status, v) = api(addr, "DELETE", "/v1/events/a-s0-e0", &rw, "").unwrap();
    assert_eq!(
        (status, v["deleted_events"].as_u64()),
        (200, Some(1)),
        "{v}"
    );
    let (status, _) = api(addr, "GET", "/v1/events/a-s0-e0", &rw, "").unwrap();
    assert_eq!(status, 404);
    let (status, h) = api(addr, "GET", "/v1/events/a-s0-e0/history", &rw, "").unwrap();
    assert_eq!(status, 404, "no history left: {h}");
    let s0 = get_ready(addr, &rw, "/v1/events/a-s0", Duration::from_secs(5));
    assert_eq!(s0["event"]["metadata"]["num_events"], 2);
    assert_eq!(s0["event"]["metadata"]["cost"], 1.0);

    // A session (HoneyHive's path): every event goes.
    let (status, v) = api(addr, "DELETE", "/v1/sessions/a-s0", &rw, "").unwrap();
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["deleted_events"], 3);
    let (status, _) = api(addr, "GET", "/v1/sessions/a-s0", &rw, "").unwrap();
    assert_eq!(status, 404);
    let (status, _) = api(addr, "GET", "/v1/events/a-s0-e1", &rw, "").unwrap();
    assert_eq!(status, 404);
    let (status, _) = api(addr, "DELETE", "/v1/sessions/a-s0", &rw, "").unwrap();
    assert_eq!(status, 404, "deleting twice finds nothing");
    let (status, _) = api(addr, "DELETE", "/v1/sessions/a-s3-e0", &rw, "").unwrap();
    assert_eq!(status, 404, "an event is not a session");
    assert_eq!(count(addr, &rw, json!([]), "event"), 32);

    // Malformed requests name the field.
    for (body, field) in [
        (json!({"filters": "x", "dry_run": true}), "filters"),
        (json!({"filters": [], "dry_run": "yes"}), "dry_run"),
        (
            json!({"filters": [{"field": "", "operator": "is"}]}),
            "filters[0]",
        ),
        (json!({"filters": [], "level": "galaxy"}), "level"),
    ] {
        let (status, v) = api(addr, "POST", "/v1/events/delete", &rw, &body.to_string()).unwrap();
        assert_eq!(status, 400, "{body}: {v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(field), "{msg} names {field}");
    }
    let (status, v) = api(
        addr,
        "POST",
        "/v1/events/delete",
        &admin,
        &json!({"filters": [], "dry_run": false}).to_string(),
    )
    .unwrap();
    assert_eq!(status, 400, "an admin key names the project: {v}");
    let (status, _) = api(
        addr,
        "POST",
        "/v1/events/delete",
        &ingest_only,
        &json!({"filters": []}).to_string(),
    )
    .unwrap();
    assert_eq!(status, 403);

    // By filter: a dry run counts (and deletes nothing), then the deletion.
    let body = json!({"filters": user_is("u1"), "level": "session"});
    let (status, v) = api(addr, "POST", "/v1/events/delete", &rw, &body.to_string()).unwrap();
    assert_eq!((status, v["matched"].as_u64()), (200, Some(3)), "{v}");
    assert_eq!(count(addr, &rw, user_is("u1"), "session"), 3);
    let mut body = body;
    body["dry_run"] = json!(false);
    let (status, v) = api(addr, "POST", "/v1/events/delete", &rw, &body.to_string()).unwrap();
    assert_eq!(status, 202, "{v}");
    let id = v["deletion"]["id"].as_str().unwrap().to_owned();
    let done = wait_done(addr, &rw, &id, Duration::from_secs(20));
    assert_eq!(done["deleted"], 3, "{done}");
    assert_eq!(count(addr, &rw, user_is("u1"), "session"), 0);
    assert_eq!(count(addr, &rw, json!([]), "event"), 20);
    assert_eq!(count(addr, &rw, user_is("u2"), "session"), 3);

    // The audit trail: who, when, what, how many; only the key's project.
    let list = get_ready(addr, &rw, "/v1/deletions", Duration::from_secs(5));
    let list = list["deletions"].as_array().unwrap();
    assert_eq!(list.len(), 3, "{list:?}");
    let by_filter = &list[0];
    assert_eq!(by_filter["kind"], "filter");
    assert_eq!(by_filter["matched"], 3);
    assert_eq!(by_filter["filters"], user_is("u1"));
    assert!(by_filter["requested_at"].as_i64().unwrap() > 0);
    assert!(
        by_filter["requested_by"]
            .as_str()
            .unwrap()
            .contains("read_write-p1")
    );
    assert_eq!(list[1]["kind"], "session");
    assert_eq!(list[2]["kind"], "event");
    assert_eq!(list[2]["target"], "a-s0-e0");
    let theirs = get_ready(addr, &other, "/v1/deletions", Duration::from_secs(5));
    assert_eq!(theirs["deletions"].as_array().unwrap().len(), 1);
    let (status, _) = api(addr, "GET", &format!("/v1/deletions/{id}"), &other, "").unwrap();
    assert_eq!(status, 404);

    // Progress for a metrics exporter.
    let stats = get_ready(addr, &admin, "/v1/stats", Duration::from_secs(5));
    let m = &stats["maintenance"];
    assert!(m["deleted_by_request"].as_u64().unwrap() >= 5, "{m}");
    assert_eq!(m["deletions_pending"], 0);

    // The same ids can be written again and start afresh.
    ingest(addr, &rw, "a", 1, 1);
    let s0 = get_ready(addr, &rw, "/v1/events/a-s0", Duration::from_secs(5));
    assert_eq!(s0["event"]["metadata"]["num_events"], 1);
}

/// A deletion acknowledged just before `kill -9` is carried out after the
/// restart: a session deletion (in the ingest log) and a deletion by
/// filter (its record), including one stopped half-way.
#[test]
fn deletions_survive_kill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--retention-interval-ms", "100000", "--deletion-page", "20"];
    let mut hive = Hive::start(dir.path(), &args);
    let admin = hive.key.clone().unwrap();
    let rw = key(&hive.addr, &admin, "read_write", "p1");
    ingest(&hive.addr, &rw, "k", 1500, 1);
    assert_eq!(count(&hive.addr, &rw, json!([]), "event"), 3000);

    let (status, _) = api(&hive.addr, "DELETE", "/v1/sessions/k-s1", &rw, "").unwrap();
    assert_eq!(status, 200);
    let body = json!({"filters": user_is("u0"), "level": "session", "dry_run": false});
    let (status, v) = api(
        &hive.addr,
        "POST",
        "/v1/events/delete",
        &rw,
        &body.to_string(),
    )
    .unwrap();
    assert_eq!((status, v["matched"].as_u64()), (202, Some(500)), "{v}");
    let id = v["deletion"]["id"].as_str().unwrap().to_owned();
    // The round starts at once (the request wakes it): let it get part of
    // the way, then kill.
    let started = Instant::now();
    let mut progress = 0;
    while started.elapsed() < Duration::from_secs(10) {
        let v = get_ready(
            &hive.addr,
            &rw,
            &format!("/v1/deletions/{id}"),
            Duration::from_secs(5),
        );
        progress = v["deletion"]["deleted"].as_u64().unwrap_or(0);
        assert_eq!(v["deletion"]["state"], "running", "killed too late: {v}");
        if progress > 0 {
            break;
        }
    }
    hive.kill();
    assert!(progress > 0 && progress < 500, "half-way: {progress}");
    eprintln!("killed with {progress} of 500 sessions deleted");

    let hive = Hive::start(dir.path(), &args);
    let done = wait_done(&hive.addr, &rw, &id, Duration::from_secs(60));
    assert!(
        done["deleted"].as_u64().unwrap() >= 500 - progress,
        "{done}"
    );
    assert_eq!(count(&hive.addr, &rw, user_is("u0"), "session"), 0);
    let (status, _) = api(&hive.addr, "GET", "/v1/sessions/k-s1", &rw, "").unwrap();
    assert_eq!(status, 404);
    // 1500 sessions of 2 events: 500 of u0 and k-s1 (u1) gone.
    assert_eq!(count(&hive.addr, &rw, json!([]), "event"), 3000 - 1002);
    assert_eq!(count(&hive.addr, &rw, user_is("u2"), "session"), 500);
}
