//! The ClickHouse backend, over ClickHouse's HTTP interface: several hive
//! nodes share one cluster. Everything is appended (no row is read,
//! changed and written back), so nodes never race; ADR 0008 explains the
//! tables and why they combine exactly.
//!
//! ```no_run
//! use hive_store::clickhouse::ClickHouseStore;
//! let store = ClickHouseStore::open("http://hive:secret@127.0.0.1:8123/hive", "node-1")?;
//! # Ok::<(), hive_store::StoreError>(())
//! ```

mod filter_sql;
mod held;
mod http;
pub mod leaves;
mod meta;
mod newest;
mod partial;
mod query;
mod read;
mod schema;
mod slots;
mod state;
mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hive_core::chart::{ChartQuery, Series};
use serde_json::Value;

pub use http::Endpoint;
use http::{Client, lit};
use read::VISIBLE;
use write::{WriterState, str_field};

use crate::{EventPage, EventQuery, FieldInfo, HistoryEntry, Result, Store, WriteOp};

/// Ops applied without a log position get write ids from this range (the
/// log's positions stay far below it).
const DIRECT: u64 = 1 << 62;

/// How often statements try again to create the schema while ClickHouse
/// cannot be reached (meanwhile they fail at once with the last error).
const SCHEMA_RETRY: Duration = Duration::from_secs(1);

/// How often a node sweeps a project's lookups of the events its retention
/// removed (each sweep rewrites the lookup tables; ADR 0009).
const SWEEP_EVERY: Duration = Duration::from_secs(24 * 3600);

/// How often a running node reads the schema's version again, to stop
/// using a database a newer hive has migrated meanwhile.
const SCHEMA_CHECK: Duration = Duration::from_secs(10);

/// The schema, created (migrations applied) once ClickHouse answers, so a
/// node can start while ClickHouse is down: its writes wait in its ingest
/// log, every statement fails `Unavailable` naming ClickHouse until then.
struct Schema {
    /// The client the migrations run on (the store's own checks this first).
    client: Client,
    ready: AtomicBool,
    /// The last failed attempt: when, and why.
    failed: Mutex<Option<(Instant, String)>>,
    /// Whether the schema was ever in place (so an error now is the
    /// database's change, not a start's).
    was_ready: AtomicBool,
    /// When the version was last read while ready.
    checked: Mutex<Instant>,
    /// How often it is read again (milliseconds; [`SCHEMA_CHECK`]).
    check_every_ms: AtomicU64,
}

impl Schema {
    fn ensure(&self) -> Result<()> {
        if self.ready.load(Ordering::Acquire) {
            self.recheck();
            if self.ready.load(Ordering::Acquire) {
                return Ok(());
            }
        }
        let mut failed = lock(&self.failed);
        if self.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        if let Some((at, why)) = &*failed
            && at.elapsed() < SCHEMA_RETRY
        {
            return Err(crate::StoreError::Unavailable(why.clone()));
        }
        match schema::migrate(&self.client) {
            Ok(_) => {
                *lock(&self.checked) = Instant::now();
                self.was_ready.store(true, Ordering::Relaxed);
                self.ready.store(true, Ordering::Release);
                *failed = None;
                Ok(())
            }
            Err(crate::StoreError::Unavailable(why)) => {
                *failed = Some((Instant::now(), why.clone()));
                Err(crate::StoreError::Unavailable(why))
            }
            Err(crate::StoreError::Invalid(why)) if self.was_ready.load(Ordering::Relaxed) => {
                // A newer hive migrated the database while this node ran:
                // every statement fails, naming why, and the version is
                // read again once a second (the node's writes wait in its
                // ingest log for a node that can apply them).
                *failed = Some((Instant::now(), why.clone()));
                Err(crate::StoreError::Unavailable(why))
            }
            Err(e) => Err(e),
        }
    }

    /// Read the schema's version again if [`SCHEMA_CHECK`] has passed: a
    /// version newer than this node knows (a newer hive migrated the
    /// database, which this node would misread) makes it not ready. One
    /// thread reads it while the others go on; a read that fails (ClickHouse
    /// unreachable) changes nothing, as the statements fail on their own.
    fn recheck(&self) {
        let every = Duration::from_millis(self.check_every_ms.load(Ordering::Relaxed));
        let Ok(mut checked) = self.checked.try_lock() else {
            return;
        };
        if checked.elapsed() < every {
            return;
        }
        *checked = Instant::now();
        if let Ok(Some(v)) = schema::version(&self.client)
            && v > schema::MIGRATIONS.len()
        {
            tracing::error!(
                version = v,
                known = schema::MIGRATIONS.len(),
                "a newer hive migrated the ClickHouse database: this node stops using it"
            );
            self.ready.store(false, Ordering::Release);
        }
    }
}

