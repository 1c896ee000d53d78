//! Deletion and retention: what a delete removes (the events, their
//! enrichment history, raw spans, rollups), what it leaves (other sessions,
//! other projects), and that the same ids may be written again afterwards.

use serde_json::json;

use super::{P, all, enrich, event, get, put};
use crate::objects::ALERT;
use crate::{DeleteTarget, Level, Store, WriteOp};

fn delete_session(id: &str) -> WriteOp {
    WriteOp::Delete {
        project_id: P.into(),
        target: DeleteTarget::Session(id.into()),
    }
}

fn delete_event(id: &str) -> WriteOp {
    WriteOp::Delete {
        project_id: P.into(),
        target: DeleteTarget::Event(id.into()),
    }
}

fn missing(store: &dyn Store, id: &str) -> bool {
    store.get_event(Some(P), id).expect("get_event").is_none()
}

pub fn deletes_sessions_and_events(store: &dyn Store) {
    let mut model = event("m1", "s1", "model", 120);
    model.metadata.insert("cost".into(), json!(0.25));
    let mut raw_tool = event("t1", "s1", "tool", 130);
    raw_tool.metadata.insert("cost".into(), json!(1.0));
    let mut other = event("s1", "s1", "session", 100);
    other.project_id = "proj-b".into();
    store
        .apply(&[
            put(event("s1", "s1", "session", 100)),
            put(model),
            WriteOp::Event {
                event: raw_tool,
                raw: Some(json!({"name": "span"})),
                session_name: None,
                join: false,
                floating: false,
            },
            put(event("s2", "s2", "session", 200)),
            put(event("e2", "s2", "tool", 210)),
            put(other),
        ])
        .unwrap();
    store
        .apply(&[enrich("m1", json!({"feedback": {"rating": 5}}))])
        .unwrap();
    assert_eq!(get(store, "s1")["metadata"]["num_events"], 2);

    // One event: gone with its history; the session's rollup follows.
    store.apply(&[delete_event("m1")]).unwrap();
    assert!(missing(store, "m1"));
    assert!(store.history(Some(P), "m1").unwrap().is_empty());
    let s1 = get(store, "s1");
    assert_eq!(s1["metadata"]["num_events"], 1);
    assert_eq!(s1["metadata"]["cost"], 1.0);
    assert_eq!(s1["metadata"]["has_feedback"], false);
    assert_eq!(store.session_events(Some(P), "s1", 100).unwrap().len(), 2);

    // A session: every event, raw spans, history; nothing else.
    store.apply(&[delete_session("s1")]).unwrap();
    assert!(missing(store, "s1"));
    assert!(missing(store, "t1"));
    assert!(store.get_raw(Some(P), "t1").unwrap().is_none());
    assert!(store.session_events(Some(P), "s1", 100).unwrap().is_empty());
    let left: Vec<String> = all(store, vec![], Level::Event)
        .iter()
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&"s2".to_owned()) && left.contains(&"e2".to_owned()));
    assert!(
        store.get_event(Some("proj-b"), "s1").unwrap().is_some(),
        "another project's session of the same id is kept"
    );

    // Deleting a session event by its id deletes the session; deleting
    // something unknown does nothing.
    store
        .apply(&[
            delete_event("s2"),
            delete_event("nope"),
            delete_session("nope"),
        ])
        .unwrap();
    assert!(missing(store, "s2") && missing(store, "e2"));
    assert!(all(store, vec![], Level::Session).is_empty());

    // The same ids written again, in the batch of the delete and after:
    // they start afresh (a placeholder session, no old history).
    store
        .apply(&[
            put(event("s3", "s3", "session", 300)),
            put(event("e3", "s3", "tool", 310)),
        ])
        .unwrap();
    store
        .apply(&[delete_session("s3"), put(event("e3", "s3", "tool", 320))])
        .unwrap();
    let e3 = get(store, "e3");
    assert_eq!(e3["start_time"], 320);
    let s3 = get(store, "s3");
    assert_eq!(s3["metadata"]["num_events"], 1);
    store.apply(&[put(event("t1", "s1", "tool", 400))]).unwrap();
    assert_eq!(get(store, "t1")["metadata"].get("cost"), None);
    assert!(store.get_raw(Some(P), "t1").unwrap().is_none());
    assert_eq!(get(store, "s1")["metadata"]["num_events"], 1);
    assert_eq!(get(store, "s1")["metadata"]["cost"], 0);
}

/// An enrichment that floated before its event arrived (an admin key's,
/// naming no project) is the event's once adopted: deleting the event
/// deletes it, and the same id enriched again afterwards floats afresh,
/// visible where it floats, and joins a new event without the old
/// enrichment.
pub fn deleting_an_adopted_event_forgets_its_enrichments(store: &dyn Store) {
    let floating = |patch: serde_json::Value| WriteOp::Enrich {
        project_id: "default".into(),
        floating: true,
        event_id: "s5".into(),
        patch,
        key_id: None,
        received_at_ms: now_ms(),
    };
    store
        .apply(&[floating(json!({"metadata": {"old": "secret"}}))])
        .unwrap();
    store
        .apply(&[put(event("s5", "s5", "session", 500))])
        .unwrap();
    assert_eq!(get(store, "s5")["metadata"]["old"], "secret");
    assert!(store.get_event(Some("default"), "s5").unwrap().is_none());

    store.apply(&[delete_session("s5")]).unwrap();
    assert!(missing(store, "s5"));
    assert!(store.history(None, "s5").unwrap().is_empty());
    assert!(store.get_event(Some("default"), "s5").unwrap().is_none());

    // Enriched again: it floats, visible where it waits, without what
    // the deleted event had.
    store
        .apply(&[floating(json!({"metadata": {"new": 1}}))])
        .unwrap();
    let waiting = store
        .get_event(Some("default"), "s5")
        .unwrap()
        .expect("a new floating enrichment is visible where it waits");
    assert_eq!(waiting["metadata"]["new"], 1);
    assert_eq!(waiting["metadata"].get("old"), None);
    // And it joins the event when it comes again.
    store
        .apply(&[put(event("s5", "s5", "session", 600))])
        .unwrap();
    let s5 = get(store, "s5");
    assert_eq!(s5["metadata"]["new"], 1);
    assert_eq!(s5["metadata"].get("old"), None, "{s5}");
    assert_eq!(store.history(Some(P), "s5").unwrap().len(), 1);
}

