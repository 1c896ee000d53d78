//! Applying a batch: every op becomes rows of `hive_writes` (append only;
//! nothing is read back and rewritten), after at most two lookups per batch
//! (where events live, which enrichments float).
//!
//! A write is identified by (node, seq, idx): for ops read from the ingest
//! log, the log position of their record and their index in it, so a batch
//! applied again after a crash inserts the same rows, which collapse.

use std::collections::{BTreeMap, BTreeSet};

use foldhash::{HashMap, HashSet};

use hive_core::model::{Event, NAMESPACES};
use serde_json::{Value, json};

use super::leaves::{Leaf, Leaves, NUM, STR, flatten, flatten_event, is_content};
use super::{ClickHouseStore, http::NAMED, http::lit, now_ms};
use crate::prepared::PreparedEvent;
use crate::{Result, WriteOp};

pub(super) const PLACEHOLDER: u8 = 0;
pub(super) const BASE: u8 = 1;
pub(super) const PATCH: u8 = 2;

/// Where each op lies in the log and when its record was received:
/// `(seq, idx, received)` per op (`None`: not known, taken as now).
pub(super) type Ids = Vec<(u64, u32, Option<i64>)>;

/// What the writer remembers between batches (only facts that are
/// permanent: an event that has a base keeps one).
#[derive(Default)]
pub(super) struct WriterState {
    /// (project, event) pairs known to have a real base.
    based: Pairs,
    /// (project, session) pairs known to have a row (a base or placeholder).
    sessions: Pairs,
}

/// Pairs each cache holds before it starts over.
const CACHE_LIMIT: usize = 500_000;

/// A set of (project, id) pairs held as 128-bit digests: two SipHashes
/// under keys drawn at random for the process (std's `RandomState`, made to
/// resist chosen collisions), so nothing outside the process can choose
/// ids that collide, and two pairs share a digest by chance with a
/// probability of about 10^-27 at the cache's bound. Held as texts, each
/// pair took two allocations and about 150 bytes, and each lookup two
/// allocations; as digests 17 bytes a slot and none (a node's peak under
/// 20 s of ingest, about 580 000 spans, went from 456–458 to 332–340 MiB).
pub(super) struct Pairs {
    set: HashSet<u128>,
    keys: [std::hash::RandomState; 2],
}

impl Default for Pairs {
    fn default() -> Pairs {
        Pairs {
            set: HashSet::default(),
            keys: [std::hash::RandomState::new(), std::hash::RandomState::new()],
        }
    }
}

impl Pairs {
    fn digest(&self, project: &str, id: &str) -> u128 {
        use std::hash::BuildHasher;
        let [a, b] = &self.keys;
        (u128::from(a.hash_one((project, id))) << 64) | u128::from(b.hash_one((project, id)))
    }

    fn contains(&self, (project, id): (&str, &str)) -> bool {
        self.set.contains(&self.digest(project, id))
    }

    /// The pairs of a batch the database now holds, once the cache is
    /// emptied if it is past its bound.
    fn remember(&mut self, pairs: &HashSet<(String, String)>) {
        if self.set.len() > CACHE_LIMIT {
            self.set = HashSet::default();
        }
        for (p, id) in pairs {
            let d = self.digest(p, id);
            self.set.insert(d);
        }
    }

    fn clear(&mut self) {
        self.set = HashSet::default();
    }
}

struct Row {
    project_id: String,
    event_id: String,
    kind: u8,
    ts: i64,
    seq: u64,
    idx: u32,
    received: i64,
    floating: bool,
    session_id: String,
    key_id: Option<String>,
    doc: String,
    raw: String,
    leaves: Leaves,
}

impl Row {
    /// The row as inserted: its columns, borrowed.
    fn out<'a>(&'a self, node: &'a str) -> RowOut<'a> {
        RowOut { row: self, node }
    }
}

/// A [`Row`] as `hive_writes` takes it (serialised straight from the row,
/// with no JSON value built in between).
struct RowOut<'a> {
    row: &'a Row,
    node: &'a str,
}

