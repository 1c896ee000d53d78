//! The SQLite schema.

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS api_keys (
    id          TEXT PRIMARY KEY,
    hash        TEXT NOT NULL UNIQUE,
    prefix      TEXT NOT NULL,
    name        TEXT NOT NULL,
    scope       TEXT NOT NULL,
    project_id  TEXT,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER,
    expires_at  INTEGER,
    permissions TEXT
);

CREATE TABLE IF NOT EXISTS login_tokens (
    hash        TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL,
    used        INTEGER NOT NULL DEFAULT 0
);

-- The current state of every event: doc = fold(base, patches), with the
-- session rollup materialised into session docs.
CREATE TABLE IF NOT EXISTS events (
    id                INTEGER PRIMARY KEY,
    project_id        TEXT NOT NULL,
    event_id          TEXT NOT NULL,
    session_id        TEXT NOT NULL,
    parent_id         TEXT,
    event_type        TEXT NOT NULL,
    event_name        TEXT NOT NULL,
    start_time        INTEGER NOT NULL,
    has_base          INTEGER NOT NULL,
    npatches          INTEGER NOT NULL DEFAULT 0,
    duration_explicit INTEGER NOT NULL DEFAULT 0,
    doc               TEXT NOT NULL,
    raw               TEXT
);
-- (event_id, project_id) serves lookups by id within a project and by id
-- alone (enrichments that follow their event across projects).
CREATE UNIQUE INDEX IF NOT EXISTS events_id ON events(event_id, project_id);
CREATE INDEX IF NOT EXISTS events_session ON events(project_id, session_id, start_time);
CREATE INDEX IF NOT EXISTS events_time ON events(project_id, start_time);

-- Every enrichment ever received, in arrival order (append-only).
CREATE TABLE IF NOT EXISTS patches (
    seq          INTEGER PRIMARY KEY,
    project_id   TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    key_id       TEXT,
    patch        TEXT NOT NULL,
    -- 1 while the patch waits for an event whose project is not known yet.
    floating     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS patches_event ON patches(project_id, event_id, seq);
CREATE INDEX IF NOT EXISTS patches_floating ON patches(event_id) WHERE floating = 1;

-- Running session totals (see hive_core::rollup).
CREATE TABLE IF NOT EXISTS sessions (
    project_id         TEXT NOT NULL,
    session_id         TEXT NOT NULL,
    num_events         INTEGER NOT NULL DEFAULT 0,
    num_model_events   INTEGER NOT NULL DEFAULT 0,
    feedback_events    INTEGER NOT NULL DEFAULT 0,
    error_events       INTEGER NOT NULL DEFAULT 0,
    cost               REAL NOT NULL DEFAULT 0,
    prompt_tokens      REAL NOT NULL DEFAULT 0,
    completion_tokens  REAL NOT NULL DEFAULT 0,
    total_tokens       REAL NOT NULL DEFAULT 0,
    min_start          INTEGER,
    max_end            INTEGER,
    PRIMARY KEY (project_id, session_id)
) WITHOUT ROWID;

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

-- Which namespace paths exist per project, with their value types.
CREATE TABLE IF NOT EXISTS fields (
    project_id  TEXT NOT NULL,
    path        TEXT NOT NULL,
    type        TEXT NOT NULL,
    PRIMARY KEY (project_id, path, type)
) WITHOUT ROWID;

-- How far the ingest log has been applied: written in the same transaction
-- as the data it applied (ADR 0006).
CREATE TABLE IF NOT EXISTS log_position (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    position    INTEGER NOT NULL
);
"#;

/// What earlier versions kept and this one no longer does: the session
/// value index (`event_values`, first kept by triggers, then by the
/// writer), replaced by in-memory columns (ADR 0005).
pub const RETIRED: &str = r#"
DROP TRIGGER IF EXISTS event_values_insert;
DROP TRIGGER IF EXISTS event_values_update;
DROP TRIGGER IF EXISTS event_values_unsession;
DROP TRIGGER IF EXISTS event_values_delete;
DROP TABLE IF EXISTS event_values;
"#;

/// Columns added to tables after they were first made: `CREATE TABLE IF NOT
/// EXISTS` leaves a table of an earlier version as it was, so each is added
/// here when it is missing (instant: SQLite only rewrites the schema).
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    // Keys that expire, and data-plane keys' permissions (2026-12-04).
    ("api_keys", "expires_at", "INTEGER"),
    ("api_keys", "permissions", "TEXT"),
];

/// Add the [`ADDED_COLUMNS`] a database made by an earlier version lacks.
pub fn add_columns(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    for (table, column, ty) in ADDED_COLUMNS {
        let present: bool = conn.query_row(
            "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
            [table, column],
            |r| r.get(0),
        )?;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {ty}"))?;
            tracing::info!(table, column, "column added to the database");
        }
    }
    Ok(())
}
