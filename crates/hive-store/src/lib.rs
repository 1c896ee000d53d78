//! Hive's storage.
//!
//! [`Store`] is what the server needs from a backend; [`sqlite::SqliteStore`]
//! is the embedded default. Every backend passes [`conformance`].
//!
//! Writes are batches of [`WriteOp`]s applied in one transaction (the
//! server groups many requests into one batch); a batch is durable when
//! [`Store::apply`] returns.

pub mod auth;
pub mod cancel;
pub mod clickhouse;
pub mod conformance;
pub mod objects;
pub mod prepared;
pub mod query;
pub mod sqlite;

use hive_core::chart::{ChartQuery, Series};
use hive_core::filter::{DateRange, Filter};
use hive_core::model::Event;
use serde_json::Value;

pub use auth::{ApiKey, KeyScope, NewKey, Project, SavedView, WebSession};
pub use prepared::PreparedEvent;

/// Sessions (or events) deleted by one retention step at most.
pub const EXPIRE_BATCH: usize = 500;

/// One write.
#[derive(Debug, Clone)]
// Ops live briefly, in one Vec per request: boxing the large variant would
// only add an allocation per event.
#[allow(clippy::large_enum_variant)]
pub enum WriteOp {
    /// An event as ingested (a span, a posted event or a session start).
    /// Replaces an earlier version of the same event; enrichments already
    /// received for it are applied on top. Creates its session as a
    /// placeholder when the session is unknown.
    Event {
        event: Event,
        /// The raw span, for the Attributes panel.
        raw: Option<Value>,
        /// The session's name when a placeholder session must be made.
        session_name: Option<String>,
        /// When the event already exists (not as a placeholder), merge its
        /// non-empty namespaces in as an enrichment instead of replacing it
        /// (a second session start joining an existing session).
        join: bool,
        /// The event names no project (an admin key): it goes to the
        /// project of its session when that session exists, and to
        /// `event.project_id` otherwise.
        floating: bool,
    },
    /// [`WriteOp::Event`] prepared off the writer thread (the fast path
    /// the server uses).
    Prepared(Box<PreparedEvent>),
    /// An enrichment (RFC 7396 patch) of an event. An unknown event is
    /// kept as a placeholder session until the event arrives.
    Enrich {
        project_id: String,
        /// The enrichment names no project (an admin key): it applies to
        /// the event wherever it is, and `project_id` is only where it waits
        /// until its event arrives (it then moves to the event's project).
        floating: bool,
        event_id: String,
        patch: Value,
        key_id: Option<String>,
        received_at_ms: i64,
    },
    /// Delete what `target` names in `project_id`: the events, their
    /// enrichment history and raw spans. What is gone stays gone: a later
    /// write of the same ids starts afresh. Deleting something unknown
    /// does nothing.
    Delete {
        project_id: String,
        target: DeleteTarget,
    },
}

/// What a [`WriteOp::Delete`] removes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteTarget {
    /// A session: the session event and every event of the session.
    Session(String),
    /// One event; when it is a session event, the whole session.
    Event(String),
}

impl WriteOp {
    /// `event` as ingested on its own: no raw span, no session name, not
    /// joining a session, in its own project.
    pub fn event(event: Event) -> WriteOp {
        WriteOp::Event {
            event,
            raw: None,
            session_name: None,
            join: false,
            floating: false,
        }
    }

    pub fn project_id(&self) -> &str {
        match self {
            WriteOp::Event { event, .. } => &event.project_id,
            WriteOp::Prepared(p) => &p.event.project_id,
            WriteOp::Enrich { project_id, .. } => project_id,
            WriteOp::Delete { project_id, .. } => project_id,
        }
    }
}

/// Storage failures, as a kind plus a source.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored document is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// A backend server that cannot be reached or is overloaded.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The caller abandoned the read ([`cancel`]).
    #[error("the read was abandoned by its caller")]
    Cancelled,
}