impl serde::Serialize for RowOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        /// A column of the leaves: a field of each leaf that is content
        /// (`.1`), or of each that is not, given the leaf and its place
        /// among all the row's leaves.
        struct Column<'a, T, F: Fn(usize, &'a Leaf) -> T>(&'a [Leaf], bool, F);
        impl<'a, T: serde::Serialize, F: Fn(usize, &'a Leaf) -> T> serde::Serialize for Column<'a, T, F> {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                s.collect_seq(
                    self.0
                        .iter()
                        .enumerate()
                        .filter(|(_, x)| is_content(&x.path) == self.1)
                        .map(|(i, x)| (self.2)(i, x)),
                )
            }
        }
        let r = self.row;
        let l = r.leaves.leaves.as_slice();
        let mut m = s.serialize_map(Some(23))?;
        m.serialize_entry("project_id", &r.project_id)?;
        m.serialize_entry("event_id", &r.event_id)?;
        m.serialize_entry("kind", &r.kind)?;
        m.serialize_entry("ts", &r.ts)?;
        m.serialize_entry("node", self.node)?;
        m.serialize_entry("seq", &r.seq)?;
        m.serialize_entry("idx", &r.idx)?;
        m.serialize_entry("received", &r.received)?;
        m.serialize_entry("floating", &u8::from(r.floating))?;
        m.serialize_entry("session_id", &r.session_id)?;
        m.serialize_entry("key_id", &r.key_id)?;
        m.serialize_entry("doc", &r.doc)?;
        m.serialize_entry("raw", &r.raw)?;
        // A number as stored: ClickHouse's JSON has no NaN or infinity.
        let finite = |n: f64| if n.is_finite() { n } else { 0.0 };
        // Content (schema 8) in columns of its own, with its places.
        m.serialize_entry("io_paths", &Column(l, true, |_, x: &Leaf| x.path.as_str()))?;
        m.serialize_entry("io_types", &Column(l, true, |_, x: &Leaf| x.ty))?;
        m.serialize_entry("io_strs", &Column(l, true, |_, x: &Leaf| x.s.as_str()))?;
        m.serialize_entry("io_nums", &Column(l, true, |_, x: &Leaf| finite(x.n)))?;
        m.serialize_entry("io_at", &Column(l, true, |i, _| i as u32))?;
        m.serialize_entry("paths", &Column(l, false, |_, x: &Leaf| x.path.as_str()))?;
        m.serialize_entry("types", &Column(l, false, |_, x: &Leaf| x.ty))?;
        // A base's own ids are its columns' (schema 6): not repeated in
        // its leaves, where they would be most of what cannot compress.
        let own = |x: &Leaf| r.kind < PATCH && own_id(x, &r.event_id, &r.session_id);
        // So is an integer's text (schema 9), which its number spells.
        let spelt = |x: &Leaf| r.kind < PATCH && integer_text(x);
        m.serialize_entry(
            "strs",
            &Column(
                l,
                false,
                |_, x: &Leaf| {
                    if own(x) || spelt(x) { "" } else { x.s.as_str() }
                },
            ),
        )?;
        m.serialize_entry(
            "nums",
            &Column(
                l,
                false,
                |_, x: &Leaf| if own(x) { 1.0 } else { finite(x.n) },
            ),
        )?;
        m.serialize_entry("lossy", &u8::from(r.leaves.lossy))?;
        m.end()
    }
}

/// Whether a base's leaf is one of its own ids, which schema 6 leaves out
/// of `strs`: its `event_id`, its `session_id`, and a `parent_id` that is
/// its session. Such a leaf is written as the empty string with the number
/// 1 (a string leaf's number is otherwise 0), and read back by
/// [`own_id_sql`] from the row's columns.
fn own_id(x: &Leaf, event_id: &str, session_id: &str) -> bool {
    x.ty == STR
        && !x.s.is_empty()
        && match x.path.as_str() {
            "event_id" => x.s == event_id,
            "session_id" | "parent_id" => x.s == session_id,
            _ => false,
        }
}

/// Whether a base's number leaf is an integer whose text its number spells
/// (`toString(toInt64(n))` gives it back to the byte), which schema 9
/// leaves out of `strs`: written as the empty string (a number's text is
/// never empty) and read back by [`own_id_sql`] and [`own_ids_sql`].
/// Timestamps, durations and token counts are such numbers, and their
/// texts were about 10 of the 16 bytes an event's `strs` took compressed.
pub(super) fn integer_text(x: &Leaf) -> bool {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    let digits = x.s.strip_prefix('-').unwrap_or(&x.s);
    x.ty == NUM
        && x.n.is_finite()
        && x.n.abs() < EXACT
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (!digits.starts_with('0') || x.s == "0")
        && x.s.parse::<i64>().is_ok_and(|i| i as f64 == x.n)
}

/// The text of a leaf of type `y`, string `s` and number `n` whose text
/// [`integer_text`] left out, else `s`.
fn integer_text_sql(y: &str, s: &str, n: &str) -> String {
    format!("if({y} = {NUM} AND {s} = '', toString(toInt64({n})), {s})")
}

/// A leaf's string as written (schemas 6 and 9): `s` at `path` (SQL over a
/// row of `hive_writes`, the leaf's type `y` and number `n`), the base's
/// own id it stands for, or the integer its number spells.
pub(super) fn own_id_sql(path: &str, y: &str, s: &str, n: &str) -> String {
    format!(
        "if(kind < {PATCH} AND {y} = {STR} AND {s} = '' AND {n} = 1 \
         AND {path} IN ('event_id', 'session_id', 'parent_id'), \
         if({path} = 'event_id', event_id, session_id), if(kind < {PATCH}, {}, {s}))",
        integer_text_sql(y, s, n)
    )
}

/// A leaf's number as written (schema 6): 0 where it marks an own id.
pub(super) fn own_id_num_sql(y: &str, s: &str, n: &str) -> String {
    format!("if(kind < {PATCH} AND {y} = {STR} AND {s} = '', 0, {n})")
}

/// [`own_id_sql`] over a row's arrays of leaves: `keys` (their paths, or
/// numbers standing for them: those of `event_id`, `session_id` and
/// `parent_id` given, or `None` when none of them is among the leaves),
/// `types`, `strs` and `nums`. (A lambda of ClickHouse 18.16 sees only its
/// arguments, so the row's ids come in as arrays.)
pub(super) fn own_ids_sql(
    keys: &str,
    types: &str,
    strs: &str,
    nums: &str,
    ids: Option<(&str, &str, &str)>,
) -> String {
    let integer = integer_text_sql("y", "s", "n");
    match ids {
        Some((e, i, p)) => format!(
            "if(kind < {PATCH}, arrayMap((k, y, s, n, e, i) -> \
             if(y = {STR} AND s = '' AND n = 1 AND k IN ({e}, {i}, {p}), if(k = {e}, e, i), \
             {integer}), {keys}, {types}, {strs}, {nums}, \
             replicate(event_id, {strs}), replicate(session_id, {strs})), {strs})"
        ),
        None => format!(
            "if(kind < {PATCH}, arrayMap((y, s, n) -> {integer}, {types}, {strs}, {nums}), {strs})"
        ),
    }
}

