//! In-memory columns for charts and filters.
//!
//! A chart over a million events cannot read a million JSON documents in
//! 200 ms, nor can a filter over every event (the events list, or sessions
//! with any event matching). Such reads of one project use columns kept in
//! memory instead: per project, every row's id, start time and whether it
//! is a session event, and for each field a chart, filter or order has
//! used, its values as SQLite's `json_extract`/`json_type` see them (the SQL
//! path's semantics, which the conformance suite holds equal to the
//! reference semantics in `hive_core`).
//!
//! - A column is loaded with one scan of the project the first time a read
//!   needs it.
//! - It stays exact without reading documents in bulk again: after every
//!   commit, while still holding the writer, the store publishes the ids of
//!   the rows the commit inserted, changed or deleted in *tracked* projects
//!   (those with columns loaded or loading). A catch-up takes those ids and
//!   re-reads the rows' current state. Order does not matter: a re-read
//!   returns the row as it is now.
//! - A project becomes tracked before its scan starts, so a commit is either
//!   in the scan's snapshot or published afterwards (or both).
//! - A read catches up first, so it sees every acknowledged write; a
//!   background thread catches up every half second so the set of published
//!   ids stays small.
//! - Memory is bounded: least recently used columns (then projects) are
//!   dropped, also when writes grow them past the budget, and a read
//!   whose columns would not fit is answered by SQL instead.
//! - The fields loaded per project are remembered in a small file next to
//!   the database, so a restarted server can load them again in the
//!   background ([`ColumnCache::warm`]) before anyone asks.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};

use hive_core::chart::{Aggregation, ChartLevel, ChartQuery, Point, Series, aggregate, finish};
use hive_core::filter::{FieldRef, Filter, TopField};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::lock;
use crate::query::{MAX_LIMIT, column_read};
use crate::{EventQuery, Level, Order, Result};

/// Flag bits of a row.
const ALIVE: u8 = 1;
const SESSION: u8 = 2;
/// Bytes per row of a project's base (id, start time, flags) and per cell.
const BASE_ROW_BYTES: usize = 8 + 8 + 1;
const CELL_BYTES: usize = std::mem::size_of::<Cell>();

/// One value of a column.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell {
    /// Absent or JSON `null`.
    Missing,
    Bool(bool),
    Int(i64),
    Real(f64),
    /// A string, object or array, in the column's dictionary.
    Dict(u32),
}

/// The distinct strings, objects and arrays of a column.
#[derive(Default)]
struct Dict {
    values: Vec<Value>,
    texts: HashMap<String, u32>,
    json: HashMap<String, u32>,
    bytes: usize,
}

impl Dict {
    fn text(&mut self, s: &str) -> Cell {
        if let Some(&i) = self.texts.get(s) {
            return Cell::Dict(i);
        }
        let i = self.values.len() as u32;
        self.values.push(Value::String(s.to_owned()));
        self.texts.insert(s.to_owned(), i);
        self.bytes += 2 * s.len() + 64;
        Cell::Dict(i)
    }

    fn json(&mut self, s: &str) -> Cell {
        if let Some(&i) = self.json.get(s) {
            return Cell::Dict(i);
        }
        let Ok(v) = serde_json::from_str::<Value>(s) else {
            return Cell::Missing;
        };
        let i = self.values.len() as u32;
        self.values.push(v);
        self.json.insert(s.to_owned(), i);
        self.bytes += 3 * s.len() + 64;
        Cell::Dict(i)
    }
}

/// The cell for a `(value, json type)` pair read by [`column_read`].
fn cell_of(x: ValueRef<'_>, ty: ValueRef<'_>, dict: &mut Dict) -> Cell {
    let ValueRef::Text(ty) = ty else {
        return Cell::Missing;
    };
    match (ty, x) {
        (b"true", _) => Cell::Bool(true),
        (b"false", _) => Cell::Bool(false),
        (b"integer", ValueRef::Integer(i)) => Cell::Int(i),
        (b"integer" | b"real", ValueRef::Real(f)) => Cell::Real(f),
        (b"real", ValueRef::Integer(i)) => Cell::Real(i as f64),
        (b"text", ValueRef::Text(s)) => dict.text(&String::from_utf8_lossy(s)),
        (b"object" | b"array", ValueRef::Text(s)) => dict.json(&String::from_utf8_lossy(s)),
        _ => Cell::Missing,
    }
}

struct Column {
    field: FieldRef,
    cells: Vec<Cell>,
    dict: Dict,
    last_used: AtomicU64,
}

impl Column {
    fn new(field: FieldRef, rows: usize) -> Column {
        Column {
            field,
            cells: vec![Cell::Missing; rows],
            dict: Dict::default(),
            last_used: AtomicU64::new(0),
        }
    }

    fn bytes(&self) -> usize {
        self.cells.capacity() * CELL_BYTES + self.dict.bytes
    }

    /// The cell as the JSON value the reference semantics would look up.
    fn value(&self, c: Cell) -> Option<Value> {
        match c {
            Cell::Missing => None,
            Cell::Bool(b) => Some(Value::Bool(b)),
            Cell::Int(i) => Some(Value::from(i)),
            Cell::Real(f) => serde_json::Number::from_f64(f).map(Value::Number),
            Cell::Dict(i) => self.dict.values.get(i as usize).cloned(),
        }
    }
}