impl StoreError {
    /// Whether the failure is the environment's (disk full, I/O, a lock),
    /// so the same write may succeed later, rather than the write's own.
    pub fn is_transient(&self) -> bool {
        use rusqlite::ffi::ErrorCode;
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                ErrorCode::DiskFull
                    | ErrorCode::SystemIoFailure
                    | ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::CannotOpen
                    | ErrorCode::OutOfMemory
                    | ErrorCode::ReadOnly
            ),
            StoreError::Unavailable(_) => true,
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which rows a query reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Level {
    /// Filters apply to each event.
    #[default]
    Event,
    /// Only sessions are returned; a session matches when the session
    /// event or any of its events matches every filter.
    Session,
    /// Only sessions are returned; a session matches when the session
    /// event itself matches every filter (what `enrich_session` set).
    SessionEvent,
}

/// Sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    StartAsc,
    StartDesc,
    /// Longest first.
    DurationDesc,
    /// Highest `metadata.cost` first (the session rollup).
    CostDesc,
    /// Most `metadata.total_tokens` first.
    TokensDesc,
    /// Most `metadata.num_events` first (sessions).
    EventsDesc,
}

/// An event query: project scope, filters, time window, paging.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// `None` reads every project (admin keys only).
    pub project_id: Option<String>,
    pub filters: Vec<Filter>,
    pub date_range: DateRange,
    pub level: Level,
    pub order: Order,
    pub limit: usize,
    /// Zero-based offset.
    pub offset: usize,
    /// The events answered need not carry their content (`inputs`,
    /// `outputs`): a backend may leave it out where reading it costs (the
    /// dashboard's lists, which show neither). The rest of each event is
    /// as without it.
    pub brief: bool,
}

/// A page of events and the total that matched.
#[derive(Debug, Clone, Default)]
pub struct EventPage {
    pub events: Vec<Value>,
    pub total: u64,
    /// No write of the page's events was received before this, when the
    /// backend knows it (ClickHouse's streamed reads): what looks them up
    /// again ([`Store::histories`], [`Store::raws`]) may read from there.
    pub received_from: Option<i64>,
}

/// A page of a list, with the total when it was counted (see
/// [`Store::query_page`]).
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub events: Vec<Value>,
    /// Every match counted; `None` when the page was found without.
    pub total: Option<u64>,
    /// Whether a match follows the page.
    pub more: bool,
    /// How many events of each of the page's sessions failed (as
    /// [`Store::session_errors`] answers), when the backend found them with
    /// the page; `None` when it did not.
    pub session_errors: Option<Vec<(String, i64)>>,
    /// As [`EventPage::received_from`].
    pub received_from: Option<i64>,
}

impl Page {
    /// A counted page of `q`.
    pub fn counted(page: EventPage, q: &EventQuery) -> Page {
        let shown = q.offset as u64 + page.events.len() as u64;
        Page {
            more: shown < page.total,
            total: Some(page.total),
            events: page.events,
            session_errors: None,
            received_from: page.received_from,
        }
    }
}

/// One enrichment as kept in the history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HistoryEntry {
    pub seq: i64,
    pub received_at: i64,
    pub key_id: Option<String>,
    pub patch: Value,
}

/// A path that exists in a project, with a value type seen there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct FieldInfo {
    pub field: String,
    #[serde(rename = "type")]
    pub ty: String,
}

/// One record of the ingest log in a batch handed to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRecord {
    /// Where the record starts in the log.
    pub start: u64,
    /// Where it ends: the log is applied up to here once it is.
    pub end: u64,
    /// How many ops of the batch there are up to the end of this record.
    pub upto: usize,
    /// When the node received the record, decided before it was logged
    /// (so a replay has the same); `None` for a record an older hive logged.
    pub received_at_ms: Option<i64>,
}

