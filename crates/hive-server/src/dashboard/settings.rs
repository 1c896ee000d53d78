//! Project settings (retention) and deleting data from the dashboard:
//! a session, or what a list's filters match, each after a confirmation
//! page that says how much goes. Every form carries the CSRF token.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use hive_store::{DeleteTarget, Level};
use serde_json::Value;

use super::filters::ListParams;
use super::format::{self, urlencode};
use super::{Layout, PageResult, field, html, layout, posted, web};
use crate::SharedState;
use crate::body::now_ms;
use crate::error::ApiError;
use crate::retention::{DELETION, SETTINGS, effective_days, parse_retention};

/// Who deleted, in the audit trail, when it was the dashboard.
const DASHBOARD: &str = "dashboard login";

pub struct DeletionRow {
    pub when: String,
    pub by: String,
    pub what: String,
    pub matched: String,
    pub deleted: String,
    pub state: String,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    l: Layout,
    /// The project's own setting as the form shows it (empty: default).
    own: String,
    default_days: String,
    effective: String,
    deletions: Vec<DeletionRow>,
    status: String,
}

#[derive(Template)]
#[template(path = "confirm_delete.html")]
struct ConfirmPage {
    l: Layout,
    title: String,
    /// What goes, in words.
    what: String,
    /// Where the form posts.
    action: String,
    /// The list's query (deleting by filter).
    query: String,
    what_kind: String,
    matched: u64,
    back: String,
}

fn days_text(d: Option<u32>) -> String {
    d.map_or("kept forever".into(), |d| format!("{d} days"))
}

fn row(doc: &Value) -> DeletionRow {
    let n = |k: &str| doc[k].as_u64().map_or("–".into(), |n| n.to_string());
    let what = match doc["kind"].as_str() {
        Some("session") => format!("session {}", doc["target"].as_str().unwrap_or("")),
        Some("event") => format!("event {}", doc["target"].as_str().unwrap_or("")),
        _ => {
            let filters = match doc["list_query"].as_str() {
                Some(q) => super::views::summary(q),
                None => doc["filters"].to_string(),
            };
            let what = if doc["level"] == "event" {
                "events"
            } else {
                "sessions"
            };
            format!("{what} where {filters}")
        }
    };
    DeletionRow {
        when: format::time(doc["requested_at"].as_i64().unwrap_or(0)),
        by: doc["requested_by"].as_str().unwrap_or("").to_owned(),
        what,
        matched: n("matched"),
        deleted: n("deleted"),
        state: doc["state"].as_str().unwrap_or("").to_owned(),
    }
}

pub async fn page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> PageResult {
    let web = web(&state, &headers).await?;
    let project = ListParams::parse(query.as_deref()).project;
    let l = layout(&state, &web, project.as_deref(), "settings").await?;
    let id = l.project.id.clone();
    let (settings, mut deletions) = state
        .blocking(move |s| {
            Ok((
                s.objects().get(SETTINGS, Some(&id), &id)?.map(|o| o.doc),
                s.objects().list(DELETION, Some(&id))?,
            ))
        })
        .await?;
    deletions.reverse();
    let default = state.maintenance.config.default_days;
    let own = match settings.as_ref().map(|s| &s["retention_days"]) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    let m = state.maintenance.snapshot();
    let status = format!(
        "{}; {} deleted by request and {} expired since the server started; {} KiB to give back; last round {}",
        m.active.as_deref().unwrap_or("idle"),
        m.deleted_by_request,
        m.expired,
        m.reclaimable_bytes / 1024,
        m.last_round_at.map_or("not yet".into(), format::time),
    );
    html(&SettingsPage {
        own,
        default_days: days_text(default),
        effective: days_text(effective_days(settings.as_ref(), default)),
        deletions: deletions.iter().map(|o| row(&o.doc)).collect(),
        status,
        l,
    })
}

