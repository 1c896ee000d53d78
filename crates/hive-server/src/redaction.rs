//! Redaction at ingest (ADR 0010): each project's rules
//! ([`hive_core::redact`]) are applied to what a write request decided
//! before it is appended to the ingest log, so nothing of a redacted value
//! reaches the log, the store or the files under the data directory.
//!
//! - Settings are kept per project in the object store (kind
//!   [`REDACTION`], the project's id as the object's id): every node of a
//!   shared ClickHouse reads the same ones.
//! - Each node keeps the enabled projects' compiled rules in memory and
//!   reloads them when they are older than [`REFRESH`]: the write that
//!   finds them stale reloads them (waiting at most [`RELOAD_WAIT`], else
//!   going on with the rules it has), so a change made on another node
//!   applies within about two seconds. A change made through this node
//!   applies at once.
//! - With no project enabled, a write costs one lock read and a clock
//!   read; OTLP bodies are then logged as they came.
//! - What each rule replaced is counted per project
//!   ([`RedactionRuntime::counts`], in `/v1/stats` and on the settings
//!   page), since this server started.
//! - A node on ClickHouse keeps a copy of the rules it last loaded in its
//!   data directory ([`RedactionRuntime::keep_copy`]) and starts with it
//!   while ClickHouse cannot be reached; a node that knows no rules at
//!   all (no copy, the store failing) refuses writes with 503 rather than
//!   log them unredacted.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use bytes::Bytes;
use hive_core::redact::{
    Counts, DEFAULT_KEYS, DEFAULT_PATTERNS, RedactionSettings, Redactor, SettingsError,
};
use hive_core::span::{KeyValue, Span};
use hive_store::objects::REDACTION;
use hive_store::{PreparedEvent, Project, Store, WriteOp};
use serde_json::{Value, json};

use crate::SharedState;
use crate::auth::{Caller, authenticate};
use crate::body::{caller_and_body, type_name};
use crate::error::{ApiError, ApiResult};

/// How old a node's copy of the rules may get before a write reloads it.
pub const REFRESH: Duration = Duration::from_secs(2);
/// How long a write waits for a reload before going on with the rules it
/// has (the store may be slow or down; the reload finishes behind it).
pub const RELOAD_WAIT: Duration = Duration::from_secs(1);

/// One project's rules, compiled.
pub struct ProjectRules {
    pub project_id: String,
    pub settings: RedactionSettings,
    pub redactor: Redactor,
}

/// Where a node's rules come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RulesSource {
    /// None loaded yet: which projects redact is unknown, so writes are
    /// refused (503) until the store answers.
    #[default]
    Unknown,
    /// The node's copy of the rules it last loaded (the store has not
    /// answered since it started).
    Copy,
    /// The store.
    Store,
}

impl RulesSource {
    pub fn name(self) -> &'static str {
        match self {
            RulesSource::Unknown => "unknown",
            RulesSource::Copy => "copy",
            RulesSource::Store => "store",
        }
    }
}

/// The rules of every enabled project, as loaded at one time.
#[derive(Default)]
pub struct Snapshot {
    loaded_at: Option<Instant>,
    source: RulesSource,
    by_project: HashMap<String, Arc<ProjectRules>>,
    /// Names of the enabled projects (spans of admin keys name theirs).
    by_name: HashMap<String, String>,
}

impl Snapshot {
    /// Whether any project redacts.
    pub fn is_empty(&self) -> bool {
        self.by_project.is_empty()
    }

    /// The rules of a project, when it redacts.
    pub fn rules(&self, project_id: &str) -> Option<&Arc<ProjectRules>> {
        self.by_project.get(project_id)
    }

    /// The rules of the project named `name`, when it redacts.
    pub fn rules_by_name(&self, name: &str) -> Option<&Arc<ProjectRules>> {
        self.by_name
            .get(name.trim())
            .and_then(|id| self.by_project.get(id))
    }
}

/// The redaction state of one server.
pub struct RedactionRuntime {
    snapshot: RwLock<Arc<Snapshot>>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    counts: Mutex<HashMap<String, Counts>>,
    last_error: Mutex<Option<String>>,
    /// The copy of the rules in the data directory, when kept; held while
    /// a snapshot is installed, so the file follows the snapshots' order.
    copy: Mutex<Option<RulesCopy>>,
}