/// Lookups made once per batch.
#[derive(Default)]
struct Known {
    /// event id -> projects where it has a base.
    located: HashMap<String, Vec<String>>,
    /// event id -> projects where floating enrichments of it wait.
    floating: HashMap<String, Vec<String>>,
}

impl ClickHouseStore {
    /// Apply `ops` with their write ids; then record `position` if given.
    /// A deletion is carried out where it stands: the writes before it are
    /// inserted first, those after it once it is done (a mutation never
    /// touches rows inserted after it), so applying the batch again after
    /// a crash gives the same result. Deletions with no write between them
    /// (a page of a deletion by filter) are carried out together: a
    /// mutation rewrites the parts it touches whatever it removes, so one
    /// per table for the run rather than one per table for each.
    pub(super) fn apply_ops(
        &self,
        ops: &[WriteOp],
        ids: &Ids,
        position: Option<u64>,
    ) -> Result<()> {
        self.ensure_registered()?;
        let mut from = 0;
        let mut i = 0;
        while i < ops.len() {
            if !matches!(ops[i], WriteOp::Delete { .. }) {
                i += 1;
                continue;
            }
            if from < i {
                self.apply_writes(&ops[from..i], &ids[from..i], None)?;
            }
            let mut run = Vec::new();
            let (seq, first) = (ids[i].0, i);
            while let Some(WriteOp::Delete { project_id, target }) = ops.get(i) {
                run.push((project_id.as_str(), target));
                i += 1;
            }
            // (A batch that writes nothing: the position it moves past
            // bounds no read, ADR 0031.)
            self.record_applied(&ids[first..i], i64::MAX)?;
            // The events deleted, resolved again by the compaction whose
            // cut covers the deletion (ADR 0028).
            let gone = self.delete_events(&run)?;
            self.mark(seq, &gone)?;
            from = i;
        }
        self.apply_writes(&ops[from..], &ids[from..], position)
    }

    /// Delete sessions and events (an event with its session when it is
    /// one): every write of the events, and their lookups. Returns the
    /// events deleted (project, event).
    pub(super) fn delete_events(
        &self,
        targets: &[(&str, &crate::DeleteTarget)],
    ) -> Result<Vec<(String, String)>> {
        let mut deleted = Vec::new();
        // By project, in the order first named.
        let mut projects: Vec<(&str, Vec<&str>)> = Vec::new();
        for (project_id, target) in targets {
            let (crate::DeleteTarget::Session(id) | crate::DeleteTarget::Event(id)) = target;
            match projects.iter_mut().find(|(p, _)| p == project_id) {
                Some((_, named)) => named.push(id),
                None => projects.push((project_id, vec![id])),
            }
        }
        // The caches may say these sessions and events exist.
        {
            let mut state = super::lock(&self.writer);
            state.based.clear();
            state.sessions.clear();
        }
        for (project_id, named) in projects {
            // A session's events named it; an event that is no session is
            // named by none, so both targets are the id and what names it.
            // The lookup of a session's events knows them by their ids'
            // hashes (schema 14): those the writes say named it.
            let mut ids: Vec<String> = Vec::new();
            for list in in_lists(named.iter().copied()) {
                let p = lit(project_id);
                ids.extend(
                    self.client
                        .rows(&format!(
                            "SELECT DISTINCT event_id FROM hive_writes PREWHERE project_id = {p} \
                             AND id_hash IN ({}) WHERE session_id IN ({list})",
                            super::read::session_events_sql(project_id, &list)
                        ))?
                        .iter()
                        .map(|r| str_field(r, "event_id")),
                );
            }
            ids.extend(named.iter().map(|id| (*id).to_owned()));
            ids.sort_unstable();
            ids.dedup();
            let lists = in_lists(ids.iter().map(String::as_str));
            let mut present = 0;
            for list in &lists {
                present += self.client.count(
                    "hive_writes",
                    &format!("project_id = {} AND event_id IN ({list})", lit(project_id)),
                )?;
            }
            if present == 0 {
                continue;
            }
            deleted.extend(ids.iter().map(|id| (project_id.to_owned(), id.clone())));
            // Enrichments that floated before these events arrived, hidden
            // where they floated since their copies came here: they go with
            // their copies (found before the copies go).
            let mut originals = Vec::new();
            for list in &lists {
                originals
                    .extend(self.adopted_originals(project_id, &format!("event_id IN ({list})"))?);
            }
            for list in &lists {
                let cond = format!("project_id = {} AND event_id IN ({list})", lit(project_id));
                // The lookup's rows of these events, as their writes made
                // them: their hashes in the sessions they named (another
                // event would have to share a hash and a session with one
                // to lose its row), as literals: a replica carries out a
                // mutation itself, on the row alone.
                let (mut named, mut hashes) = (BTreeSet::new(), BTreeSet::new());
                for r in self.client.rows(&format!(
                    "SELECT DISTINCT session_id, id_hash FROM hive_writes PREWHERE {cond} \
                     WHERE session_id != ''"
                ))? {
                    named.insert(lit(&str_field(&r, "session_id")));
                    hashes.insert(match &r["id_hash"] {
                        Value::String(h) => h.clone(),
                        h => h.to_string(),
                    });
                }
                let (named, hashes): (Vec<String>, Vec<String>) =
                    (named.into_iter().collect(), hashes.into_iter().collect());
                self.client.mutate_delete("hive_writes", &cond)?;
                if !named.is_empty() {
                    self.client.mutate_delete(
                        "hive_session_events",
                        &format!(
                            "project_id = {} AND session_id IN ({}) AND id_hash IN ({})",
                            lit(project_id),
                            named.join(", "),
                            hashes.join(", ")
                        ),
                    )?;
                }
                // (The starts are keyed by the sessions and events.)
                self.client.mutate_delete(
                    "hive_starts",
                    &format!("project_id = {} AND key IN ({list})", lit(project_id)),
                )?;
            }
            self.delete_originals(&originals, None)?;
        }
        Ok(deleted)
    }

