//! Chat messages of every convention in one shape, the one HoneyHive (and
//! OpenAI) use and the dashboard draws as a conversation:
//!
//! ```text
//! {"role": "assistant", "content": "text or null",
//!  "tool_calls": [{"id", "type": "function", "function": {"name", "arguments"}}],
//!  "finish_reason"?, "reasoning"?, "name"?, "parts"?}
//! {"role": "tool", "tool_call_id": "...", "name"?, "content": <the result>}
//! ```
//!
//! `content` is the message's text parts joined with newlines (`null` when
//! it has none); parts that are neither text, reasoning nor tool calls
//! (images, files, server tool calls...) are kept as they came in `parts`.
//! A tool result becomes a `tool` message of its own.

use serde_json::{Map, Value};

/// A string that holds JSON, decoded; any other value as it is. A string
/// that is not JSON stays a string.
pub(crate) fn json_value(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
        other => other.clone(),
    }
}

/// Like [`json_value`], but only a JSON array or object is decoded: a
/// message text such as `42` or `"true"` stays text.
pub(crate) fn json_structured(v: &Value) -> Value {
    match v {
        Value::String(s) if s.trim_start().starts_with(['[', '{']) => {
            serde_json::from_str(s).unwrap_or_else(|_| v.clone())
        }
        other => other.clone(),
    }
}

/// An OpenAI-shaped tool call.
pub(crate) fn tool_call(
    id: Option<&Value>,
    name: Option<&Value>,
    arguments: Option<&Value>,
) -> Value {
    let mut call = Map::new();
    if let Some(id) = id.filter(|v| !v.is_null()) {
        call.insert("id".into(), id.clone());
    }
    call.insert("type".into(), Value::String("function".into()));
    let mut function = Map::new();
    function.insert("name".into(), name.cloned().unwrap_or(Value::Null));
    if let Some(args) = arguments.filter(|v| !v.is_null()) {
        function.insert("arguments".into(), args.clone());
    }
    call.insert("function".into(), Value::Object(function));
    Value::Object(call)
}

