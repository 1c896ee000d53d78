//! One session: the event tree with a timeline, and the panels of the
//! selected event (inputs and outputs, metadata, metrics, feedback, config,
//! user properties, the OTLP log records kept on it, the raw span's
//! attributes and the enrichment history).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde_json::Value;

use super::format::{self, escape_into, num, urlencode};
use super::json_html;
use super::{Layout, PageResult, html, layout, web};
use crate::SharedState;
use crate::error::ApiError;

#[derive(serde::Deserialize, Default)]
pub struct SessionParams {
    project: Option<String>,
    event: Option<String>,
}

/// One enrichment in the History panel.
pub struct Change {
    pub when: String,
    pub key: String,
    pub paths: String,
    pub patch: String,
}

/// A panel: a title and its HTML (built by `json_html`, escaped there).
pub struct Panel {
    pub id: &'static str,
    pub title: &'static str,
    pub body: String,
    pub count: usize,
}

/// Events of a session drawn in its tree at most (the earliest by start
/// time); the events list has them all.
pub const VIEW_LIMIT: usize = 2_000;

#[derive(Template)]
#[template(path = "session.html")]
struct SessionPage {
    l: Layout,
    name: String,
    session_id: String,
    /// The confirmation page of deleting this session.
    delete_href: String,
    start: String,
    duration: String,
    num_events: usize,
    failed: usize,
    /// Events shown when the session has more than [`VIEW_LIMIT`].
    shown: Option<usize>,
    all_events: String,
    tokens: String,
    cost: String,
    user: String,
    source: String,
    tree: String,
    ev_name: String,
    ev_id: String,
    ev_type: String,
    ev_start: String,
    ev_duration: String,
    ev_error: String,
    ev_model: String,
    io: String,
    panels: Vec<Panel>,
    /// The Logs panel (OTLP log records kept on the event), and how many.
    logs: String,
    logs_count: usize,
    attributes: String,
    span: String,
    has_span: bool,
    history: Vec<Change>,
    raw_json: String,
    took_ms: u128,
}

struct Timeline {
    t0: f64,
    span: f64,
}

fn start_of(e: &Value) -> f64 {
    num(e.get("start_time")).unwrap_or(0.0)
}

fn end_of(e: &Value) -> f64 {
    let start = start_of(e);
    let by_duration = start + num(e.get("duration")).unwrap_or(0.0).max(0.0);
    num(e.get("end_time"))
        .unwrap_or(by_duration)
        .max(by_duration)
}

fn failed(e: &Value) -> bool {
    e.get("error").is_some_and(|v| !v.is_null() && v != "")
}

/// The event tree as nested `<details>` (expand and collapse without
/// script), each row with its duration and a bar on the session's timeline.
fn render_tree(node: &Value, depth: usize, tl: &Timeline, ctx: &TreeCtx, out: &mut String) {
    let id = node.get("event_id").and_then(Value::as_str).unwrap_or("");
    let kids = node
        .get("children")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let selected = id == ctx.selected;
    let mut row = String::with_capacity(512);
    row.push_str("<span class=\"ev");
    if selected {
        row.push_str(" sel");
    }
    if failed(node) {
        row.push_str(" err");
    }
    row.push_str("\"><a class=\"evname d");
    row.push_str(&depth.min(15).to_string());
    row.push_str("\" href=\"");
    row.push_str(&ctx.base);
    row.push_str("&amp;event=");
    escape_into(&urlencode(id), &mut row);
    row.push_str("#detail\"");
    if selected {
        row.push_str(" aria-current=\"true\"");
    }
    row.push('>');
    let ty = node.get("event_type").and_then(Value::as_str).unwrap_or("");
    row.push_str("<span class=\"tag t-");
    escape_into(ty, &mut row);
    row.push_str("\">");
    escape_into(ty, &mut row);
    row.push_str("</span> ");
    escape_into(
        node.get("event_name").and_then(Value::as_str).unwrap_or(""),
        &mut row,
    );
    if failed(node) {
        row.push_str(" <span class=\"bad\" title=\"failed\">failed</span>");
    }
    row.push_str("</a><span class=\"evdur num\">");
    row.push_str(&format::duration(num(node.get("duration")).unwrap_or(0.0)));
    row.push_str("</span>");
    // The bar: SVG attributes, not inline styles (the CSP forbids those).
    let (s, e) = (start_of(node), end_of(node));
    let x = ((s - tl.t0) / tl.span * 1000.0).clamp(0.0, 1000.0);
    let w = ((e - s) / tl.span * 1000.0).clamp(2.0, 1000.0 - x.min(998.0));
    row.push_str(&format!(
        "<svg class=\"bar\" viewBox=\"0 0 1000 10\" preserveAspectRatio=\"none\" aria-hidden=\"true\"><rect x=\"{x:.1}\" y=\"1\" width=\"{w:.1}\" height=\"8\" rx=\"2\"/></svg></span>"
    ));
    if kids.is_empty() {
        out.push_str("<div class=\"leaf\">");
        out.push_str(&row);
        out.push_str("</div>");
    } else {
        out.push_str("<details open class=\"node\"><summary>");
        out.push_str(&row);
        out.push_str("</summary>");
        for k in kids {
            render_tree(k, depth + 1, tl, ctx, out);
        }
        out.push_str("</details>");
    }
}