/// A file holding the rules a node last loaded from the store.
struct RulesCopy {
    path: PathBuf,
    /// What the file holds (a load that finds the same rewrites nothing).
    written: Option<String>,
}

impl Default for RedactionRuntime {
    fn default() -> Self {
        RedactionRuntime {
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            reloading: tokio::sync::Mutex::new(()),
            counts: Mutex::new(HashMap::new()),
            last_error: Mutex::new(None),
            copy: Mutex::new(None),
        }
    }
}

/// Settings as stored (a document that no longer parses is refused
/// loudly rather than skipped: the project's writes would go unredacted).
fn stored_settings(doc: &Value) -> Result<RedactionSettings, SettingsError> {
    RedactionSettings::from_json(doc)
}

impl RedactionRuntime {
    fn current(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Load every project's settings from the store (blocking), reusing
    /// the compiled rules of settings that did not change, and keep the
    /// copy (when kept) in step.
    pub fn load(&self, store: &dyn Store) -> hive_store::Result<()> {
        let objects = store.objects().list(REDACTION, None)?;
        let mut enabled = Vec::new();
        for o in objects {
            if o.doc.get("enabled") != Some(&Value::Bool(true)) {
                continue;
            }
            let settings = match stored_settings(&o.doc) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(project_id = %o.project_id, error = %e, "stored redaction settings do not load; the default set applies");
                    RedactionSettings::default_set()
                }
            };
            enabled.push((o.project_id, settings));
        }
        let by_name = if enabled.is_empty() {
            HashMap::new()
        } else {
            store
                .auth()
                .projects()?
                .into_iter()
                .filter(|p| enabled.iter().any(|(id, _)| *id == p.id))
                .map(|p| (p.name, p.id))
                .collect()
        };
        let mut copy = self.copy.lock().unwrap_or_else(|e| e.into_inner());
        let by_project = compile_all(&self.current(), enabled)?;
        let snapshot = Snapshot {
            loaded_at: Some(Instant::now()),
            source: RulesSource::Store,
            by_project,
            by_name,
        };
        if let Some(copy) = copy.as_mut() {
            copy.save(&snapshot);
        }
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(())
    }

    /// Keep a copy of the rules in `path` (a file of the data directory):
    /// rewritten, whole and synced, whenever a load from the store changes
    /// them. When none were loaded from the store yet (it cannot be
    /// reached at start), the copy's rules apply until it answers; with no
    /// copy either, writes are refused ([`RedactionRuntime::snapshot`]).
    pub fn keep_copy(&self, path: &Path) {
        let mut copy = self.copy.lock().unwrap_or_else(|e| e.into_inner());
        let mut kept = RulesCopy {
            path: path.to_owned(),
            written: None,
        };
        let current = self.current();
        if current.source == RulesSource::Store {
            kept.save(&current);
        } else {
            match read_copy(path) {
                Ok(None) => {
                    tracing::info!(path = %path.display(), "no copy of the redaction rules: writes are refused until the store answers");
                }
                Ok(Some((text, enabled, by_name))) => match compile_all(&current, enabled) {
                    Ok(by_project) => {
                        tracing::info!(path = %path.display(), projects = by_project.len(), "redaction rules from this node's copy apply until the store answers");
                        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) =
                            Arc::new(Snapshot {
                                // The first write asks the store.
                                loaded_at: None,
                                source: RulesSource::Copy,
                                by_project,
                                by_name,
                            });
                        kept.written = Some(text);
                    }
                    Err(e) => {
                        tracing::error!(path = %path.display(), error = %e, "the copy of the redaction rules does not compile: writes are refused until the store answers");
                    }
                },
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "the copy of the redaction rules cannot be read: writes are refused until the store answers");
                }
            }
        }
        *copy = Some(kept);
    }

    /// Where the rules in use come from.
    pub fn source(&self) -> RulesSource {
        self.current().source
    }

    /// The rules to apply to a write arriving now: reloaded first when
    /// older than [`REFRESH`] (waiting at most [`RELOAD_WAIT`]). An error
    /// (503) when no rules are known at all: none loaded from the store
    /// since this node started, and no copy of them.
    pub async fn snapshot(self: &Arc<Self>, store: &Arc<dyn Store>) -> ApiResult<Arc<Snapshot>> {
        let snap = self.current();
        if snap.loaded_at.is_some_and(|at| at.elapsed() < REFRESH) {
            return self.known(snap);
        }
        let reload = {
            let this = self.clone();
            let store = store.clone();
            async move {
                let _one = this.reloading.lock().await;
                // Another write may have reloaded meanwhile.
                if this
                    .current()
                    .loaded_at
                    .is_some_and(|at| at.elapsed() < REFRESH)
                {
                    return;
                }
                let runtime = this.clone();
                let result = tokio::task::spawn_blocking(move || runtime.load(&*store)).await;
                let error = match result {
                    Ok(Ok(())) => return,
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                };
                tracing::warn!(error = %error, "cannot reload the redaction rules; the rules loaded before still apply");
                *this.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
                // Try again after REFRESH, not on every write.
                let mut s = this.snapshot.write().unwrap_or_else(|e| e.into_inner());
                let old = s.clone();
                *s = Arc::new(Snapshot {
                    loaded_at: Some(Instant::now()),
                    source: old.source,
                    by_project: old.by_project.clone(),
                    by_name: old.by_name.clone(),
                });
            }
        };
        // The reload goes on behind a write that stops waiting for it.
        let task = tokio::spawn(reload);
        let _ = tokio::time::timeout(RELOAD_WAIT, task).await;
        self.known(self.current())
    }

    /// `snap`, unless it knows no rules: which projects redact cannot be
    /// told, and a write logged now could keep what their rules replace.
    fn known(&self, snap: Arc<Snapshot>) -> ApiResult<Arc<Snapshot>> {
        if snap.source != RulesSource::Unknown {
            return Ok(snap);
        }
        let why = self
            .last_error()
            .unwrap_or_else(|| "the store has not answered yet".to_owned());
        Err(ApiError::StoreUnavailable(format!(
            "this node does not know the projects' redaction rules yet (none loaded since it \
             started, and it keeps no copy of them), so it cannot log writes without risking \
             unredacted secrets: {why}; retry shortly"
        )))
    }

    /// Add what a write redacted to the counters.
    pub fn record(&self, counts: HashMap<String, Counts>) {
        if counts.is_empty() {
            return;
        }
        let mut all = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        for (project, c) in counts {
            let into = all.entry(project).or_default();
            for (rule, n) in c.0 {
                *into.0.entry(rule).or_insert(0) += n;
            }
        }
    }

    /// Values redacted per project and rule since this server started.
    pub fn counts(&self) -> HashMap<String, Counts> {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Values redacted in one project, per rule.
    pub fn project_counts(&self, project_id: &str) -> Counts {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(project_id)
            .cloned()
            .unwrap_or_default()
    }

    /// The last reload's error, if it failed.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Projects that redact, by id.
    pub fn enabled_projects(&self) -> Vec<String> {
        self.current().by_project.keys().cloned().collect()
    }
}

