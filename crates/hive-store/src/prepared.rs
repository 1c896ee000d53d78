//! Event writes prepared off the writer thread: the raw span's text is
//! made with the write, and the serialised document, the rollup
//! contribution and the namespace paths on the thread that maps the ingest
//! log's records, for a store that uses them ([`crate::Store::derives_ahead`]),
//! so SQLite's single writer only binds values and runs SQL. A store that
//! does not asks for what it needs, when it needs it.

use hive_core::model::{Event, NAMESPACES};
use hive_core::rollup::Contribution;
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// An event write ready for the writer.
///
/// What is derived from the event (its JSON text, its rollup contribution,
/// its fields) is computed once, when first asked for, or up front by
/// [`PreparedEvent::prepare`] on a thread other than the writer's. A store
/// that rarely needs them (ClickHouse keeps leaves, and rolls up on read)
/// never pays for them.
#[derive(Debug, Clone)]
pub struct PreparedEvent {
    pub event: Event,
    /// The raw span as JSON text.
    pub raw_text: Option<String>,
    /// See [`crate::WriteOp::Event`].
    pub session_name: Option<String>,
    pub join: bool,
    pub floating: bool,
    doc_text: OnceLock<String>,
    contribution: OnceLock<Contribution>,
    fields: OnceLock<Vec<(String, &'static str)>>,
}

impl PreparedEvent {
    pub fn new(
        event: Event,
        raw: Option<&Value>,
        session_name: Option<String>,
        join: bool,
        floating: bool,
    ) -> PreparedEvent {
        PreparedEvent::with_raw_text(event, raw.map(to_text), session_name, join, floating)
    }

    /// [`PreparedEvent::new`] with the raw span already written as JSON
    /// text (as span mapping writes it).
    pub fn with_raw_text(
        event: Event,
        raw_text: Option<String>,
        session_name: Option<String>,
        join: bool,
        floating: bool,
    ) -> PreparedEvent {
        PreparedEvent {
            raw_text,
            event,
            session_name,
            join,
            floating,
            doc_text: OnceLock::new(),
            contribution: OnceLock::new(),
            fields: OnceLock::new(),
        }
    }

    /// Derive everything now (on a thread other than the writer's).
    pub fn prepare(&self) {
        self.doc_text();
        self.contribution();
        self.fields();
    }

    /// `event` as JSON text.
    pub fn doc_text(&self) -> &str {
        // Serialised from the event itself, not through a `Value` copy of
        // it (the same text, without cloning the conversation).
        self.doc_text.get_or_init(|| {
            serde_json::to_string(&self.event).unwrap_or_else(|_| "null".to_owned())
        })
    }

    /// What the event adds to its session's rollup.
    pub fn contribution(&self) -> Contribution {
        *self
            .contribution
            .get_or_init(|| Contribution::of(&rollup_view(&self.event)))
    }