pub async fn save_retention(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> PageResult {
    let (web, fields) = posted(&state, &headers, &body).await?;
    let l = layout(&state, &web, field(&fields, "project"), "settings").await?;
    let raw = field(&fields, "retention_days").unwrap_or("").to_owned();
    let value = parse_retention(&Value::String(raw)).map_err(ApiError::BadRequest)?;
    crate::deletion::set_retention(&state, &l.project.id, value).await?;
    Ok(Redirect::to(&format!("/settings?{}", l.pq())).into_response())
}

/// `GET /sessions/{id}/delete`: what deleting the session removes.
pub async fn confirm_session(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(session_id): Path<String>,
    RawQuery(query): RawQuery,
) -> PageResult {
    let web = web(&state, &headers).await?;
    let project = ListParams::parse(query.as_deref()).project;
    let l = layout(&state, &web, project.as_deref(), "sessions").await?;
    let (p, sid) = (l.project.id.clone(), session_id.clone());
    let session = state
        .blocking(move |s| s.get_event(Some(&p), &sid))
        .await?
        .filter(|e| e["event_type"] == "session")
        .ok_or_else(|| ApiError::NotFound(format!("no session {session_id:?}")))?;
    let n = session
        .pointer("/metadata/num_events")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let name = session["event_name"].as_str().unwrap_or("").to_owned();
    html(&ConfirmPage {
        title: "Delete this session?".into(),
        what: format!(
            "The session “{name}” ({session_id}), its {n} events, their enrichment history and raw spans."
        ),
        action: format!("/sessions/{}/delete", urlencode(&session_id)),
        query: String::new(),
        what_kind: "sessions".into(),
        matched: n + 1,
        back: format!("/sessions/{}?{}", urlencode(&session_id), l.pq()),
        l,
    })
}

/// `POST /sessions/{id}/delete`.
pub async fn delete_session(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(session_id): Path<String>,
    body: bytes::Bytes,
) -> PageResult {
    let (web, fields) = posted(&state, &headers, &body).await?;
    let l = layout(&state, &web, field(&fields, "project"), "sessions").await?;
    let (p, sid) = (l.project.id.clone(), session_id.clone());
    let session = state
        .blocking(move |s| s.get_event(Some(&p), &sid))
        .await?
        .filter(|e| e["event_type"] == "session")
        .ok_or_else(|| ApiError::NotFound(format!("no session {session_id:?}")))?;
    let n = session
        .pointer("/metadata/num_events")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        + 1;
    crate::deletion::delete_logged(
        &state,
        DASHBOARD.into(),
        l.project.id.clone(),
        DeleteTarget::Session(session_id),
        n,
    )
    .await?;
    Ok(Redirect::to(&format!("/sessions?{}", l.pq())).into_response())
}

/// The list query of a delete-by-filter page or form, and its level.
async fn list_query(
    state: &SharedState,
    project_id: &str,
    qs: &str,
    sessions: bool,
) -> Result<hive_store::EventQuery, ApiError> {
    let params = ListParams::parse(Some(qs));
    let p = project_id.to_owned();
    let fields = state.blocking(move |s| s.fields(&p)).await?;
    let level = if sessions {
        Level::Session
    } else {
        Level::Event
    };
    let (q, problems) = params.query(project_id, &fields, level, 1, now_ms());
    if !problems.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "fix the filters first: {}",
            problems.join("; ")
        )));
    }
    Ok(q)
}

/// `GET /delete?what=sessions|events&<list filters>`: how many match.
pub async fn confirm_filter(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> PageResult {
    let web = web(&state, &headers).await?;
    let qs = query.unwrap_or_default();
    let params = ListParams::parse(Some(&qs));
    let sessions = !qs.split('&').any(|kv| kv == "what=events");
    let nav = if sessions { "sessions" } else { "events" };
    let l = layout(&state, &web, params.project.as_deref(), nav).await?;
    let view_qs = params.view_qs();
    let q = list_query(&state, &l.project.id, &view_qs, sessions).await?;
    let out = crate::deletion::start_filter_deletion(
        &state,
        DASHBOARD.into(),
        q,
        serde_json::Map::new(),
        true,
    )
    .await?;
    let matched = out["matched"].as_u64().unwrap_or(0);
    html(&ConfirmPage {
        title: format!("Delete the {nav} matching these filters?"),
        what: format!(
            "{matched} {nav} where {}{}, with their events, enrichment history and raw spans. \
             What arrives after you confirm is kept.",
            super::views::summary(&view_qs),
            if sessions {
                ""
            } else {
                " (an event that is a session takes its session with it)"
            },
        ),
        action: "/delete".into(),
        query: view_qs.clone(),
        what_kind: nav.into(),
        matched,
        back: format!("/{nav}?{}&{view_qs}", l.pq()),
        l,
    })
}

/// `POST /delete`: start the deletion, then show it in the settings.
pub async fn delete_filter(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> PageResult {
    let (web, fields) = posted(&state, &headers, &body).await?;
    let sessions = field(&fields, "what") != Some("events");
    let nav = if sessions { "sessions" } else { "events" };
    let l = layout(&state, &web, field(&fields, "project"), nav).await?;
    let view_qs = ListParams::parse(field(&fields, "query")).view_qs();
    let q = list_query(&state, &l.project.id, &view_qs, sessions).await?;
    let mut source = serde_json::Map::new();
    source.insert("list_query".into(), Value::String(view_qs));
    crate::deletion::start_filter_deletion(&state, DASHBOARD.into(), q, source, false).await?;
    Ok(Redirect::to(&format!("/settings?{}", l.pq())).into_response())
}
