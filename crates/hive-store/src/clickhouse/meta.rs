//! Projects, keys, dashboard logins, saved views, saved charts and alert
//! rules in ClickHouse, so several nodes share them. Each is a small
//! document in `hive_meta`, versioned: a change or a deletion is a new
//! version, the highest version of a (kind, id) is the current one.
//!
//! Identifiers that must agree between nodes without a lock are derived
//! from content: a project's id from its name, a key's row from the hash of
//! its secret. A login link is used by the first use recorded for it.

use std::sync::Arc;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::http::{Client, lit};
use super::{next_version, now_ms};
use crate::auth::{
    ApiKey, AuthStore, KeyScope, NewKey, Project, SavedView, WebSession, hash_secret, key_prefix,
    new_key_secret, new_secret,
};
use crate::objects::{Evaluation, ObjectPut, ObjectStore, StoredObject};
use crate::{Result, StoreError};

pub(super) struct Meta {
    pub client: Arc<Client>,
    /// This node's name (claims).
    pub node: String,
}

/// How long a claimant waits after its claim is in before it reads who won;
/// a claim whose check and insert took more than half of it abstains.
pub(super) const CLAIM_SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// How long a round of claims stands: a key still claimed for after this
/// (its winner failed or died before storing the evaluation) opens a new
/// round. Longer than any evaluation takes (a few statements, each bounded
/// by the statement timeout).
pub(super) const CLAIM_GRACE: std::time::Duration = std::time::Duration::from_secs(300);

/// How long a rule's new state may take to reach a majority of its shard's
/// replicas before storing it fails.
const ALERT_STATE_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// The current version of a metadata row.
struct Current {
    id: String,
    project_id: String,
    doc: Value,
    created_at: i64,
    updated_at: i64,
}

impl Meta {
    #[allow(clippy::too_many_arguments)]
    fn put_row(
        &self,
        kind: &str,
        id: &str,
        project_id: &str,
        doc: &Value,
        created_at: i64,
        updated_at: i64,
        version: u64,
        deleted: bool,
    ) -> Result<()> {
        let row = json!({
            "kind": kind, "id": id, "project_id": project_id, "doc": doc.to_string(),
            "created_at": created_at, "updated_at": updated_at, "version": version,
            "deleted": u8::from(deleted),
        });
        self.insert_rows(&[row])
    }

    /// Insert `hive_meta` rows in one statement. A rule's state says which
    /// evaluation it follows, and so what the next claim is for, and a
    /// pending notification is what delivers it (ADR 0008): lost with a
    /// replica, the evaluation would be claimed, and notified, again, or
    /// never notified. So on a replicated cluster those go to a majority
    /// of the shard's replicas before they count.
    fn insert_rows(&self, rows: &[Value]) -> Result<()> {
        let once = [crate::objects::ALERT, crate::objects::NOTIFICATION].map(object_kind);
        if rows
            .iter()
            .any(|r| once.iter().any(|k| r["kind"].as_str() == Some(k)))
        {
            return self
                .client
                .insert_in_quorum("hive_meta", rows, ALERT_STATE_WITHIN);
        }
        self.client.insert("hive_meta", rows)
    }

    /// Live rows of a kind (`id`, `project` narrow them), oldest first.
    fn current(&self, kind: &str, id: Option<&str>, project: Option<&str>) -> Result<Vec<Current>> {
        let mut cond = format!("kind = {}", lit(kind));
        if let Some(id) = id {
            cond.push_str(&format!(" AND id = {}", lit(id)));
        }
        let having = match project {
            Some(p) => format!("del = 0 AND pid = {}", lit(p)),
            None => "del = 0".to_owned(),
        };
        let rows = self.client.rows(&format!(
            "SELECT id, argMax(project_id, version) AS pid, argMax(doc, version) AS d, \
             argMax(created_at, version) AS c, argMax(updated_at, version) AS u, \
             argMax(deleted, version) AS del FROM hive_meta WHERE {cond} \
             GROUP BY id HAVING {having} ORDER BY c, id"
        ))?;
        rows.into_iter()
            .map(|r| {
                Ok(Current {
                    id: r["id"].as_str().unwrap_or_default().to_owned(),
                    project_id: r["pid"].as_str().unwrap_or_default().to_owned(),
                    doc: serde_json::from_str(r["d"].as_str().unwrap_or("null"))
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    created_at: r["c"].as_i64().unwrap_or(0),
                    updated_at: r["u"].as_i64().unwrap_or(0),
                })
            })
            .collect()
    }

