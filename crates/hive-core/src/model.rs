//! The event model (HoneyHive's, kept exactly) and the normalisation of the
//! REST request bodies into events and enrichment patches.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The seven typed namespaces every event carries.
pub const NAMESPACES: [&str; 7] = [
    "inputs",
    "outputs",
    "config",
    "metadata",
    "metrics",
    "feedback",
    "user_properties",
];

/// Deepest JSON nesting accepted in any namespace value.
pub const MAX_DEPTH: usize = 32;
/// Longest id (event, session, parent) accepted.
pub const MAX_ID_LEN: usize = 256;

/// Whether `name` is one of the seven namespaces.
pub fn is_namespace(name: &str) -> bool {
    NAMESPACES.contains(&name)
}

/// An event. A session is the event with `event_type == "session"` and
/// `event_id == session_id`. Times are epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct Event {
    pub event_id: String,
    pub session_id: String,
    pub parent_id: Option<String>,
    pub children_ids: Vec<String>,
    pub project_id: String,
    pub source: String,
    pub event_type: String,
    pub event_name: String,
    pub start_time: i64,
    pub end_time: i64,
    pub duration: f64,
    pub error: Option<String>,
    #[schema(value_type = Object)]
    pub inputs: Map<String, Value>,
    #[schema(value_type = Object)]
    pub outputs: Map<String, Value>,
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    #[schema(value_type = Object)]
    pub metrics: Map<String, Value>,
    #[schema(value_type = Object)]
    pub feedback: Map<String, Value>,
    #[schema(value_type = Object)]
    pub user_properties: Map<String, Value>,
}

impl Event {
    /// Whether this is a session (root) event.
    pub fn is_session(&self) -> bool {
        self.event_type == "session"
    }

    /// The event as a JSON object.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The namespaces with their names, in [`NAMESPACES`]' order, which is
    /// also the order of the fields they close the event's JSON with.
    pub fn namespaces(&self) -> [(&'static str, &Map<String, Value>); 7] {
        [
            ("inputs", &self.inputs),
            ("outputs", &self.outputs),
            ("config", &self.config),
            ("metadata", &self.metadata),
            ("metrics", &self.metrics),
            ("feedback", &self.feedback),
            ("user_properties", &self.user_properties),
        ]
    }

    /// The namespace object by name.
    pub fn namespace_mut(&mut self, name: &str) -> Option<&mut Map<String, Value>> {
        Some(match name {
            "inputs" => &mut self.inputs,
            "outputs" => &mut self.outputs,
            "config" => &mut self.config,
            "metadata" => &mut self.metadata,
            "metrics" => &mut self.metrics,
            "feedback" => &mut self.feedback,
            "user_properties" => &mut self.user_properties,
            _ => return None,
        })
    }

    /// A placeholder session, made when an event or an enrichment names a
    /// session the server has not seen. Its fields are replaced when the
    /// real session start arrives.
    pub fn placeholder_session(session_id: &str, project_id: &str, now_ms: i64) -> Event {
        Event {
            event_id: session_id.to_owned(),
            session_id: session_id.to_owned(),
            parent_id: None,
            project_id: project_id.to_owned(),
            source: "unknown".to_owned(),
            event_type: "session".to_owned(),
            event_name: "session".to_owned(),
            start_time: now_ms,
            end_time: now_ms,
            ..Event::default()
        }
    }
}

/// Why a request body could not become an event or a patch.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("{0} is required")]
    Missing(String),
    #[error("{field} must be {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    #[error("{0} is nested deeper than {MAX_DEPTH} levels")]
    TooDeep(String),
    #[error("{0} is longer than {MAX_ID_LEN} characters")]
    IdTooLong(String),
    #[error("{0} cannot be removed (null): every event keeps one; send a number")]
    NotRemovable(String),
}

fn wrong(field: impl Into<String>, expected: &'static str) -> ModelError {
    ModelError::WrongType {
        field: field.into(),
        expected,
    }
}

/// Keys of an update that identify the event and cannot be changed by
/// enrichment; they are accepted and ignored.
const IDENTITY_KEYS: [&str; 8] = [
    "event_id",
    "session_id",
    "project",
    "project_id",
    "parent_id",
    "event_type",
    "org_id",
    "workspace_id",
];

/// A validated enrichment: the target event and the patch (a JSON object with
/// only namespace objects and the patchable top-level fields).
#[derive(Debug, Clone, PartialEq)]
pub struct Enrichment {
    pub event_id: String,
    pub patch: Value,
}

