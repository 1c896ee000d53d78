//! Every event's current state, a row each (ADR 0028), kept by
//! compactions from exact cuts, so a wide chart reads a row per event of
//! its hours instead of resolving every write of them.
//!
//! - **A cut** (`hive_state_cuts`) is the applied position of every node
//!   (its ingest log's, and its writes made outside the log, `DIRECT`),
//!   read before the writes are: every write at or below it is in
//!   ClickHouse, since a node records its position after its rows. With
//!   it, the generation of `hive_state` that holds each day's rows.
//! - **A compaction** resolves the events with a write (or a mark:
//!   deletions, retention, adoptions) above the last cut, and the
//!   sessions whose rollups they change, into a new generation. Each day
//!   they touch gets a *layer* (ADR 0036): the new rows, and in
//!   `hive_state_dead` the rows of the day's earlier generations they
//!   replace. Once a day's layers grow past a share of it, the day is
//!   copied whole into the new generation instead, without its replaced
//!   rows, with the new ones.
//!   Nothing is rewritten in place: a cut names only generations that
//!   were complete before it was recorded, so a compaction that fails
//!   halfway, or two that overlap, leave nothing a read takes. The first
//!   compaction (or one after a change of [`FORMAT`]) builds every day:
//!   events written once by a base, not sessions, are copied by
//!   ClickHouse; the others are resolved here.
//! - **A read** takes the newest cut, and streams (as before) the events
//!   written since it, with the sessions they belong to and those
//!   sessions' events ([`ClickHouseStore::state_unsettled`]); every other
//!   event is its row.
//! - Generations no recent cut names are dropped after [`GRACE`].
//! - **Slots** (ADR 0029, `slots.rs`): each row also holds the leaves at
//!   its project's charted paths in typed columns; `start_time` and
//!   `event_type` are in theirs alone. A compaction gives the paths charts
//!   asked for free slots, filling the project's rows again, and records
//!   the map in its cut.
//!
//! Kept on a single ClickHouse server: on a cluster no state is made and
//! reads resolve the writes as before.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::http::{NAMED, binary as b, lit};
use super::leaves::{NUM, STR, is_content};
use super::partial::{Partial, Paths, SessionKey};
use super::read::{Folded, Named, VISIBLE, without_content};
use super::slots::{self, SlotMap, SlotReads};
use super::write::{BASE, integer_text};
use super::{ClickHouseStore, DIRECT, lock, next_version, now_ms};
use crate::Result;

/// The state's format: a cut of another format is not read, and the next
/// compaction builds the state again. (2: the slots of ADR 0029; 3: the
/// fixed slots' leaves in those alone; 4: the day each event was first
/// received, ADR 0031; 5: layers, ADR 0036.)
pub(super) const FORMAT: u32 = 5;

/// A day touched by a compaction gets a layer, not a copy of its whole,
/// while it has fewer than [`MAX_LAYERS`], and its layers' rows with those
/// they replace are fewer than its base's over [`LAYER_SHARE`] and than
/// [`MAX_LAYERED`] (ADR 0036). Each layer is a partition more that reads
/// of the day open, and every read of the state's layered days reads the
/// rows their layers replace into a set first.
const MAX_LAYERS: usize = 32;
const LAYER_SHARE: u64 = 8;
const MAX_LAYERED: u64 = 100_000;

/// How long a generation no longer current is kept: a read that took its
/// cut begins reading the rows within it (or resolves the writes instead).
/// (A compaction copying from it holds a lease: `take_lease`.)
pub(super) const GRACE: Duration = Duration::from_secs(60);

/// How long a generation no cut names is kept: a compaction under way
/// (building every event may take minutes), or one that failed.
const UNNAMED: Duration = Duration::from_secs(6 * 3600);

/// A build's lease (`hive_state_leases.cut`): a node building the state
/// renews it every [`BUILD_BEAT`], and other nodes leave the build to it
/// until [`BUILD_LAPSE`] has passed without one.
const BUILD: u64 = u64::MAX;
const BUILD_BEAT: Duration = Duration::from_secs(15);
const BUILD_LAPSE: Duration = Duration::from_secs(120);

/// Marks below every cut in use kept before they are deleted (a
/// mutation rewrites the table).
pub(super) const MARKS_KEPT: u64 = 10_000;

/// Events written since the last cut a compaction resolves at a time, and
/// new rows it holds before inserting them.
pub(super) const COMPACT_BATCH: usize = 20_000;

/// Sessions whose rollups a build holds at a time (a pass over the
/// project's events each): their rollups and keys take a few hundred
/// bytes each.
pub(super) const BUILD_SESSIONS: usize = 1_000_000;

/// Events resolved in one statement (their hashes are named as literals).
const FOLD_BATCH: usize = 10_000;

/// A node's background round starts a compaction only once this many times
/// as long as the last one took (by any node) has passed since it was
/// recorded (ADR 0035): a compaction that copies a day whole costs what
/// the day holds, not what changed (3 s for a day of 920 000 events,
/// whatever was written since). Compacting then takes at most about a
/// fifth of ClickHouse's time, and the state is that much older: reads
/// stream what it does not cover. (A compaction that adds layers, ADR
/// 0036, costs what changed, and paces the next little.)
const PACE: i64 = 4;

/// More events than this to stream beside the state: the read resolves
/// every write as before.
pub(super) const MAX_UNSETTLED: usize = 200_000;

/// Leaves a state row leaves out: its own ids (the read never charts
/// them) and content.
const OWN: [&str; 4] = ["event_id", "session_id", "parent_id", "project_id"];

/// A compaction that rewrote this many days keeps the groups of the charts
/// read lately again (ADR 0030).
const WARM_DAYS: usize = 3;

/// Each node's applied position, by node.
type Positions = Vec<(String, u64)>;

/// A project's events written since a cut, the sessions those writes name
/// (by their hashes), and when the earliest of those writes was received
/// (ms; `i64::MAX` when there are none).
type Written = (Vec<u64>, Vec<u64>, i64);

/// What a read of the state streams ([`ClickHouseStore::state_unsettled`]).
#[derive(Debug, Default)]
pub(super) struct Unsettled {
    /// The events (by their hashes; sessions' hashes among them).
    pub hashes: Vec<u64>,
    /// The days their rows at the cut lie in.
    pub days: BTreeSet<u32>,
    /// When the earliest write of any of them was received (ms), as far
    /// as the read found: their writes since the cut, and their rows at
    /// the cut ([`received_day`]). A read of their writes reads the
    /// partitions from then on (ADR 0031).
    pub received_from: i64,
}

/// A recorded cut.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Cut {
    pub cut: u64,
    pub format: u32,
    /// Each node's applied ingest-log position: its writes whose record
    /// starts below it are applied.
    pub log: Vec<(String, u64)>,
    /// Each node's last applied write made outside its log.
    pub direct: Vec<(String, u64)>,
    /// Each day's generations, `(day, generation)`: its base first, then
    /// its layers in order (ADR 0036).
    pub days: Vec<(u32, u64)>,
    /// The slots its rows are filled for (ADR 0029).
    pub slots: SlotMap,
    /// When charts last read each slot (read with every project's slots
    /// only: [`ClickHouseStore::newest_cut`]).
    pub reads: SlotReads,
}