struct TreeCtx {
    base: String,
    selected: String,
}

pub async fn page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(session_id): Path<String>,
    Query(params): Query<SessionParams>,
) -> PageResult {
    let web = web(&state, &headers).await?;
    // One session, likely just written (a link the SDK or a list gave):
    // unlike lists, which show what is applied after a second, this page
    // waits for the writes acknowledged before it as the API's reads do
    // (`--read-wait-ms`, a second while the store fails), then shows what
    // is applied, with the note of what is not.
    let _ = state.writer.wait_applied().await;
    let l = layout(&state, &web, params.project.as_deref(), "sessions").await?;
    let started = std::time::Instant::now();
    let project_id = l.project.id.clone();
    let sid = session_id.clone();
    let wanted = params.event.clone();
    let loaded = state
        .blocking(move |store| -> hive_store::Result<_> {
            // The tree shows no content: only the selected event's is read.
            let shown = wanted.clone().unwrap_or_else(|| sid.clone());
            let mut events =
                store.session_events_showing(Some(&project_id), &sid, VIEW_LIMIT + 2, &shown)?;
            let truncated = events.len() > VIEW_LIMIT + 1;
            events.truncate(VIEW_LIMIT + 1);
            let errors = if truncated {
                store
                    .session_errors(&project_id, std::slice::from_ref(&sid))?
                    .first()
                    .map_or(0, |(_, n)| *n as usize)
            } else {
                0
            };
            // An event past the events shown can still be selected.
            let mut beyond = None;
            let selected_id = match wanted {
                Some(w)
                    if events
                        .iter()
                        .any(|e| e.get("event_id").and_then(Value::as_str) == Some(&w)) =>
                {
                    w
                }
                Some(w) if truncated => match store.get_event(Some(&project_id), &w)? {
                    Some(e) if e.get("session_id").and_then(Value::as_str) == Some(&sid) => {
                        beyond = Some(e);
                        w
                    }
                    _ => sid.clone(),
                },
                _ => sid.clone(),
            };
            // A selection that fell back to the session (an event it does
            // not hold): the session's content was not read with the tree.
            if selected_id != shown
                && beyond.is_none()
                && let Some(e) = events.iter_mut().find(|e| {
                    e.get("event_id").and_then(Value::as_str) == Some(selected_id.as_str())
                })
                && let Some(full) = store.get_event(Some(&project_id), &selected_id)?
            {
                for ns in ["inputs", "outputs"] {
                    e[ns] = full.get(ns).cloned().unwrap_or(Value::Null);
                }
            }
            let raw = store.get_raw(Some(&project_id), &selected_id)?;
            let history = store.history(Some(&project_id), &selected_id)?;
            let keys = store.auth().keys()?;
            Ok((
                events,
                truncated,
                errors,
                beyond,
                selected_id,
                raw,
                history,
                keys,
            ))
        })
        .await?;
    let (events, truncated, errors, beyond, selected_id, raw, history, keys) = loaded;
    let is_session = events.first().is_some_and(|e| {
        e.get("event_id").and_then(Value::as_str) == Some(session_id.as_str())
            && e.get("event_type").and_then(Value::as_str) == Some("session")
    });
    if !is_session {
        return Err(ApiError::NotFound(format!(
            "no session {session_id:?} in project {:?}",
            l.project.name
        ))
        .into());
    }
    let shown = events.len() - 1;
    let (num_events, failed_n) = if truncated {
        let all = events[0]
            .pointer("/metadata/num_events")
            .and_then(Value::as_u64)
            .map_or(shown, |n| n as usize);
        (all, errors)
    } else {
        (shown, events.iter().skip(1).filter(|e| failed(e)).count())
    };
    let t0 = events.iter().map(start_of).fold(f64::INFINITY, f64::min);
    let t1 = events.iter().map(end_of).fold(f64::NEG_INFINITY, f64::max);
    let tl = Timeline {
        t0,
        span: (t1 - t0).max(1.0),
    };
    let selected = events
        .iter()
        .find(|e| e.get("event_id").and_then(Value::as_str) == Some(selected_id.as_str()))
        .cloned()
        .or(beyond)
        .unwrap_or(Value::Null);
    let session = events[0].clone();
    let root = crate::read::session_tree(events).unwrap_or(Value::Null);
    let ctx = TreeCtx {
        base: format!(
            "/sessions/{}?{}",
            urlencode(&session_id),
            format::escape(&l.pq())
        ),
        selected: selected_id.clone(),
    };
    let mut tree = String::with_capacity(num_events * 600 + 1024);
    render_tree(&root, 0, &tl, &ctx, &mut tree);

    let s = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let md = |e: &Value, k: &str| num(e.get("metadata").and_then(|m| m.get(k)));

    // Inputs and outputs: conversations as bubbles, everything as a tree.
    let mut io = String::new();
    for (title, key) in [("Inputs", "inputs"), ("Outputs", "outputs")] {
        let ns = selected.get(key);
        io.push_str("<section class=\"io\"><h3>");
        io.push_str(title);
        io.push_str("</h3>");
        let msgs = json_html::messages(ns);
        if !msgs.is_empty() {
            io.push_str(&json_html::chat(&msgs));
            io.push_str("<details class=\"rawjson\"><summary>JSON</summary>");
            io.push_str(&json_html::members(ns));
            io.push_str("</details>");
        } else {
            io.push_str(&json_html::members(ns));
        }
        io.push_str("</section>");
    }
    // Log records kept on the event have their own panel, not Metadata's.
    let mut selected = selected;
    let otel_logs = selected
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove(crate::otlp_logs::LOGS_KEY));
    let (logs, logs_count) = log_rows(otel_logs.as_ref());
    let count = |k: &str| {
        selected
            .get(k)
            .and_then(Value::as_object)
            .map_or(0, |m| m.len())
    };
    let panels = [
        ("metadata", "Metadata"),
        ("metrics", "Metrics"),
        ("feedback", "Feedback"),
        ("config", "Config"),
        ("user_properties", "User properties"),
    ]
    .into_iter()
    .map(|(id, title)| Panel {
        id,
        title,
        body: json_html::members(selected.get(id)),
        count: count(id),
    })
    .collect();
    let (attributes, span, has_span) = match &raw {
        Some(raw) => {
            let attrs = json_html::attributes(raw);
            let mut rest = raw.clone();
            if let Value::Object(m) = &mut rest {
                m.remove("attributes");
            }
            (
                json_html::members(Some(&attrs)),
                json_html::members(Some(&rest)),
                true,
            )
        }
        None => (String::new(), String::new(), false),
    };
    let names: HashMap<&str, &str> = keys
        .iter()
        .map(|k| (k.id.as_str(), k.name.as_str()))
        .collect();
    let history = history
        .iter()
        .map(|h| Change {
            when: format::time(h.received_at),
            key: h
                .key_id
                .as_deref()
                .map(|k| match names.get(k) {
                    Some(n) => format!("{n} ({})", &k[..k.len().min(8)]),
                    None => k.to_owned(),
                })
                .unwrap_or_else(|| "—".into()),
            paths: changed_paths(&h.patch).join(", "),
            patch: json_html::tree(&h.patch),
        })
        .collect();
    if let (Some(logs), Some(Value::Object(m))) = (otel_logs, selected.get_mut("metadata")) {
        m.insert(crate::otlp_logs::LOGS_KEY.into(), logs);
    }
    let raw_json = serde_json::to_string_pretty(&selected).unwrap_or_default();
    let page = SessionPage {
        name: s(&session, "event_name"),
        delete_href: format!("/sessions/{}/delete", super::format::urlencode(&session_id)),
        session_id: session_id.clone(),
        start: format::time(start_of(&session) as i64),
        duration: format::duration(num(session.get("duration")).unwrap_or(t1 - t0)),
        num_events,
        failed: failed_n,
        shown: truncated.then_some(shown),
        all_events: format!(
            "/events?{}&ff=session_id&fo=is&fv={}",
            l.pq(),
            urlencode(&session_id)
        ),
        tokens: md(&session, "total_tokens")
            .map(format::int)
            .unwrap_or_else(|| "—".into()),
        cost: md(&session, "cost")
            .map(format::cost)
            .unwrap_or_else(|| "—".into()),
        user: session
            .get("user_properties")
            .and_then(Value::as_object)
            .and_then(|m| m.values().next())
            .map(|v| format::short(v, 40))
            .unwrap_or_default(),
        source: s(&session, "source"),
        tree,
        ev_name: s(&selected, "event_name"),
        ev_id: selected_id,
        ev_type: s(&selected, "event_type"),
        ev_start: format::time(start_of(&selected) as i64),
        ev_duration: format::duration(num(selected.get("duration")).unwrap_or(0.0)),
        ev_error: selected
            .get("error")
            .filter(|v| !v.is_null())
            .map(|v| format::short(v, 2000))
            .unwrap_or_default(),
        ev_model: selected
            .get("config")
            .and_then(|c| c.get("model"))
            .map(|v| format::short(v, 80))
            .unwrap_or_default(),
        io,
        panels,
        logs,
        logs_count,
        attributes,
        span,
        has_span,
        history,
        raw_json,
        took_ms: started.elapsed().as_millis(),
        l,
    };
    html(&page)
}