/// Compile each project's settings, reusing `previous`'s rules where the
/// settings did not change; settings that do not compile get the default
/// set (a project that redacts is never left without rules).
fn compile_all(
    previous: &Snapshot,
    enabled: Vec<(String, RedactionSettings)>,
) -> hive_store::Result<HashMap<String, Arc<ProjectRules>>> {
    let mut by_project = HashMap::new();
    for (project_id, settings) in enabled {
        let rules = match previous.by_project.get(&project_id) {
            Some(p) if p.settings == settings => p.clone(),
            _ => match settings.compile() {
                Ok(redactor) => Arc::new(ProjectRules {
                    project_id: project_id.clone(),
                    settings,
                    redactor,
                }),
                Err(e) => {
                    tracing::error!(project_id = %project_id, error = %e, "redaction rules do not compile; the default set applies");
                    let settings = RedactionSettings::default_set();
                    Arc::new(ProjectRules {
                        project_id: project_id.clone(),
                        redactor: settings
                            .compile()
                            .map_err(|e| hive_store::StoreError::Corrupt(e.0))?,
                        settings,
                    })
                }
            },
        };
        by_project.insert(project_id, rules);
    }
    Ok(by_project)
}

impl RulesCopy {
    /// Write `snap`'s rules to the file when they differ from what it
    /// holds. A failure is logged: the rules in memory still apply.
    fn save(&mut self, snap: &Snapshot) {
        let names: HashMap<&str, &str> = snap
            .by_name
            .iter()
            .map(|(name, id)| (id.as_str(), name.as_str()))
            .collect();
        let projects: BTreeMap<&str, Value> = snap
            .by_project
            .iter()
            .map(|(id, rules)| {
                (
                    id.as_str(),
                    json!({"name": names.get(id.as_str()), "settings": rules.settings}),
                )
            })
            .collect();
        let text = json!({"version": 1, "projects": projects}).to_string();
        if self.written.as_deref() == Some(text.as_str()) {
            return;
        }
        match write_synced(&self.path, text.as_bytes()) {
            Ok(()) => self.written = Some(text),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot save the copy of the redaction rules");
            }
        }
    }
}