    /// The floating enrichments adopted into `project_id` (copied there
    /// when their event arrived, and hidden where they floated by a
    /// marker in `hive_adopted`) whose copies match `copies`, a condition
    /// on the project's writes: each as the project it floated in and its
    /// event. An original belongs to the project that adopted it, and goes
    /// when its copy goes (a deletion, retention), as SQLite, which moves
    /// the enrichment, removes it. Adoptions are rare: without a marker
    /// this reads nothing else.
    pub(super) fn adopted_originals(
        &self,
        project_id: &str,
        copies: &str,
    ) -> Result<Vec<(String, String)>> {
        if self
            .client
            .rows("SELECT 1 AS one FROM hive_adopted LIMIT 1")?
            .is_empty()
        {
            return Ok(Vec::new());
        }
        // A copy is its original with the project changed: the same event,
        // node, sequence and index.
        let rows = self.client.rows(&format!(
            "SELECT DISTINCT project_id, event_id FROM hive_writes \
             WHERE floating = 1 AND kind = {PATCH} AND (event_id, node, seq, idx) IN \
             (SELECT event_id, node, seq, idx FROM hive_writes WHERE project_id = {} \
              AND floating = 0 AND kind = {PATCH} AND ({copies}) \
              AND event_id IN (SELECT event_id FROM hive_adopted)) \
             ORDER BY project_id, event_id",
            lit(project_id)
        ))?;
        Ok(rows
            .iter()
            .map(|r| (str_field(r, "project_id"), str_field(r, "event_id")))
            .collect())
    }

