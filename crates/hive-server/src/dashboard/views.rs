//! Saved views: a name for a list page's filters, time range and sort.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};

use super::filters::ListParams;
use super::format::{self, urlencode};
use super::{Layout, PageResult, field, html, layout, posted, web};
use crate::SharedState;

pub struct ViewRow {
    pub id: String,
    pub name: String,
    pub page: String,
    pub href: String,
    pub summary: String,
    pub created: String,
}

#[derive(Template)]
#[template(path = "views.html")]
struct ViewsPage {
    l: Layout,
    views: Vec<ViewRow>,
}

/// A short description of a view's query: its filters and range.
pub(crate) fn summary(query: &str) -> String {
    let p = ListParams::parse(Some(query));
    let mut parts: Vec<String> = p
        .rows
        .iter()
        .map(|r| {
            if r.takes_value() {
                format!("{} {} {}", r.field, r.op, r.value)
            } else {
                format!("{} {}", r.field, r.op)
            }
        })
        .collect();
    if p.range != "all" {
        parts.push(format!("last {}", p.range));
    }
    if p.sort != "newest" {
        parts.push(format!("sorted by {}", p.sort));
    }
    if parts.is_empty() {
        "everything".into()
    } else {
        parts.join(" · ")
    }
}

pub async fn page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> PageResult {
    let web = web(&state, &headers).await?;
    let project = ListParams::parse(query.as_deref()).project;
    let l = layout(&state, &web, project.as_deref(), "views").await?;
    let project_id = l.project.id.clone();
    let views = state
        .blocking(move |store| store.auth().views(&project_id))
        .await?;
    let pq = l.pq();
    let views = views
        .into_iter()
        .map(|v| {
            let base = if v.page == "events" {
                "/events"
            } else {
                "/sessions"
            };
            let sep = if v.query.is_empty() { "" } else { "&" };
            ViewRow {
                href: format!("{base}?{pq}{sep}{}", v.query),
                summary: summary(&v.query),
                created: format::time(v.created_at),
                id: v.id,
                name: v.name,
                page: v.page,
            }
        })
        .collect();
    html(&ViewsPage { l, views })
}

pub async fn create(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> PageResult {
    let (web, fields) = posted(&state, &headers, &body).await?;
    let l = layout(&state, &web, field(&fields, "project"), "views").await?;
    let name = field(&fields, "name").unwrap_or("").to_owned();
    let page = match field(&fields, "page") {
        Some("events") => "events",
        _ => "sessions",
    };
    // Normalise: keep only what the list pages understand.
    let query = ListParams::parse(field(&fields, "query")).view_qs();
    let project_id = l.project.id.clone();
    state
        .blocking(move |store| store.auth().save_view(&project_id, &name, page, &query))
        .await?;
    Ok(Redirect::to(&format!("/views?{}", l.pq())).into_response())
}

pub async fn delete(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(view_id): Path<String>,
    body: bytes::Bytes,
) -> PageResult {
    let (web, fields) = posted(&state, &headers, &body).await?;
    let l = layout(&state, &web, field(&fields, "project"), "views").await?;
    let project_id = l.project.id.clone();
    state
        .blocking(move |store| store.auth().delete_view(&project_id, &view_id))
        .await?;
    Ok(Redirect::to(&format!("/views?project={}", urlencode(&l.project.name))).into_response())
}