/// The ClickHouse store.
pub struct ClickHouseStore {
    client: Arc<Client>,
    schema: Arc<Schema>,
    /// Where this node keeps a copy of its applied log position, read when
    /// ClickHouse cannot be reached at start.
    position_file: Option<PathBuf>,
    /// This node's name: ids of its writes and its ingest-log position.
    node: String,
    writer: Mutex<WriterState>,
    /// The next write id for ops applied without a log position.
    direct: AtomicU64,
    meta: meta::Meta,
    /// How streamed reads cut a project into ranges of events.
    ranges: partial::Ranges,
    /// When this node last swept each project's lookups of expired events
    /// (`sweep_lookups`).
    swept: Mutex<HashMap<String, Instant>>,
    /// Sweep those lookups by the month they were received in, not by the
    /// writes left: on replicated tables, where a mutation's condition
    /// must read its row alone (`sweep_lookups`).
    sweep_by_month: bool,
    /// Events whose charts' cells ClickHouse added up (`partial::singles`),
    /// since the store was opened.
    singles_added: AtomicU64,
    /// Events whose charts' cells came from their state rows (`state`),
    /// since the store was opened.
    state_added: AtomicU64,
    /// Lists counted as charts count, from the state (`newest`), since
    /// the store was opened.
    lists_counted_from_state: AtomicU64,
    /// Lists whose page was selected from the state (`newest`), since the
    /// store was opened.
    lists_paged_from_state: AtomicU64,
    /// Whether a list's page is looked for in the newest or oldest hours
    /// first (ADR 0015; on but in tests of the pages the state selects).
    edge_pages: bool,
    /// Held from taking a write id outside the log to recording it
    /// applied (`state::as_direct`), so a recorded one covers every
    /// earlier one.
    direct_lock: Mutex<()>,
    /// One compaction of the state at a time.
    compacting: Mutex<()>,
    /// Whether this node recorded its positions before its first write
    /// (`state::register_positions`).
    registered: AtomicBool,
    /// This node's greatest recorded positions, in its log and outside it
    /// (`state::record_applied`).
    log_recorded: AtomicU64,
    direct_recorded: AtomicU64,
    /// How long the state's replaced generations are kept (`state::GRACE`).
    state_grace: Duration,
    /// Dead marks kept before they are deleted (`state::MARKS_KEPT`).
    marks_kept: u64,
    /// Events a compaction resolves at a time (`state::COMPACT_BATCH`).
    compact_batch: usize,
    /// Sessions a build holds the rollups of at a time
    /// (`state::BUILD_SESSIONS`).
    build_sessions: usize,
    /// Paths charts asked for that their project's slots lack (`slots`).
    wanted: Mutex<slots::Wanted>,
    /// The slot paths charts read, and when (`slots`).
    used: Mutex<slots::Used>,
    /// How long no chart may read a slot before it goes to another path
    /// (`slots::IDLE`).
    slot_idle: Duration,
    /// Charts read from the state's slots (`slots`), since the store was
    /// opened.
    slotted_reads: AtomicU64,
    /// Whether charts keep and read the groups of whole days of the state
    /// (`hive_state_sums`, ADR 0030).
    keep_sums: bool,
    /// Bytes of a day's groups kept at most (`partial::singles::MAX_KEPT`).
    sums_max: usize,
    /// The charts read here lately, whose groups a compaction that
    /// rewrote many days keeps again (ADR 0030).
    recent: Mutex<partial::Recent>,
    /// Days whose groups charts read as kept, since the store was opened.
    state_sums_read: AtomicU64,
    /// The days' groups read or kept here (`partial::KeptGroups`).
    kept_groups: Mutex<partial::KeptGroups>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) use crate::now_ms;

/// Increasing versions for metadata rows (microseconds, never repeated by
/// this process).
pub(crate) fn next_version() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(x) => last = x,
        }
    }
}

impl ClickHouseStore {
    /// Connect to `url` (`http://[user[:password]@]host:port[/database]`),
    /// create the database and apply the schema's migrations. `node` names
    /// this hive node: every node sharing the cluster needs its own.
    pub fn open(url: &str, node: &str) -> Result<ClickHouseStore> {
        let store = Self::connect(url, node)?;
        store.schema.ensure()?;
        Ok(store)
    }

    /// [`ClickHouseStore::open`], but a ClickHouse that cannot be reached
    /// is no error: the schema is created once it answers, and until then
    /// every call fails [`crate::StoreError::Unavailable`] naming it (see
    /// [`ClickHouseStore::unavailable`]). Other errors (a wrong URL, a
    /// statement refused) still fail, and so do credentials ClickHouse
    /// refuses at this first contact ([`crate::StoreError::Invalid`] naming
    /// ClickHouse, the user and the password, never the password itself):
    /// a mistyped password is no outage to wait out. Refused later (a
    /// password being rotated), they are [`crate::StoreError::Unavailable`]
    /// like any fault of the environment, and retried.
    pub fn connect(url: &str, node: &str) -> Result<ClickHouseStore> {
        if node.is_empty() {
            return Err(crate::StoreError::Invalid("a node name is required".into()));
        }
        let endpoint = Endpoint::parse(url)?;
        let replicated = endpoint.replicated;
        let schema = Arc::new(Schema {
            client: Client::new(endpoint.clone()),
            ready: AtomicBool::new(false),
            failed: Mutex::new(None),
            was_ready: AtomicBool::new(false),
            checked: Mutex::new(Instant::now()),
            check_every_ms: AtomicU64::new(SCHEMA_CHECK.as_millis() as u64),
        });
        let gate = schema.clone();
        // Once running, a schema this node cannot use (a newer hive migrated
        // it meanwhile) makes the store unavailable, naming why, rather than
        // refusing writes as if for their content.
        let client = Arc::new(
            Client::new(endpoint)
                .sharing_quorum(&schema.client)
                .with_gate(Box::new(move || {
                    gate.ensure().map_err(|e| match e {
                        crate::StoreError::Invalid(why) => crate::StoreError::Unavailable(why),
                        e => e,
                    })
                })),
        );
        match schema.ensure() {
            Err(crate::StoreError::Unavailable(why)) if http::refused_credentials(&why) => {
                return Err(crate::StoreError::Invalid(why));
            }
            Ok(()) | Err(crate::StoreError::Unavailable(_)) => {}
            Err(e) => return Err(e),
        }
        Ok(ClickHouseStore {
            schema,
            position_file: None,
            meta: meta::Meta {
                client: client.clone(),
                node: node.to_owned(),
            },
            client,
            node: node.to_owned(),
            writer: Mutex::new(WriterState::default()),
            direct: AtomicU64::new(DIRECT | (next_version() << 8)),
            ranges: partial::Ranges::default(),
            swept: Mutex::new(HashMap::new()),
            sweep_by_month: replicated,
            singles_added: AtomicU64::new(0),
            state_added: AtomicU64::new(0),
            lists_counted_from_state: AtomicU64::new(0),
            lists_paged_from_state: AtomicU64::new(0),
            edge_pages: true,
            direct_lock: Mutex::new(()),
            compacting: Mutex::new(()),
            registered: AtomicBool::new(false),
            log_recorded: AtomicU64::new(0),
            direct_recorded: AtomicU64::new(0),
            state_grace: state::GRACE,
            marks_kept: state::MARKS_KEPT,
            compact_batch: state::COMPACT_BATCH,
            build_sessions: state::BUILD_SESSIONS,
            wanted: Mutex::new(slots::Wanted::default()),
            used: Mutex::new(slots::Used::default()),
            slot_idle: slots::IDLE,
            slotted_reads: AtomicU64::new(0),
            keep_sums: true,
            sums_max: partial::MAX_KEPT,
            recent: Mutex::new(partial::Recent::default()),
            state_sums_read: AtomicU64::new(0),
            kept_groups: Mutex::new(partial::KeptGroups::default()),
        })
    }

