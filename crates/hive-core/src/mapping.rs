//! Span to event mapping.
//!
//! Understands the HoneyHive SDK's attributes (`honeyhive.session_id`,
//! `honeyhive_<namespace>.<dotted.path>`, `honeyhive_event_type`, ...),
//! OpenInference (`openinference.span.kind`, `llm.*`, `input.value`,
//! `session.id`, `user.id`), OpenTelemetry GenAI (`gen_ai.*`) and Traceloop
//! (`traceloop.*`). A span without a session id is grouped by its trace.

use serde_json::{Map, Value};

use crate::model::{Event, NAMESPACES};
use crate::span::{AttrValue, KeyValue, Span, SpanKind, StatusCode, hex_lower};

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
    /// attributes already unflattened into the event (the Attributes panel).
    pub raw: Value,
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

const SESSION_ID_KEYS: [&str; 4] = [
    "honeyhive.session_id",
    "traceloop.association.properties.session_id",
    "session.id",
    "gen_ai.conversation.id",
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

    map_conventions(span, &mut ev);

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
    ev.event_type = event_type
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| infer_event_type(span));
    ev.event_name = event_name
        .filter(|n| !n.is_empty())
        .or_else(|| span.attr_str("traceloop.entity.name"))
        .unwrap_or_else(|| span.name.clone());
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
    let raw = raw_span(span, &consumed);
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

