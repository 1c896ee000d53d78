//! Lists and charts, which need a few paths of every event in scope: the rows
//! of each event are streamed with only the leaves that decide those paths
//! and resolved by the last-writer-wins rule ([`leaves::resolve`], held
//! equal to the fold by a property test), one event at a time. A chart over
//! millions of events so holds a number per event and the small states of
//! its sessions, never the documents.
//!
//! The value of a path (and everything below it) depends only on the
//! writes at it, above it and below it (ADR 0008): a write elsewhere can
//! clear a write above the path only where that write already hid the path.
//! So the leaves kept are those at, above or below a needed path.

use std::cmp::Ordering;
use std::collections::HashMap;

use hive_core::chart::{Cell, Cells, ChartLevel, ChartQuery, Series};
use hive_core::filter::Filter;
use hive_core::model::Event;
use hive_core::rollup::{Contribution, Rollup};
use serde_json::Value;

use super::ClickHouseStore;
use super::filter_sql::{ROLLUP_PATHS, path_of};
use super::held::{Held, HeldSessions};
use super::http::{Client, NAMED, lit};
use super::leaves::{self, DERIVED, Leaf, NULL, NUM, STR, flatten, is_ancestor, is_content};
use super::query::{in_range, sql_order};
use super::read::VISIBLE;
use super::schema::{ALWAYS, minute_sql};
use super::write::{BASE, PATCH, PLACEHOLDER};
use crate::query::MAX_LIMIT;
use crate::{EventPage, EventQuery, Level, Order, Result, StoreError};

mod from_state;
mod singles;
pub(super) use from_state::{KeptGroups, Recent};
pub(super) use singles::MAX_KEPT;
use singles::Singles;

/// Bytes a read's sort may hold in ClickHouse's memory before it spills to
/// disk (a project's rows sorted by event would otherwise need memory in
/// proportion to the project, and fail past the server's per-query limit).
const SORT_IN_MEMORY: u64 = 1 << 30;

/// How a streamed read cuts its events into ranges.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ranges {
    /// The bounds come from one event id in this many.
    pub sample_one_in: usize,
    /// About how many events a range holds.
    pub events: usize,
    /// Read by name a dated read whose range holds up to one in this many
    /// of the project's keys ([`DATED_SHARE`]; 0: whatever it holds).
    pub dated_share: usize,
    /// ... or fewer keys than this ([`DATED_MIN_KEYS`]).
    pub dated_min_keys: usize,
    /// Bytes of session events a read holds in memory until their
    /// rollups are known; the rest wait in a temporary file
    /// ([`HELD_IN_MEMORY`]).
    pub held_in_memory: usize,
    /// A chart of this many events or more (a dated one's, or its
    /// project's keys in the index of starts) has ClickHouse add up those
    /// written once ([`SINGLES_FROM`]; `usize::MAX`: never).
    pub singles_from: usize,
}

/// Bytes of session events a read holds in memory (about 64 000 sessions
/// of a chart's few fields): a read of a day or less holds them all there;
/// a whole project's holds the rest in a temporary file (a million
/// sessions at ten million events held 955 MiB all in memory).
pub(crate) const HELD_IN_MEMORY: usize = 64 << 20;

impl Default for Ranges {
    fn default() -> Ranges {
        Ranges {
            sample_one_in: 1024,
            // A range reads a granule or more in each partition of the
            // writes (a day's, ADR 0024): ranges of 131 072 events, the
            // size until then, read about twice the granules of a project
            // of 30 days as its events fill, and a chart over all of ten
            // million events took 28.8 s instead of 23.1 s (month
            // partitions); with these 25.1 s, for about 280 MB of sort in
            // ClickHouse per statement instead of 70.
            events: 524_288,
            dated_share: DATED_SHARE,
            dated_min_keys: DATED_MIN_KEYS,
            held_in_memory: HELD_IN_MEMORY,
            singles_from: SINGLES_FROM,
        }
    }
}

/// Most events a read by name reads in one statement (sent beside it as
/// data; they were parsed as elements of the statement, 50 000 at most by
/// default).
const IDS_PER_STATEMENT: usize = 40_000;

/// How many of `n` events' hashes each statement of a read by name names,
/// where a range of a whole project's read holds about `events` (so the
/// read takes `n.div_ceil` of it statements). Hashes are random, so every
/// statement reads the hashes of every granule its key range holds, and
/// each builds a set of the hashes it names: as few statements as the
/// sort allows, [`READERS`] (so ClickHouse prepares one while another is
/// read) up to four ranges' events each (about 1.1 GB of sort in
/// ClickHouse, which spills past [`SORT_IN_MEMORY`]). The 2.3 million
/// events of 7 days at ten million took 8.0 s in two statements, 9.0–9.9 s
/// in five of a range's events each (each statement naming a share then,
/// and reading every granule); cut by ids instead
/// ([`ClickHouseStore::named_bounds`]), four statements took 7.1–7.8 s
/// against 6.5 s for two (each names all 2.3 million).
fn hashes_per_statement(n: usize, events: usize) -> usize {
    let events = events.max(1);
    if n <= IDS_PER_STATEMENT.min(events) {
        return n.max(1);
    }
    n.div_ceil(n.div_ceil(events.saturating_mul(4)).max(READERS))
}

/// How many of the events a read names sample their ids when the read is
/// cut into ranges of ids ([`ClickHouseStore::named_bounds`]).
const NAMED_SAMPLE: usize = 256;

/// Most events a read bounded by dates reads by their ids' hashes; past
/// this it reads the whole scope in ranges, as before. The bound is on the
/// node's memory: the hashes are held for the read (8 bytes each since
/// schema 14, 40 MB for five million; the ids took about 64, 320 MB), with
/// the sessions waiting for their rollups, as a read of the whole project
/// holds them. Which of the two is sooner is [`DATED_SHARE`]'s to decide: at a
/// million (the bound until 2026-12-05, when the ids were parsed from the
/// statements), the dashboard's default chart, the last 7 days of a
/// project of ten million events, read all of it (30 s) where naming its
/// 2.3 million events takes 13 s.
pub(super) const MAX_DATED: usize = 5_000_000;

/// From how many events a chart has ClickHouse add up those written once
/// ([`singles`]). The counts and the groups are statements of their own
/// that read what the stream's read, so they pay only where the stream's
/// sort and the node's work are large: at ten million events the last 24
/// hours (334 000 events) took as long either way (1.04 and 1.09–1.12 s),
/// the last 7 days (2.3 million) 4.7 s against 5.8 (ClickHouse 18.16 on
/// the node's two cores; BENCHMARKS.md, 2026-12-05 23:40).
const SINGLES_FROM: usize = 1_000_000;

/// A read bounded by dates whose range holds more than one in this many of
/// its project's keys in the index of starts (a session's or event's
/// minute: about as many events each) reads every event instead: naming an
/// event costs about twice what streaming one does (about 5 µs against 2.9
/// at a million events here, the ids sent as data), so past half the
/// project the whole project is read sooner (a chart of a month that holds
/// all of a project's events took 5.2 s by name, 2.9 s whole). Decided
/// from counts of the index before the ids are read (which took 0.8 s for a
/// million).
const DATED_SHARE: usize = 2;

/// Keys in a dated read's range below which it is read by name without
/// counting the project's keys (about 20 000 events: naming them costs
/// about 0.1 s, and counting the keys of a project of ten million events
/// 0.14 s).
const DATED_MIN_KEYS: usize = 10_000;

/// What a range of a whole project's chart adds up: the events left to
/// the stream (written more than once), and the groups.
type RangeAdded = (Vec<u64>, singles::Added);

/// A day in milliseconds.
const DAY_MS: i64 = 86_400_000;

/// Which events a streamed read reads.
pub(super) enum Scope {
    /// Every event of the project (or of every project).
    All,
    /// These events, by their ids' hashes (sorted; schema 14), with any
    /// other event that shares one: a read decides by what it finds. With
    /// the time (ms) since which most of their writes were received, when
    /// known (a dated read's: its events start from then on), where the
    /// read looks for a sample of their ids ([`ClickHouseStore::named_bounds`]);
    /// and the time (ms) since which every one of their writes was
    /// received, when known: only the writes' partitions from then on are
    /// read (ADR 0031).
    Hashes(Vec<u64>, Option<i64>, Option<i64>),
}

/// Bounds that cut the events `cond` selects into ranges of about
/// `r.events` each, by event id, from a sample of one id in
/// `r.sample_one_in`. Empty: one range.
pub(super) fn id_bounds(client: &Client, cond: &str, r: Ranges) -> Result<Vec<String>> {
    let sample: Vec<String> = client
        .rows(&format!(
            "SELECT DISTINCT event_id FROM hive_writes WHERE {cond} \
             AND cityHash64(event_id) % {} = 0 ORDER BY event_id",
            r.sample_one_in
        ))?
        .iter()
        .filter_map(|r| r["event_id"].as_str().map(str::to_owned))
        .collect();
    let step = (r.events / r.sample_one_in).max(1);
    Ok(sample.into_iter().skip(step).step_by(step).collect())
}

/// The condition on `event_id` of the `i`th range between `bounds` (`1`
/// for a single range).
pub(super) fn range_cond(bounds: &[String], i: usize) -> String {
    let mut cond = Vec::new();
    if let Some(from) = i.checked_sub(1).and_then(|j| bounds.get(j)) {
        cond.push(format!("event_id >= {}", lit(from)));
    }
    if let Some(to) = bounds.get(i) {
        cond.push(format!("event_id < {}", lit(to)));
    }
    if cond.is_empty() {
        "1".to_owned()
    } else {
        cond.join(" AND ")
    }
}

/// The statements of one streamed read, one per range.
struct RangeReads<'a> {
    count: usize,
    sql: &'a (dyn Fn(usize) -> String + Sync),
    /// The events each statement names by their ids' hashes, sent beside
    /// it as the external table `named` (none: it names none).
    named: &'a [&'a [u64]],
    deadline: std::time::Instant,
    limit: std::time::Duration,
}