/// Normalise a `PUT /events` body (or `PUT /v1/events/{id}` with the id
/// given separately) into an [`Enrichment`].
///
/// Namespaces must be objects (or `null`, which removes the namespace per
/// RFC 7396); `inputs` is its own namespace; unknown keys land in
/// `metadata`; identity fields are ignored. `start_time` may be changed but
/// not removed: an event without a start would fall out of every read
/// bounded by dates, so `"start_time": null` is refused.
pub fn enrichment_from_update(
    body: &Map<String, Value>,
    path_event_id: Option<&str>,
) -> Result<Enrichment, ModelError> {
    if matches!(body.get("start_time"), Some(Value::Null)) {
        return Err(ModelError::NotRemovable("start_time".into()));
    }
    enrichment_from_history(body, path_event_id)
}

/// [`enrichment_from_update`] for a patch a server already stored (a
/// history replayed by `hive import` or `hive migrate`): the same checks,
/// except that a removal of `start_time` recorded before it was refused is
/// replayed as it was, so the event ends as it was.
pub fn enrichment_from_history(
    body: &Map<String, Value>,
    path_event_id: Option<&str>,
) -> Result<Enrichment, ModelError> {
    let event_id = match path_event_id {
        Some(id) => id.to_owned(),
        None => match body.get("event_id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(ModelError::Missing("event_id".into()));
            }
            Some(_) => return Err(wrong("event_id", "a string")),
        },
    };
    check_id("event_id", &event_id)?;
    let mut patch = Map::new();
    let mut extras = Map::new();
    for (key, value) in body {
        if is_namespace(key) {
            match value {
                Value::Object(_) | Value::Null => {
                    check_depth(key, value)?;
                    patch.insert(key.clone(), value.clone());
                }
                _ => return Err(wrong(key.as_str(), "an object")),
            }
            continue;
        }
        match key.as_str() {
            // Ignored, but of the type they have everywhere else.
            k if IDENTITY_KEYS.contains(&k) => {
                if !matches!(value, Value::String(_) | Value::Null) {
                    return Err(wrong(key.as_str(), "a string"));
                }
            }
            "duration" => {
                patch.insert(key.clone(), number_or_null(key, value)?);
            }
            "start_time" | "end_time" => {
                let v = number_or_null(key, value)?;
                let v = v
                    .as_f64()
                    .map(|ms| Value::from(ms.round() as i64))
                    .unwrap_or(v);
                patch.insert(key.clone(), v);
            }
            "error" | "event_name" | "source" => match value {
                Value::String(_) | Value::Null => {
                    patch.insert(key.clone(), value.clone());
                }
                _ => return Err(wrong(key.as_str(), "a string")),
            },
            "children_ids" => {
                string_array(key, value)?;
                patch.insert(key.clone(), value.clone());
            }
            _ => {
                check_depth(key, value)?;
                extras.insert(key.clone(), value.clone());
            }
        }
    }
    if !extras.is_empty() {
        let metadata = patch
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !metadata.is_object() {
            *metadata = Value::Object(Map::new());
        }
        if let Value::Object(m) = metadata {
            for (k, v) in extras {
                m.insert(k, v);
            }
        }
    }
    Ok(Enrichment {
        event_id,
        patch: Value::Object(patch),
    })
}

/// Values the server supplies when a body leaves them out.
#[derive(Debug, Clone)]
pub struct EventDefaults {
    pub project_id: String,
    pub source: String,
    pub now_ms: i64,
}

