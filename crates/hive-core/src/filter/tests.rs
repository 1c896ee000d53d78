use super::*;
use serde_json::json;

fn f(field: &str, op: &str, value: Value, ty: &str) -> Filter {
    Filter::from_json(&json!({"field": field, "operator": op, "value": value, "type": ty})).unwrap()
}

#[test]
fn operator_table() {
    let ev = json!({
        "event_name": "chat",
        "start_time": 1000,
        "duration": 12.5,
        "error": null,
        "metadata": {"user": {"tier": "premium"}, "cost": 0.5, "ok": true, "tags": ["a", "b"],
                     "when": "2024-01-31T10:00:00Z"},
        "feedback": {"rating": 4}
    });
    let cases: Vec<(Filter, bool)> = vec![
        (f("event_name", "is", json!("chat"), "string"), true),
        (f("event_name", "is not", json!("chat"), "string"), false),
        (f("event_name", "contains", json!("HA"), "string"), true),
        (f("event_name", "not contains", json!("zz"), "string"), true),
        (
            f("metadata.user.tier", "is", json!("premium"), "string"),
            true,
        ),
        (
            f("metadata.user.tier", "is not", json!("free"), "string"),
            true,
        ),
        (f("metadata.missing", "is not", json!("x"), "string"), true),
        (f("metadata.missing", "is", json!("x"), "string"), false),
        (
            f("metadata.cost", "greater than", json!("0.1"), "number"),
            true,
        ),
        (f("metadata.cost", "less than", json!(0.1), "number"), false),
        (f("metadata.cost", "is", json!(0.5), "number"), true),
        (f("metadata.ok", "is", json!("true"), "boolean"), true),
        (f("metadata.ok", "is", json!(false), "boolean"), false),
        (f("metadata.tags", "contains", json!("b"), "string"), true),
        (f("metadata.tags.0", "is", json!("a"), "string"), true),
        (f("feedback.rating", "exists", Value::Null, "number"), true),
        (
            f("feedback.comment", "not exists", Value::Null, "string"),
            true,
        ),
        (f("error", "exists", Value::Null, "string"), false),
        (f("start_time", "after", json!(999), "datetime"), true),
        (
            f(
                "start_time",
                "before",
                json!("1970-01-01T00:00:00.5Z"),
                "datetime",
            ),
            false,
        ),
        (
            f(
                "metadata.when",
                "after",
                json!("2024-01-31T09:00:00Z"),
                "datetime",
            ),
            true,
        ),
        (
            f("metadata.when", "before", json!("2024-01-31"), "datetime"),
            false,
        ),
        (f("duration", "greater than", json!(12), "number"), true),
    ];
    for (i, (filter, want)) in cases.into_iter().enumerate() {
        assert_eq!(filter.matches(&ev), want, "case {i}: {filter:?}");
    }
}

#[test]
fn bad_filters_explain_themselves() {
    let cases = [
        (
            json!({"field": "nope", "operator": "is", "value": "x"}),
            "unknown filter field",
        ),
        (
            json!({"field": "metadata", "operator": "is", "value": "x"}),
            "unknown filter field",
        ),
        (
            json!({"field": "event_name", "operator": "like", "value": "x"}),
            "unknown filter operator",
        ),
        (
            json!({"field": "event_name", "operator": "is", "value": "x", "type": "id"}),
            "unknown filter type",
        ),
        (
            json!({"field": "metadata.c", "operator": "greater than", "value": "abc", "type": "number"}),
            "is not a number",
        ),
        (
            json!({"field": "start_time", "operator": "after", "value": "soon"}),
            "is not a date",
        ),
        (json!("x"), "not an object"),
    ];
    for (v, want) in cases {
        let err = Filter::from_json(&v).unwrap_err().to_string();
        assert!(err.contains(want), "{v}: {err}");
    }
}

#[test]
fn date_ranges() {
    let r = DateRange::from_json(
        &json!({"$gte": "2024-01-01T00:00:00Z", "$lte": 1_800_000_000_000i64}),
        0.0,
    )
    .unwrap();
    assert_eq!(r.start_ms, Some(1_704_067_200_000.0));
    assert_eq!(r.end_ms, Some(1_800_000_000_000.0));
    let r = DateRange::from_json(&json!({"relative": "1d"}), 100_000_000.0).unwrap();
    assert_eq!(r.start_ms, Some(100_000_000.0 - 86_400_000.0));
    assert!(DateRange::from_json(&json!({"$gte": "nope"}), 0.0).is_err());
}