impl RangeReads<'_> {
    /// An error once the read has taken longer than the statement timeout.
    fn check(&self) -> Result<()> {
        if std::time::Instant::now() > self.deadline {
            return Err(StoreError::Unavailable(format!(
                "ClickHouse: a list or chart took longer than {} s (the statement timeout, \
                 ?timeout= in the URL) reading the events of the project it needs",
                self.limit.as_secs_f64()
            )));
        }
        Ok(())
    }
}

/// Ranges read at once: ClickHouse prepares one while another is read.
const READERS: usize = 2;
/// Events a reader resolves before handing them over.
const BATCH_EVENTS: usize = 512;

/// What a session's rollup reads of its events, and what it writes into the
/// session (besides the `metadata` keys it owns).
pub(super) const ROLLUP_INPUTS: [&str; 16] = [
    "event_type",
    "event_id",
    "session_id",
    "start_time",
    "end_time",
    "duration",
    "feedback",
    "error",
    "metadata.cost",
    "metadata.prompt_tokens",
    "metadata.completion_tokens",
    "metadata.total_tokens",
    "metrics.cost",
    "metrics.prompt_tokens",
    "metrics.completion_tokens",
    "metrics.total_tokens",
];

/// What of [`ROLLUP_INPUTS`] a read of the paths `read` needs (besides
/// the start, which every read buckets, orders or bounds by). A session's
/// rollup writes its start from its events' starts alone; what else it
/// writes (its end, duration, counts, cost and tokens:
/// [`ROLLUP_PATHS`]) matters only to a read of those paths or of a path
/// above or below one of them, which then needs every input. Any other
/// read reads events for their sessions' starts only, and rolls up just
/// those.
fn rollup_inputs(read: &[String]) -> Vec<String> {
    let touches = |p: &String| {
        ROLLUP_PATHS
            .iter()
            .filter(|o| **o != "start_time")
            .any(|o| p == o || is_ancestor(p, o) || is_ancestor(o, p))
    };
    let inputs: &[&str] = if read.iter().any(touches) {
        &ROLLUP_INPUTS
    } else {
        &["event_type", "event_id", "session_id", "start_time"]
    };
    inputs.iter().map(|p| (*p).to_owned()).collect()
}

/// Per session (project, session id): what a read keeps of each, filled
/// once per event it reads. foldhash, randomly seeded: SipHash was most of
/// what a chart over a million events spent here.
pub(super) type BySession<V> = foldhash::HashMap<SessionKey, V>;

/// `list`'s sessions (each named once, with their events' number and
/// earliest start, as a read's groups give them) added to their rollups
/// in `into`, sized for them at once. A read's groups hold a rollup for
/// nearly every session in scope (230 000 for 7 days at ten million
/// events): grown one by one, the table doubled four times or more, and
/// zeroing each copy's fresh pages was a quarter of the node's work in
/// such a read.
fn add_sessions(into: &mut BySession<Rollup>, list: Vec<(SessionKey, i64, i64)>) {
    into.reserve(list.len());
    for (session, events, earliest) in list {
        into.entry(session).or_default().update(
            None,
            &Contribution {
                events,
                start_time: Some(earliest),
                ..Contribution::default()
            },
        );
    }
}

/// What a statement's groups add to the charts' cells (by the charts'
/// places), added as it answers.
fn add_cells(cells: &mut [Cells], adds: Vec<(usize, singles::Add)>) {
    for (i, add) in adds {
        match add {
            singles::Add::Times(cell, n) => cells[i].push_times(cell, n),
            singles::Add::Totals(key, n, sum, min, max) => {
                cells[i].push_totals(key, n, sum, min, max)
            }
        }
    }
}

/// Two reads' rollups of the same sessions added up, the smaller into
/// the larger (the groups' hold nearly every session, the stream's few).
fn merged(a: BySession<Rollup>, b: BySession<Rollup>) -> BySession<Rollup> {
    let (mut into, from) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    for (session, r) in from {
        into.entry(session)
            .or_default()
            .update(None, &r.as_contribution());
    }
    into
}

/// A session as a read's maps know it: its project and its id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct SessionKey {
    project: Name,
    session: Name,
}

impl SessionKey {
    pub fn new(project: &str, session: &str) -> SessionKey {
        SessionKey {
            project: Name::new(project),
            session: Name::new(session),
        }
    }
}

/// An id in a [`SessionKey`]: held in the key itself when it is short (a
/// UUID, or a UUID with a short prefix), so looking a session up neither
/// allocates nor follows a pointer to its text. A chart over ten million
/// events looks its sessions up ten million times; with the ids as
/// `String`s, a sixth of the node's work went on those lookups (mostly
/// waiting for the texts' memory) and on allocating and freeing the ids.
/// Two names are equal exactly when their texts are.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Name {
    /// The text's length, then its bytes, zero after it.
    Inline(u8, [u8; INLINE_NAME]),
    Heap(Box<str>),
}

/// Bytes of an id held in its key.
const INLINE_NAME: usize = 46;

impl Name {
    fn new(text: &str) -> Name {
        let bytes = text.as_bytes();
        if bytes.len() <= INLINE_NAME {
            let mut inline = [0; INLINE_NAME];
            inline[..bytes.len()].copy_from_slice(bytes);
            // (At most 46: the length fits.)
            Name::Inline(bytes.len() as u8, inline)
        } else {
            Name::Heap(text.into())
        }
    }
}

/// The paths a read needs.
pub(super) struct Paths {
    needed: Vec<String>,
}

impl Paths {
    pub fn new(needed: impl IntoIterator<Item = String>) -> Paths {
        let mut needed: Vec<String> = needed.into_iter().collect();
        needed.sort();
        needed.dedup();
        Paths { needed }
    }

    /// Whether a leaf at `path` can decide a needed path.
    fn relevant(&self, path: &str) -> bool {
        self.needed
            .iter()
            .any(|n| n == path || is_ancestor(path, n) || is_ancestor(n, path))
    }

