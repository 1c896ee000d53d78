//! The single writer: applies a batch of ops in one transaction.
//!
//! Every enrichment is appended to `patches` and merged into the event's
//! current `doc`; an event that arrives after its enrichments is folded with
//! them. Session rollups are updated by contribution deltas and written into
//! the session doc at the end of the batch.

use std::collections::{HashMap, HashSet};

use hive_core::merge::{fold, merge_patch};
use hive_core::model::{Event, NAMESPACES};
use hive_core::rollup::{Contribution, Rollup, whole_ms};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::Value;

use crate::prepared::{PreparedEvent, leaf_fields, to_text};
use crate::{Result, StoreError, WriteOp};

/// Caches are only an optimisation; they are bounded and cleared when full.
const CACHE_LIMIT: usize = 500_000;

pub(super) struct Writer {
    pub(super) conn: Connection,
    /// (project, session) pairs known to have a session row.
    known_sessions: HashSet<(String, String)>,
    /// "project\0path\0type" already in `fields`.
    known_fields: HashSet<String>,
    /// Floating patches in the database (see [`WriteOp::Enrich`]); when
    /// zero, new events skip the check.
    floating: i64,
    /// Rows recently read or written (hot sessions are enriched again and
    /// again): their parsed docs, exactly as committed. Every doc write goes
    /// through [`store_row`], which keeps it current; a failed transaction
    /// drops it.
    rows: RowCache,
    /// Events deleted since the store opened.
    pub(super) deleted_events: u64,
}

type RowCache = HashMap<(String, String), Row>;

/// Rows kept in the cache at most (it is cleared when full).
const ROW_CACHE_LIMIT: usize = 5_000;

/// What a batch changed in one session.
#[derive(Default)]
struct SessionDelta {
    old: Vec<Contribution>,
    new: Vec<Contribution>,
    /// Whether the rollup or the session doc may have changed: when false,
    /// the session is left alone (an enrichment of the session itself that
    /// touches no rollup-owned key).
    apply: bool,
}

/// Keys of a session the rollup owns or widens.
const ROLLUP_KEYS: [&str; 7] = [
    "num_events",
    "num_model_events",
    "has_feedback",
    "cost",
    "total_tokens",
    "prompt_tokens",
    "completion_tokens",
];

/// Whether a patch of a session can change what the rollup writes.
fn patch_touches_rollup(patch: &Value) -> bool {
    ["start_time", "end_time", "duration", "feedback"]
        .iter()
        .any(|k| patch.get(k).is_some())
        || patch
            .get("metadata")
            .and_then(Value::as_object)
            .is_some_and(|m| ROLLUP_KEYS.iter().any(|k| m.contains_key(*k)))
        || patch.get("metadata").is_some_and(Value::is_null)
}

#[derive(Default)]
struct Batch {
    sessions: HashMap<(String, String), SessionDelta>,
    new_sessions: HashSet<(String, String)>,
    new_fields: Vec<(String, String, String)>,
    /// Floating patches, as of this point of the batch.
    floating: i64,
    /// The writer's row cache, lent to the batch.
    rows: RowCache,
    /// Ids of the rows inserted, updated or deleted, per project.
    changed: Changed,
    /// Sessions deleted by this batch: no longer known to exist.
    deleted_sessions: HashSet<(String, String)>,
    /// Events deleted by this batch.
    deleted_events: u64,
}

/// Ids of written rows per project (what in-memory columns re-read).
pub(super) type Changed = HashMap<String, Vec<i64>>;

impl Batch {
    fn touched(&mut self, project_id: &str, id: i64) {
        match self.changed.get_mut(project_id) {
            Some(ids) => ids.push(id),
            None => {
                self.changed.insert(project_id.to_owned(), vec![id]);
            }
        }
    }
}

#[derive(Clone)]
struct Row {
    id: i64,
    doc: Value,
    has_base: bool,
    npatches: i64,
    duration_explicit: bool,
    /// The indexed columns as stored (`None`: unknown, write them).
    columns: Option<Columns>,
}

/// The indexed columns of `events` derived from a doc. Writing them only
/// when they change spares three index updates per enrichment.
#[derive(Clone, PartialEq)]
struct Columns {
    session_id: String,
    parent_id: Option<String>,
    event_type: String,
    event_name: String,
    start_time: i64,
}

