use super::*;
use serde_json::json;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

#[test]
fn update_routes_namespaces_and_extras() {
    let body = obj(json!({
        "event_id": "s1",
        "metadata": {"user_id": "u1"},
        "inputs": {"q": "x"},
        "user_properties": {"plan": "pro"},
        "feature": "chat",
        "duration": 12.5,
        "project": "ignored",
        "end_time": 1000.4,
    }));
    let e = enrichment_from_update(&body, None).unwrap();
    assert_eq!(e.event_id, "s1");
    assert_eq!(
        e.patch,
        json!({
            "metadata": {"user_id": "u1", "feature": "chat"},
            "inputs": {"q": "x"},
            "user_properties": {"plan": "pro"},
            "duration": 12.5,
            "end_time": 1000,
        })
    );
}

#[test]
fn update_errors_name_the_field() {
    let cases = [
        (json!({}), "event_id is required"),
        (json!({"event_id": 5}), "event_id must be a string"),
        (
            json!({"event_id": "a", "metadata": [1]}),
            "metadata must be an object",
        ),
        (
            json!({"event_id": "a", "duration": "x"}),
            "duration must be a number",
        ),
        (
            json!({"event_id": "a", "error": 1}),
            "error must be a string",
        ),
        (
            json!({"event_id": "a", "children_ids": [1]}),
            "children_ids must be an array of strings",
        ),
    ];
    for (body, want) in cases {
        let err = enrichment_from_update(&obj(body.clone()), None).unwrap_err();
        assert_eq!(err.to_string(), want, "{body}");
    }
    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!({ "a": deep });
    }
    let err =
        enrichment_from_update(&obj(json!({"event_id": "a", "metadata": deep})), None).unwrap_err();
    assert!(matches!(err, ModelError::TooDeep(_)));
    let long = "x".repeat(MAX_ID_LEN + 1);
    assert!(enrichment_from_update(&obj(json!({"event_id": long})), None).is_err());
}

#[test]
fn an_update_cannot_remove_the_start_but_a_stored_history_replays() {
    let body = obj(json!({"event_id": "a", "start_time": null}));
    let err = enrichment_from_update(&body, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        "start_time cannot be removed (null): every event keeps one; send a number"
    );
    // A new start is taken; the end, the duration and the name may go.
    let e = enrichment_from_update(
        &obj(json!({"event_id": "a", "start_time": 5.6, "end_time": null, "duration": null})),
        None,
    )
    .unwrap();
    assert_eq!(
        e.patch,
        json!({"start_time": 6, "end_time": null, "duration": null})
    );
    // A history recorded before the refusal is replayed as it was.
    let e = enrichment_from_history(&body, None).unwrap();
    assert_eq!(e.patch, json!({"start_time": null}));
}

#[test]
fn empty_update_is_a_touch() {
    let e = enrichment_from_update(&obj(json!({"event_id": "s"})), None).unwrap();
    assert_eq!(e.patch, json!({}));
}

#[test]
fn session_start_body_becomes_a_session_event() {
    let defaults = EventDefaults {
        project_id: "p".into(),
        source: "dev".into(),
        now_ms: 5_000,
    };
    let body = obj(json!({
        "session_id": "abc",
        "session_name": "chat",
        "source": "prod",
        "inputs": {"q": 1},
        "metadata": {"run_id": "r"},
        "project": "x",
        "custom": true,
    }));
    let ev = event_from_json(&body, &defaults, Some("session"), &mut || "new".into()).unwrap();
    assert_eq!(ev.event_id, "abc");
    assert_eq!(ev.session_id, "abc");
    assert_eq!(ev.parent_id, None);
    assert_eq!(ev.event_name, "chat");
    assert_eq!(ev.source, "prod");
    assert_eq!(ev.start_time, 5_000);
    assert_eq!(ev.metadata, obj(json!({"run_id": "r", "custom": true})));
    let ev = event_from_json(&obj(json!({})), &defaults, Some("session"), &mut || {
        "gen".into()
    })
    .unwrap();
    assert_eq!(
        (ev.event_id.as_str(), ev.session_id.as_str()),
        ("gen", "gen")
    );
}

#[test]
fn posted_event_defaults() {
    let defaults = EventDefaults {
        project_id: "p".into(),
        source: "dev".into(),
        now_ms: 0,
    };
    let body = obj(json!({
        "event_type": "model",
        "session_id": "s",
        "inputs": {},
        "start_time": 1000,
        "duration": 250.5,
    }));
    let mut n = 0;
    let ev = event_from_json(&body, &defaults, None, &mut || {
        n += 1;
        format!("id{n}")
    })
    .unwrap();
    assert_eq!(ev.event_id, "id1");
    assert_eq!(ev.parent_id.as_deref(), Some("s"));
    assert_eq!(
        (ev.start_time, ev.end_time, ev.duration),
        (1000, 1251, 250.5)
    );
    assert_eq!(ev.event_name, "model");
    let err = event_from_json(&obj(json!({"inputs": {}})), &defaults, None, &mut || {
        "x".into()
    })
    .unwrap_err();
    assert_eq!(err.to_string(), "event_type is required");
}