    fn one(&self, kind: &str, id: &str) -> Result<Option<Current>> {
        Ok(self.current(kind, Some(id), None)?.into_iter().next())
    }
}

/// A project's id: the same on every node for the same name.
pub(super) fn project_id_of(name: &str) -> String {
    let h = Sha256::digest(format!("hive-project\0{name}").as_bytes());
    let x = hex::encode(&h[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

fn project_of(c: Current) -> Project {
    Project {
        id: c.id,
        name: c.doc["name"].as_str().unwrap_or_default().to_owned(),
        created_at: c.created_at,
    }
}

fn key_of(c: &Current) -> ApiKey {
    let d = &c.doc;
    ApiKey {
        id: d["id"].as_str().unwrap_or_default().to_owned(),
        name: d["name"].as_str().unwrap_or_default().to_owned(),
        prefix: d["prefix"].as_str().unwrap_or_default().to_owned(),
        scope: d["scope"]
            .as_str()
            .and_then(KeyScope::stored)
            .unwrap_or(KeyScope::Ingest),
        project_id: d["project_id"].as_str().map(str::to_owned),
        created_at: c.created_at,
        revoked_at: d["revoked_at"].as_i64(),
        expires_at: d["expires_at"].as_i64(),
        permissions: crate::auth::permissions_of(&d["permissions"]),
    }
}

/// The row a key is kept under: the hash of its secret, which every
/// version looks a key up by, unless the key needs a node that knows what
/// earlier versions do not (an expiry, the data-plane scope): those are
/// kept under [`later_key_row_id`], where an earlier node sharing the
/// cluster does not find them and refuses the key, rather than taking it
/// for a key that never expires or for an ingest key.
fn key_row_id(k: &ApiKey, secret: &str) -> String {
    if k.expires_at.is_some() || k.scope == KeyScope::DataPlane {
        later_key_row_id(secret)
    } else {
        hash_secret(secret)
    }
}

fn later_key_row_id(secret: &str) -> String {
    hash_secret(&format!("hive-key-2\0{secret}"))
}

fn key_doc(k: &ApiKey) -> Value {
    json!({"id": k.id, "name": k.name, "prefix": k.prefix, "scope": k.scope.name(),
           "project_id": k.project_id, "revoked_at": k.revoked_at, "expires_at": k.expires_at,
           "permissions": k.permissions})
}

impl AuthStore for Meta {
    fn ensure_project(&self, name: &str) -> Result<Project> {
        let name = crate::auth::project_name(name)?;
        if let Some(p) = self.project_by_name(name)? {
            return Ok(p);
        }
        let id = project_id_of(name);
        let now = now_ms();
        // The earliest creation wins: its version is the highest.
        self.put_row(
            "project",
            &id,
            "",
            &json!({"name": name}),
            now,
            now,
            u64::MAX - now.max(0) as u64,
            false,
        )?;
        self.project_by_id(&id)?
            .ok_or_else(|| StoreError::Corrupt(format!("project {name:?} vanished")))
    }

    fn project_by_name(&self, name: &str) -> Result<Option<Project>> {
        Ok(self
            .project_by_id(&project_id_of(name.trim()))?
            .filter(|p| p.name == name.trim()))
    }

    fn project_by_id(&self, id: &str) -> Result<Option<Project>> {
        Ok(self.one("project", id)?.map(project_of))
    }

    fn projects(&self) -> Result<Vec<Project>> {
        let mut v: Vec<Project> = self
            .current("project", None, None)?
            .into_iter()
            .map(project_of)
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    fn create_key(&self, new: &NewKey) -> Result<(ApiKey, String)> {
        let project_id = crate::auth::checked_project(new)?;
        let secret = new_key_secret(new.scope);
        let key = ApiKey {
            id: uuid::Uuid::new_v4().to_string(),
            name: new.name.clone(),
            prefix: key_prefix(&secret),
            scope: new.scope,
            project_id,
            created_at: now_ms(),
            revoked_at: None,
            expires_at: new.expires_at,
            permissions: new.permissions.clone(),
        };
        self.put_row(
            "key",
            &key_row_id(&key, &secret),
            key.project_id.as_deref().unwrap_or(""),
            &key_doc(&key),
            key.created_at,
            key.created_at,
            next_version(),
            false,
        )?;
        Ok((key, secret))
    }

    fn keys(&self) -> Result<Vec<ApiKey>> {
        Ok(self
            .current("key", None, None)?
            .iter()
            .map(key_of)
            .collect())
    }

    fn revoke_key(&self, id_or_prefix: &str) -> Result<bool> {
        if id_or_prefix.len() < 6 {
            return Ok(false);
        }
        let mut any = false;
        for c in self.current("key", None, None)? {
            let mut k = key_of(&c);
            if k.revoked_at.is_none() && (k.id == id_or_prefix || k.prefix == id_or_prefix) {
                k.revoked_at = Some(now_ms());
                self.put_row(
                    "key",
                    &c.id,
                    &c.project_id,
                    &key_doc(&k),
                    c.created_at,
                    now_ms(),
                    next_version(),
                    false,
                )?;
                any = true;
            }
        }
        Ok(any)
    }

    fn authenticate(&self, secret: &str) -> Result<Option<ApiKey>> {
        let row = match self.one("key", &hash_secret(secret))? {
            Some(row) => Some(row),
            None => self.one("key", &later_key_row_id(secret))?,
        };
        Ok(row
            .map(|c| key_of(&c))
            .filter(|k| k.revoked_at.is_none() && !k.expired(now_ms())))
    }

    fn bootstrap(&self) -> Result<Option<String>> {
        let has_keys = !self.current("key", None, None)?.is_empty();
        self.ensure_project("default")?;
        if has_keys {
            return Ok(None);
        }
        let (_, secret) = self.create_key(&NewKey {
            name: "admin (first start)".into(),
            scope: KeyScope::Admin,
            project_id: None,
            expires_at: None,
            permissions: Vec::new(),
        })?;
        Ok(Some(secret))
    }

    fn create_login_token(&self, ttl_ms: i64) -> Result<String> {
        let token = new_secret("");
        let now = now_ms();
        self.put_row(
            "login",
            &hash_secret(&token),
            "",
            &json!({"expires_at": now + ttl_ms}),
            now,
            now,
            next_version(),
            false,
        )?;
        Ok(token)
    }

    fn consume_login_token(&self, token: &str) -> Result<bool> {
        let hash = hash_secret(token);
        let Some(c) = self.one("login", &hash)? else {
            return Ok(false);
        };
        if c.doc["expires_at"].as_i64().unwrap_or(0) < now_ms() {
            return Ok(false);
        }
        // Record this use; the first use recorded (lowest id) wins.
        let mine = format!("{hash}/{:020}/{}", next_version(), uuid::Uuid::new_v4());
        let now = now_ms();
        self.put_row(
            "login_use",
            &mine,
            "",
            &json!({}),
            now,
            now,
            next_version(),
            false,
        )?;
        let first = self.client.rows(&format!(
            "SELECT min(id) AS first FROM hive_meta WHERE kind = 'login_use' AND id > {} AND id < {}",
            lit(&format!("{hash}/")),
            lit(&format!("{hash}0"))
        ))?;
        Ok(first
            .first()
            .and_then(|r| r["first"].as_str())
            .is_some_and(|f| f == mine))
    }

    fn create_web_session(&self, ttl_ms: i64) -> Result<(String, WebSession)> {
        let token = new_secret("");
        let session = WebSession {
            csrf: new_secret(""),
            expires_at: now_ms() + ttl_ms,
        };
        let now = now_ms();
        self.put_row(
            "web_session",
            &hash_secret(&token),
            "",
            &json!({"csrf": session.csrf, "expires_at": session.expires_at}),
            now,
            now,
            next_version(),
            false,
        )?;
        Ok((token, session))
    }

    fn web_session(&self, token: &str) -> Result<Option<WebSession>> {
        Ok(self
            .one("web_session", &hash_secret(token))?
            .map(|c| WebSession {
                csrf: c.doc["csrf"].as_str().unwrap_or_default().to_owned(),
                expires_at: c.doc["expires_at"].as_i64().unwrap_or(0),
            })
            .filter(|s| s.expires_at >= now_ms()))
    }

    fn delete_web_session(&self, token: &str) -> Result<()> {
        let now = now_ms();
        self.put_row(
            "web_session",
            &hash_secret(token),
            "",
            &json!({}),
            now,
            now,
            next_version(),
            true,
        )
    }

    fn save_view(
        &self,
        project_id: &str,
        name: &str,
        page: &str,
        query: &str,
    ) -> Result<SavedView> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(StoreError::Invalid(
                "a view name must be 1 to 200 characters".into(),
            ));
        }
        if query.len() > 8192 {
            return Err(StoreError::Invalid("the view's query is too long".into()));
        }
        let view = SavedView {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: project_id.to_owned(),
            name: name.to_owned(),
            page: page.to_owned(),
            query: query.to_owned(),
            created_at: now_ms(),
        };
        self.put_row(
            "view",
            &view.id,
            project_id,
            &json!({"name": view.name, "page": view.page, "query": view.query}),
            view.created_at,
            view.created_at,
            next_version(),
            false,
        )?;
        Ok(view)
    }

    fn views(&self, project_id: &str) -> Result<Vec<SavedView>> {
        let mut v: Vec<SavedView> = self
            .current("view", None, Some(project_id))?
            .into_iter()
            .map(|c| SavedView {
                id: c.id,
                project_id: c.project_id,
                name: c.doc["name"].as_str().unwrap_or_default().to_owned(),
                page: c.doc["page"].as_str().unwrap_or_default().to_owned(),
                query: c.doc["query"].as_str().unwrap_or_default().to_owned(),
                created_at: c.created_at,
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name).then(a.created_at.cmp(&b.created_at)));
        Ok(v)
    }

    fn delete_view(&self, project_id: &str, id: &str) -> Result<bool> {
        let Some(c) = self.one("view", id)?.filter(|c| c.project_id == project_id) else {
            return Ok(false);
        };
        self.put_row(
            "view",
            id,
            &c.project_id,
            &c.doc,
            c.created_at,
            now_ms(),
            next_version(),
            true,
        )?;
        Ok(true)
    }
}

/// What `hive migrate` writes: another store's keys and objects as they
/// were, with their times.
impl Meta {
    /// A key of another store, kept under the hash of its secret (`hash`,
    /// [`hash_secret`]), so its secret works here. Keys that expire or are
    /// data-plane keys are made under another row id here, derived from the
    /// secret itself, which another store does not keep; the plain hash
    /// serves them as well (every version that knows this database's
    /// schema reads their expiry and scope).
    pub(super) fn import_key(&self, key: &ApiKey, hash: &str) -> Result<()> {
        self.put_row(
            "key",
            hash,
            key.project_id.as_deref().unwrap_or(""),
            &key_doc(key),
            key.created_at,
            key.revoked_at.unwrap_or(key.created_at),
            next_version(),
            false,
        )
    }

    /// An object of another store, with its times.
    pub(super) fn import_object(&self, kind: &str, o: &StoredObject) -> Result<()> {
        self.put_row(
            &object_kind(kind),
            &o.id,
            &o.project_id,
            &o.doc,
            o.created_at,
            o.updated_at,
            next_version(),
            false,
        )
    }
}

fn object_kind(kind: &str) -> String {
    format!("object:{kind}")
}

fn stored(c: Current) -> StoredObject {
    StoredObject {
        id: c.id,
        project_id: c.project_id,
        doc: c.doc,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

impl ObjectStore for Meta {
    fn put(&self, kind: &str, project_id: &str, id: &str, doc: &Value) -> Result<StoredObject> {
        let k = object_kind(kind);
        let now = now_ms();
        let (project, created) = match self.one(&k, id)? {
            Some(c) => (c.project_id, c.created_at),
            None => (project_id.to_owned(), now),
        };
        self.put_row(&k, id, &project, doc, created, now, next_version(), false)?;
        Ok(StoredObject {
            id: id.to_owned(),
            project_id: project,
            doc: doc.clone(),
            created_at: created,
            updated_at: now,
        })
    }

    fn put_all(&self, objects: &[ObjectPut<'_>]) -> Result<()> {
        let now = now_ms();
        let mut rows = Vec::with_capacity(objects.len());
        for o in objects {
            let k = object_kind(o.kind);
            let (project, created) = match self.one(&k, o.id)? {
                Some(c) => (c.project_id, c.created_at),
                None => (o.project_id.to_owned(), now),
            };
            rows.push(json!({
                "kind": k, "id": o.id, "project_id": project, "doc": o.doc.to_string(),
                "created_at": created, "updated_at": now, "version": next_version(),
                "deleted": 0,
            }));
        }
        // One insert of this unpartitioned table: one server stores all of
        // it or none. On a cluster the rows may go to different shards,
        // each storing its own: there they are inserted one after another,
        // in the order given, so a later one is stored only once the
        // earlier ones are (ADR 0008: a rule's state after its pending
        // notification).
        if self.client.endpoint().cluster.is_some() {
            for row in rows {
                self.insert_rows(std::slice::from_ref(&row))?;
            }
            return Ok(());
        }
        self.insert_rows(&rows)
    }

    fn get(&self, kind: &str, project_id: Option<&str>, id: &str) -> Result<Option<StoredObject>> {
        Ok(self
            .current(&object_kind(kind), Some(id), project_id)?
            .into_iter()
            .next()
            .map(stored))
    }

    fn list(&self, kind: &str, project_id: Option<&str>) -> Result<Vec<StoredObject>> {
        Ok(self
            .current(&object_kind(kind), None, project_id)?
            .into_iter()
            .map(stored)
            .collect())
    }

    fn delete(&self, kind: &str, project_id: Option<&str>, id: &str) -> Result<bool> {
        let k = object_kind(kind);
        let Some(c) = self.current(&k, Some(id), project_id)?.into_iter().next() else {
            return Ok(false);
        };
        let cut = next_version();
        self.put_row(
            &k,
            id,
            &c.project_id,
            &c.doc,
            c.created_at,
            now_ms(),
            cut,
            true,
        )?;
        if k != object_kind(crate::objects::ALERT) {
            return Ok(true);
        }
        // Evaluations up to now are forgotten with the alert.
        self.put_row(
            "evaluations_cut",
            id,
            "",
            &json!({"seq": cut}),
            now_ms(),
            now_ms(),
            cut,
            false,
        )?;
        Ok(true)
    }

    fn delete_evaluations_before(&self, alert_ids: &[String], before_ms: i64) -> Result<u64> {
        let mut removed = 0;
        // A mutation per list of ids (at most 96 KiB each), not per alert.
        for list in super::write::in_lists(alert_ids.iter().map(String::as_str)) {
            let cond = format!("alert_id IN ({list}) AND at < {before_ms}");
            removed += self.client.delete_any("hive_evaluations", &cond)?;
        }
        Ok(removed)
    }

    fn add_evaluation(&self, alert_id: &str, at: i64, doc: &Value) -> Result<()> {
        self.client.insert(
            "hive_evaluations",
            &[json!({"alert_id": alert_id, "seq": next_version() as i64, "at": at, "doc": doc.to_string()})],
        )
    }

    /// Claims without a transaction (ADR 0008, "Alerts on several
    /// nodes"). A key is claimed in rounds: a key whose latest round has
    /// claims is lost at once, unless that round is older than
    /// [`CLAIM_GRACE`] (its winner failed or died: the next round opens).
    /// Otherwise the claim is inserted and, after [`CLAIM_SETTLE`], the
    /// smallest node name among the round's claims wins. A claim whose check
    /// and insert took more than half the settle time abstains, so every
    /// claimant that may win reads every other's claim: one winner per
    /// round, the same for all.
    fn claim(&self, keys: &[String]) -> Result<Vec<bool>> {
        use std::collections::HashMap;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let started = std::time::Instant::now();
        let list = super::write::in_list(keys.iter().map(String::as_str));
        // The latest round of each key and when it was last claimed. On a
        // replicated cluster claims are written to, and read from, a
        // majority of the shard's replicas: a claim one replica held
        // alone was unseen through another once that one failed, and a
        // second claimant won too.
        let mut latest: HashMap<String, (u64, i64)> = HashMap::new();
        for r in self.client.rows_in_quorum(&format!(
            "SELECT key, round, max(at) AS at FROM hive_claims WHERE key IN ({list}) \
             GROUP BY key, round"
        ))? {
            let (round, at) = (
                r["round"].as_u64().unwrap_or(0),
                r["at"].as_i64().unwrap_or(0),
            );
            let e = latest
                .entry(super::write::str_field(&r, "key"))
                .or_insert((round, at));
            if round >= e.0 {
                *e = (round, at);
            }
        }
        let now = now_ms();
        let grace = CLAIM_GRACE.as_millis() as i64;
        // (key, round) this node claims.
        let mine: HashMap<&str, u64> = keys
            .iter()
            .filter_map(|k| match latest.get(k) {
                None => Some((k.as_str(), 0)),
                Some(&(round, at)) if at < now - grace => Some((k.as_str(), round + 1)),
                Some(_) => None,
            })
            .collect();
        if mine.is_empty() {
            return Ok(vec![false; keys.len()]);
        }
        let rows: Vec<Value> = mine
            .iter()
            .map(|(k, round)| json!({"key": k, "round": round, "node": self.node, "at": now}))
            .collect();
        self.client.insert_in_quorum(
            "hive_claims",
            &rows,
            (CLAIM_SETTLE / 2).saturating_sub(started.elapsed()),
        )?;
        if started.elapsed() > CLAIM_SETTLE / 2 {
            tracing::warn!(
                ms = started.elapsed().as_millis() as u64,
                claims = mine.len(),
                "claiming alert evaluations took too long; this node abstains (another node may \
                 win them, or they are claimed again after the grace time)"
            );
            return Ok(vec![false; keys.len()]);
        }
        std::thread::sleep(CLAIM_SETTLE);
        let pairs: Vec<String> = mine
            .iter()
            .map(|(k, round)| format!("({}, {round})", lit(k)))
            .collect();
        let winners: HashMap<(String, u64), String> = self
            .client
            .rows_in_quorum(&format!(
                "SELECT key, round, min(node) AS node FROM hive_claims \
                 WHERE (key, round) IN ({}) GROUP BY key, round",
                pairs.join(", ")
            ))?
            .iter()
            .map(|r| {
                (
                    (
                        super::write::str_field(r, "key"),
                        r["round"].as_u64().unwrap_or(0),
                    ),
                    super::write::str_field(r, "node"),
                )
            })
            .collect();
        Ok(keys
            .iter()
            .map(|k| {
                mine.get(k.as_str())
                    .is_some_and(|round| winners.get(&(k.clone(), *round)) == Some(&self.node))
            })
            .collect())
    }

    fn forget_claims_before(&self, before_ms: i64) -> Result<u64> {
        // A round older than the grace time is over: its key was either
        // evaluated (and is never claimed again) or is claimed in a newer
        // round, which alone decides.
        self.client
            .delete_any("hive_claims", &format!("at < {before_ms}"))
    }

    fn evaluations(&self, alert_id: &str, limit: usize) -> Result<Vec<Evaluation>> {
        let cut = self
            .one("evaluations_cut", alert_id)?
            .and_then(|c| c.doc["seq"].as_i64())
            .unwrap_or(0);
        let rows = self.client.rows(&format!(
            "SELECT seq, at, doc FROM hive_evaluations WHERE alert_id = {} AND seq > {cut} \
             ORDER BY seq DESC LIMIT {}",
            lit(alert_id),
            limit.min(1_000_000)
        ))?;
        rows.into_iter()
            .map(|r| {
                Ok(Evaluation {
                    seq: r["seq"].as_i64().unwrap_or(0),
                    alert_id: alert_id.to_owned(),
                    at: r["at"].as_i64().unwrap_or(0),
                    doc: serde_json::from_str(r["doc"].as_str().unwrap_or("null"))
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                })
            })
            .collect()
    }
}
