//! Typed fields of JSON request objects: a field of the wrong type is an
//! error that names it, with serde's description of what was expected and,
//! inside a structured field, the path to the value at fault
//! (`webhook.url: invalid type: integer `5`, expected a string`). A field
//! that is absent or `null` is `None`.
//!
//! ```
//! use hive_core::fields::field;
//! use serde_json::json;
//!
//! let obj = json!({"metric": {"a": 1}, "name": "x"});
//! let obj = obj.as_object().unwrap();
//! assert_eq!(field::<String>(obj, "name").unwrap().as_deref(), Some("x"));
//! assert_eq!(field::<String>(obj, "missing").unwrap(), None);
//! assert_eq!(
//!     field::<String>(obj, "metric").unwrap_err(),
//!     "metric: invalid type: map, expected a string"
//! );
//! ```

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The field `key` of `obj` as a `T`.
pub fn field<T: DeserializeOwned>(
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<T>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => value(v, key).map(Some),
    }
}

/// The first of `keys` (a field and its aliases) present and not `null`,
/// as a `T`.
pub fn first<T: DeserializeOwned>(
    obj: &Map<String, Value>,
    keys: &[&str],
) -> Result<Option<T>, String> {
    for k in keys {
        if let Some(v) = field(obj, k)? {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// A value as a `T`; errors are named after `name`.
pub fn value<T: DeserializeOwned>(v: &Value, name: &str) -> Result<T, String> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let at = match path.as_str() {
            "." => name.to_owned(),
            p if p.starts_with('[') => format!("{name}{p}"),
            p => format!("{name}.{p}"),
        };
        format!("{at}: {}", e.into_inner())
    })
}
