//! HTML for untrusted JSON: an expandable tree (`<details>`, no script),
//! and chat messages as a conversation. Every string from the data passes
//! through [`escape_into`]; nothing here emits attributes from data except
//! escaped ones.

use serde_json::{Map, Value};

use super::format::escape_into;

/// Strings longer than this are shown in a scrollable block.
const LONG: usize = 160;
/// Levels open by default.
const OPEN_DEPTH: usize = 2;
/// Object members or array items shown per node before "… N more".
const MAX_ITEMS: usize = 500;

/// An expandable tree of a JSON value.
pub fn tree(v: &Value) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<div class=\"jt\">");
    node(v, 0, &mut out);
    out.push_str("</div>");
    out
}

/// The members of an object as a tree (a namespace panel), or a note when
/// it is empty.
pub fn members(v: Option<&Value>) -> String {
    match v {
        Some(Value::Object(m)) if !m.is_empty() => {
            let mut out = String::from("<div class=\"jt\">");
            entries(m.iter().map(|(k, v)| (k.as_str(), v)), m.len(), 0, &mut out);
            out.push_str("</div>");
            out
        }
        Some(v @ (Value::Array(_) | Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
            tree(v)
        }
        _ => "<p class=\"none\">None</p>".to_owned(),
    }
}

fn scalar(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("<span class=\"j-null\">null</span>"),
        Value::Bool(b) => {
            out.push_str("<span class=\"j-bool\">");
            out.push_str(if *b { "true" } else { "false" });
            out.push_str("</span>");
        }
        Value::Number(n) => {
            out.push_str("<span class=\"j-num\">");
            out.push_str(&n.to_string());
            out.push_str("</span>");
        }
        Value::String(s) if s.chars().count() > LONG || s.contains('\n') => {
            out.push_str("<pre class=\"j-str long\">");
            escape_into(s, out);
            out.push_str("</pre>");
        }
        Value::String(s) => {
            out.push_str("<span class=\"j-str\">");
            escape_into(s, out);
            out.push_str("</span>");
        }
        _ => {}
    }
}

fn node(v: &Value, depth: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            open(depth, &format!("{{{}}}", count(m.len(), "key")), out);
            entries(m.iter().map(|(k, v)| (k.as_str(), v)), m.len(), depth, out);
            out.push_str("</details>");
        }
        Value::Array(a) if !a.is_empty() => {
            open(depth, &format!("[{}]", count(a.len(), "item")), out);
            let keys: Vec<String> = (0..a.len().min(MAX_ITEMS)).map(|i| i.to_string()).collect();
            entries(
                keys.iter().map(String::as_str).zip(a.iter()),
                a.len(),
                depth,
                out,
            );
            out.push_str("</details>");
        }
        Value::Object(_) => out.push_str("<span class=\"j-null\">{}</span>"),
        Value::Array(_) => out.push_str("<span class=\"j-null\">[]</span>"),
        other => scalar(other, out),
    }
}

fn count(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn open(depth: usize, label: &str, out: &mut String) {
    out.push_str(if depth < OPEN_DEPTH {
        "<details open><summary class=\"j-sum\">"
    } else {
        "<details><summary class=\"j-sum\">"
    });
    escape_into(label, out);
    out.push_str("</summary>");
}

fn entries<'a>(
    items: impl Iterator<Item = (&'a str, &'a Value)>,
    len: usize,
    depth: usize,
    out: &mut String,
) {
    out.push_str("<ul>");
    for (k, v) in items.take(MAX_ITEMS) {
        out.push_str("<li><span class=\"j-key\">");
        escape_into(k, out);
        out.push_str("</span> ");
        node(v, depth + 1, out);
        out.push_str("</li>");
    }
    if len > MAX_ITEMS {
        out.push_str("<li class=\"muted\">… ");
        out.push_str(&(len - MAX_ITEMS).to_string());
        out.push_str(" more (see the raw JSON)</li>");
    }
    out.push_str("</ul>");
}

/// A message-like object: `{role, content}` (OpenAI shape) with optional
/// tool calls.
fn is_message(v: &Value) -> bool {
    v.get("role").is_some_and(Value::is_string)
        && (v.get("content").is_some() || v.get("tool_calls").is_some())
}

/// The chat messages of a namespace, if it holds a conversation:
/// `chat_history`/`messages` arrays, a single `{role, content}`, or
/// OpenAI `choices[].message`.
pub fn messages(ns: Option<&Value>) -> Vec<&Value> {
    let Some(Value::Object(m)) = ns else {
        return Vec::new();
    };
    for key in ["chat_history", "messages", "prompt"] {
        if let Some(Value::Array(a)) = m.get(key)
            && !a.is_empty()
            && a.iter().all(is_message)
        {
            return a.iter().collect();
        }
    }
    let whole = Value::Object(m.clone());
    if is_message(&whole) {
        // Borrowing from `m`: return the namespace itself.
        return ns.into_iter().collect();
    }
    if let Some(Value::Array(choices)) = m.get("choices") {
        let msgs: Vec<&Value> = choices
            .iter()
            .filter_map(|c| c.get("message"))
            .filter(|m| is_message(m))
            .collect();
        if !msgs.is_empty() {
            return msgs;
        }
    }
    Vec::new()
}

