//! Span to event mapping.
//!
//! The HoneyHive SDK's attributes (`honeyhive.session_id`,
//! `honeyhive_<namespace>.<dotted.path>`, `honeyhive_event_type`, ...) are
//! read here and always win. The other conventions (OpenTelemetry GenAI,
//! current and previous, OpenInference, Traceloop, the Vercel AI SDK,
//! Pydantic AI, Strands, Google ADK) are one table of rules in
//! `mapping/conventions.rs`; their chat messages are brought to one shape
//! in `mapping/messages.rs`, and GenAI content events (span events and log
//! records, see [`log_enrichments`]) in `mapping/content_events.rs`. A
//! span without a session id is grouped by its trace; every attribute stays
//! in the raw span.

use serde_json::{Map, Value};

use crate::model::{Event, NAMESPACES};
use crate::span::{AttrValue, KeyValue, Span, SpanKind, StatusCode, hex_lower};

mod content_events;
mod conventions;
mod event_type;
mod messages;

pub use content_events::{CONTENT_EVENT_NAMES, LogEnrichment, log_enrichments};
pub use event_type::infer_event_type;

/// A span mapped to an event, with what the server needs to place it.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedSpan {
    /// The event (its `project_id` is left for the server to fill).
    pub event: Event,
    /// Project named by the span (`honeyhive.project`), if any.
    pub project: Option<String>,
    /// Session name named by the span (`honeyhive.session_name`), if any.
    pub session_name: Option<String>,
    /// True when the span carried no session id and was grouped by trace.
    pub session_from_trace: bool,
    /// The span as received, minus the `honeyhive_<namespace>.*`
    /// attributes already unflattened into the event (the Attributes panel),
    /// as JSON text: written straight from the span, as [`raw_span`] would
    /// serialise (a third of what mapping a span cost was building that
    /// value and writing it out).
    pub raw: String,
}

/// The event id for a span: stable for a (trace id, span id) pair.
pub fn span_event_id(trace_id: &[u8; 16], span_id: &[u8; 8]) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&trace_id[..8]);
    bytes[8..].copy_from_slice(span_id);
    uuid_string(&bytes)
}

/// The session id given to spans that carry none: their trace id as a UUID.
pub fn trace_session_id(trace_id: &[u8; 16]) -> String {
    uuid_string(trace_id)
}

