//! Space given back by the SQLite store after deletions (ADR 0009): the
//! database uses incremental vacuum, also one made before it did, and
//! `reclaim_space` steps shrink the file.

use hive_core::model::Event;
use hive_store::sqlite::{SqliteOptions, SqliteStore};
use hive_store::{DeleteTarget, Store, WriteOp};
use serde_json::json;

fn events(n: usize) -> Vec<WriteOp> {
    let prompt = "lorem ipsum ".repeat(100);
    (0..n)
        .map(|i| {
            let sid = format!("s{}", i / 50);
            let mut e = Event {
                event_id: if i % 50 == 0 {
                    sid.clone()
                } else {
                    format!("e{i}")
                },
                session_id: sid.clone(),
                project_id: "p".into(),
                event_type: if i % 50 == 0 { "session" } else { "model" }.into(),
                event_name: "x".into(),
                start_time: 1_000 + i as i64,
                end_time: 1_001 + i as i64,
                ..Event::default()
            };
            e.inputs
                .insert("prompt".into(), json!(format!("{prompt}{i}")));
            WriteOp::Event {
                event: e,
                raw: None,
                session_name: None,
                join: false,
                floating: false,
            }
        })
        .collect()
}

fn file_bytes(store: &SqliteStore) -> u64 {
    store.checkpoint().unwrap();
    std::fs::metadata(store.path()).unwrap().len()
}

fn auto_vacuum(path: &std::path::Path) -> i64 {
    let c = rusqlite::Connection::open(path).unwrap();
    c.query_row("PRAGMA auto_vacuum", [], |r| r.get(0)).unwrap()
}

fn fill_delete_reclaim(store: &SqliteStore) {
    for chunk in events(6_000).chunks(1_000) {
        store.apply(chunk).unwrap();
    }
    let full = file_bytes(store);
    assert!(full > 6 << 20, "{full}");
    // Half by sessions, the rest by retention.
    let ops: Vec<WriteOp> = (0..60)
        .map(|s| WriteOp::Delete {
            project_id: "p".into(),
            target: DeleteTarget::Session(format!("s{s}")),
        })
        .collect();
    store.apply(&ops).unwrap();
    while store.expire("p", 1_000_000, 25).unwrap() > 0 {}
    let mut steps = 0;
    while store.reclaim_space().unwrap() > 0 {
        steps += 1;
        assert!(steps < 1_000);
    }
    let after = file_bytes(store);
    assert!(
        after < full / 5,
        "{full} -> {after} bytes after {steps} steps"
    );
    assert!(steps >= 1, "the file was shrunk in steps: {steps}");
    // Still a working store.
    store.apply(&events(100)).unwrap();
    assert!(store.get_event(Some("p"), "e99").unwrap().is_some());
}

#[test]
fn a_new_database_gives_space_back() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("hive.db"), SqliteOptions::default()).unwrap();
    assert_eq!(auto_vacuum(store.path()), 2, "incremental");
    fill_delete_reclaim(&store);
}

#[test]
fn a_database_made_without_incremental_vacuum_is_converted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hive.db");
    {
        // As earlier versions made it: WAL, no auto_vacuum, some data.
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "journal_mode", "WAL").unwrap();
        c.execute_batch("CREATE TABLE projects (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL);")
            .unwrap();
        assert_eq!(auto_vacuum(&path), 0);
    }
    let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
    assert_eq!(auto_vacuum(&path), 2);
    fill_delete_reclaim(&store);
}
