//! The value index behind fast session filters, and the dashboard's tables.
//!
//! `event_values` holds one row per node of the filterable namespaces of
//! every *session event* (objects, arrays and scalars; nothing inside
//! arrays), keyed by the node's path as SQLite's `json_tree` spells it
//! (`metadata."user_id"`, `metadata.user.tier`). Triggers on `events` keep
//! it equal to the current session documents, so the writer does not know
//! it exists and every path that changes a doc (insert, enrichment,
//! rollup, adoption, delete) keeps it exact. An update rewrites only the
//! values that changed (the rollup's counters, typically).
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

/// The rows of one event's filterable values, for `NEW` in a trigger.
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
                 WHERE t.parent IS NOT NULL AND t.type != 'null' AND instr(t.fullkey, '[') = 0"
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

fn schema() -> String {
    let cols = "(event_rowid, path, project_id, session_id, vtype, value_text, value_num)";
    let insert = format!(
        "INSERT OR REPLACE INTO event_values {cols} {};",
        select_values("NEW")
    );
    // Rewrite only what changed: most updates of a session only move its
    // rollup counters.
    let upsert = format!(
        "DELETE FROM event_values WHERE event_rowid = OLD.id AND path NOT IN \
         (SELECT path FROM ({values})); \
         INSERT INTO event_values {cols} SELECT * FROM ({values}) WHERE true \
         ON CONFLICT (event_rowid, path) DO UPDATE SET project_id = excluded.project_id, \
         session_id = excluded.session_id, vtype = excluded.vtype, \
         value_text = excluded.value_text, value_num = excluded.value_num \
         WHERE project_id IS NOT excluded.project_id OR session_id IS NOT excluded.session_id \
         OR vtype IS NOT excluded.vtype OR value_text IS NOT excluded.value_text \
         OR value_num IS NOT excluded.value_num;",
        values = select_values("NEW")
    );
    let is_session =
        |row: &str| format!("{row}.event_type = 'session' AND {row}.event_id = {row}.session_id");
    format!(
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

CREATE TRIGGER IF NOT EXISTS event_values_insert AFTER INSERT ON events
WHEN {new_session} BEGIN
    {insert}
END;
CREATE TRIGGER IF NOT EXISTS event_values_update AFTER UPDATE OF doc, session_id, event_type ON events
WHEN {new_session} BEGIN
    {upsert}
END;
CREATE TRIGGER IF NOT EXISTS event_values_unsession AFTER UPDATE OF doc, session_id, event_type ON events
WHEN {old_session} AND NOT ({new_session}) BEGIN
    DELETE FROM event_values WHERE event_rowid = OLD.id;
END;
CREATE TRIGGER IF NOT EXISTS event_values_delete AFTER DELETE ON events
WHEN {old_session} BEGIN
    DELETE FROM event_values WHERE event_rowid = OLD.id;
END;

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
        new_session = is_session("NEW"),
        old_session = is_session("OLD"),
    )
}

/// Create the tables, indexes and triggers; index the events of a database
/// made before the index existed.
pub(super) fn init(conn: &Connection) -> Result<()> {
    let existed: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'event_values'",
        [],
        |r| r.get(0),
    )?;
    // Triggers are recreated at every start, so a newer binary's take over.
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