/// What a copy holds: its text, the enabled projects' settings and their
/// names (`None`: there is no copy).
type CopyContents = (
    String,
    Vec<(String, RedactionSettings)>,
    HashMap<String, String>,
);

fn read_copy(path: &Path) -> Result<Option<CopyContents>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let doc: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    if doc["version"] != 1 {
        return Err(format!("unknown version {}", doc["version"]));
    }
    let projects = doc["projects"]
        .as_object()
        .ok_or("projects: not an object")?;
    let mut enabled = Vec::new();
    let mut by_name = HashMap::new();
    for (id, p) in projects {
        let settings = RedactionSettings::from_json(&p["settings"])
            .map_err(|e| format!("projects.{id}.settings.{}", e.0))?;
        if let Some(name) = p["name"].as_str() {
            by_name.insert(name.to_owned(), id.clone());
        }
        enabled.push((id.clone(), settings));
    }
    Ok(Some((text, enabled, by_name)))
}

/// Replace `path` whole: a temporary file, synced, renamed over it, and
/// the directory synced (readable by this user only).
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

// ---- Applying the rules --------------------------------------------------

/// Redact ops (REST writes, OTLP log records) with the rules of the
/// project each names; what was redacted, per project.
pub fn redact_ops(snap: &Snapshot, ops: &mut [WriteOp]) -> HashMap<String, Counts> {
    let mut out: HashMap<String, Counts> = HashMap::new();
    if snap.is_empty() {
        return out;
    }
    for op in ops.iter_mut() {
        let project = match op {
            WriteOp::Event { event, .. } => event.project_id.clone(),
            WriteOp::Prepared(p) => p.event.project_id.clone(),
            WriteOp::Enrich { project_id, .. } => project_id.clone(),
            // A deletion carries ids only.
            WriteOp::Delete { .. } => continue,
        };
        let Some(rules) = snap.rules(&project) else {
            continue;
        };
        let r = &rules.redactor;
        let mut counts = Counts::default();
        match op {
            WriteOp::Event {
                event,
                raw,
                session_name,
                ..
            } => {
                r.redact_event(event, &mut counts);
                if let Some(raw) = raw {
                    r.redact_value(raw, &mut counts);
                }
                if let Some(name) = session_name {
                    r.redact_text(name, &mut counts);
                }
            }
            WriteOp::Prepared(p) => {
                let mut event = p.event.clone();
                let mut raw: Option<Value> = p
                    .raw_text
                    .as_deref()
                    .and_then(|t| serde_json::from_str(t).ok());
                let mut session_name = p.session_name.clone();
                r.redact_event(&mut event, &mut counts);
                if let Some(raw) = &mut raw {
                    r.redact_value(raw, &mut counts);
                }
                if let Some(name) = &mut session_name {
                    r.redact_text(name, &mut counts);
                }
                if !counts.is_empty() {
                    **p = PreparedEvent::new(event, raw.as_ref(), session_name, p.join, p.floating);
                }
            }
            WriteOp::Enrich { patch, .. } => {
                r.redact_patch(patch, &mut counts);
            }
            WriteOp::Delete { .. } => {}
        }
        if !counts.is_empty() {
            add(&mut out, &project, counts);
        }
    }
    out
}

fn add(out: &mut HashMap<String, Counts>, project: &str, counts: Counts) {
    let into = out.entry(project.to_owned()).or_default();
    for (rule, n) in counts.0 {
        *into.0.entry(rule).or_insert(0) += n;
    }
}

/// Who sent spans: what decides whose rules apply to each.
pub struct SpanOwner<'a> {
    /// The caller's key's project (`None`: an admin key).
    pub key_project: Option<&'a str>,
    /// Where an admin key's spans go when they name no project.
    pub default_project: &'a str,
}

