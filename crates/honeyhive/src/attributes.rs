//! Flattening of nested enrichment data into span attributes
//! (`honeyhive_<namespace>.<dotted.path>`, list items as index segments).

#[cfg(any(test, feature = "testing"))]
use opentelemetry::{Array, StringValue};
use opentelemetry::{KeyValue, Value as OtelValue};
use serde_json::Value;

use crate::stats::Limits;

/// Attribute names the SDK writes.
pub(crate) mod keys {
    pub(crate) const SESSION_ID: &str = "honeyhive.session_id";
    pub(crate) const PROJECT: &str = "honeyhive.project";
    pub(crate) const SOURCE: &str = "honeyhive.source";
    pub(crate) const EVENT_TYPE: &str = "honeyhive_event_type";
    pub(crate) const EVENT_NAME: &str = "honeyhive_event_name";
    pub(crate) const ERROR: &str = "honeyhive_error";
}

/// Appends one attribute per leaf of `value` under `prefix`. `null` leaves are
/// skipped; integers, floats, booleans and strings keep their type.
pub(crate) fn flatten(
    prefix: &mut String,
    value: &Value,
    limits: &Limits,
    out: &mut Vec<KeyValue>,
) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push(KeyValue::new(prefix.clone(), *b)),
        Value::Number(n) => {
            let v = if let Some(i) = n.as_i64() {
                OtelValue::I64(i)
            } else if let Some(f) = n.as_f64() {
                OtelValue::F64(f)
            } else {
                OtelValue::String(n.to_string().into())
            };
            out.push(KeyValue::new(prefix.clone(), v));
        }
        Value::String(s) => {
            limits.check_field(prefix, s.len());
            out.push(KeyValue::new(prefix.clone(), s.clone()));
        }
        Value::Array(items) => {
            if items.is_empty() {
                return;
            }
            let len = prefix.len();
            for (i, item) in items.iter().enumerate() {
                prefix.push('.');
                push_index(prefix, i);
                flatten(prefix, item, limits, out);
                prefix.truncate(len);
            }
        }
        Value::Object(map) => {
            let len = prefix.len();
            for (k, v) in map {
                prefix.push('.');
                prefix.push_str(k);
                flatten(prefix, v, limits, out);
                prefix.truncate(len);
            }
        }
    }
}

/// Like [`flatten`], moving strings out of `value` instead of copying them.
pub(crate) fn flatten_owned(
    prefix: &mut String,
    value: Value,
    limits: &Limits,
    out: &mut Vec<KeyValue>,
) {
    match value {
        Value::String(s) => {
            limits.check_field(prefix, s.len());
            out.push(KeyValue::new(prefix.clone(), s));
        }
        Value::Array(items) => {
            let len = prefix.len();
            for (i, item) in items.into_iter().enumerate() {
                prefix.push('.');
                push_index(prefix, i);
                flatten_owned(prefix, item, limits, out);
                prefix.truncate(len);
            }
        }
        Value::Object(map) => {
            let len = prefix.len();
            for (k, v) in map {
                prefix.push('.');
                prefix.push_str(&k);
                flatten_owned(prefix, v, limits, out);
                prefix.truncate(len);
            }
        }
        other => flatten(prefix, &other, limits, out),
    }
}

fn push_index(s: &mut String, i: usize) {
    use std::fmt::Write;
    let _ = write!(s, "{i}");
}

/// Converts an attribute value back to JSON (used by the tests and the
/// `testing` helpers).
#[cfg(any(test, feature = "testing"))]
pub fn otel_to_json(value: &OtelValue) -> Value {
    match value {
        OtelValue::Bool(b) => Value::Bool(*b),
        OtelValue::I64(i) => Value::from(*i),
        OtelValue::F64(f) => Value::from(*f),
        OtelValue::String(s) => Value::String(s.as_str().to_owned()),
        OtelValue::Array(array) => match array {
            Array::Bool(v) => v.iter().map(|b| Value::Bool(*b)).collect(),
            Array::I64(v) => v.iter().map(|i| Value::from(*i)).collect(),
            Array::F64(v) => v.iter().map(|f| Value::from(*f)).collect(),
            Array::String(v) => v
                .iter()
                .map(|s: &StringValue| Value::String(s.as_str().to_owned()))
                .collect(),
            _ => Value::Null,
        },
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flattening_keeps_types_and_indexes_lists() {
        let limits = Limits::default();
        let mut out = Vec::new();
        let mut prefix = String::from("honeyhive_metadata");
        let value = json!({
            "s": "x", "i": 3, "f": 0.5, "b": true, "n": null,
            "tags": ["a", "b"], "deep": {"list": [{"c": true}]}
        });
        flatten(&mut prefix, &value, &limits, &mut out);
        let got: Vec<(String, Value)> = out
            .iter()
            .map(|kv| (kv.key.as_str().to_owned(), otel_to_json(&kv.value)))
            .collect();
        let expect = vec![
            ("honeyhive_metadata.s", json!("x")),
            ("honeyhive_metadata.i", json!(3)),
            ("honeyhive_metadata.f", json!(0.5)),
            ("honeyhive_metadata.b", json!(true)),
            ("honeyhive_metadata.tags.0", json!("a")),
            ("honeyhive_metadata.tags.1", json!("b")),
            ("honeyhive_metadata.deep.list.0.c", json!(true)),
        ];
        let expect: Vec<(String, Value)> =
            expect.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        assert_eq!(got, expect);
        assert!(matches!(out[1].value, OtelValue::I64(3)));
        assert!(matches!(out[2].value, OtelValue::F64(_)));
        assert_eq!(prefix, "honeyhive_metadata");
    }
}
