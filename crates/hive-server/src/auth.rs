//! Who is calling, and which project a request reads or writes.
//!
//! A project-scoped key always acts on its own project (a project named in
//! the request is ignored, as HoneyHive infers the project from the key).
//! An admin key writes to the project the request names (created on first
//! use) or the default project, and reads one named project or all.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use axum::http::HeaderMap;
use hive_store::{ApiKey, KeyScope};

use crate::error::ApiError;
use crate::{AppState, SharedState};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: ApiKey,
}

/// Recently authenticated keys, by secret hash.
pub struct KeyCache {
    ttl: Duration,
    map: Mutex<HashMap<String, (Instant, Option<ApiKey>)>>,
    /// A file that `hive keys revoke` rewrites after revoking a key, and
    /// when it was last seen changed: a change empties the cache, so a key
    /// revoked from the command line is refused at once.
    revocations: Option<(PathBuf, Mutex<Option<SystemTime>>)>,
    /// Until when the store is taken to be failing (its last key lookup
    /// failed): meanwhile known keys keep their last answer without asking
    /// it again, so requests do not each wait for its timeout.
    failing_until: Mutex<Option<Instant>>,
    /// Live keys this node has checked, by secret hash, kept in a file of
    /// its data directory ([`KeyCache::persistent`]): while the store fails,
    /// they are accepted after a restart too (a node started while
    /// ClickHouse is down logs their writes).
    known: Mutex<HashMap<String, ApiKey>>,
    file: Option<PathBuf>,
}

/// Most keys the file of known keys holds.
const KNOWN_MAX: usize = 10_000;

impl KeyCache {
    pub fn new(ttl: Duration) -> KeyCache {
        KeyCache {
            ttl,
            map: Mutex::new(HashMap::new()),
            revocations: None,
            failing_until: Mutex::new(None),
            known: Mutex::new(HashMap::new()),
            file: None,
        }
    }

    /// A cache that also keeps the live keys it checked in `path` (their
    /// secrets' hashes, scopes and projects; never a secret), read back
    /// here.
    pub fn persistent(ttl: Duration, path: &Path) -> KeyCache {
        let known = match std::fs::read(path) {
            Ok(bytes) => parse_known(&bytes).unwrap_or_else(|| {
                tracing::warn!(path = %path.display(), "ignoring an unreadable file of known keys");
                HashMap::new()
            }),
            Err(_) => HashMap::new(),
        };
        KeyCache {
            known: Mutex::new(known),
            file: Some(path.to_owned()),
            ..KeyCache::new(ttl)
        }
    }

    /// Record the store's answer for a secret hash in the known keys (and
    /// their file, when it changed them).
    fn learn(&self, hash: &str, key: Option<&ApiKey>) {
        let Some(path) = &self.file else { return };
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let changed = match key {
            Some(k) if known.get(hash) != Some(k) => {
                if known.len() >= KNOWN_MAX {
                    known.clear();
                }
                known.insert(hash.to_owned(), k.clone());
                true
            }
            None => known.remove(hash).is_some(),
            Some(_) => false,
        };
        if changed && let Err(e) = write_known(path, &known) {
            tracing::warn!(path = %path.display(), error = %e, "cannot save the known keys");
        }
    }

    /// Watch `path` (see [`revocation_file`]): when it changes, forget
    /// every cached key.
    pub fn watching(mut self, path: PathBuf) -> KeyCache {
        let seen = modified(&path);
        self.revocations = Some((path, Mutex::new(seen)));
        self
    }

    /// Empty the cache if the revocation file changed since last seen (one
    /// `stat` per authenticated request).
    fn check_revocations(&self) {
        let Some((path, seen)) = &self.revocations else {
            return;
        };
        let now = modified(path);
        let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
        if *seen != now {
            *seen = now;
            self.clear();
        }
    }