/// One project's rows (ascending ids) and loaded columns.
#[derive(Default)]
struct ProjectColumns {
    ids: Vec<i64>,
    start: Vec<i64>,
    flags: Vec<u8>,
    columns: Vec<Column>,
    /// When a read last used the project (its base, at least).
    last_used: AtomicU64,
}

impl ProjectColumns {
    fn column(&self, f: &FieldRef) -> Option<&Column> {
        self.columns.iter().find(|c| &c.field == f)
    }

    fn bytes(&self) -> usize {
        self.ids.capacity() * BASE_ROW_BYTES + self.columns.iter().map(Column::bytes).sum::<usize>()
    }

    /// The position of row `id`, inserted (dead, cells missing) if absent.
    fn position(&mut self, id: i64) -> usize {
        match self.ids.binary_search(&id) {
            Ok(i) => i,
            Err(i) => {
                // New rows have the largest ids: this is a push, except
                // when SQLite reuses the id of a deleted last row.
                self.ids.insert(i, id);
                self.start.insert(i, 0);
                self.flags.insert(i, 0);
                for c in &mut self.columns {
                    c.cells.insert(i, Cell::Missing);
                }
                i
            }
        }
    }
}

/// A row as re-read by a catch-up (`None` fields: the row is gone).
struct RowState {
    id: i64,
    now: Option<(i64, bool, Vec<CellValue>)>,
}

/// A cell read outside the state lock (dictionary entries interned later).
enum CellValue {
    Plain(Cell),
    Text(String),
    Json(String),
}

fn cell_value(x: ValueRef<'_>, ty: ValueRef<'_>) -> CellValue {
    match (ty, x) {
        (ValueRef::Text(b"text"), ValueRef::Text(s)) => {
            CellValue::Text(String::from_utf8_lossy(s).into_owned())
        }
        (ValueRef::Text(b"object" | b"array"), ValueRef::Text(s)) => {
            CellValue::Json(String::from_utf8_lossy(s).into_owned())
        }
        _ => CellValue::Plain(cell_of(x, ty, &mut Dict::default())),
    }
}

/// Ids published by the writer, per tracked project.
#[derive(Default)]
struct Log {
    tracked: HashSet<String>,
    dirty: HashMap<String, Vec<i64>>,
    /// Projects being scanned, with the ids catch-ups took meanwhile (the
    /// scan may predate those writes, so they are re-read once it is
    /// merged). The entry is the load's ticket: forgetting the project
    /// removes it, and the scan is then thrown away.
    loading: HashMap<String, Vec<i64>>,
}

/// A project a read needs to load, and the fields it lacks (`None`: it
/// has no columns, its base is loaded too).
type Plan<'a> = (&'a str, Option<Vec<FieldRef>>);

/// Fields remembered per project for warming up, at most.
const REMEMBERED: usize = 32;

/// The in-memory columns of a store.
pub(super) struct ColumnCache {
    budget: usize,
    /// Where the fields used per project are remembered (`None`: nowhere).
    remember: Option<std::path::PathBuf>,
    /// Those fields, most recently loaded first.
    used: Mutex<HashMap<String, Vec<String>>>,
    log: Mutex<Log>,
    /// Serialises catch-ups, evictions and merging loaded columns (the
    /// only writers of `state`), so a catch-up's re-reads and its update
    /// are one step. Never held while scanning a project.
    sync: Mutex<()>,
    /// One load at a time; a read whose columns are there does not wait.
    loads: Mutex<()>,
    /// Reads waiting for `loads` (a background load gives way to them).
    waiting: AtomicUsize,
    /// When a read last said it did not fit (ms since the epoch; 0: never).
    warned_at: AtomicU64,
    state: RwLock<HashMap<String, ProjectColumns>>,
    tick: AtomicU64,
    /// Opens another reader, so large scans run on two threads.
    open: Opener,
    /// Tables with at least this many row ids are scanned by two threads.
    split_from: i64,
}

/// Opens a read-only connection to the database.
pub(super) type Opener = Box<dyn Fn() -> Result<Connection> + Send + Sync>;

/// Tables with fewer row ids than this are scanned by one thread.
pub const SPLIT_SCANS_FROM: i64 = 100_000;

impl ProjectColumns {
    /// Append the rows of `other` (same fields, all ids larger), re-coding
    /// its dictionary entries into these dictionaries.
    fn append(&mut self, other: ProjectColumns) {
        self.ids.extend(other.ids);
        self.start.extend(other.start);
        self.flags.extend(other.flags);
        for (mine, theirs) in self.columns.iter_mut().zip(other.columns) {
            let mut map = vec![0u32; theirs.dict.values.len()];
            for (text, &i) in &theirs.dict.texts {
                if let Cell::Dict(j) = mine.dict.text(text) {
                    map[i as usize] = j;
                }
            }
            for (json, &i) in &theirs.dict.json {
                if let Cell::Dict(j) = mine.dict.json(json) {
                    map[i as usize] = j;
                }
            }
            mine.cells.extend(theirs.cells.into_iter().map(|c| match c {
                Cell::Dict(i) => Cell::Dict(map[i as usize]),
                other => other,
            }));
        }
    }
}

/// Each field once, in the order first seen.
fn distinct<'a>(fields: impl Iterator<Item = &'a FieldRef>) -> Vec<FieldRef> {
    let mut out: Vec<FieldRef> = Vec::new();
    for f in fields {
        if !out.contains(f) {
            out.push(f.clone());
        }
    }
    out
}

