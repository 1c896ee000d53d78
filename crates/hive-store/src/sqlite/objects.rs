//! Saved charts, alert rules and alert evaluations in SQLite.

use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::{lock, parse_doc};
use crate::Result;
use crate::objects::{Evaluation, ObjectPut, ObjectStore, StoredObject};

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS saved_objects (
    kind        TEXT NOT NULL,
    id          TEXT NOT NULL,
    project_id  TEXT NOT NULL,
    doc         TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS saved_objects_project ON saved_objects(kind, project_id, created_at);

CREATE TABLE IF NOT EXISTS alert_evaluations (
    seq       INTEGER PRIMARY KEY,
    alert_id  TEXT NOT NULL,
    at        INTEGER NOT NULL,
    doc       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_evaluations_alert ON alert_evaluations(alert_id, seq);
"#;

pub(super) struct SqliteObjects {
    conn: Mutex<Connection>,
}

impl SqliteObjects {
    pub(super) fn new(conn: Connection) -> Result<SqliteObjects> {
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteObjects {
            conn: Mutex::new(conn),
        })
    }
}

use crate::now_ms;

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, String, String, i64, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn object(t: (String, String, String, i64, i64)) -> Result<StoredObject> {
    Ok(StoredObject {
        id: t.0,
        project_id: t.1,
        doc: parse_doc(&t.2)?,
        created_at: t.3,
        updated_at: t.4,
    })
}

const COLUMNS: &str = "id, project_id, doc, created_at, updated_at";

/// Insert or replace an object, keeping a replaced one's creation time.
const UPSERT: &str = "INSERT INTO saved_objects (kind, id, project_id, doc, created_at, updated_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?5) ON CONFLICT (kind, id) DO UPDATE SET \
     doc = excluded.doc, updated_at = excluded.updated_at";

impl ObjectStore for SqliteObjects {
    fn put(&self, kind: &str, project_id: &str, id: &str, doc: &Value) -> Result<StoredObject> {
        let c = lock(&self.conn);
        let now = now_ms();
        c.execute(UPSERT, params![kind, id, project_id, doc.to_string(), now])?;
        let t = c.query_row(
            &format!("SELECT {COLUMNS} FROM saved_objects WHERE kind = ?1 AND id = ?2"),
            params![kind, id],
            row,
        )?;
        object(t)
    }

    fn put_all(&self, objects: &[ObjectPut<'_>]) -> Result<()> {
        let mut c = lock(&self.conn);
        let tx = c.transaction()?;
        let now = now_ms();
        for o in objects {
            tx.execute(
                UPSERT,
                params![o.kind, o.id, o.project_id, o.doc.to_string(), now],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn get(&self, kind: &str, project_id: Option<&str>, id: &str) -> Result<Option<StoredObject>> {
        let c = lock(&self.conn);
        let t = c
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM saved_objects WHERE kind = ?1 AND id = ?2 \
                     AND (?3 IS NULL OR project_id = ?3)"
                ),
                params![kind, id, project_id],
                row,
            )
            .optional()?;
        t.map(object).transpose()
    }

    fn list(&self, kind: &str, project_id: Option<&str>) -> Result<Vec<StoredObject>> {
        let c = lock(&self.conn);
        let mut stmt = c.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM saved_objects WHERE kind = ?1 \
             AND (?2 IS NULL OR project_id = ?2) ORDER BY created_at, id"
        ))?;
        let rows = stmt.query_map(params![kind, project_id], row)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(object(r?)?);
        }
        Ok(out)
    }

    fn delete(&self, kind: &str, project_id: Option<&str>, id: &str) -> Result<bool> {
        let c = lock(&self.conn);
        let n = c.execute(
            "DELETE FROM saved_objects WHERE kind = ?1 AND id = ?2 AND (?3 IS NULL OR project_id = ?3)",
            params![kind, id, project_id],
        )?;
        if n > 0 && kind == crate::objects::ALERT {
            c.execute(
                "DELETE FROM alert_evaluations WHERE alert_id = ?1",
                params![id],
            )?;
        }
        Ok(n > 0)
    }

    fn delete_evaluations_before(&self, alert_ids: &[String], before_ms: i64) -> Result<u64> {
        let conn = lock(&self.conn);
        let mut n = 0;
        for alert_id in alert_ids {
            n += conn.execute(
                "DELETE FROM alert_evaluations WHERE alert_id = ?1 AND at < ?2",
                params![alert_id, before_ms],
            )?;
        }
        Ok(n as u64)
    }

    fn add_evaluation(&self, alert_id: &str, at: i64, doc: &Value) -> Result<()> {
        lock(&self.conn).execute(
            "INSERT INTO alert_evaluations (alert_id, at, doc) VALUES (?1, ?2, ?3)",
            params![alert_id, at, doc.to_string()],
        )?;
        Ok(())
    }

    fn evaluations(&self, alert_id: &str, limit: usize) -> Result<Vec<Evaluation>> {
        let c = lock(&self.conn);
        let mut stmt = c.prepare_cached(
            "SELECT seq, alert_id, at, doc FROM alert_evaluations WHERE alert_id = ?1 \
             ORDER BY seq DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![alert_id, limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for r in rows {
            let (seq, alert_id, at, doc) = r?;
            out.push(Evaluation {
                seq,
                alert_id,
                at,
                doc: parse_doc(&doc)?,
            });
        }
        Ok(out)
    }
}
