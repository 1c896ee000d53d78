//! The session value index stays equal to the documents, recomputed with
//! SQLite's own `json_tree`, through every kind of write.

use hive_core::model::Event;
use hive_store::sqlite::{SqliteOptions, SqliteStore};
use hive_store::{Store, WriteOp};
use serde_json::json;

fn event(id: &str, session: &str, ty: &str) -> Event {
    Event {
        event_id: id.into(),
        session_id: session.into(),
        parent_id: (ty != "session").then(|| session.to_owned()),
        project_id: "p".into(),
        source: "t".into(),
        event_type: ty.into(),
        event_name: id.into(),
        start_time: 10,
        end_time: 20,
        duration: 10.0,
        ..Event::default()
    }
}

fn put(e: Event) -> WriteOp {
    WriteOp::Event {
        event: e,
        raw: None,
        session_name: None,
        join: false,
        floating: false,
    }
}

fn enrich(id: &str, patch: serde_json::Value, floating: bool) -> WriteOp {
    WriteOp::Enrich {
        project_id: if floating {
            "default".into()
        } else {
            "p".into()
        },
        floating,
        event_id: id.into(),
        patch,
        key_id: None,
        received_at_ms: 5,
    }
}

#[test]
fn index_matches_json_tree_after_every_kind_of_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("h.db"), SqliteOptions::default()).unwrap();
    let check = |step: &str| {
        let diff = store.verify_value_index().unwrap();
        assert!(diff.is_empty(), "after {step}: {diff:#?}");
    };
    let mut s1 = event("s1", "s1", "session");
    s1.metadata.insert("tier".into(), json!("pro"));
    s1.metadata.insert("user_id".into(), json!("u1"));
    s1.metadata.insert(
        "nested".into(),
        json!({"a b": {"c": [1, 2, {"d": 3}]}, "x\"y": true, "n": null}),
    );
    s1.metrics.insert("score".into(), json!(0.95));
    s1.metrics.insert("tiny".into(), json!(1e-5));
    s1.metrics.insert("big".into(), json!(12345678901i64));
    s1.config.insert("models".into(), json!(["a", "b"]));
    store.apply(&[put(s1)]).unwrap();
    check("a session start");
    let mut child = event("e1", "s1", "model");
    child.metadata.insert("total_tokens".into(), json!(30));
    child.metadata.insert("cost".into(), json!(0.25));
    store.apply(&[put(child)]).unwrap();
    check("a child event (rollup)");
    for i in 0..20 {
        store
            .apply(&[enrich("s1", json!({"metadata": {format!("k{i}"): i, "tier": if i % 2 == 0 { "free" } else { "pro" }}, "feedback": {"r": i}}), false)])
            .unwrap();
    }
    check("enrichments");
    store
        .apply(&[enrich(
            "s1",
            json!({"metadata": {"nested": null, "k3": null}, "metrics": null}),
            false,
        )])
        .unwrap();
    check("removals");
    store
        .apply(&[enrich(
            "e1",
            json!({"feedback": {"ok": true}, "metadata": {"cost": 1.5}}),
            false,
        )])
        .unwrap();
    check("enriching a child");
    store
        .apply(&[enrich("s9", json!({"metadata": {"early": 1}}), false)])
        .unwrap();
    check("a placeholder session");
    let mut s9 = event("s9", "s9", "session");
    s9.user_properties.insert("plan".into(), json!("team"));
    store.apply(&[put(s9)]).unwrap();
    check("the placeholder's real session");
    store
        .apply(&[enrich("x1", json!({"metadata": {"float": "yes"}}), true)])
        .unwrap();
    check("a floating placeholder");
    store.apply(&[put(event("x1", "s1", "tool"))]).unwrap();
    check("adoption of the floating patch (placeholder deleted)");
    store
        .apply(&[enrich("y1", json!({"metadata": {"was": "session"}}), false)])
        .unwrap();
    store.apply(&[put(event("y1", "s1", "tool"))]).unwrap();
    check("a placeholder session replaced by a span event");
    let ops: Vec<WriteOp> = (0..30)
        .map(|i| {
            if i % 3 == 0 {
                put(event(&format!("b{i}"), "s9", "tool"))
            } else {
                enrich("s9", json!({"metadata": {"i": i}}), false)
            }
        })
        .collect();
    store.apply(&ops).unwrap();
    check("a mixed batch");
}