/// Whether spans of this caller may need redacting at all (cheap: no
/// span is looked at).
pub fn spans_may_need(snap: &Snapshot, owner: &SpanOwner<'_>) -> bool {
    match owner.key_project {
        Some(p) => snap.rules(p).is_some(),
        None => !snap.is_empty(),
    }
}

/// Redact decoded spans with the rules of the project each goes to: the
/// key's project; for an admin key, the project the span names
/// (`honeyhive.project`), else the default project. Resources (shared by
/// spans) are redacted once per project. Whether anything changed, and
/// what was redacted per project.
pub fn redact_spans(
    snap: &Snapshot,
    owner: &SpanOwner<'_>,
    spans: &mut [Span],
) -> (bool, HashMap<String, Counts>) {
    let mut out: HashMap<String, Counts> = HashMap::new();
    let mut changed = false;
    // (original resource, project) → the redacted resource. The original
    // is held so that its address is not reused while the map lives.
    type Resources = HashMap<(usize, String), (Arc<Vec<KeyValue>>, Arc<Vec<KeyValue>>)>;
    let mut resources: Resources = HashMap::new();
    for span in spans.iter_mut() {
        let rules = match owner.key_project {
            Some(p) => snap.rules(p),
            None => {
                let named = span
                    .attr_str("honeyhive.project")
                    .or_else(|| span.attr_str("traceloop.association.properties.project"))
                    .filter(|p| !p.trim().is_empty());
                match named {
                    Some(name) => snap.rules_by_name(&name),
                    None => snap.rules(owner.default_project),
                }
            }
        };
        let Some(rules) = rules else { continue };
        let mut counts = Counts::default();
        let key = (
            Arc::as_ptr(&span.resource) as usize,
            rules.project_id.clone(),
        );
        let resource = match resources.get(&key) {
            Some((_, redacted)) => redacted.clone(),
            None => {
                let mut attrs = (*span.resource).clone();
                let redacted = if rules.redactor.redact_attributes(&mut attrs, &mut counts) {
                    Arc::new(attrs)
                } else {
                    span.resource.clone()
                };
                resources.insert(key, (span.resource.clone(), redacted.clone()));
                redacted
            }
        };
        span.resource = resource;
        rules.redactor.redact_span(span, &mut counts);
        if !counts.is_empty() {
            changed = true;
            add(&mut out, &rules.project_id, counts);
        }
    }
    (changed, out)
}

// ---- API -----------------------------------------------------------------

/// The project whose settings a request reads or changes: the key's own;
/// for an admin key, the one named (`?project=` or `"project"`, created on
/// first use by a change), else the default project.
fn settings_project(
    state: &SharedState,
    caller: &Caller,
    named: Option<&str>,
    create: bool,
) -> ApiResult<Project> {
    caller.require_read()?;
    let auth = state.store.auth();
    let id = match (
        &caller.key.project_id,
        named.map(str::trim).filter(|n| !n.is_empty()),
    ) {
        (Some(p), _) => p.clone(),
        (None, None) => state.default_project.id.clone(),
        (None, Some(name)) => {
            if let Some(p) = auth.project_by_name(name)?.or(auth.project_by_id(name)?) {
                return Ok(p);
            }
            if !create {
                return Err(ApiError::NotFound(format!("no project named {name:?}")));
            }
            return Ok(auth.ensure_project(name)?);
        }
    };
    auth.project_by_id(&id)?
        .ok_or_else(|| ApiError::NotFound(format!("no project {id:?}")))
}

/// A project's stored settings (the defaults, disabled, when none).
pub fn load_settings(store: &dyn Store, project_id: &str) -> hive_store::Result<RedactionSettings> {
    Ok(store
        .objects()
        .get(REDACTION, Some(project_id), project_id)?
        .and_then(|o| stored_settings(&o.doc).ok())
        .unwrap_or_default())
}

/// Validate and save a project's settings, and apply them on this node at
/// once.
pub async fn save_settings(
    state: &SharedState,
    project_id: &str,
    settings: RedactionSettings,
) -> ApiResult<()> {
    let doc = serde_json::to_value(&settings).map_err(ApiError::internal)?;
    let project_id = project_id.to_owned();
    let runtime = state.redaction.clone();
    state
        .blocking(move |store| {
            store
                .objects()
                .put(REDACTION, &project_id, &project_id, &doc)?;
            runtime.load(store)
        })
        .await
}