    /// Forget every cached key (after a revocation through the API).
    pub fn clear(&self) {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).clear();
        if let Some(path) = &self.file {
            let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
            known.clear();
            if let Err(e) = write_known(path, &known) {
                tracing::warn!(path = %path.display(), error = %e, "cannot save the known keys");
            }
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The file in a data directory that `hive keys revoke` rewrites after a
/// revocation, and a server on that directory watches.
pub fn revocation_file(data_dir: &Path) -> PathBuf {
    data_dir.join("keys-revoked")
}

/// Tell a server running on `data_dir` that a key was revoked: it empties
/// its key cache before its next authentication.
pub fn signal_revocation(data_dir: &Path) -> std::io::Result<()> {
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    std::fs::write(revocation_file(data_dir), format!("{stamp}\n"))
}

/// Project name → id, for names seen in requests.
#[derive(Default)]
pub struct ProjectCache {
    map: Mutex<HashMap<String, String>>,
}

/// The key of `Authorization: Bearer <key>` (the scheme in any case, as
/// RFC 7235 has it). A bare key, without a scheme, is accepted too: some
/// OTLP exporters configured by hand send the header that way, and a key
/// is as secret either way.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?.trim();
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest,
        _ => value,
    }
    .trim();
    (!token.is_empty() && token != "None").then_some(token)
}

/// What a refused key is told: the same whatever the reason, as the store
/// does not say which.
const REFUSED: &str = "invalid, revoked or expired API key";

/// Authenticate the request's bearer key, for any route but those under a
/// project ([`authenticate_for`]): a fine-grained data-plane key is
/// refused here.
pub fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let caller = live_key(state, headers)?;
    if caller.key.scope == KeyScope::DataPlane {
        return Err(ApiError::Forbidden(
            "a fine-grained data-plane key works only on the routes under its project \
             (/v1/projects/{project}/charts…)"
                .into(),
        ));
    }
    Ok(caller)
}

/// Authenticate the request's bearer key for a route under a project that
/// a data-plane key may call with one of `permissions`; any other key is
/// let through, for the route to check as it checks it elsewhere.
pub fn authenticate_for(
    state: &AppState,
    headers: &HeaderMap,
    permissions: &[&str],
) -> Result<Caller, ApiError> {
    let caller = live_key(state, headers)?;
    if caller.key.scope == KeyScope::DataPlane
        && !caller
            .key
            .permissions
            .iter()
            .any(|p| permissions.contains(&p.as_str()))
    {
        return Err(ApiError::Forbidden(format!(
            "this data-plane key lacks the permission {}",
            permissions.join(" or ")
        )));
    }
    Ok(caller)
}

/// The request's key, if it is live. A key that expired is refused at
/// once, even while this node holds an earlier answer for it (a cached
/// one, or one it keeps for when the store fails).
fn live_key(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let caller = authenticate_key(state, headers)?;
    if caller.key.expired(crate::body::now_ms()) {
        return Err(ApiError::Unauthorized(REFUSED.into()));
    }
    Ok(caller)
}

fn authenticate_key(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let secret = bearer(headers).ok_or_else(|| {
        ApiError::Unauthorized("missing API key: send it as 'Authorization: Bearer <key>'".into())
    })?;
    let hash = hive_store::auth::hash_secret(secret);
    state.keys.check_revocations();
    // While the store fails (the last lookup failed, or the applier cannot
    // apply), a key this node checked before keeps its last answer, so
    // writes go on being acknowledged into the ingest log. A revocation
    // made meanwhile on another node takes effect once the store answers.
    let failing = state
        .keys
        .failing_until
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_some_and(|t| Instant::now() < t)
        || state.writer.last_error().is_some();
    let cached = |map: &HashMap<String, (Instant, Option<ApiKey>)>, any_age: bool| {
        map.get(&hash)
            .filter(|(at, _)| any_age || at.elapsed() < state.keys.ttl)
            .map(|(_, key)| {
                key.clone()
                    .map(|key| Caller { key })
                    .ok_or_else(|| ApiError::Unauthorized(REFUSED.into()))
            })
    };
    let known = || {
        let known = state.keys.known.lock().unwrap_or_else(|e| e.into_inner());
        known.get(&hash).map(|key| Ok(Caller { key: key.clone() }))
    };
    if let Some(answer) = cached(
        &state.keys.map.lock().unwrap_or_else(|e| e.into_inner()),
        failing,
    )
    .or_else(|| if failing { known() } else { None })
    {
        return answer;
    }
    let key = match state.store.auth().authenticate(secret) {
        Ok(key) => {
            *state
                .keys
                .failing_until
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = None;
            key
        }
        Err(e) if e.is_transient() => {
            *state
                .keys
                .failing_until
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + state.keys.ttl);
            return cached(
                &state.keys.map.lock().unwrap_or_else(|e| e.into_inner()),
                true,
            )
            .or_else(known)
            .unwrap_or_else(|| Err(e.into()));
        }
        Err(e) => return Err(e.into()),
    };
    state.keys.learn(&hash, key.as_ref());
    {
        let mut map = state.keys.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(hash, (Instant::now(), key.clone()));
    }
    key.map(|key| Caller { key })
        .ok_or_else(|| ApiError::Unauthorized(REFUSED.into()))
}