impl Columns {
    fn of(doc: &Value) -> Columns {
        Columns {
            session_id: str_of(doc, "session_id").to_owned(),
            parent_id: doc
                .get("parent_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            event_type: str_of(doc, "event_type").to_owned(),
            event_name: str_of(doc, "event_name").to_owned(),
            // Whole milliseconds, rounded down: compared with
            // whole-millisecond bounds as the time itself would be.
            start_time: whole_ms(doc.get("start_time")).unwrap_or(0),
        }
    }
}

fn str_of<'a>(doc: &'a Value, key: &str) -> &'a str {
    doc.get(key).and_then(Value::as_str).unwrap_or("")
}

impl Writer {
    pub(super) fn new(conn: Connection) -> Result<Writer> {
        let floating =
            conn.query_row("SELECT count(*) FROM patches WHERE floating = 1", [], |r| {
                r.get(0)
            })?;
        Ok(Writer {
            conn,
            known_sessions: HashSet::new(),
            known_fields: HashSet::new(),
            floating,
            rows: HashMap::new(),
            deleted_events: 0,
        })
    }

    /// Apply `ops` in one transaction, with the ingest-log position they
    /// reach when given; the ids of the rows it wrote.
    pub(super) fn apply(&mut self, ops: &[WriteOp], position: Option<u64>) -> Result<Changed> {
        // The cache is lent to the batch and comes back only if the
        // transaction commits: after a failure it is dropped (cleared).
        let mut batch = Batch {
            floating: self.floating,
            rows: std::mem::take(&mut self.rows),
            ..Batch::default()
        };
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for op in ops {
            match op {
                WriteOp::Event {
                    event,
                    raw,
                    session_name,
                    join,
                    floating,
                } => {
                    let p = PreparedEvent::new(
                        event.clone(),
                        raw.as_ref(),
                        session_name.clone(),
                        *join,
                        *floating,
                    );
                    apply_prepared(
                        &tx,
                        &mut batch,
                        &self.known_sessions,
                        &self.known_fields,
                        &p,
                    )?;
                }
                WriteOp::Prepared(p) => {
                    apply_prepared(&tx, &mut batch, &self.known_sessions, &self.known_fields, p)?
                }
                WriteOp::Enrich {
                    project_id,
                    floating,
                    event_id,
                    patch,
                    key_id,
                    received_at_ms,
                } => apply_enrich(
                    &tx,
                    &mut batch,
                    &self.known_fields,
                    project_id,
                    *floating,
                    event_id,
                    patch,
                    key_id.as_deref(),
                    *received_at_ms,
                )?,
                WriteOp::Delete { project_id, target } => {
                    apply_delete(&tx, &mut batch, project_id, target)?
                }
            }
        }
        finish_sessions(&tx, &mut batch)?;
        if let Some(position) = position {
            tx.prepare_cached(
                "INSERT INTO log_position (id, position) VALUES (1, ?1) \
                 ON CONFLICT (id) DO UPDATE SET position = excluded.position",
            )?
            .execute(params![position as i64])?;
        }
        tx.commit()?;
        self.floating = batch.floating;
        self.rows = std::mem::take(&mut batch.rows);
        // Only committed facts enter the caches.
        if self.known_sessions.len() > CACHE_LIMIT {
            self.known_sessions.clear();
        }
        if self.known_fields.len() > CACHE_LIMIT {
            self.known_fields.clear();
        }
        for s in &batch.deleted_sessions {
            self.known_sessions.remove(s);
        }
        self.known_sessions.extend(batch.new_sessions);
        self.deleted_events += batch.deleted_events;
        for (p, path, ty) in batch.new_fields {
            self.known_fields.insert(format!("{p}\0{path}\0{ty}"));
        }
        Ok(batch.changed)
    }
}

