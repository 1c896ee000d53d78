//! GenAI content events: the conversation recorded as events rather than
//! span attributes, either as span events (Strands, older OpenTelemetry
//! instrumentations) or as OTLP log records (the OpenTelemetry Python
//! GenAI instrumentations).
//!
//! Understood event names (OpenTelemetry GenAI semantic conventions,
//! `model/gen-ai/events.yaml` and `deprecated/events-deprecated.yaml`):
//! `gen_ai.system.message`, `gen_ai.user.message`,
//! `gen_ai.assistant.message`, `gen_ai.tool.message`, `gen_ai.choice` (body
//! or attributes `content`, `role`, `tool_calls`, `id`, `index`,
//! `finish_reason`, `message`), `gen_ai.client.inference.operation.details`
//! (attributes `gen_ai.system_instructions`, `gen_ai.input.messages`,
//! `gen_ai.output.messages`), and the older span events
//! `gen_ai.content.prompt` / `gen_ai.content.completion` (attributes
//! `gen_ai.prompt` / `gen_ai.completion`).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::messages::{
    from_genai, json_structured, normalize_flat, system_instructions, tool_call,
};
use crate::log::LogRecord;
use crate::mapping::span_event_id;

/// The event names this module reads.
pub const CONTENT_EVENT_NAMES: [&str; 8] = [
    "gen_ai.system.message",
    "gen_ai.user.message",
    "gen_ai.assistant.message",
    "gen_ai.tool.message",
    "gen_ai.choice",
    "gen_ai.client.inference.operation.details",
    "gen_ai.content.prompt",
    "gen_ai.content.completion",
];

/// Messages gathered from content events, in event order.
#[derive(Debug, Default)]
pub(crate) struct Conversation {
    pub system: Vec<Value>,
    pub input: Vec<Value>,
    /// `(choice index, message)`.
    pub output: Vec<(i64, Value)>,
}

impl Conversation {
    pub fn is_empty(&self) -> bool {
        self.system.is_empty() && self.input.is_empty() && self.output.is_empty()
    }

    /// Read one event: its name and its fields (the body's keys, then the
    /// attributes'; a body that is not an object is its `content`).
    pub fn add(&mut self, name: &str, fields: &Map<String, Value>) {
        let get = |k: &str| fields.get(k).filter(|v| !v.is_null());
        let message = |role: &str| {
            let mut m = Map::new();
            let role = get("role").and_then(Value::as_str).unwrap_or(role);
            m.insert("role".into(), Value::String(role.to_owned()));
            m.insert(
                "content".into(),
                get("content").map(json_structured).unwrap_or(Value::Null),
            );
            m
        };
        match name {
            "gen_ai.system.message" => self.system.push(Value::Object(message("system"))),
            "gen_ai.user.message" => self.input.push(Value::Object(message("user"))),
            "gen_ai.assistant.message" => {
                let mut m = message("assistant");
                if let Some(calls) = get("tool_calls").map(json_structured) {
                    m.insert("tool_calls".into(), event_tool_calls(&calls));
                }
                self.input.push(Value::Object(m));
            }
            "gen_ai.tool.message" => {
                let mut m = message("tool");
                if let Some(id) = get("id") {
                    m.insert("tool_call_id".into(), id.clone());
                }
                self.input.push(Value::Object(m));
            }
            "gen_ai.choice" => {
                // `message` is `{role, content}` by the conventions; Strands
                // records the content alone (as JSON text).
                let inner = get("message").map(json_structured);
                let mut m = Map::new();
                match inner {
                    Some(Value::Object(msg))
                        if msg.contains_key("content") || msg.contains_key("role") =>
                    {
                        m.insert(
                            "role".into(),
                            msg.get("role")
                                .cloned()
                                .unwrap_or_else(|| "assistant".into()),
                        );
                        m.insert(
                            "content".into(),
                            msg.get("content")
                                .map(json_structured)
                                .unwrap_or(Value::Null),
                        );
                        if let Some(calls) = msg.get("tool_calls").map(json_structured) {
                            m.insert("tool_calls".into(), event_tool_calls(&calls));
                        }
                    }
                    Some(content) => {
                        m.insert("role".into(), "assistant".into());
                        m.insert("content".into(), content);
                    }
                    None => {
                        m.insert("role".into(), "assistant".into());
                        m.insert("content".into(), Value::Null);
                    }
                }
                if let Some(calls) = get("tool_calls").map(json_structured) {
                    m.insert("tool_calls".into(), event_tool_calls(&calls));
                }
                if let Some(reason) = get("finish_reason") {
                    m.insert("finish_reason".into(), reason.clone());
                }
                let index = get("index")
                    .and_then(Value::as_i64)
                    .unwrap_or(self.output.len() as i64);
                self.output.push((index, Value::Object(m)));
            }
            "gen_ai.client.inference.operation.details" => {
                if let Some(sys) = get("gen_ai.system_instructions").and_then(system_instructions) {
                    self.system.push(sys);
                }
                if let Some(v) = get("gen_ai.input.messages") {
                    self.input.extend(from_genai(v));
                }
                if let Some(v) = get("gen_ai.output.messages") {
                    for m in from_genai(v) {
                        let i = self.output.len() as i64;
                        self.output.push((i, m));
                    }
                }
            }
            "gen_ai.content.prompt" => {
                if let Some(v) = get("gen_ai.prompt") {
                    self.input.extend(flat_list(v));
                }
            }
            "gen_ai.content.completion" => {
                if let Some(v) = get("gen_ai.completion") {
                    for m in flat_list(v) {
                        let i = self.output.len() as i64;
                        self.output.push((i, m));
                    }
                }
            }
            _ => {}
        }
    }

