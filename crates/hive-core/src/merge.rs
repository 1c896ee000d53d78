//! JSON Merge Patch (RFC 7396) and the fold of a patch history.

use serde_json::{Map, Value};

/// Apply `patch` to `target` with RFC 7396 semantics: objects merge
/// recursively, an explicit `null` removes a key, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        return;
    };
    merge_maps(target_map, patch_map);
}

/// [`merge_patch`] on two objects.
pub fn merge_maps(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            target.remove(key);
        } else if value.is_object() {
            let entry = target.entry(key.clone()).or_insert(Value::Null);
            merge_patch(entry, value);
        } else {
            target.insert(key.clone(), value.clone());
        }
    }
}

/// The fold of a history of patches onto a base document, in order.
pub fn fold<'a>(base: Value, patches: impl IntoIterator<Item = &'a Value>) -> Value {
    let mut doc = base;
    for patch in patches {
        merge_patch(&mut doc, patch);
    }
    doc
}

/// Combine two patches into one with the same effect as applying `first`
/// then `second` (to coalesce queued patches). Returns `false`, leaving
/// `first` as it was, when no single patch has that effect: `second`
/// merges an object into a key that `first` removes or sets to something
/// else than an object (applied in turn, the object replaces what the
/// target held there; in one patch it would merge into it).
///
/// Nulls in `second` are kept (so they still delete in the target), and
/// objects combine key by key.
pub fn compose(first: &mut Value, second: &Value) -> bool {
    if !composable(first, second) {
        return false;
    }
    compose_checked(first, second);
    true
}

fn composable(first: &Value, second: &Value) -> bool {
    match (first, second) {
        (Value::Object(a), Value::Object(b)) => b.iter().all(|(key, value)| match a.get(key) {
            Some(existing @ Value::Object(_)) => composable(existing, value),
            Some(_) => !value.is_object(),
            None => true,
        }),
        // A patch that is not an object replaces the whole target, then
        // an object patch merges into an empty one.
        (_, Value::Object(_)) => false,
        _ => true,
    }
}

fn compose_checked(first: &mut Value, second: &Value) {
    match (first, second) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in b {
                match (a.get_mut(key), value) {
                    (Some(existing @ Value::Object(_)), Value::Object(_)) => {
                        compose_checked(existing, value)
                    }
                    _ => {
                        a.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (a, b) => *a = b.clone(),
    }
}

/// The nesting depth of a JSON value (a scalar is 0, `{}` or `[]` is 1).
pub fn depth(value: &Value) -> usize {
    match value {
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The examples of RFC 7396, appendix A.
    #[test]
    fn rfc7396_appendix_a() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (i, (target, patch, expected)) in cases.into_iter().enumerate() {
            let mut doc = target;
            merge_patch(&mut doc, &patch);
            assert_eq!(doc, expected, "case {i}");
        }
    }

    #[test]
    fn compose_equals_sequential_application() {
        let base = json!({"m": {"a": 1, "b": {"c": 2, "d": 3}}, "x": [1]});
        let p1 = json!({"m": {"a": 5, "b": {"c": null}}, "y": {"k": 1}});
        let p2 = json!({"m": {"b": {"e": 4}, "z": null}, "x": null, "y": {"k": null}});
        let sequential = fold(base.clone(), [&p1, &p2]);
        let mut composed = p1.clone();
        assert!(compose(&mut composed, &p2));
        assert_eq!(fold(base, [&composed]), sequential);
    }

    /// Regression (fuzz target merge_fold): an object merged into a key the
    /// first patch removed or set to a scalar was composed into a patch that
    /// merged it into the target's object instead of replacing it.
    #[test]
    fn compose_refuses_what_one_patch_cannot_say() {
        let base = json!({"m": {"a": {"old": 1}}});
        for (p1, p2) in [
            (json!({"m": {"a": "x"}}), json!({"m": {"a": {"new": 2}}})),
            (json!({"m": {"a": null}}), json!({"m": {"a": {"new": 2}}})),
            (json!({"m": [1]}), json!({"m": {"a": {"new": 2}}})),
            (json!("whole"), json!({"m": {}})),
        ] {
            let mut composed = p1.clone();
            assert!(!compose(&mut composed, &p2), "{p1} then {p2}");
            assert_eq!(composed, p1, "left as it was");
        }
        // Applied in turn, the object replaces what the target held.
        assert_eq!(
            fold(
                base,
                [&json!({"m": {"a": "x"}}), &json!({"m": {"a": {"new": 2}}})]
            ),
            json!({"m": {"a": {"new": 2}}})
        );
    }

    #[test]
    fn depth_counts_containers() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!({})), 1);
        assert_eq!(depth(&json!({"a": [{"b": 1}]})), 3);
    }
}