/// What the server needs from a storage backend.
pub trait Store: Send + Sync + 'static {
    /// Apply a batch atomically and durably. Ops are applied in order.
    fn apply(&self, ops: &[WriteOp]) -> Result<()>;
    /// Whether [`Store::apply`] uses everything a [`PreparedEvent`]
    /// derives, so it is best derived before, on the thread that maps the
    /// writes (the writer derives what it needs otherwise, when it needs it).
    fn derives_ahead(&self) -> bool {
        true
    }
    /// [`Store::apply`] a batch read from the ingest log, recording in the
    /// same transaction that the log is applied up to `position`.
    fn apply_logged(&self, ops: &[WriteOp], position: u64) -> Result<()>;
    /// [`Store::apply_logged`] knowing each record of the batch, in order.
    /// A backend without transactions uses the record positions to make a
    /// re-applied batch collapse, and their received times to order what
    /// they write the same way each time; by default the batch is applied
    /// up to the last record's end.
    fn apply_log_records(&self, ops: &[WriteOp], records: &[LogRecord]) -> Result<()> {
        match records.last() {
            Some(r) => self.apply_logged(ops, r.end),
            None => self.apply(ops),
        }
    }
    /// The ingest-log position applied so far (0 when none).
    fn log_position(&self) -> Result<u64>;
    /// A cheap round trip to the store's server (readiness checks):
    /// `Ok` when it answers now.
    fn ping(&self) -> Result<()> {
        self.log_position().map(|_| ())
    }
    /// One event by id (the current state).
    fn get_event(&self, project_id: Option<&str>, event_id: &str) -> Result<Option<Value>>;
    /// The raw span of an event, if it came from a span.
    fn get_raw(&self, project_id: Option<&str>, event_id: &str) -> Result<Option<Value>>;
    /// The events of a session, session event first, then by start time; at
    /// most `limit` of them.
    fn session_events(
        &self,
        project_id: Option<&str>,
        session_id: &str,
        limit: usize,
    ) -> Result<Vec<Value>>;
    /// [`Store::session_events`], where only the event `shown` needs its
    /// content (`inputs`, `outputs`): the others may come without it, where
    /// leaving it out saves reading it (the session page, whose tree shows
    /// no content and whose panel shows the selected event's).
    fn session_events_showing(
        &self,
        project_id: Option<&str>,
        session_id: &str,
        limit: usize,
        shown: &str,
    ) -> Result<Vec<Value>> {
        let _ = shown;
        self.session_events(project_id, session_id, limit)
    }
    /// Query events.
    fn query(&self, q: &EventQuery) -> Result<EventPage>;
    /// The page of [`Store::query`], and whether a match follows it,
    /// without necessarily counting every match (`total` then `None`): a
    /// backend whose count costs a pass over the whole project can find
    /// the page alone from far less (the dashboard's lists, which count
    /// apart). The same events in the same order as `query` gives.
    fn query_page(&self, q: &EventQuery) -> Result<Page> {
        Ok(Page::counted(self.query(q)?, q))
    }
    /// A project's events whose id sorts after `after` (`""`: from the
    /// first), by id, that match the query's filters and date range at event
    /// level: at most `q.limit`, the last one's id the next page's `after`
    /// (`q.level`, `q.order` and `q.offset` are not used). Pages of a whole
    /// export each cost about their own size, where a page at an offset
    /// costs every event before it.
    fn events_after(&self, project_id: &str, q: &EventQuery, after: &str) -> Result<Vec<Value>>;
    /// The enrichment history of an event, oldest first.
    fn history(&self, project_id: Option<&str>, event_id: &str) -> Result<Vec<HistoryEntry>>;
    /// The histories of several events, each as [`Store::history`] gives
    /// it, by event id (events without one may be left out): what an export
    /// page includes. A backend whose lookup of one event costs a statement
    /// reads them together.
    /// `since`: no write of these events was received before it (a page's
    /// [`EventPage::received_from`]).
    fn histories(
        &self,
        project_id: Option<&str>,
        event_ids: &[&str],
        _since: Option<i64>,
    ) -> Result<std::collections::HashMap<String, Vec<HistoryEntry>>> {
        let mut out = std::collections::HashMap::new();
        for id in event_ids {
            let h = self.history(project_id, id)?;
            if !h.is_empty() {
                out.insert((*id).to_owned(), h);
            }
        }
        Ok(out)
    }
    /// The raw spans of several events, each as [`Store::get_raw`] gives
    /// it, by event id (events without one left out).
    fn raws(
        &self,
        project_id: Option<&str>,
        event_ids: &[&str],
        _since: Option<i64>,
    ) -> Result<std::collections::HashMap<String, Value>> {
        let mut out = std::collections::HashMap::new();
        for id in event_ids {
            if let Some(raw) = self.get_raw(project_id, id)? {
                out.insert((*id).to_owned(), raw);
            }
        }
        Ok(out)
    }
    /// Every namespace path in a project, with its value types.
    fn fields(&self, project_id: &str) -> Result<Vec<FieldInfo>>;
    /// How many events of each of these sessions failed (sessions with no
    /// failed event may be left out).
    fn session_errors(
        &self,
        project_id: &str,
        session_ids: &[String],
    ) -> Result<Vec<(String, i64)>>;

    /// Aggregate a chart query (semantics: [`hive_core::chart::reference`]);
    /// `project_id` `None` reads every project.
    fn chart(&self, project_id: Option<&str>, q: &ChartQuery) -> Result<Vec<Series>>;
    /// Several charts of one project (or of every project) at once, each
    /// as [`Store::chart`] answers it: what alert rules evaluate together.
    /// A backend whose chart reads every event of its scope can read them
    /// once for all.
    fn charts(&self, project_id: Option<&str>, qs: &[ChartQuery]) -> Result<Vec<Vec<Series>>> {
        qs.iter().map(|q| self.chart(project_id, q)).collect()
    }

    /// Retention: delete, with all their events, at most `limit` sessions
    /// of a project that started before `before_ms`; how many events (or,
    /// on a backend that expires writes, rows) were removed. Zero when
    /// nothing is left to expire.
    fn expire(&self, project_id: &str, before_ms: i64, limit: usize) -> Result<u64>;

    /// Bring what the store derives from its writes for wide reads up to
    /// date (ClickHouse: every event's state, ADR 0028); `None` when there
    /// was nothing to do. Run by every node in the background.
    fn compact(&self) -> Result<Option<Compaction>> {
        Ok(None)
    }
    /// [`Store::compact`] as a node's background round every `every`
    /// does it: not when another node compacted within half of that (the
    /// nodes sharing one store then take turns rather than each doing the
    /// same work), unless this node has work of its own for it.
    fn compact_due(&self, every: std::time::Duration) -> Result<Option<Compaction>> {
        let _ = every;
        self.compact()
    }
    /// When the newest compaction that [`Store::compact`] keeps was
    /// recorded (ms since the epoch), by whichever node sharing the store
    /// made it: what wide reads take as settled, so its age is how much
    /// they resolve beside it. `None` where the store keeps nothing of the
    /// kind (SQLite, a ClickHouse cluster), or before the first.
    fn compacted_at(&self) -> Result<Option<i64>> {
        Ok(None)
    }
    /// The step retention's cut-offs move by, in milliseconds: they are
    /// rounded down to a multiple of it, so a backend whose deletions cost
    /// the same whatever they remove (a ClickHouse mutation rewrites the
    /// parts it touches) removes a step's worth at a time rather than a
    /// little at every round. 1 (every round) unless a backend says.
    fn expire_step_ms(&self) -> i64 {
        1
    }
    /// Retention over every project at once: drop whole time partitions
    /// that hold only writes from before `before_ms` (a backend without
    /// partitions does nothing); how many were dropped.
    fn expire_partitions(&self, _before_ms: i64) -> Result<u64> {
        Ok(0)
    }
    /// Give space freed by deletions back to the file system, one bounded
    /// step; how many bytes are still free inside the store (0 when there
    /// is nothing to give back).
    fn reclaim_space(&self) -> Result<u64> {
        Ok(0)
    }
    /// Bytes the store takes on disk.
    fn disk_bytes(&self) -> Result<u64> {
        Ok(0)
    }
    /// Project ids, the most recently active first: the dashboard opens on
    /// the first it knows. A backend judges activity by what it reads
    /// cheaply, and may name only the most active. A start more than a day
    /// ahead of now (a client's wrong clock) is not activity. By default,
    /// the project of the session that starts last.
    fn active_projects(&self) -> Result<Vec<String>> {
        let ahead = now_ms() as f64 + 86_400_000.0;
        let newest = self.query_page(&EventQuery {
            project_id: None,
            level: Level::Session,
            order: Order::StartDesc,
            limit: 1,
            date_range: DateRange {
                start_ms: None,
                end_ms: Some(ahead),
            },
            ..EventQuery::default()
        })?;
        Ok(newest
            .events
            .first()
            .and_then(|e| e.get("project_id"))
            .and_then(|v| v.as_str())
            .map(|id| vec![id.to_owned()])
            .unwrap_or_default())
    }

    /// Projects and keys.
    fn auth(&self) -> &dyn auth::AuthStore;
    /// Saved charts, alert rules and their evaluations.
    fn objects(&self) -> &dyn objects::ObjectStore;
}

/// What a [`Store::compact`] did.
#[derive(Debug, Clone)]
pub struct Compaction {
    /// Whether it built everything anew.
    pub full: bool,
    /// The events it resolved (or, building, copied).
    pub events: u64,
    /// The days it wrote.
    pub days: usize,
    pub took: std::time::Duration,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