    /// The needed paths and their ancestors: the leaves that can decide
    /// them, besides those below them.
    pub(in crate::clickhouse) fn at_and_above(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for n in &self.needed {
            let parts: Vec<&str> = n.split('.').collect();
            for i in 1..=parts.len() {
                out.push(parts[..i].join("."));
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// A row of a streamed read, its leaves restricted to those that can
/// decide a needed path.
#[cfg_attr(test, derive(Debug, Clone, PartialEq))]
struct Row {
    project_id: String,
    event_id: String,
    kind: u8,
    ts: i64,
    node: String,
    seq: u64,
    idx: u32,
    received: i64,
    session_id: String,
    /// Each leaf's path, as its place in [`Keys`] (counted from 1).
    lk: Vec<u32>,
    lt: Vec<u8>,
    /// Each leaf's text as stored: a base's own ids and integers' texts
    /// left out (schemas 6 and 9), which [`Row::take_leaves`] puts back.
    ls: Vec<String>,
    ln: Vec<f64>,
}

impl Row {
    /// The next row of `r`: from the reader's buffer as a slice when it
    /// holds the whole row (most do: rows take a few hundred bytes, the
    /// buffer 64 KiB), so no field is read through the reader; else (or on
    /// any error, which the reader then reports) through the reader.
    fn decode_buffered(r: &mut dyn std::io::BufRead) -> Result<Row> {
        let found = match r.fill_buf() {
            Ok(buf) => {
                let mut rest = buf;
                Row::decode(&mut rest)
                    .ok()
                    .map(|row| (row, buf.len() - rest.len()))
            }
            Err(_) => None,
        };
        match found {
            Some((row, used)) => {
                r.consume(used);
                Ok(row)
            }
            None => Row::decode(r),
        }
    }

    fn decode<R: std::io::Read + ?Sized>(r: &mut R) -> Result<Row> {
        use super::http::binary as b;
        Ok(Row {
            project_id: b::string(r)?,
            event_id: b::string(r)?,
            kind: b::u8(r)?,
            ts: b::i64(r)?,
            node: b::string(r)?,
            seq: b::u64(r)?,
            idx: b::u32(r)?,
            received: b::i64(r)?,
            session_id: b::string(r)?,
            lk: b::array(r, b::u32)?,
            lt: b::array(r, b::u8)?,
            ls: b::array(r, b::string)?,
            ln: b::array(r, b::f64)?,
        })
    }
}

impl Row {
    /// The row's leaves, moved out of it: (path number, type, text), with
    /// what a base leaves out of its texts put back, as
    /// [`super::write::own_ids_sql`] does in SQL: a string leaf written
    /// empty with the number 1 at one of the keys `own` (`event_id`,
    /// `session_id`, `parent_id`; 0 when not kept) is the row's event id
    /// (the first) or session id, and a number written with no text is
    /// the integer its number spells. (Done here, not in the statement:
    /// ClickHouse spent about 0.2 s of CPU less on each of the 7-day
    /// chart's two statements of 1.3 million rows at ten million events.)
    fn take_leaves(&mut self, own: [u32; 3]) -> impl Iterator<Item = (u32, u8, String)> + use<> {
        let (lk, lt, mut ls, ln) = (
            std::mem::take(&mut self.lk),
            std::mem::take(&mut self.lt),
            std::mem::take(&mut self.ls),
            std::mem::take(&mut self.ln),
        );
        if self.kind < PATCH {
            for (i, s) in ls.iter_mut().enumerate() {
                if !s.is_empty() {
                    continue;
                }
                let k = lk.get(i).copied().unwrap_or(0);
                let (ty, n) = (lt.get(i).copied(), ln.get(i).copied());
                match (ty, n) {
                    (Some(STR), Some(n)) if n == 1.0 && k != 0 && own.contains(&k) => {
                        *s = if k == own[0] {
                            self.event_id.clone()
                        } else {
                            self.session_id.clone()
                        };
                    }
                    (Some(NUM), Some(n)) => *s = (n as i64).to_string(),
                    _ => {}
                }
            }
        }
        lk.into_iter()
            .zip(lt)
            .zip(ls)
            .map(|((k, ty), s)| (k, ty, s))
    }
}

/// The paths whose leaves a read keeps, with their keys.
struct Keys {
    paths: Vec<String>,
    segments: Vec<Vec<String>>,
    /// The keys of a base's own ids, `event_id`, `session_id` and
    /// `parent_id` (0: not kept), for [`Row::take_leaves`].
    own: [u32; 3],
}

impl Keys {
    fn new(paths: Vec<String>) -> Keys {
        let segments = paths.iter().map(|p| leaves::segments(p)).collect();
        let own = ["event_id", "session_id", "parent_id"].map(|path| {
            paths
                .iter()
                .position(|p| p == path)
                .map_or(0, |i| i as u32 + 1)
        });
        Keys {
            paths,
            segments,
            own,
        }
    }

    /// The path of the `k`th key (counted from 1), as the SQL numbered it.
    fn path(&self, k: u32) -> Option<&str> {
        self.paths
            .get((k as usize).checked_sub(1)?)
            .map(String::as_str)
    }

    fn segments(&self, k: u32) -> Option<&[String]> {
        self.segments
            .get((k as usize).checked_sub(1)?)
            .map(Vec::as_slice)
    }
}

/// An event's current state restricted to the needed paths.
pub(super) struct Partial {
    pub project_id: String,
    pub doc: Value,
    /// Whether a patch set the duration (the rollup then leaves it alone).
    pub duration_explicit: bool,
    /// When its earliest write was received: what reads it again (a
    /// page's fold) read from, as the writes are partitioned by the day
    /// they were received (ADR 0024).
    pub received_from: i64,
}

impl Partial {
    /// A session event: it gets the rollup of the events that name it
    /// (as `read::Folded::is_session`).
    pub(super) fn is_session(&self) -> bool {
        self.doc.get("event_type").and_then(Value::as_str) == Some("session")
    }

    fn field(&self, k: &str) -> &str {
        self.doc.get(k).and_then(Value::as_str).unwrap_or_default()
    }

    /// The event's session: its project and session id.
    pub(super) fn session(&self) -> SessionKey {
        SessionKey::new(&self.project_id, self.field("session_id"))
    }
}

/// What a chart needs of an event, found by the reader that resolved it.
enum Seen {
    /// A session event, held until its rollup is known.
    Session(Held),
    /// Another event: its session, what it adds to the session's rollup,
    /// and where it counts in the event-level charts (by the chart's
    /// place among those read together).
    Event {
        session: SessionKey,
        contribution: Contribution,
        cells: Vec<(usize, Cell)>,
    },
}

/// A row's leaves (the SQL kept only those that can decide a needed path),
/// moved out of it.
fn leaves_of(r: &mut Row, keys: &Keys) -> Vec<Leaf> {
    r.take_leaves(keys.own)
        .filter(|(_, t, _)| *t < DERIVED)
        .filter_map(|(k, ty, s)| {
            Some(Leaf {
                path: keys.path(k)?.to_owned(),
                ty,
                s,
                n: 0.0,
            })
        })
        .collect()
}

/// Resolve one event from its rows (sorted by kind, then their order), as
/// `read::fold_rows` folds it: the latest base, else the earliest
/// placeholder, else a placeholder session; then every patch once.
/// `scope`: the read's project, for rows that do not carry theirs.
fn resolve_rows(rows: &mut [Row], paths: &Paths, keys: &Keys, scope: &str) -> Partial {
    let project_id = match std::mem::take(&mut rows[0].project_id) {
        p if p.is_empty() => scope.to_owned(),
        p => p,
    };
    let received_from = rows.iter().map(|r| r.received).min().unwrap_or(0);
    let base = rows
        .iter()
        .rposition(|r| r.kind == BASE)
        .or_else(|| rows.iter().rposition(|r| r.kind == PLACEHOLDER));
    let mut seen = std::collections::HashSet::new();
    let patches: Vec<usize> = (0..rows.len())
        .filter(|&i| {
            let r = &rows[i];
            r.kind == PATCH && seen.insert((r.node.clone(), r.seq, r.idx))
        })
        .collect();
    let mut writes = match base {
        // A base alone: its leaves never conflict.
        Some(b) if patches.is_empty() => {
            let leaves = rows[b]
                .take_leaves(keys.own)
                .filter_map(|(k, ty, s)| Some((keys.segments(k)?, ty, s)));
            return Partial {
                doc: leaves::rebuild_parts(leaves),
                project_id,
                duration_explicit: false,
                received_from,
            };
        }
        Some(b) => leaves_of(&mut rows[b], keys),
        None => {
            let at = patches.first().map_or(0, |&i| rows[i].ts);
            let doc = Event::placeholder_session(&rows[0].event_id, &project_id, at).to_json();
            flatten(&doc, true)
                .leaves
                .into_iter()
                .filter(|l| l.ty < DERIVED && paths.relevant(&l.path))
                .collect()
        }
    };
    let mut duration_explicit = false;
    for i in patches {
        let mut ls = leaves_of(&mut rows[i], keys);
        duration_explicit |= ls
            .iter()
            .any(|l| (l.path == "duration" && l.ty != NULL) || is_ancestor("duration", &l.path));
        writes.append(&mut ls);
    }
    Partial {
        project_id,
        doc: leaves::resolve(&writes),
        duration_explicit,
        received_from,
    }
}

impl ClickHouseStore {
    /// The leaf paths below the needed ones that exist in the scope (field
    /// discovery, `hive_fields`, knows every path written).
    pub(super) fn below(&self, project_id: Option<&str>, paths: &Paths) -> Result<Vec<String>> {
        let prefixes: Vec<String> = paths
            .needed
            .iter()
            .map(|n| format!("startsWith(path, {})", lit(&format!("{n}."))))
            .collect();
        let mut out: Vec<String> = self
            .client
            .rows(&format!(
                "SELECT DISTINCT path FROM hive_fields WHERE {} AND ({})",
                Self::project_cond(project_id),
                prefixes.join(" OR ")
            ))?
            .iter()
            .filter_map(|r| r["path"].as_str().map(str::to_owned))
            .filter(|p| paths.relevant(p))
            .collect();
        out.sort();
        Ok(out)
    }

    /// The events a read bounded by dates (`from`, `to`, inclusive) can
    /// need (ADR 0014): from the index of starts (`hive_starts`, ordered by
    /// minute, so only the range is read), the sessions and events keyed
    /// in the range's minutes (K), and every event of K and of the sessions
    /// that K's events name. `Scope::All` when the range holds no start
    /// above 0, or holds more than a [`DATED_SHARE`]th of the project, or
    /// there are more than [`MAX_DATED`] such events.
    ///
    /// Every event that starts in the range is among them:
    /// - an event's start is the `start_time` some write of it sets (a
    ///   base, a placeholder or a patch), or, for an event no base or
    ///   placeholder starts, its earliest patch's time; that write keys the
    ///   session it names (which the event then is an event of) or the
    ///   event;
    /// - a session that starts in the range has its own start there, or an
    ///   event that starts there and names it (through the write that
    ///   starts it, a base; or, started by a patch that names no session,
    ///   through its bases, hence K's events' sessions; a patch that names
    ///   one keys it in every range), and it is read with all its events,
    ///   which its rollup needs; one that has neither starts outside the
    ///   range whatever its rollup, or at 0 (hence the lower bound above 0).
    ///
    /// The reads still decide by the events' resolved starts.
    pub(super) fn dated_scope(
        &self,
        project_id: Option<&str>,
        (from, to): (Option<f64>, Option<f64>),
    ) -> Result<Scope> {
        let Some(from) = from.filter(|f| f.is_finite() && *f > 0.0) else {
            return Ok(Scope::All);
        };
        if to.is_some_and(|t| !t.is_finite()) {
            return Ok(Scope::All);
        }
        let pc = Self::project_cond(project_id);
        let ph = Self::project_hash_cond(project_id);
        let mut minutes = format!("minute >= {}", minute_sql(&format!("{from:?}")));
        if let Some(t) = to {
            minutes.push_str(&format!(" AND minute <= {}", minute_sql(&format!("{t:?}"))));
        }
        let in_range = format!("{pc} AND (minute = {ALWAYS} OR ({minutes}))");
        let keys = format!("SELECT key AS id FROM hive_starts WHERE {in_range}");
        // K, and the sessions K's events name: only those a patch keyed
        // can name sessions K lacks (a base keys its session), so the
        // sessions are looked up only when a patch is keyed in the range.
        let by_patch =
            format!("SELECT key FROM hive_starts WHERE {pc} AND by_patch = 1 AND {minutes}");
        // Whether a patch is keyed in the range, and how many keys it
        // holds, from the index alone (ordered by minute: only the range is
        // read). A range of many keys is compared with the project's.
        let counts = self.client.rows(&format!(
            "SELECT countIf(by_patch = 1 AND minute != {ALWAYS}) AS patched, count() AS n \
             FROM hive_starts WHERE {in_range}"
        ))?;
        // (Unreadable counts: read by name, and look for the sessions.)
        let of = |name: &str, or: u64| {
            counts.first().and_then(|r| r[name].as_u64()).unwrap_or(or) as usize
        };
        let (share, within) = (self.ranges.dated_share, of("n", 0));
        if share > 0
            && within >= self.ranges.dated_min_keys
            && within.saturating_mul(share) as u64 > self.client.count("hive_starts", &pc)?
        {
            return Ok(Scope::All);
        }
        let patched = of("patched", 1);
        let sessions = if patched == 0 {
            keys.clone()
        } else {
            format!(
                "SELECT session_id AS id FROM hive_session_events WHERE {ph} \
                 AND id_hash IN (SELECT cityHash64(key) FROM ({by_patch})) UNION ALL {keys}"
            )
        };
        // Every event of those sessions, and K (an event of no session is
        // in K itself; the sessions are events of themselves), by their
        // ids' hashes (schema 14), with their repeats (a key in each minute
        // it starts something, a session among its own events), sorted and
        // made distinct here: ClickHouse's `ORDER BY` of the hashes took
        // half the statement (0.6 of 1.2 s for the 2.5 million of 7 days at
        // ten million events), `DISTINCT` a third. Many keys are matched by
        // their hashes, which the lookup is ordered by (schema 24), so it
        // reads only the sessions' granules, and only hashes there (the last
        // hour at ten million events: 0.11–0.14 s warm by the texts, 0.07
        // s so); a hash shared by another session only widens the scope,
        // which the reads decide by what they find. Rows past `limit` may
        // hide more events: the read covers every event then, as for more
        // than `MAX_DATED` (so the node holds at most 80 MB of hashes here).
        let members = format!("session_hash IN (SELECT cityHash64(id) FROM ({sessions}))");
        let limit = MAX_DATED.saturating_mul(2).saturating_add(1);
        let mut hashes = Vec::<u64>::new();
        let read = |hashes: &mut Vec<u64>| {
            self.client.each_binary_row(
                &format!(
                    "SELECT h FROM (SELECT cityHash64(id) AS h FROM ({keys}) \
                     UNION ALL SELECT id_hash AS h FROM hive_session_events WHERE {ph} \
                     AND {members}) LIMIT {limit}"
                ),
                |r| {
                    hashes.push(super::http::binary::u64(r)?);
                    Ok(())
                },
            )
        };
        // Only the writes' partitions of the days their events were first
        // received in, when the state says which (ADR 0032): looked up
        // while the events are.
        let every = match project_id {
            Some(p) if self.keeps_state() => {
                // (Stopped with the read when its caller abandons it.)
                let token = crate::cancel::current();
                std::thread::scope(|s| {
                    let floor =
                        s.spawn(|| crate::cancel::scope(token, || self.dated_floor(p, &sessions)));
                    read(&mut hashes)?;
                    floor
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })?
            }
            _ => {
                read(&mut hashes)?;
                None
            }
        };
        let rows = hashes.len();
        hashes.sort_unstable();
        hashes.dedup();
        if rows >= limit || hashes.len() > MAX_DATED {
            return Ok(Scope::All);
        }
        Ok(Scope::Hashes(hashes, Some(from as i64), every))
    }

    /// `scope` with every event of the held sessions that name another
    /// session than themselves (`nested`: project and id), when it lacks
    /// some; `None` when it has them all.
    ///
    /// A dated scope holds every event of the sessions it holds: a session
    /// is keyed in the index of starts by the writes that name it, and its
    /// other events are read with it. A session event that names another
    /// session is keyed as that one's; it is read as its event, but the
    /// events that name it are not, and its rollup (its start among them)
    /// needs them. Those are found only when such a session is held, and
    /// the read is made again over the wider scope.
    fn widened(&self, scope: &Scope, nested: &[(String, String)]) -> Result<Option<Scope>> {
        let Scope::Hashes(hashes, since, _) = scope else {
            return Ok(None);
        };
        if nested.is_empty() {
            return Ok(None);
        }
        let have: std::collections::HashSet<u64> = hashes.iter().copied().collect();
        let mut extra = std::collections::BTreeSet::new();
        for (project, sessions) in super::read::by_project(nested) {
            for list in super::write::in_lists(sessions.iter().copied()) {
                self.client.each_binary_row(
                    &super::read::session_events_sql(project, &list),
                    |r| {
                        let e = super::http::binary::u64(r)?;
                        if !have.contains(&e) {
                            extra.insert(e);
                        }
                        Ok(())
                    },
                )?;
            }
        }
        if extra.is_empty() {
            return Ok(None);
        }
        let mut all: Vec<u64> = hashes.iter().copied().chain(extra).collect();
        all.sort_unstable();
        all.dedup();
        Ok(Some(if all.len() > MAX_DATED {
            Scope::All
        } else {
            // (The events added may have been received before any of
            // the scope's.)
            Scope::Hashes(all, *since, None)
        }))
    }

    /// Bounds that cut the scope's events into ranges of about
    /// [`Ranges::events`] each, by event id (the table's key after the
    /// project, so each range reads only its own granules), from a sample
    /// of the ids. Empty: one range.
    fn ranges(&self, project_id: Option<&str>) -> Result<Vec<String>> {
        id_bounds(&self.client, &Self::project_cond(project_id), self.ranges)
    }

    /// Bounds that cut the events named by `hashes` into `statements`
    /// ranges of ids of about as many each (empty: the hashes are cut
    /// instead), from the ids of a sample of them.
    ///
    /// Hashes are random, so statements that each name a share of them all
    /// read the same granules: every granule that holds one. Statements
    /// that name them all, each bounded to a range of ids, read each
    /// granule once between them (the table's key is the id): a read of
    /// the last 24 hours decompressed about 590 MB in each of its two
    /// statements. A sample of the hashes is a sample of the named events
    /// whatever their ids look like (time-ordered ids too), so its ids'
    /// quantiles cut them evenly.
    ///
    /// Any bounds are correct (each statement reads its range of ids, and
    /// the ranges cover every id); good ones share the work evenly. So the
    /// sample is looked for first among the writes received `since` a day
    /// before the scope's events start, in their partitions only (the last
    /// 24 hours at ten million events: 65 ms for the whole table), and in
    /// the whole table only when those hold too few of them.
    fn named_bounds(
        &self,
        project_id: Option<&str>,
        hashes: &[u64],
        statements: usize,
        since: Option<i64>,
    ) -> Result<Vec<String>> {
        if statements < 2 {
            return Ok(Vec::new());
        }
        let step = hashes.len().div_ceil(NAMED_SAMPLE).max(1);
        let sample: Vec<String> = hashes.iter().step_by(step).map(u64::to_string).collect();
        let enough = statements * 8;
        let sampled = |received: &str| -> Result<Vec<String>> {
            Ok(self
                .client
                .rows(&format!(
                    "SELECT DISTINCT event_id FROM hive_writes PREWHERE id_hash IN ({}) \
                     WHERE {}{received}",
                    sample.join(", "),
                    Self::project_cond(project_id)
                ))?
                .iter()
                .filter_map(|r| r["event_id"].as_str().map(str::to_owned))
                .collect())
        };
        let mut ids = match since {
            Some(since) => sampled(&format!(
                " AND received >= {}",
                since.saturating_sub(DAY_MS)
            ))?,
            None => Vec::new(),
        };
        if ids.len() < enough {
            ids = sampled("")?;
        }
        // Too few to tell the quantiles: the hashes are cut.
        if ids.len() < enough {
            return Ok(Vec::new());
        }
        ids.sort_unstable();
        let mut bounds: Vec<String> = (1..statements)
            .map(|i| ids[i * ids.len() / statements].clone())
            .collect();
        bounds.dedup();
        Ok(bounds)
    }

    /// Every event of the scope resolved on `paths`, one at a time (`Some`),
    /// in no particular order. When a path below a needed one was first
    /// written while the events streamed, `f` gets `None` (start over) and
    /// every event again.
    ///
    /// `f` gets each event as `map` makes it of the resolved event. The
    /// readers call `map` as they resolve the events, so what a read
    /// needs of each event (its cell in a chart, its contribution to its
    /// session, whether it is a hit) is found by the reader that has the
    /// event at hand, and only that is handed on to `f` (one thread).
    ///
    /// The events are read in ranges of event ids, [`READERS`] at a time:
    /// while one range's rows are decoded and resolved here, ClickHouse
    /// filters and sorts the next (each range's statement sorts only its
    /// own rows, so none needs memory in proportion to the project).
    pub(super) fn each_partial<T: Send>(
        &self,
        project_id: Option<&str>,
        scope: &Scope,
        paths: &Paths,
        map: &(dyn Fn(Partial) -> T + Sync),
        mut f: impl FnMut(Option<T>) -> Result<()>,
    ) -> Result<()> {
        // A read is many statements: as a whole, it is bounded by the
        // statement timeout as one statement was.
        let limit = self.client.endpoint().timeout;
        let deadline = std::time::Instant::now() + limit;
        let mut below = self.below(project_id, paths)?;
        // Selected events are named by their hashes, in as few statements
        // as `hashes_per_statement` allows (a hash cannot say where its
        // event lies: each statement reads every granule's hashes).
        let (bounds, lists) = match scope {
            Scope::All => (self.ranges(project_id)?, Vec::new()),
            Scope::Hashes(hashes, ..) if hashes.is_empty() => (Vec::new(), vec![hashes.as_slice()]),
            Scope::Hashes(hashes, since, every) => {
                let per = hashes_per_statement(hashes.len(), self.ranges.events);
                let statements = hashes.len().div_ceil(per);
                match self.named_bounds(project_id, hashes, statements, every.or(*since))? {
                    // Each statement names every event and reads the
                    // events of its range of ids.
                    bounds if !bounds.is_empty() => {
                        let n = bounds.len() + 1;
                        (bounds, vec![hashes.as_slice(); n])
                    }
                    _ => (Vec::new(), hashes.chunks(per).collect()),
                }
            }
        };
        for _ in 0..3 {
            // Leaves are kept by a lookup of their path in a set
            // (`transform`, a hash table), which ClickHouse does far faster
            // than prefix tests on every leaf; the path then travels as its
            // number in `keys`, counted from 1 (0: not kept).
            let keys = Keys::new(
                paths
                    .at_and_above()
                    .into_iter()
                    .chain(below.clone())
                    .collect(),
            );
            // Looked up by their hashes (schema 7), which decompress to
            // 8 bytes a leaf where the paths take about 15 (two paths of a
            // project sharing a 64-bit hash is not a practical concern).
            let keep: Vec<String> = keys
                .paths
                .iter()
                .map(|p| format!("cityHash64({})", lit(p)))
                .collect();
            let keep = keep.join(", ");
            let numbers: Vec<String> = (1..=keys.paths.len()).map(|i| i.to_string()).collect();
            let numbers = numbers.join(", ");
            // Content (schema 8) is read only when a kept path is
            // content: then its leaves join the others (earlier writes
            // hold theirs among the others).
            let (types, strs, nums, hashes) = if keys.paths.iter().any(|p| is_content(p)) {
                (
                    "arrayConcat(types, io_types)",
                    "arrayConcat(strs, io_strs)",
                    "arrayConcat(nums, io_nums)",
                    "arrayConcat(hashes, io_hashes)",
                )
            } else {
                ("types", "strs", "nums", "hashes")
            };
            // One project: its id is not sent with every row.
            let project_column = match project_id {
                Some(_) => "''",
                None => "project_id",
            };
            // (Only the partitions of the days since every write of the
            // scope's events was received, when that is known.)
            let every = match scope {
                Scope::Hashes(_, _, every) => *every,
                Scope::All => None,
            };
            let range_sql = |i: usize| {
                let mut cond = Self::project_cond(project_id);
                cond.push_str(&super::received_since(every));
                // Selected events are filtered first (they are a few in
                // most granules: only their rows are worked on), by their
                // ids' hashes (8 bytes a row where the ids take 41, and
                // ids are random, so most granules hold one: ADR 0025).
                // (The hashes travel beside the statement, as data: naming
                // ids in it cost ClickHouse about 9 µs each to parse.)
                let prewhere = match lists.get(i) {
                    Some(hashes) if !hashes.is_empty() => format!("PREWHERE id_hash IN {NAMED} "),
                    Some(_) => "PREWHERE 0 ".to_owned(),
                    None => String::new(),
                };
                cond.push_str(&format!(" AND {}", range_cond(&bounds, i)));
                // (The columns in the order `Row::decode` reads them.) One
                // level: each leaf's number `ks_` and whether it is kept
                // `m_` are named where first used. As nested subqueries
                // the statement took ClickHouse 18.16 half as long again
                // to analyse (9.2 against 6.1 ms a statement over a few
                // rows, the same answer), and as long over half a million
                // writes. It sorts by `project_`, which is the constant
                // `''` when the read is of one project, as the nested
                // statement's outer level did: sorting by the project's
                // id there made it 8 % slower.
                format!(
                    "SELECT {project_column} AS project_, event_id, kind, ts, node, seq, idx, \
                     received, session_id, \
                     arrayFilter((x, b) -> b, \
                       arrayMap(h -> transform(h, [{keep}], CAST([{numbers}] AS Array(UInt32)), \
                       toUInt32(0)), {hashes}) AS ks_, \
                       arrayMap((k, y) -> y < 16 AND k != 0, ks_, {types}) AS m_) AS lk, \
                     arrayFilter((x, b) -> b, {types}, m_) AS lt, \
                     arrayFilter((x, b) -> b, {strs}, m_) AS ls, \
                     arrayFilter((x, b) -> b, {nums}, m_) AS ln \
                     FROM hive_writes {prewhere}WHERE {cond} AND {VISIBLE} \
                     ORDER BY project_, event_id, kind, ts, node, seq, idx \
                     SETTINGS max_bytes_before_external_sort = {SORT_IN_MEMORY}"
                )
            };
            let project = project_id.unwrap_or_default();
            let ranges = RangeReads {
                count: if lists.is_empty() {
                    bounds.len() + 1
                } else {
                    lists.len()
                },
                sql: &range_sql,
                named: &lists,
                deadline,
                limit,
            };
            let resolve = |rows: &mut [Row]| map(resolve_rows(rows, paths, &keys, project));
            self.each_range(&ranges, &resolve, &mut f)?;
            // A path first written meanwhile: its leaves may have been left
            // out of rows that were read. Read again with it.
            let now = self.below(project_id, paths)?;
            if now == below {
                return Ok(());
            }
            below = now;
            f(None)?;
        }
        Err(StoreError::Unavailable(
            "ClickHouse: new fields kept appearing while a chart or list was read; try again"
                .into(),
        ))
    }

    /// Read `ranges` statements (`sql(i)`) on [`READERS`] threads, which
    /// decode their rows and `resolve` each event's (sorted by kind, then
    /// their order) and hand the results here in batches; `f` gets every
    /// event's. The first error (a reader's or `f`'s) ends it.
    fn each_range<T: Send>(
        &self,
        ranged: &RangeReads<'_>,
        resolve: &(dyn Fn(&mut [Row]) -> T + Sync),
        f: &mut dyn FnMut(Option<T>) -> Result<()>,
    ) -> Result<()> {
        use std::sync::atomic::{AtomicUsize, Ordering as Atomic};
        use std::sync::mpsc::sync_channel;
        let ranges = ranged.count;
        let sql = ranged.sql;
        let next = AtomicUsize::new(0);
        let (tx, rx) = sync_channel::<Result<Vec<T>>>(2 * READERS);
        // The readers stop with the read when its caller abandons it.
        let token = crate::cancel::current();
        std::thread::scope(|scope| {
            for _ in 0..READERS.min(ranges) {
                let tx = tx.clone();
                let next = &next;
                let token = token.clone();
                scope.spawn(move || {
                    crate::cancel::scope(token, || {
                        loop {
                            let i = next.fetch_add(1, Atomic::Relaxed);
                            if i >= ranges {
                                return;
                            }
                            if let Err(e) = ranged.check() {
                                let _ = tx.send(Err(e));
                                return;
                            }
                            let mut rows: Vec<Row> = Vec::new();
                            let mut batch: Vec<T> = Vec::new();
                            let named = ranged.named.get(i).copied().filter(|l| !l.is_empty());
                            let read = self.client.each_binary_row_naming(&sql(i), named, |r| {
                                let row = Row::decode_buffered(r)?;
                                // The ids first: they differ at once between
                                // events, where a project's ids are equal to
                                // their end.
                                if let Some(last) = rows.last()
                                    && (last.event_id != row.event_id
                                        || last.project_id != row.project_id)
                                {
                                    batch.push(resolve(&mut rows));
                                    rows.clear();
                                    if batch.len() >= BATCH_EVENTS {
                                        // The receiver gone: the read ended.
                                        tx.send(Ok(std::mem::take(&mut batch))).map_err(|_| {
                                            StoreError::Unavailable("the read ended".into())
                                        })?;
                                    }
                                }
                                rows.push(row);
                                Ok(())
                            });
                            let sent = match read {
                                Ok(()) => {
                                    if !rows.is_empty() {
                                        batch.push(resolve(&mut rows));
                                    }
                                    tx.send(Ok(batch))
                                }
                                Err(e) => tx.send(Err(e)),
                            };
                            if sent.is_err() {
                                return;
                            }
                        }
                    })
                });
            }
            drop(tx);
            // Every reader's batches until all are done; on the first
            // error, stop taking them (the readers then stop at their next
            // send) and return it.
            for batch in rx {
                for p in batch? {
                    f(Some(p))?;
                }
                ranged.check()?;
                crate::cancel::check()?;
            }
            Ok(())
        })
    }

    /// Charts, streamed together: every event of their scopes resolved once
    /// on the paths any of them reads (and its sessions' rollup inputs),
    /// added to each chart's cells; session events once their rollups are
    /// known. The scope is the dated read of the ranges' union (every event
    /// when one chart has no range); each chart keeps the events in its own
    /// range ([`Cells::cell`]), so each answers as it would alone.
    pub(super) fn stream_charts(
        &self,
        project_id: Option<&str>,
        qs: &[ChartQuery],
    ) -> Result<Vec<Vec<Series>>> {
        if qs.is_empty() {
            return Ok(Vec::new());
        }
        let mut needed: Vec<String> = Vec::new();
        for q in qs {
            needed.extend(q.filters.iter().map(|f: &Filter| path_of(&f.field)));
            needed.extend(q.metric.iter().map(path_of));
            needed.extend(q.group_by.iter().map(path_of));
        }
        needed.sort_unstable();
        needed.dedup();
        if let Some(out) = self.charts_from_state(project_id, qs, &needed)? {
            return Ok(out);
        }
        let mut plan = singles::plan(project_id, qs, &needed, false);
        needed.extend(rollup_inputs(&needed));
        let paths = Paths::new(needed);
        // The union of the ranges: open where any is open.
        let from = qs
            .iter()
            .map(|q| q.date_range.start_ms)
            .try_fold(f64::INFINITY, |m, s| s.map(|s| m.min(s)));
        let to = qs
            .iter()
            .map(|q| q.date_range.end_ms)
            .try_fold(f64::NEG_INFINITY, |m, e| e.map(|e| m.max(e)));
        let mut scope = self.dated_scope(project_id, (from, to))?;
        loop {
            // The events written once are added up by ClickHouse while
            // the rest stream (`singles`).
            // (Of many events: the index of starts holds a key for about
            // each. And with no path below a read one, whose value would
            // be an object no single leaf gives.)
            let hybrid = match (&plan, project_id, &scope) {
                (Some(p), Some(project), Scope::Hashes(hashes, since, _))
                    if hashes.len() >= self.ranges.singles_from =>
                {
                    Some((p, project, Some((hashes, *since))))
                }
                (Some(p), Some(project), Scope::All)
                    if self
                        .client
                        .count("hive_starts", &Self::project_cond(project_id))?
                        >= self.ranges.singles_from as u64 =>
                {
                    Some((p, project, None))
                }
                _ => None,
            }
            .filter(|_| self.below(project_id, &paths).is_ok_and(|b| b.is_empty()));
            let mut cells: Vec<Cells> = qs.iter().map(Cells::for_query).collect();
            let mut sessions = HeldSessions::new(self.ranges.held_in_memory);
            let mut rollups: BySession<Rollup> = BySession::default();
            let mut added: Vec<singles::Added> = Vec::new();
            // The groups' sessions' rollups (their events' number and
            // earliest start), added to as each statement answers.
            let mut grouped: BySession<Rollup> = BySession::default();
            // What the stream reads: the scope, or the events the groups
            // leave, by name (with the time since which they were written).
            let streamed: Option<(Vec<u64>, Option<i64>)> = match hybrid {
                None => None,
                Some((p, project, Some((hashes, since)))) => {
                    let (once, mut rest) = self.write_counts(project, hashes)?;
                    // What the groups left, or all of them if the events
                    // changed between the two statements. (The groups
                    // and the stream run one after the other: together
                    // they took longer on two cores, each slowing the
                    // other's share of ClickHouse.)
                    match self.add_up_singles(project, qs, p, Singles::Named(&once))? {
                        Some(mut a) => {
                            rest.extend_from_slice(&a.streamed);
                            add_sessions(&mut grouped, std::mem::take(&mut a.rollups));
                            add_cells(&mut cells, std::mem::take(&mut a.cells));
                            added.push(a);
                        }
                        None => rest.extend_from_slice(&once),
                    }
                    Some((rest, since))
                }
                // The whole project, range by range of ids; the rest is
                // then streamed by name, unless it changed meanwhile or is
                // more than a read names (then all of it is streamed).
                Some((p, project, None)) => {
                    use std::sync::atomic::{AtomicUsize, Ordering as Atomic};
                    let bounds = self.ranges(project_id)?;
                    let ranges = bounds.len() + 1;
                    let next = AtomicUsize::new(0);
                    let token = crate::cancel::current();
                    // A range's counts, then its groups (`None`: it
                    // changed meanwhile), [`READERS`] ranges at a time.
                    // (Each range's cells and sessions are added to the
                    // charts' and the groups' rollups as it answers: the
                    // ranges each hold most of the project's sessions, and
                    // held until all had answered, their lists were most
                    // of the memory a chart over all time took.)
                    let shared = std::sync::Mutex::new((
                        std::mem::take(&mut cells),
                        std::mem::take(&mut grouped),
                    ));
                    let range = |i: usize| -> Result<Option<RangeAdded>> {
                        let cond = range_cond(&bounds, i);
                        let (more, once, sum) = self.write_counts_in(project, &cond)?;
                        let singles = Singles::InRange {
                            cond,
                            more: &more,
                            once,
                            sum,
                        };
                        Ok(self.add_up_singles(project, qs, p, singles)?.map(|mut a| {
                            let (cells, grouped) = &mut *super::lock(&shared);
                            add_sessions(grouped, std::mem::take(&mut a.rollups));
                            add_cells(cells, std::mem::take(&mut a.cells));
                            (more, a)
                        }))
                    };
                    let found: Vec<Result<Option<RangeAdded>>> = std::thread::scope(|s| {
                        let workers: Vec<_> = (0..READERS.min(ranges))
                            .map(|_| {
                                let token = token.clone();
                                let (next, range) = (&next, &range);
                                s.spawn(move || {
                                    crate::cancel::scope(token, || {
                                        let mut out = Vec::new();
                                        loop {
                                            let i = next.fetch_add(1, Atomic::Relaxed);
                                            if i >= ranges {
                                                return out;
                                            }
                                            let r = range(i);
                                            let go_on = matches!(r, Ok(Some(_)));
                                            out.push(r);
                                            if !go_on {
                                                // (The other reader stops at
                                                // its next range.)
                                                next.store(ranges, Atomic::Relaxed);
                                                return out;
                                            }
                                        }
                                    })
                                })
                            })
                            .collect();
                        workers
                            .into_iter()
                            .flat_map(|w| {
                                w.join()
                                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                            })
                            .collect()
                    });
                    (cells, grouped) = shared.into_inner().unwrap_or_else(|e| e.into_inner());
                    let mut rest = Vec::new();
                    let mut whole = true;
                    for r in found {
                        match r? {
                            Some((more, a)) => {
                                rest.extend_from_slice(&more);
                                rest.extend_from_slice(&a.streamed);
                                added.push(a);
                            }
                            None => whole = false,
                        }
                    }
                    if !whole || rest.len() > MAX_DATED {
                        added.clear();
                        grouped.clear();
                        cells = qs.iter().map(Cells::for_query).collect();
                        None
                    } else {
                        Some((rest, None))
                    }
                }
            };
            // (The stream started over: the groups' cells are gone with
            // the rest, and the read starts again, all streamed.)
            let restarted = match streamed {
                None => self.stream_into(
                    project_id,
                    &scope,
                    &paths,
                    qs,
                    &mut cells,
                    &mut sessions,
                    &mut rollups,
                )?,
                Some((mut rest, since)) => {
                    rest.sort_unstable();
                    rest.dedup();
                    self.stream_into(
                        project_id,
                        &Scope::Hashes(rest, since, None),
                        &paths,
                        qs,
                        &mut cells,
                        &mut sessions,
                        &mut rollups,
                    )?
                }
            };
            if let Some(wider) = self.widened(&scope, sessions.nested())? {
                scope = wider;
                continue;
            }
            // A path first written below a read one meanwhile (the stream
            // then started over by itself): the groups may have missed it.
            // Read again, all streamed.
            if !added.is_empty() && (restarted || !self.below(project_id, &paths)?.is_empty()) {
                plan = None;
                continue;
            }
            for added in added {
                self.singles_added
                    .fetch_add(added.events, std::sync::atomic::Ordering::Relaxed);
            }
            return finish_cells(qs, cells, sessions, &merged(rollups, grouped));
        }
    }

    /// Stream `scope`'s events (resolved on `paths`) into the charts
    /// `qs`: each event's cells in the event-level charts, its share of its
    /// session's rollup, and each session event held until its rollup is
    /// known ([`finish_cells`]). Returns whether the stream started over
    /// (a path below a read one appeared: `cells`, `sessions` and
    /// `rollups` were emptied and every event read again).
    #[allow(clippy::too_many_arguments)]
    fn stream_into(
        &self,
        project_id: Option<&str>,
        scope: &Scope,
        paths: &Paths,
        qs: &[ChartQuery],
        cells: &mut [Cells],
        sessions: &mut HeldSessions,
        rollups: &mut BySession<Rollup>,
    ) -> Result<bool> {
        let event_level = qs.iter().any(|q| q.level == ChartLevel::Event);
        let seen = |e: Partial| {
            if e.is_session() {
                // Sessions contribute nothing to rollups.
                return Seen::Session(Held::of(e));
            }
            Seen::Event {
                contribution: Contribution::of(&e.doc),
                cells: if event_level {
                    qs.iter()
                        .enumerate()
                        .filter(|(_, q)| q.level == ChartLevel::Event)
                        .filter_map(|(i, q)| Some((i, Cells::cell(q, &e.doc)?)))
                        .collect()
                } else {
                    Vec::new()
                },
                session: e.session(),
            }
        };
        let mut restarted = false;
        self.each_partial(project_id, scope, paths, &seen, |e| {
            match e {
                None => {
                    restarted = true;
                    for (c, q) in cells.iter_mut().zip(qs) {
                        *c = Cells::for_query(q);
                    }
                    sessions.clear();
                    rollups.clear();
                }
                Some(Seen::Session(s)) => sessions.push(s)?,
                Some(Seen::Event {
                    session,
                    contribution,
                    cells: found,
                }) => {
                    rollups
                        .entry(session)
                        .or_default()
                        .update(None, &contribution);
                    for (i, c) in found {
                        cells[i].push(c);
                    }
                }
            }
            Ok(())
        })?;
        Ok(restarted)
    }

    /// The rollups of these sessions (project, session id): their events
    /// read on what a rollup reads of them ([`ROLLUP_INPUTS`]), never whole
    /// (a page's 50 sessions have hundreds of events, whose content may be
    /// most of what they hold).
    pub(super) fn rollups_of(&self, sessions: &[(String, String)]) -> Result<BySession<Rollup>> {
        self.rollups_on(sessions, &ROLLUP_INPUTS)
    }

    /// The rollups that the events of `scope` in `project` (resolved on
    /// `paths`, rollup inputs among them) add up to, by session.
    pub(super) fn rollups_in(
        &self,
        project: &str,
        scope: &Scope,
        paths: &Paths,
    ) -> Result<BySession<Rollup>> {
        self.rollups_of_some(project, scope, paths, &|_| true)
    }

    /// [`Self::rollups_in`], of the sessions whose ids `keep` keeps.
    pub(super) fn rollups_of_some(
        &self,
        project: &str,
        scope: &Scope,
        paths: &Paths,
        keep: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<BySession<Rollup>> {
        let mut found: BySession<Rollup> = BySession::default();
        // Sessions contribute nothing to rollups.
        let seen = |e: Partial| {
            (!e.is_session() && keep(e.field("session_id")))
                .then(|| (Contribution::of(&e.doc), e.session()))
        };
        self.each_partial(Some(project), scope, paths, &seen, |e| {
            match e {
                None => found.clear(),
                Some(None) => {}
                Some(Some((c, session))) => found.entry(session).or_default().update(None, &c),
            }
            Ok(())
        })?;
        Ok(found)
    }

    /// [`Self::rollups_of`], on the inputs `inputs` alone (among
    /// [`ROLLUP_INPUTS`]; the rest count as absent): a read that needs one
    /// total reads only what makes it.
    pub(super) fn rollups_on(
        &self,
        sessions: &[(String, String)],
        inputs: &[&str],
    ) -> Result<BySession<Rollup>> {
        let paths = Paths::new(inputs.iter().map(|p| (*p).to_owned()));
        let mut rollups: BySession<Rollup> = BySession::default();
        for (project, ids) in super::read::by_project(sessions) {
            let mut events = Vec::new();
            for list in super::write::in_lists(ids.iter().copied()) {
                self.client.each_binary_row(
                    &super::read::session_events_sql(project, &list),
                    |r| {
                        events.push(super::http::binary::u64(r)?);
                        Ok(())
                    },
                )?;
            }
            events.sort_unstable();
            events.dedup();
            let mut found = self.rollups_in(project, &Scope::Hashes(events, None, None), &paths)?;
            // (An event of another session can share a hash with one of
            // theirs: its session's rollup here would be partial.)
            let wanted: std::collections::HashSet<SessionKey> =
                ids.iter().map(|s| SessionKey::new(project, s)).collect();
            found.retain(|k, _| wanted.contains(k));
            rollups.extend(found);
        }
        Ok(rollups)
    }
}

/// The charts' series: `cells`, with the held `sessions`' cells once
/// their `rollups` are applied.
fn finish_cells(
    qs: &[ChartQuery],
    mut cells: Vec<Cells>,
    sessions: HeldSessions,
    rollups: &BySession<Rollup>,
) -> Result<Vec<Vec<Series>>> {
    let found = |s: Held| -> Result<Vec<(usize, Cell)>> {
        let mut s = s.into_partial()?;
        let r = rollups
            .get(&SessionKey::new(&s.project_id, s.field("event_id")))
            .copied()
            .unwrap_or_default();
        r.apply_to_session(&mut s.doc, s.duration_explicit);
        Ok(qs
            .iter()
            .enumerate()
            .filter_map(|(i, q)| Some((i, Cells::cell(q, &s.doc)?)))
            .collect())
    };
    sessions.map_each(&found, |found| {
        for (i, c) in found {
            cells[i].push(c);
        }
        Ok(())
    })?;
    Ok(qs.iter().zip(cells).map(|(q, c)| c.finish(q)).collect())
}

/// What a list needs of an event, found by the reader that resolved it.
struct Listed {
    /// The event's project and session.
    session: SessionKey,
    /// At session level, the filters the event matches as one of its
    /// session's other events (a bit each).
    mask: u64,
    what: ListedAs,
}

enum ListedAs {
    /// A session event, held until its rollup is known.
    Session(Held),
    /// Another event: what it adds to its session's rollup, and whether
    /// it is a hit of an event-level list.
    Event {
        contribution: Contribution,
        hit: Option<Hit>,
    },
}

/// A list's page as a streamed read finds it (the hits after its offset,
/// in order) and the count of all its matches.
pub(super) struct Found {
    page: Vec<Hit>,
    pub total: u64,
    /// With `rollups_too`, the rollups of the page's sessions, from every
    /// event of theirs and every rollup input (the fold need not read them
    /// again); empty otherwise.
    rollups: BySession<Rollup>,
    /// The page's events may be folded without their content
    /// ([`EventQuery::brief`]).
    brief: bool,
}

impl Found {
    /// How many events of each of the page's sessions failed, from their
    /// rollups (found with `rollups_too` only): what
    /// [`crate::Store::session_errors`] would read again.
    pub(super) fn session_errors(&self) -> Vec<(String, i64)> {
        self.page
            .iter()
            .filter_map(|h| {
                let key = SessionKey::new(&h.project_id, &h.event_id);
                let n = self.rollups.get(&key)?.error_events;
                (n > 0).then(|| (h.event_id.clone(), n))
            })
            .collect()
    }
}

/// A list hit: the value it is ordered by and its identity.
struct Hit {
    key: Option<Value>,
    project_id: String,
    event_id: String,
    /// [`Partial::received_from`].
    received_from: i64,
}

/// The order of a list (as `query::run_query` sorts folded documents).
fn compare(order: Order, a: &Hit, b: &Hit) -> Ordering {
    let asc = sql_order(a.key.as_ref(), b.key.as_ref())
        .then_with(|| a.project_id.cmp(&b.project_id))
        .then_with(|| a.event_id.cmp(&b.event_id));
    match order {
        Order::StartAsc => asc,
        _ => asc.reverse(),
    }
}

/// The path a list is ordered by.
pub(super) fn order_path(order: Order) -> &'static str {
    match order {
        Order::StartAsc | Order::StartDesc => "start_time",
        Order::DurationDesc => "duration",
        Order::CostDesc => "metadata.cost",
        Order::TokensDesc => "metadata.total_tokens",
        Order::EventsDesc => "metadata.num_events",
    }
}

fn order_key(order: Order, doc: &Value) -> Option<Value> {
    match order_path(order) {
        "start_time" => doc.get("start_time").cloned(),
        "duration" => doc.get("duration").cloned(),
        p => doc
            .get("metadata")
            .and_then(|m| m.get(&p["metadata.".len()..]))
            .cloned(),
    }
}

/// The first `keep` hits in order, holding at most about twice that many.
struct Top {
    order: Order,
    keep: usize,
    hits: Vec<Hit>,
    /// Every hit pushed.
    total: u64,
}

impl Top {
    fn push(&mut self, h: Hit) {
        self.total += 1;
        self.hits.push(h);
        if self.hits.len() >= self.keep.saturating_mul(2).saturating_add(1024) {
            self.settle();
        }
    }

    fn settle(&mut self) {
        let order = self.order;
        self.hits.sort_by(|a, b| compare(order, a, b));
        self.hits.truncate(self.keep);
    }
}

impl ClickHouseStore {
    /// A list, streamed: every event of the scope resolved on the paths the
    /// filters and the order read (and its sessions' rollup inputs), the
    /// first `offset + limit` hits kept in order with the count of all, and
    /// only the page folded whole. `None`: more filters than a session-level
    /// read tracks per session (the caller folds instead).
    pub(super) fn stream_query(&self, q: &EventQuery) -> Result<Option<EventPage>> {
        if !streams(q) {
            return Ok(None);
        }
        let scope = self.dated_scope(
            q.project_id.as_deref(),
            (q.date_range.start_ms, q.date_range.end_ms),
        )?;
        self.stream_query_in(q, &scope).map(Some)
    }

    /// [`ClickHouseStore::stream_query`] over the events of `scope` (which
    /// must hold every event the query can need), for a query that
    /// [`streams`]. A scope of selected events (a dated read's) is read
    /// with every rollup input, so the page's sessions come with their
    /// rollups: folding the page then reads their events no more (the last
    /// hour's session list at ten million events read the page's sessions'
    /// members, then their events in half the days, about 0.12 s more).
    pub(super) fn stream_query_in(&self, q: &EventQuery, scope: &Scope) -> Result<EventPage> {
        let rollups_too = matches!(scope, Scope::Hashes(..));
        self.fold_found(self.stream_found(q, scope, rollups_too)?)
    }

    /// The page of a list that [`streams`] over the events of `scope`, as
    /// [`ClickHouseStore::stream_query_in`] finds it, and the count of
    /// all its matches, without folding the page. With `rollups_too`,
    /// every rollup input is read, and the rollups of the page's sessions
    /// come with the page: the scope holds every event of the sessions it
    /// holds (ADR 0014, and `widened`), so the fold need
    /// not read them again. A small scope's read costs about the same with
    /// every input; a whole project's costs more, and reads only those its
    /// paths need.
    pub(super) fn stream_found(
        &self,
        q: &EventQuery,
        scope: &Scope,
        rollups_too: bool,
    ) -> Result<Found> {
        let mut needed: Vec<String> = q.filters.iter().map(|f| path_of(&f.field)).collect();
        needed.push(order_path(q.order).to_owned());
        if rollups_too {
            needed.extend(ROLLUP_INPUTS.iter().map(|p| (*p).to_owned()));
        } else {
            needed.extend(rollup_inputs(&needed));
        }
        let paths = Paths::new(needed);
        let limit = q.limit.clamp(1, MAX_LIMIT);
        let mut top = Top {
            order: q.order,
            keep: q.offset.saturating_add(limit),
            hits: Vec::new(),
            total: 0,
        };
        let in_range = |d: &Value| in_range(q, d);
        let matches_all = |d: &Value| q.filters.iter().all(|f| f.matches(d));
        let mask_of = |d: &Value| {
            q.filters
                .iter()
                .enumerate()
                .filter(|(_, f)| f.matches(d))
                .fold(0u64, |m, (i, _)| m | (1 << i))
        };
        let mut sessions = HeldSessions::new(self.ranges.held_in_memory);
        let mut rollups: BySession<Rollup> = BySession::default();
        // Level::Session: which filters some event of each session matches.
        let mut masks: BySession<u64> = BySession::default();
        let hit = |doc: &Value, project_id: &str, received_from: i64| Hit {
            key: order_key(q.order, doc),
            received_from,
            project_id: project_id.to_owned(),
            event_id: doc
                .get("event_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        };
        let seen = |e: Partial| {
            // A session's other events count as it at session level (the
            // session events among them as stored, without their rollups).
            let mask = if q.level == Level::Session
                && !q.filters.is_empty()
                && e.field("event_id") != e.field("session_id")
            {
                mask_of(&e.doc)
            } else {
                0
            };
            if e.is_session() {
                let session = e.session();
                return Listed {
                    session,
                    mask,
                    what: ListedAs::Session(Held::of(e)),
                };
            }
            let contribution = Contribution::of(&e.doc);
            let hit = (q.level == Level::Event && in_range(&e.doc) && matches_all(&e.doc))
                .then(|| hit(&e.doc, &e.project_id, e.received_from));
            Listed {
                session: e.session(),
                mask,
                what: ListedAs::Event { contribution, hit },
            }
        };
        let project = q.project_id.as_deref();
        self.each_partial(project, scope, &paths, &seen, |e| {
            let Some(e) = e else {
                top.hits.clear();
                top.total = 0;
                sessions.clear();
                rollups.clear();
                masks.clear();
                return Ok(());
            };
            if e.mask != 0 {
                *masks.entry(e.session.clone()).or_default() |= e.mask;
            }
            match e.what {
                ListedAs::Session(s) => sessions.push(s)?,
                ListedAs::Event { contribution, hit } => {
                    rollups
                        .entry(e.session)
                        .or_default()
                        .update(None, &contribution);
                    if let Some(h) = hit {
                        top.push(h);
                    }
                }
            }
            Ok(())
        })?;
        if let Some(wider) = self.widened(scope, sessions.nested())? {
            return self.stream_found(q, &wider, rollups_too);
        }
        let all = if q.filters.len() == 64 {
            u64::MAX
        } else {
            (1u64 << q.filters.len()) - 1
        };
        let mut session_hits: Vec<SessionKey> = Vec::new();
        let (rollups_read, masks_read) = (&rollups, &masks);
        let matched = |s: Held| -> Result<Option<(Hit, SessionKey)>> {
            let mut s = s.into_partial()?;
            let key = SessionKey::new(&s.project_id, s.field("event_id"));
            let r = rollups_read.get(&key).copied().unwrap_or_default();
            r.apply_to_session(&mut s.doc, s.duration_explicit);
            let own = s.field("event_id") == s.field("session_id");
            let matched = match q.level {
                Level::Event => in_range(&s.doc) && matches_all(&s.doc),
                Level::SessionEvent => own && in_range(&s.doc) && matches_all(&s.doc),
                Level::Session => {
                    own && in_range(&s.doc)
                        && (mask_of(&s.doc) | masks_read.get(&key).copied().unwrap_or(0)) == all
                }
            };
            Ok(matched.then(|| (hit(&s.doc, &s.project_id, s.received_from), key)))
        };
        sessions.map_each(&matched, |found| {
            if let Some((h, key)) = found {
                top.push(h);
                if rollups_too {
                    session_hits.push(key);
                }
            }
            Ok(())
        })?;
        top.settle();
        top.hits.drain(..q.offset.min(top.hits.len()));
        // The scope holds every event of the sessions it holds (whole,
        // or closed by `widened`), so their rollups here are whole.
        let mut known = BySession::default();
        if rollups_too {
            let on_page: std::collections::HashSet<SessionKey> = top
                .hits
                .iter()
                .map(|h| SessionKey::new(&h.project_id, &h.event_id))
                .collect();
            for key in session_hits {
                if on_page.contains(&key) {
                    let r = rollups.get(&key).copied().unwrap_or_default();
                    known.insert(key, r);
                }
            }
        }
        Ok(Found {
            page: top.hits,
            total: top.total,
            rollups: known,
            brief: q.brief,
        })
    }

    /// The events of a page found by [`ClickHouseStore::stream_found`],
    /// folded whole (with their rollups), in its order.
    pub(super) fn fold_found(&self, found: Found) -> Result<EventPage> {
        let page = &found.page;
        // Each project's events, and when the earliest of their writes was
        // received (their writes are read from that day on).
        let mut by_project: HashMap<&str, (Vec<&str>, i64)> = HashMap::new();
        for h in page {
            let (ids, from) = by_project
                .entry(h.project_id.as_str())
                .or_insert((Vec::new(), i64::MAX));
            ids.push(h.event_id.as_str());
            *from = (*from).min(h.received_from);
        }
        let received_from = by_project.values().map(|(_, from)| *from).min();
        let mut docs: HashMap<(String, String), Value> = HashMap::new();
        for (p, (ids, from)) in by_project {
            let folded = self.fold_ids_since(Some(p), &ids, Some(from), found.brief)?;
            for mut f in self.with_known_rollups(folded, &found.rollups)? {
                if found.brief {
                    super::read::without_content(&mut f.doc);
                }
                docs.insert((f.project_id, f.event_id), f.doc);
            }
        }
        let events = page
            .iter()
            .filter_map(|h| docs.remove(&(h.project_id.clone(), h.event_id.clone())))
            .collect();
        Ok(EventPage {
            events,
            total: found.total,
            received_from,
        })
    }
}

/// Whether a list streams: a session-level one tracks which of its
/// filters each session's events match in a bit per filter, so at most 64
/// (more are folded instead).
pub(super) fn streams(q: &EventQuery) -> bool {
    const MAX_MASKED: usize = 64;
    q.level != Level::Session || q.filters.len() <= MAX_MASKED
}

#[cfg(test)]
mod tests {
    use super::{BySession, Row, SessionKey, add_sessions, hashes_per_statement, merged};
    use hive_core::rollup::{Contribution, Rollup};
    use proptest::prelude::*;

    proptest! {
        /// The groups' lists of sessions (several, as a whole project's
        /// ranges give them, a session in any of them) added to one map,
        /// then merged with the stream's rollups, either being the larger,
        /// give each session what adding every contribution to it one by
        /// one gives.
        #[test]
        fn groups_sessions_add_up_as_every_contribution_would(
            lists in prop::collection::vec(
                prop::collection::btree_map(0u8..40, (1i64..50, -1_000i64..1_000), 0..30),
                0..4,
            ),
            streamed in prop::collection::vec((0u8..40, -1_000i64..1_000, 0u32..100), 0..60),
        ) {
            let key = |s: u8| SessionKey::new("p", &format!("session-{s}"));
            let of_stream = |start: i64, cost: u32| Contribution {
                events: 1,
                model_events: 1,
                cost: f64::from(cost),
                start_time: Some(start),
                end_time: Some(start + 5),
                ..Contribution::default()
            };
            let of_groups = |events: i64, earliest: i64| Contribution {
                events,
                start_time: Some(earliest),
                ..Contribution::default()
            };
            let mut expected: BySession<Rollup> = BySession::default();
            let mut stream: BySession<Rollup> = BySession::default();
            for &(s, start, cost) in &streamed {
                stream.entry(key(s)).or_default().update(None, &of_stream(start, cost));
                expected.entry(key(s)).or_default().update(None, &of_stream(start, cost));
            }
            let mut grouped: BySession<Rollup> = BySession::default();
            for list in &lists {
                for (&s, &(events, earliest)) in list {
                    expected.entry(key(s)).or_default().update(None, &of_groups(events, earliest));
                }
                add_sessions(
                    &mut grouped,
                    list.iter().map(|(&s, &(n, e))| (key(s), n, e)).collect(),
                );
            }
            let got = merged(stream, grouped);
            prop_assert_eq!(got.len(), expected.len());
            for (k, want) in &expected {
                prop_assert_eq!(got.get(k), Some(want));
            }
        }
    }

    /// A row as ClickHouse's `RowBinary` spells it.
    fn encode(r: &Row, out: &mut Vec<u8>) {
        use super::super::http::binary::{put_len, put_string};
        fn len(n: usize, out: &mut Vec<u8>) {
            put_len(out, n);
        }
        fn text(t: &str, out: &mut Vec<u8>) {
            put_string(out, t);
        }
        text(&r.project_id, out);
        text(&r.event_id, out);
        out.push(r.kind);
        out.extend(r.ts.to_le_bytes());
        text(&r.node, out);
        out.extend(r.seq.to_le_bytes());
        out.extend(r.idx.to_le_bytes());
        out.extend(r.received.to_le_bytes());
        text(&r.session_id, out);
        len(r.lk.len(), out);
        r.lk.iter().for_each(|k| out.extend(k.to_le_bytes()));
        len(r.lt.len(), out);
        out.extend(&r.lt);
        len(r.ls.len(), out);
        r.ls.iter().for_each(|t| text(t, out));
        len(r.ln.len(), out);
        r.ln.iter().for_each(|n| out.extend(n.to_le_bytes()));
    }

    fn row() -> impl Strategy<Value = Row> {
        let leaves = 0..20usize;
        (
            (
                "[a-z]{0,3}",
                "\\PC{0,40}",
                any::<u8>(),
                any::<i64>(),
                "[a-z-]{0,12}",
            ),
            (any::<u64>(), any::<u32>(), any::<i64>(), "\\PC{0,40}"),
            leaves.prop_flat_map(|n| {
                (
                    prop::collection::vec(any::<u32>(), n),
                    prop::collection::vec(any::<u8>(), n),
                    prop::collection::vec("\\PC{0,300}", n),
                    prop::collection::vec(-1e300..1e300f64, n),
                )
            }),
        )
            .prop_map(
                |((p, e, kind, ts, node), (seq, idx, received, s), (lk, lt, ls, ln))| Row {
                    project_id: p,
                    event_id: e,
                    kind,
                    ts,
                    node,
                    seq,
                    idx,
                    received,
                    session_id: s,
                    lk,
                    lt,
                    ls,
                    ln,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Rows decode the same from the reader's buffer as a slice and
        /// through the reader, whatever the buffer's size (a row cut by its
        /// end is read through the reader); an answer cut short is an
        /// error, never a row.
        #[test]
        fn rows_decode_the_same_from_the_buffer_and_through_the_reader(
            rows in prop::collection::vec(row(), 1..12),
            capacity in prop_oneof![1..64usize, Just(1usize << 16)],
            cut in any::<prop::sample::Index>(),
        ) {
            let mut bytes = Vec::new();
            rows.iter().for_each(|r| encode(r, &mut bytes));
            let mut reader = std::io::BufReader::with_capacity(capacity, bytes.as_slice());
            for want in &rows {
                prop_assert_eq!(&Row::decode_buffered(&mut reader).unwrap(), want);
            }
            prop_assert!(std::io::BufRead::fill_buf(&mut reader).unwrap().is_empty());
            let short = &bytes[..cut.index(bytes.len())];
            let mut reader = std::io::BufReader::with_capacity(capacity, short);
            let mut decoded = 0;
            while !std::io::BufRead::fill_buf(&mut reader).unwrap().is_empty() {
                match Row::decode_buffered(&mut reader) {
                    Ok(r) => {
                        prop_assert_eq!(&r, &rows[decoded]);
                        decoded += 1;
                    }
                    Err(_) => break,
                }
            }
            prop_assert!(decoded < rows.len());
        }
    }

    /// One statement for a few events; two for more; more only past four
    /// ranges' events each.
    #[test]
    fn hashes_go_in_few_statements() {
        let statements = |n: usize, events: usize| n.div_ceil(hashes_per_statement(n, events));
        assert_eq!(hashes_per_statement(0, 524_288), 1);
        assert_eq!(statements(23_000, 524_288), 1);
        assert_eq!(statements(40_001, 524_288), 2);
        assert_eq!(statements(2_300_000, 524_288), 2);
        assert_eq!(statements(5_000_000, 524_288), 3);
        // Small ranges (tests): several statements of few events.
        assert_eq!(statements(4, 2), 2);
        assert_eq!(statements(20, 2), 3);
        assert_eq!(statements(20, 0), 5);
    }

    fn id() -> impl Strategy<Value = String> {
        prop_oneof![
            // Around the inline bound, with NULs and multibyte text.
            "[a\\x00é-]{0,50}",
            Just("6c3a3ed5-9e94-17c5-9f28-5fb38a693ee3".to_owned()),
            Just("x22-6c3a3ed5-9e94-17c5-9f28-5fb38a693ee3".to_owned()),
            "[0-9a-f]{40,60}",
        ]
    }

    proptest! {
        /// Keys are equal exactly when their texts are, and equal keys
        /// hash alike.
        #[test]
        fn keys_compare_as_their_texts(p1 in id(), s1 in id(), p2 in id(), s2 in id()) {
            use std::hash::BuildHasher;
            let (a, b) = (SessionKey::new(&p1, &s1), SessionKey::new(&p2, &s2));
            prop_assert_eq!(a == b, (&p1, &s1) == (&p2, &s2));
            prop_assert_eq!(SessionKey::new(&p1, &s1), a.clone());
            let h = foldhash::fast::FixedState::with_seed(7);
            prop_assert_eq!(h.hash_one(&a), h.hash_one(SessionKey::new(&p1, &s1)));
            // A session and project swapped are another key.
            prop_assert_eq!(SessionKey::new(&s1, &p1) == a, s1 == p1);
        }
    }
}