    /// Its namespace paths with their value types.
    pub fn fields(&self) -> &[(String, &'static str)] {
        self.fields.get_or_init(|| event_fields(&self.event))
    }

    /// The length of [`Self::doc_text`] if it was derived.
    pub fn doc_text_len(&self) -> Option<usize> {
        self.doc_text.get().map(String::len)
    }

    /// The same write in another project (a floating event that follows
    /// its session).
    pub fn relocated(&self, project_id: &str) -> PreparedEvent {
        let mut event = self.event.clone();
        event.project_id = project_id.to_owned();
        let p = PreparedEvent {
            event,
            raw_text: self.raw_text.clone(),
            session_name: self.session_name.clone(),
            join: self.join,
            floating: false,
            doc_text: OnceLock::new(),
            contribution: self.contribution.clone(),
            fields: self.fields.clone(),
        };
        if self.doc_text.get().is_some() {
            p.doc_text();
        }
        p
    }
}

/// What [`Contribution::of`] reads of an event, without its inputs and
/// outputs.
fn rollup_view(event: &Event) -> Value {
    let mut m = Map::new();
    m.insert("event_type".into(), Value::String(event.event_type.clone()));
    m.insert("start_time".into(), Value::from(event.start_time));
    m.insert("end_time".into(), Value::from(event.end_time));
    m.insert("metadata".into(), Value::Object(event.metadata.clone()));
    m.insert("metrics".into(), Value::Object(event.metrics.clone()));
    m.insert("feedback".into(), Value::Object(event.feedback.clone()));
    m.insert(
        "error".into(),
        event.error.clone().map_or(Value::Null, Value::String),
    );
    Value::Object(m)
}

/// [`leaf_fields`] of an event's document, from the event itself.
fn event_fields(event: &Event) -> Vec<(String, &'static str)> {
    let mut found = Vec::new();
    for (ns, m) in event.namespaces() {
        let mut prefix = String::from(ns);
        walk(m, &mut prefix, &mut found, 0);
    }
    found
}

pub(crate) fn to_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

/// Paths discovery stops at: their members are keyed by something unique
/// to each entry (the server keeps OTLP log records under
/// `metadata.otel_logs.<time>_<checksum>`), so listing them would add a
/// field per record.
pub const OPAQUE_PATHS: [&str; 1] = ["metadata.otel_logs"];

/// The opaque path `field` is, or lies under (see [`OPAQUE_PATHS`]).
pub fn opaque_prefix(field: &str) -> Option<&'static str> {
    OPAQUE_PATHS.into_iter().find(|p| {
        field
            .strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    })
}

/// The namespace paths of an event document: leaves, with an array (or an
/// empty object, or one of [`OPAQUE_PATHS`]) as one field. Bounded in depth
/// and count.
pub fn leaf_fields(doc: &Value) -> Vec<(String, &'static str)> {
    let mut found = Vec::new();
    for ns in NAMESPACES {
        if let Some(Value::Object(m)) = doc.get(ns) {
            let mut prefix = String::from(ns);
            walk(m, &mut prefix, &mut found, 0);
        }
    }
    found
}

fn walk(
    m: &Map<String, Value>,
    prefix: &mut String,
    out: &mut Vec<(String, &'static str)>,
    depth: usize,
) {
    if depth > 8 || out.len() > 512 {
        return;
    }
    for (k, v) in m {
        let len = prefix.len();
        prefix.push('.');
        prefix.push_str(k);
        match v {
            Value::Object(_) if OPAQUE_PATHS.contains(&prefix.as_str()) => {
                out.push((prefix.clone(), "object"))
            }
            Value::Object(child) if !child.is_empty() => walk(child, prefix, out, depth + 1),
            Value::Object(_) => out.push((prefix.clone(), "object")),
            Value::Array(_) => out.push((prefix.clone(), "array")),
            Value::String(_) => out.push((prefix.clone(), "string")),
            Value::Number(_) => out.push((prefix.clone(), "number")),
            Value::Bool(_) => out.push((prefix.clone(), "boolean")),
            Value::Null => {}
        }
        prefix.truncate(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prepared_from_the_event_equals_prepared_from_its_document() {
        let doc = json!({
            "event_id": "e", "session_id": "s", "project_id": "p", "event_type": "model",
            "event_name": "chat", "start_time": 5, "end_time": 9, "duration": 4.0,
            "error": "boom",
            "inputs": {"chat_history": [{"role": "user", "content": "hi"}], "x": {"y": 1}},
            "outputs": {"content": "hello", "empty": {}},
            "config": {"model": "m"},
            "metadata": {"cost": 0.5, "prompt_tokens": 3, "nested": {"a": true, "n": null}},
            "metrics": {"completion_tokens": 4},
            "feedback": {"rating": 5},
            "user_properties": {"plan": "pro"}
        });
        let event: Event = serde_json::from_value(doc).unwrap();
        let p = PreparedEvent::new(event.clone(), None, None, false, false);
        let full = event.to_json();
        assert_eq!(p.doc_text_len(), None, "derived when asked for");
        assert_eq!(p.doc_text(), to_text(&full));
        assert_eq!(p.contribution(), Contribution::of(&full));
        assert_eq!(p.fields(), leaf_fields(&full));
        // Relocated: the text is the new project's.
        let moved = p.relocated("q");
        let mut other = full.clone();
        other["project_id"] = "q".into();
        assert_eq!(moved.doc_text(), to_text(&other));
        assert_eq!(moved.contribution(), p.contribution());
    }
}
