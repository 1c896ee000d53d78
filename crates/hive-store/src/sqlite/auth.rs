//! Projects, API keys and login tokens in SQLite.

use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use super::lock;
use crate::auth::{
    ApiKey, AuthStore, KeyScope, NewKey, Project, SavedView, WebSession, hash_secret, key_prefix,
    new_key_secret, new_secret,
};
use crate::{Result, StoreError};

pub(super) struct SqliteAuth {
    conn: Mutex<Connection>,
}

use crate::now_ms;

fn key_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKey> {
    let scope: String = r.get(3)?;
    Ok(ApiKey {
        id: r.get(0)?,
        name: r.get(1)?,
        prefix: r.get(2)?,
        scope: KeyScope::stored(&scope).unwrap_or(KeyScope::Ingest),
        project_id: r.get(4)?,
        created_at: r.get(5)?,
        revoked_at: r.get(6)?,
        expires_at: r.get(7)?,
        permissions: r
            .get::<_, Option<String>>(8)?
            .map(|p| {
                p.split(' ')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

const KEY_COLUMNS: &str =
    "id, name, prefix, scope, project_id, created_at, revoked_at, expires_at, permissions";

impl SqliteAuth {
    pub(super) fn new(conn: Connection) -> SqliteAuth {
        SqliteAuth {
            conn: Mutex::new(conn),
        }
    }

    /// Every key with the SHA-256 of its secret, oldest first.
    pub(super) fn keys_with_hashes(&self) -> Result<Vec<(ApiKey, String)>> {
        let c = lock(&self.conn);
        let mut stmt = c.prepare(&format!(
            "SELECT {KEY_COLUMNS}, hash FROM api_keys ORDER BY created_at"
        ))?;
        let rows = stmt.query_map([], |r| Ok((key_from_row(r)?, r.get::<_, String>(9)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

fn project_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project {
        id: r.get(0)?,
        name: r.get(1)?,
        created_at: r.get(2)?,
    })
}

impl AuthStore for SqliteAuth {
    fn ensure_project(&self, name: &str) -> Result<Project> {
        let name = crate::auth::project_name(name)?;
        let c = lock(&self.conn);
        c.execute(
            "INSERT INTO projects (id, name, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
            params![uuid::Uuid::new_v4().to_string(), name, now_ms()],
        )?;
        Ok(c.query_row(
            "SELECT id, name, created_at FROM projects WHERE name = ?1",
            params![name],
            project_row,
        )?)
    }

    fn project_by_name(&self, name: &str) -> Result<Option<Project>> {
        let c = lock(&self.conn);
        Ok(c.query_row(
            "SELECT id, name, created_at FROM projects WHERE name = ?1",
            params![name],
            project_row,
        )
        .optional()?)
    }

    fn project_by_id(&self, id: &str) -> Result<Option<Project>> {
        let c = lock(&self.conn);
        Ok(c.query_row(
            "SELECT id, name, created_at FROM projects WHERE id = ?1",
            params![id],
            project_row,
        )
        .optional()?)
    }

    fn projects(&self) -> Result<Vec<Project>> {
        let c = lock(&self.conn);
        let mut stmt = c.prepare("SELECT id, name, created_at FROM projects ORDER BY name")?;
        let rows = stmt.query_map([], project_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
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
        let c = lock(&self.conn);
        c.execute(
            "INSERT INTO api_keys (id, hash, prefix, name, scope, project_id, created_at, expires_at, \
             permissions) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                key.id,
                hash_secret(&secret),
                key.prefix,
                key.name,
                key.scope.name(),
                key.project_id,
                key.created_at,
                key.expires_at,
                (!key.permissions.is_empty()).then(|| key.permissions.join(" "))
            ],
        )?;
        Ok((key, secret))
    }

    fn keys(&self) -> Result<Vec<ApiKey>> {
        let c = lock(&self.conn);
        let mut stmt = c.prepare(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at"
        ))?;
        let rows = stmt.query_map([], key_from_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn revoke_key(&self, id_or_prefix: &str) -> Result<bool> {
        if id_or_prefix.len() < 6 {
            return Ok(false);
        }
        let c = lock(&self.conn);
        let n = c.execute(
            "UPDATE api_keys SET revoked_at = ?2 WHERE revoked_at IS NULL AND (id = ?1 OR prefix = ?1)",
            params![id_or_prefix, now_ms()],
        )?;
        Ok(n > 0)
    }

    fn authenticate(&self, secret: &str) -> Result<Option<ApiKey>> {
        let c = lock(&self.conn);
        let mut stmt = c.prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = ?1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > ?2)"
        ))?;
        Ok(stmt
            .query_row(params![hash_secret(secret), now_ms()], key_from_row)
            .optional()?)
    }

    fn bootstrap(&self) -> Result<Option<String>> {
        let has_keys: i64 = {
            let c = lock(&self.conn);
            c.query_row("SELECT count(*) FROM api_keys", [], |r| r.get(0))?
        };
        self.ensure_project("default")?;
        if has_keys > 0 {
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
        let c = lock(&self.conn);
        c.execute(
            "DELETE FROM login_tokens WHERE expires_at < ?1",
            params![now_ms()],
        )?;
        c.execute(
            "INSERT INTO login_tokens (hash, expires_at) VALUES (?1, ?2)",
            params![hash_secret(&token), now_ms() + ttl_ms],
        )?;
        Ok(token)
    }

    fn consume_login_token(&self, token: &str) -> Result<bool> {
        let c = lock(&self.conn);
        let n = c.execute(
            "UPDATE login_tokens SET used = 1 WHERE hash = ?1 AND used = 0 AND expires_at >= ?2",
            params![hash_secret(token), now_ms()],
        )?;
        Ok(n == 1)
    }

    fn create_web_session(&self, ttl_ms: i64) -> Result<(String, WebSession)> {
        let token = new_secret("");
        let session = WebSession {
            csrf: new_secret(""),
            expires_at: now_ms() + ttl_ms,
        };
        let c = lock(&self.conn);
        c.execute(
            "DELETE FROM web_sessions WHERE expires_at < ?1",
            params![now_ms()],
        )?;
        c.execute(
            "INSERT INTO web_sessions (hash, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![
                hash_secret(&token),
                session.csrf,
                now_ms(),
                session.expires_at
            ],
        )?;
        Ok((token, session))
    }

    fn web_session(&self, token: &str) -> Result<Option<WebSession>> {
        let c = lock(&self.conn);
        Ok(c.prepare_cached(
            "SELECT csrf, expires_at FROM web_sessions WHERE hash = ?1 AND expires_at >= ?2",
        )?
        .query_row(params![hash_secret(token), now_ms()], |r| {
            Ok(WebSession {
                csrf: r.get(0)?,
                expires_at: r.get(1)?,
            })
        })
        .optional()?)
    }

    fn delete_web_session(&self, token: &str) -> Result<()> {
        let c = lock(&self.conn);
        c.execute(
            "DELETE FROM web_sessions WHERE hash = ?1",
            params![hash_secret(token)],
        )?;
        Ok(())
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
        let c = lock(&self.conn);
        c.execute(
            "INSERT INTO saved_views (id, project_id, name, page, query, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                view.id,
                view.project_id,
                view.name,
                view.page,
                view.query,
                view.created_at
            ],
        )?;
        Ok(view)
    }

    fn views(&self, project_id: &str) -> Result<Vec<SavedView>> {
        let c = lock(&self.conn);
        let mut stmt = c.prepare_cached(
            "SELECT id, project_id, name, page, query, created_at FROM saved_views \
             WHERE project_id = ?1 ORDER BY name, created_at",
        )?;
        let rows = stmt.query_map(params![project_id], |r| {
            Ok(SavedView {
                id: r.get(0)?,
                project_id: r.get(1)?,
                name: r.get(2)?,
                page: r.get(3)?,
                query: r.get(4)?,
                created_at: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn delete_view(&self, project_id: &str, id: &str) -> Result<bool> {
        let c = lock(&self.conn);
        let n = c.execute(
            "DELETE FROM saved_views WHERE project_id = ?1 AND id = ?2",
            params![project_id, id],
        )?;
        Ok(n > 0)
    }
}
