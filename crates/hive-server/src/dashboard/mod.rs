//! The dashboard: server-rendered pages (askama templates, auto-escaped)
//! for the Log Store: sessions, events, one session with its event tree and
//! panels, API keys and saved views.
//!
//! Pages authenticate with a cookie (`hive_session`: HttpOnly,
//! SameSite=Strict) made from a one-time login URL (`hive serve` and
//! `hive login` print one); the API keeps its Bearer keys. Every
//! state-changing request is a POST form carrying the session's CSRF token.
//! Every response carries a Content-Security-Policy that allows only this
//! origin's own script and style (no inline code).

mod alerts;
mod charts;
pub(crate) mod filters;
mod format;
mod json_html;
mod keys;
mod list;
pub(crate) use list::ListCounts;
mod redaction;
mod session;
mod settings;
mod svg;
mod views;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hive_store::{Project, WebSession};

use crate::SharedState;
use crate::error::ApiError;

/// How long a dashboard login lasts.
const SESSION_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
/// How long a login URL stays valid.
pub const LOGIN_TOKEN_TTL_MS: i64 = 24 * 3600 * 1000;
const COOKIE: &str = "hive_session";

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const CSS: &str = include_str!("../../static/hive.css");
const JS: &str = include_str!("../../static/hive.js");

/// The dashboard's routes (merged into the API router).
pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/", get(index))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/sessions", get(list::sessions))
        .route("/sessions/{session_id}", get(session::page))
        .route(
            "/sessions/{session_id}/delete",
            get(settings::confirm_session).post(settings::delete_session),
        )
        .route(
            "/delete",
            get(settings::confirm_filter).post(settings::delete_filter),
        )
        .route("/settings", get(settings::page))
        .route("/settings/retention", post(settings::save_retention))
        .route("/events", get(list::events))
        .route("/keys", get(keys::page).post(keys::create))
        .route("/keys/{key_id}/revoke", post(keys::revoke))
        .route("/views", get(views::page).post(views::create))
        .route("/redaction", get(redaction::page).post(redaction::save))
        .route("/views/{view_id}/delete", post(views::delete))
        .route("/charts", get(charts::page).post(charts::save))
        .route("/charts/draw", get(charts::draw_together))
        .route("/charts/preview", get(charts::preview))
        .route("/charts/{chart_id}/draw", get(charts::draw_saved))
        .route("/charts/{chart_id}/delete", post(charts::delete))
        .route("/charts/{chart_id}/update", post(charts::update))
        .route("/alerts", get(alerts::page).post(alerts::create))
        .route("/alerts/{alert_id}", get(alerts::detail))
        .route("/alerts/{alert_id}/recent", get(alerts::recent_values))
        .route("/alerts/{alert_id}/edit", post(alerts::edit))
        .route("/alerts/{alert_id}/{action}", post(alerts::act))
        .route("/static/hive.css", get(css))
        .route("/static/hive.js", get(js))
        .route("/favicon.ico", get(favicon))
        .layer(axum::middleware::map_response(security_headers))
}

async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Login URLs carry a token: never send it anywhere.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        body,
    )
        .into_response()
}

async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

async fn favicon() -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::CACHE_CONTROL, "public, max-age=86400")],
    )
        .into_response()
}

async fn js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}

/// A short fingerprint of the assets, appended to their URLs so that the
/// long cache lifetime never serves a stale file after an upgrade.
pub(crate) fn asset_version() -> &'static str {
    static V: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    V.get_or_init(|| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in CSS.bytes().chain(JS.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        format!("{:x}", h & 0xffff_ffff)
    })
}

/// An error page (HTML, escaped).
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
    v: &'a str,
}

/// What a page handler fails with.
pub(crate) enum PageError {
    /// Not logged in: go to the login page.
    Login,
    Api(ApiError),
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError::Api(e)
    }
}

impl From<hive_store::StoreError> for PageError {
    fn from(e: hive_store::StoreError) -> Self {
        PageError::Api(e.into())
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        PageError::Api(ApiError::internal(e))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Login => Redirect::to("/login").into_response(),
            PageError::Api(e) => {
                let status = e.status();
                let message = match &e {
                    ApiError::Internal(detail) => {
                        tracing::error!(error = %detail, "page failed");
                        "internal error (see the server log)".to_owned()
                    }
                    other => other.to_string(),
                };
                let title = status.canonical_reason().unwrap_or("Error");
                let page = ErrorPage {
                    status: status.as_u16(),
                    title,
                    message: &message,
                    v: asset_version(),
                };
                let mut resp = match page.render() {
                    Ok(html) => (status, html_headers(), html).into_response(),
                    Err(_) => (status, message).into_response(),
                };
                // As the API's answers: a page that could not be made for
                // now (busy, the store down) says when to try again.
                if status == axum::http::StatusCode::SERVICE_UNAVAILABLE {
                    resp.headers_mut().insert(
                        header::RETRY_AFTER,
                        axum::http::HeaderValue::from_static("1"),
                    );
                }
                resp
            }
        }
    }
}

