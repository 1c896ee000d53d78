//! The value index behind fast session filters, and the dashboard's tables.
//!
//! `event_values` holds one row per node of the filterable namespaces of
//! every *session event* (objects, arrays and scalars; nothing inside
//! arrays), keyed by the node's path as SQLite's `json_tree` spells it
//! (`metadata."user_id"`, `metadata.user.tier`). The writer keeps it equal
//! to the current session documents: every doc write goes through one
//! function (`store_row`), which diffs the document's values against the
//! stored ones and writes only what changed (the rollup's counters, or the
//! keys an enrichment set), so a hot session costs a few row writes per
//! enrichment instead of a walk of its whole document in SQL.
//!
//! Only session events are indexed: they are a few percent of the rows, so
//! ingest pays little, and they hold what `enrich_session` sets, which is
//! what session lists are filtered by ([`crate::Level::SessionEvent`]).
//! Filters on every event read the documents. `inputs` and `outputs` are
//! not indexed.

use rusqlite::Connection;

use crate::Result;

/// Namespaces whose values are indexed.
pub const INDEXED_NAMESPACES: [&str; 5] = [
    "metadata",
    "metrics",
    "feedback",
    "user_properties",
    "config",
];

/// The path of a node as stored in `event_values.path`: the namespace, then
/// each segment as SQLite's `json_tree` writes it in `fullkey` (bare when it
/// is an ASCII letter followed by ASCII letters and digits, quoted
/// otherwise). `None` when the index cannot answer for this path (segments
/// that look like array indices or hold characters the quoting would need
/// to escape).
pub fn index_path(namespace: &str, path: &[String]) -> Option<String> {
    if !INDEXED_NAMESPACES.contains(&namespace) || path.is_empty() {
        return None;
    }
    let mut out = String::from(namespace);
    for seg in path {
        if seg.is_empty()
            || seg.bytes().all(|b| b.is_ascii_digit())
            || seg.contains(['"', '\\', '[', ']'])
            || seg.chars().any(char::is_control)
        {
            return None;
        }
        out.push('.');
        let mut chars = seg.chars();
        let bare = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric());
        if bare {
            out.push_str(seg);
        } else {
            out.push('"');
            out.push_str(seg);
            out.push('"');
        }
    }
    Some(out)
}

/// One indexed value of a session document, as `json_tree` would list it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IndexRow {
    pub path: String,
    pub vtype: &'static str,
    /// For strings, booleans, objects and arrays (JSON text); numbers are
    /// rendered by SQLite from `num`, as `json_tree` does.
    pub text: Option<String>,
    pub num: Option<f64>,
}

impl IndexRow {
    /// Same stored value (numbers compare by value: their text is SQLite's).
    fn same(&self, other: &IndexRow) -> bool {
        self.vtype == other.vtype
            && match self.vtype {
                "integer" | "real" => self.num == other.num,
                _ => self.text == other.text,
            }
    }
}

/// Whether a document is a session event (the only ones indexed).
pub(crate) fn is_session_doc(doc: &serde_json::Value) -> bool {
    let s = |k: &str| doc.get(k).and_then(serde_json::Value::as_str);
    s("event_type") == Some("session")
        && s("event_id").is_some()
        && s("event_id") == s("session_id")
}

