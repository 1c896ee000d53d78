//! `hive backup` while clients ingest spans and enrich a session, then
//! `hive restore` into a new directory and a server on it: everything
//! acknowledged before the backup began is there, once, with its history;
//! the restored database passes SQLite's integrity check; what the restored
//! server has is what the original had (a prefix of its history). Then the
//! refusals: a damaged or truncated backup file, a non-empty directory, a
//! data directory of a ClickHouse server.

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use support::{Acked, Hive, api, get_ready, span_json, verify_session};

/// Run the hive binary: (success, stderr).
fn hive(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hive"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run hive");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Spans and enrichments of `session` from 4 clients until `stop`.
fn load(
    addr: &str,
    key: &str,
    session: &'static str,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Acked>>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..4)
        .map(|c| {
            let (stop, acked, addr, key) =
                (stop.clone(), acked.clone(), addr.to_owned(), key.to_owned());
            std::thread::spawn(move || {
                let mut seq: usize = 0;
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

fn integrity(db: &Path) -> String {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .unwrap()
}

/// (received_at, key_id, patch) of every history entry.
fn history(addr: &str, key: &str, event: &str) -> Vec<(i64, Value, Value)> {
    let v = get_ready(
        addr,
        key,
        &format!("/v1/events/{event}/history"),
        Duration::from_secs(30),
    );
    v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["received_at"].as_i64().unwrap(),
                h["key_id"].clone(),
                h["patch"].clone(),
            )
        })
        .collect()
}

#[test]
fn backup_under_load_restores_everything_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Hive::start(&data, &[]);
    let key = server.key.clone().expect("the first start prints a key");
    let session = "bac0bac0-0000-4000-8000-000000000001";
    let (status, _) = api(
        &server.addr,
        "POST",
        "/session/start",
        &key,
        &json!({"session": {"session_id": session, "project": "bk"}}).to_string(),
    )
    .unwrap();
    assert_eq!(status, 200);

    let acked = Arc::new(Mutex::new(Acked::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(&server.addr, &key, session, stop.clone(), acked.clone());
    std::thread::sleep(Duration::from_millis(1500));
    // What was acknowledged before the backup began must be in it.
    let before = acked.lock().unwrap().clone();
    let file = dir.path().join("hive.backup");
    let (ok, out) = hive(&[
        "backup",
        "--data-dir",
        data.to_str().unwrap(),
        "--to",
        file.to_str().unwrap(),
    ]);
    assert!(ok, "backup failed: {out}");
    assert!(out.contains("integrity ok"), "{out}");
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert!(
        before.spans.len() > 20 && before.keys.len() > 20,
        "too little load before the backup: {} spans, {} keys",
        before.spans.len(),
        before.keys.len()
    );
    let all = acked.lock().unwrap().clone();
    assert!(
        all.spans.len() > before.spans.len(),
        "the clients were not writing during the backup"
    );

    // Restore into a new directory: checked, complete, startable.
    let restored = dir.path().join("restored");
    let (ok, out) = hive(&[
        "restore",
        "--from",
        file.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    assert!(ok, "restore failed: {out}");
    eprintln!("{out}");
    assert_eq!(integrity(&restored.join("hive.db")), "ok");
    let copy = Hive::start(&restored, &[]);
    assert!(copy.key.is_none(), "the restored server keeps its keys");
    let spans = verify_session(&copy.addr, &key, session, &before);
    assert!(spans >= before.spans.len());

    // Compare with the original: the restored history is a prefix of the
    // original's (nothing invented, nothing reordered), and every span it
    // has, the original has.
    let original_history = history(&server.addr, &key, session);
    let restored_history = history(&copy.addr, &key, session);
    assert!(restored_history.len() >= before.keys.len());
    assert_eq!(
        restored_history[..],
        original_history[..restored_history.len()],
        "the restored history differs from the original's"
    );
    let original = get_ready(
        &server.addr,
        &key,
        &format!("/v1/sessions/{session}"),
        Duration::from_secs(30),
    );
    let copied = get_ready(
        &copy.addr,
        &key,
        &format!("/v1/sessions/{session}"),
        Duration::from_secs(30),
    );
    let ids = |v: &Value| -> std::collections::BTreeMap<String, Value> {
        v["session"]["children"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["event_id"].as_str().unwrap().to_owned(), e.clone()))
            .collect()
    };
    let (original, copied) = (ids(&original), ids(&copied));
    for (id, event) in &copied {
        assert_eq!(
            original.get(id),
            Some(event),
            "span {id} of the restored server differs from the original's"
        );
    }
    drop(copy);

    // A damaged file, a truncated one: refused, nothing created.
    let bytes = std::fs::read(&file).unwrap();
    let mut damaged = bytes.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0x55;
    let damaged_file = dir.path().join("damaged.backup");
    std::fs::write(&damaged_file, &damaged).unwrap();
    let truncated_file = dir.path().join("truncated.backup");
    std::fs::write(&truncated_file, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let not_a_backup = dir.path().join("other.backup");
    std::fs::write(&not_a_backup, b"hello").unwrap();
    for bad in [&damaged_file, &truncated_file, &not_a_backup] {
        let target = dir.path().join("never");
        let (ok, out) = hive(&[
            "restore",
            "--from",
            bad.to_str().unwrap(),
            "--data-dir",
            target.to_str().unwrap(),
        ]);
        assert!(!ok, "restore of {} succeeded", bad.display());
        assert!(
            out.contains("not a usable hive backup") && out.contains("nothing was restored"),
            "{}: {out}",
            bad.display()
        );
        assert!(
            !target.exists(),
            "a refused restore created {}",
            target.display()
        );
    }
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // A non-empty directory: refused, then moved aside with --force.
    let (ok, out) = hive(&[
        "restore",
        "--from",
        file.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
    ]);
    assert!(!ok && out.contains("is not empty"), "{out}");
    let (ok, out) = hive(&[
        "restore",
        "--from",
        file.to_str().unwrap(),
        "--data-dir",
        restored.to_str().unwrap(),
        "--force",
    ]);
    assert!(ok, "{out}");
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("restored.before-restore-"))
        .collect();
    assert_eq!(aside.len(), 1, "{out}");
    assert!(dir.path().join(&aside[0]).join("hive.db").exists());
    assert_eq!(integrity(&restored.join("hive.db")), "ok");

    // A server on ClickHouse: its data directory has no database.
    let ch = dir.path().join("ch");
    std::fs::create_dir_all(&ch).unwrap();
    std::fs::write(ch.join("clickhouse-node"), "node-1").unwrap();
    let (ok, out) = hive(&[
        "backup",
        "--data-dir",
        ch.to_str().unwrap(),
        "--to",
        dir.path().join("ch.backup").to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        out.contains("ClickHouse") && out.contains("Backup and restore"),
        "{out}"
    );
}
