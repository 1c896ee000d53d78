//! The embedded SQLite backend: one file, WAL mode, one writer connection,
//! a small pool of readers.

mod auth;
mod chart;
mod columns;
mod objects;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde_json::Value;

use crate::query::compile;
use crate::{EventPage, EventQuery, FieldInfo, HistoryEntry, Result, Store, StoreError, WriteOp};

/// How hard commits wait for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// fsync at every commit: an acknowledged write survives power loss.
    #[default]
    Full,
    /// fsync at checkpoints only: an acknowledged write survives a crash
    /// of the process, not of the machine.
    Normal,
}

/// Opening options.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub durability: Durability,
    /// Readers kept open.
    pub readers: usize,
    /// Memory for the in-memory columns charts and filters read, in bytes
    /// (0: they read the documents).
    pub column_memory: usize,
    /// Column loads scan tables with at least this many row ids on two
    /// threads ([`SPLIT_SCANS_FROM`]; tests set it low to cover that path).
    pub split_scans_from: i64,
}

pub use columns::SPLIT_SCANS_FROM;

/// Pages one step of [`Store::reclaim_space`] gives back (8 MiB of 4 KiB
/// pages).
pub const RECLAIM_PAGES: i64 = 2048;

/// The default memory for columns: 256 MiB.
pub const DEFAULT_COLUMN_MEMORY: usize = 256 << 20;

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            durability: Durability::Full,
            readers: 4,
            column_memory: DEFAULT_COLUMN_MEMORY,
            split_scans_from: SPLIT_SCANS_FROM,
        }
    }
}

/// The SQLite store.
pub struct SqliteStore {
    path: PathBuf,
    // Held for their Drop: stop the background threads with the store.
    _checkpointer: Periodic,
    _catch_up: Periodic,
    columns: std::sync::Arc<columns::ColumnCache>,
    writer: Mutex<writer::Writer>,
    readers: Mutex<Vec<Connection>>,
    auth: auth::SqliteAuth,
    objects: objects::SqliteObjects,
    max_readers: usize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a lock leaves the data consistent (SQLite rolls
    // back the transaction), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The page size of new databases (`HIVE_PAGE_SIZE` overrides, for
/// benchmarks).
fn page_size() -> i64 {
    std::env::var("HIVE_PAGE_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4096)
}

fn open_conn(path: &Path, durability: Durability) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Only takes effect when the file is created. Every page a commit
    // dirties is written whole to the WAL: small pages suit enrichment (many
    // small changes in many places) and cost bulk ingest little (BENCHMARKS.md).
    conn.pragma_update(None, "page_size", page_size())?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        },
    )?;
    conn.pragma_update(None, "cache_size", -32_000)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(conn)
}

