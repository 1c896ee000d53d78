//! What an import record may be: table of malformed records and the field
//! each error names, and a well-formed record's writes.

use serde_json::{Value, json};

use super::ImportRecord;
use hive_store::WriteOp;

fn record() -> Value {
    json!({
        "event": {"event_id": "e1", "session_id": "s1", "parent_id": "s1", "event_type": "model",
                  "event_name": "llm", "start_time": 1700000000000i64, "end_time": 1700000000500i64,
                  "duration": 500, "error": null, "project_id": "elsewhere",
                  "metadata": {"a": {"b": 1}}, "inputs": {}, "outputs": {}, "config": {},
                  "metrics": {}, "feedback": {}, "user_properties": {}, "children_ids": []},
        "history": [
            {"seq": 4, "received_at": 1700000001000i64, "key_id": "k1", "patch": {"metadata": {"a": {"b": 1}}}},
            {"received_at": 1700000002000i64, "key_id": null, "patch": {"duration": 500}}
        ],
        "span": {"name": "llm"}
    })
}

fn with(path: &str, value: Value) -> Value {
    let mut r = record();
    let target = r.pointer_mut(path).unwrap_or_else(|| panic!("{path}"));
    *target = value;
    r
}

fn without(path: &str, key: &str) -> Value {
    let mut r = record();
    r.pointer_mut(path)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key);
    r
}

#[test]
fn malformed_records_are_refused_naming_the_field() {
    let cases: Vec<(Value, &str)> = vec![
        (json!([1]), "the record must be an object"),
        (json!({"event": {}, "extra": 1}), "unknown field \"extra\""),
        (without("", "event"), "event is required"),
        (with("/event", json!("e1")), "event must be an object"),
        (without("/event", "event_id"), "event.event_id is required"),
        (
            with("/event/session_id", json!(7)),
            "event.session_id must be a non-empty string",
        ),
        (
            with("/event/event_type", json!("")),
            "event.event_type must be a non-empty string",
        ),
        (
            with("/event/start_time", json!("noon")),
            "event.start_time must be a number",
        ),
        (without("/event", "end_time"), "event.end_time is required"),
        (
            with("/event/metadata", json!([1])),
            "metadata must be an object",
        ),
        (with("/event/error", json!(5)), "error must be a string"),
        (with("/span", json!("x")), "span must be an object or null"),
        (with("/history", json!({})), "history must be an array"),
        (with("/history/0", json!(1)), "history[0] must be an object"),
        (
            without("/history/1", "received_at"),
            "history[1].received_at is required",
        ),
        (
            with("/history/0/received_at", json!(1.5)),
            "history[0].received_at must be a whole number",
        ),
        (
            with("/history/0/key_id", json!(false)),
            "history[0].key_id must be a string or null",
        ),
        (
            without("/history/0", "patch"),
            "history[0].patch is required",
        ),
        (
            with("/history/0/patch", json!([])),
            "history[0].patch must be an object",
        ),
        (
            with("/history/0/patch", json!({"metadata": 3})),
            "history[0].patch: metadata must be an object",
        ),
    ];
    for (record, expected) in cases {
        let err = ImportRecord::parse(&record, "p").expect_err(expected);
        assert!(err.contains(expected), "expected {expected:?}, got {err:?}");
    }
}

#[test]
fn a_record_becomes_its_event_then_its_history_in_order() {
    let parsed = ImportRecord::parse(&record(), "target").unwrap();
    let mut ops = Vec::new();
    parsed.into_ops(&mut ops);
    assert_eq!(ops.len(), 3);
    match &ops[0] {
        WriteOp::Event {
            event,
            raw,
            join,
            floating,
            ..
        } => {
            // The project is the one imported into, whatever the file says.
            assert_eq!(event.project_id, "target");
            assert_eq!(
                (event.event_id.as_str(), event.session_id.as_str()),
                ("e1", "s1")
            );
            assert_eq!(
                (event.start_time, event.end_time, event.duration),
                (1700000000000, 1700000000500, 500.0)
            );
            assert_eq!(event.metadata["a"], json!({"b": 1}));
            assert_eq!(raw.as_ref(), Some(&json!({"name": "llm"})));
            assert!(!join && !floating);
        }
        other => panic!("{other:?}"),
    }
    let history: Vec<(i64, Option<&str>, &Value)> = ops[1..]
        .iter()
        .map(|op| match op {
            WriteOp::Enrich {
                project_id,
                event_id,
                received_at_ms,
                key_id,
                patch,
                floating,
            } => {
                assert_eq!(
                    (project_id.as_str(), event_id.as_str(), *floating),
                    ("target", "e1", false)
                );
                (*received_at_ms, key_id.as_deref(), patch)
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        history,
        vec![
            (
                1700000001000,
                Some("k1"),
                &json!({"metadata": {"a": {"b": 1}}})
            ),
            (1700000002000, None, &json!({"duration": 500})),
        ]
    );
}