/// Read `fields` of the project's rows (those with ids in `range`, if
/// given), sorted by id.
fn scan(
    conn: &Connection,
    project: &str,
    fields: &[FieldRef],
    range: Option<(i64, i64)>,
) -> Result<ProjectColumns> {
    let read = column_read(fields, false);
    let mut params: Vec<rusqlite::types::Value> =
        std::iter::once(rusqlite::types::Value::Text(project.to_owned()))
            .chain(read.params.iter().cloned())
            .collect();
    let sql = match range {
        Some((lo, hi)) => {
            params.push(rusqlite::types::Value::Integer(lo));
            params.push(rusqlite::types::Value::Integer(hi));
            format!(
                "{} AND e.id BETWEEN ?{} AND ?{}",
                read.sql,
                params.len() - 1,
                params.len()
            )
        }
        None => read.sql,
    };
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut ids = Vec::new();
    let mut start = Vec::new();
    let mut flags = Vec::new();
    let mut columns: Vec<Column> = fields.iter().map(|f| Column::new(f.clone(), 0)).collect();
    while let Some(r) = rows.next()? {
        ids.push(r.get::<_, i64>(0)?);
        start.push(r.get::<_, Option<i64>>(1)?.unwrap_or(0));
        let session = r.get::<_, Option<bool>>(2)?.unwrap_or(false);
        flags.push(ALIVE | if session { SESSION } else { 0 });
        for (k, c) in columns.iter_mut().enumerate() {
            let cell = cell_of(r.get_ref(3 + 2 * k)?, r.get_ref(4 + 2 * k)?, &mut c.dict);
            c.cells.push(cell);
        }
    }
    // Rows may come in index order; columns are kept in id order.
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_unstable_by_key(|&i| ids[i]);
    for c in &mut columns {
        c.cells = order.iter().map(|&i| c.cells[i]).collect();
    }
    Ok(ProjectColumns {
        ids: order.iter().map(|&i| ids[i]).collect(),
        start: order.iter().map(|&i| start[i]).collect(),
        flags: order.iter().map(|&i| flags[i]).collect(),
        columns,
        last_used: AtomicU64::new(0),
    })
}

impl ColumnCache {
    /// Columns within `budget` bytes (0: never used; every read is SQL),
    /// remembering the fields used in the file `remember`.
    pub(super) fn new(
        budget: usize,
        remember: Option<std::path::PathBuf>,
        open: Opener,
        split_from: i64,
    ) -> ColumnCache {
        let used = remember
            .as_deref()
            .and_then(|p| std::fs::read(p).ok().map(|b| (p, b)))
            .and_then(|(p, b)| match serde_json::from_slice(&b) {
                Ok(used) => Some(used),
                Err(e) => {
                    // Only a warm-up hint: start cold and rewrite it.
                    tracing::warn!(path = %p.display(), error = %e, "ignoring an unreadable list of columns used");
                    None
                }
            })
            .unwrap_or_default();
        ColumnCache {
            budget,
            remember,
            used: Mutex::new(used),
            log: Mutex::new(Log::default()),
            sync: Mutex::new(()),
            loads: Mutex::new(()),
            waiting: AtomicUsize::new(0),
            warned_at: AtomicU64::new(0),
            state: RwLock::new(HashMap::new()),
            tick: AtomicU64::new(1),
            open,
            split_from,
        }
    }

    /// Called by the store after each commit, writer held, with the ids of
    /// the rows the commit wrote, per project.
    pub(super) fn publish(&self, changed: HashMap<String, Vec<i64>>) {
        if changed.is_empty() {
            return;
        }
        let mut log = lock(&self.log);
        if log.tracked.is_empty() {
            return;
        }
        for (project, ids) in changed {
            if log.tracked.contains(&project) {
                log.dirty.entry(project).or_default().extend(ids);
            }
        }
    }

    /// Whether published ids wait for a catch-up.
    pub(super) fn behind(&self) -> bool {
        !lock(&self.log).dirty.is_empty()
    }

