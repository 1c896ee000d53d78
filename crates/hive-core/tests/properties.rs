//! Property tests of the pure core: the filter and chart query parsers
//! never panic on any JSON, the RFC 7396 fold agrees with the RFC's own
//! definition, and replaying a document's own patches on it changes
//! nothing (what `hive import` relies on, ADR 0011).

use hive_core::chart::ChartQuery;
use hive_core::filter::{FieldRef, Filter};
use hive_core::merge::fold;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Any JSON value, small: keys from a few names (so that patches meet).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(|x| json!(x)),
        "\\PC{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(prop_oneof!["a", "b", "c", "d"], inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(prop_oneof!["a", "b", "c", "d"], json_value(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

/// RFC 7396, section 2, as written there (`None`: the target is absent).
fn rfc_merge_patch(target: Option<Value>, patch: &Value) -> Value {
    let Value::Object(patch) = patch else {
        return patch.clone();
    };
    let mut target = match target {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for (name, value) in patch {
        if value.is_null() {
            target.remove(name);
        } else {
            let current = target.remove(name);
            target.insert(name.clone(), rfc_merge_patch(current, value));
        }
    }
    Value::Object(target)
}

/// Filter-shaped objects: known and odd fields, operators, types, values.
fn filter_json() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        Just("event_name".to_owned()),
        Just("start_time".to_owned()),
        "(metadata|metrics|inputs|feedback|nope)\\.[a-z0-9\\x00-\\x1f\"\\\\.\\[\\]$#-]{0,8}",
        "\\PC{0,10}",
        ".{0,10}",
    ];
    let operator = prop_oneof![
        Just("is"),
        Just("is not"),
        Just("contains"),
        Just("exists"),
        Just("not exists"),
        Just("greater than"),
        Just("less than"),
        Just("after"),
        Just("before"),
        Just("="),
        Just("~"),
    ];
    let ty = prop_oneof![
        Just(Value::Null),
        Just(json!("string")),
        Just(json!("number")),
        Just(json!("boolean")),
        Just(json!("datetime")),
        Just(json!(5)),
    ];
    (field, operator, json_value(), ty, json_value()).prop_map(|(f, op, value, ty, junk)| {
        json!({"field": f, "operator": op, "value": value, "type": ty, "extra": junk})
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_fold_is_rfc_7396(base in object(), patches in prop::collection::vec(object(), 0..4)) {
        let mut expected = base.clone();
        for p in &patches {
            expected = rfc_merge_patch(Some(expected), p);
        }
        prop_assert_eq!(fold(base, patches.iter()), expected);
    }

    /// `hive import` writes an event as exported (the fold of its base and
    /// patches) and replays its history on it: the state must not move.
    #[test]
    fn replaying_the_patches_on_their_fold_changes_nothing(
        base in object(),
        patches in prop::collection::vec(object(), 0..6),
    ) {
        let state = fold(base, patches.iter());
        prop_assert_eq!(fold(state.clone(), patches.iter()), state);
    }

    #[test]
    fn filters_parse_or_fail_without_panicking(f in prop_oneof![filter_json(), json_value()]) {
        if let Ok(parsed) = Filter::from_json(&f) {
            // What parses never carries a control character to a store.
            prop_assert!(!parsed.field.dotted().chars().any(char::is_control));
            let _ = parsed.matches(&json!({"metadata": {"a": 1}, "event_name": "x"}));
        }
    }

    #[test]
    fn field_names_parse_or_fail_without_panicking(s in ".{0,16}") {
        if let Ok(f) = FieldRef::parse(&s) {
            prop_assert_eq!(f.dotted(), s);
        }
    }

    #[test]
    fn chart_queries_parse_or_fail_without_panicking(
        metric in prop_oneof![Just(json!("metrics.latency")), Just(json!("count")), json_value()],
        agg in prop_oneof![Just(json!("p95")), Just(json!("sum")), json_value()],
        bucket in prop_oneof![Just(json!("week")), Just(json!("month")), json_value()],
        group_by in prop_oneof![Just(Value::Null), Just(json!("metadata.v")), json_value()],
        filters in prop_oneof![prop::collection::vec(filter_json(), 0..3).prop_map(Value::Array), json_value()],
        range in prop_oneof![Just(json!({"relative": "7d"})), json_value()],
    ) {
        let q = json!({"metric": metric, "aggregation": agg, "bucket": bucket,
                       "groupBy": group_by, "filters": filters, "dateRange": range});
        if let Ok(parsed) = ChartQuery::from_json(&q, 1.7e12) {
            // What it reads back as is the same query.
            let again = ChartQuery::from_json(&parsed.to_json(), 1.7e12);
            prop_assert!(again.is_ok(), "{:?}", again);
        }
    }
}