/// Build an event from a JSON object as sent in `POST /events`,
/// `POST /events/batch`, `POST /v1/events` or a session start.
///
/// `new_id` makes a fresh id when the body has none. `forced_type` is
/// `Some("session")` for session starts.
pub fn event_from_json(
    obj: &Map<String, Value>,
    defaults: &EventDefaults,
    forced_type: Option<&str>,
    new_id: &mut dyn FnMut() -> String,
) -> Result<Event, ModelError> {
    let mut ev = Event {
        project_id: defaults.project_id.clone(),
        source: defaults.source.clone(),
        ..Event::default()
    };
    ev.event_type = match forced_type {
        // A session start's own event_type is ignored, but must be a string.
        Some(t) => match obj.get("event_type") {
            None | Some(Value::Null | Value::String(_)) => t.to_owned(),
            Some(_) => return Err(wrong("event_type", "a string")),
        },
        None => match obj.get("event_type") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            None | Some(Value::Null) => return Err(ModelError::Missing("event_type".into())),
            Some(_) => return Err(wrong("event_type", "a non-empty string")),
        },
    };
    let is_session = ev.event_type == "session";
    let given_event_id = opt_string(obj, "event_id")?;
    let given_session_id = opt_string(obj, "session_id")?;
    ev.event_id = match (&given_event_id, &given_session_id, is_session) {
        (Some(id), _, _) => id.clone(),
        (None, Some(sid), true) => sid.clone(),
        _ => new_id(),
    };
    ev.session_id = if is_session {
        ev.event_id.clone()
    } else {
        given_session_id.unwrap_or_else(&mut *new_id)
    };
    ev.parent_id = match opt_string(obj, "parent_id")? {
        Some(p) => Some(p),
        None if is_session => None,
        None => Some(ev.session_id.clone()),
    };
    // A session's event id is its session id: name the field it came as.
    for (field, id) in [("session_id", &ev.session_id), ("event_id", &ev.event_id)] {
        check_id(field, id)?;
    }
    if let Some(p) = &ev.parent_id {
        check_id("parent_id", p)?;
    }
    ev.event_name = opt_string(obj, "event_name")?
        .or(opt_string(obj, "session_name")?)
        .unwrap_or_else(|| ev.event_type.clone());
    if let Some(s) = opt_string(obj, "source")? {
        ev.source = s;
    }
    ev.error = opt_string(obj, "error")?;
    if let Some(v) = obj.get("children_ids") {
        ev.children_ids = string_array("children_ids", v)?;
    }
    let start = opt_number(obj, "start_time")?;
    let end = opt_number(obj, "end_time")?;
    let duration = opt_number(obj, "duration")?;
    let start_ms = start.unwrap_or(match (end, duration) {
        (Some(e), Some(d)) => e - d,
        _ => defaults.now_ms as f64,
    });
    let end_ms = end.unwrap_or(start_ms + duration.unwrap_or(0.0));
    ev.start_time = start_ms.round() as i64;
    ev.end_time = end_ms.round() as i64;
    ev.duration = duration.unwrap_or(end_ms - start_ms).max(0.0);
    let mut extras = Map::new();
    for (key, value) in obj {
        if is_namespace(key) {
            match value {
                Value::Object(m) => {
                    check_depth(key, value)?;
                    if let Some(ns) = ev.namespace_mut(key) {
                        *ns = m.clone();
                    }
                }
                Value::Null => {}
                _ => return Err(wrong(key.as_str(), "an object")),
            }
        } else if matches!(key.as_str(), "project_id" | "org_id" | "workspace_id")
            && !matches!(value, Value::String(_) | Value::Null)
        {
            return Err(wrong(key.as_str(), "a string"));
        } else if !KNOWN_EVENT_KEYS.contains(&key.as_str()) && !value.is_null() {
            check_depth(key, value)?;
            extras.insert(key.clone(), value.clone());
        }
    }
    for (k, v) in extras {
        ev.metadata.insert(k, v);
    }
    Ok(ev)
}

const KNOWN_EVENT_KEYS: [&str; 17] = [
    "event_id",
    "session_id",
    "parent_id",
    "children_ids",
    "project",
    "project_id",
    "source",
    "event_type",
    "event_name",
    "session_name",
    "start_time",
    "end_time",
    "duration",
    "error",
    "org_id",
    "workspace_id",
    "tenant",
];

fn check_id(field: &str, id: &str) -> Result<(), ModelError> {
    if id.len() > MAX_ID_LEN {
        return Err(ModelError::IdTooLong(field.into()));
    }
    Ok(())
}

fn check_depth(field: &str, value: &Value) -> Result<(), ModelError> {
    if crate::merge::depth(value) > MAX_DEPTH {
        return Err(ModelError::TooDeep(field.into()));
    }
    Ok(())
}

fn number_or_null(field: &str, value: &Value) -> Result<Value, ModelError> {
    match value {
        Value::Number(_) | Value::Null => Ok(value.clone()),
        _ => Err(wrong(field, "a number")),
    }
}

fn string_array(field: &str, value: &Value) -> Result<Vec<String>, ModelError> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| wrong(field, "an array of strings"))
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        _ => Err(wrong(field, "an array of strings")),
    }
}

fn opt_string(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, ModelError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong(field, "a string")),
    }
}

fn opt_number(obj: &Map<String, Value>, field: &str) -> Result<Option<f64>, ModelError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(wrong(field, "a number (epoch milliseconds)")),
    }
}

#[cfg(test)]
mod tests;