    /// Bytes held, for tests and logs.
    pub fn bytes(&self) -> usize {
        self.read_state().values().map(ProjectColumns::bytes).sum()
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, ProjectColumns>> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, ProjectColumns>> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Answer a chart over `projects` from columns; `None` when its columns
    /// do not fit in the budget (the caller answers with SQL).
    pub(super) fn chart(
        &self,
        conn: &Connection,
        projects: &[String],
        q: &ChartQuery,
    ) -> Result<Option<Vec<Series>>> {
        let fields = distinct(
            q.metric
                .iter()
                .chain(q.group_by.iter())
                .chain(q.filters.iter().map(|f| &f.field)),
        );
        self.read(conn, projects, &fields, |ps| compute(ps, q))
    }

    /// Make `fields` of `projects` current and answer `f` from them (marked
    /// used now); `None` when they do not fit or one went missing.
    fn read<T>(
        &self,
        conn: &Connection,
        projects: &[String],
        fields: &[FieldRef],
        f: impl FnOnce(&[&ProjectColumns]) -> Option<T>,
    ) -> Result<Option<T>> {
        if self.budget == 0 || !self.ensure(conn, projects, fields, false)? {
            return Ok(None);
        }
        let state = self.read_state();
        let tick = self.tick.fetch_add(1, Ordering::Relaxed);
        let mut ps = Vec::with_capacity(projects.len());
        for project in projects {
            let Some(p) = state.get(project) else {
                return Ok(None);
            };
            p.last_used.store(tick, Ordering::Relaxed);
            for field in fields {
                let Some(c) = p.column(field) else {
                    return Ok(None);
                };
                c.last_used.store(tick, Ordering::Relaxed);
            }
            ps.push(p);
        }
        Ok(f(&ps))
    }

    /// The ids of one page of an event query over `projects`, in order,
    /// and how many matched; `None` when its columns do not fit. The
    /// semantics are those of the SQL path ([`crate::query::compile`]).
    pub(super) fn query(
        &self,
        conn: &Connection,
        projects: &[String],
        q: &EventQuery,
    ) -> Result<Option<(Vec<i64>, u64)>> {
        let session_id = FieldRef::Top(TopField::SessionId);
        let order_field = order_field(q.order);
        let fields = distinct(
            q.filters
                .iter()
                .map(|f| &f.field)
                .chain((q.level == Level::Session).then_some(&session_id))
                .chain(order_field.as_ref()),
        );
        self.read(conn, projects, &fields, |ps| {
            select(ps, q, order_field.as_ref())
        })
    }

    /// Load what `fields` of `projects` lack, catch up, and keep within
    /// the budget. False when they cannot fit.
    ///
    /// A load scans without the sync lock: reads of loaded columns, and
    /// catch-ups, go on meanwhile; only merging the scan waits for them.
    ///
    /// A `background` load (the warm-up) lets reads waiting to load go
    /// first, so someone's chart waits for one field's load at most, not
    /// for the whole warm-up.
    fn ensure(
        &self,
        conn: &Connection,
        projects: &[String],
        fields: &[FieldRef],
        background: bool,
    ) -> Result<bool> {
        {
            let _sync = lock(&self.sync);
            if self.plan(projects, fields).0.is_empty() {
                return self.settle(conn, projects, fields);
            }
        }
        let _load = if background {
            loop {
                while self.waiting.load(Ordering::Acquire) > 0 {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                let guard = lock(&self.loads);
                if self.waiting.load(Ordering::Acquire) == 0 {
                    break guard;
                }
            }
        } else {
            self.waiting.fetch_add(1, Ordering::AcqRel);
            let guard = lock(&self.loads);
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            guard
        };
        let (plans, keep) = {
            let _sync = lock(&self.sync);
            let (plans, keep) = self.plan(projects, fields);
            if plans.is_empty() {
                // Loaded by another read while this one waited.
                return self.settle(conn, projects, fields);
            }
            (plans, keep)
        };
        let mut need = 0;
        for (project, missing) in &plans {
            need += match missing {
                Some(m) => self.rows(project) * CELL_BYTES * m.len(),
                None => {
                    let rows: i64 = conn.query_row(
                        "SELECT count(*) FROM events WHERE project_id = ?1",
                        params![project],
                        |r| r.get(0),
                    )?;
                    rows.max(0) as usize * (BASE_ROW_BYTES + CELL_BYTES * fields.len())
                }
            };
        }
        if need + keep > self.budget {
            self.warn_too_large(projects, need + keep);
            // Columns grown by writes since they were loaded may be what
            // does not fit: come back within the budget, this read's too.
            let _sync = lock(&self.sync);
            self.evict(&[], &[]);
            return Ok(false);
        }
        {
            // Tracked before the scans start: a commit is in a scan's
            // snapshot or published afterwards (or both).
            let mut log = lock(&self.log);
            for (project, _) in &plans {
                log.tracked.insert((*project).to_owned());
                log.loading.insert((*project).to_owned(), Vec::new());
            }
        }
        let mut scans = Vec::with_capacity(plans.len());
        for (project, missing) in plans {
            let missing = missing.unwrap_or_else(|| fields.to_vec());
            match self.scan_project(conn, project, &missing) {
                Ok(scanned) => scans.push((project, missing, scanned)),
                Err(e) => {
                    let _sync = lock(&self.sync);
                    // Untrack what has no columns; keep what had some.
                    for project in projects {
                        let has = self.has(project);
                        let mut log = lock(&self.log);
                        if log.loading.remove(project).is_some() && !has {
                            log.tracked.remove(project);
                            log.dirty.remove(project);
                        }
                    }
                    return Err(e);
                }
            }
        }
        let _sync = lock(&self.sync);
        for (project, missing, scanned) in scans {
            let Some(taken) = lock(&self.log).loading.remove(project) else {
                // Forgotten while it was scanned.
                continue;
            };
            self.merge(project, scanned);
            lock(&self.log)
                .dirty
                .entry(project.to_owned())
                .or_default()
                .extend(taken);
            self.remember(project, &missing);
        }
        self.settle(conn, projects, fields)
    }

    /// What each project lacks for `fields` (`None`: everything, its base
    /// too), and the bytes the projects keep for them.
    fn plan<'a>(&self, projects: &'a [String], fields: &[FieldRef]) -> (Vec<Plan<'a>>, usize) {
        let mut plans = Vec::new();
        let mut keep = 0;
        let state = self.read_state();
        for project in projects {
            match state.get(project) {
                Some(p) => {
                    keep += p.ids.capacity() * BASE_ROW_BYTES;
                    let mut missing = Vec::new();
                    for f in fields {
                        match p.column(f) {
                            Some(c) => keep += c.bytes(),
                            None => missing.push(f.clone()),
                        }
                    }
                    if !missing.is_empty() {
                        plans.push((project.as_str(), Some(missing)));
                    }
                }
                None => plans.push((project.as_str(), None)),
            }
        }
        (plans, keep)
    }

    /// Catch up and keep within the budget (the sync lock held); false
    /// when this read's columns no longer fit.
    fn settle(&self, conn: &Connection, projects: &[String], fields: &[FieldRef]) -> Result<bool> {
        if let Err(e) = self.catch_up_locked(conn) {
            // Ids taken but not applied: the columns cannot be trusted.
            self.forget_all();
            return Err(e);
        }
        if !self.evict(projects, fields) {
            // Grown past the budget by writes since they were loaded.
            for project in projects {
                self.forget(project);
            }
            return Ok(false);
        }
        Ok(true)
    }

    /// Say (at most every ten minutes) that reads fall back to the
    /// documents for lack of memory, and what would fix it.
    fn warn_too_large(&self, projects: &[String], bytes: usize) {
        const EVERY_MS: u64 = 600_000;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let last = self.warned_at.load(Ordering::Relaxed);
        if last != 0 && now.saturating_sub(last) < EVERY_MS {
            return;
        }
        if self
            .warned_at
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let mib = |b: usize| b.div_ceil(1 << 20);
        tracing::warn!(
            projects = ?projects,
            need_mib = mib(bytes),
            budget_mib = mib(self.budget),
            "a chart or filter needs more column memory than the budget allows, so it reads \
             the documents (seconds instead of milliseconds at millions of events); raise \
             --column-memory-mb (HIVE_COLUMN_MEMORY_MB) above need_mib to keep it in memory"
        );
    }

    fn has(&self, project: &str) -> bool {
        self.read_state().contains_key(project)
    }

    /// Rows of a project with columns (0 if none).
    fn rows(&self, project: &str) -> usize {
        self.read_state().get(project).map_or(0, |p| p.ids.len())
    }

    /// Note fields loaded for a project (a write of the small file, only
    /// when a field is new to it or moves to the front).
    fn remember(&self, project: &str, fields: &[FieldRef]) {
        let Some(path) = &self.remember else { return };
        let snapshot = {
            let mut used = lock(&self.used);
            let list = used.entry(project.to_owned()).or_default();
            let before = list.clone();
            for f in fields {
                let name = f.dotted();
                list.retain(|x| *x != name);
                list.insert(0, name);
            }
            list.truncate(REMEMBERED);
            if *list == before {
                return;
            }
            serde_json::to_vec(&*used).unwrap_or_default()
        };
        let tmp = path.with_extension("tmp");
        if let Err(e) = std::fs::write(&tmp, snapshot).and_then(|()| std::fs::rename(&tmp, path)) {
            tracing::warn!(error = %e, path = %path.display(), "cannot remember the columns used");
        }
    }

    /// Load the columns remembered from earlier runs (most recently used
    /// first, while they fit); how many fields were loaded.
    pub(super) fn warm(&self, conn: &Connection) -> Result<usize> {
        if self.budget == 0 {
            return Ok(0);
        }
        let used = lock(&self.used).clone();
        let mut loaded = 0;
        for (project, names) in used {
            for name in names {
                let Ok(field) = FieldRef::parse(&name) else {
                    continue;
                };
                if !self.ensure(
                    conn,
                    std::slice::from_ref(&project),
                    std::slice::from_ref(&field),
                    true,
                )? {
                    break;
                }
                loaded += 1;
            }
        }
        Ok(loaded)
    }

    /// One scan of `fields` of the project (and its base).
    fn scan_project(
        &self,
        conn: &Connection,
        project: &str,
        fields: &[FieldRef],
    ) -> Result<ProjectColumns> {
        // Large tables are scanned in two halves of the id range, the upper
        // one on another thread and connection. Each half is its own
        // snapshot; the published ids cover what either missed.
        let max_id: i64 =
            conn.query_row("SELECT coalesce(max(id), 0) FROM events", [], |r| r.get(0))?;
        if max_id < self.split_from.max(2) {
            return scan(conn, project, fields, None);
        }
        let mid = max_id / 2;
        let other = (self.open)()?;
        std::thread::scope(|threads| -> Result<ProjectColumns> {
            // The connection moves to the thread (it is Send, not Sync).
            let upper =
                threads.spawn(move || scan(&other, project, fields, Some((mid + 1, i64::MAX))));
            let mut lower = scan(conn, project, fields, Some((i64::MIN, mid)))?;
            let upper = upper
                .join()
                .map_err(|_| crate::StoreError::Invalid("a column scan thread failed".into()))??;
            lower.append(upper);
            Ok(lower)
        })
    }

    /// Add a scan to the state (the sync lock held): the whole project if
    /// it has no columns yet, else the scanned columns it lacks.
    fn merge(&self, project: &str, scanned: ProjectColumns) {
        let mut state = self.write_state();
        let Some(p) = state.get_mut(project) else {
            state.insert(project.to_owned(), scanned);
            return;
        };
        let ProjectColumns {
            ids: sorted_ids,
            columns,
            ..
        } = scanned;
        // The base may be ahead of or behind this scan; rows it lacks, or
        // has but the scan missed, are in the published ids and the
        // catch-up that follows re-reads them.
        for mut scanned in columns {
            if p.column(&scanned.field).is_some() {
                continue;
            }
            let mut cells = vec![Cell::Missing; p.ids.len()];
            for (k, id) in sorted_ids.iter().enumerate() {
                if let Ok(i) = p.ids.binary_search(id) {
                    cells[i] = scanned.cells[k];
                }
            }
            scanned.cells = cells;
            p.columns.push(scanned);
        }
    }

    /// Re-read every published row and apply it (the sync lock held).
    fn catch_up_locked(&self, conn: &Connection) -> Result<()> {
        let dirty = {
            let mut log = lock(&self.log);
            let dirty = std::mem::take(&mut log.dirty);
            for (project, ids) in &dirty {
                if let Some(taken) = log.loading.get_mut(project) {
                    taken.extend_from_slice(ids);
                }
            }
            dirty
        };
        for (project, mut ids) in dirty {
            let fields: Vec<FieldRef> = match self.read_state().get(&project) {
                Some(p) => p.columns.iter().map(|c| c.field.clone()).collect(),
                None => continue,
            };
            ids.sort_unstable();
            ids.dedup();
            let read = column_read(&fields, true);
            let mut stmt = conn.prepare_cached(&read.sql)?;
            let mut rows = Vec::with_capacity(ids.len());
            for id in ids {
                let params = std::iter::once(rusqlite::types::Value::Integer(id))
                    .chain(read.params.iter().cloned());
                let now = stmt
                    .query_row(rusqlite::params_from_iter(params), |r| {
                        let mut cells = Vec::with_capacity(fields.len());
                        for k in 0..fields.len() {
                            cells.push(cell_value(r.get_ref(3 + 2 * k)?, r.get_ref(4 + 2 * k)?));
                        }
                        Ok((
                            r.get::<_, Option<i64>>(1)?.unwrap_or(0),
                            r.get::<_, Option<bool>>(2)?.unwrap_or(false),
                            cells,
                        ))
                    })
                    .optional()?;
                rows.push(RowState { id, now });
            }
            let mut state = self.write_state();
            let Some(p) = state.get_mut(&project) else {
                continue;
            };
            for row in rows {
                apply_row(p, row);
            }
        }
        Ok(())
    }

    /// Catch up now (the background thread).
    pub(super) fn catch_up(&self, conn: &Connection) -> Result<()> {
        let _sync = lock(&self.sync);
        let out = self.catch_up_locked(conn);
        if out.is_err() {
            self.forget_all();
        }
        // Writes grow columns; they are trimmed here too, not only when
        // the next read comes.
        self.evict(&[], &[]);
        out
    }

    /// Drop the least recently used columns, or whole projects, until
    /// within the budget, never those of this read (`projects`' bases and
    /// `fields`). A project's base is used whenever any of its columns is,
    /// so its columns go first. False when this read's columns alone exceed
    /// the budget.
    fn evict(&self, projects: &[String], fields: &[FieldRef]) -> bool {
        let mut state = self.write_state();
        let mut log = lock(&self.log);
        let mut total: usize = state.values().map(ProjectColumns::bytes).sum();
        while total > self.budget {
            let columns = state.iter().flat_map(|(name, p)| {
                let ours = projects.contains(name);
                p.columns
                    .iter()
                    .enumerate()
                    .filter(move |(_, c)| !ours || !fields.contains(&c.field))
                    .map(move |(k, c)| (c.last_used.load(Ordering::Relaxed), 0, name, Some(k)))
            });
            let bases = state
                .iter()
                .filter(|(name, _)| !projects.contains(name) && !log.loading.contains_key(*name))
                .map(|(name, p)| (p.last_used.load(Ordering::Relaxed), 1, name, None));
            let Some((_, _, name, column)) = columns.chain(bases).min() else {
                break;
            };
            let name = name.clone();
            match column {
                Some(k) => {
                    if let Some(p) = state.get_mut(&name) {
                        total -= p.columns[k].bytes();
                        p.columns.swap_remove(k);
                    }
                }
                None => {
                    if let Some(p) = state.remove(&name) {
                        total -= p.bytes();
                    }
                    log.tracked.remove(&name);
                    log.dirty.remove(&name);
                }
            }
        }
        total <= self.budget
    }

    fn forget(&self, project: &str) {
        let mut state = self.write_state();
        let mut log = lock(&self.log);
        state.remove(project);
        log.tracked.remove(project);
        log.dirty.remove(project);
        log.loading.remove(project);
    }

    fn forget_all(&self) {
        let mut state = self.write_state();
        let mut log = lock(&self.log);
        state.clear();
        log.tracked.clear();
        log.dirty.clear();
        log.loading.clear();
    }
}

fn apply_row(p: &mut ProjectColumns, row: RowState) {
    match row.now {
        None => {
            if let Ok(i) = p.ids.binary_search(&row.id) {
                p.flags[i] = 0;
                for c in &mut p.columns {
                    c.cells[i] = Cell::Missing;
                }
            }
        }
        Some((start, session, cells)) => {
            let i = p.position(row.id);
            p.start[i] = start;
            p.flags[i] = ALIVE | if session { SESSION } else { 0 };
            for (c, v) in p.columns.iter_mut().zip(cells) {
                c.cells[i] = match v {
                    CellValue::Plain(cell) => cell,
                    CellValue::Text(s) => c.dict.text(&s),
                    CellValue::Json(s) => c.dict.json(&s),
                };
            }
        }
    }
}

/// How a filter judges each kind of cell: dictionary entries and the
/// absent value once, numbers per row.
struct FilterEval<'a> {
    filter: &'a Filter,
    column: &'a Column,
    missing: bool,
    bools: [bool; 2],
    dict: Vec<bool>,
}