/// An event write: relocated to its session's project when floating,
/// merged in when it joins an existing session, inserted otherwise.
fn apply_prepared(
    tx: &Connection,
    batch: &mut Batch,
    known_sessions: &HashSet<(String, String)>,
    known_fields: &HashSet<String>,
    p: &PreparedEvent,
) -> Result<()> {
    let relocated;
    let p = match p
        .floating
        .then(|| locate(tx, &p.event.session_id))
        .transpose()?
        .flatten()
    {
        Some(project) if project != p.event.project_id => {
            relocated = p.relocated(&project);
            &relocated
        }
        _ => p,
    };
    if p.join && joins_existing(tx, batch, &p.event)? {
        let patch = join_patch(&p.event);
        apply_enrich(
            tx,
            batch,
            known_fields,
            &p.event.project_id,
            false,
            &p.event.event_id,
            &patch,
            None,
            p.event.start_time,
        )
    } else {
        apply_event(tx, batch, known_sessions, known_fields, p)
    }
}

/// Whether the event exists with a real base (not as a placeholder).
fn joins_existing(tx: &Connection, batch: &mut Batch, event: &Event) -> Result<bool> {
    let Some(row) = take_row(tx, batch, &event.project_id, &event.event_id)? else {
        return Ok(false);
    };
    let has_base = row.has_base;
    batch
        .rows
        .insert((event.project_id.clone(), event.event_id.clone()), row);
    Ok(has_base)
}

/// The non-empty namespaces of an event, as a patch.
fn join_patch(event: &Event) -> Value {
    let doc = event.to_json();
    let mut patch = serde_json::Map::new();
    for ns in NAMESPACES {
        if let Some(Value::Object(m)) = doc.get(ns)
            && !m.is_empty()
        {
            patch.insert(ns.to_owned(), Value::Object(m.clone()));
        }
    }
    Value::Object(patch)
}

fn load_row(tx: &Connection, project_id: &str, event_id: &str) -> Result<Option<Row>> {
    let mut stmt = tx.prepare_cached(
        "SELECT id, doc, has_base, npatches, duration_explicit FROM events \
         WHERE project_id = ?1 AND event_id = ?2",
    )?;
    let row = stmt
        .query_row(params![project_id, event_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, bool>(4)?,
            ))
        })
        .optional()?;
    match row {
        None => Ok(None),
        Some((id, doc, has_base, npatches, duration_explicit)) => {
            let doc: Value =
                serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(Some(Row {
                id,
                columns: Some(Columns::of(&doc)),
                doc,
                has_base,
                npatches,
                duration_explicit,
            }))
        }
    }
}

/// A row, from the cache (taken out of it) or the database.
fn take_row(
    tx: &Connection,
    batch: &mut Batch,
    project_id: &str,
    event_id: &str,
) -> Result<Option<Row>> {
    if let Some(row) = batch
        .rows
        .remove(&(project_id.to_owned(), event_id.to_owned()))
    {
        return Ok(Some(row));
    }
    load_row(tx, project_id, event_id)
}

fn load_patches(tx: &Connection, project_id: &str, event_id: &str) -> Result<Vec<Value>> {
    let mut stmt = tx.prepare_cached(
        "SELECT patch FROM patches WHERE project_id = ?1 AND event_id = ?2 ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![project_id, event_id], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(serde_json::from_str(&row?).map_err(|e| StoreError::Corrupt(e.to_string()))?);
    }
    Ok(out)
}