impl Cut {
    /// The writes (or marks) above this cut, as a condition on their
    /// `node` and `seq`: a prefilter on `seq` alone (read first, so the
    /// nodes are read only of the rows past every node's position), then
    /// each node's own position. A node the cut does not know has all its
    /// writes above it (nodes record a position before their first write:
    /// [`ClickHouseStore::register_positions`]).
    pub fn above(&self) -> (String, String) {
        let least = |v: &[(String, u64)]| v.iter().map(|(_, p)| *p).min().unwrap_or(0);
        let pre = format!(
            "(seq < {DIRECT} AND seq >= {}) OR (seq >= {DIRECT} AND seq > {})",
            least(&self.log),
            least(&self.direct).max(DIRECT - 1)
        );
        let of = |v: &[(String, u64)]| {
            if v.is_empty() {
                "toUInt64(0)".to_owned()
            } else {
                format!(
                    "transform(node, [{}], [{}], toUInt64(0))",
                    v.iter().map(|(n, _)| lit(n)).collect::<Vec<_>>().join(", "),
                    v.iter()
                        .map(|(_, p)| format!("toUInt64({p})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        };
        let exact = format!(
            "if(seq >= {DIRECT}, seq > {}, seq >= {})",
            of(&self.direct),
            of(&self.log)
        );
        (pre, exact)
    }

    /// The cut's rows of `hive_state`, as a condition: those of its days'
    /// generations, less those their layers replace (ADR 0036).
    pub fn rows(&self) -> String {
        Self::rows_of(&self.days, None)
    }

    /// [`Self::rows`] of a read of `project`'s rows alone: the rows its
    /// layers replace are then looked up by generation and hash, a pair
    /// of numbers, not with the project's id (a seventh of the time of a
    /// pass over a large layered day, against more than twice).
    pub fn rows_in(&self, project: &str) -> String {
        Self::rows_of(&self.days, Some(project))
    }

    /// [`Self::rows_in`] of these days alone.
    pub fn rows_in_days(&self, project: &str, days: &[u32]) -> String {
        let pairs: Vec<(u32, u64)> = self
            .days
            .iter()
            .filter(|(d, _)| days.contains(d))
            .copied()
            .collect();
        Self::rows_of(&pairs, Some(project))
    }

    /// The cut's rows of day `day` alone (of `project`'s rows alone, or of
    /// every project's), as a condition.
    fn rows_of_day(&self, day: u32, project: Option<&str>) -> String {
        let pairs: Vec<(u32, u64)> = self
            .days
            .iter()
            .filter(|(d, _)| *d == day)
            .copied()
            .collect();
        Self::rows_of(&pairs, project)
    }

    /// The rows of these `(day, generation)` pairs, less those the
    /// layers among them replace (a day named more than once has layers),
    /// of a read of `project`'s rows alone or of every project's.
    fn rows_of(days: &[(u32, u64)], project: Option<&str>) -> String {
        if days.is_empty() {
            return "0".into();
        }
        let mut out = Self::pairs_cond(days);
        if Self::names_a_day_twice(days) {
            let pairs: Vec<String> = days.iter().map(|(d, g)| format!("({g}, {d})")).collect();
            let pairs = pairs.join(", ");
            out.push_str(&match project {
                Some(p) => format!(
                    " AND (gen, id_hash) NOT IN (SELECT of_gen, id_hash FROM hive_state_dead \
                     WHERE project_id = {} AND (gen, day) IN ({pairs}))",
                    lit(p)
                ),
                None => format!(
                    " AND (project_id, gen, id_hash) NOT IN (SELECT project_id, of_gen, id_hash \
                     FROM hive_state_dead WHERE (gen, day) IN ({pairs}))"
                ),
            });
        }
        out
    }

    /// The rows of these `(day, generation)` pairs' partitions, as a
    /// condition (on `hive_state`, or on `hive_state_dead`'s layers).
    fn pairs_cond(days: &[(u32, u64)]) -> String {
        let gens: BTreeSet<u64> = days.iter().map(|(_, g)| *g).collect();
        let pairs: Vec<String> = days.iter().map(|(d, g)| format!("({g}, {d})")).collect();
        format!(
            "gen IN ({}) AND (gen, day) IN ({})",
            gens.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            pairs.join(", ")
        )
    }

    /// Each day's generations: its base, then its layers, in order.
    fn by_day(&self) -> BTreeMap<u32, Vec<u64>> {
        let mut out: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
        for (d, g) in &self.days {
            out.entry(*d).or_default().push(*g);
        }
        out
    }

    /// Whether a day has layers (is named more than once).
    fn layered(&self) -> bool {
        Self::names_a_day_twice(&self.days)
    }

    /// Whether `days` (`(day, generation)` pairs) names a day more than
    /// once: that day has layers.
    fn names_a_day_twice(days: &[(u32, u64)]) -> bool {
        let named: BTreeSet<u32> = days.iter().map(|(d, _)| *d).collect();
        named.len() < days.len()
    }

    /// The days named once: their rows are their generation's whole.
    pub fn unlayered(&self) -> BTreeSet<u32> {
        self.by_day()
            .into_iter()
            .filter(|(_, g)| g.len() == 1)
            .map(|(d, _)| d)
            .collect()
    }
}

/// A cut below every cut of `cuts` (each one's log and direct positions):
/// each node's least position over them, for the nodes each names (a
/// node one of them does not name has every write above it). `None` for
/// no cut.
fn floor(cuts: &[&(Positions, Positions)]) -> Option<Cut> {
    let ((log, direct), rest) = cuts.split_first()?;
    let least = |first: &Positions, of: fn(&(Positions, Positions)) -> &Positions| {
        first
            .iter()
            .filter_map(|(node, p)| {
                rest.iter()
                    .map(|c| of(c).iter().find(|(n, _)| n == node).map(|(_, q)| *q))
                    .try_fold(*p, |m, q| q.map(|q| m.min(q)))
                    .map(|m| (node.clone(), m))
            })
            .collect::<Positions>()
    };
    Some(Cut {
        cut: 0,
        format: FORMAT,
        log: least(log, |c| &c.0),
        direct: least(direct, |c| &c.1),
        days: Vec::new(),
        slots: SlotMap::new(),
        reads: SlotReads::new(),
    })
}

/// A state row, as `hive_state_in` takes it.
struct StateRow {
    day: u32,
    hour: i64,
    project_id: String,
    session_id: String,
    event_id: String,
    paths: Vec<String>,
    types: Vec<u8>,
    strs: Vec<String>,
    nums: Vec<f64>,
    /// The leaves at its project's slot paths (`slots::fill`).
    slots: Vec<(u8, String, f64)>,
    /// The day its earliest write was received ([`received_day`]).
    received_day: u32,
}

/// The day (since 1970) of a time received (ms), as the state's rows keep
/// it: every write of the row's event was received on that day or later,
/// so a read of its writes reads the partitions from then on (ADR 0031).
/// Before 1970: day 0, which bounds nothing.
pub(super) fn received_day(received: i64) -> u32 {
    u32::try_from(received.max(0) / DAY_MS).unwrap_or(u32::MAX)
}

/// A day in milliseconds.
const DAY_MS: i64 = 86_400_000;

/// The state's expression of [`received_day`] of a write's `received`.
const RECEIVED_DAY_SQL: &str = "toUInt32(intDiv(greatest(received, 0), 86400000))";

/// The hour an event starts in, as the charts' statements find it: its
/// `start_time` a number in `[0, 2^53)`, else `-1`.
fn hour_of(doc: &Value) -> i64 {
    match doc.get("start_time") {
        Some(Value::Number(n)) => match n.as_f64() {
            Some(st) if (0.0..9_007_199_254_740_992.0).contains(&st) => {
                (st / 3_600_000.0).floor() as i64
            }
            _ => -1,
        },
        _ => -1,
    }
}

fn day_of(hour: i64) -> u32 {
    if hour < 0 {
        0
    } else {
        u32::try_from(hour / 24).unwrap_or(u32::MAX)
    }
}

/// An event's row: its leaves as a base's (content and its own ids left
/// out, integers without their text as schema 9 writes them), and its
/// project's slots; the leaves every project's first slots hold
/// (`slots::FIXED`) are in those alone.
fn state_row(f: &Folded, filler: &slots::Filler) -> StateRow {
    let hour = hour_of(&f.doc);
    let mut row = StateRow {
        day: day_of(hour),
        hour,
        project_id: f.project_id.clone(),
        session_id: f.session_id().to_owned(),
        event_id: f.event_id.clone(),
        paths: Vec::new(),
        types: Vec::new(),
        strs: Vec::new(),
        nums: Vec::new(),
        slots: Vec::new(),
        received_day: received_day(f.received_from),
    };
    for l in super::leaves::flatten(&f.doc, true).leaves {
        if is_content(&l.path) || OWN.contains(&l.path.as_str()) {
            continue;
        }
        let text = if integer_text(&l) { String::new() } else { l.s };
        row.paths.push(l.path);
        row.types.push(l.ty);
        row.strs.push(text);
        row.nums.push(l.n);
    }
    row.slots = filler.fill(
        &row.project_id,
        &row.paths,
        &row.types,
        &row.strs,
        &row.nums,
    );
    while let Some(i) = row
        .paths
        .iter()
        .position(|p| slots::FIXED.contains(&p.as_str()))
    {
        row.paths.remove(i);
        row.types.remove(i);
        row.strs.remove(i);
        row.nums.remove(i);
    }
    row
}

/// A row of generation `.0`, as `hive_state_in` takes it.
struct Out<'a>(u64, &'a StateRow);

impl serde::Serialize for Out<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (generation, r) = (self.0, self.1);
        let mut m = s.serialize_map(Some(11 + 3 * r.slots.len()))?;
        m.serialize_entry("gen", &generation)?;
        m.serialize_entry("day", &r.day)?;
        m.serialize_entry("project_id", &r.project_id)?;
        m.serialize_entry("hour", &r.hour)?;
        m.serialize_entry("session_id", &r.session_id)?;
        m.serialize_entry("event_id", &r.event_id)?;
        m.serialize_entry("paths", &r.paths)?;
        m.serialize_entry("types", &r.types)?;
        m.serialize_entry("strs", &r.strs)?;
        m.serialize_entry("nums", &r.nums)?;
        m.serialize_entry("received_day", &r.received_day)?;
        for ((t, text, n), [nt, ns, nn]) in r.slots.iter().zip(slots::names()) {
            m.serialize_entry(nt, t)?;
            m.serialize_entry(ns, text)?;
            m.serialize_entry(nn, n)?;
        }
        m.end()
    }
}

/// `hashes` as a literal list (not empty).
fn listed(hashes: &[u64]) -> String {
    hashes
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl ClickHouseStore {
    /// Whether this store keeps the state (a single server).
    pub(super) fn keeps_state(&self) -> bool {
        self.client.endpoint().cluster.is_none()
    }

    /// Record that this node has written nothing yet, before its first
    /// write: a cut then names it, so a read's prefilter on positions
    /// ([`Cut::above`]) covers its writes. (Positions are the greatest
    /// recorded: these never lower one.)
    pub(super) fn register_positions(&self) -> Result<()> {
        if !self.keeps_state() {
            return Ok(());
        }
        use std::sync::atomic::Ordering::Relaxed;
        // (Where this node's next batches begin: `record_applied`.)
        let node = lit(&self.node);
        for (table, column, to) in [
            ("hive_log_positions", "position", &self.log_recorded),
            ("hive_direct_positions", "seq", &self.direct_recorded),
        ] {
            self.client.each_binary_row(
                &format!("SELECT max({column}) FROM {table} WHERE node = {node}"),
                |r| {
                    to.fetch_max(b::u64(r)?, Relaxed);
                    Ok(())
                },
            )?;
        }
        self.client.insert(
            "hive_log_positions",
            &[json!({"node": self.node, "position": 0})],
        )?;
        // The ids of this run's writes made outside the log begin above
        // the last run's: the position moves past them, with no write, as
        // a batch of none (so reads keep their bound: ADR 0031).
        let start = self.direct.load(Relaxed).saturating_sub(1);
        let before = self.direct_recorded.load(Relaxed);
        if start > before {
            self.client.insert(
                "hive_applied",
                &[json!({"node": self.node, "prev": before, "seq": start,
                         "least": i64::MAX, "at": now_ms()})],
            )?;
        }
        self.client.insert(
            "hive_direct_positions",
            &[json!({"node": self.node, "seq": start})],
        )?;
        self.direct_recorded.fetch_max(start, Relaxed);
        Ok(())
    }

    /// [`Self::register_positions`] once, before this store's first write.
    pub(super) fn ensure_registered(&self) -> Result<()> {
        use std::sync::atomic::Ordering::Relaxed;
        if !self.registered.load(Relaxed) {
            self.register_positions()?;
            self.registered.store(true, Relaxed);
        }
        Ok(())
    }

    /// Record a batch of this node's writes (`ids`), the earliest received
    /// at `least` (ms), before they are inserted: a row per kind of write
    /// id (in the log, outside it) with this node's position of that kind
    /// before the batch (ADR 0031, [`Self::writes_floor`]).
    pub(super) fn record_applied(&self, ids: &[(u64, u32, Option<i64>)], least: i64) -> Result<()> {
        use std::sync::atomic::Ordering::Relaxed;
        if !self.keeps_state() {
            return Ok(());
        }
        let at = now_ms();
        let mut rows = Vec::new();
        for (direct, recorded) in [(false, &self.log_recorded), (true, &self.direct_recorded)] {
            let greatest = ids
                .iter()
                .map(|(seq, _, _)| *seq)
                .filter(|seq| (*seq >= DIRECT) == direct)
                .max();
            if let Some(seq) = greatest {
                rows.push(json!({"node": self.node, "prev": recorded.load(Relaxed),
                                 "seq": seq, "least": least, "at": at}));
            }
        }
        self.client.insert("hive_applied", &rows)
    }

    /// When the earliest of the writes above `cut` was received (ms), from
    /// the batches recorded above it (`i64::MAX`: none), when every node
    /// whose positions `now` holds above the cut's recorded the first of
    /// its batches since (`record_applied`); `None` otherwise (a node that
    /// records none, as before schema 22): the writes are then read whole.
    /// Writes applied after `now` was read may be left out, as a read
    /// begun before them would.
    fn writes_floor(&self, cut: &Cut, now: &(Positions, Positions)) -> Result<Option<i64>> {
        let (pre, exact) = cut.above();
        let at = |v: &Positions, node: &str| v.iter().find(|(n, _)| n == node).map(|(_, p)| *p);
        let mut least = i64::MAX;
        // Each node's batches above the cut, with the least position
        // before one of them, by kind.
        let mut first: BTreeMap<(String, bool), u64> = BTreeMap::new();
        self.client.each_binary_row(
            &format!(
                "SELECT node, seq >= {DIRECT} AS d, min(prev), min(least) FROM hive_applied \
                 PREWHERE {pre} WHERE {exact} GROUP BY node, d"
            ),
            |r| {
                let (node, direct) = (b::string(r)?, b::u8(r)? != 0);
                let prev = b::u64(r)?;
                least = least.min(b::i64(r)?);
                first.insert((node, direct), prev);
                Ok(())
            },
        )?;
        for (direct, (current, cut_at)) in
            [(false, (&now.0, &cut.log)), (true, (&now.1, &cut.direct))]
        {
            for (node, p) in current {
                // (A node the cut does not name: every write of it is above.)
                let from = match at(cut_at, node) {
                    Some(from) if *p <= from => continue,
                    Some(from) => from,
                    None => 0,
                };
                match first.get(&(node.clone(), direct)) {
                    Some(prev) if *prev <= from => {}
                    _ => return Ok(None),
                }
            }
        }
        Ok(Some(least))
    }

    /// The end (ms) of the latest day the newest cut's rows start in, every
    /// project's, when the state is kept: no event the cut holds starts
    /// after it.
    pub(super) fn state_end(&self) -> Result<Option<i64>> {
        if !self.keeps_state() {
            return Ok(None);
        }
        let mut out = None;
        self.client.each_binary_row(
            "SELECT arrayReduce('max', days) FROM hive_state_cuts \
             WHERE notEmpty(days) ORDER BY cut DESC LIMIT 1",
            |r| {
                out = Some((i64::from(b::u32(r)?) + 1).saturating_mul(DAY_MS));
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// The time (ms) since which every write of a dated scope's events was
    /// received (ADR 0032), given `sessions`, a statement of the scope's
    /// keys (its sessions, and its events of no session), for a read of
    /// `project` by a node that keeps the state; `None` when unknown (no
    /// cut of this format, or batches unrecorded above it: the writes are
    /// then read whole).
    ///
    /// A write above the cut was received no earlier than the least of the
    /// batches above it ([`Self::writes_floor`]). A write at or below it is
    /// folded into its event's row, whose `received_day` is no later, and
    /// which names its event's session (or is of none): the day of that
    /// key in `hive_session_first` is no later. The scope's events are its
    /// keys' and their sessions' members, and the events a patch naming no
    /// session keys at its time (an event whose base starts in the range
    /// keys its session there; one that starts elsewhere is not the
    /// range's, and its writes since only show it without a start, which
    /// no dated read keeps). A key with no day has no row at the cut: its
    /// writes are all above it.
    pub(super) fn dated_floor(&self, project: &str, sessions: &str) -> Result<Option<i64>> {
        let Some(cut) = self.read_cut(Some(project))? else {
            return Ok(None);
        };
        let now = self.positions()?;
        let above = if now == (cut.log.clone(), cut.direct.clone()) {
            i64::MAX
        } else {
            match self.writes_floor(&cut, &now)? {
                Some(t) => t,
                None => return Ok(None),
            }
        };
        let mut first = i64::MAX;
        self.client.each_binary_row(
            &format!(
                "SELECT count(), minMerge(first) FROM hive_session_first \
                 WHERE key IN (SELECT cityHash64({}, cityHash64(id)) FROM ({sessions}))",
                lit(project)
            ),
            |r| {
                let (n, day) = (b::u64(r)?, b::u32(r)?);
                if n > 0 {
                    first = i64::from(day) * DAY_MS;
                }
                Ok(())
            },
        )?;
        Ok(Some(above.min(first)))
    }

    /// Record that this node's writes made outside its log are applied up
    /// to `seq` (the caller holds `direct_lock` from taking `seq` to here).
    pub(super) fn record_direct(&self, seq: u64) -> Result<()> {
        if !self.keeps_state() {
            return Ok(());
        }
        self.client.insert(
            "hive_direct_positions",
            &[json!({"node": self.node, "seq": seq})],
        )?;
        self.direct_recorded
            .fetch_max(seq, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Mark events changed without a write of theirs (`(project, event)`),
    /// as written at `seq` of this node: a cut that covers `seq` has them
    /// resolved again.
    pub(super) fn mark(&self, seq: u64, events: &[(String, String)]) -> Result<()> {
        let events: Vec<(String, String, i64)> = events
            .iter()
            .map(|(p, e)| (p.clone(), e.clone(), i64::MAX))
            .collect();
        self.mark_received(seq, &events)
    }

    /// [`Self::mark`] events `(project, event, received)` that gained
    /// writes received then (ms; `i64::MAX`: none) at positions of their
    /// own, below `seq` maybe (an adoption's copies keep their originals'):
    /// a read bounded by when the writes it streams were received reads
    /// theirs too (ADR 0031).
    pub(super) fn mark_received(&self, seq: u64, events: &[(String, String, i64)]) -> Result<()> {
        if !self.keeps_state() || events.is_empty() {
            return Ok(());
        }
        let at = now_ms();
        let rows: Vec<Value> = events
            .iter()
            .map(|(p, e, received)| {
                json!({"project_id": p, "event_id": e, "node": self.node, "seq": seq, "at": at,
                       "received": received})
            })
            .collect();
        self.client.insert("hive_state_marks", &rows)
    }

    /// [`Self::mark`] every event with a write that `cond` (a condition on
    /// `hive_writes`) selects.
    pub(super) fn mark_where(&self, seq: u64, cond: &str) -> Result<()> {
        if !self.keeps_state() {
            return Ok(());
        }
        self.client.exec(&format!(
            "INSERT INTO hive_state_marks (project_id, event_id, node, seq, at) \
             SELECT project_id, event_id, {}, toUInt64({seq}), toInt64({}) FROM hive_writes \
             WHERE {cond} GROUP BY project_id, event_id",
            lit(&self.node),
            now_ms()
        ))
    }

    /// Run `f` as a change made outside the log, at a write id of this
    /// node's own, and record it applied once `f` is done: what `f` marks
    /// at that id stays above every cut (so reads stream those events,
    /// and compactions resolve them again) until then.
    pub(super) fn as_direct<T>(&self, f: impl FnOnce(u64) -> Result<T>) -> Result<T> {
        // (Before the id is taken: registering records the position below
        // this run's first id.)
        self.ensure_registered()?;
        let _one = lock(&self.direct_lock);
        let seq = self.direct_ids(1)[0].0;
        // (A change that writes nothing moves the position too: a batch of
        // none, so reads keep their bound, ADR 0031. Writes `f` makes are
        // recorded by their batch.)
        self.record_applied(&[(seq, 0, None)], i64::MAX)?;
        let out = f(seq)?;
        self.record_direct(seq)?;
        Ok(out)
    }

    /// The newest cut recorded, of any format.
    pub(super) fn newest_cut(&self) -> Result<Option<Cut>> {
        self.newest_cut_of(None)
    }

    /// The newest cut recorded, with the slots of `project` alone (`None`:
    /// of every project).
    fn newest_cut_of(&self, project: Option<&str>) -> Result<Option<Cut>> {
        // (Reads are not read for one project's: charts need none.)
        let slots = match project {
            None => "slot_projects, slot_paths, slot_reads".to_owned(),
            Some(p) => format!(
                "arrayFilter(p -> p = {p}, slot_projects), \
                 arrayFilter((x, p) -> p = {p}, slot_paths, slot_projects), \
                 arrayFilter(x -> 0, slot_reads)",
                p = lit(p)
            ),
        };
        let mut out = None;
        self.client.each_binary_row(
            &format!(
                "SELECT cut, format, log_nodes, log_seqs, direct_nodes, direct_seqs, days, gens, \
                 {slots} FROM hive_state_cuts ORDER BY cut DESC LIMIT 1"
            ),
            |r| {
                let (cut, format) = (b::u64(r)?, b::u32(r)?);
                let pairs = |n: Vec<String>, s: Vec<u64>| n.into_iter().zip(s).collect();
                let log = pairs(b::array(r, b::string)?, b::array(r, b::u64)?);
                let direct = pairs(b::array(r, b::string)?, b::array(r, b::u64)?);
                let days = b::array(r, b::u32)?
                    .into_iter()
                    .zip(b::array(r, b::u64)?)
                    .collect();
                let projects = b::array(r, b::string)?;
                let slots = projects
                    .iter()
                    .cloned()
                    .zip(b::array(r, |r| b::array(r, b::string))?)
                    .collect();
                // (Empty in cuts made before reads were recorded.)
                let reads = projects
                    .into_iter()
                    .zip(b::array(r, |r| b::array(r, b::i64))?)
                    .collect();
                out = Some(Cut {
                    cut,
                    format,
                    log,
                    direct,
                    days,
                    slots,
                    reads,
                });
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// The cut a read of `project` takes: the newest, when of this
    /// [`FORMAT`], with that project's slots alone.
    pub(super) fn read_cut(&self, project: Option<&str>) -> Result<Option<Cut>> {
        if !self.keeps_state() {
            return Ok(None);
        }
        Ok(self.newest_cut_of(project)?.filter(|c| c.format == FORMAT))
    }

    /// Every node's applied positions: of its log, and of its writes made
    /// outside it.
    fn positions(&self) -> Result<(Positions, Positions)> {
        let read = |sql: &str| -> Result<Vec<(String, u64)>> {
            let mut out = Vec::new();
            self.client.each_binary_row(sql, |r| {
                out.push((b::string(r)?, b::u64(r)?));
                Ok(())
            })?;
            Ok(out)
        };
        Ok((
            read("SELECT node, max(position) FROM hive_log_positions GROUP BY node ORDER BY node")?,
            read("SELECT node, max(seq) FROM hive_direct_positions GROUP BY node ORDER BY node")?,
        ))
    }

    /// The events (by project) with a write or a mark above `cut`, as of
    /// the positions `now`.
    fn written_since(
        &self,
        cut: &Cut,
        now: &(Positions, Positions),
        project: Option<&str>,
    ) -> Result<BTreeMap<String, Vec<u64>>> {
        Ok(self
            .written_since_naming(cut, now, project)?
            .into_iter()
            .map(|(p, (events, _, _))| (p, events))
            .collect())
    }

    /// The events (by project) with a write or a mark above `cut`, and
    /// the sessions (by their hashes) those writes name.
    fn written_since_naming(
        &self,
        cut: &Cut,
        now: &(Positions, Positions),
        project: Option<&str>,
    ) -> Result<BTreeMap<String, Written>> {
        let (pre, exact) = cut.above();
        // (Only the partitions of the days the writes above the cut were
        // received in, when the nodes recorded when: ADR 0031.)
        let received = match self.writes_floor(cut, now)? {
            Some(t) => format!("received >= {t} AND "),
            None => String::new(),
        };
        let pc = Self::project_cond(project);
        let mut out: BTreeMap<String, Written> = BTreeMap::new();
        // (A session's hash 0: none named. A mark is no write: its time
        // received is its event's writes' it names, `i64::MAX` if none.)
        self.client.each_binary_row(
            &format!(
                "SELECT project_id, id_hash, s, r FROM (\
                 SELECT project_id, id_hash, \
                 if(session_id = '', toUInt64(0), cityHash64(session_id)) AS s, \
                 min(received) AS r \
                 FROM hive_writes PREWHERE {received}({pre}) \
                 WHERE {pc} AND {exact} GROUP BY project_id, id_hash, s \
                 UNION ALL SELECT project_id, id_hash, toUInt64(0) AS s, \
                 received AS r FROM hive_state_marks \
                 WHERE {pc} AND ({pre}) AND {exact})"
            ),
            |r| {
                let (p, h, session) = (b::string(r)?, b::u64(r)?, b::u64(r)?);
                let received = b::i64(r)?;
                let (events, sessions, from) =
                    out.entry(p).or_insert((Vec::new(), Vec::new(), i64::MAX));
                events.push(h);
                if session != 0 {
                    sessions.push(session);
                }
                *from = (*from).min(received);
                Ok(())
            },
        )?;
        for (events, sessions, _) in out.values_mut() {
            for v in [events, sessions] {
                v.sort_unstable();
                v.dedup();
            }
        }
        Ok(out)
    }

    /// The events of `project` a read of the state at `cut` streams, by
    /// their hashes, and the days their rows at the cut lie in: those
    /// written since it, the sessions whose rollups they change (those
    /// their writes since name, and those their rows at the cut name), and
    /// every event of those sessions and of any session among them. `None`
    /// when more than [`MAX_UNSETTLED`].
    ///
    /// A session's events are those whose rows at the cut name it, and
    /// those written since (which are streamed, so their sessions now are
    /// what the stream resolves). So the state's rows find them all, by
    /// `session_hash` (a narrow column: its rows lie together), without
    /// the events that named the session once and no longer do.
    pub(super) fn state_unsettled(&self, project: &str, cut: &Cut) -> Result<Option<Unsettled>> {
        // No node applied anything since the cut: nothing to look for (a
        // batch applied meanwhile is read once its position is recorded,
        // as a read before it would).
        let now = self.positions()?;
        if now == (cut.log.clone(), cut.direct.clone()) {
            return Ok(Some(Unsettled::default()));
        }
        let (since, named, mut received_from) = self
            .written_since_naming(cut, &now, Some(project))?
            .remove(project)
            .unwrap_or_default();
        if since.is_empty() {
            return Ok(Some(Unsettled::default()));
        }
        if since.len() > MAX_UNSETTLED {
            return Ok(None);
        }
        let mut all: BTreeSet<u64> = since.iter().copied().collect();
        all.extend(named.iter().copied());
        let mut days = BTreeSet::new();
        // First the rows of the events written since (by id) and of the
        // sessions named so far (by session; a session's own row among
        // them: the events written since are asked for as sessions too,
        // since a write may have made one a session), then the rows of
        // each session found (the sessions the rows name, and the session
        // events among them, by the type in their fixed slot), until none
        // is found.
        let mut asked: BTreeSet<u64> = all.clone();
        let mut ask: Vec<u64> = all.iter().copied().collect();
        let mut by_id = true;
        let is_session = format!(
            "slot{j}_t = {STR} AND slot{j}_s = 'session'",
            j = slots::EVENT_TYPE
        );
        while !ask.is_empty() {
            let found = if by_id {
                format!("id_hash IN {NAMED} OR session_hash IN {NAMED}")
            } else {
                format!("session_hash IN {NAMED}")
            };
            by_id = false;
            let mut next = Vec::new();
            self.client.each_binary_row_naming(
                &format!(
                    "SELECT id_hash, session_hash, day, {is_session} AS s, \
                     min(received_day) AS rd FROM hive_state \
                     PREWHERE {found} WHERE project_id = {} AND {} \
                     GROUP BY id_hash, session_hash, day, s",
                    lit(project),
                    cut.rows_in(project)
                ),
                Some(&ask),
                |r| {
                    let (id, session) = (b::u64(r)?, b::u64(r)?);
                    days.insert(b::u32(r)?);
                    let own = b::u8(r)? != 0;
                    received_from = received_from.min(i64::from(b::u32(r)?) * DAY_MS);
                    all.insert(id);
                    all.insert(session);
                    if asked.insert(session) {
                        next.push(session);
                    }
                    if own && asked.insert(id) {
                        next.push(id);
                    }
                    Ok(())
                },
            )?;
            if all.len() > MAX_UNSETTLED {
                return Ok(None);
            }
            ask = next;
        }
        Ok(Some(Unsettled {
            hashes: all.into_iter().collect(),
            days,
            received_from,
        }))
    }

    /// `hashes` with every event of the sessions among them (by
    /// `hive_session_events`: the events whose writes named them), and of
    /// the sessions among those, until none is added; `None` past `max`.
    pub(super) fn with_members(
        &self,
        project: &str,
        hashes: BTreeSet<u64>,
        max: usize,
    ) -> Result<Option<Vec<u64>>> {
        let mut all = hashes;
        let mut new: Vec<u64> = all.iter().copied().collect();
        while !new.is_empty() {
            let mut found = Vec::new();
            self.client.each_binary_row_naming(
                &format!(
                    "SELECT id_hash FROM hive_session_events \
                     WHERE project_hash = cityHash64({}) AND session_hash IN {NAMED} \
                     GROUP BY id_hash",
                    lit(project)
                ),
                Some(&new),
                |r| {
                    found.push(b::u64(r)?);
                    Ok(())
                },
            )?;
            new = found.into_iter().filter(|h| all.insert(*h)).collect();
            if all.len() > max {
                return Ok(None);
            }
        }
        Ok(Some(all.into_iter().collect()))
    }

    /// The events of `project` with these hashes, resolved without their
    /// content (and without their sessions' rollups) by the fold the API
    /// uses, of the writes `cond` (empty, or ` AND …`) selects.
    fn fold_hashes_in(&self, project: &str, hashes: &[u64], cond: &str) -> Result<Vec<Folded>> {
        let pc = format!("project_id = {}", lit(project));
        let mut out = Vec::new();
        for chunk in hashes.chunks(FOLD_BATCH) {
            let list = listed(chunk);
            for mut f in self.fold_named_brief(&pc, &Named::Hashes(&list), cond, true)? {
                without_content(&mut f.doc);
                out.push(f);
            }
        }
        Ok(out)
    }

    /// The paths a state row is resolved on: every top-level key the
    /// project's writes hold (field discovery knows them) but content, and
    /// the ids a row is named by.
    fn state_paths(&self, project: &str) -> Result<Paths> {
        let mut top: BTreeSet<String> = ["event_id", "session_id", "event_type", "start_time"]
            .iter()
            .map(|p| (*p).to_owned())
            .collect();
        self.client.each_binary_row(
            &format!(
                "SELECT path FROM hive_fields WHERE project_id = {} GROUP BY path",
                lit(project)
            ),
            |r| {
                let path = b::string(r)?;
                if let Some(first) = super::leaves::segments(&path).first() {
                    top.insert(super::leaves::escape(first));
                }
                Ok(())
            },
        )?;
        Ok(Paths::new(top.into_iter().filter(|p| !is_content(p))))
    }

    /// The events of `project` with these hashes, resolved on `paths` as
    /// streamed reads resolve them (in binary, two ranges at a time: a
    /// compaction under ingest took about a third of the node's time
    /// folding its events' rows as JSON), without their sessions' rollups.
    fn resolve_hashes(&self, project: &str, hashes: &[u64], paths: &Paths) -> Result<Vec<Folded>> {
        let mut out = Vec::new();
        if hashes.is_empty() {
            return Ok(out);
        }
        let map = |e: Partial| {
            let event_id = e
                .doc
                .get("event_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            Folded {
                project_id: e.project_id,
                event_id,
                doc: e.doc,
                duration_explicit: e.duration_explicit,
                patches: Vec::new(),
                received_from: e.received_from,
            }
        };
        self.each_partial(
            Some(project),
            &super::partial::Scope::Hashes(hashes.to_vec(), None, None),
            paths,
            &map,
            |e| {
                match e {
                    None => out.clear(),
                    Some(f) => out.push(f),
                }
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// ClickHouse's hashes of these ids (as `cityHash64`).
    fn hashes_of(&self, ids: &BTreeSet<String>) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for list in super::write::in_lists(ids.iter().map(String::as_str)) {
            self.client.each_binary_row(
                &format!("SELECT cityHash64(arrayJoin([{list}]))"),
                |r| {
                    out.push(b::u64(r)?);
                    Ok(())
                },
            )?;
        }
        Ok(out)
    }

    /// The sessions' hashes and days of the rows at `cut` of these events,
    /// and when the earliest write of those rows' events was received
    /// (ms, by [`received_day`]; `i64::MAX` when none is found).
    pub(super) fn rows_at(
        &self,
        project: &str,
        cut: &Cut,
        hashes: &[u64],
    ) -> Result<(BTreeSet<u64>, BTreeSet<u32>, i64)> {
        let (mut sessions, mut days) = (BTreeSet::new(), BTreeSet::new());
        let mut received_from = i64::MAX;
        if hashes.is_empty() || cut.days.is_empty() {
            return Ok((sessions, days, received_from));
        }
        self.client.each_binary_row_naming(
            &format!(
                "SELECT session_hash, day, min(received_day) FROM hive_state \
                 PREWHERE id_hash IN {NAMED} WHERE project_id = {} AND {} \
                 GROUP BY session_hash, day",
                lit(project),
                cut.rows_in(project)
            ),
            Some(hashes),
            |r| {
                sessions.insert(b::u64(r)?);
                days.insert(b::u32(r)?);
                received_from = received_from.min(i64::from(b::u32(r)?) * DAY_MS);
                Ok(())
            },
        )?;
        Ok((sessions, days, received_from))
    }

    /// Insert rows into generation `gen`.
    fn insert_rows(&self, generation: u64, rows: &[StateRow]) -> Result<()> {
        for chunk in rows.chunks(FOLD_BATCH) {
            let out: Vec<Out> = chunk.iter().map(|r| Out(generation, r)).collect();
            self.client.insert("hive_state_in", &out)?;
        }
        Ok(())
    }

    /// Resolve, compact and record a new cut, when anything was applied
    /// since the last one (`None`: nothing to do, or not kept here).
    pub fn compact_state(&self) -> Result<Option<crate::Compaction>> {
        self.compact_or_build(false)
    }

    /// [`Self::compact_state`], unless a cut was recorded (by any node)
    /// within half of `every` or [`PACE`] times as long as its compaction
    /// took, no chart here asked for slots, and what charts here read is
    /// not overdue for a cut (`slots::REPORT_EVERY`).
    pub fn compact_state_due(&self, every: Duration) -> Result<Option<crate::Compaction>> {
        if self.keeps_state()
            && lock(&self.wanted).is_empty()
            && !lock(&self.used).overdue(now_ms(), slots::REPORT_EVERY)
        {
            let half = (every / 2).as_millis() as i64;
            if self
                .newest_cut_time()?
                .is_some_and(|(at, took)| at > now_ms() - half.max(PACE * took))
            {
                return Ok(None);
            }
        }
        self.compact_state()
    }

    /// When the newest cut of the current [`FORMAT`] was recorded (ms),
    /// by any node; `None` before the first, or where no state is kept (a
    /// cluster).
    pub fn newest_cut_at(&self) -> Result<Option<i64>> {
        if !self.keeps_state() {
            return Ok(None);
        }
        Ok(self.newest_cut_time()?.map(|(at, _)| at))
    }

    /// When the newest cut of the current [`FORMAT`] was recorded (ms),
    /// and how long its compaction took (ms; 0 for what paces nothing).
    fn newest_cut_time(&self) -> Result<Option<(i64, i64)>> {
        let mut newest = None;
        self.client.each_binary_row(
            &format!(
                "SELECT at, took FROM hive_state_cuts WHERE format = {FORMAT} \
                 ORDER BY at DESC LIMIT 1"
            ),
            |r| {
                newest = Some((b::i64(r)?, b::i64(r)?));
                Ok(())
            },
        )?;
        Ok(newest)
    }

    /// Build the state anew from every write, and record its cut (what
    /// was written into ClickHouse other than by a node, as the benchmark
    /// copies events, is found only so).
    #[doc(hidden)]
    pub fn rebuild_state(&self) -> Result<Option<crate::Compaction>> {
        self.compact_or_build(true)
    }

    fn compact_or_build(&self, anew: bool) -> Result<Option<crate::Compaction>> {
        if !self.keeps_state() {
            return Ok(None);
        }
        let out = {
            let _one = lock(&self.compacting);
            let wanted = lock(&self.wanted).take();
            let used = lock(&self.used).take(now_ms());
            let out = self.compact_wanting(anew, &wanted, &used);
            if out.is_err() {
                lock(&self.wanted).restore(wanted);
            }
            // (Reads a compaction recorded no cut of are kept for the next.)
            if !matches!(out, Ok(Some(_))) {
                lock(&self.used).restore(used);
            }
            out
        };
        // Many days rewritten (a build, a slot given, a large backfill):
        // the charts read here lately keep their groups of those days
        // again now, not at their next read (ADR 0030). (Under ingest a
        // compaction rewrites the last day or two, which charts read from
        // their rows.)
        if let Ok(Some(c)) = &out
            && (c.full || c.days >= WARM_DAYS)
        {
            self.keep_recent_sums();
        }
        out
    }

    /// A compaction (or a build, `anew`) that also gives slots to the
    /// paths charts asked for (`wanted`, by project), and records when
    /// charts here read slots (`used`).
    fn compact_wanting(
        &self,
        anew: bool,
        wanted: &BTreeMap<String, BTreeSet<String>>,
        used: &BTreeMap<String, BTreeMap<String, i64>>,
    ) -> Result<Option<crate::Compaction>> {
        let started = Instant::now();
        let newest = self.newest_cut()?;
        // (Slots given stay given, across formats too, until no chart
        // read them for `slot_idle`.)
        let (had, had_reads) = newest
            .as_ref()
            .map(|c| (c.slots.clone(), c.reads.clone()))
            .unwrap_or_default();
        let now = now_ms();
        let reads = slots::with_used(&had, &had_reads, used);
        let idle_before = now - self.slot_idle.as_millis() as i64;
        let (map, reads, changed) = slots::assign(&had, &reads, wanted, (idle_before, now));
        // (Reads recorded late enough to matter make a cut of their own.)
        let stale = reads.iter().any(|(p, r)| {
            let before = had_reads.get(p).map(Vec::as_slice).unwrap_or(&[]);
            r.iter().enumerate().any(|(i, at)| {
                before
                    .get(i)
                    .is_none_or(|b| *at - *b >= slots::REPORT_EVERY)
            })
        });
        let last = match anew {
            true => None,
            false => newest.filter(|c| c.format == FORMAT),
        };
        // The cut, read before any write is.
        let (log, direct) = self.positions()?;
        // (Nothing written since a cut with layers: a compaction still
        // copies one layered day whole, until none is left, ADR 0036.)
        if changed.is_empty()
            && !stale
            && last
                .as_ref()
                .is_some_and(|c| c.log == log && c.direct == direct && !c.layered())
        {
            return Ok(None);
        }
        // (Until its cut is recorded, a lease keeps `last`'s generations,
        // which it copies and names, from every node's collection, however
        // long the copying takes: filling a large project's slots takes
        // longer than the grace time, while other nodes record cuts.)
        let lease = match &last {
            Some(l) => Some(self.take_lease(l.cut)?),
            None => None,
        };
        // (A build, which reads every write, is left to the node that
        // began one; one asked for, as the benchmark asks, is made.)
        let shared = last.is_none() && !anew;
        let onto = move || self.compact_onto(last, (map, reads), changed, (log, direct), started);
        let out = match shared {
            true => self.building(onto),
            false => onto(),
        };
        if let Some(lease) = lease
            && let Err(e) = self.end_lease(lease)
        {
            tracing::warn!(error = %e, "cannot end a lease on the state's generations; it lapses after six hours");
        }
        out
    }

    /// Run `build` under a build lease this node renews while it runs, or
    /// leave the build to another node (`Ok(None)`): one holding a lease,
    /// or one that took its lease at the same time and whose name comes
    /// first.
    fn building(
        &self,
        build: impl FnOnce() -> Result<Option<crate::Compaction>>,
    ) -> Result<Option<crate::Compaction>> {
        if !self.builders()?.is_empty() {
            return Ok(None);
        }
        let beat = |done: u8| {
            self.client.insert(
                "hive_state_leases",
                &[json!({"node": self.node, "cut": BUILD, "started": now_ms(), "done": done})],
            )
        };
        beat(0)?;
        if self.builders()?.iter().any(|n| *n < self.node) {
            beat(1)?;
            return Ok(None);
        }
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let out = std::thread::scope(|s| {
            let beat = &beat;
            s.spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(BUILD_BEAT)
                {
                    if let Err(e) = beat(0) {
                        tracing::warn!(error = %e, "cannot renew the lease on building the state");
                    }
                }
            });
            let out = build();
            drop(stop);
            out
        });
        if let Err(e) = beat(1) {
            tracing::warn!(error = %e, "cannot end the lease on building the state; it lapses");
        }
        out
    }

    /// The other nodes holding a build lease: whose last beat is within
    /// [`BUILD_LAPSE`] and not the one that ended it.
    fn builders(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        // (The last row of a node by its time, the end before a beat of
        // the same millisecond: the greatest `started * 2 + done`.)
        self.client.each_binary_row(
            &format!(
                "SELECT node FROM hive_state_leases WHERE cut = {BUILD} AND started >= {} \
                 AND node != {} GROUP BY node HAVING max(started * 2 + done) % 2 = 0",
                now_ms() - BUILD_LAPSE.as_millis() as i64,
                lit(&self.node)
            ),
            |r| {
                out.push(b::string(r)?);
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// Take a lease on cut `cut`'s generations (its cut and start).
    fn take_lease(&self, cut: u64) -> Result<(u64, i64)> {
        let started = now_ms();
        self.client.insert(
            "hive_state_leases",
            &[json!({"node": self.node, "cut": cut, "started": started, "done": 0})],
        )?;
        Ok((cut, started))
    }

    fn end_lease(&self, (cut, started): (u64, i64)) -> Result<()> {
        self.client.insert(
            "hive_state_leases",
            &[json!({"node": self.node, "cut": cut, "started": started, "done": 1})],
        )
    }

    /// The rest of a compaction: build the state (no `last` cut) or update
    /// it from `last`, for the slots of `map` (`changed`: the projects it
    /// gives new ones), and record its cut at `positions`.
    fn compact_onto(
        &self,
        last: Option<Cut>,
        (map, reads): (SlotMap, SlotReads),
        changed: BTreeSet<String>,
        (log, direct): (Positions, Positions),
        started: Instant,
    ) -> Result<Option<crate::Compaction>> {
        let generation = next_version();
        let (rebased, layered, events, full) = match &last {
            None => {
                let (days, events) = self.build_state(generation, &map)?;
                (days, BTreeSet::new(), events, true)
            }
            Some(last) => {
                let now = (log.clone(), direct.clone());
                let (rebased, layered, events) =
                    self.update_state(last, &now, generation, &map, &changed)?;
                (rebased, layered, events, false)
            }
        };
        // (A lease lapses after `UNNAMED`.)
        if started.elapsed() > UNNAMED {
            tracing::warn!(
                seconds = started.elapsed().as_secs_f64(),
                "a compaction of the state took too long; its cut is not recorded"
            );
            return Ok(None);
        }
        // Each day's generations: its base, then its layers.
        let mut generations: BTreeMap<u32, Vec<u64>> = last.map(|c| c.by_day()).unwrap_or_default();
        for d in &rebased {
            generations.insert(*d, vec![generation]);
        }
        for d in &layered {
            generations.entry(*d).or_default().push(generation);
        }
        let (log_nodes, log_seqs): (Vec<String>, Vec<u64>) = log.into_iter().unzip();
        let (direct_nodes, direct_seqs): (Vec<String>, Vec<u64>) = direct.into_iter().unzip();
        let (ds, gs): (Vec<u32>, Vec<u64>) = generations
            .into_iter()
            .flat_map(|(d, gens)| gens.into_iter().map(move |g| (d, g)))
            .unzip();
        let slot_reads: Vec<Vec<i64>> = map
            .keys()
            .map(|p| reads.get(p).cloned().unwrap_or_default())
            .collect();
        let (slot_projects, slot_paths): (Vec<String>, Vec<Vec<String>>) = map.into_iter().unzip();
        // What paces the next (`PACE`): an update's time, which the days
        // it copies decide. A build, or one that fills a project's new
        // slots, copies more than the next will: 0.
        let took = match full || !changed.is_empty() {
            true => 0,
            false => started.elapsed().as_millis() as i64,
        };
        self.client.insert(
            "hive_state_cuts",
            &[json!({
                "cut": next_version(), "at": now_ms(), "format": FORMAT,
                "log_nodes": log_nodes, "log_seqs": log_seqs,
                "direct_nodes": direct_nodes, "direct_seqs": direct_seqs,
                "days": ds, "gens": gs, "took": took,
                "slot_projects": slot_projects, "slot_paths": slot_paths,
                "slot_reads": slot_reads,
            })],
        )?;
        if let Err(e) = self.collect_state() {
            tracing::warn!(error = %e, "cannot drop the state's replaced generations; tried again at the next compaction");
        }
        Ok(Some(crate::Compaction {
            full,
            events,
            days: rebased.len() + layered.len(),
            took: started.elapsed(),
        }))
    }

    /// Build every event's state into a generation no cut names, and
    /// return it (tests compare it with what compactions keep).
    #[doc(hidden)]
    pub fn build_state_apart(&self) -> Result<u64> {
        let generation = next_version();
        let map = self.newest_cut()?.map(|c| c.slots).unwrap_or_default();
        self.build_state(generation, &map)?;
        Ok(generation)
    }

    /// The condition on `hive_state` that selects the newest cut's rows
    /// (tests).
    #[doc(hidden)]
    pub fn state_rows_cond(&self) -> Result<Option<String>> {
        Ok(self.read_cut(None)?.map(|c| c.rows()))
    }

    /// Build every project's state into `gen`: the days written and the
    /// events.
    fn build_state(&self, generation: u64, map: &SlotMap) -> Result<(BTreeSet<u32>, u64)> {
        let mut projects = Vec::new();
        self.client.each_binary_row(
            "SELECT project_id FROM hive_writes GROUP BY project_id ORDER BY project_id",
            |r| {
                projects.push(b::string(r)?);
                Ok(())
            },
        )?;
        let mut events = 0u64;
        for p in &projects {
            events += self.build_project(p, generation, map)?;
        }
        let mut days = BTreeSet::new();
        self.client.each_binary_row(
            &format!("SELECT day FROM hive_state WHERE gen = {generation} GROUP BY day"),
            |r| {
                days.insert(b::u32(r)?);
                Ok(())
            },
        )?;
        // Each day's rows in one part: the build inserted them in many,
        // and a cold read of a day took about twice as long in five parts
        // as in one (ten million events, the last 24 hours: 0.45 → 0.25 s).
        let db = &self.client.endpoint().database;
        for d in &days {
            self.client.exec(&format!(
                "OPTIMIZE TABLE {db}.hive_state PARTITION ({generation}, {d}) FINAL"
            ))?;
        }
        Ok((days, events))
    }

    /// One project's rows into `gen`: the events written once by a base,
    /// and that are not sessions, are their base (copied by ClickHouse);
    /// the others are resolved here, the sessions' rollups from one pass
    /// over the project.
    fn build_project(&self, project: &str, generation: u64, map: &SlotMap) -> Result<u64> {
        let p = lit(project);
        let filler = slots::Filler::new(map);
        let slot_paths = slots::slot_paths(map, project);
        // Whether an event is written once by a base, and is no session.
        let single = format!(
            "count() = 1 AND min(kind) = {BASE} \
             AND max(strs[indexOf(hashes, cityHash64('event_type'))] = 'session') = 0"
        );
        let singles = format!(
            "SELECT id_hash FROM hive_writes PREWHERE project_id = {p} WHERE {VISIBLE} \
             GROUP BY id_hash HAVING {single}"
        );
        let start = "indexOf(hashes, cityHash64('start_time'))";
        // (A row leaves out its own ids, as `state_row`.)
        // (A row leaves out too the leaves its fixed slots hold.)
        let own = format!(
            "[{}]",
            OWN.iter()
                .chain(&slots::FIXED)
                .map(|p| format!("cityHash64('{p}')"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        // (No slot path is an id, nor below one: the slots are filled
        // from the leaves as written.)
        self.client.exec(&format!(
            "INSERT INTO hive_state (gen, day, project_id, hour, session_hash, id_hash, \
             hashes, types, strs, nums, received_day, {slot_columns}) \
             SELECT toUInt64({generation}), toUInt32(if(h < 0, 0, intDiv(h, 24))), project_id, h, \
             cityHash64(session_id), id_hash, arrayFilter(x -> NOT has({own}, x), hashes), \
             arrayFilter((x, y) -> NOT has({own}, y), types, hashes), \
             arrayFilter((x, y) -> NOT has({own}, y), strs, hashes), \
             arrayFilter((x, y) -> NOT has({own}, y), nums, hashes), rd, {slot_sql} FROM (\
             SELECT project_id, session_id, id_hash, hashes, types, strs, nums, \
             {RECEIVED_DAY_SQL} AS rd, \
             nums[{start}] AS st, \
             if(types[{start}] = {NUM} AND st >= 0 AND st < 9007199254740992, \
             toInt64(floor(st / 3600000)), toInt64(-1)) AS h \
             FROM hive_writes PREWHERE project_id = {p} AND kind = {BASE} \
             AND id_hash IN ({singles}) WHERE {VISIBLE})",
            slot_columns = slots::columns(slot_paths.len()),
            slot_sql = slots::sql(&slot_paths, false),
        ))?;
        let copied = self.client.count(
            "hive_state",
            &format!("gen = {generation} AND project_id = {p}"),
        )?;
        // The others, in the order of their ids: each batch then reads
        // only the granules of its range of ids, not every one that holds
        // one of its hashes.
        let mut rest: Vec<(u64, String)> = Vec::new();
        self.client.each_binary_row(
            &format!(
                "SELECT id_hash, any(event_id) AS e FROM hive_writes PREWHERE project_id = {p} \
                 WHERE {VISIBLE} GROUP BY id_hash HAVING NOT ({single}) ORDER BY e"
            ),
            |r| {
                rest.push((b::u64(r)?, b::string(r)?));
                Ok(())
            },
        )?;
        if rest.is_empty() {
            return Ok(copied);
        }
        // Every session's rollup, in one pass over the project's events
        // for each `build_sessions` of them (the ids of a session and its
        // session event fall in the same pass).
        let paths = Paths::new(
            super::partial::ROLLUP_INPUTS
                .iter()
                .map(|p| (*p).to_owned()),
        );
        let passes = rest.len().div_ceil(self.build_sessions).max(1) as u64;
        let pass_of = |id: &str| {
            use std::hash::{BuildHasher, BuildHasherDefault};
            BuildHasherDefault::<std::hash::DefaultHasher>::default().hash_one(id) % passes
        };
        let mut resolved = 0u64;
        for pass in 0..passes {
            let rollups =
                self.rollups_of_some(project, &super::partial::Scope::All, &paths, &|s| {
                    pass_of(s) == pass
                })?;
            let of_pass: Vec<&(u64, String)> = match passes {
                1 => rest.iter().collect(),
                _ => rest.iter().filter(|(_, e)| pass_of(e) == pass).collect(),
            };
            resolved += self.build_rest(project, generation, &filler, &of_pass, &rollups)?;
        }
        Ok(copied + resolved)
    }

    /// The build of `project`'s events `rest` (id hash and id, in order of
    /// ids) that are not written once, sessions' rows with `rollups`.
    fn build_rest(
        &self,
        project: &str,
        generation: u64,
        filler: &slots::Filler,
        rest: &[&(u64, String)],
        rollups: &super::partial::BySession<hive_core::rollup::Rollup>,
    ) -> Result<u64> {
        let mut resolved = 0u64;
        for chunk in rest.chunks(FOLD_BATCH) {
            let hashes: Vec<u64> = chunk.iter().map(|(h, _)| *h).collect();
            let (first, last) = (&chunk[0].1, &chunk[chunk.len() - 1].1);
            let mut folded = self.fold_hashes_in(
                project,
                &hashes,
                &format!(
                    " AND event_id >= {} AND event_id <= {}",
                    lit(first),
                    lit(last)
                ),
            )?;
            for f in folded.iter_mut().filter(|f| f.is_session()) {
                rollups
                    .get(&SessionKey::new(&f.project_id, &f.event_id))
                    .copied()
                    .unwrap_or_default()
                    .apply_to_session(&mut f.doc, f.duration_explicit);
            }
            let rows: Vec<StateRow> = folded.iter().map(|f| state_row(f, filler)).collect();
            resolved += rows.len() as u64;
            self.insert_rows(generation, &rows)?;
        }
        Ok(resolved)
    }

    /// Resolve again the events written or marked since `last`, and the
    /// sessions whose rollups they change, into `gen`. Each day they touch
    /// gets a layer (ADR 0036: the new rows, and which rows at `last` they
    /// replace), or is copied whole into `gen` without the rows replaced,
    /// once its layers would grow past a share of it. Rows are filled for
    /// the slots of `map`; those of the projects it gives new slots
    /// (`changed`) are all copied, filled again. The days copied whole (or
    /// new), the days layered, and the events resolved.
    fn update_state(
        &self,
        last: &Cut,
        now: &(Positions, Positions),
        generation: u64,
        map: &SlotMap,
        changed: &BTreeSet<String>,
    ) -> Result<(BTreeSet<u32>, BTreeSet<u32>, u64)> {
        let touched = self.written_since(last, now, None)?;
        let filler = slots::Filler::new(map);
        let mut days: BTreeSet<u32> = BTreeSet::new();
        // Per project, the events whose rows at `last` are replaced.
        let mut replaced: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        // The new rows, inserted as they fill a batch: however many events
        // were written since the last cut (a node that compacted none
        // for an hour), a compaction holds a batch of them at a time.
        let mut rows: Vec<StateRow> = Vec::new();
        let mut written = 0u64;
        let mut flush = |rows: &mut Vec<StateRow>, days: &mut BTreeSet<u32>| -> Result<()> {
            days.extend(rows.iter().map(|r| r.day));
            rows.sort_by_key(|r| r.day);
            self.insert_rows(generation, rows)?;
            written += rows.len() as u64;
            rows.clear();
            Ok(())
        };
        for (project, since) in &touched {
            let paths = self.state_paths(project)?;
            let mut gone: BTreeSet<u64> = BTreeSet::new();
            for chunk in since.chunks(self.compact_batch) {
                let mut folded = self.resolve_hashes(project, chunk, &paths)?;
                // The sessions they now name, and those their rows named.
                let named: BTreeSet<String> = folded
                    .iter()
                    .filter(|f| !f.is_session())
                    .map(|f| f.session_id().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                let mut asked: BTreeSet<u64> = chunk.iter().copied().collect();
                asked.extend(self.hashes_of(&named)?);
                let asked: Vec<u64> = asked.difference(&gone).copied().collect();
                let (sessions, at, _) = self.rows_at(project, last, &asked)?;
                days.extend(at);
                gone.extend(asked.iter().copied());
                let more: Vec<u64> = sessions.difference(&gone).copied().collect();
                let (_, at, _) = self.rows_at(project, last, &more)?;
                days.extend(at);
                gone.extend(more.iter().copied());
                // (Resolved again: the sessions whose rollups change, once,
                // and not the events written since, which a batch resolves.)
                let again: Vec<u64> = asked
                    .iter()
                    .chain(&more)
                    .filter(|h| since.binary_search(h).is_err())
                    .copied()
                    .collect();
                folded.extend(self.resolve_hashes(project, &again, &paths)?);
                for f in &self.with_rollups(folded)? {
                    rows.push(state_row(f, &filler));
                }
                if rows.len() >= self.compact_batch {
                    flush(&mut rows, &mut days)?;
                }
            }
            replaced.insert(project, gone.into_iter().collect());
        }
        flush(&mut rows, &mut days)?;
        // Every day with rows of a project given new slots: copied whole,
        // filled again.
        let mut refill: BTreeSet<u32> = BTreeSet::new();
        if !changed.is_empty() && !last.days.is_empty() {
            self.client.each_binary_row(
                &format!(
                    "SELECT day FROM hive_state WHERE {} AND project_id IN ({}) GROUP BY day",
                    last.rows(),
                    changed
                        .iter()
                        .map(|p| lit(p))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                |r| {
                    refill.insert(b::u32(r)?);
                    Ok(())
                },
            )?;
        }
        days.extend(refill.iter().copied());
        // A day with layers this compaction does not touch (no longer
        // written, as yesterday's once today's events are all that come):
        // copied whole, one a compaction, so that its rows are a
        // generation's whole again, whose groups charts keep (ADR 0030),
        // and reads of it look up no replaced rows.
        let at_last = last.by_day();
        let settle = at_last
            .iter()
            .find(|(d, gens)| gens.len() > 1 && !days.contains(*d))
            .map(|(d, _)| *d);
        days.extend(settle);
        // The projects copied apart: with rows replaced, or filled again.
        let apart: BTreeSet<&str> = replaced
            .keys()
            .copied()
            .chain(changed.iter().map(String::as_str))
            .collect();
        let projects: Vec<String> = apart.iter().map(|p| lit(p)).collect();
        // (A copy names the slots some project has, and leaves the others
        // empty.)
        let copy = |rows_of_day: &str, day: u32, cond: &str, columns: &str, filled: &str| {
            format!(
                "INSERT INTO hive_state (gen, day, project_id, hour, session_hash, id_hash, \
                 hashes, types, strs, nums, received_day, {columns}) SELECT toUInt64({generation}), \
                 day, project_id, hour, session_hash, id_hash, hashes, types, strs, nums, \
                 received_day, {filled} \
                 FROM hive_state WHERE day = {day} AND {rows_of_day} AND {cond}"
            )
        };
        let used = map.values().map(Vec::len).max().unwrap_or(0) + slots::FIXED.len();
        let as_they_are = slots::columns(used);
        let sizes = self.layer_sizes(&at_last, &days)?;
        let mut layered = BTreeSet::new();
        for &day in &days {
            // (A day no cut had: its new rows are its base.)
            let Some(gens) = at_last.get(&day) else {
                continue;
            };
            let from = |project: Option<&str>| last.rows_of_day(day, project);
            // A layer: the new rows alone, and the rows at `last` they
            // replace (ADR 0036), while the layers stay small beside the
            // base.
            let (base, extra) = sizes.get(&day).copied().unwrap_or((0, 0));
            if !refill.contains(&day)
                && settle != Some(day)
                && gens.len() < MAX_LAYERS
                && extra.saturating_mul(LAYER_SHARE) < base
                && extra < MAX_LAYERED
            {
                for (project, gone) in &replaced {
                    if gone.is_empty() {
                        continue;
                    }
                    self.client.exec_naming(
                        &format!(
                            "INSERT INTO hive_state_dead (gen, day, project_id, of_gen, id_hash) \
                             SELECT toUInt64({generation}), day, project_id, gen, id_hash \
                             FROM hive_state PREWHERE id_hash IN {NAMED} \
                             WHERE project_id = {} AND day = {day} AND {}",
                            lit(project),
                            from(Some(project))
                        ),
                        gone,
                    )?;
                }
                layered.insert(day);
                continue;
            }
            // Else the day is copied whole, without the rows replaced.
            let rest = match projects.is_empty() {
                true => "1".to_owned(),
                false => format!("project_id NOT IN ({})", projects.join(", ")),
            };
            self.client
                .exec(&copy(&from(None), day, &rest, &as_they_are, &as_they_are))?;
            for project in &apart {
                let (columns, filled) = match changed.contains(*project) {
                    true => {
                        let paths = slots::slot_paths(map, project);
                        (slots::columns(paths.len()), slots::sql(&paths, true))
                    }
                    false => (as_they_are.clone(), as_they_are.clone()),
                };
                let cond = format!("project_id = {}", lit(project));
                let from = from(Some(project));
                match replaced.get(project) {
                    Some(gone) => self.client.exec_naming(
                        &copy(
                            &from,
                            day,
                            &format!("{cond} AND id_hash NOT IN {NAMED}"),
                            &columns,
                            &filled,
                        ),
                        gone,
                    )?,
                    None => self
                        .client
                        .exec(&copy(&from, day, &cond, &columns, &filled))?,
                }
            }
        }
        let rebased = days.difference(&layered).copied().collect();
        Ok((rebased, layered, written))
    }

    /// Of each of `days` that `at` (each day's generations, its base
    /// first) names: its base's rows, and its layers' rows with the rows
    /// they replace (ADR 0036).
    fn layer_sizes(
        &self,
        at: &BTreeMap<u32, Vec<u64>>,
        days: &BTreeSet<u32>,
    ) -> Result<BTreeMap<u32, (u64, u64)>> {
        let pairs: Vec<(u32, u64)> = days
            .iter()
            .filter_map(|d| at.get(d).map(|gens| (*d, gens)))
            .flat_map(|(d, gens)| gens.iter().map(move |g| (d, *g)))
            .collect();
        let mut out: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
        if pairs.is_empty() {
            return Ok(out);
        }
        let named = Cut::pairs_cond(&pairs);
        self.client.each_binary_row(
            &format!("SELECT gen, day, count() FROM hive_state WHERE {named} GROUP BY gen, day"),
            |r| {
                let (g, d, n) = (b::u64(r)?, b::u32(r)?, b::u64(r)?);
                let size = out.entry(d).or_default();
                match at.get(&d).and_then(|gens| gens.first()) == Some(&g) {
                    true => size.0 += n,
                    false => size.1 += n,
                }
                Ok(())
            },
        )?;
        self.client.each_binary_row(
            &format!("SELECT day, count() FROM hive_state_dead WHERE {named} GROUP BY day"),
            |r| {
                let (d, n) = (b::u32(r)?, b::u64(r)?);
                out.entry(d).or_default().1 += n;
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// Drop the generations no cut that was current within [`GRACE`]
    /// names (and those no cut names after [`UNNAMED`]), the cuts long
    /// replaced, and the marks no cut in use has above it.
    fn collect_state(&self) -> Result<()> {
        let grace_ms = self.state_grace.as_millis() as i64;
        let now = now_ms();
        let mut cuts: Vec<(u64, i64, Vec<u64>)> = Vec::new();
        let mut positions: BTreeMap<u64, (Positions, Positions)> = BTreeMap::new();
        self.client.each_binary_row(
            "SELECT cut, at, gens, log_nodes, log_seqs, direct_nodes, direct_seqs \
             FROM hive_state_cuts ORDER BY cut",
            |r| {
                let (cut, at, gens) = (b::u64(r)?, b::i64(r)?, b::array(r, b::u64)?);
                let pairs = |n: Vec<String>, s: Vec<u64>| n.into_iter().zip(s).collect();
                let log = pairs(b::array(r, b::string)?, b::array(r, b::u64)?);
                let direct = pairs(b::array(r, b::string)?, b::array(r, b::u64)?);
                cuts.push((cut, at, gens));
                positions.insert(cut, (log, direct));
                Ok(())
            },
        )?;
        let Some(newest) = cuts.last().map(|c| c.0) else {
            return Ok(());
        };
        // A cut is in use while it is the newest, and for the grace time
        // after the next one was recorded.
        // So is a cut a compaction under way holds a lease on.
        let lapsed = now - UNNAMED.as_millis() as i64;
        let mut leased = BTreeSet::new();
        self.client.each_binary_row(
            &format!(
                "SELECT cut FROM hive_state_leases WHERE started >= {lapsed} \
                 GROUP BY node, cut, started HAVING max(done) = 0"
            ),
            |r| {
                leased.insert(b::u64(r)?);
                Ok(())
            },
        )?;
        let (mut keep, mut named) = (BTreeSet::new(), BTreeSet::new());
        let mut oldest_kept = newest;
        let mut in_use: Vec<&(Positions, Positions)> = Vec::new();
        for (i, (cut, _, gens)) in cuts.iter().enumerate() {
            named.extend(gens.iter().copied());
            let replaced_at = cuts.get(i + 1).map(|c| c.1);
            if leased.contains(cut) || replaced_at.is_none_or(|at| at >= now - grace_ms) {
                keep.extend(gens.iter().copied());
                oldest_kept = oldest_kept.min(*cut);
                in_use.extend(positions.get(cut));
            }
        }
        self.collect_marks(&in_use)?;
        let db = &self.client.endpoint().database;
        // (The groups charts keep of a generation's days, ADR 0030, and
        // the rows its layers replace, ADR 0036, go with it, and are
        // partitioned alike.)
        let mut partitions = Vec::new();
        self.client.each_binary_row(
            &format!(
                "SELECT table, partition FROM system.parts WHERE active AND database = {} \
                 AND table IN ('hive_state', 'hive_state_sums', 'hive_state_dead') \
                 GROUP BY table, partition",
                lit(db)
            ),
            |r| {
                partitions.push((b::string(r)?, b::string(r)?));
                Ok(())
            },
        )?;
        // (Generations are microseconds since 1970.)
        let before = |d: Duration| (now - d.as_millis() as i64).max(0) as u64 * 1000;
        for (table, p) in partitions {
            let Some((g, d)) = p
                .trim_matches(|c| c == '(' || c == ')')
                .split_once(',')
                .and_then(|(g, d)| {
                    Some((g.trim().parse::<u64>().ok()?, d.trim().parse::<u32>().ok()?))
                })
            else {
                continue;
            };
            let unused = if named.contains(&g) {
                !keep.contains(&g) && g < before(self.state_grace)
            } else {
                g < before(UNNAMED)
            };
            if unused {
                self.client.exec(&format!(
                    "ALTER TABLE {db}.{table} DROP PARTITION ({g}, {d})"
                ))?;
            }
        }
        if cuts.iter().filter(|c| c.0 < oldest_kept).count() >= 100 {
            self.client
                .mutate_delete("hive_state_cuts", &format!("cut < {oldest_kept}"))?;
        }
        // (Two rows a compaction: the lapsed go now and then.)
        let old = format!("started < {lapsed}");
        if self.client.count("hive_state_leases", &old)? >= 10_000 {
            self.client.mutate_delete("hive_state_leases", &old)?;
        }
        Ok(())
    }

    /// Delete the marks that no cut in use (`in_use`, each one's log and
    /// direct positions) has above it: every compaction since has resolved
    /// them. (Cuts are not ordered by their positions: compactions that
    /// overlap record theirs as they end, so each node's least position
    /// over the cuts in use is what bounds them.) A mark of a node some cut
    /// in use does not name is above that cut, and kept.
    fn collect_marks(&self, in_use: &[&(Positions, Positions)]) -> Result<()> {
        let Some(floor) = floor(in_use) else {
            return Ok(());
        };
        let (_, above) = floor.above();
        let dead = format!("NOT ({above})");
        // (A mutation rewrites the table's parts: only once enough have
        // gone dead, as a purge marks every event it deletes.)
        if self.client.count("hive_state_marks", &dead)? >= self.marks_kept {
            self.client.mutate_delete("hive_state_marks", &dead)?;
        }
        // (The batches' rows likewise, about a row a second per node: once
        // in about three hours.)
        if self.client.count("hive_applied", &dead)? >= self.marks_kept {
            self.client.mutate_delete("hive_applied", &dead)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(v: &[(&str, u64)]) -> Positions {
        v.iter().map(|(n, p)| ((*n).to_owned(), *p)).collect()
    }

    #[test]
    fn the_floor_of_cuts_is_each_nodes_least_position_they_all_name() {
        assert_eq!(floor(&[]), None);
        // A newer cut may hold lower positions than an older one (its
        // compaction began first).
        let older = (at(&[("a", 50), ("b", 9)]), at(&[("a", DIRECT + 4)]));
        let newer = (
            at(&[("a", 40), ("b", 12), ("c", 3)]),
            at(&[("a", DIRECT + 7), ("c", DIRECT + 1)]),
        );
        let f = floor(&[&older, &newer]).unwrap();
        assert_eq!(f.log, at(&[("a", 40), ("b", 9)]));
        assert_eq!(f.direct, at(&[("a", DIRECT + 4)]));
        assert_eq!(floor(&[&newer]).unwrap().log, newer.0);
    }
}