pub(crate) type PageResult = Result<Response, PageError>;

fn html_headers() -> [(header::HeaderName, &'static str); 1] {
    [(header::CONTENT_TYPE, "text/html; charset=utf-8")]
}

/// Render a template as a 200 page.
pub(crate) fn html(t: &impl Template) -> PageResult {
    Ok((html_headers(), t.render()?).into_response())
}

/// The logged-in dashboard user (an admin session).
pub(crate) struct Web {
    pub session: WebSession,
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for part in value.split(';') {
            if let Some((k, v)) = part.trim().split_once('=')
                && k == name
                && !v.is_empty()
            {
                return Some(v.to_owned());
            }
        }
    }
    None
}

/// The dashboard session of the request's cookie.
/// A posted dashboard form: the logged-in session and the form's fields,
/// after its CSRF token was checked (the one place every state-changing
/// form goes through).
pub(crate) async fn posted(
    state: &SharedState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Web, Vec<(String, String)>), PageError> {
    let web = web(state, headers).await?;
    same_origin(headers)?;
    let fields = form_fields(body);
    web.check_csrf(field(&fields, "csrf"))?;
    Ok((web, fields))
}

/// Refuse a form posted from another site, besides its CSRF token: by
/// `Sec-Fetch-Site` when the browser sends it (a proxy leaves it alone),
/// else by `Origin` against the host the request was sent to. Requests
/// with neither (not from a browser) still need the cookie and the token.
pub(crate) fn same_origin(headers: &HeaderMap) -> Result<(), PageError> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let refused = || {
        PageError::Api(ApiError::Forbidden(
            "this form was sent from another site: open the dashboard itself and try again".into(),
        ))
    };
    if let Some(site) = get("sec-fetch-site") {
        return match site {
            "same-origin" | "none" => Ok(()),
            _ => Err(refused()),
        };
    }
    let Some(origin) = get(header::ORIGIN.as_str()) else {
        return Ok(());
    };
    let host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    let sent_to = [get("x-forwarded-host"), get(header::HOST.as_str())];
    match host {
        Some(h) if sent_to.iter().flatten().any(|s| s.eq_ignore_ascii_case(h)) => Ok(()),
        _ => Err(refused()),
    }
}

pub(crate) async fn web(state: &SharedState, headers: &HeaderMap) -> Result<Web, PageError> {
    let Some(token) = cookie(headers, COOKIE) else {
        return Err(PageError::Login);
    };
    let session = state
        .blocking(move |store| store.auth().web_session(&token))
        .await?;
    session
        .map(|session| Web { session })
        .ok_or(PageError::Login)
}

/// Constant-time comparison of a submitted CSRF token.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Web {
    /// Check the CSRF token of a submitted form.
    pub fn check_csrf(&self, submitted: Option<&str>) -> Result<(), PageError> {
        match submitted {
            Some(t) if same_token(t, &self.session.csrf) => Ok(()),
            _ => Err(ApiError::Forbidden(
                "this form has expired or did not come from this dashboard: reload the page and try again"
                    .into(),
            )
            .into()),
        }
    }
}

/// Parse a form body (`application/x-www-form-urlencoded`).
pub(crate) fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// What every page's frame shows: the project switcher and the nav.
pub(crate) struct Layout {
    pub project: Project,
    pub projects: Vec<Project>,
    pub nav: &'static str,
    pub csrf: String,
    pub v: &'static str,
    /// The write path's state when it is behind or failing.
    pub ingest: Option<String>,
}

impl Layout {
    /// `?project=NAME` for links.
    pub fn pq(&self) -> String {
        format!("project={}", format::urlencode(&self.project.name))
    }
}