fn uuid_string(b: &[u8; 16]) -> String {
    let h = hex_lower(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub(crate) const SESSION_ID_KEYS: [&str; 5] = [
    "honeyhive.session_id",
    "traceloop.association.properties.session_id",
    "session.id",
    "gen_ai.conversation.id",
    // Google ADK's model spans (its agent spans carry the same id as
    // `gen_ai.conversation.id`).
    "gcp.vertex.agent.session_id",
];

/// Map one span. `default_source` comes from the request (`X-Source`).
pub fn map_span(span: &Span, default_source: &str) -> MappedSpan {
    let mut ev = Event::default();
    let mut consumed = vec![false; span.attributes.len()];
    let mut trees: [Map<String, Value>; 7] = Default::default();
    let mut event_type: Option<String> = None;
    let mut event_name: Option<String> = None;
    let mut error: Option<String> = None;
    let mut event_id: Option<String> = None;

    for (i, kv) in span.attributes.iter().enumerate() {
        let key = kv.key.as_str();
        let Some(rest) = key.strip_prefix("honeyhive_") else {
            continue;
        };
        if let Some((ns_idx, path)) = namespace_of(rest) {
            consumed[i] = true;
            match path {
                Some(path) => insert_path(&mut trees[ns_idx], path, kv.value.to_json()),
                // A whole namespace as one attribute: a JSON object string.
                None => {
                    if let AttrValue::Str(s) = &kv.value
                        && let Ok(Value::Object(m)) = serde_json::from_str::<Value>(s)
                    {
                        crate::merge::merge_maps(&mut trees[ns_idx], &m);
                        continue;
                    }
                    insert_path(&mut trees[ns_idx], "value", kv.value.to_json());
                }
            }
            continue;
        }
        match rest {
            "event_type" => event_type = kv.value.as_text(),
            "event_name" => event_name = kv.value.as_text(),
            "error" => error = kv.value.as_text(),
            "event_id" => event_id = kv.value.as_text().filter(|s| !s.is_empty()),
            _ => {}
        }
    }
    let [
        inputs,
        outputs,
        config,
        metadata,
        metrics,
        feedback,
        user_properties,
    ] = trees.map(arrays_from_index_keys);
    ev.inputs = inputs;
    ev.outputs = outputs;
    ev.config = config;
    ev.metadata = metadata;
    ev.metrics = metrics;
    ev.feedback = feedback;
    ev.user_properties = user_properties;

    let event_type = event_type
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| infer_event_type(span));
    conventions::apply(span, &mut ev, &event_type);

    let session_id = SESSION_ID_KEYS
        .iter()
        .find_map(|k| span.attr_str(k).filter(|s| !s.is_empty()));
    let session_from_trace = session_id.is_none();
    ev.session_id = session_id.unwrap_or_else(|| trace_session_id(&span.trace_id));
    ev.event_id = event_id.unwrap_or_else(|| span_event_id(&span.trace_id, &span.span_id));
    ev.parent_id = Some(match span.parent_span_id {
        Some(parent) => span_event_id(&span.trace_id, &parent),
        None => span
            .attr_str("honeyhive.parent_id")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| ev.session_id.clone()),
    });
    ev.event_name = event_name
        .filter(|n| !n.is_empty())
        .or_else(|| span.attr_str("traceloop.entity.name"))
        .or_else(|| event_type::specific_name(span, &event_type))
        .unwrap_or_else(|| span.name.clone());
    ev.event_type = event_type;
    ev.source = span
        .attr_str("honeyhive.source")
        .or_else(|| span.attr_str("traceloop.association.properties.source"))
        .unwrap_or_else(|| default_source.to_owned());
    ev.error = error.filter(|e| !e.is_empty()).or_else(|| span_error(span));
    ev.start_time = (span.start_time_unix_nano / 1_000_000) as i64;
    ev.end_time = (span.end_time_unix_nano.max(span.start_time_unix_nano) / 1_000_000) as i64;
    ev.duration = span
        .end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano) as f64
        / 1_000_000.0;

    let project = span
        .attr_str("honeyhive.project")
        .or_else(|| span.attr_str("traceloop.association.properties.project"))
        .filter(|p| !p.is_empty());
    let session_name = span
        .attr_str("honeyhive.session_name")
        .filter(|s| !s.is_empty());
    let raw = serde_json::to_string(&RawSpan {
        span,
        consumed: &consumed,
    })
    .unwrap_or_else(|_| raw_span(span, &consumed).to_string());
    MappedSpan {
        event: ev,
        project,
        session_name,
        session_from_trace,
        raw,
    }
}

/// `metadata.a.b` → (index of `metadata`, Some("a.b")); `metadata` → (idx, None).
fn namespace_of(rest: &str) -> Option<(usize, Option<&str>)> {
    for (i, ns) in NAMESPACES.iter().enumerate() {
        if let Some(after) = rest.strip_prefix(ns) {
            if after.is_empty() {
                return Some((i, None));
            }
            if let Some(path) = after.strip_prefix('.')
                && !path.is_empty()
            {
                return Some((i, Some(path)));
            }
        }
    }
    None
}