impl SqliteStore {
    /// Open (or create) the database file.
    pub fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        let conn = open_conn(&path, options.durability)?;
        enable_incremental_vacuum(&conn, &path)?;
        conn.execute_batch(schema::SCHEMA)?;
        conn.execute_batch(schema::RETIRED)?;
        schema::add_columns(&conn)?;
        // The writer never checkpoints: a background thread does, on the
        // other core, so commits only append to the WAL.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let checkpoint_conn = open_conn(&path, options.durability)?;
        let checkpointer = Periodic::start("hive-checkpoint", 250, move || {
            // PASSIVE never blocks the writer; when the WAL has grown
            // large, RESTART makes the next writes start it over.
            let wal_pages: i64 = checkpoint_conn
                .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
                .unwrap_or(0);
            if wal_pages > 250_000 {
                let _ = checkpoint_conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()));
            }
        })?;
        let reader_path = path.clone();
        let columns = std::sync::Arc::new(columns::ColumnCache::new(
            options.column_memory,
            Some(path.with_extension("columns.json")),
            Box::new(move || {
                let c = open_conn(&reader_path, Durability::Normal)?;
                c.pragma_update(None, "query_only", true)?;
                Ok(c)
            }),
            options.split_scans_from,
        ));
        let catch_up_conn = open_conn(&path, Durability::Normal)?;
        catch_up_conn.pragma_update(None, "query_only", true)?;
        let cols = columns.clone();
        let catch_up = Periodic::start("hive-columns", 500, move || {
            if cols.behind()
                && let Err(e) = cols.catch_up(&catch_up_conn)
            {
                tracing::warn!(error = %e, "in-memory columns dropped after a failed catch-up");
            }
        })?;
        let auth_conn = open_conn(&path, options.durability)?;
        let objects = objects::SqliteObjects::new(open_conn(&path, options.durability)?)?;
        Ok(SqliteStore {
            _checkpointer: checkpointer,
            _catch_up: catch_up,
            columns,
            writer: Mutex::new(writer::Writer::new(conn)?),
            readers: Mutex::new(Vec::new()),
            auth: auth::SqliteAuth::new(auth_conn),
            objects,
            max_readers: options.readers.max(1),
            path,
        })
    }

    /// A chart answered by reading the documents with SQL (what charts
    /// fall back to when their columns do not fit in memory), for tests and
    /// benchmarks that compare both ways.
    pub fn chart_from_documents(
        &self,
        project_id: Option<&str>,
        q: &hive_core::chart::ChartQuery,
    ) -> Result<Vec<hive_core::chart::Series>> {
        self.with_reader(|c| chart::run(c, project_id, q))
    }

    /// An event query answered by SQL over the stored documents (what
    /// filtered queries fall back to when their columns do not fit in
    /// memory), for tests and benchmarks that compare both ways.
    pub fn query_from_documents(&self, q: &EventQuery) -> Result<EventPage> {
        let compiled = compile(q);
        self.with_reader(|c| {
            let params = rusqlite::params_from_iter(compiled.params.iter());
            let total: i64 = c.query_row(&compiled.count_sql, params, |r| r.get(0))?;
            let mut stmt = c.prepare(&compiled.select_sql)?;
            let params = rusqlite::params_from_iter(compiled.params.iter());
            let rows = stmt.query_map(params, |r| r.get::<_, String>(0))?;
            let mut events = Vec::new();
            for row in rows {
                events.push(parse_doc(&row?)?);
            }
            Ok(EventPage {
                events,
                total: total.max(0) as u64,
                received_from: None,
            })
        })
    }

    /// Load the in-memory columns the last runs used (remembered next to
    /// the database), most recently used first, while they fit in memory;
    /// how many fields were loaded. Meant for a background thread at start.
    pub fn warm_columns(&self) -> Result<usize> {
        self.with_reader(|c| self.columns.warm(c))
    }

    /// Bytes held by in-memory columns.
    pub fn column_memory_used(&self) -> usize {
        self.columns.bytes()
    }

    /// Where the database lives.
    fn apply_at(&self, ops: &[WriteOp], position: Option<u64>) -> Result<()> {
        let mut writer = lock(&self.writer);
        let changed = writer.apply(ops, position)?;
        // Published before the writer is released, so before the write is
        // acknowledged: a chart that follows sees it.
        self.columns.publish(changed);
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = match lock(&self.readers).pop() {
            Some(c) => c,
            None => {
                let c = open_conn(&self.path, Durability::Normal)?;
                c.pragma_update(None, "query_only", true)?;
                // A statement of a read its caller abandoned stops
                // (`cancel`; checked every 100 000 virtual machine steps).
                c.progress_handler(100_000, Some(crate::cancel::is_cancelled));
                c
            }
        };
        let out = f(&conn);
        let mut pool = lock(&self.readers);
        if pool.len() < self.max_readers {
            pool.push(conn);
        }
        out
    }

    /// Every API key with the SHA-256 of its secret, oldest first: what
    /// `hive migrate` moves, so that the secrets work on ClickHouse.
    pub fn keys_with_hashes(&self) -> Result<Vec<(crate::auth::ApiKey, String)>> {
        self.auth.keys_with_hashes()
    }

    /// Checkpoint the WAL into the main file, and truncate both (on
    /// shutdown, and before measuring the file). A reader in the middle of
    /// a read keeps the checkpoint from finishing (SQLite answers "busy"
    /// rather than an error), so it is tried again until it finishes, for
    /// at most two seconds; after that what was copied stays copied.
    pub fn checkpoint(&self) -> Result<()> {
        let w = lock(&self.writer);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let busy: i64 = w
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
            if busy == 0 || std::time::Instant::now() >= deadline {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// Make deleted pages returnable to the file system (`auto_vacuum =
/// INCREMENTAL`, then `PRAGMA incremental_vacuum` in steps: see
/// [`Store::reclaim_space`]). A new database takes the setting before its
/// first table; a database made by an earlier version is converted once by
/// a `VACUUM` (it rewrites the file: about the time to copy it, and as much
/// free disk again while it runs).
fn enable_incremental_vacuum(conn: &Connection, path: &Path) -> Result<()> {
    let mode: i64 = conn.query_row("PRAGMA auto_vacuum", [], |r| r.get(0))?;
    if mode == 2 {
        return Ok(());
    }
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    // Once in WAL mode the setting takes a VACUUM even on a new, empty
    // database (instant then).
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    if tables > 0 {
        tracing::info!(path = %path.display(), "converting the database to incremental vacuum (once)");
    }
    let started = std::time::Instant::now();
    conn.execute_batch("VACUUM")?;
    if tables > 0 {
        tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            "database converted to incremental vacuum"
        );
    }
    Ok(())
}

/// A background thread that runs a task every `period_ms` until dropped.
struct Periodic {
    stop: std::sync::Arc<(Mutex<bool>, std::sync::Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Periodic {
    fn start(
        name: &str,
        period_ms: u64,
        mut task: impl FnMut() + Send + 'static,
    ) -> Result<Periodic> {
        let stop = std::sync::Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let (lock_, cvar) = &*flag;
                let mut stopped = lock(lock_);
                while !*stopped {
                    let (guard, _) = cvar
                        .wait_timeout(stopped, std::time::Duration::from_millis(period_ms))
                        .unwrap_or_else(|e| e.into_inner());
                    stopped = guard;
                    if !*stopped {
                        task();
                    }
                }
            })
            .map_err(|e| StoreError::Invalid(format!("cannot start the {name} thread: {e}")))?;
        Ok(Periodic {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Periodic {
    fn drop(&mut self) {
        *lock(&self.stop.0) = true;
        self.stop.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The projects a read covers: the one named, or every project that has
/// events (one index seek per project).
fn projects_of(c: &Connection, project_id: Option<&str>) -> Result<Vec<String>> {
    match project_id {
        Some(p) => Ok(vec![p.to_owned()]),
        None => {
            let mut stmt = c.prepare_cached(
                "WITH RECURSIVE p(id) AS (SELECT min(project_id) FROM events \
                 UNION ALL SELECT (SELECT min(project_id) FROM events WHERE project_id > p.id) \
                 FROM p WHERE p.id IS NOT NULL) SELECT id FROM p WHERE id IS NOT NULL",
            )?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<std::result::Result<_, _>>()?)
        }
    }
}

/// The documents of rows `ids`, in that order (rows gone are skipped).
fn docs_by_id(c: &Connection, ids: &[i64]) -> Result<Vec<Value>> {
    let mut stmt = c.prepare_cached("SELECT doc FROM events WHERE id = ?1")?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let doc: Option<String> = stmt.query_row(params![id], |r| r.get(0)).optional()?;
        if let Some(doc) = doc {
            out.push(parse_doc(&doc)?);
        }
    }
    Ok(out)
}

fn parse_doc(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// `project_id = ?` or nothing, for reads scoped to a project or not.
fn project_clause(project_id: Option<&str>) -> &'static str {
    if project_id.is_some() {
        "project_id = ?1"
    } else {
        "?1 IS NULL"
    }
}

impl Store for SqliteStore {
    fn apply(&self, ops: &[WriteOp]) -> Result<()> {
        self.apply_at(ops, None)
    }

    fn apply_logged(&self, ops: &[WriteOp], position: u64) -> Result<()> {
        self.apply_at(ops, Some(position))
    }

    fn expire(&self, project_id: &str, before_ms: i64, limit: usize) -> Result<u64> {
        // Sessions in time order (the partial index of session events).
        let sessions: Vec<String> = self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT event_id FROM events WHERE project_id = ?1 AND start_time < ?2 \
                 AND event_type = 'session' AND event_id = session_id ORDER BY start_time LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![project_id, before_ms, limit as i64], |r| {
                r.get::<_, String>(0)
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        if sessions.is_empty() {
            return Ok(0);
        }
        let ops: Vec<WriteOp> = sessions
            .into_iter()
            .map(|s| WriteOp::Delete {
                project_id: project_id.to_owned(),
                target: crate::DeleteTarget::Session(s),
            })
            .collect();
        let mut writer = lock(&self.writer);
        let before = writer.deleted_events;
        let changed = writer.apply(&ops, None)?;
        self.columns.publish(changed);
        Ok((writer.deleted_events - before).max(1))
    }

    fn reclaim_space(&self) -> Result<u64> {
        // Small steps under the writer lock: a step moves at most
        // RECLAIM_PAGES pages, so ingest waits for it a few milliseconds.
        let writer = lock(&self.writer);
        let free: i64 = writer
            .conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        if free == 0 {
            return Ok(0);
        }
        // The pragma frees one page per step of its statement.
        {
            let mut stmt = writer
                .conn
                .prepare(&format!("PRAGMA incremental_vacuum({RECLAIM_PAGES})"))?;
            let mut rows = stmt.query([])?;
            while rows.next()?.is_some() {}
        }
        let free: i64 = writer
            .conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        let page: i64 = writer
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok((free * page).max(0) as u64)
    }

    fn disk_bytes(&self) -> Result<u64> {
        let file = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        Ok(file(&self.path) + file(&wal))
    }

    fn log_position(&self) -> Result<u64> {
        let writer = lock(&self.writer);
        let p: Option<i64> = writer
            .conn
            .query_row("SELECT position FROM log_position WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(p.unwrap_or(0).max(0) as u64)
    }

    fn get_event(&self, project_id: Option<&str>, event_id: &str) -> Result<Option<Value>> {
        self.with_reader(|c| {
            let sql = format!(
                "SELECT doc FROM events WHERE {} AND event_id = ?2 ORDER BY has_base DESC, id LIMIT 1",
                project_clause(project_id)
            );
            let doc: Option<String> = c
                .query_row(&sql, params![project_id, event_id], |r| r.get(0))
                .optional()?;
            doc.as_deref().map(parse_doc).transpose()
        })
    }

    fn get_raw(&self, project_id: Option<&str>, event_id: &str) -> Result<Option<Value>> {
        self.with_reader(|c| {
            let sql = format!(
                "SELECT raw FROM events WHERE {} AND event_id = ?2 ORDER BY has_base DESC, id LIMIT 1",
                project_clause(project_id)
            );
            let raw: Option<Option<String>> = c
                .query_row(&sql, params![project_id, event_id], |r| r.get(0))
                .optional()?;
            raw.flatten().as_deref().map(parse_doc).transpose()
        })
    }

    fn session_events(
        &self,
        project_id: Option<&str>,
        session_id: &str,
        limit: usize,
    ) -> Result<Vec<Value>> {
        self.with_reader(|c| {
            // Across projects, read the session in the project that has it
            // (the real session before a placeholder).
            let located: Option<String> = match project_id {
                Some(_) => None,
                None => c
                    .query_row(
                        "SELECT project_id FROM events WHERE event_id = ?1 AND event_type = 'session' \
                         ORDER BY has_base DESC, id LIMIT 1",
                        params![session_id],
                        |r| r.get(0),
                    )
                    .optional()?,
            };
            let project_id = project_id.or(located.as_deref());
            let sql = format!(
                "SELECT doc FROM events WHERE {} AND session_id = ?2 \
                 ORDER BY event_type != 'session' OR event_id != session_id, start_time, id \
                 LIMIT ?3",
                project_clause(project_id)
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = stmt.query_map(params![project_id, session_id, limit], |r| {
                r.get::<_, String>(0)
            })?;
            let mut out = Vec::new();
            for row in rows {
                out.push(parse_doc(&row?)?);
            }
            Ok(out)
        })
    }

    fn query(&self, q: &EventQuery) -> Result<EventPage> {
        if !crate::query::fast_in_sql(q) {
            let page = self.with_reader(|c| {
                let projects = projects_of(c, q.project_id.as_deref())?;
                let Some((ids, total)) = self.columns.query(c, &projects, q)? else {
                    return Ok(None);
                };
                Ok(Some(EventPage {
                    events: docs_by_id(c, &ids)?,
                    total,
                    received_from: None,
                }))
            })?;
            if let Some(page) = page {
                return Ok(page);
            }
        }
        self.query_from_documents(q)
    }

    fn events_after(&self, project_id: &str, q: &EventQuery, after: &str) -> Result<Vec<Value>> {
        // In batches along the index of ids, until the page is full or the
        // ids run out.
        let limit = q.limit.clamp(1, crate::query::MAX_LIMIT);
        let batch = crate::query::after_batch(q, limit);
        let mut cursor = after.to_owned();
        let mut out = Vec::new();
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT event_id, doc FROM events WHERE event_id > ?2 AND project_id = ?1 \
                 ORDER BY event_id LIMIT ?3",
            )?;
            loop {
                let rows: Vec<(String, String)> = stmt
                    .query_map(params![project_id, cursor, batch as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?
                    .collect::<std::result::Result<_, _>>()?;
                for (id, doc) in &rows {
                    let doc = parse_doc(doc)?;
                    if crate::query::matches_event(q, &doc) {
                        out.push(doc);
                        if out.len() == limit {
                            return Ok(());
                        }
                    }
                    cursor.clone_from(id);
                }
                if rows.len() < batch {
                    return Ok(());
                }
                crate::cancel::check()?;
            }
        })?;
        Ok(out)
    }

    fn history(&self, project_id: Option<&str>, event_id: &str) -> Result<Vec<HistoryEntry>> {
        self.with_reader(|c| {
            let sql = format!(
                "SELECT seq, received_at, key_id, patch FROM patches WHERE {} AND event_id = ?2 ORDER BY seq",
                project_clause(project_id)
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![project_id, event_id], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, String>(3)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, received_at, key_id, patch) = row?;
                out.push(HistoryEntry {
                    seq,
                    received_at,
                    key_id,
                    patch: parse_doc(&patch)?,
                });
            }
            Ok(out)
        })
    }

    fn fields(&self, project_id: &str) -> Result<Vec<FieldInfo>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT path, type FROM fields WHERE project_id = ?1 ORDER BY path, type",
            )?;
            let rows = stmt.query_map(params![project_id], |r| {
                Ok(FieldInfo {
                    field: r.get(0)?,
                    ty: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn active_projects(&self) -> Result<Vec<String>> {
        // The newest session start of each project with sessions, from the
        // index of sessions in time order: the projects are found by
        // stepping from one to the next in it, and each one's newest start
        // by one step down it, where the default's list of every project's
        // sessions counted them all (p50 257 ms, the first 8.7 s, at 1.1 M
        // events).
        let ahead = crate::now_ms().saturating_add(86_400_000);
        self.with_reader(|c| {
            const SESSION: &str = "event_type = 'session' AND event_id = session_id";
            let mut stmt = c.prepare_cached(&format!(
                "WITH RECURSIVE p(id) AS ( \
                   SELECT min(project_id) FROM events WHERE {SESSION} \
                   UNION ALL \
                   SELECT (SELECT min(project_id) FROM events \
                           WHERE project_id > p.id AND {SESSION}) \
                   FROM p WHERE p.id IS NOT NULL) \
                 SELECT id FROM (SELECT id, (SELECT max(start_time) FROM events \
                   WHERE project_id = p.id AND {SESSION} AND start_time <= ?1) AS newest \
                   FROM p WHERE id IS NOT NULL) \
                 WHERE newest IS NOT NULL ORDER BY newest DESC, id"
            ))?;
            let ids = stmt.query_map(params![ahead], |r| r.get(0))?;
            Ok(ids.collect::<Result<Vec<String>, _>>()?)
        })
    }

    fn session_errors(
        &self,
        project_id: &str,
        session_ids: &[String],
    ) -> Result<Vec<(String, i64)>> {
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT error_events FROM sessions WHERE project_id = ?1 AND session_id = ?2",
            )?;
            let mut out = Vec::new();
            for id in session_ids {
                let n: Option<i64> = stmt
                    .query_row(params![project_id, id], |r| r.get(0))
                    .optional()?;
                if let Some(n) = n.filter(|n| *n > 0) {
                    out.push((id.clone(), n));
                }
            }
            Ok(out)
        })
    }

    fn chart(
        &self,
        project_id: Option<&str>,
        q: &hive_core::chart::ChartQuery,
    ) -> Result<Vec<hive_core::chart::Series>> {
        self.with_reader(|c| {
            let projects = projects_of(c, project_id)?;
            if let Some(series) = self.columns.chart(c, &projects, q)? {
                return Ok(series);
            }
            chart::run(c, project_id, q)
        })
    }

    fn auth(&self) -> &dyn crate::auth::AuthStore {
        &self.auth
    }

    fn objects(&self) -> &dyn crate::objects::ObjectStore {
        &self.objects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A statement of a read whose caller abandoned it stops.
    #[test]
    fn an_abandoned_read_is_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open(dir.path().join("hive.db"), SqliteOptions::default()).unwrap();
        // About a second of work for SQLite in a debug build.
        let long = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r \
                    WHERE i < 5000000) SELECT count(*) FROM r";
        let run = || store.with_reader(|c| Ok(c.query_row(long, [], |r| r.get::<_, i64>(0))?));
        let token = crate::cancel::Cancel::new();
        let canceller = {
            let token = token.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                token.cancel();
            })
        };
        let started = std::time::Instant::now();
        let got = token.scope(run);
        canceller.join().unwrap();
        assert!(
            matches!(
                &got,
                Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
                    if e.code == rusqlite::ffi::ErrorCode::OperationInterrupted
            ),
            "{got:?}"
        );
        assert!(started.elapsed() < std::time::Duration::from_millis(500));
        // The connection goes back to the pool and reads whole again.
        assert_eq!(run().unwrap(), 5_000_000);
    }
}