/// The indexed values of a document: every node (objects, arrays and
/// scalars, nothing inside arrays, no nulls) of the indexed namespaces.
pub(crate) fn index_rows(doc: &serde_json::Value) -> Vec<IndexRow> {
    use serde_json::Value;
    fn walk(m: &serde_json::Map<String, Value>, prefix: &str, out: &mut Vec<IndexRow>) {
        for (k, v) in m {
            let mut path = String::with_capacity(prefix.len() + k.len() + 3);
            path.push_str(prefix);
            path.push('.');
            let mut chars = k.chars();
            let bare = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric());
            if bare {
                path.push_str(k);
            } else {
                // json_tree escapes quotes and backslashes in its keys.
                path.push('"');
                for c in k.chars() {
                    if c == '"' || c == '\\' {
                        path.push('\\');
                    }
                    path.push(c);
                }
                path.push('"');
            }
            let (vtype, text, num) = match v {
                Value::Null => continue,
                Value::Bool(true) => ("true", Some("true".to_owned()), None),
                Value::Bool(false) => ("false", Some("false".to_owned()), None),
                Value::Number(n) if n.is_i64() || n.is_u64() => ("integer", None, n.as_f64()),
                Value::Number(n) => ("real", None, n.as_f64()),
                Value::String(s) => ("text", Some(s.clone()), None),
                Value::Array(_) => ("array", Some(v.to_string()), None),
                Value::Object(_) => ("object", Some(v.to_string()), None),
            };
            out.push(IndexRow {
                path: path.clone(),
                vtype,
                text,
                num,
            });
            if let Value::Object(child) = v {
                walk(child, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    for ns in INDEXED_NAMESPACES {
        if let Some(Value::Object(m)) = doc.get(ns) {
            walk(m, ns, &mut out);
        }
    }
    out
}

/// The values stored now for an event.
pub(crate) fn stored_rows(tx: &Connection, event_rowid: i64) -> Result<Vec<IndexRow>> {
    let mut stmt = tx.prepare_cached(
        "SELECT path, vtype, value_text, value_num FROM event_values WHERE event_rowid = ?1",
    )?;
    let rows = stmt.query_map([event_rowid], |r| {
        let vtype: String = r.get(1)?;
        Ok(IndexRow {
            path: r.get(0)?,
            vtype: match vtype.as_str() {
                "true" => "true",
                "false" => "false",
                "integer" => "integer",
                "real" => "real",
                "text" => "text",
                "array" => "array",
                _ => "object",
            },
            text: r.get(2)?,
            num: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// Make the stored values of an event equal `new`, given what is stored
/// (`old`): only the differences are written.
pub(crate) fn sync_rows(
    tx: &Connection,
    event_rowid: i64,
    project_id: &str,
    session_id: &str,
    old: &[IndexRow],
    new: &[IndexRow],
) -> Result<()> {
    use std::collections::HashMap;
    let old_by_path: HashMap<&str, &IndexRow> = old.iter().map(|r| (r.path.as_str(), r)).collect();
    let new_paths: std::collections::HashSet<&str> = new.iter().map(|r| r.path.as_str()).collect();
    for r in old {
        if !new_paths.contains(r.path.as_str()) {
            tx.prepare_cached("DELETE FROM event_values WHERE event_rowid = ?1 AND path = ?2")?
                .execute(rusqlite::params![event_rowid, r.path])?;
        }
    }
    for r in new {
        if old_by_path.get(r.path.as_str()).is_some_and(|o| o.same(r)) {
            continue;
        }
        tx.prepare_cached(
            "INSERT OR REPLACE INTO event_values \
             (event_rowid, path, project_id, session_id, vtype, value_text, value_num) \
             VALUES (?1, ?2, ?3, ?4, ?5, CASE WHEN ?7 IS NOT NULL THEN CAST(?7 AS TEXT) ELSE ?6 END, ?7)",
        )?
        .execute(rusqlite::params![
            event_rowid,
            r.path,
            project_id,
            session_id,
            r.vtype,
            r.text,
            // Integers bind as integers so SQLite renders them without ".0".
            r.num.map(|n| if r.vtype == "integer" { rusqlite::types::Value::Integer(n as i64) } else { rusqlite::types::Value::Real(n) }),
        ])?;
    }
    Ok(())
}

/// The rows of the filterable values of the session events of `events {row}`
/// (the backfill of a database made before the index existed).
fn select_values(row: &str) -> String {
    INDEXED_NAMESPACES
        .iter()
        .map(|ns| {
            format!(
                "SELECT {row}.id AS event_rowid, substr(t.fullkey, 3) AS path, \
                 {row}.project_id AS project_id, {row}.session_id AS session_id, t.type AS vtype, \
                 CASE t.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
                 WHEN 'integer' THEN CAST(t.atom AS TEXT) WHEN 'real' THEN CAST(t.atom AS TEXT) \
                 WHEN 'text' THEN t.atom ELSE t.value END AS value_text, \
                 CASE WHEN t.type IN ('integer', 'real') THEN t.atom END AS value_num \
                 FROM json_tree({row}.doc, '$.{ns}') t \
                 WHERE t.parent IS NOT NULL AND t.type != 'null' AND instr(t.fullkey, '[') = 0 \
                 AND {row}.event_type = 'session' AND {row}.event_id = {row}.session_id"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

fn schema() -> String {
    String::from(
        r#"
CREATE TABLE IF NOT EXISTS event_values (
    event_rowid  INTEGER NOT NULL,
    path         TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    vtype        TEXT NOT NULL,
    value_text   TEXT,
    value_num    REAL,
    PRIMARY KEY (event_rowid, path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS event_values_text
    ON event_values(project_id, path, value_text, vtype);
CREATE INDEX IF NOT EXISTS event_values_num
    ON event_values(project_id, path, value_num) WHERE value_num IS NOT NULL;

-- Sessions in time order: the dashboard's session list and its count.
CREATE INDEX IF NOT EXISTS events_sessions ON events(project_id, start_time)
    WHERE event_type = 'session' AND event_id = session_id;

-- Dashboard logins: the hash of the cookie's token, and the CSRF token of
-- its forms.
CREATE TABLE IF NOT EXISTS web_sessions (
    hash        TEXT PRIMARY KEY,
    csrf        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);

-- Saved views: a name for a dashboard query string.
CREATE TABLE IF NOT EXISTS saved_views (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL,
    name        TEXT NOT NULL,
    page        TEXT NOT NULL,
    query       TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS saved_views_project ON saved_views(project_id, name);
"#,
    )
}

/// Create the tables and indexes; index the sessions of a database made
/// before the index existed.
pub(super) fn init(conn: &Connection) -> Result<()> {
    let existed: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'event_values'",
        [],
        |r| r.get(0),
    )?;
    // Earlier versions kept the index with triggers; the writer does now.
    conn.execute_batch(
        "DROP TRIGGER IF EXISTS event_values_insert; DROP TRIGGER IF EXISTS event_values_update; \
         DROP TRIGGER IF EXISTS event_values_unsession; DROP TRIGGER IF EXISTS event_values_delete;",
    )?;
    conn.execute_batch(&schema())?;
    if !existed {
        conn.execute_batch(&format!(
            "INSERT OR REPLACE INTO event_values \
             (event_rowid, path, project_id, session_id, vtype, value_text, value_num) \
             SELECT * FROM ({});",
            select_values_all()
        ))?;
    }
    Ok(())
}

/// Differences between the index and the documents, recomputed with
/// SQLite's own `json_tree` (empty when the index is exact).
pub(super) fn verify(conn: &Connection) -> Result<Vec<String>> {
    let cols = "event_rowid, path, project_id, session_id, vtype, value_text, value_num";
    let diff = |a: &str, b: &str| -> Result<Vec<String>> {
        let sql = format!("SELECT {cols} FROM ({a}) EXCEPT SELECT {cols} FROM ({b}) LIMIT 20");
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map([], |r| {
            Ok(format!(
                "{} {} {:?} {:?}",
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<f64>>(6)?
            ))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    };
    let stored = format!("SELECT {cols} FROM event_values");
    let truth = select_values_all();
    let mut out: Vec<String> = diff(&stored, &truth)?
        .into_iter()
        .map(|r| format!("extra {r}"))
        .collect();
    out.extend(
        diff(&truth, &stored)?
            .into_iter()
            .map(|r| format!("missing {r}")),
    );
    Ok(out)
}

/// Every event's values (the backfill of an existing database).
fn select_values_all() -> String {
    select_values("e").replace("FROM json_tree(e.doc,", "FROM events e, json_tree(e.doc,")
}

#[cfg(test)]
mod tests {
    use super::index_path;

    fn p(ns: &str, path: &[&str]) -> Option<String> {
        index_path(ns, &path.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn paths_are_spelled_like_json_tree() {
        assert_eq!(p("metadata", &["tier"]).as_deref(), Some("metadata.tier"));
        assert_eq!(
            p("metadata", &["user_id"]).as_deref(),
            Some("metadata.\"user_id\"")
        );
        assert_eq!(
            p("metadata", &["A1", "x y"]).as_deref(),
            Some("metadata.A1.\"x y\"")
        );
        assert_eq!(p("metadata", &["tags", "0"]), None);
        assert_eq!(p("inputs", &["chat_history"]), None);
    }
}