impl<'a> FilterEval<'a> {
    fn new(filter: &'a Filter, column: &'a Column) -> FilterEval<'a> {
        FilterEval {
            filter,
            column,
            missing: filter.matches_found(None),
            bools: [
                filter.matches_found(Some(&Value::Bool(false))),
                filter.matches_found(Some(&Value::Bool(true))),
            ],
            dict: column
                .dict
                .values
                .iter()
                .map(|v| filter.matches_found(Some(v)))
                .collect(),
        }
    }

    fn pass(&self, i: usize) -> bool {
        match self.column.cells[i] {
            Cell::Missing => self.missing,
            Cell::Bool(b) => self.bools[usize::from(b)],
            Cell::Dict(d) => self.dict[d as usize],
            c => self.filter.matches_found(self.column.value(c).as_ref()),
        }
    }
}

/// Running aggregate of one (group, bucket) cell.
#[derive(Default)]
struct Acc {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    values: Vec<f64>,
}

/// The chart from the columns of some projects (`None` if a column is
/// missing).
fn compute(ps: &[&ProjectColumns], q: &ChartQuery) -> Option<Vec<Series>> {
    let keep_values = matches!(q.aggregation, Aggregation::Percentile(_));
    // Groups: dense ids for distinct keys (`group_key` of the cell).
    let mut names: Vec<Option<String>> = vec![None];
    let mut by_name: HashMap<Option<String>, u32> = HashMap::from([(None, 0)]);
    let mut intern = |key: Option<String>| -> u32 {
        *by_name.entry(key.clone()).or_insert_with(|| {
            names.push(key);
            (names.len() - 1) as u32
        })
    };
    let mut cells: HashMap<(u32, i64), Acc> = HashMap::new();
    let (lo, hi) = (q.date_range.start_ms, q.date_range.end_ms);
    let mut bucket_range = (i64::MAX, i64::MIN, 0i64);
    for p in ps {
        let metric = match &q.metric {
            Some(m) => Some(p.column(m)?),
            None => None,
        };
        let group = match &q.group_by {
            Some(g) => Some(p.column(g)?),
            None => None,
        };
        let mut filters = Vec::with_capacity(q.filters.len());
        for f in &q.filters {
            filters.push(FilterEval::new(f, p.column(&f.field)?));
        }
        let dict_groups: Vec<u32> = group.map_or_else(Vec::new, |g| {
            g.dict
                .values
                .iter()
                .map(|v| intern(hive_core::chart::group_key(Some(v))))
                .collect()
        });
        let mut scalar_groups: HashMap<(u8, u64), u32> = HashMap::new();
        'rows: for i in 0..p.ids.len() {
            let flags = p.flags[i];
            if flags & ALIVE == 0 || (q.level == ChartLevel::Session && flags & SESSION == 0) {
                continue;
            }
            let t = p.start[i];
            if lo.is_some_and(|s| (t as f64) < s) || hi.is_some_and(|e| (t as f64) > e) {
                continue;
            }
            for f in &filters {
                if !f.pass(i) {
                    continue 'rows;
                }
            }
            let value = match metric {
                None => 1.0,
                Some(m) => match m.cells[i] {
                    Cell::Int(x) => x as f64,
                    Cell::Real(x) => x,
                    _ => continue,
                },
            };
            let gid = match group {
                None => 0,
                Some(g) => match g.cells[i] {
                    Cell::Missing => 0,
                    Cell::Dict(d) => dict_groups[d as usize],
                    c => {
                        let key = match c {
                            Cell::Bool(b) => (1, u64::from(b)),
                            Cell::Int(x) => (2, x as u64),
                            Cell::Real(x) => (3, x.to_bits()),
                            _ => (0, 0),
                        };
                        match scalar_groups.get(&key) {
                            Some(&id) => id,
                            None => {
                                let id = intern(hive_core::chart::group_key(g.value(c).as_ref()));
                                scalar_groups.insert(key, id);
                                id
                            }
                        }
                    }
                },
            };
            if !(bucket_range.0..bucket_range.1).contains(&t) {
                let b = q.bucket.floor(t);
                bucket_range = (b, q.bucket.next(b), b);
            }
            let acc = cells.entry((gid, bucket_range.2)).or_insert_with(|| Acc {
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                ..Acc::default()
            });
            acc.count += 1;
            acc.sum += value;
            acc.min = acc.min.min(value);
            acc.max = acc.max.max(value);
            if keep_values {
                acc.values.push(value);
            }
        }
    }
    let mut series: HashMap<u32, Vec<Point>> = HashMap::new();
    for ((gid, bucket), mut acc) in cells {
        let value = match q.aggregation {
            Aggregation::Count => Some(acc.count as f64),
            Aggregation::Sum => Some(acc.sum),
            Aggregation::Avg => Some(acc.sum / acc.count as f64),
            Aggregation::Min => Some(acc.min),
            Aggregation::Max => Some(acc.max),
            Aggregation::Percentile(_) => aggregate(q.aggregation, &mut acc.values),
        };
        if let Some(value) = value {
            series.entry(gid).or_default().push(Point {
                bucket,
                value,
                count: acc.count,
            });
        }
    }
    Some(finish(
        series
            .into_iter()
            .map(|(gid, points)| Series {
                group: names[gid as usize].clone(),
                points,
            })
            .collect(),
    ))
}