fn text_of(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| {
                    p.get("text")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .or_else(|| p.as_str().map(str::to_owned))
                })
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// A conversation as bubbles.
pub fn chat(msgs: &[&Value]) -> String {
    let mut out = String::from("<div class=\"chat\">");
    for m in msgs {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("message");
        let class = match role {
            "user" | "human" => "user",
            "assistant" | "ai" => "assistant",
            "system" | "developer" => "system",
            "tool" | "function" => "tool",
            _ => "other",
        };
        out.push_str("<div class=\"msg ");
        out.push_str(class);
        out.push_str("\"><div class=\"role\">");
        escape_into(role, &mut out);
        if let Some(name) = m.get("name").and_then(Value::as_str) {
            out.push_str(" · ");
            escape_into(name, &mut out);
        }
        out.push_str("</div>");
        if let Some(text) = m.get("content").and_then(text_of) {
            out.push_str("<div class=\"content\">");
            escape_into(&text, &mut out);
            out.push_str("</div>");
        }
        if let Some(Value::Array(calls)) = m.get("tool_calls") {
            for call in calls {
                tool_call(call, &mut out);
            }
        }
        out.push_str("</div>");
    }
    out.push_str("</div>");
    out
}

fn tool_call(call: &Value, out: &mut String) {
    let f = call.get("function").unwrap_or(call);
    let name = f.get("name").and_then(Value::as_str).unwrap_or("tool");
    out.push_str("<div class=\"toolcall\"><span class=\"fn\">");
    escape_into(name, out);
    out.push_str("</span>");
    match f.get("arguments") {
        Some(Value::String(args)) => {
            let parsed = serde_json::from_str::<Value>(args).ok();
            match parsed {
                Some(v @ Value::Object(_)) => node(&v, 1, out),
                _ => {
                    out.push_str("<pre class=\"j-str long\">");
                    escape_into(args, out);
                    out.push_str("</pre>");
                }
            }
        }
        Some(v) => node(v, 1, out),
        None => {}
    }
    out.push_str("</div>");
}

/// Raw span attributes (`[{key, value}]` in OTLP JSON, or an object) as one
/// flat object of key → value.
pub fn attributes(raw: &Value) -> Value {
    let attrs = raw.get("attributes").unwrap_or(raw);
    match attrs {
        Value::Array(items) => {
            let mut m = Map::new();
            for kv in items {
                let Some(k) = kv.get("key").and_then(Value::as_str) else {
                    continue;
                };
                let v = kv.get("value").map(otlp_value).unwrap_or(Value::Null);
                m.insert(k.to_owned(), v);
            }
            Value::Object(m)
        }
        Value::Object(_) => attrs.clone(),
        _ => Value::Object(Map::new()),
    }
}

/// `{"stringValue": "x"}` → `"x"` (OTLP JSON any-values); other shapes
/// are kept.
fn otlp_value(v: &Value) -> Value {
    let Value::Object(m) = v else {
        return v.clone();
    };
    if m.len() != 1 {
        return v.clone();
    }
    let (k, inner) = m.iter().next().expect("one entry");
    match (k.as_str(), inner) {
        ("stringValue" | "boolValue" | "doubleValue", x) => x.clone(),
        ("intValue", Value::String(s)) => {
            s.parse::<i64>().map(Value::from).unwrap_or(inner.clone())
        }
        ("intValue", x) => x.clone(),
        ("arrayValue", a) => Value::Array(
            a.get("values")
                .and_then(Value::as_array)
                .map(|vs| vs.iter().map(otlp_value).collect())
                .unwrap_or_default(),
        ),
        _ => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn everything_from_the_data_is_escaped() {
        let v = json!({"<img src=x onerror=alert(1)>": "<script>alert(1)</script>", "n": [1, {"a\"b": null}]});
        let html = tree(&v);
        assert!(!html.contains("<script"));
        assert!(!html.contains("<img"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("a&quot;b"));
        let msgs = json!({"chat_history": [{"role": "user<b>", "content": "<b>hi</b>"}]});
        let html = chat(&messages(Some(&msgs)));
        assert!(!html.contains("<b>"));
    }

    #[test]
    fn finds_conversations() {
        let inputs = json!({"chat_history": [{"role": "user", "content": "hi"}]});
        assert_eq!(messages(Some(&inputs)).len(), 1);
        let outputs = json!({"role": "assistant", "content": "hello"});
        assert_eq!(messages(Some(&outputs)).len(), 1);
        assert!(messages(Some(&json!({"text": "x"}))).is_empty());
    }

    #[test]
    fn otlp_attributes_flatten() {
        let raw = json!({"attributes": [
            {"key": "a", "value": {"stringValue": "x"}},
            {"key": "n", "value": {"intValue": "5"}}
        ]});
        assert_eq!(attributes(&raw), json!({"a": "x", "n": 5}));
    }
}