    /// `chat_history` (system messages first) and the output messages in
    /// choice order.
    pub fn into_parts(mut self) -> (Vec<Value>, Vec<Value>) {
        let mut history = self.system;
        history.append(&mut self.input);
        self.output.sort_by_key(|(i, _)| *i);
        (history, self.output.into_iter().map(|(_, m)| m).collect())
    }
}

/// `[{role, content}]` as a JSON string (older `gen_ai.prompt` events).
fn flat_list(v: &Value) -> Vec<Value> {
    match json_structured(v) {
        Value::Array(items) => items.into_iter().map(normalize_flat).collect(),
        Value::String(s) => {
            let mut m = Map::new();
            m.insert("role".into(), "user".into());
            m.insert("content".into(), Value::String(s));
            vec![Value::Object(m)]
        }
        _ => Vec::new(),
    }
}

/// Tool calls of an event: `[{id, type, function: {name, arguments}}]`
/// (already the common shape) or flat `{id, name, arguments}`.
fn event_tool_calls(calls: &Value) -> Value {
    match calls {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|c| match c.get("function") {
                    Some(f) => tool_call(c.get("id"), f.get("name"), f.get("arguments")),
                    None => tool_call(c.get("id"), c.get("name"), c.get("arguments")),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The fields of a content event: its body's keys (a body that is not an
/// object is the `content`), then its attributes' (the body wins).
pub(crate) fn event_fields(
    body: Option<&Value>,
    attributes: &[crate::span::KeyValue],
) -> Map<String, Value> {
    let mut fields: Map<String, Value> = attributes
        .iter()
        .map(|kv| (kv.key.clone(), kv.value.to_json()))
        .collect();
    match body {
        Some(Value::Object(m)) => {
            for (k, v) in m {
                fields.insert(k.clone(), v.clone());
            }
        }
        Some(Value::Null) | None => {}
        Some(other) => {
            fields.insert("content".into(), other.clone());
        }
    }
    fields
}

/// Set the conversation into `inputs` and `outputs` (without replacing what
/// is there): `inputs.chat_history`, and the one output message's fields in
/// `outputs` (or `outputs.messages` when there are several).
pub(crate) fn put_conversation(
    conversation: Conversation,
    inputs: &mut Map<String, Value>,
    outputs: &mut Map<String, Value>,
) {
    let (history, output) = conversation.into_parts();
    if !history.is_empty() {
        inputs
            .entry("chat_history")
            .or_insert(Value::Array(history));
    }
    put_outputs(output, outputs);
}

/// One output message spread into `outputs`, several as `outputs.messages`.
pub(crate) fn put_outputs(mut output: Vec<Value>, outputs: &mut Map<String, Value>) {
    if output.len() == 1 {
        if let Some(Value::Object(m)) = output.pop() {
            for (k, v) in m {
                outputs.entry(k).or_insert(v);
            }
        }
    } else if !output.is_empty() {
        outputs.entry("messages").or_insert(Value::Array(output));
    }
}

/// An enrichment of the event of one span, from its GenAI content log
/// records.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEnrichment {
    /// The id Hive gives the span's event ([`span_event_id`]).
    pub event_id: String,
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    /// A patch in the shape of `PUT /events`: `{"inputs": {"chat_history":
    /// [...]}, "outputs": {...}}` (only the namespaces that have something).
    pub patch: Map<String, Value>,
}

/// Turn the GenAI content events among `records` into one enrichment patch
/// per span, in order of each span's first record.
///
/// Contract:
/// - A record counts when its event name (the `event_name` field, or the
///   `event.name` attribute) is one of [`CONTENT_EVENT_NAMES`] and it
///   carries a span id and a trace id; every other record is ignored.
/// - The records of one span are read in the order given: system messages
///   first, then the other input messages in order, into
///   `inputs.chat_history`; `gen_ai.choice` messages ordered by `index`
///   (one spread into `outputs` as `role`, `content`, `tool_calls`,
///   `finish_reason`; several as `outputs.messages`). The shapes are those
///   of span mapping (see [`crate::mapping`]), so a conversation looks the
///   same whether it came as attributes or as events.
/// - Fold the patch like any enrichment (RFC 7396): arrays replace, so the
///   records of one span should be passed together. Records of a span that
///   arrive in a later request make a patch whose `chat_history` replaces
///   the earlier one.
/// - The patch targets the span's default event id; a span whose event id
///   was chosen with `honeyhive_event_id` is not found by it.
pub fn log_enrichments(records: &[LogRecord]) -> Vec<LogEnrichment> {
    let mut order: Vec<([u8; 16], [u8; 8])> = Vec::new();
    let mut by_span: HashMap<([u8; 16], [u8; 8]), Conversation> = HashMap::new();
    for record in records {
        let name = if record.event_name.is_empty() {
            match record.attr("event.name") {
                Some(crate::span::AttrValue::Str(s)) => s.as_str(),
                _ => "",
            }
        } else {
            record.event_name.as_str()
        };
        if !CONTENT_EVENT_NAMES.contains(&name) {
            continue;
        }
        let (Some(trace_id), Some(span_id)) = (record.trace_id, record.span_id) else {
            continue;
        };
        let key = (trace_id, span_id);
        let conversation = by_span.entry(key).or_insert_with(|| {
            order.push(key);
            Conversation::default()
        });
        let fields = event_fields(Some(&record.body), &record.attributes);
        conversation.add(name, &fields);
    }
    order
        .into_iter()
        .filter_map(|key| {
            let conversation = by_span.remove(&key)?;
            if conversation.is_empty() {
                return None;
            }
            let mut inputs = Map::new();
            let mut outputs = Map::new();
            put_conversation(conversation, &mut inputs, &mut outputs);
            let mut patch = Map::new();
            if !inputs.is_empty() {
                patch.insert("inputs".into(), Value::Object(inputs));
            }
            if !outputs.is_empty() {
                patch.insert("outputs".into(), Value::Object(outputs));
            }
            Some(LogEnrichment {
                event_id: span_event_id(&key.0, &key.1),
                trace_id: key.0,
                span_id: key.1,
                patch,
            })
        })
        .collect()
}