/// The project a page shows: the one named in `?project=`, else the most
/// recently active one the store names (`Store::active_projects`), else
/// `default`.
pub(crate) async fn layout(
    state: &SharedState,
    web: &Web,
    named: Option<&str>,
    nav: &'static str,
) -> Result<Layout, PageError> {
    let store = state.store.clone();
    let named = named.map(str::to_owned);
    let default_project = state.default_project.clone();
    let (project, projects) = tokio::task::spawn_blocking(move || -> Result<_, PageError> {
        let auth = store.auth();
        let projects = auth.projects()?;
        let project = match named.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            Some(name) => match projects.iter().find(|p| p.name == name || p.id == name) {
                Some(p) => p.clone(),
                None => {
                    return Err(ApiError::NotFound(format!("no project named {name:?}")).into());
                }
            },
            None => store
                .active_projects()?
                .iter()
                .find_map(|id| projects.iter().find(|p| &p.id == id).cloned())
                .unwrap_or(default_project),
        };
        Ok((project, projects))
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Layout {
        project,
        projects,
        nav,
        csrf: web.session.csrf.clone(),
        v: asset_version(),
        ingest: state.writer.status_note(),
    })
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct LoginParams {
    token: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    failed: bool,
    /// A login link's token: the page offers a button that signs in with
    /// it (a GET never uses it up, so link previews cannot burn it).
    token: Option<&'a str>,
    v: &'a str,
}

async fn index() -> Redirect {
    Redirect::to("/sessions")
}

/// `GET /login?token=…`: trade a one-time login token for a session cookie.
/// `GET /login[?token=…]`: the login page; with a token, a button that
/// posts it.
async fn login_page(Query(params): Query<LoginParams>) -> PageResult {
    let token = params.token.filter(|t| !t.is_empty() && t.len() < 200);
    html(&LoginPage {
        failed: false,
        token: token.as_deref(),
        v: asset_version(),
    })
}

/// `POST /login` (form field `token`): uses up the one-time token and
/// starts a cookie session.
async fn login(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> PageResult {
    same_origin(&headers)?;
    let fields = form_fields(&body);
    let Some(token) = field(&fields, "token")
        .map(str::to_owned)
        .filter(|t| !t.is_empty() && t.len() < 200)
    else {
        return html(&LoginPage {
            failed: true,
            token: None,
            v: asset_version(),
        });
    };
    let session = state
        .blocking(move |store| -> hive_store::Result<_> {
            let auth = store.auth();
            if !auth.consume_login_token(&token)? {
                return Ok(None);
            }
            auth.create_web_session(SESSION_TTL_MS).map(Some)
        })
        .await?;
    let Some((secret, _)) = session else {
        let page = LoginPage {
            failed: true,
            token: None,
            v: asset_version(),
        };
        return Ok((StatusCode::UNAUTHORIZED, html_headers(), page.render()?).into_response());
    };
    let cookie = format!(
        "{COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        SESSION_TTL_MS / 1000
    );
    let mut resp = Redirect::to("/sessions").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(ApiError::internal)?,
    );
    Ok(resp)
}

/// `POST /logout`: end the session and clear the cookie.
async fn logout(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> PageResult {
    posted(&state, &headers, &body).await?;
    if let Some(token) = cookie(&headers, COOKIE) {
        state
            .blocking(move |store| store.auth().delete_web_session(&token))
            .await?;
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("hive_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    Ok(resp)
}

/// A one-time login URL for the dashboard of a server at `base`
/// (`http://127.0.0.1:8080`).
pub fn login_url(store: &dyn hive_store::Store, base: &str) -> hive_store::Result<String> {
    let token = store.auth().create_login_token(LOGIN_TOKEN_TTL_MS)?;
    Ok(format!(
        "{}/login?token={token}",
        base.trim_end_matches('/')
    ))
}

#[cfg(test)]
mod tests {
    use super::same_origin;
    use axum::http::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    /// Regression (reliability suite): a form posted from another site with
    /// the session's cookie and token was accepted.
    #[test]
    fn forms_from_another_site_are_refused() {
        let ok = [
            vec![],
            vec![("host", "127.0.0.1:8080")],
            vec![("sec-fetch-site", "same-origin")],
            vec![("sec-fetch-site", "none")],
            vec![
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080"),
            ],
            vec![
                ("host", "10.0.0.5:8080"),
                ("origin", "https://hive.example"),
                ("x-forwarded-host", "hive.example"),
            ],
            // Behind a proxy that rewrites Host, the browser's word decides.
            vec![
                ("host", "127.0.0.1:8080"),
                ("origin", "https://hive.example"),
                ("sec-fetch-site", "same-origin"),
            ],
        ];
        for h in ok {
            assert!(same_origin(&headers(&h)).is_ok(), "{h:?}");
        }
        let refused = [
            vec![("sec-fetch-site", "cross-site")],
            vec![("sec-fetch-site", "same-site")],
            vec![
                ("sec-fetch-site", "cross-site"),
                ("origin", "http://127.0.0.1:8080"),
                ("host", "127.0.0.1:8080"),
            ],
            vec![
                ("host", "127.0.0.1:8080"),
                ("origin", "http://evil.example"),
            ],
            vec![("host", "127.0.0.1:8080"), ("origin", "null")],
            vec![
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8081"),
            ],
        ];
        for h in refused {
            assert!(same_origin(&headers(&h)).is_err(), "{h:?}");
        }
    }
}