fn parse_known(bytes: &[u8]) -> Option<HashMap<String, ApiKey>> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let mut out = HashMap::new();
    for (hash, k) in v.as_object()? {
        let text = |f: &str| k[f].as_str().map(str::to_owned);
        out.insert(
            hash.clone(),
            ApiKey {
                id: text("id")?,
                name: text("name")?,
                prefix: text("prefix")?,
                scope: KeyScope::stored(k["scope"].as_str()?)?,
                project_id: text("project_id"),
                created_at: k["created_at"].as_i64()?,
                revoked_at: None,
                expires_at: k["expires_at"].as_i64(),
                permissions: hive_store::auth::permissions_of(&k["permissions"]),
            },
        );
    }
    Some(out)
}

fn write_known(path: &Path, known: &HashMap<String, ApiKey>) -> std::io::Result<()> {
    let doc: serde_json::Map<String, serde_json::Value> = known
        .iter()
        .map(|(h, k)| (h.clone(), serde_json::to_value(k).unwrap_or_default()))
        .collect();
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp)?;
    std::io::Write::write_all(
        &mut f,
        serde_json::Value::Object(doc).to_string().as_bytes(),
    )?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.key.scope == KeyScope::Admin
    }

    pub fn require_read(&self) -> Result<(), ApiError> {
        if self.key.scope.can_read() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "this key is ingest-only and cannot read".into(),
            ))
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden("this needs an admin key".into()))
        }
    }
}

/// The project a write goes to.
pub fn project_for_write(
    state: &SharedState,
    caller: &Caller,
    named: Option<&str>,
) -> Result<String, ApiError> {
    if let Some(p) = &caller.key.project_id {
        return Ok(p.clone());
    }
    match named.map(str::trim).filter(|n| !n.is_empty()) {
        None => Ok(state.default_project.id.clone()),
        Some(name) => {
            if let Some(id) = state
                .projects
                .map
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(name)
            {
                return Ok(id.clone());
            }
            let project = state.store.auth().ensure_project(name)?;
            state
                .projects
                .map
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.to_owned(), project.id.clone());
            Ok(project.id)
        }
    }
}

/// The project a route names in its path (`/v1/projects/{project}/…`, the
/// routes HoneyHive's SDK sends its data-plane key to): its id or its name.
/// A project key may name its own project only, and is refused (403)
/// whatever it names else, so it learns nothing of other projects; an admin
/// key may name any project that exists (404 otherwise).
pub fn project_in_path(
    state: &SharedState,
    caller: &Caller,
    named: &str,
) -> Result<String, ApiError> {
    let named = named.trim();
    let auth = state.store.auth();
    if let Some(own) = &caller.key.project_id {
        if named == own.as_str() || auth.project_by_id(own)?.is_some_and(|p| p.name == named) {
            return Ok(own.clone());
        }
        return Err(ApiError::Forbidden(format!(
            "this key belongs to another project than {named:?}"
        )));
    }
    let project = match auth.project_by_id(named)? {
        Some(p) => Some(p),
        None => auth.project_by_name(named)?,
    };
    project
        .map(|p| p.id)
        .ok_or_else(|| ApiError::NotFound(format!("no project {named:?} (by id or name)")))
}

/// The project a read is limited to (`None`: every project, admin only).
pub fn project_for_read(
    state: &SharedState,
    caller: &Caller,
    named: Option<&str>,
) -> Result<Option<String>, ApiError> {
    caller.require_read()?;
    if let Some(p) = &caller.key.project_id {
        return Ok(Some(p.clone()));
    }
    match named.map(str::trim).filter(|n| !n.is_empty()) {
        None => Ok(None),
        Some(name) => {
            let auth = state.store.auth();
            let project = match auth.project_by_name(name)? {
                Some(p) => Some(p),
                None => auth.project_by_id(name)?,
            };
            project
                .map(|p| Some(p.id))
                .ok_or_else(|| ApiError::NotFound(format!("no project named {name:?}")))
        }
    }
}