/// The field an order sorts by, besides the start time.
fn order_field(order: Order) -> Option<FieldRef> {
    let path = |ns: &str, key: &str| FieldRef::Path {
        namespace: ns.to_owned(),
        path: vec![key.to_owned()],
    };
    match order {
        Order::StartAsc | Order::StartDesc => None,
        Order::DurationDesc => Some(FieldRef::Top(TopField::Duration)),
        Order::CostDesc => Some(path("metadata", "cost")),
        Order::TokensDesc => Some(path("metadata", "total_tokens")),
        Order::EventsDesc => Some(path("metadata", "num_events")),
    }
}

/// A cell's place in SQLite's order: NULL, then numbers, then text.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
enum SortKey<'a> {
    Null,
    Number(f64),
    Text(&'a str),
}

fn sort_key<'a>(column: &'a Column, json: &'a [String], i: usize) -> SortKey<'a> {
    match column.cells[i] {
        Cell::Missing => SortKey::Null,
        Cell::Bool(b) => SortKey::Number(if b { 1.0 } else { 0.0 }),
        Cell::Int(x) => SortKey::Number(x as f64),
        Cell::Real(x) => SortKey::Number(x),
        Cell::Dict(d) => match &column.dict.values[d as usize] {
            Value::String(s) => SortKey::Text(s),
            _ => SortKey::Text(&json[d as usize]),
        },
    }
}