/// The histories and raw spans of several events read together equal
/// each read alone (in a project, and across projects with the same ids).
pub fn histories_and_raws_together_as_apart(store: &dyn Store) {
    let mut ops = Vec::new();
    for (project, n) in [(P, 6), ("proj-b", 3)] {
        for i in 0..n {
            let mut e = event(&format!("h{i}"), "hs", "tool", 100 + i);
            e.project_id = project.into();
            ops.push(WriteOp::Event {
                event: e,
                raw: (i % 2 == 0).then(|| json!({"name": format!("span {i} of {project}")})),
                session_name: None,
                join: false,
                floating: false,
            });
        }
    }
    store.apply(&ops).unwrap();
    for i in 0..4 {
        store
            .apply(&[enrich(&format!("h{i}"), json!({"metadata": {"round": i}}))])
            .unwrap();
    }
    store
        .apply(&[enrich("h1", json!({"metrics": {"score": 2}}))])
        .unwrap();
    let ids = ["h0", "h1", "h2", "h3", "h4", "h5", "nope"];
    for project in [Some(P), Some("proj-b"), None] {
        let histories = store.histories(project, &ids, None).unwrap();
        let raws = store.raws(project, &ids, None).unwrap();
        for id in ids {
            let alone = store.history(project, id).unwrap();
            assert_eq!(
                histories.get(id).cloned().unwrap_or_default(),
                alone,
                "{project:?} {id}"
            );
            assert_eq!(
                raws.get(id).cloned(),
                store.get_raw(project, id).unwrap(),
                "{project:?} {id}"
            );
        }
    }
    assert_eq!(
        store.histories(Some(P), &["h1"], None).unwrap()["h1"].len(),
        2
    );
    assert_eq!(
        store.raws(Some(P), &ids, None).unwrap().len(),
        3,
        "h0, h2 and h4 have spans"
    );
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub fn retention_expires_old_sessions(store: &dyn Store) {
    const DAY: i64 = 86_400_000;
    let old = now_ms() - 10 * DAY;
    store
        .apply(&[
            put(event("old1", "old1", "session", old)),
            put(event("o1", "old1", "model", old + 5)),
            put(event("old2", "old2", "session", old + 10)),
        ])
        .unwrap();
    store
        .apply(&[enrich("o1", json!({"metadata": {"x": 1}}))])
        .unwrap();
    // Retention cuts by when a session started (SQLite) or when a write
    // was received (ClickHouse): the cut-off lies after every old write
    // on both counts and before every new one.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let cutoff = now_ms();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let new = now_ms();
    store
        .apply(&[
            put(event("new1", "new1", "session", new)),
            put(event("n1", "new1", "tool", new + 1)),
        ])
        .unwrap();
    let mut removed = 0;
    for _ in 0..10 {
        let n = store.expire(P, cutoff, 1).unwrap();
        if n == 0 {
            break;
        }
        removed += n;
    }
    assert!(removed >= 3, "removed {removed}");
    assert_eq!(store.expire(P, cutoff, 1).unwrap(), 0);
    for id in ["old1", "o1", "old2"] {
        assert!(missing(store, id), "{id} expired");
    }
    assert!(store.history(Some(P), "o1").unwrap().is_empty());
    assert_eq!(get(store, "n1")["start_time"], new + 1);
    assert_eq!(get(store, "new1")["metadata"]["num_events"], 1);
    assert_eq!(all(store, vec![], Level::Session).len(), 1);
    // Nothing in other projects is touched by a project's retention.
    assert_eq!(store.expire("proj-b", cutoff, 10).unwrap(), 0);

    // Alert history expires; the rule stays.
    let objects = store.objects();
    objects
        .put(ALERT, P, "a1", &json!({"name": "rule"}))
        .unwrap();
    objects.add_evaluation("a1", old, &json!({"v": 1})).unwrap();
    objects.add_evaluation("a1", new, &json!({"v": 2})).unwrap();
    assert_eq!(
        objects
            .delete_evaluations_before(&["a1".into(), "none".into()], cutoff)
            .unwrap(),
        1
    );
    let evals = objects.evaluations("a1", 10).unwrap();
    assert_eq!(evals.len(), 1);
    assert_eq!(evals[0].doc["v"], 2);
    assert!(objects.get(ALERT, Some(P), "a1").unwrap().is_some());
    // Space freed by deletions can be given back (a no-op where the
    // backend does it by itself); it never fails.
    for _ in 0..100 {
        if store.reclaim_space().unwrap() == 0 {
            break;
        }
    }
}