/// Insert `value` at a dotted `path`, creating objects on the way. When a
/// scalar stands where an object is needed, the object wins (the scalar is
/// still in the raw attributes).
pub fn insert_path(root: &mut Map<String, Value>, path: &str, value: Value) {
    let mut node = root;
    let mut segments = path.split('.').peekable();
    while let Some(seg) = segments.next() {
        if segments.peek().is_none() {
            match node.get_mut(seg) {
                Some(Value::Object(existing)) if value.is_object() => {
                    if let Value::Object(m) = value {
                        crate::merge::merge_maps(existing, &m);
                    }
                }
                Some(Value::Object(_)) => {}
                _ => {
                    node.insert(seg.to_owned(), value);
                }
            }
            return;
        }
        let entry = node
            .entry(seg.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else { return };
        node = next;
    }
}

/// Turn every object whose keys are exactly `0..n` into an array, bottom-up.
pub fn arrays_from_index_keys(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .map(|(k, v)| (k, index_keys_to_array(v)))
        .collect()
}

fn index_keys_to_array(value: Value) -> Value {
    match value {
        Value::Object(m) => {
            let m = arrays_from_index_keys(m);
            let n = m.len();
            let is_array = n > 0
                && m.keys().all(|k| {
                    k.parse::<usize>()
                        .is_ok_and(|i| i < n && (k == "0" || !k.starts_with('0')))
                });
            if is_array {
                let mut slots: Vec<Value> = vec![Value::Null; n];
                for (k, v) in m {
                    if let Ok(i) = k.parse::<usize>() {
                        slots[i] = v;
                    }
                }
                Value::Array(slots)
            } else {
                Value::Object(m)
            }
        }
        other => other,
    }
}

fn span_error(span: &Span) -> Option<String> {
    let exception = span.events.iter().find(|e| e.name == "exception").map(|e| {
        let get = |k: &str| {
            e.attributes
                .iter()
                .find(|kv| kv.key == k)
                .and_then(|kv| kv.value.as_text())
        };
        match (get("exception.type"), get("exception.message")) {
            (Some(t), Some(m)) => format!("{t}: {m}"),
            (Some(t), None) => t,
            (None, Some(m)) => m,
            (None, None) => "exception".to_owned(),
        }
    });
    if span.status_code == StatusCode::Error {
        if !span.status_message.is_empty() {
            return Some(span.status_message.clone());
        }
        return Some(exception.unwrap_or_else(|| "error".to_owned()));
    }
    exception
}

fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "unspecified",
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    }
}

fn kv_object<'a>(kvs: impl Iterator<Item = &'a KeyValue>) -> Value {
    Value::Object(kvs.map(|kv| (kv.key.clone(), kv.value.to_json())).collect())
}

/// The raw span as a value: what [`RawSpan`] writes.
fn raw_span(span: &Span, consumed: &[bool]) -> Value {
    let mut raw = Map::new();
    raw.insert("trace_id".into(), Value::String(hex_lower(&span.trace_id)));
    raw.insert("span_id".into(), Value::String(hex_lower(&span.span_id)));
    raw.insert(
        "parent_span_id".into(),
        span.parent_span_id
            .map(|p| Value::String(hex_lower(&p)))
            .unwrap_or(Value::Null),
    );
    raw.insert("name".into(), Value::String(span.name.clone()));
    raw.insert("kind".into(), Value::String(kind_name(span.kind).into()));
    raw.insert(
        "attributes".into(),
        kv_object(
            span.attributes
                .iter()
                .zip(consumed)
                .filter(|(_, c)| !**c)
                .map(|(kv, _)| kv),
        ),
    );
    if !span.events.is_empty() {
        raw.insert(
            "events".into(),
            Value::Array(
                span.events
                    .iter()
                    .map(|e| {
                        serde_json::json!({
                            "name": e.name,
                            "time_unix_nano": e.time_unix_nano.to_string(),
                            "attributes": kv_object(e.attributes.iter()),
                        })
                    })
                    .collect(),
            ),
        );
    }
    let status = match span.status_code {
        StatusCode::Unset => "unset",
        StatusCode::Ok => "ok",
        StatusCode::Error => "error",
    };
    raw.insert(
        "status".into(),
        serde_json::json!({"code": status, "message": span.status_message}),
    );
    raw.insert(
        "scope".into(),
        serde_json::json!({"name": span.scope_name, "version": span.scope_version}),
    );
    raw.insert("resource".into(), kv_object(span.resource.iter()));
    Value::Object(raw)
}

/// [`raw_span`] written as JSON without building the value: the same
/// keys in the same order, and attributes whose key repeats as an object
/// keeps them (the last value, in the first one's place).
struct RawSpan<'a> {
    span: &'a Span,
    consumed: &'a [bool],
}