/// The page of `q` from the columns of some projects (`None` if a column
/// is missing): row ids in order, and how many matched.
fn select(
    ps: &[&ProjectColumns],
    q: &EventQuery,
    order_field: Option<&FieldRef>,
) -> Option<(Vec<i64>, u64)> {
    let (lo, hi) = (q.date_range.start_ms, q.date_range.end_ms);
    // (project, position) of every match.
    let mut matched: Vec<(u32, u32)> = Vec::new();
    for (k, p) in ps.iter().enumerate() {
        let mut filters = Vec::with_capacity(q.filters.len());
        for f in &q.filters {
            filters.push(FilterEval::new(f, p.column(&f.field)?));
        }
        let in_range = |i: usize| {
            let t = p.start[i] as f64;
            !(lo.is_some_and(|s| t < s) || hi.is_some_and(|e| t > e))
        };
        let alive = |i: usize| p.flags[i] & ALIVE != 0;
        let session = |i: usize| p.flags[i] & (ALIVE | SESSION) == ALIVE | SESSION;
        let mut push = |i: usize| matched.push((k as u32, i as u32));
        match q.level {
            Level::Event => (0..p.ids.len())
                .filter(|&i| alive(i) && in_range(i) && filters.iter().all(|f| f.pass(i)))
                .for_each(&mut push),
            Level::SessionEvent => (0..p.ids.len())
                .filter(|&i| session(i) && in_range(i) && filters.iter().all(|f| f.pass(i)))
                .for_each(&mut push),
            Level::Session => {
                // Per filter, the sessions with an event (the session event
                // included) that matches it: a session matches when, for
                // every filter, it is one of them.
                let sid = p.column(&FieldRef::Top(TopField::SessionId))?;
                let mut sets = vec![vec![false; sid.dict.values.len()]; filters.len()];
                for i in (0..p.ids.len()).filter(|&i| alive(i)) {
                    if let Cell::Dict(d) = sid.cells[i] {
                        for (f, set) in filters.iter().zip(sets.iter_mut()) {
                            if !set[d as usize] && f.pass(i) {
                                set[d as usize] = true;
                            }
                        }
                    }
                }
                (0..p.ids.len())
                    .filter(|&i| {
                        session(i)
                            && in_range(i)
                            && match sid.cells[i] {
                                Cell::Dict(d) => sets.iter().all(|set| set[d as usize]),
                                _ => filters.is_empty(),
                            }
                    })
                    .for_each(&mut push)
            }
        }
    }
    let total = matched.len() as u64;
    // Per project, the order column, and its objects and arrays as JSON
    // text (SQLite sorts them by that text).
    let mut order: Vec<Option<(&Column, Vec<String>)>> = Vec::with_capacity(ps.len());
    for p in ps {
        order.push(match order_field {
            Some(f) => {
                let c = p.column(f)?;
                let json = c
                    .dict
                    .values
                    .iter()
                    .map(|v| match v {
                        Value::String(_) => String::new(),
                        other => other.to_string(),
                    })
                    .collect();
                Some((c, json))
            }
            None => None,
        });
    }
    let start = |(k, i): (u32, u32)| {
        (
            ps[k as usize].start[i as usize],
            ps[k as usize].ids[i as usize],
        )
    };
    let id = |(k, i): (u32, u32)| ps[k as usize].ids[i as usize];
    let key = |(k, i): (u32, u32)| {
        order[k as usize]
            .as_ref()
            .map(|(c, json)| sort_key(c, json, i as usize))
    };
    let cmp = |a: &(u32, u32), b: &(u32, u32)| -> std::cmp::Ordering {
        match q.order {
            Order::StartAsc => start(*a).cmp(&start(*b)),
            Order::StartDesc => start(*b).cmp(&start(*a)),
            _ => key(*b)
                .partial_cmp(&key(*a))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(id(*b).cmp(&id(*a))),
        }
    };
    let limit = q.limit.clamp(1, MAX_LIMIT);
    if q.offset >= matched.len() {
        return Some((Vec::new(), total));
    }
    let end = q.offset.saturating_add(limit).min(matched.len());
    if end < matched.len() {
        matched.select_nth_unstable_by(end, cmp);
        matched.truncate(end);
    }
    matched.sort_unstable_by(cmp);
    Some((
        matched[q.offset..end].iter().map(|&m| id(m)).collect(),
        total,
    ))
}