/// The log records kept on an event (`metadata.otel_logs`, keyed by time
/// then checksum) as table rows in time order: time, severity, event name,
/// body, and the attributes and scope to expand. Every value is escaped.
fn log_rows(logs: Option<&Value>) -> (String, usize) {
    let Some(Value::Object(logs)) = logs else {
        return (String::new(), 0);
    };
    let mut keys: Vec<&String> = logs.keys().collect();
    keys.sort();
    let mut out = String::with_capacity(256 * keys.len());
    for key in &keys {
        let entry = &logs[key.as_str()];
        let text = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or("");
        out.push_str("<tr><td class=\"num\">");
        out.push_str(&format::time(num(entry.get("time")).unwrap_or(0.0) as i64));
        out.push_str("</td><td>");
        let severity = text("severity");
        let bad = num(entry.get("severity_number")).is_some_and(|n| n >= 17.0);
        out.push_str(if bad {
            "<span class=\"bad\">"
        } else {
            "<span>"
        });
        escape_into(severity, &mut out);
        out.push_str("</span></td><td class=\"mono small\">");
        escape_into(text("event_name"), &mut out);
        out.push_str("</td><td class=\"name\">");
        match entry.get("body") {
            Some(Value::String(s)) => {
                out.push_str("<pre class=\"j-str long\">");
                escape_into(s, &mut out);
                out.push_str("</pre>");
            }
            Some(v) => out.push_str(&json_html::tree(v)),
            None => {}
        }
        let mut rest = serde_json::Map::new();
        for k in ["attributes", "scope"] {
            if let Some(v) = entry.get(k) {
                rest.insert(k.into(), v.clone());
            }
        }
        if !rest.is_empty() {
            out.push_str("<details><summary class=\"muted small\">attributes</summary>");
            out.push_str(&json_html::members(Some(&Value::Object(rest))));
            out.push_str("</details>");
        }
        out.push_str("</td></tr>");
    }
    (out, keys.len())
}

/// The dotted leaf paths a patch touches (`metadata.user.tier`).
fn changed_paths(patch: &Value) -> Vec<String> {
    fn walk(m: &serde_json::Map<String, Value>, prefix: &str, out: &mut Vec<String>) {
        for (k, v) in m {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                Value::Object(child) if !child.is_empty() && out.len() < 50 => {
                    walk(child, &path, out)
                }
                _ => out.push(path),
            }
        }
    }
    let mut out = Vec::new();
    if let Value::Object(m) = patch {
        walk(m, "", &mut out);
    }
    out
}
