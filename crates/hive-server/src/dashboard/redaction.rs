//! Redaction settings of a project: turn it on, choose default rules, add
//! key names and patterns; see what each rule replaced.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use hive_core::redact::{DEFAULT_KEYS, DEFAULT_PATTERNS, PatternRule, RedactionSettings};

use super::format::urlencode;
use super::{Layout, PageResult, field, html, layout, posted, web};
use crate::SharedState;
use crate::redaction::{REFRESH, load_settings, save_settings};

pub struct DefaultRow {
    pub name: &'static str,
    pub kind: &'static str,
    pub what: &'static str,
    pub on: bool,
}

pub struct CountRow {
    pub rule: String,
    pub count: u64,
}

#[derive(Template)]
#[template(path = "redaction.html")]
struct RedactionPage {
    l: Layout,
    enabled: bool,
    defaults: bool,
    default_rows: Vec<DefaultRow>,
    keys: String,
    patterns: String,
    counts: Vec<CountRow>,
    total: u64,
    refresh_secs: u64,
    error: String,
    saved: bool,
}

fn project_param(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "project")
        .map(|(_, v)| v.into_owned())
}

fn saved_param(query: Option<&str>) -> bool {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .any(|(k, v)| k == "saved" && v == "1")
}

fn render(
    state: &SharedState,
    l: Layout,
    s: &RedactionSettings,
    keys: String,
    patterns: String,
    error: String,
    saved: bool,
) -> PageResult {
    let on = |name: &str| !s.disabled_defaults.iter().any(|d| d == name);
    let mut default_rows: Vec<DefaultRow> = DEFAULT_KEYS
        .iter()
        .map(|k| DefaultRow {
            name: k,
            kind: "key",
            what: "the value of any key so named",
            on: on(k),
        })
        .collect();
    default_rows.extend(DEFAULT_PATTERNS.iter().map(|(name, regex, _)| DefaultRow {
        name,
        kind: "pattern",
        what: regex,
        on: on(name),
    }));
    let counts = state.redaction.project_counts(&l.project.id);
    let total = counts.total();
    let counts = counts
        .0
        .into_iter()
        .map(|(rule, count)| CountRow { rule, count })
        .collect();
    html(&RedactionPage {
        l,
        enabled: s.enabled,
        defaults: s.defaults,
        default_rows,
        keys,
        patterns,
        counts,
        total,
        refresh_secs: REFRESH.as_secs(),
        error,
        saved,
    })
}

/// `GET /redaction?project=NAME`
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
        "redaction",
    )
    .await?;
    let project_id = l.project.id.clone();
    let settings = state
        .blocking(move |store| load_settings(store, &project_id))
        .await?;
    let keys = settings.keys.join("\n");
    let patterns = settings
        .patterns
        .iter()
        .map(|p| format!("{}: {}", p.name, p.regex))
        .collect::<Vec<_>>()
        .join("\n");
    render(
        &state,
        l,
        &settings,
        keys,
        patterns,
        String::new(),
        saved_param(query.as_deref()),
    )
}

/// The settings a form describes: `enabled`, `defaults` and `rule`
/// (checkboxes), `keys` (one per line), `patterns` (`name: regex` per line).
fn from_form(fields: &[(String, String)]) -> Result<RedactionSettings, String> {
    let checked = |name: &str| field(fields, name).is_some();
    let rules_on: Vec<&str> = fields
        .iter()
        .filter(|(k, _)| k == "rule")
        .map(|(_, v)| v.as_str())
        .collect();
    let disabled_defaults = DEFAULT_KEYS
        .iter()
        .copied()
        .chain(DEFAULT_PATTERNS.iter().map(|(n, _, _)| *n))
        .filter(|n| !rules_on.contains(n))
        .map(str::to_owned)
        .collect();
    let keys = field(fields, "keys")
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let mut patterns = Vec::new();
    for (i, line) in field(fields, "patterns")
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let Some((name, regex)) = line.split_once(':') else {
            return Err(format!(
                "patterns, line {}: write each pattern as `name: regular expression`",
                i + 1
            ));
        };
        patterns.push(PatternRule {
            name: name.trim().to_owned(),
            regex: regex.trim().to_owned(),
        });
    }
    let settings = RedactionSettings {
        enabled: checked("enabled"),
        defaults: checked("defaults"),
        disabled_defaults,
        keys,
        patterns,
    };
    settings.compile().map_err(|e| e.0)?;
    Ok(settings)
}

/// `POST /redaction` (CSRF-checked): save the project's settings.
pub async fn save(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> PageResult {
    let (web, fields) = posted(&state, &headers, &body).await?;
    let l = layout(&state, &web, field(&fields, "project"), "redaction").await?;
    match from_form(&fields) {
        Ok(settings) => {
            save_settings(&state, &l.project.id, settings).await?;
            Ok(Redirect::to(&format!(
                "/redaction?project={}&saved=1",
                urlencode(&l.project.name)
            ))
            .into_response())
        }
        Err(error) => {
            // Show the form again as it was sent, with what is wrong.
            let shown = RedactionSettings {
                enabled: field(&fields, "enabled").is_some(),
                defaults: field(&fields, "defaults").is_some(),
                disabled_defaults: Vec::new(),
                keys: Vec::new(),
                patterns: Vec::new(),
            };
            let keys = field(&fields, "keys").unwrap_or("").to_owned();
            let patterns = field(&fields, "patterns").unwrap_or("").to_owned();
            let mut resp = render(&state, l, &shown, keys, patterns, error, false)?;
            *resp.status_mut() = axum::http::StatusCode::BAD_REQUEST;
            Ok(resp)
        }
    }
}