fn apply_event(
    tx: &Connection,
    batch: &mut Batch,
    known_sessions: &HashSet<(String, String)>,
    known_fields: &HashSet<String>,
    p: &PreparedEvent,
) -> Result<()> {
    let event = &p.event;
    let raw_text = p.raw_text.as_deref();
    let project_id = event.project_id.as_str();
    let inserted = {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO events (project_id, event_id, session_id, parent_id, event_type, event_name, \
             start_time, has_base, doc, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9) \
             ON CONFLICT (event_id, project_id) DO NOTHING",
        )?;
        stmt.execute(params![
            project_id,
            event.event_id,
            event.session_id,
            event.parent_id,
            event.event_type,
            event.event_name,
            event.start_time,
            p.doc_text(),
            raw_text,
        ])? == 1
    };
    if inserted {
        batch.touched(project_id, tx.last_insert_rowid());
    }
    let adopted = if batch.floating > 0 {
        adopt_floating(tx, batch, project_id, &event.event_id)?
    } else {
        false
    };
    if inserted && !adopted {
        // The common case: a new event, all prepared by the handler.
        ensure_session(tx, batch, known_sessions, p)?;
        let delta = batch
            .sessions
            .entry((project_id.to_owned(), event.session_id.clone()))
            .or_default();
        delta.new.push(p.contribution());
        delta.apply = true;
        return record_field_list(tx, batch, known_fields, project_id, p.fields());
    }
    let base = event.to_json();
    let doc = {
        // Seen before: a placeholder made by enrichments, or a re-delivery.
        let Some(row) = take_row(tx, batch, project_id, &event.event_id)? else {
            return Err(StoreError::Corrupt(format!(
                "event {} vanished",
                event.event_id
            )));
        };
        let patches = if row.npatches > 0 || adopted {
            load_patches(tx, project_id, &event.event_id)?
        } else {
            Vec::new()
        };
        let doc = fold(base, patches.iter());
        let old = if inserted {
            Contribution::default()
        } else {
            Contribution::of(&row.doc)
        };
        let old_session = str_of(&row.doc, "session_id").to_owned();
        batch
            .sessions
            .entry((project_id.to_owned(), old_session))
            .or_default()
            .old
            .push(old);
        let new_row = Row {
            id: row.id,
            doc: doc.clone(),
            has_base: true,
            npatches: patches.len() as i64,
            duration_explicit: row.duration_explicit,
            columns: row.columns,
        };
        store_row(tx, batch, project_id, &event.event_id, new_row, raw_text)?;
        doc
    };
    ensure_session(tx, batch, known_sessions, p)?;
    let delta = batch
        .sessions
        .entry((project_id.to_owned(), event.session_id.clone()))
        .or_default();
    delta.new.push(Contribution::of(&doc));
    delta.apply = true;
    record_fields(tx, batch, known_fields, project_id, &doc)
}

