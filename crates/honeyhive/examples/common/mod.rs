//! Shared by the examples: a local stand-in for the LLM call, so they run
//! without a model provider, and a line printer the end-to-end tests read.

#![allow(dead_code)]

use honeyhive::trace;
use serde::Serialize;

/// One chat message.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub role: &'static str,
    pub content: String,
}

pub fn user(content: impl Into<String>) -> Message {
    Message {
        role: "user",
        content: content.into(),
    }
}

pub fn assistant(content: impl Into<String>) -> Message {
    Message {
        role: "assistant",
        content: content.into(),
    }
}

/// Token usage of one completion.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

/// A completion, shaped like a chat-completions response.
#[derive(Debug, Clone, Serialize)]
pub struct Completion {
    pub model: String,
    pub content: String,
    pub usage: Usage,
}

/// Stands in for `client.chat.completions.create(...)`: deterministic, local,
/// recorded as a `model` event like an instrumented client would be.
#[trace(name = "chat.completions.create", event_type = "model")]
pub fn chat_completion(model: &str, messages: &[Message], temperature: f64) -> Completion {
    let last = messages.last().map(|m| m.content.as_str()).unwrap_or("");
    let prompt_tokens = messages
        .iter()
        .map(|m| m.content.split_whitespace().count() as u64 + 3)
        .sum();
    let content = format!("[{model} @ {temperature}] answer to: {last}");
    let completion_tokens = content.split_whitespace().count() as u64;
    honeyhive::enrich_span!(
        config = {"model": model, "temperature": temperature},
        metrics = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
    );
    Completion {
        model: model.to_owned(),
        content,
        usage: Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        },
    }
}

/// Prints `SESSION <label> <id>`: the end-to-end tests read these lines.
pub fn report(label: &str, session_id: &str) {
    println!("SESSION {label} {session_id}");
}

/// Seconds since the epoch as an ISO-8601-like UTC string (no date crate needed).
pub fn now_iso() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}