    /// Delete adopted originals ([`Self::adopted_originals`]): with
    /// `received_before`, those received before it (retention; a marker
    /// and lookup left without originals go at the next sweep); without,
    /// all of them, and their markers and lookups.
    pub(super) fn delete_originals(
        &self,
        originals: &[(String, String)],
        received_before: Option<i64>,
    ) -> Result<()> {
        for (from, ids) in by_project(originals) {
            for list in in_lists(ids.into_iter()) {
                let cond = format!("project_id = {} AND event_id IN ({list})", lit(from));
                match received_before {
                    Some(before) => {
                        self.client.mutate_delete(
                            "hive_writes",
                            &format!("{cond} AND floating = 1 AND received < {before}"),
                        )?;
                    }
                    None => {
                        self.client
                            .mutate_delete("hive_writes", &format!("{cond} AND floating = 1"))?;
                        self.client.mutate_delete("hive_floating", &cond)?;
                        self.client.mutate_delete("hive_adopted", &cond)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Remove the markers and lookups of floating enrichments (in every
    /// project) that have no floating write left, as retention and
    /// deletions leave them. Both tables are small (enrichments sent
    /// before their event, by keys of no project), and the markers lie on
    /// a cluster's shards apart from their writes, so what goes is found
    /// through the whole cluster and named.
    fn sweep_floating(&self) -> Result<()> {
        for table in ["hive_floating", "hive_adopted"] {
            let rows = self.client.rows(&format!(
                "SELECT DISTINCT project_id, event_id FROM {table} \
                 WHERE (project_id, event_id) NOT IN \
                 (SELECT project_id, event_id FROM hive_writes WHERE floating = 1) \
                 ORDER BY project_id, event_id"
            ))?;
            let gone: Vec<(String, String)> = rows
                .iter()
                .map(|r| (str_field(r, "project_id"), str_field(r, "event_id")))
                .collect();
            for (p, ids) in by_project(&gone) {
                for list in in_lists(ids.into_iter()) {
                    self.client.mutate_delete(
                        table,
                        &format!("project_id = {} AND event_id IN ({list})", lit(p)),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// Remove the lookups (`hive_session_events`, `hive_starts`) of a
    /// project, or of every project, that name only events with no write
    /// left, as retention leaves them (ADR 0009).
    ///
    /// By default a mutation per table, each rewriting the table, with the
    /// remaining ids as its set. The set holds the ids' 64-bit hashes (at
    /// ten million events a mutation took 9 s with them and 47 s with the
    /// ids): a collision can only keep a row. A write that lands meanwhile
    /// either is in that set or adds rows of its own in a part the mutation
    /// does not touch, so no live row goes.
    ///
    /// On replicated tables each replica carries out a mutation itself, so
    /// its condition must read the row alone: current releases refuse one
    /// with a subquery there, and on 18.16 a replica that fetched a lookup
    /// before the writes it stands for would drop it. Both tables are
    /// partitioned by the month their writes were received in, so a
    /// project's rows of the months before `before_ms`'s are removed
    /// instead: every write of those months was received before it and
    /// has gone. Rows of that month itself stay until the next month's
    /// sweep; they only name events a read then finds no writes for.
    pub(super) fn sweep_lookups(&self, project_id: Option<&str>, before_ms: i64) -> Result<()> {
        if self.sweep_by_month {
            if let Some(p) = project_id {
                self.sweep_months(p, before_ms)?;
            }
        } else {
            let writes = self.client.local_table("hive_writes");
            // Whose rows, and the hash of what names an event in a row.
            let (scope, hash) = match project_id {
                Some(p) => (format!("project_id = {} AND ", lit(p)), "cityHash64("),
                None => (String::new(), "cityHash64(project_id, "),
            };
            let gone = |column: &str, names: &str, cond: &str| {
                format!(
                    "{scope}{hash}{column}) NOT IN \
                     (SELECT {hash}{names}) FROM {writes} WHERE {scope}{cond})"
                )
            };
            // (The sessions' lookup holds the ids' hashes, schema 14: the
            // hash of a hash is as good a name.)
            self.client
                .mutate_delete("hive_session_events", &gone("id_hash", "id_hash", "1"))?;
            // The starts are keyed by events and by the sessions writes name.
            self.client.mutate_delete(
                "hive_starts",
                &gone("key", "arrayJoin([event_id, session_id])", "1"),
            )?;
        }
        // Floating enrichments' markers and lookups, of every project (an
        // adopted original lies in the project it floated in): named, so
        // alike on every replica.
        self.sweep_floating()
    }

    /// [`Self::sweep_lookups`] on replicated tables: a project's lookups
    /// of the months before the one `before_ms` lies in, by the server's
    /// reckoning of months (its time zone), which partitions the writes.
    /// Nothing is rewritten when there is nothing to remove, so a project
    /// costs a mutation per table once a month.
    fn sweep_months(&self, project_id: &str, before_ms: i64) -> Result<()> {
        // (Seconds held within this century: ClickHouse 18.16 reckons
        // months up to 2105 only, and the month of 2106 comes out as 1970.)
        let month = self
            .client
            .rows(&format!(
                "SELECT toYYYYMM(toDate(toDateTime(toUInt32(\
                 greatest(0, least(4102444799, intDiv({before_ms}, 1000))))))) AS m"
            ))?
            .first()
            .and_then(|r| r["m"].as_u64())
            .unwrap_or(0);
        for table in ["hive_session_events", "hive_starts"] {
            let cond = format!("project_id = {} AND month < {month}", lit(project_id));
            self.client.delete_any(table, &cond)?;
        }
        Ok(())
    }

    fn apply_writes(
        &self,
        ops: &[WriteOp],
        ids: &[(u64, u32, Option<i64>)],
        position: Option<u64>,
    ) -> Result<()> {
        let mut state = super::lock(&self.writer);
        let prepared: Vec<PreparedOrEnrich> = ops.iter().map(PreparedOrEnrich::of).collect();
        let known = self.lookups(&state, &prepared)?;
        let mut batch = BatchState {
            based: HashSet::default(),
            sessions: HashSet::default(),
            rows: Vec::new(),
            adopt: Vec::new(),
            floating: HashSet::default(),
        };
        let now = now_ms();
        for (i, op) in prepared.iter().enumerate() {
            let (seq, idx, received) = ids[i];
            match op {
                PreparedOrEnrich::Event(p) => self.event_rows(
                    &state,
                    &known,
                    &mut batch,
                    p,
                    seq,
                    idx,
                    received.unwrap_or(now),
                ),
                PreparedOrEnrich::Enrich(e) => {
                    self.enrich_rows(&state, &known, &mut batch, e, seq, idx)
                }
                PreparedOrEnrich::Delete => {}
            }
        }
        // Floating enrichments adopted by events of this batch: copies in
        // the event's project (same ids, so a replay collapses), then the
        // marker that hides the originals.
        let mut adopted_rows = Vec::new();
        let mut markers = Vec::new();
        for (from, to, event_id) in &batch.adopt {
            let rows = self.client.rows(&format!(
                "SELECT project_id, event_id, kind, ts, node, seq, idx, received, floating, \
                 session_id, key_id, doc, raw, paths, types, strs, nums, lossy, \
                 io_paths, io_types, io_strs, io_nums, io_at \
                 FROM hive_writes WHERE project_id = {} AND event_id = {} \
                 AND floating = 1 AND kind = {PATCH}",
                lit(from),
                lit(event_id)
            ))?;
            for mut r in rows {
                r["project_id"] = json!(to);
                r["floating"] = json!(0);
                adopted_rows.push(r);
            }
            markers.push(json!({"project_id": from, "event_id": event_id, "at": now}));
        }
        // (Before the writes: a read that sees them sees when they were
        // received, ADR 0031.)
        let least = batch
            .rows
            .iter()
            .map(|r| r.received)
            .chain(
                adopted_rows
                    .iter()
                    .map(|r| r["received"].as_i64().unwrap_or(0)),
            )
            .min();
        // (A batch of no rows moves the position too, none received; with
        // no write at all, past records set aside, up to `position`.)
        match (ids.is_empty(), position) {
            (true, Some(p)) if p > 0 => self.record_applied(&[(p - 1, 0, None)], i64::MAX)?,
            _ => self.record_applied(ids, least.unwrap_or(i64::MAX))?,
        }
        let rows: Vec<RowOut> = batch.rows.iter().map(|r| r.out(&self.node)).collect();
        self.client.insert("hive_writes", &rows)?;
        self.client.insert("hive_writes", &adopted_rows)?;
        self.client.insert("hive_adopted", &markers)?;
        // An adopted original is hidden where it floated: that event
        // changed there without a write (ADR 0028). Its copies keep its
        // position and the time it was received: the adopting event is
        // marked with that time (ADR 0031).
        if let Some(&(seq, _, _)) = ids.first() {
            let hidden: Vec<(String, String)> = batch
                .adopt
                .iter()
                .map(|(from, _, event_id)| (from.clone(), event_id.clone()))
                .collect();
            self.mark(seq, &hidden)?;
            let mut copied: BTreeMap<(String, String), i64> = BTreeMap::new();
            for r in &adopted_rows {
                let key = (
                    r["project_id"].as_str().unwrap_or_default().to_owned(),
                    r["event_id"].as_str().unwrap_or_default().to_owned(),
                );
                // (A time not read as a number bounds nothing.)
                let received = r["received"].as_i64().unwrap_or(0);
                let at = copied.entry(key).or_insert(i64::MAX);
                *at = (*at).min(received);
            }
            let copied: Vec<(String, String, i64)> =
                copied.into_iter().map(|((p, e), r)| (p, e, r)).collect();
            self.mark_received(seq, &copied)?;
        }
        if let Some(position) = position {
            self.client.insert(
                "hive_log_positions",
                &[json!({"node": self.node, "position": position})],
            )?;
            self.log_recorded
                .fetch_max(position, std::sync::atomic::Ordering::Relaxed);
        }
        // Only facts the database now holds enter the caches.
        state.based.remember(&batch.based);
        state.sessions.remember(&batch.sessions);
        Ok(())
    }

    /// Where the events the batch names live, and which float.
    fn lookups(&self, state: &WriterState, ops: &[PreparedOrEnrich]) -> Result<Known> {
        let mut locate: HashSet<&str> = HashSet::default();
        let mut bases: HashSet<&str> = HashSet::default();
        for op in ops {
            match op {
                PreparedOrEnrich::Event(p) => {
                    let e = &p.event;
                    bases.insert(&e.event_id);
                    if p.floating {
                        locate.insert(&e.session_id);
                    }
                    if p.join && !state.based.contains((&e.project_id, &e.event_id)) {
                        locate.insert(&e.event_id);
                    }
                    if !e.is_session() && !state.sessions.contains((&e.project_id, &e.session_id)) {
                        locate.insert(&e.session_id);
                    }
                }
                PreparedOrEnrich::Enrich(e) => {
                    if e.floating || !state.based.contains((e.project_id, e.event_id)) {
                        locate.insert(e.event_id);
                    }
                }
                PreparedOrEnrich::Delete => {}
            }
        }
        let mut known = Known::default();
        // (The ids travel beside the statements, as data: `rows_naming_ids`.)
        if !locate.is_empty() {
            let ids: Vec<&str> = locate.iter().copied().collect();
            for r in self.client.rows_naming_ids(
                &format!(
                    "SELECT DISTINCT event_id, project_id FROM hive_writes \
                     WHERE event_id IN {NAMED} AND kind = {BASE} ORDER BY event_id, project_id"
                ),
                &ids,
            )? {
                known
                    .located
                    .entry(str_field(&r, "event_id"))
                    .or_default()
                    .push(str_field(&r, "project_id"));
            }
        }
        if !bases.is_empty() {
            let ids: Vec<&str> = bases.iter().copied().collect();
            for r in self.client.rows_naming_ids(
                &format!(
                    "SELECT DISTINCT event_id, project_id FROM hive_floating \
                     WHERE event_id IN {NAMED} AND (project_id, event_id) NOT IN \
                     (SELECT project_id, event_id FROM hive_adopted)"
                ),
                &ids,
            )? {
                known
                    .floating
                    .entry(str_field(&r, "event_id"))
                    .or_default()
                    .push(str_field(&r, "project_id"));
            }
        }
        Ok(known)
    }

    #[allow(clippy::too_many_arguments)]
    fn event_rows(
        &self,
        state: &WriterState,
        known: &Known,
        batch: &mut BatchState,
        p: &PreparedEvent,
        seq: u64,
        idx: u32,
        received: i64,
    ) {
        // A floating event goes to the project of its session, if any.
        let relocated;
        let p = match p
            .floating
            .then(|| batch.locate(known, &p.event.session_id))
            .flatten()
        {
            Some(project) if project != p.event.project_id => {
                relocated = p.relocated(&project);
                &relocated
            }
            _ => p,
        };
        let e = &p.event;
        let key = (e.project_id.clone(), e.event_id.clone());
        let exists = state.based.contains((&e.project_id, &e.event_id))
            || batch.based.contains(&key)
            || known
                .located
                .get(&e.event_id)
                .is_some_and(|ps| ps.contains(&e.project_id));
        if p.join && exists {
            // A second start of a session that exists: its namespaces are
            // an enrichment.
            let patch = join_patch(e);
            batch.push(patch_row(
                &e.project_id,
                &e.event_id,
                &patch,
                None,
                e.start_time,
                false,
                seq,
                idx,
            ));
            return;
        }
        // The event's leaves, walked from it directly (those of the value
        // `doc_text` parses to, without the parse or the value). A base its
        // leaves spell exactly is not stored twice: its `doc` is left empty
        // and read back from the leaves (ADR 0008, migration 3).
        let (leaves, spelt) = flatten_event(e);
        let doc_text = if spelt {
            String::new()
        } else {
            p.doc_text().to_owned()
        };
        batch.push(Row {
            project_id: e.project_id.clone(),
            event_id: e.event_id.clone(),
            kind: BASE,
            ts: received,
            seq,
            idx,
            received,
            floating: false,
            session_id: e.session_id.clone(),
            key_id: None,
            leaves,
            doc: doc_text,
            raw: p.raw_text.clone().unwrap_or_default(),
        });
        batch.based.insert(key.clone());
        batch.sessions.insert(key);
        // Floating enrichments of this id written earlier in this batch
        // move here directly; their placeholder goes.
        if batch.floating.contains(&e.event_id) {
            batch.rows.retain_mut(|r| {
                if !r.floating || r.event_id != e.event_id {
                    return true;
                }
                if r.kind == PLACEHOLDER {
                    return false;
                }
                r.project_id = e.project_id.clone();
                r.floating = false;
                true
            });
        }
        // Floating enrichments of this id in the database move here.
        if let Some(from) = known.floating.get(&e.event_id) {
            for f in from {
                if !batch
                    .adopt
                    .iter()
                    .any(|(a, _, id)| a == f && id == &e.event_id)
                {
                    batch
                        .adopt
                        .push((f.clone(), e.project_id.clone(), e.event_id.clone()));
                }
            }
        }
        // The session of a new event gets a placeholder when unknown.
        let skey = (e.project_id.clone(), e.session_id.clone());
        if !e.is_session()
            && !state.sessions.contains((&e.project_id, &e.session_id))
            && !batch.sessions.contains(&skey)
            && !known
                .located
                .get(&e.session_id)
                .is_some_and(|ps| ps.contains(&e.project_id))
        {
            let mut ph = Event::placeholder_session(&e.session_id, &e.project_id, e.start_time);
            if let Some(name) = &p.session_name {
                ph.event_name = name.clone();
            }
            ph.source = e.source.clone();
            batch.push(placeholder_row(&ph, -e.start_time, false, seq, idx));
            batch.sessions.insert(skey);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn enrich_rows(
        &self,
        state: &WriterState,
        known: &Known,
        batch: &mut BatchState,
        e: &EnrichRef<'_>,
        seq: u64,
        idx: u32,
    ) {
        let (project_id, floating) = if e.floating {
            match batch.locate(known, e.event_id) {
                Some(p) => (p, false),
                None => (e.project_id.to_owned(), true),
            }
        } else {
            (e.project_id.to_owned(), false)
        };
        batch.push(patch_row(
            &project_id,
            e.event_id,
            e.patch,
            e.key_id.map(str::to_owned),
            e.received_at_ms,
            floating,
            seq,
            idx,
        ));
        let key = (project_id.clone(), e.event_id.to_owned());
        let has_base = state.based.contains((&project_id, e.event_id))
            || batch.based.contains(&key)
            || known
                .located
                .get(e.event_id)
                .is_some_and(|ps| ps.contains(&project_id));
        if !has_base && !batch.sessions.contains(&key) {
            // Visible at once as a placeholder session (the earliest
            // placeholder wins: its order is minus its time).
            let ph = Event::placeholder_session(e.event_id, &project_id, e.received_at_ms);
            batch.push(placeholder_row(&ph, -e.received_at_ms, floating, seq, idx));
            if !floating {
                batch.sessions.insert(key);
            }
        }
    }
}

struct BatchState {
    based: HashSet<(String, String)>,
    sessions: HashSet<(String, String)>,
    rows: Vec<Row>,
    /// (from project, to project, event id)
    adopt: Vec<(String, String, String)>,
    /// The ids of the floating rows pushed (some may have been adopted
    /// since), so a base looks for its floating rows only when it has any.
    floating: HashSet<String>,
}

impl BatchState {
    fn push(&mut self, row: Row) {
        if row.floating {
            self.floating.insert(row.event_id.clone());
        }
        self.rows.push(row);
    }

    /// The project that has a base of `event_id` (this batch first).
    fn locate(&self, known: &Known, event_id: &str) -> Option<String> {
        if let Some(ps) = known.located.get(event_id) {
            return ps.first().cloned();
        }
        self.based
            .iter()
            .find(|(_, e)| e == event_id)
            .map(|(p, _)| p.clone())
    }
}

fn placeholder_row(ph: &Event, ts: i64, floating: bool, seq: u64, idx: u32) -> Row {
    let doc = ph.to_json();
    Row {
        project_id: ph.project_id.clone(),
        event_id: ph.event_id.clone(),
        kind: PLACEHOLDER,
        ts,
        seq,
        idx,
        received: now_ms(),
        floating,
        session_id: ph.session_id.clone(),
        key_id: None,
        leaves: flatten(&doc, true),
        doc: doc.to_string(),
        raw: String::new(),
    }
}

#[allow(clippy::too_many_arguments)]
fn patch_row(
    project_id: &str,
    event_id: &str,
    patch: &Value,
    key_id: Option<String>,
    received_at: i64,
    floating: bool,
    seq: u64,
    idx: u32,
) -> Row {
    Row {
        project_id: project_id.to_owned(),
        event_id: event_id.to_owned(),
        kind: PATCH,
        ts: received_at,
        seq,
        idx,
        received: received_at,
        floating,
        session_id: patch
            .get("session_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        key_id,
        leaves: flatten(patch, false),
        doc: patch.to_string(),
        raw: String::new(),
    }
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

// One per op of a batch, briefly: boxing would add an allocation per event.
#[allow(clippy::large_enum_variant)]
enum PreparedOrEnrich<'a> {
    Event(std::borrow::Cow<'a, PreparedEvent>),
    Enrich(EnrichRef<'a>),
    /// Carried out apart ([`ClickHouseStore::apply_ops`]).
    Delete,
}

struct EnrichRef<'a> {
    project_id: &'a str,
    floating: bool,
    event_id: &'a str,
    patch: &'a Value,
    key_id: Option<&'a str>,
    received_at_ms: i64,
}

impl<'a> PreparedOrEnrich<'a> {
    fn of(op: &'a WriteOp) -> PreparedOrEnrich<'a> {
        match op {
            WriteOp::Event {
                event,
                raw,
                session_name,
                join,
                floating,
            } => PreparedOrEnrich::Event(std::borrow::Cow::Owned(PreparedEvent::new(
                event.clone(),
                raw.as_ref(),
                session_name.clone(),
                *join,
                *floating,
            ))),
            WriteOp::Prepared(p) => PreparedOrEnrich::Event(std::borrow::Cow::Borrowed(p)),
            WriteOp::Enrich {
                project_id,
                floating,
                event_id,
                patch,
                key_id,
                received_at_ms,
            } => PreparedOrEnrich::Enrich(EnrichRef {
                project_id,
                floating: *floating,
                event_id,
                patch,
                key_id: key_id.as_deref(),
                received_at_ms: *received_at_ms,
            }),
            WriteOp::Delete { .. } => PreparedOrEnrich::Delete,
        }
    }
}

pub(super) fn in_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<String> = items.map(lit).collect();
    if v.is_empty() {
        "''".to_owned()
    } else {
        v.join(", ")
    }
}

/// (project, event) pairs as each project (in the order first named) with
/// its events.
fn by_project(pairs: &[(String, String)]) -> Vec<(&str, Vec<&str>)> {
    let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
    for (p, e) in pairs {
        match out.iter_mut().find(|(q, _)| q == p) {
            Some((_, ids)) => ids.push(e),
            None => out.push((p, vec![e])),
        }
    }
    out
}

/// [`in_list`]s of at most about `LIST_BYTES` each, so a statement naming
/// many ids stays under the server's `max_query_size` (256 KiB by default).
pub(super) fn in_lists<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    const LIST_BYTES: usize = 96 << 10;
    let mut lists = Vec::new();
    let mut cur = String::new();
    for item in items {
        let l = lit(item);
        if !cur.is_empty() && cur.len() + l.len() + 2 > LIST_BYTES {
            lists.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push_str(", ");
        }
        cur.push_str(&l);
    }
    if !cur.is_empty() {
        lists.push(cur);
    }
    lists
}

pub(super) fn str_field(r: &Value, k: &str) -> String {
    r.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_caches_tell_pairs_apart_and_start_over_past_their_bound() {
        let mut pairs = Pairs::default();
        let batch: HashSet<(String, String)> = [("ab", "c"), ("p", "e1")]
            .iter()
            .map(|(p, e)| ((*p).to_owned(), (*e).to_owned()))
            .collect();
        pairs.remember(&batch);
        assert!(pairs.contains(("ab", "c")) && pairs.contains(("p", "e1")));
        // Where one text ends and the next begins is part of the pair.
        assert!(!pairs.contains(("a", "bc")) && !pairs.contains(("abc", "")));
        assert!(!pairs.contains(("p", "e2")) && !pairs.contains(("q", "e1")));
        // Another process draws other keys: the same pair, another digest.
        assert_ne!(Pairs::default().digest("p", "e1"), pairs.digest("p", "e1"));
        let many: HashSet<(String, String)> = (0..=CACHE_LIMIT)
            .map(|i| ("p".to_owned(), i.to_string()))
            .collect();
        pairs.remember(&many);
        assert!(pairs.contains(("ab", "c")), "within its bound it keeps all");
        pairs.remember(&HashSet::default());
        assert!(!pairs.contains(("ab", "c")), "past it, it starts over");
        pairs.remember(&batch);
        assert!(pairs.contains(("ab", "c")));
        pairs.clear();
        assert!(!pairs.contains(("p", "e1")));
    }

    fn leaf(text: &str) -> Leaf {
        let v: Value = serde_json::from_str(text).unwrap();
        flatten(&serde_json::json!({ "n": v }), true)
            .leaves
            .into_iter()
            .find(|l| l.path == "n")
            .unwrap()
    }

    /// Only a number whose text is the decimal of its value (what
    /// `toString(toInt64(n))` spells) goes without its text.
    #[test]
    fn integers_whose_number_spells_their_text() {
        for text in [
            "0",
            "3",
            "-5",
            "1700000000000",
            "9007199254740991",
            "-9007199254740991",
        ] {
            assert!(integer_text(&leaf(text)), "{text}");
        }
        for text in [
            "3.0",
            "-0.0",
            "2.5",
            "1e21",
            "1e3",
            "9007199254740992",
            "9007199254740993",
            "18446744073709551615",
            "-9223372036854775808",
        ] {
            assert!(!integer_text(&leaf(text)), "{text}");
        }
        assert!(!integer_text(&leaf("\"3\"")), "a string");
    }

    proptest! {
        /// Whatever number a document holds, a text left out is the one
        /// its value spells back.
        #[test]
        fn a_text_left_out_is_spelt_back(i in any::<i64>(), f in any::<f64>(), exp in 0usize..3) {
            let texts = [i.to_string(), serde_json::json!(f).to_string(), format!("{i}e{exp}")];
            for text in texts {
                let Ok(Value::Number(_)) = serde_json::from_str::<Value>(&text) else { continue };
                let x = leaf(&text);
                if integer_text(&x) {
                    prop_assert_eq!((x.n as i64).to_string(), x.s.clone());
                    prop_assert_eq!(&x.s, &text);
                }
            }
        }
    }
}