/// Make the placeholder session of a new event when its session is unknown.
fn ensure_session(
    tx: &Connection,
    batch: &mut Batch,
    known_sessions: &HashSet<(String, String)>,
    p: &PreparedEvent,
) -> Result<()> {
    let event = &p.event;
    let project_id = event.project_id.as_str();
    let session_key = (project_id.to_owned(), event.session_id.clone());
    if !event.is_session()
        && (!known_sessions.contains(&session_key) || batch.deleted_sessions.contains(&session_key))
        && !batch.new_sessions.contains(&session_key)
    {
        let session_name = p.session_name.as_deref();
        let mut placeholder =
            Event::placeholder_session(&event.session_id, project_id, event.start_time);
        if let Some(name) = session_name {
            placeholder.event_name = name.to_owned();
        }
        placeholder.source = event.source.clone();
        let pdoc = placeholder.to_json();
        if tx
            .prepare_cached(
                "INSERT INTO events (project_id, event_id, session_id, parent_id, event_type, event_name, \
             start_time, has_base, doc) VALUES (?1, ?2, ?2, NULL, 'session', ?3, ?4, 0, ?5) \
             ON CONFLICT (event_id, project_id) DO NOTHING",
            )?
        .execute(params![
            project_id,
            event.session_id,
            placeholder.event_name,
            placeholder.start_time,
            to_text(&pdoc)
        ])? == 1
        {
            batch.touched(project_id, tx.last_insert_rowid());
        }
        batch.new_sessions.insert(session_key);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn apply_enrich(
    tx: &Connection,
    batch: &mut Batch,
    known_fields: &HashSet<String>,
    project_id: &str,
    floating: bool,
    event_id: &str,
    patch: &Value,
    key_id: Option<&str>,
    received_at: i64,
) -> Result<()> {
    // A floating enrichment goes to the project that has the event; if none
    // has it yet, it waits in `project_id` and moves when the event arrives.
    let (project_id, floating) = if floating {
        match locate(tx, event_id)? {
            Some(found) => (found, false),
            None => (project_id.to_owned(), true),
        }
    } else {
        (project_id.to_owned(), false)
    };
    let project_id = project_id.as_str();
    tx.prepare_cached(
        "INSERT INTO patches (project_id, event_id, received_at, key_id, patch, floating) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        project_id,
        event_id,
        received_at,
        key_id,
        to_text(patch),
        floating
    ])?;
    if floating {
        batch.floating += 1;
    }
    let sets_duration = patch.get("duration").is_some_and(|d| !d.is_null());
    let mut created = false;
    let (session, is_session, contribution) = match take_row(tx, batch, project_id, event_id)? {
        Some(mut row) => {
            let old_session = str_of(&row.doc, "session_id").to_owned();
            batch
                .sessions
                .entry((project_id.to_owned(), old_session))
                .or_default()
                .old
                .push(Contribution::of(&row.doc));
            merge_patch(&mut row.doc, patch);
            row.npatches += 1;
            row.duration_explicit |= sets_duration;
            let summary = (
                str_of(&row.doc, "session_id").to_owned(),
                str_of(&row.doc, "event_type") == "session",
                Contribution::of(&row.doc),
            );
            store_row(tx, batch, project_id, event_id, row, None)?;
            summary
        }
        None => {
            // Not seen yet: keep it as a placeholder session; when the real
            // event arrives it is folded with every patch.
            created = true;
            let placeholder = Event::placeholder_session(event_id, project_id, received_at);
            let doc = fold(placeholder.to_json(), [patch]);
            tx.prepare_cached(
                "INSERT INTO events (project_id, event_id, session_id, parent_id, event_type, event_name, \
                 start_time, has_base, npatches, duration_explicit, doc) \
                 VALUES (?1, ?2, ?2, NULL, 'session', ?3, ?4, 0, 1, ?5, ?6)",
            )?
            .execute(params![
                project_id,
                event_id,
                str_of(&doc, "event_name"),
                whole_ms(doc.get("start_time")).unwrap_or(received_at),
                sets_duration,
                to_text(&doc)
            ])?;
            batch.touched(project_id, tx.last_insert_rowid());
            batch
                .new_sessions
                .insert((project_id.to_owned(), event_id.to_owned()));
            (event_id.to_owned(), true, Contribution::of(&doc))
        }
    };
    let delta = batch
        .sessions
        .entry((project_id.to_owned(), session))
        .or_default();
    delta.new.push(contribution);
    delta.apply |= created || !is_session || patch_touches_rollup(patch);
    // The only new paths an enrichment can bring are its own.
    record_field_list(tx, batch, known_fields, project_id, &leaf_fields(patch))
}

/// The project that has the event (placeholders do not count: a floating
/// patch keeps floating until the real event is somewhere).
fn locate(tx: &Connection, event_id: &str) -> Result<Option<String>> {
    Ok(tx
        .prepare_cached("SELECT project_id FROM events WHERE event_id = ?1 AND has_base = 1 ORDER BY id LIMIT 1")?
        .query_row(params![event_id], |r| r.get(0))
        .optional()?)
}

/// Move floating patches of `event_id` into `project_id` (where the event
/// just arrived), dropping the placeholders they made elsewhere. Returns
/// whether any were adopted.
fn adopt_floating(
    tx: &Connection,
    batch: &mut Batch,
    project_id: &str,
    event_id: &str,
) -> Result<bool> {
    let others: Vec<String> = {
        let mut stmt = tx.prepare_cached(
            "SELECT DISTINCT project_id FROM patches WHERE floating = 1 AND event_id = ?1",
        )?;
        let rows = stmt.query_map(params![event_id], |r| r.get::<_, String>(0))?;
        rows.collect::<Result<_, _>>()?
    };
    if others.is_empty() {
        return Ok(false);
    }
    for old in &others {
        if old != project_id {
            let gone: Option<i64> = tx
                .prepare_cached(
                    "SELECT id FROM events WHERE project_id = ?1 AND event_id = ?2 AND has_base = 0",
                )?
                .query_row(params![old, event_id], |r| r.get(0))
                .optional()?;
            if let Some(id) = gone {
                batch.touched(old, id);
            }
            tx.prepare_cached(
                "DELETE FROM events WHERE project_id = ?1 AND event_id = ?2 AND has_base = 0",
            )?
            .execute(params![old, event_id])?;
            batch.rows.remove(&(old.clone(), event_id.to_owned()));
            tx.prepare_cached("DELETE FROM sessions WHERE project_id = ?1 AND session_id = ?2")?
                .execute(params![old, event_id])?;
            batch.sessions.remove(&(old.clone(), event_id.to_owned()));
        }
    }
    let moved = tx
        .prepare_cached(
            "UPDATE patches SET project_id = ?2, floating = 0 WHERE floating = 1 AND event_id = ?1",
        )?
        .execute(params![event_id, project_id])?;
    batch.floating -= moved as i64;
    Ok(true)
}

/// Delete a session, or one event (a session event: its whole session),
/// with the enrichment history and raw spans; the session rollup of a
/// deleted event is updated.
fn apply_delete(
    tx: &Connection,
    batch: &mut Batch,
    project_id: &str,
    target: &crate::DeleteTarget,
) -> Result<()> {
    let event_id = match target {
        crate::DeleteTarget::Session(s) => return delete_session(tx, batch, project_id, s),
        crate::DeleteTarget::Event(e) => e,
    };
    let Some(row) = take_row(tx, batch, project_id, event_id)? else {
        return Ok(());
    };
    let session = str_of(&row.doc, "session_id").to_owned();
    if session == *event_id || str_of(&row.doc, "event_type") == "session" && session.is_empty() {
        return delete_session(tx, batch, project_id, event_id);
    }
    delete_rows(tx, batch, project_id, &[(row.id, event_id.clone())])?;
    let delta = batch
        .sessions
        .entry((project_id.to_owned(), session))
        .or_default();
    delta.old.push(Contribution::of(&row.doc));
    delta.apply = true;
    Ok(())
}

fn delete_session(
    tx: &Connection,
    batch: &mut Batch,
    project_id: &str,
    session_id: &str,
) -> Result<()> {
    let rows: Vec<(i64, String)> = {
        let mut stmt = tx.prepare_cached(
            "SELECT id, event_id FROM events WHERE project_id = ?1 AND session_id = ?2              UNION SELECT id, event_id FROM events WHERE project_id = ?1 AND event_id = ?2",
        )?;
        let rows = stmt.query_map(params![project_id, session_id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        rows.collect::<Result<_, _>>()?
    };
    delete_rows(tx, batch, project_id, &rows)?;
    tx.prepare_cached("DELETE FROM sessions WHERE project_id = ?1 AND session_id = ?2")?
        .execute(params![project_id, session_id])?;
    let key = (project_id.to_owned(), session_id.to_owned());
    batch.sessions.remove(&key);
    batch.new_sessions.remove(&key);
    batch.deleted_sessions.insert(key);
    Ok(())
}

/// Delete event rows (by row id and event id) and their patches.
fn delete_rows(
    tx: &Connection,
    batch: &mut Batch,
    project_id: &str,
    rows: &[(i64, String)],
) -> Result<()> {
    for (id, event_id) in rows {
        if batch.floating > 0 {
            let floating: i64 = tx
                .prepare_cached(
                    "SELECT count(*) FROM patches WHERE project_id = ?1 AND event_id = ?2                      AND floating = 1",
                )?
                .query_row(params![project_id, event_id], |r| r.get(0))?;
            batch.floating -= floating;
        }
        tx.prepare_cached("DELETE FROM patches WHERE project_id = ?1 AND event_id = ?2")?
            .execute(params![project_id, event_id])?;
        tx.prepare_cached("DELETE FROM events WHERE id = ?1")?
            .execute(params![id])?;
        batch
            .rows
            .remove(&(project_id.to_owned(), event_id.clone()));
        batch.touched(project_id, *id);
        batch.deleted_events += 1;
    }
    Ok(())
}

/// Write a row (its doc, indexed columns and counters) and keep it in the
/// cache: the one way docs are updated, so the cache never goes stale.
fn store_row(
    tx: &Connection,
    batch: &mut Batch,
    project_id: &str,
    event_id: &str,
    row: Row,
    raw: Option<&str>,
) -> Result<()> {
    let mut row = row;
    let columns = Columns::of(&row.doc);
    if row.columns.as_ref() == Some(&columns) {
        tx.prepare_cached(
            "UPDATE events SET doc = ?2, has_base = ?3, duration_explicit = ?4, \
             raw = COALESCE(?5, raw), npatches = ?6 WHERE id = ?1",
        )?
        .execute(params![
            row.id,
            to_text(&row.doc),
            row.has_base,
            row.duration_explicit,
            raw,
            row.npatches,
        ])?;
    } else {
        tx.prepare_cached(
            "UPDATE events SET doc = ?2, session_id = ?3, parent_id = ?4, event_type = ?5, event_name = ?6, \
             start_time = ?7, has_base = ?10, duration_explicit = ?8, raw = COALESCE(?9, raw), \
             npatches = ?11 WHERE id = ?1",
        )?
        .execute(params![
            row.id,
            to_text(&row.doc),
            columns.session_id,
            columns.parent_id,
            columns.event_type,
            columns.event_name,
            columns.start_time,
            row.duration_explicit,
            raw,
            row.has_base,
            row.npatches,
        ])?;
    }
    row.columns = Some(columns);
    batch.touched(project_id, row.id);
    if batch.rows.len() >= ROW_CACHE_LIMIT {
        batch.rows.clear();
    }
    batch
        .rows
        .insert((project_id.to_owned(), event_id.to_owned()), row);
    Ok(())
}

/// Update the rollup rows of every session the batch touched and
/// materialise them into the session docs.
fn finish_sessions(tx: &Connection, batch: &mut Batch) -> Result<()> {
    let sessions = std::mem::take(&mut batch.sessions);
    for ((project_id, session_id), delta) in sessions {
        if !delta.apply {
            continue;
        }
        let mut rollup = load_rollup(tx, &project_id, &session_id)?;
        for old in &delta.old {
            rollup.update(Some(old), &Contribution::default());
        }
        for new in &delta.new {
            rollup.update(None, new);
        }
        store_rollup(tx, &project_id, &session_id, &rollup)?;
        let Some(mut row) = take_row(tx, batch, &project_id, &session_id)? else {
            continue;
        };
        if str_of(&row.doc, "event_type") != "session" {
            batch.rows.insert((project_id, session_id), row);
            continue;
        }
        rollup.apply_to_session(&mut row.doc, row.duration_explicit);
        store_row(tx, batch, &project_id, &session_id, row, None)?;
    }
    Ok(())
}

fn load_rollup(tx: &Connection, project_id: &str, session_id: &str) -> Result<Rollup> {
    let mut stmt = tx.prepare_cached(
        "SELECT num_events, num_model_events, feedback_events, error_events, cost, prompt_tokens, \
         completion_tokens, total_tokens, min_start, max_end FROM sessions \
         WHERE project_id = ?1 AND session_id = ?2",
    )?;
    let r = stmt
        .query_row(params![project_id, session_id], |r| {
            Ok(Rollup {
                num_events: r.get(0)?,
                num_model_events: r.get(1)?,
                feedback_events: r.get(2)?,
                error_events: r.get(3)?,
                cost: r.get(4)?,
                prompt_tokens: r.get(5)?,
                completion_tokens: r.get(6)?,
                total_tokens: r.get(7)?,
                min_start: r.get(8)?,
                max_end: r.get(9)?,
            })
        })
        .optional()?;
    Ok(r.unwrap_or_default())
}

fn store_rollup(tx: &Connection, project_id: &str, session_id: &str, r: &Rollup) -> Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO sessions (project_id, session_id, num_events, num_model_events, \
         feedback_events, error_events, cost, prompt_tokens, completion_tokens, total_tokens, \
         min_start, max_end) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        project_id,
        session_id,
        r.num_events,
        r.num_model_events,
        r.feedback_events,
        r.error_events,
        r.cost,
        r.prompt_tokens,
        r.completion_tokens,
        r.total_tokens,
        r.min_start,
        r.max_end
    ])?;
    Ok(())
}

/// Record the namespace paths of a doc.
fn record_fields(
    tx: &Connection,
    batch: &mut Batch,
    known: &HashSet<String>,
    project_id: &str,
    doc: &Value,
) -> Result<()> {
    record_field_list(tx, batch, known, project_id, &leaf_fields(doc))
}

/// Record namespace paths not recorded yet.
fn record_field_list(
    tx: &Connection,
    batch: &mut Batch,
    known: &HashSet<String>,
    project_id: &str,
    fields: &[(String, &'static str)],
) -> Result<()> {
    let mut key = String::new();
    for (path, ty) in fields {
        key.clear();
        key.push_str(project_id);
        key.push('\0');
        key.push_str(path);
        key.push('\0');
        key.push_str(ty);
        if known.contains(&key) {
            continue;
        }
        tx.prepare_cached(
            "INSERT OR IGNORE INTO fields (project_id, path, type) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![project_id, path, ty])?;
        batch
            .new_fields
            .push((project_id.to_owned(), path.clone(), (*ty).to_owned()));
    }
    Ok(())
}
