//! API keys: list, create (the secret is shown once), revoke.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use hive_store::{KeyScope, NewKey};

use super::format::{self, urlencode};
use super::{Layout, PageResult, field, html, layout, posted, web};
use crate::SharedState;
use crate::error::ApiError;

pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scope: &'static str,
    pub project: String,
    pub created: String,
    pub revoked: bool,
    /// When it expires (UTC), if it does.
    pub expires: Option<String>,
    /// Expired (and not revoked).
    pub expired: bool,
    /// A data-plane key's permissions, comma-separated (else empty).
    pub permissions: String,
}

/// The expiries the form offers: (value of `expires_in`, label).
pub const EXPIRIES: &[(&str, &str)] = &[
    ("", "never"),
    ("1d", "in a day"),
    ("7d", "in 7 days"),
    ("30d", "in 30 days"),
    ("90d", "in 90 days"),
    ("365d", "in a year"),
];

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    l: Layout,
    keys: Vec<KeyRow>,
    /// A key just created: (name, secret), shown once.
    created: Option<(String, String)>,
    error: String,
    expiries: &'static [(&'static str, &'static str)],
}

fn project_param(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "project")
        .map(|(_, v)| v.into_owned())
}

async fn render(
    state: &SharedState,
    l: Layout,
    created: Option<(String, String)>,
    error: String,
) -> PageResult {
    let keys = state.blocking(move |store| store.auth().keys()).await?;
    let now = crate::body::now_ms();
    let mut keys: Vec<KeyRow> = keys
        .into_iter()
        .map(|k| KeyRow {
            project: k
                .project_id
                .as_ref()
                .map(|id| {
                    l.projects
                        .iter()
                        .find(|p| &p.id == id)
                        .map(|p| p.name.clone())
                        .unwrap_or_else(|| id.clone())
                })
                .unwrap_or_else(|| "all projects".into()),
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            scope: k.scope.name(),
            created: format::time(k.created_at),
            revoked: k.revoked_at.is_some(),
            expires: k.expires_at.map(format::time),
            expired: k.revoked_at.is_none() && k.expires_at.is_some_and(|t| t <= now),
            permissions: k.permissions.join(", "),
        })
        .collect();
    keys.sort_by_key(|k| k.revoked || k.expired);
    html(&KeysPage {
        l,
        keys,
        created,
        error,
        expiries: EXPIRIES,
    })
}

pub async fn page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> PageResult {
    let web = web(&state, &headers).await?;
    let l = layout(
        &state,
        &web,
        project_param(query.as_deref()).as_deref(),
        "keys",
    )
    .await?;
    render(&state, l, None, String::new()).await
}

pub async fn create(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> PageResult {
    let (web, fields) = posted(&state, &headers, &body).await?;
    let l = layout(&state, &web, field(&fields, "project"), "keys").await?;
    let name = field(&fields, "name").unwrap_or("").trim().to_owned();
    let scope = field(&fields, "scope").and_then(KeyScope::parse);
    let (Some(scope), false) = (scope, name.is_empty() || name.chars().count() > 200) else {
        return render(
            &state,
            l,
            None,
            "a key needs a name (up to 200 characters) and a scope".into(),
        )
        .await;
    };
    let project_id = match scope {
        KeyScope::Admin => None,
        _ => Some(l.project.id.clone()),
    };
    let expires_in = field(&fields, "expires_in").unwrap_or("").trim();
    let expires_at = match EXPIRIES.iter().find(|(v, _)| *v == expires_in) {
        Some(_) if expires_in.is_empty() => None,
        Some(_) => hive_core::time::parse_relative_ms(expires_in)
            .map(|ms| crate::body::now_ms() + ms as i64),
        None => {
            return render(&state, l, None, "choose when the key expires".into()).await;
        }
    };
    let new = NewKey {
        name: name.clone(),
        scope,
        project_id,
        expires_at,
        permissions: Vec::new(),
    };
    let (_, secret) = state
        .blocking(move |store| store.auth().create_key(&new))
        .await?;
    render(&state, l, Some((name, secret)), String::new()).await
}

pub async fn revoke(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(key_id): Path<String>,
    body: bytes::Bytes,
) -> PageResult {
    let (_, fields) = posted(&state, &headers, &body).await?;
    let id = key_id.clone();
    let done = state
        .blocking(move |store| store.auth().revoke_key(&id))
        .await?;
    if !done {
        return Err(ApiError::NotFound(format!("no live key {key_id:?}")).into());
    }
    state.keys.clear();
    let project = field(&fields, "project").unwrap_or("default");
    Ok(Redirect::to(&format!("/keys?project={}", urlencode(project))).into_response())
}
