//! Projects and API keys. Keys are `hh_` + 43 random characters, shown once
//! and stored as a SHA-256 hash (they are high-entropy, so a fast hash is
//! the right tool: there is nothing to brute-force).

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Result, StoreError};

/// A project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub created_at: i64,
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyScope {
    /// Write to one project (sessions, events, enrichments, spans); no reads.
    Ingest,
    /// Read and write one project.
    ReadWrite,
    /// Everything, in every project, including key management.
    Admin,
}

impl KeyScope {
    pub fn name(self) -> &'static str {
        match self {
            KeyScope::Ingest => "ingest",
            KeyScope::ReadWrite => "read_write",
            KeyScope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<KeyScope> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "ingest" | "ingest_only" => Some(KeyScope::Ingest),
            "read_write" | "rw" | "readwrite" => Some(KeyScope::ReadWrite),
            "admin" => Some(KeyScope::Admin),
            _ => None,
        }
    }

    pub fn can_read(self) -> bool {
        !matches!(self, KeyScope::Ingest)
    }
}

/// A stored key (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    pub scope: KeyScope,
    /// `None` for admin keys.
    pub project_id: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A key to create.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub scope: KeyScope,
    pub project_id: Option<String>,
}

/// Storage of projects, keys and dashboard login tokens.
pub trait AuthStore: Send + Sync {
    /// The project with this name, created if missing.
    /// The project of this name (trimmed; see [`project_name`]), created
    /// when absent.
    fn ensure_project(&self, name: &str) -> Result<Project>;
    fn project_by_name(&self, name: &str) -> Result<Option<Project>>;
    fn project_by_id(&self, id: &str) -> Result<Option<Project>>;
    fn projects(&self) -> Result<Vec<Project>>;
    /// Create a key; returns it and its secret (shown once).
    fn create_key(&self, new: &NewKey) -> Result<(ApiKey, String)>;
    fn keys(&self) -> Result<Vec<ApiKey>>;
    /// Revoke by id or by secret prefix. Returns false when nothing matched.
    fn revoke_key(&self, id_or_prefix: &str) -> Result<bool>;
    /// The live key with this secret.
    fn authenticate(&self, secret: &str) -> Result<Option<ApiKey>>;
    /// On first start: the default project and an admin key (its secret).
    /// `None` when keys already exist.
    fn bootstrap(&self) -> Result<Option<String>>;
    /// A one-time dashboard login token for an admin session.
    fn create_login_token(&self, ttl_ms: i64) -> Result<String>;
    /// Consume a login token; true when it was valid and unused.
    fn consume_login_token(&self, token: &str) -> Result<bool>;

    /// Start a dashboard session: returns the cookie's secret token (only
    /// its hash is stored) and the session.
    fn create_web_session(&self, ttl_ms: i64) -> Result<(String, WebSession)>;
    /// The live dashboard session of a cookie token.
    fn web_session(&self, token: &str) -> Result<Option<WebSession>>;
    /// End a dashboard session (logout).
    fn delete_web_session(&self, token: &str) -> Result<()>;

    /// Save a named dashboard view (a page and its query string).
    fn save_view(&self, project_id: &str, name: &str, page: &str, query: &str)
    -> Result<SavedView>;
    /// The saved views of a project, by name.
    fn views(&self, project_id: &str) -> Result<Vec<SavedView>>;
    /// Delete a saved view. Returns false when nothing matched.
    fn delete_view(&self, project_id: &str, id: &str) -> Result<bool>;
}

/// A dashboard login session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// The token every state-changing form carries.
    pub csrf: String,
    pub expires_at: i64,
}

/// A saved dashboard view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SavedView {
    pub id: String,
    pub project_id: String,
    pub name: String,
    /// `sessions` or `events`.
    pub page: String,
    /// The page's query string (filters, time range, sort).
    pub query: String,
    pub created_at: i64,
}

/// SHA-256 of a secret, hex.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new random secret: `prefix` + 43 URL-safe characters (256 bits).
pub fn new_secret(prefix: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = [0u8; 43];
    // getrandom only fails when the OS has no entropy source at all.
    if getrandom::fill(&mut bytes).is_err() {
        let fallback = uuid::Uuid::new_v4();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = fallback.as_bytes()[i % 16] ^ (i as u8);
        }
    }
    let mut out = String::with_capacity(prefix.len() + 43);
    out.push_str(prefix);
    for b in bytes {
        out.push(ALPHABET[(b & 63) as usize] as char);
    }
    out
}

/// A project name as kept: trimmed, 1 to 200 characters (as the message
/// and the API's schema say: a name in a script of three bytes a
/// character was cut at 66), no control character (a NUL or a newline
/// would reach URLs, logs and the command line's list).
pub fn project_name(name: &str) -> Result<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(
            "project: a name is 1 to 200 characters without control characters".into(),
        ));
    }
    Ok(name)
}
