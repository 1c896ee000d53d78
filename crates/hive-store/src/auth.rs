//! Projects and API keys. A key is shown once and stored as a SHA-256 hash
//! (keys are high-entropy, so a fast hash is the right tool: there is
//! nothing to brute-force). Keys take the shapes of HoneyHive's typed keys,
//! which its SDK checks before it sends anything (see [`new_key_secret`]).

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
    /// HoneyHive's fine-grained data-plane key: only the routes under its
    /// project (`/v1/projects/{project}/…`) that its permissions name
    /// ([`DATA_PLANE_PERMISSIONS`]). Made by
    /// `POST /v1/projects/{project}/fine_grained_api_keys` alone.
    DataPlane,
}

/// The permissions a fine-grained data-plane key may carry: HoneyHive's
/// names for the operations on a project's charts, the data-plane routes
/// hive serves. (`put` and `patch` both allow an update.)
pub const DATA_PLANE_PERMISSIONS: &[&str] = &[
    "project.chart.list",
    "project.chart.get",
    "project.chart.post",
    "project.chart.put",
    "project.chart.patch",
    "project.chart.delete",
];

impl KeyScope {
    pub fn name(self) -> &'static str {
        match self {
            KeyScope::Ingest => "ingest",
            KeyScope::ReadWrite => "read_write",
            KeyScope::Admin => "admin",
            KeyScope::DataPlane => "data_plane",
        }
    }

    /// A scope a user may ask for by name (the API's, the command line's
    /// and the dashboard's): not a data-plane key, which is made with its
    /// permissions by its own route.
    pub fn parse(s: &str) -> Option<KeyScope> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "ingest" | "ingest_only" => Some(KeyScope::Ingest),
            "read_write" | "rw" | "readwrite" => Some(KeyScope::ReadWrite),
            "admin" => Some(KeyScope::Admin),
            _ => None,
        }
    }

    /// A scope as stored ([`KeyScope::name`]).
    pub fn stored(s: &str) -> Option<KeyScope> {
        match s {
            "data_plane" => Some(KeyScope::DataPlane),
            _ => KeyScope::parse(s),
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
    /// When the key stops working (epoch ms); `None`: never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// A data-plane key's permissions ([`DATA_PLANE_PERMISSIONS`]); empty
    /// for every other scope.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub permissions: Vec<String>,
}

impl ApiKey {
    /// Whether the key has expired at `now_ms`.
    pub fn expired(&self, now_ms: i64) -> bool {
        self.expires_at.is_some_and(|t| now_ms >= t)
    }
}

/// A key to create.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub scope: KeyScope,
    pub project_id: Option<String>,
    /// When it stops working (epoch ms); `None`: never.
    pub expires_at: Option<i64>,
    /// A data-plane key's permissions; empty for every other scope.
    pub permissions: Vec<String>,
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
    /// The live key with this secret: neither revoked nor expired.
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

/// A key's permissions as a stored document keeps them (a JSON list of
/// strings; anything else is none).
pub fn permissions_of(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The project of a key to create, after checking that its scope, project
/// and permissions go together: every key but an admin one has a project,
/// and a data-plane key alone has permissions, at least one, each of
/// [`DATA_PLANE_PERMISSIONS`].
pub(crate) fn checked_project(new: &NewKey) -> Result<Option<String>> {
    let project_id = match new.scope {
        KeyScope::Admin => None,
        _ => Some(new.project_id.clone().ok_or_else(|| {
            StoreError::Invalid(format!("a {} key needs a project", new.scope.name()))
        })?),
    };
    match (new.scope, new.permissions.as_slice()) {
        (KeyScope::DataPlane, []) => Err(StoreError::Invalid(
            "a data-plane key needs at least one permission".into(),
        )),
        (KeyScope::DataPlane, permissions) => {
            match permissions
                .iter()
                .position(|p| !DATA_PLANE_PERMISSIONS.contains(&p.as_str()))
            {
                Some(i) => Err(StoreError::Invalid(format!(
                    "permissions[{i}]: {:?} is not one a data-plane key can carry here: {}",
                    permissions[i],
                    DATA_PLANE_PERMISSIONS.join(", ")
                ))),
                None => Ok(project_id),
            }
        }
        (_, []) => Ok(project_id),
        (scope, _) => Err(StoreError::Invalid(format!(
            "a {} key carries no permissions",
            scope.name()
        ))),
    }
}

/// SHA-256 of a secret, hex.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The secret of a new key of `scope`, in the shape HoneyHive's SDK
/// expects of that kind of key (it refuses a typed key of another shape at
/// start, before sending anything):
///
/// - an ingest key is an ingestion key: `hh_ingst_`, 24 letters and digits,
///   `_`, 64 URL-safe characters (`HH_INGESTION_API_KEY`);
/// - a read-write key is a data-plane key, `hh_fgdp_` and the same shape
///   (`HH_DATA_PLANE_API_KEY`: the SDK sends it to the routes that name a
///   project in their path);
/// - an admin key is `hh_` + 43 URL-safe characters, as every key was
///   before; the SDK does not check a project API key's shape.
///
/// Every kind also works as `HH_API_KEY`.
pub fn new_key_secret(scope: KeyScope) -> String {
    let kind = match scope {
        KeyScope::Ingest => INGEST_KEY_PREFIX,
        KeyScope::ReadWrite | KeyScope::DataPlane => DATA_PLANE_KEY_PREFIX,
        KeyScope::Admin => return new_secret("hh_"),
    };
    const ALNUM: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(kind.len() + 24 + 1 + 64);
    out.push_str(kind);
    // 24 letters and digits (143 bits), drawn without bias: bytes of 248 or
    // more are skipped, so each of the 62 characters is 4 values of 248.
    while out.len() < kind.len() + 24 {
        let mut bytes = [0u8; 32];
        fill_random(&mut bytes);
        for b in bytes {
            if b < 248 && out.len() < kind.len() + 24 {
                out.push(ALNUM[(b % 62) as usize] as char);
            }
        }
    }
    out.push('_');
    let mut bytes = [0u8; 64];
    fill_random(&mut bytes);
    for b in bytes {
        out.push(URL_SAFE[(b & 63) as usize] as char);
    }
    out
}

/// The start of an ingest key's secret.
pub const INGEST_KEY_PREFIX: &str = "hh_ingst_";
/// The start of a read-write (data-plane) key's secret.
pub const DATA_PLANE_KEY_PREFIX: &str = "hh_fgdp_";

/// What a key list shows of a secret to recognise it (and what `hive keys
/// revoke` takes): its kind's start and the 8 characters after it.
pub fn key_prefix(secret: &str) -> String {
    let kind = [INGEST_KEY_PREFIX, DATA_PLANE_KEY_PREFIX, "hh_"]
        .into_iter()
        .find(|k| secret.starts_with(k))
        .unwrap_or("");
    secret.chars().take(kind.len() + 8).collect()
}

const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Random bytes from the operating system.
fn fill_random(bytes: &mut [u8]) {
    // getrandom only fails when the OS has no entropy source at all.
    if getrandom::fill(bytes).is_err() {
        let fallback = uuid::Uuid::new_v4();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = fallback.as_bytes()[i % 16] ^ (i as u8);
        }
    }
}

/// A new random secret: `prefix` + 43 URL-safe characters (256 bits).
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 43];
    fill_random(&mut bytes);
    let mut out = String::with_capacity(prefix.len() + 43);
    out.push_str(prefix);
    for b in bytes {
        out.push(URL_SAFE[(b & 63) as usize] as char);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The check HoneyHive's SDK makes of a typed key (`resolved.py`:
    /// the prefix, then `^[A-Za-z0-9]{24}_[A-Za-z0-9_-]{64}$`).
    fn sdk_accepts(secret: &str, prefix: &str) -> bool {
        let Some(rest) = secret.strip_prefix(prefix) else {
            return false;
        };
        let b = rest.as_bytes();
        b.len() == 24 + 1 + 64
            && b[..24].iter().all(u8::is_ascii_alphanumeric)
            && b[24] == b'_'
            && b[25..]
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
    }

    #[test]
    fn keys_take_the_shape_of_their_kind() {
        for _ in 0..500 {
            let ingest = new_key_secret(KeyScope::Ingest);
            assert!(sdk_accepts(&ingest, "hh_ingst_"), "{ingest}");
            let data_plane = new_key_secret(KeyScope::ReadWrite);
            assert!(sdk_accepts(&data_plane, "hh_fgdp_"), "{data_plane}");
            let admin = new_key_secret(KeyScope::Admin);
            assert!(admin.starts_with("hh_") && admin.len() == 46, "{admin}");
            assert!(!sdk_accepts(&admin, "hh_ingst_") && !sdk_accepts(&admin, "hh_fgdp_"));
        }
        // Every letter and digit turns up in the id part (no bias that
        // leaves some out), and two keys differ.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            seen.extend(new_key_secret(KeyScope::Ingest)[9..33].chars());
        }
        assert_eq!(seen.len(), 62);
        assert_ne!(
            new_key_secret(KeyScope::Ingest),
            new_key_secret(KeyScope::Ingest)
        );
    }

    #[test]
    fn a_key_is_recognised_by_its_kind_and_eight_characters() {
        assert_eq!(key_prefix("hh_ingst_AbCdEfGhIj_x"), "hh_ingst_AbCdEfGh");
        assert_eq!(key_prefix("hh_fgdp_AbCdEfGhIj_x"), "hh_fgdp_AbCdEfGh");
        assert_eq!(key_prefix("hh_AbCdEfGhIjKl"), "hh_AbCdEfGh");
        assert_eq!(key_prefix("short"), "short");
    }
}