/// The event type when the span does not state one (OpenInference span
/// kind, GenAI operation, Traceloop span kind, model attributes).
pub fn infer_event_type(span: &Span) -> String {
    if let Some(op) = span.attr_str("gen_ai.operation.name") {
        match op.as_str() {
            "chat" | "text_completion" | "generate_content" | "embeddings" => {
                return "model".into();
            }
            "invoke_agent" | "create_agent" | "invoke_workflow" => return "chain".into(),
            "execute_tool" | "retrieval" => return "tool".into(),
            _ => {}
        }
    }
    if let Some(kind) = span.attr_str("openinference.span.kind") {
        return match kind.to_ascii_uppercase().as_str() {
            "LLM" | "EMBEDDING" => "model",
            "CHAIN" | "AGENT" => "chain",
            _ => "tool",
        }
        .into();
    }
    if let Some(kind) = span.attr_str("traceloop.span.kind") {
        return match kind.as_str() {
            "workflow" | "agent" => "chain",
            _ => "tool",
        }
        .into();
    }
    const MODEL_KEYS: [&str; 4] = [
        "gen_ai.request.model",
        "llm.model_name",
        "llm.request.type",
        "gen_ai.system",
    ];
    if MODEL_KEYS.iter().any(|k| span.attr(k).is_some()) {
        return "model".into();
    }
    "tool".into()
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

/// Fill namespaces from OpenInference, GenAI and Traceloop attributes,
/// without overwriting what `honeyhive_*` attributes set.
fn map_conventions(span: &Span, ev: &mut Event) {
    fn set(ns: &mut Map<String, Value>, key: &str, value: Value) {
        ns.entry(key.to_owned()).or_insert(value);
    }
    let num = |k: &str| span.attr(k).and_then(AttrValue::as_f64);
    let json_num = |f: f64| {
        if f.fract() == 0.0 && f.abs() < 9e15 {
            Value::from(f as i64)
        } else {
            serde_json::Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null)
        }
    };

    // Model and provider.
    for key in [
        "llm.model_name",
        "gen_ai.request.model",
        "gen_ai.response.model",
    ] {
        if let Some(m) = span.attr_str(key) {
            set(&mut ev.config, "model", Value::String(m));
            break;
        }
    }
    for key in [
        "llm.provider",
        "gen_ai.provider.name",
        "gen_ai.system",
        "llm.system",
    ] {
        if let Some(p) = span.attr_str(key) {
            set(&mut ev.config, "provider", Value::String(p));
            break;
        }
    }
    if let Some(AttrValue::Str(s)) = span.attr("llm.invocation_parameters")
        && let Ok(Value::Object(params)) = serde_json::from_str::<Value>(s)
    {
        for (k, v) in params {
            set(&mut ev.config, &k, v);
        }
    }
    for (attr, key) in [
        ("gen_ai.request.temperature", "temperature"),
        ("gen_ai.request.max_tokens", "max_tokens"),
        ("gen_ai.request.top_p", "top_p"),
    ] {
        if let Some(v) = span.attr(attr) {
            set(&mut ev.config, key, v.to_json());
        }
    }

    // Token counts, as HoneyHive keeps them: in metadata.
    let prompt = num("llm.token_count.prompt")
        .or_else(|| num("gen_ai.usage.input_tokens"))
        .or_else(|| num("gen_ai.usage.prompt_tokens"))
        .or_else(|| num("llm.usage.prompt_tokens"));
    let completion = num("llm.token_count.completion")
        .or_else(|| num("gen_ai.usage.output_tokens"))
        .or_else(|| num("gen_ai.usage.completion_tokens"))
        .or_else(|| num("llm.usage.completion_tokens"));
    let total = num("llm.token_count.total")
        .or_else(|| num("llm.usage.total_tokens"))
        .or_else(|| num("gen_ai.usage.total_tokens"))
        .or(match (prompt, completion) {
            (Some(p), Some(c)) => Some(p + c),
            _ => None,
        });
    for (key, value) in [
        ("prompt_tokens", prompt),
        ("completion_tokens", completion),
        ("total_tokens", total),
    ] {
        if let Some(v) = value {
            set(&mut ev.metadata, key, json_num(v));
        }
    }
    if let Some(c) = num("llm.cost.total").or_else(|| num("gen_ai.usage.cost")) {
        set(&mut ev.metadata, "cost", json_num(c));
    }

    // Messages.
    let input_messages = messages(span, &["llm.input_messages.", "gen_ai.prompt."]);
    if !input_messages.is_empty() {
        set(&mut ev.inputs, "chat_history", Value::Array(input_messages));
    }
    let mut output_messages = messages(span, &["llm.output_messages.", "gen_ai.completion."]);
    if output_messages.len() == 1 {
        if let Some(Value::Object(m)) = output_messages.pop() {
            for (k, v) in m {
                set(&mut ev.outputs, &k, v);
            }
        }
    } else if !output_messages.is_empty() {
        set(&mut ev.outputs, "messages", Value::Array(output_messages));
    }

    // Generic input/output values.
    for (value_key, mime_key, ns_is_input) in [
        ("input.value", "input.mime_type", true),
        ("output.value", "output.mime_type", false),
        ("traceloop.entity.input", "", true),
        ("traceloop.entity.output", "", false),
    ] {
        let Some(text) = span.attr_str(value_key) else {
            continue;
        };
        let ns = if ns_is_input {
            &mut ev.inputs
        } else {
            &mut ev.outputs
        };
        if ns_is_input && ns.contains_key("chat_history")
            || !ns_is_input && ns.contains_key("content")
        {
            continue;
        }
        let json_mime =
            mime_key.is_empty() || span.attr_str(mime_key).is_some_and(|m| m.contains("json"));
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(obj)) if json_mime => {
                for (k, v) in obj {
                    set(ns, &k, v);
                }
            }
            _ => set(ns, "value", Value::String(text)),
        }
    }

    // User identity and free-form metadata.
    if let Some(user) = span
        .attr_str("user.id")
        .or_else(|| span.attr_str("enduser.id"))
    {
        set(&mut ev.user_properties, "user_id", Value::String(user));
    }
    if let Some(AttrValue::Str(s)) = span.attr("metadata")
        && let Ok(Value::Object(m)) = serde_json::from_str::<Value>(s)
    {
        for (k, v) in m {
            set(&mut ev.metadata, &k, v);
        }
    }
    for kv in &span.attributes {
        if let Some(name) = kv.key.strip_prefix("traceloop.association.properties.")
            && !matches!(name, "session_id" | "project" | "source" | "parent_id")
        {
            set(&mut ev.metadata, name, kv.value.to_json());
        }
    }
}

/// Collect `<prefix><i>.(message.)?<field>` attributes into an array of
/// message objects.
fn messages(span: &Span, prefixes: &[&str]) -> Vec<Value> {
    let mut tree = Map::new();
    for kv in &span.attributes {
        for prefix in prefixes {
            if let Some(rest) = kv.key.strip_prefix(prefix) {
                let rest = rest.replacen(".message.", ".", 1);
                insert_path(&mut tree, &rest, kv.value.to_json());
            }
        }
    }
    if tree.is_empty() {
        return Vec::new();
    }
    let mut indexed: Vec<(usize, Value)> = arrays_from_index_keys(tree)
        .into_iter()
        .filter_map(|(k, v)| k.parse::<usize>().ok().map(|i| (i, v)))
        .collect();
    indexed.sort_by_key(|(i, _)| *i);
    indexed.into_iter().map(|(_, v)| v).collect()
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

#[cfg(test)]
mod tests;