impl serde::Serialize for RawSpan<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let span = self.span;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("trace_id", &hex_lower(&span.trace_id))?;
        m.serialize_entry("span_id", &hex_lower(&span.span_id))?;
        m.serialize_entry(
            "parent_span_id",
            &span.parent_span_id.map(|p| hex_lower(&p)),
        )?;
        m.serialize_entry("name", &span.name)?;
        m.serialize_entry("kind", kind_name(span.kind))?;
        let kept: Vec<&KeyValue> = span
            .attributes
            .iter()
            .zip(self.consumed)
            .filter(|(_, c)| !**c)
            .map(|(kv, _)| kv)
            .collect();
        m.serialize_entry("attributes", &Attrs(&kept))?;
        if !span.events.is_empty() {
            let events: Vec<RawEvent<'_>> = span.events.iter().map(RawEvent).collect();
            m.serialize_entry("events", &events)?;
        }
        let status = match span.status_code {
            StatusCode::Unset => "unset",
            StatusCode::Ok => "ok",
            StatusCode::Error => "error",
        };
        m.serialize_entry(
            "status",
            &Pairs([("code", status), ("message", &span.status_message)]),
        )?;
        m.serialize_entry(
            "scope",
            &Pairs([("name", &span.scope_name), ("version", &span.scope_version)]),
        )?;
        let resource: Vec<&KeyValue> = span.resource.iter().collect();
        m.serialize_entry("resource", &Attrs(&resource))?;
        m.end()
    }
}

/// Two string fields, in order.
struct Pairs<'a>([(&'static str, &'a str); 2]);

impl serde::Serialize for Pairs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// A span event as [`raw_span`] has it.
struct RawEvent<'a>(&'a crate::span::SpanEvent);

impl serde::Serialize for RawEvent<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let e = self.0;
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("name", &e.name)?;
        m.serialize_entry("time_unix_nano", &e.time_unix_nano.to_string())?;
        let attrs: Vec<&KeyValue> = e.attributes.iter().collect();
        m.serialize_entry("attributes", &Attrs(&attrs))?;
        m.end()
    }
}

/// Attributes as an object ([`kv_object`]).
struct Attrs<'a>(&'a [&'a KeyValue]);

impl serde::Serialize for Attrs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let kvs = self.0;
        // A key given twice is one entry, as a map makes it: rare, so
        // written through the map.
        let repeats = if kvs.len() <= 32 {
            kvs.iter()
                .enumerate()
                .any(|(i, a)| kvs[..i].iter().any(|b| b.key == a.key))
        } else {
            let mut seen = std::collections::HashSet::with_capacity(kvs.len());
            !kvs.iter().all(|kv| seen.insert(kv.key.as_str()))
        };
        if repeats {
            return kv_object(kvs.iter().copied()).serialize(s);
        }
        let mut m = s.serialize_map(Some(kvs.len()))?;
        for kv in kvs {
            m.serialize_entry(&kv.key, &Attr(&kv.value))?;
        }
        m.end()
    }
}

/// An attribute's value as [`AttrValue::to_json`] has it.
struct Attr<'a>(&'a AttrValue);

impl serde::Serialize for Attr<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self.0 {
            AttrValue::Str(v) => s.serialize_str(v),
            AttrValue::Bool(b) => s.serialize_bool(*b),
            AttrValue::Int(i) => s.serialize_i64(*i),
            AttrValue::Double(d) if d.is_finite() => s.serialize_f64(*d),
            AttrValue::Double(d) => s.serialize_str(&d.to_string()),
            AttrValue::Bytes(b) => s.serialize_str(&hex_lower(b)),
            AttrValue::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Attr(item))?;
                }
                seq.end()
            }
            AttrValue::KvList(kvs) => {
                let kvs: Vec<&KeyValue> = kvs.iter().collect();
                Attrs(&kvs).serialize(s)
            }
            AttrValue::Empty => s.serialize_unit(),
        }
    }
}

#[cfg(test)]
mod tests;