/// A tool result as a `tool` message.
fn tool_message(id: Option<&Value>, name: Option<&Value>, content: Value) -> Value {
    let mut m = Map::new();
    m.insert("role".into(), Value::String("tool".into()));
    if let Some(id) = id.filter(|v| !v.is_null()) {
        m.insert("tool_call_id".into(), id.clone());
    }
    if let Some(name) = name.filter(|v| !v.is_null()) {
        m.insert("name".into(), name.clone());
    }
    m.insert("content".into(), content);
    Value::Object(m)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What a list of parts holds, sorted by kind.
#[derive(Default)]
struct Parts {
    texts: Vec<String>,
    reasoning: Vec<String>,
    calls: Vec<Value>,
    results: Vec<Value>,
    other: Vec<Value>,
}

impl Parts {
    /// The message for everything but the tool results, then one `tool`
    /// message per result.
    fn into_messages(self, role: &str, extra: &Map<String, Value>) -> Vec<Value> {
        let mut out = Vec::new();
        let has_main = !self.texts.is_empty()
            || !self.reasoning.is_empty()
            || !self.calls.is_empty()
            || !self.other.is_empty()
            || self.results.is_empty();
        if has_main {
            let mut m = Map::new();
            m.insert("role".into(), Value::String(role.to_owned()));
            m.insert(
                "content".into(),
                if self.texts.is_empty() {
                    Value::Null
                } else {
                    Value::String(self.texts.join("\n"))
                },
            );
            if !self.reasoning.is_empty() {
                m.insert("reasoning".into(), Value::String(self.reasoning.join("\n")));
            }
            if !self.calls.is_empty() {
                m.insert("tool_calls".into(), Value::Array(self.calls));
            }
            if !self.other.is_empty() {
                m.insert("parts".into(), Value::Array(self.other));
            }
            for (k, v) in extra {
                m.entry(k.clone()).or_insert_with(|| v.clone());
            }
            out.push(Value::Object(m));
        }
        out.extend(self.results);
        out
    }
}

/// Messages of the OpenTelemetry GenAI conventions (`gen_ai.input.messages`,
/// `gen_ai.output.messages`, `pydantic_ai.all_messages`): a JSON array (or
/// a JSON string of one) of `{role, parts: [{type, ...}], name?,
/// finish_reason?}`. A message without `parts` is kept as it is.
pub(crate) fn from_genai(value: &Value) -> Vec<Value> {
    let Value::Array(items) = json_value(value) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for msg in &items {
        let Some(obj) = msg.as_object() else { continue };
        let Some(Value::Array(parts)) = obj.get("parts") else {
            out.push(msg.clone());
            continue;
        };
        let role = obj.get("role").and_then(Value::as_str).unwrap_or("user");
        let mut sorted = Parts::default();
        for part in parts {
            let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
            match kind {
                "text" => {
                    if let Some(c) = part.get("content") {
                        sorted.texts.push(text(c));
                    }
                }
                "reasoning" | "thinking" => {
                    if let Some(c) = part.get("content") {
                        sorted.reasoning.push(text(c));
                    }
                }
                "tool_call" => sorted.calls.push(tool_call(
                    part.get("id"),
                    part.get("name"),
                    part.get("arguments"),
                )),
                "tool_call_response" => sorted.results.push(tool_message(
                    part.get("id"),
                    part.get("name"),
                    // The schema names it `response`; Pydantic AI and the
                    // registry's example say `result`.
                    part.get("response")
                        .or_else(|| part.get("result"))
                        .cloned()
                        .unwrap_or(Value::Null),
                )),
                _ => sorted.other.push(part.clone()),
            }
        }
        let mut extra = Map::new();
        for key in ["name", "finish_reason"] {
            if let Some(v) = obj.get(key).filter(|v| !v.is_null()) {
                extra.insert(key.into(), v.clone());
            }
        }
        out.extend(sorted.into_messages(role, &extra));
    }
    out
}

/// `gen_ai.system_instructions`: parts (or a plain string) as one system
/// message.
pub(crate) fn system_instructions(value: &Value) -> Option<Value> {
    let content = match json_structured(value) {
        Value::Array(parts) => {
            let texts: Vec<String> = parts
                .iter()
                .filter_map(|p| match p {
                    Value::String(s) => Some(s.clone()),
                    other => other.get("content").map(text),
                })
                .collect();
            if texts.is_empty() {
                return None;
            }
            texts.join("\n")
        }
        Value::String(s) if !s.is_empty() => s,
        _ => return None,
    };
    let mut m = Map::new();
    m.insert("role".into(), Value::String("system".into()));
    m.insert("content".into(), Value::String(content));
    Some(Value::Object(m))
}

/// The Vercel AI SDK's prompt messages (`ai.prompt.messages`, the
/// `messages` of `ai.prompt`): `{role, content}` where content is a string
/// or parts `text`, `reasoning`, `tool-call` (`toolCallId`, `toolName`,
/// `input`, formerly `args`), `tool-result` (`output`, formerly `result`),
/// `image`, `file`.
pub(crate) fn from_ai_sdk(value: &Value) -> Vec<Value> {
    let Value::Array(items) = json_value(value) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for msg in &items {
        let Some(obj) = msg.as_object() else { continue };
        let role = obj.get("role").and_then(Value::as_str).unwrap_or("user");
        let Some(Value::Array(parts)) = obj.get("content") else {
            out.push(msg.clone());
            continue;
        };
        let mut sorted = Parts::default();
        for part in parts {
            match part.get("type").and_then(Value::as_str).unwrap_or("") {
                "text" => sorted.texts.extend(part.get("text").map(text)),
                "reasoning" => sorted.reasoning.extend(part.get("text").map(text)),
                "tool-call" => sorted.calls.push(tool_call(
                    part.get("toolCallId"),
                    part.get("toolName"),
                    part.get("input").or_else(|| part.get("args")),
                )),
                "tool-result" => {
                    let output = part
                        .get("output")
                        .or_else(|| part.get("result"))
                        .cloned()
                        .unwrap_or(Value::Null);
                    sorted.results.push(tool_message(
                        part.get("toolCallId"),
                        part.get("toolName"),
                        ai_sdk_tool_output(output),
                    ));
                }
                _ => sorted.other.push(part.clone()),
            }
        }
        out.extend(sorted.into_messages(role, &Map::new()));
    }
    out
}

/// AI SDK 5 wraps tool outputs as `{type: "json" | "text" | ..., value}`.
fn ai_sdk_tool_output(output: Value) -> Value {
    if let Value::Object(m) = &output
        && m.len() == 2
        && m.get("type").is_some_and(Value::is_string)
        && let Some(v) = m.get("value")
    {
        return v.clone();
    }
    output
}

/// The AI SDK's tool calls of a response (`ai.response.toolCalls`):
/// `[{toolCallId, toolName, input | args}]`.
pub(crate) fn ai_sdk_tool_calls(value: &Value) -> Vec<Value> {
    let Value::Array(items) = json_value(value) else {
        return Vec::new();
    };
    items
        .iter()
        .map(|c| {
            tool_call(
                c.get("toolCallId"),
                c.get("toolName"),
                c.get("input").or_else(|| c.get("args")),
            )
        })
        .collect()
}

/// Gemini `Content`s (Google ADK's `gcp.vertex.agent.llm_request`
/// `contents`): `{role: "user" | "model", parts: [{text} | {function_call}
/// | {function_response} | ...]}`.
pub(crate) fn from_gemini(contents: &Value) -> Vec<Value> {
    let Value::Array(items) = contents else {
        return Vec::new();
    };
    items.iter().flat_map(gemini_content).collect()
}

/// One Gemini `Content`.
pub(crate) fn gemini_content(content: &Value) -> Vec<Value> {
    let role = match content.get("role").and_then(Value::as_str) {
        Some("model") => "assistant",
        Some(r) => r,
        None => "user",
    };
    let Some(Value::Array(parts)) = content.get("parts") else {
        return Vec::new();
    };
    let mut sorted = Parts::default();
    for part in parts {
        if let Some(t) = part.get("text") {
            if part.get("thought").and_then(Value::as_bool) == Some(true) {
                sorted.reasoning.push(text(t));
            } else {
                sorted.texts.push(text(t));
            }
        } else if let Some(call) = part.get("function_call") {
            sorted.calls.push(tool_call(
                call.get("id"),
                call.get("name"),
                call.get("args"),
            ));
        } else if let Some(resp) = part.get("function_response") {
            sorted.results.push(tool_message(
                resp.get("id"),
                resp.get("name"),
                resp.get("response").cloned().unwrap_or(Value::Null),
            ));
        } else {
            sorted.other.push(part.clone());
        }
    }
    sorted.into_messages(role, &Map::new())
}

/// A message collected from flattened attributes (OpenInference
/// `llm.input_messages.N.message.*`, Traceloop `gen_ai.prompt.N.*`), with
/// its tool calls in the common shape and OpenInference's `contents` as
/// OpenAI-style content parts.
pub(crate) fn normalize_flat(msg: Value) -> Value {
    let Value::Object(mut m) = msg else {
        return msg;
    };
    if let Some(Value::Array(calls)) = m.get_mut("tool_calls") {
        for call in calls.iter_mut() {
            // OpenInference nests each call under `tool_call`.
            if let Some(inner) = call.get("tool_call").cloned() {
                *call = inner;
            }
            if call.get("function").is_none() {
                *call = tool_call(call.get("id"), call.get("name"), call.get("arguments"));
            } else if let Value::Object(c) = call {
                c.entry("type")
                    .or_insert_with(|| Value::String("function".into()));
            }
        }
    }
    if let Some(Value::Array(contents)) = m.remove("contents") {
        let parts: Vec<Value> = contents
            .into_iter()
            .map(|c| c.get("message_content").cloned().unwrap_or(c))
            .collect();
        if !m.contains_key("content") {
            let texts: Vec<String> = parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|p| p.get("text").map(text))
                .collect();
            if texts.len() == parts.len() && !texts.is_empty() {
                m.insert("content".into(), Value::String(texts.join("\n")));
            } else {
                m.insert("content".into(), Value::Array(parts));
            }
        } else {
            m.insert("contents".into(), Value::Array(parts));
        }
    }
    Value::Object(m)
}