    /// Sweep the lookups of expired events by their month, as on
    /// replicated tables, whatever the tables (tests of that sweep on one
    /// server).
    #[doc(hidden)]
    pub fn with_sweeps_by_month(mut self) -> ClickHouseStore {
        self.sweep_by_month = true;
        self
    }

    /// Cut streamed reads into ranges of about `events` events each, with
    /// bounds from one event id in `sample_one_in` (tests make many small
    /// ranges of a few events).
    #[doc(hidden)]
    pub fn with_read_ranges(mut self, sample_one_in: usize, events: usize) -> ClickHouseStore {
        self.ranges = partial::Ranges {
            sample_one_in: sample_one_in.max(1),
            events: events.max(1),
            ..self.ranges
        };
        self
    }

    /// Read by name a dated read whose range holds up to one in `share` of
    /// the project (2 by default; 0: whatever it holds, as tests of the
    /// reads by name over a whole project need) or fewer than `min_keys`
    /// keys of the index of starts (10 000 by default).
    #[doc(hidden)]
    pub fn with_dated_share(mut self, share: usize, min_keys: usize) -> ClickHouseStore {
        self.ranges.dated_share = share;
        self.ranges.dated_min_keys = min_keys;
        self
    }

    /// Hold at most `bytes` of session events in memory while a read
    /// waits for their rollups (64 MiB by default; the rest wait in a
    /// temporary file: tests hold none in memory).
    #[doc(hidden)]
    pub fn with_held_in_memory(mut self, bytes: usize) -> ClickHouseStore {
        self.ranges.held_in_memory = bytes;
        self
    }

    /// Have ClickHouse add up the events written once of a dated chart of
    /// `events` events or more (50 000 by default; `usize::MAX`: never;
    /// tests take both ways).
    #[doc(hidden)]
    pub fn with_singles_from(mut self, events: usize) -> ClickHouseStore {
        self.ranges.singles_from = events;
        self
    }