/// The default set, for the API and the settings page.
pub fn default_rules_json() -> Value {
    json!({
        "keys": DEFAULT_KEYS,
        "patterns": DEFAULT_PATTERNS
            .iter()
            .map(|(name, regex, luhn)| json!({"name": name, "regex": regex, "luhn_check": luhn}))
            .collect::<Vec<_>>(),
    })
}

fn settings_json(state: &SharedState, project: &Project, settings: &RedactionSettings) -> Value {
    let counts = state.redaction.project_counts(&project.id);
    json!({
        "success": true,
        "project": {"id": project.id, "name": project.name},
        "settings": settings,
        "default_rules": default_rules_json(),
        "redacted": counts.0,
        "redacted_total": counts.total(),
        "refresh_seconds": REFRESH.as_secs(),
    })
}

/// `GET /v1/redaction[?project=NAME]`: a project's settings, the default
/// set and what was redacted since the server started.
#[utoipa::path(
    get,
    path = "/v1/redaction",
    tag = "admin",
    params(("project" = Option<String>, Query, description = "The project (admin keys; a project key always reads its own)")),
    responses((status = 200, description = "The project's redaction settings, the default rules with their expressions, and what each rule replaced since the server started", body = Object), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "No such project", body = crate::openapi::ErrorBody))
)]
pub async fn get_settings(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let caller = authenticate(&state, &headers)?;
    let project = settings_project(
        &state,
        &caller,
        params.get("project").map(String::as_str),
        false,
    )?;
    let settings = load_settings(&*state.store, &project.id)?;
    Ok(Json(settings_json(&state, &project, &settings)))
}

/// `PUT /v1/redaction`: replace a project's settings (`enabled`,
/// `defaults`, `disabled_defaults`, `keys`, `patterns`; `project` for an
/// admin key). Invalid rules get a 400 naming the field.
#[utoipa::path(
    put,
    path = "/v1/redaction",
    tag = "admin",
    request_body(content = Object, description = "`enabled`, `defaults`, `disabled_defaults`, `keys`, `patterns` (`[{name, regex}]`), and `project` for an admin key", content_type = "application/json"),
    responses((status = 200, description = "The settings saved", body = Object), (status = 400, description = "An invalid rule; the message names the field", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody))
)]
pub async fn put_settings(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (caller, mut obj) = caller_and_body(&state, &headers, &body)?;
    let named = match obj.remove("project") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            return Err(ApiError::bad(format!(
                "project must be a string, got {}",
                type_name(&other)
            )));
        }
    };
    let project = settings_project(&state, &caller, named.as_deref(), true)?;
    let settings =
        RedactionSettings::from_json(&Value::Object(obj)).map_err(|e| ApiError::bad(e.0))?;
    save_settings(&state, &project.id, settings.clone()).await?;
    tracing::info!(project = %project.name, enabled = settings.enabled, "redaction settings changed");
    Ok(Json(settings_json(&state, &project, &settings)))
}

/// What `/v1/stats` says of redaction: per project (its name, whether it
/// redacts) the values replaced per rule since the server started.
pub fn stats_json(state: &SharedState) -> Value {
    let counts = state.redaction.counts();
    let enabled = state.redaction.enabled_projects();
    let names: HashMap<String, String> = state
        .store
        .auth()
        .projects()
        .map(|ps| ps.into_iter().map(|p| (p.id, p.name)).collect())
        .unwrap_or_default();
    let mut ids: Vec<&String> = counts.keys().chain(enabled.iter()).collect();
    ids.sort();
    ids.dedup();
    let projects: serde_json::Map<String, Value> = ids
        .into_iter()
        .map(|id| {
            let c = counts.get(id).cloned().unwrap_or_default();
            (
                id.clone(),
                json!({
                    "name": names.get(id),
                    "enabled": enabled.contains(id),
                    "redacted": c.0,
                    "redacted_total": c.total(),
                }),
            )
        })
        .collect();
    json!({
        "projects": projects,
        "redacted_total": counts.values().map(Counts::total).sum::<u64>(),
        "reload_error": state.redaction.last_error(),
        "rules_from": state.redaction.source().name(),
    })
}