    /// How many events' chart cells ClickHouse has added up since the store
    /// was opened (tests and benchmarks tell the two ways of a chart apart).
    #[doc(hidden)]
    pub fn singles_added(&self) -> u64 {
        self.singles_added
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Keep the state's replaced generations `grace` (a minute by
    /// default; tests of their removal take less).
    #[doc(hidden)]
    pub fn with_state_grace(mut self, grace: Duration) -> ClickHouseStore {
        self.state_grace = grace;
        self
    }

    /// Keep and read the groups of whole days of the state for charts (ADR
    /// 0030; on by default: tests compare charts with and without).
    #[doc(hidden)]
    pub fn with_state_sums(mut self, on: bool) -> ClickHouseStore {
        self.keep_sums = on;
        self
    }

    /// Keep a day's groups up to `bytes` (1 MiB by default; tests take
    /// less).
    #[doc(hidden)]
    pub fn with_state_sums_max(mut self, bytes: usize) -> ClickHouseStore {
        self.sums_max = bytes;
        self
    }

    /// How many days' groups charts read as kept (ADR 0030) since the
    /// store was opened.
    #[doc(hidden)]
    pub fn state_sums_read(&self) -> u64 {
        self.state_sums_read.load(Ordering::Relaxed)
    }

    /// Give a slot to another path once no chart read it for `idle` (a
    /// day by default; tests take less).
    #[doc(hidden)]
    pub fn with_slot_idle(mut self, idle: Duration) -> ClickHouseStore {
        self.slot_idle = idle;
        self
    }

    /// Resolve the events written since the last cut `n` at a time (20 000
    /// by default; tests take fewer, to cross batches).
    #[doc(hidden)]
    pub fn with_compact_batch(mut self, n: usize) -> ClickHouseStore {
        self.compact_batch = n.max(1);
        self
    }

    /// Build the state in passes of `n` sessions (a million by default;
    /// tests take fewer, to cross passes).
    #[doc(hidden)]
    pub fn with_build_sessions(mut self, n: usize) -> ClickHouseStore {
        self.build_sessions = n.max(1);
        self
    }

    /// Delete the state's dead marks once `n` are (ten thousand by
    /// default; tests of their removal take fewer).
    #[doc(hidden)]
    pub fn with_marks_kept(mut self, n: u64) -> ClickHouseStore {
        self.marks_kept = n.max(1);
        self
    }

    /// How many events' chart cells came from their state rows (ADR 0028)
    /// since the store was opened.
    #[doc(hidden)]
    pub fn state_added(&self) -> u64 {
        self.state_added.load(Ordering::Relaxed)
    }

    /// How many counted lists took their count from the events' state
    /// (ADR 0037) since the store was opened.
    #[doc(hidden)]
    pub fn lists_counted_from_state(&self) -> u64 {
        self.lists_counted_from_state.load(Ordering::Relaxed)
    }

    /// How many lists had their page selected from the events' state (ADR
    /// 0038) since the store was opened.
    #[doc(hidden)]
    pub fn lists_paged_from_state(&self) -> u64 {
        self.lists_paged_from_state.load(Ordering::Relaxed)
    }

    /// Look for a list's page in the newest or oldest hours first (ADR
    /// 0015; on by default: tests of the pages the state selects turn it
    /// off).
    #[doc(hidden)]
    pub fn with_edge_pages(mut self, on: bool) -> ClickHouseStore {
        self.edge_pages = on;
        self
    }

    /// How many charts were read from the state's slots (ADR 0029) since
    /// the store was opened.
    #[doc(hidden)]
    pub fn slotted_reads(&self) -> u64 {
        self.slotted_reads.load(Ordering::Relaxed)
    }

    /// Read the schema's version again every `every` (10 s by default)
    /// while running (tests check sooner).
    #[doc(hidden)]
    pub fn with_schema_check(self, every: Duration) -> ClickHouseStore {
        self.schema
            .check_every_ms
            .store(every.as_millis() as u64, Ordering::Relaxed);
        self
    }

    /// Keep a copy of this node's applied log position in `path` (written
    /// after each batch is recorded in ClickHouse), and answer
    /// [`Store::log_position`] from it while ClickHouse cannot be reached,
    /// so the node starts and logs writes meanwhile. The copy is never
    /// ahead of ClickHouse's, and a batch applied again collapses (its rows
    /// keep their identities), so a copy behind only costs a replay.
    pub fn with_position_file(mut self, path: PathBuf) -> ClickHouseStore {
        self.position_file = Some(path);
        self
    }

    /// The project named `name` as every node names it (its id is derived
    /// from the name), without asking ClickHouse.
    pub fn project_named(name: &str) -> crate::Project {
        crate::Project {
            id: meta::project_id_of(name),
            name: name.to_owned(),
            created_at: now_ms(),
        }
    }

    /// `None` once ClickHouse answers and the schema is in place; until
    /// then why not (the message names ClickHouse). Tries again at most
    /// once a second.
    pub fn unavailable(&self) -> Option<String> {
        self.schema.ensure().err().map(|e| e.to_string())
    }

    fn record_position(&self, position: u64) {
        let Some(path) = &self.position_file else {
            return;
        };
        if let Err(e) = write_position(path, position) {
            tracing::warn!(path = %path.display(), error = %e, "cannot keep a copy of the applied log position");
        }
    }

    /// Whether the database of `url` holds hive's tables (a node started
    /// on it once), found without making anything.
    pub fn holds_hive(url: &str) -> Result<bool> {
        let endpoint = Endpoint::parse(url)?;
        let database = lit(&endpoint.database);
        let answer = Client::new(endpoint)
            .answer_in_default(&format!(
                "SELECT count() FROM system.tables WHERE database = {database} \
                 AND name = 'hive_migrations'"
            ))
            .map_err(|e| match e {
                crate::StoreError::Unavailable(why) if http::refused_credentials(&why) => {
                    crate::StoreError::Invalid(why)
                }
                e => e,
            })?;
        Ok(answer.trim() != "0")
    }

    /// Keep a key of another store (`hive migrate`): its secret, whose
    /// SHA-256 is `hash`, works here as it did there.
    pub fn import_key(&self, key: &crate::auth::ApiKey, hash: &str) -> Result<()> {
        self.meta.import_key(key, hash)
    }

    /// Keep an object of another store as it was, with its times
    /// (`hive migrate`).
    pub fn import_object(&self, kind: &str, object: &crate::objects::StoredObject) -> Result<()> {
        self.meta.import_object(kind, object)
    }

    /// Where the store is (without the password).
    pub fn describe(&self) -> String {
        self.client.endpoint().display()
    }

    /// The server's version (`18.16.1`, ...).
    pub fn server_version(&self) -> Result<String> {
        Ok(self
            .client
            .rows("SELECT version() AS v")?
            .first()
            .map(|r| str_field(r, "v"))
            .unwrap_or_default())
    }

    /// The rows a query answers, as JSON objects (for tools and benchmarks;
    /// the product's reads go through [`Store`]).
    #[doc(hidden)]
    pub fn sql_rows(&self, statement: &str) -> Result<Vec<serde_json::Value>> {
        self.client.rows(statement)
    }

    /// Run a statement that answers no rows (for tools and benchmarks).
    #[doc(hidden)]
    pub fn sql_exec(&self, statement: &str) -> Result<()> {
        self.client.exec(statement)
    }

    /// The `UInt64` values of a one-column `SELECT`, read as streamed reads
    /// read their rows (`RowBinary`, one at a time).
    #[doc(hidden)]
    pub fn sql_binary_u64s(&self, statement: &str) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        self.client.each_binary_row(statement, |r| {
            out.push(http::binary::u64(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Bytes the event tables take on disk (compressed) and their rows.
    pub fn disk_usage(&self) -> Result<(u64, u64)> {
        let r = self.client.rows(&format!(
            "SELECT sum(bytes_on_disk) AS b, sum(rows) AS n FROM system.parts \
             WHERE active AND database = {} AND table = 'hive_writes'",
            lit(&self.client.endpoint().database)
        ))?;
        let r = r.first().cloned().unwrap_or_default();
        Ok((r["b"].as_u64().unwrap_or(0), r["n"].as_u64().unwrap_or(0)))
    }

    /// The ids of the events the SQL of a filter selects, before the folded
    /// documents decide (for tests: outside sessions it must be exact).
    #[doc(hidden)]
    pub fn sql_candidates(
        &self,
        project_id: &str,
        filters: &[hive_core::filter::Filter],
    ) -> Result<Vec<String>> {
        let cond = self.candidate_sql(Some(project_id), filters, false, (None, None));
        let mut ids: Vec<String> = self
            .client
            .rows(&format!(
                "SELECT DISTINCT event_id FROM hive_writes WHERE {cond}"
            ))?
            .iter()
            .map(|r| str_field(r, "event_id"))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// How many events a list or chart bounded by `from` and `to` reads
    /// (`None`: every event of the project). For tests and benchmarks.
    #[doc(hidden)]
    pub fn dated_events(
        &self,
        project_id: Option<&str>,
        from: Option<f64>,
        to: Option<f64>,
    ) -> Result<Option<usize>> {
        Ok(match self.dated_scope(project_id, (from, to))? {
            partial::Scope::All => None,
            partial::Scope::Hashes(hashes, ..) => Some(hashes.len()),
        })
    }

    /// The time (ms) since which a list or chart bounded by `from` and `to`
    /// reads the writes of its events (`None`: all of them). For tests.
    #[doc(hidden)]
    pub fn dated_received_from(
        &self,
        project_id: Option<&str>,
        from: Option<f64>,
        to: Option<f64>,
    ) -> Result<Option<i64>> {
        Ok(match self.dated_scope(project_id, (from, to))? {
            partial::Scope::All => None,
            partial::Scope::Hashes(_, _, every) => every,
        })
    }

    fn direct_ids(&self, n: usize) -> write::Ids {
        let seq = self.direct.fetch_add(1, Ordering::Relaxed);
        (0..n).map(|i| (seq, i as u32, None)).collect()
    }

    /// [`Store::apply_logged`] knowing where every op lies in the log:
    /// `records` are `(start, end, ops so far)` per record, as the applier
    /// batches them. Each op's write id is its record's start and its index
    /// in the record, so applying the same records again (after a crash
    /// between the insert and the position) inserts the same rows, which
    /// collapse: exactly once without a transaction.
    /// A base is ordered by its record's received time, which a replay
    /// repeats (by when it is applied only for records of older hives).
    pub fn apply_records(&self, ops: &[WriteOp], records: &[crate::LogRecord]) -> Result<()> {
        let mut ids = Vec::with_capacity(ops.len());
        let mut from = 0usize;
        for r in records {
            for i in from..r.upto.min(ops.len()) {
                ids.push((r.start, (i - from) as u32, r.received_at_ms));
            }
            from = r.upto;
        }
        // Ops past the last record (none when called by the applier).
        let extra = ops.len().saturating_sub(ids.len());
        ids.extend(self.direct_ids(extra));
        let position = records.last().map(|r| r.end);
        self.apply_ops(ops, &ids, position)?;
        if let Some(p) = position {
            self.record_position(p);
        }
        Ok(())
    }

    fn project_cond(project_id: Option<&str>) -> String {
        match project_id {
            Some(p) => format!("project_id = {}", lit(p)),
            None => "1".to_owned(),
        }
    }

    /// [`Self::project_cond`] for `hive_session_events`, ordered by the
    /// project's hash (schema 24).
    fn project_hash_cond(project_id: Option<&str>) -> String {
        match project_id {
            Some(p) => format!("project_hash = cityHash64({})", lit(p)),
            None => "1".to_owned(),
        }
    }

    /// The project that has this event (its base before a placeholder).
    fn locate_any(&self, event_id: &str) -> Result<Option<String>> {
        let r = self.client.rows(&format!(
            "SELECT project_id, max(kind = 1) AS b FROM hive_writes \
             WHERE event_id = {} AND {VISIBLE} GROUP BY project_id ORDER BY b DESC, project_id LIMIT 1",
            lit(event_id)
        ))?;
        Ok(r.first().map(|r| str_field(r, "project_id")))
    }
}

/// What a partition of `hive_writes` is: the function of a write's time
/// that names it (a day's, `YYYYMMDD`, since ADR 0024; a month's,
/// `YYYYMM`, in databases made before), and the month it lies in (which
/// partitions the lookups).
fn partition_of_writes(partition: i64) -> (&'static str, i64) {
    if partition > 999_999 {
        ("toYYYYMMDD", partition / 100)
    } else {
        ("toYYYYMM", partition)
    }
}

/// The condition that reads writes received since `since` only (the
/// partitions of its day on: ADR 0024), when given.
fn received_since(since: Option<i64>) -> String {
    since
        .map(|t| format!(" AND received >= {t}"))
        .unwrap_or_default()
}

/// The position copied in `path`, if it holds one.
fn read_position(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Replace the copy of the position in `path` (whole, synced).
pub fn write_position(path: &Path, position: u64) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(format!("{position}\n").as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl Store for ClickHouseStore {
    fn apply(&self, ops: &[WriteOp]) -> Result<()> {
        // (Recorded applied once done: `state::as_direct`.)
        self.as_direct(|seq| {
            let ids = (0..ops.len()).map(|i| (seq, i as u32, None)).collect();
            self.apply_ops(ops, &ids, None)
        })
    }

    fn apply_logged(&self, ops: &[WriteOp], position: u64) -> Result<()> {
        // Without the records, the batch is taken as one record that ends at
        // `position` (the applier calls `apply_records`).
        let ids = (0..ops.len()).map(|i| (position, i as u32, None)).collect();
        self.apply_ops(ops, &ids, Some(position))?;
        self.record_position(position);
        Ok(())
    }

    fn apply_log_records(&self, ops: &[WriteOp], records: &[crate::LogRecord]) -> Result<()> {
        self.apply_records(ops, records)
    }

    fn ping(&self) -> Result<()> {
        // Not `log_position`: that falls back to this node's copy of its
        // position while ClickHouse is down.
        self.client.rows("SELECT 1 AS one").map(|_| ())
    }

    fn log_position(&self) -> Result<u64> {
        let answer = self.client.rows(&format!(
            "SELECT max(position) AS p FROM hive_log_positions WHERE node = {}",
            lit(&self.node)
        ));
        match (answer, &self.position_file) {
            (Ok(rows), _) => {
                let p = rows.first().and_then(|r| r["p"].as_u64()).unwrap_or(0);
                self.record_position(p);
                Ok(p)
            }
            (Err(crate::StoreError::Unavailable(why)), Some(path)) => match read_position(path) {
                Some(p) => {
                    tracing::warn!(
                        position = p,
                        "{why}; the ingest log is applied from the position this node recorded last"
                    );
                    Ok(p)
                }
                None => Err(crate::StoreError::Unavailable(format!(
                    "{why} (and {} holds no copy of this node's applied position)",
                    path.display()
                ))),
            },
            (Err(e), _) => Err(e),
        }
    }

    fn compact(&self) -> Result<Option<crate::Compaction>> {
        self.compact_state()
    }

    fn compact_due(&self, every: Duration) -> Result<Option<crate::Compaction>> {
        self.compact_state_due(every)
    }

    fn compacted_at(&self) -> Result<Option<i64>> {
        self.newest_cut_at()
    }

    fn expire(&self, project_id: &str, before_ms: i64, _limit: usize) -> Result<u64> {
        // Writes expire by the time they were received (what partitions
        // are made of): one mutation per project and step, only when it
        // has something to remove (a mutation rewrites the parts it
        // touches). ADR 0009.
        let cond = format!(
            "project_id = {} AND received < {before_ms}",
            lit(project_id)
        );
        let n = self.client.count("hive_writes", &cond)?;
        if n > 0 {
            // Enrichments adopted into the project expire with their
            // copies here, wherever they floated (found before the copies
            // go).
            let originals =
                self.adopted_originals(project_id, &format!("received < {before_ms}"))?;
            // Its events are resolved again once the writes are gone (ADR
            // 0028).
            self.as_direct(|seq| {
                self.mark_where(seq, &cond)?;
                self.client.mutate_delete("hive_writes", &cond)
            })?;
            self.delete_originals(&originals, Some(before_ms))?;
            let due = {
                let mut swept = lock(&self.swept);
                let due = swept
                    .get(project_id)
                    .is_none_or(|at| at.elapsed() >= SWEEP_EVERY);
                if due {
                    swept.insert(project_id.to_owned(), Instant::now());
                }
                due
            };
            if due {
                self.sweep_lookups(Some(project_id), before_ms)?;
            }
        }
        Ok(n)
    }

    fn active_projects(&self) -> Result<Vec<String>> {
        // The newest start in each project, from the index of starts (a
        // write's start, or a patch's arrival: ADR 0014), not the
        // whole-project read that finding the newest session across
        // projects takes (the default; 30 s at ten million events, on every
        // dashboard page opened without a project). The index is about half
        // as many rows as the writes, of two small columns: 80 ms where the
        // newest write received in each project took 200 ms, and 2.3 s
        // cold, at ten million events. A start more than a day ahead of the
        // server's clock (a client's wrong clock) is not activity: it would
        // keep its project first until then.
        let rows = self.client.rows(&format!(
            "SELECT project_id, max(minute) AS m FROM hive_starts \
             WHERE project_id != '' AND minute != {} \
             AND minute <= intDiv(toInt64(now()), 60) + 1440 \
             GROUP BY project_id ORDER BY m DESC, project_id",
            schema::ALWAYS
        ))?;
        Ok(rows.iter().map(|r| str_field(r, "project_id")).collect())
    }

    fn expire_step_ms(&self) -> i64 {
        // An hour: each mutation rewrites the parts of `hive_writes` it
        // touches (all of them on 18.16) however few rows it removes, so a
        // project's writes are removed at most once an hour, not at every
        // round (ADR 0009).
        3_600_000
    }

    fn expire_partitions(&self, before_ms: i64) -> Result<u64> {
        // A partition of the writes (a day's, or a month's in databases
        // made before 2026-12-05) goes whole once its newest write is older
        // than every project's retention; the lookups of a month (the index
        // of starts, which sessions writes named) once every write of that
        // month has gone so.
        let ep = self.client.endpoint();
        let table = if ep.cluster.is_some() {
            "hive_writes_local"
        } else {
            "hive_writes"
        };
        let parts = self.client.rows(&format!(
            "SELECT partition FROM system.parts WHERE active AND database = {} AND table = {} \
             GROUP BY partition ORDER BY partition",
            lit(&ep.database),
            lit(table)
        ))?;
        let on_cluster = ep
            .cluster
            .as_ref()
            .map(|c| format!(" ON CLUSTER {c}"))
            .unwrap_or_default();
        let drop_partition = |t: &str, partition: i64| {
            self.client.exec(&format!(
                "ALTER TABLE {}.{t}{on_cluster} DROP PARTITION {partition}",
                ep.database
            ))
        };
        // The newest write received in a day (`YYYYMMDD`) or a month.
        let newest = |partition: i64| -> Result<i64> {
            let (of, _) = partition_of_writes(partition);
            Ok(self
                .client
                .rows(&format!(
                    "SELECT max(received) AS m FROM hive_writes \
                     WHERE {of}(toDate(toDateTime(intDiv(received, 1000)))) = {partition}"
                ))?
                .first()
                .and_then(|r| r["m"].as_i64())
                .unwrap_or(i64::MAX))
        };
        let starts = table.replace("hive_writes", "hive_starts");
        let members = table.replace("hive_writes", "hive_session_events");
        let mut dropped = 0;
        let mut months = std::collections::BTreeSet::new();
        for p in parts {
            let partition = match &p["partition"] {
                Value::String(s) => s.trim_matches('\'').to_owned(),
                other => other.to_string(),
            };
            let Ok(partition) = partition.parse::<i64>() else {
                continue;
            };
            if newest(partition)? >= before_ms {
                continue;
            }
            let (of, _) = partition_of_writes(partition);
            self.as_direct(|seq| {
                self.mark_where(
                    seq,
                    &format!("{of}(toDate(toDateTime(intDiv(received, 1000)))) = {partition}"),
                )?;
                drop_partition(table, partition)
            })?;
            dropped += 1;
            months.insert(partition_of_writes(partition).1);
        }
        // The index of those writes' starts, and which sessions they
        // named, are partitioned by month (ADR 0014, 0009): a month's go
        // once none of its writes is left newer than the retention (the
        // newest of a month with no write left reads as 0).
        for month in months {
            if newest(month)? < before_ms {
                for t in [starts.as_str(), members.as_str()] {
                    drop_partition(t, month)?;
                }
            }
        }
        if dropped > 0 {
            // The partitions left may still hold lookups of events whose
            // writes went with the dropped ones (an event's writes span
            // days and months).
            self.sweep_lookups(None, before_ms)?;
        }
        Ok(dropped)
    }

    fn disk_bytes(&self) -> Result<u64> {
        Ok(self.disk_usage()?.0)
    }

    fn get_event(&self, project_id: Option<&str>, event_id: &str) -> Result<Option<Value>> {
        let project = match project_id {
            Some(p) => p.to_owned(),
            None => match self.locate_any(event_id)? {
                Some(p) => p,
                None => return Ok(None),
            },
        };
        let folded = self.fold_ids(Some(&project), &[event_id])?;
        Ok(self.with_rollups(folded)?.into_iter().next().map(|f| f.doc))
    }

    fn get_raw(&self, project_id: Option<&str>, event_id: &str) -> Result<Option<Value>> {
        let rows = self.client.rows(&format!(
            "SELECT raw FROM hive_writes WHERE {} AND event_id = {} AND kind = 1 AND raw != '' \
             ORDER BY ts DESC, node DESC, seq DESC, idx DESC LIMIT 1",
            Self::project_cond(project_id),
            lit(event_id)
        ))?;
        rows.first()
            .map(|r| {
                serde_json::from_str(r["raw"].as_str().unwrap_or("null"))
                    .map_err(|e| crate::StoreError::Corrupt(e.to_string()))
            })
            .transpose()
    }

    fn session_events(
        &self,
        project_id: Option<&str>,
        session_id: &str,
        limit: usize,
    ) -> Result<Vec<Value>> {
        Ok(self
            .session_events_brief(project_id, session_id, limit, false)?
            .map(|(_, events)| events)
            .unwrap_or_default())
    }

    fn session_events_showing(
        &self,
        project_id: Option<&str>,
        session_id: &str,
        limit: usize,
        shown: &str,
    ) -> Result<Vec<Value>> {
        let Some((project, mut events)) =
            self.session_events_brief(project_id, session_id, limit, true)?
        else {
            return Ok(Vec::new());
        };
        // The shown event's content: its granules alone are read whole.
        if let Some(e) = events
            .iter_mut()
            .find(|e| e.get("event_id").and_then(Value::as_str) == Some(shown))
            && let Some(full) = self.fold_ids(Some(&project), &[shown])?.into_iter().next()
        {
            for ns in leaves::CONTENT {
                if let Some(v) = full.doc.get(ns) {
                    e[ns] = v.clone();
                }
            }
        }
        Ok(events)
    }

    fn query(&self, q: &EventQuery) -> Result<EventPage> {
        // A list newest or oldest first whose page the newest or oldest
        // hours hold (ADR 0015), counted without a pass that resolves
        // every event: every event of a project over all time, unfiltered
        // (the dashboard's events list, the export API's default), from
        // the ids alone; an event or session-event list on a server that
        // keeps the events' state, as a chart counts (ADR 0037).
        let everything = q.level == crate::Level::Event
            && q.filters.is_empty()
            && q.date_range.start_ms.is_none()
            && q.date_range.end_ms.is_none();
        let Some(project) = q.project_id.as_deref() else {
            return self.run_query(q);
        };
        if !everything && !self.may_count_from_state(q) {
            return self.run_query(q);
        }
        let Some(page) = self.some_page(q)? else {
            return self.run_query(q);
        };
        let total = if everything {
            self.client.count_distinct(
                "hive_writes",
                "event_id",
                &format!("project_id = {} AND {VISIBLE}", lit(project)),
            )?
        } else {
            let Some(counted) = self.counted_from_state(project, q)? else {
                return self.run_query(q);
            };
            // (Events written while the page and the count are read can
            // make them disagree: the page's own events, those before it
            // and the one it says follows are counted at least. An empty
            // page, past the matches, tells nothing.)
            let shown = match page.events.len() {
                0 => 0,
                n => q.offset as u64 + n as u64,
            };
            counted.max(shown + u64::from(page.more))
        };
        Ok(EventPage {
            events: page.events,
            total,
            received_from: page.received_from,
        })
    }

    /// Bases are stored as their leaves, their text only when the leaves do
    /// not spell it, and sessions roll up on read: nothing else derived
    /// is used.
    fn derives_ahead(&self) -> bool {
        false
    }

    fn query_page(&self, q: &EventQuery) -> Result<crate::Page> {
        match self.some_page(q)? {
            Some(page) => Ok(page),
            None => Ok(crate::Page::counted(self.run_query(q)?, q)),
        }
    }

    fn history(&self, project_id: Option<&str>, event_id: &str) -> Result<Vec<HistoryEntry>> {
        let id = lit(event_id);
        Ok(self
            .fold_named(
                &Self::project_cond(project_id),
                &read::Named::Listed(&id),
                "",
            )?
            .into_iter()
            .flat_map(|f| f.patches)
            .collect())
    }

    fn events_after(&self, project_id: &str, q: &EventQuery, after: &str) -> Result<Vec<Value>> {
        // The next ids in the table's own order (after the project, the
        // events are ordered by id), folded a batch at a time, until the
        // page is full or the ids run out.
        let limit = q.limit.clamp(1, crate::query::MAX_LIMIT);
        let batch = crate::query::after_batch(q, limit);
        let mut cursor = after.to_owned();
        let mut out = Vec::new();
        // The next writes' ids, without `DISTINCT` (which hashes every id
        // after the cursor: 5 s at ten million events, against 1.5 s for
        // the first rows in order), about four writes an event; hidden
        // floating writes are left to the fold, which skips them.
        let rows = batch.saturating_mul(4);
        loop {
            let fetched: Vec<String> = self
                .client
                .rows(&format!(
                    "SELECT event_id FROM hive_writes WHERE project_id = {} \
                     AND event_id > {} ORDER BY event_id LIMIT {rows}",
                    lit(project_id),
                    lit(&cursor)
                ))?
                .iter()
                .map(|r| str_field(r, "event_id"))
                .collect();
            // The first `batch` distinct ids; past the last fetched row
            // there are no more when fewer rows came than asked.
            let mut done = fetched.len() < rows;
            let mut ids: Vec<String> = Vec::new();
            for id in fetched {
                if ids.last() != Some(&id) {
                    if ids.len() == batch {
                        done = false;
                        break;
                    }
                    ids.push(id);
                }
            }
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            let mut folded = self.with_rollups(self.fold_ids(Some(project_id), &refs)?)?;
            folded.sort_by(|a, b| a.event_id.cmp(&b.event_id));
            for f in folded {
                if crate::query::matches_event(q, &f.doc) {
                    out.push(f.doc);
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
            }
            match ids.last() {
                Some(last) if !done => cursor.clone_from(last),
                _ => return Ok(out),
            }
            crate::cancel::check()?;
        }
    }

    fn histories(
        &self,
        project_id: Option<&str>,
        event_ids: &[&str],
        since: Option<i64>,
    ) -> Result<HashMap<String, Vec<HistoryEntry>>> {
        // One fold per list of ids, not a statement per event (an export
        // page of a thousand events took 29 s of them at ten million).
        let mut out: HashMap<String, Vec<HistoryEntry>> = HashMap::new();
        let (project, since) = (Self::project_cond(project_id), received_since(since));
        for list in write::in_lists(event_ids.iter().copied()) {
            for f in self.fold_named(&project, &read::Named::Listed(&list), &since)? {
                if !f.patches.is_empty() {
                    out.entry(f.event_id).or_default().extend(f.patches);
                }
            }
        }
        Ok(out)
    }

    fn raws(
        &self,
        project_id: Option<&str>,
        event_ids: &[&str],
        since: Option<i64>,
    ) -> Result<HashMap<String, Value>> {
        let mut out = HashMap::new();
        for list in write::in_lists(event_ids.iter().copied()) {
            // Each event's newest base with a span, as `get_raw` reads it.
            let rows = self.client.rows(&format!(
                "SELECT event_id, raw FROM hive_writes WHERE {} AND event_id IN ({list}){} \
                 AND kind = 1 AND raw != '' \
                 ORDER BY event_id, ts DESC, node DESC, seq DESC, idx DESC LIMIT 1 BY event_id",
                Self::project_cond(project_id),
                received_since(since)
            ))?;
            for r in rows {
                let raw = serde_json::from_str(r["raw"].as_str().unwrap_or("null"))
                    .map_err(|e| crate::StoreError::Corrupt(e.to_string()))?;
                out.insert(str_field(&r, "event_id"), raw);
            }
        }
        Ok(out)
    }

    fn fields(&self, project_id: &str) -> Result<Vec<FieldInfo>> {
        let rows = self.client.rows(&format!(
            "SELECT DISTINCT path, type FROM hive_fields WHERE project_id = {} ORDER BY path, type",
            lit(project_id)
        ))?;
        let mut out: Vec<FieldInfo> = Vec::new();
        for r in rows {
            let segs = leaves::segments(r["path"].as_str().unwrap_or_default());
            if segs.len() < 2 || !hive_core::model::is_namespace(&segs[0]) {
                continue;
            }
            let ty = match r["type"].as_u64().unwrap_or(0) as u8 {
                leaves::STR | leaves::STR_DATE => "string",
                leaves::NUM => "number",
                leaves::BOOL => "boolean",
                leaves::ARR => "array",
                leaves::OBJ => "object",
                _ => continue,
            };
            let field = segs.join(".");
            // Keyed entries (OTLP log records) are listed as their container.
            if let Some(opaque) = crate::prepared::opaque_prefix(&field) {
                out.push(FieldInfo {
                    field: opaque.to_owned(),
                    ty: "object".to_owned(),
                });
                continue;
            }
            out.push(FieldInfo {
                field,
                ty: ty.to_owned(),
            });
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    fn session_errors(
        &self,
        project_id: &str,
        session_ids: &[String],
    ) -> Result<Vec<(String, i64)>> {
        // The sessions' events read on whether they failed, never whole: a
        // page's 50 sessions have hundreds of events, and their content is
        // most of what they hold (folding them whole read 4 GiB at ten
        // million events).
        let keys: Vec<(String, String)> = session_ids
            .iter()
            .map(|s| (project_id.to_owned(), s.clone()))
            .collect();
        let rollups = self.rollups_on(&keys, &["event_type", "event_id", "session_id", "error"])?;
        let wanted: std::collections::BTreeSet<&str> =
            session_ids.iter().map(String::as_str).collect();
        Ok(wanted
            .into_iter()
            .filter_map(|s| {
                let n = rollups
                    .get(&partial::SessionKey::new(project_id, s))?
                    .error_events;
                (n > 0).then(|| (s.to_owned(), n))
            })
            .collect())
    }

    fn chart(&self, project_id: Option<&str>, q: &ChartQuery) -> Result<Vec<Series>> {
        self.run_chart(project_id, q)
    }

    fn charts(&self, project_id: Option<&str>, qs: &[ChartQuery]) -> Result<Vec<Vec<Series>>> {
        // One read of the ranges' union for all (ADR 0013): each chart
        // alone would read its events again.
        self.stream_charts(project_id, qs)
    }

    fn auth(&self) -> &dyn crate::auth::AuthStore {
        &self.meta
    }

    fn objects(&self) -> &dyn crate::objects::ObjectStore {
        &self.meta
    }
}

#[cfg(test)]
mod tests {
    use super::partition_of_writes;

    /// Days' partitions (ADR 0024) and the months of databases made
    /// before are told apart by their names, and each lies in its month.
    #[test]
    fn partitions_of_days_and_of_months() {
        assert_eq!(partition_of_writes(20240105), ("toYYYYMMDD", 202401));
        assert_eq!(partition_of_writes(20991231), ("toYYYYMMDD", 209912));
        assert_eq!(partition_of_writes(202401), ("toYYYYMM", 202401));
        assert_eq!(partition_of_writes(197001), ("toYYYYMM", 197001));
    }
}
