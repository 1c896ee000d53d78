//! A chart's events written once, added up by ClickHouse (ADR 0027).
//!
//! Nine events in ten have a single write, their base, and such an event
//! is that base's leaves: nothing needs resolving, so nothing needs
//! sorting by event. A chart of many events first counts each event's
//! writes ([`ClickHouseStore::write_counts`] for a dated chart's events,
//! [`ClickHouseStore::write_counts_in`] range by range of ids for a whole
//! project's). The events with one base are then grouped in ClickHouse
//! ([`ClickHouseStore::add_up_singles`]) twice over:
//! - by what the event-level charts read of them: the leaves at their
//!   filters' and groups' paths and above, the start's hour (or minute),
//!   whether it lies in each chart's range, and for a chart of a metric,
//!   whether it is a number there, with the numbers' count, sum, least
//!   and greatest. The node builds each group's
//!   document from those leaves as the streamed read does
//!   ([`leaves::rebuild_parts`]) and asks [`Cells::cell_starting`] (or
//!   [`Cells::cell_key`]) where its events count;
//! - by session, for the rollups of the sessions (which are streamed):
//!   their events' number and earliest start. A chart that reads the rest
//!   of a rollup (costs, tokens, counts) is not planned.
//!
//! Every other event is streamed and resolved as before, and so is a base
//! whose start is not a number in `[0, 2^53)`, that is a session's
//! (`event_type` `session`), or whose totalled metric lies inside an array
//! or is too large for an integer's text: the grouping returns those by
//! themselves. A chart is not planned at all when it reads ids or content,
//! or a percentile (which needs every number), or when a path lies below
//! one it reads (its value there is an object, which no single leaf
//! gives).
//!
//! The counts and the groups are two statements. An event that gains a
//! write between them, or goes, changes the groups' number of rows or
//! their hashes' sum; the read then streams every event.

use hive_core::chart::{Aggregation, Bucket, Cell, Cells, ChartLevel, ChartQuery};

use super::super::ClickHouseStore;
use super::super::filter_sql::path_of;
use super::super::http::{NAMED, lit};
use super::super::leaves::{self, ARR, DERIVED, NUM, STR, is_ancestor, is_content};
use super::super::read::VISIBLE;
use super::super::slots;
use super::super::write::BASE;
use super::{Paths, SessionKey, rollup_inputs};
use crate::Result;

/// What the grouping reads, for the charts it serves.
pub(in crate::clickhouse) struct Plan {
    /// The paths whose leaf each group keeps: the event-level charts'
    /// filters' and groups' paths, their ancestors and `event_type`.
    keys: Vec<String>,
    /// Those of them asked for (not only above one asked for).
    asked: Vec<String>,
    segments: Vec<Vec<String>>,
    /// `event_type`'s place among `keys`.
    event_type: usize,
    /// The charts' metrics, which ClickHouse totals per group: a group
    /// holds events whose value there is, or is not, a number, with the
    /// numbers' count, sum, least and greatest.
    metrics: Vec<String>,
    /// The starts are grouped by this many milliseconds: every bucket of
    /// the charts served is a whole number of them, aligned.
    unit: i64,
    /// The event-level charts (their places among the charts read, and
    /// their metric's among `metrics` when totalled), whose cells the
    /// groups fill; session-level charts count sessions, which are
    /// streamed.
    charts: Vec<(usize, Option<usize>)>,
}

/// What a group adds to a chart's cells.
pub(in crate::clickhouse) enum Add {
    /// The cell, once per event.
    Times(Cell, u64),
    /// The cell, and the count, sum, least and greatest of its numbers.
    Totals((Option<String>, i64), u64, f64, f64, f64),
}

/// What the groups add to a read.
#[derive(Default)]
pub(in crate::clickhouse) struct Added {
    /// Per chart (its place), what each group adds to its cells.
    pub cells: Vec<(usize, Add)>,
    /// What the events add to their sessions' rollups, a session once
    /// (the groups are by session): their number and earliest start.
    pub rollups: Vec<(SessionKey, i64, i64)>,
    /// Bases the grouping left to the stream.
    pub streamed: Vec<u64>,
    /// How many events the groups hold.
    pub events: u64,
    /// The groups of each day kept (`Singles::State`'s `keep`), as read
    /// ([`add_kept`] reads them again).
    pub slices: Vec<(u32, Vec<u8>)>,
}

impl Added {
    /// Add what `other`'s groups add (its cells, streamed bases and
    /// events; not its rollups or slices).
    pub(in crate::clickhouse) fn add(&mut self, mut other: Added) {
        self.cells.append(&mut other.cells);
        self.streamed.append(&mut other.streamed);
        self.events += other.events;
    }
}

/// Which events [`ClickHouseStore::add_up_singles`] adds up.
pub(in crate::clickhouse) enum Singles<'a> {
    /// Those of the state's rows `rows` selects (a cut's, of some hours)
    /// but `unsettled` (by their hashes). Each row is its event, session
    /// events (their rollups in their rows) too. `slots`: the project's
    /// slot paths, whose leaves are read from the rows' slots (those of
    /// the fixed slots are in no other place); `slotted`: whether they
    /// hold every path asked for ([`Plan::unslotted`]), so no leaf is read
    /// from the arrays.
    State {
        rows: String,
        unsettled: &'a [u64],
        slots: &'a [String],
        slotted: bool,
        /// Days whose groups are kept as read ([`Added::slices`]): each
        /// lies whole in every chart's range, and `unsettled` has no row
        /// there.
        keep: &'a [u32],
        /// Bytes of a day's groups kept at most ([`MAX_KEPT`] but in tests).
        keep_max: usize,
    },
    /// These (by their hashes), each written once by a base when
    /// counted ([`ClickHouseStore::write_counts`]).
    Named(&'a [u64]),
    /// Those of a range of ids (`cond`) but `more`, `once` of them with
    /// hashes summing to `sum` when counted
    /// ([`ClickHouseStore::write_counts_in`]).
    InRange {
        cond: String,
        more: &'a [u64],
        once: u64,
        sum: u64,
    },
}

/// The top-level fields a base keeps in its columns rather than its
/// leaves (schema 6), and the project.
const OWN: [&str; 4] = ["event_id", "session_id", "parent_id", "project_id"];

/// The plan for charts `qs` of one project that read `read` (their
/// filters', metrics' and groups' paths), or `None` when the groups cannot
/// answer for their events.
/// `state`: for the rows of the events' state (ADR 0028), where a
/// session's row holds its rollup, so its charts are planned too.
pub(in crate::clickhouse) fn plan(
    project_id: Option<&str>,
    qs: &[ChartQuery],
    read: &[String],
    state: bool,
) -> Option<Plan> {
    project_id?;
    // A read of a rollup's totals needs its events' costs and tokens,
    // which are not grouped.
    if !state && rollup_inputs(read).len() != 4 {
        return None;
    }
    let touches = |p: &String, o: &str| p == o || is_ancestor(p, o) || is_ancestor(o, p);
    if read
        .iter()
        .any(|p| is_content(p) || OWN.iter().any(|o| touches(p, o)))
    {
        return None;
    }
    let events: Vec<usize> = (0..qs.len())
        .filter(|&i| state || qs[i].level == ChartLevel::Event)
        .collect();
    // A percentile needs every number, which a group does not keep.
    if events
        .iter()
        .any(|&i| matches!(qs[i].aggregation, Aggregation::Percentile(_)))
    {
        return None;
    }
    // Paths the groups are told apart by: every event-level chart's
    // filters and group. Metrics are totalled.
    let mut keyed: Vec<String> = vec!["event_type".into()];
    for &i in &events {
        keyed.extend(qs[i].filters.iter().map(|f| path_of(&f.field)));
        keyed.extend(qs[i].group_by.iter().map(path_of));
    }
    let mut metrics: Vec<String> = Vec::new();
    let mut charts = Vec::new();
    for &i in &events {
        let at = qs[i].metric.as_ref().map(|m| {
            let m = path_of(m);
            metrics.iter().position(|x| *x == m).unwrap_or_else(|| {
                metrics.push(m);
                metrics.len() - 1
            })
        });
        charts.push((i, at));
    }
    let by_hour = events.iter().all(|&i| qs[i].bucket != Bucket::Minute);
    let mut asked = keyed.clone();
    asked.sort();
    asked.dedup();
    let keys = Paths::new(keyed).at_and_above();
    let event_type = keys.iter().position(|k| k == "event_type")?;
    Some(Plan {
        segments: keys.iter().map(|k| leaves::segments(k)).collect(),
        keys,
        asked,
        event_type,
        metrics,
        unit: if by_hour { 3_600_000 } else { 60_000 },
        charts,
    })
}

impl Plan {
    /// The paths the plan reads (its keys asked for, its metrics and the
    /// start) that `slots` lacks: none, and the state's slots can answer.
    pub(in crate::clickhouse) fn unslotted(&self, slots: &[String]) -> Vec<String> {
        let mut out: Vec<String> = self
            .asked
            .iter()
            .chain(&self.metrics)
            .filter(|p| !slots.contains(p))
            .cloned()
            .collect();
        if !slots.iter().any(|p| p == "start_time") {
            out.push("start_time".into());
        }
        out
    }

    /// The paths the plan reads that are in `slots` (what a read records
    /// as used: `slots::Used`).
    pub(in crate::clickhouse) fn slotted(&self, slots: &[String]) -> Vec<String> {
        self.asked
            .iter()
            .chain(&self.metrics)
            .filter(|p| slots.contains(p))
            .cloned()
            .collect()
    }
}

impl ClickHouseStore {
    /// The events of `hashes` with a single write, a base, and the others,
    /// in one statement (events with no write are in neither).
    pub(in crate::clickhouse) fn write_counts(
        &self,
        project_id: &str,
        hashes: &[u64],
    ) -> Result<(Vec<u64>, Vec<u64>)> {
        let (mut once, mut more) = (Vec::new(), Vec::new());
        self.client.each_binary_row_naming(
            &format!(
                "SELECT id_hash, count() = 1 AND min(kind) = {BASE} FROM hive_writes \
                 PREWHERE id_hash IN {NAMED} WHERE project_id = {} AND {VISIBLE} \
                 GROUP BY id_hash",
                lit(project_id)
            ),
            Some(hashes),
            |r| {
                use super::super::http::binary as b;
                let h = b::u64(r)?;
                match b::u8(r)? {
                    1 => once.push(h),
                    _ => more.push(h),
                }
                Ok(())
            },
        )?;
        Ok((once, more))
    }

    /// Of the events of a range of ids (`cond`), those written more than
    /// once or not by a base (by their hashes), and how many were written
    /// once by a base and their hashes' sum, in one statement.
    pub(in crate::clickhouse) fn write_counts_in(
        &self,
        project_id: &str,
        cond: &str,
    ) -> Result<(Vec<u64>, u64, u64)> {
        let (mut more, mut once, mut sum) = (Vec::new(), 0, 0);
        self.client.each_binary_row(
            &format!(
                "SELECT if(single, toUInt64(0), id_hash) AS h, count(), sum(id_hash) FROM (\
                 SELECT id_hash, count() = 1 AND min(kind) = {BASE} AS single \
                 FROM hive_writes WHERE project_id = {} AND {cond} AND {VISIBLE} \
                 GROUP BY id_hash) GROUP BY h",
                lit(project_id)
            ),
            |r| {
                use super::super::http::binary as b;
                let (h, n, s) = (b::u64(r)?, b::u64(r)?, b::u64(r)?);
                if h == 0 {
                    (once, sum) = (n, s);
                } else {
                    more.push(h);
                }
                Ok(())
            },
        )?;
        Ok((more, once, sum))
    }

    /// The events `singles` selects (each with a single base when
    /// counted) added up for the charts `qs` as `plan` says; `None` when
    /// they are no longer what was counted (the read then streams them).
    pub(in crate::clickhouse) fn add_up_singles(
        &self,
        project_id: &str,
        qs: &[ChartQuery],
        plan: &Plan,
        singles: Singles<'_>,
    ) -> Result<Option<Added>> {
        let mut added = Added::default();
        let state = matches!(singles, Singles::State { .. });
        let (slots, slotted, slice, keep_max): (&[String], bool, &[u32], usize) = match &singles {
            Singles::State {
                slots,
                slotted,
                keep,
                keep_max,
                ..
            } => (slots, *slotted, keep, *keep_max),
            _ => (&[], false, &[], 0),
        };
        let (selected, named, expected) = match singles {
            Singles::State {
                rows, unsettled, ..
            } => (
                if unsettled.is_empty() {
                    format!("WHERE {rows}")
                } else {
                    format!("PREWHERE id_hash NOT IN {NAMED} WHERE {rows}")
                },
                unsettled,
                (0, 0),
            ),
            Singles::Named(once) => (
                format!("PREWHERE id_hash IN {NAMED} WHERE 1"),
                once,
                (
                    once.len() as u64,
                    once.iter().fold(0u64, |s, h| s.wrapping_add(*h)),
                ),
            ),
            Singles::InRange {
                cond,
                more,
                once,
                sum,
            } => (
                if more.is_empty() {
                    format!("WHERE {cond}")
                } else {
                    format!("PREWHERE id_hash NOT IN {NAMED} WHERE {cond}")
                },
                more,
                (once, sum),
            ),
        };
        if !state && expected.0 == 0 {
            return Ok(Some(added));
        }
        let sql = Statement {
            project_id,
            qs,
            plan,
            state,
            slots,
            slotted,
            selected: &selected,
            ranged: true,
            slice,
        }
        .sql();
        if slotted {
            self.slotted_reads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let mut tally = (0u64, 0u64);
        // (A day's groups past `keep_max` are not kept, nor held.)
        let mut slices: std::collections::BTreeMap<u32, Option<Vec<u8>>> = Default::default();
        self.client
            .each_binary_row_naming(&sql, (!named.is_empty()).then_some(named), |r| {
                use super::super::http::binary as b;
                // (A day whose groups are kept: its rows' bytes as read.)
                let day = if slice.is_empty() { 0 } else { b::u32(r)? };
                if day == 0 {
                    return take_group(r, project_id, qs, plan, &mut added, &mut tally);
                }
                let kept = slices.entry(day).or_insert_with(|| Some(Vec::new()));
                let past = match kept {
                    Some(out) => {
                        let mut tee = Tee { inner: r, out };
                        take_group(&mut tee, project_id, qs, plan, &mut added, &mut tally)?;
                        out.len() > keep_max
                    }
                    None => {
                        take_group(r, project_id, qs, plan, &mut added, &mut tally)?;
                        false
                    }
                };
                if past {
                    *kept = None;
                }
                Ok(())
            })?;
        if !state && tally != expected {
            return Ok(None);
        }
        added.slices = slices
            .into_iter()
            .filter_map(|(day, groups)| Some((day, groups?)))
            .collect();
        Ok(Some(added))
    }
}

/// The grouping statement of [`ClickHouseStore::add_up_singles`].
struct Statement<'a> {
    project_id: &'a str,
    qs: &'a [ChartQuery],
    plan: &'a Plan,
    /// Over the state's rows (else the writes').
    state: bool,
    slots: &'a [String],
    slotted: bool,
    /// The rows read: `WHERE …` or `PREWHERE … WHERE …`.
    selected: &'a str,
    /// Whether each chart's range is told apart (`f…`); else every row
    /// is in every chart's range (the state's days a chart holds whole).
    ranged: bool,
    /// The state's days whose groups are told apart by a first column
    /// (`0` for the others'); none: no such column.
    slice: &'a [u32],
}

impl Statement<'_> {
    fn sql(&self) -> String {
        let Statement {
            project_id,
            qs,
            plan,
            state,
            slots,
            slotted,
            selected,
            ranged,
            slice,
        } = *self;
        // Each row's leaves at the kept paths, its start, and the totalled
        // metrics (whether a number, and which). Rows are read twice
        // (`part`): once into the charts' groups (every row, which the
        // counts check), once into their sessions' (those added up).
        // (With slots, a path's leaf is its slot's columns; a row where a
        // path above one read holds a leaf is left to the stream.)
        let slot_of = |p: &str| slots.iter().position(|x| x == p);
        let mut not_above = String::new();
        let mut extract = vec![
            match slot_of("start_time") {
                Some(j) => format!("slot{j}_t AS t_s, slot{j}_n AS st"),
                None => "indexOf(hashes, cityHash64('start_time')) AS i_s, types[i_s] AS t_s, \
                         nums[i_s] AS st"
                    .to_owned(),
            },
            format!(
                "t_s = {NUM} AND st >= 0 AND st < 9007199254740992 AS st_ok, \
                 intDiv(toInt64(floor(if(st_ok, st, 0))), {}) AS u0",
                plan.unit
            ),
        ];
        // A group's column: what part 0 reads (the state has no other
        // part: as it is).
        let part0 = |x: &str, zero: &str, alias: &str| match state {
            true => format!("{x} AS {alias}"),
            false => format!("if(part = 0, {x}, {zero}) AS {alias}"),
        };
        let mut keyed = Vec::new();
        let mut names = Vec::new();
        if !slice.is_empty() {
            keyed.push(format!(
                "if(day IN ({}), day, toUInt32(0)) AS slice",
                slice
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            names.push("slice".to_owned());
        }
        keyed.extend([
            "part".to_owned(),
            part0("h0", "toUInt64(0)", "h"),
            match state {
                true => "'' AS sid".to_owned(),
                false => "if(part = 1, session_id, '') AS sid".to_owned(),
            },
            part0("u0", "0", "u"),
            part0("own0", "0", "own"),
        ]);
        // (The groups' columns by name, in the order read below.)
        names.extend(["part", "h", "sid", "u", "own"].map(str::to_owned));
        for (f, &(i, _)) in plan.charts.iter().enumerate() {
            let r = &qs[i].date_range;
            let mut cond = Vec::new();
            if ranged {
                if let Some(s) = r.start_ms {
                    cond.push(format!("st >= {}", float_sql(s)));
                }
                if let Some(e) = r.end_ms {
                    cond.push(format!("st <= {}", float_sql(e)));
                }
            }
            cond.push("1".into());
            keyed.push(part0(
                &format!("toUInt8({})", cond.join(" AND ")),
                "0",
                &format!("f{f}"),
            ));
            names.push(format!("f{f}"));
        }
        for (j, k) in plan.keys.iter().enumerate() {
            // (Only above a path asked for, which is in a slot: no leaf,
            // the same in every group, which it need not tell apart.)
            if slotted && slot_of(k).is_none() {
                keyed.push(format!(
                    "toUInt8(0) AS t{j}, '' AS s{j}, toFloat64(0) AS n{j}"
                ));
                continue;
            }
            extract.push(match slot_of(k) {
                Some(at) => {
                    not_above.push_str(&format!(" AND ty{j} != {}", slots::ABOVE));
                    format!("slot{at}_t AS ty{j}, slot{at}_s AS tx{j}, slot{at}_n AS nm{j}")
                }
                None => format!(
                    "indexOf(hashes, cityHash64({})) AS i{j}, types[i{j}] AS ty{j}, \
                     strs[i{j}] AS tx{j}, nums[i{j}] AS nm{j}",
                    lit(k)
                ),
            });
            keyed.push(format!(
                "{}, {}, {}",
                part0(&format!("ty{j}"), "0", &format!("t{j}")),
                part0(&format!("tx{j}"), "''", &format!("s{j}")),
                part0(&format!("nm{j}"), "0", &format!("n{j}"))
            ));
            names.push(format!("t{j}, s{j}, n{j}"));
        }
        // A metric's number is the leaf's at its path. One inside an array
        // (under an array's leaf, which may hold more elements than their
        // derived leaves, or a derived leaf itself), or too large for an
        // integer's text to spell, is left to the stream.
        let mut fit = Vec::new();
        let mut totals = Vec::new();
        for (a, m) in plan.metrics.iter().enumerate() {
            fit.push(format!(" AND mt{a} < {DERIVED} AND abs(v{a}) < 9.2e18"));
            keyed.push(part0(
                &format!("toUInt8(mt{a} = {NUM})"),
                "0",
                &format!("k{a}"),
            ));
            names.push(format!("k{a}"));
            totals.push(format!("sum(v{a}), min(v{a}), max(v{a})"));
            // (A slot's type says when a path above holds a leaf: `ABOVE`,
            // past `DERIVED`.)
            if let Some(at) = slot_of(m) {
                extract.push(format!(
                    "slot{at}_t AS mt{a}, if(mt{a} = {NUM}, slot{at}_n, 0) AS v{a}"
                ));
                continue;
            }
            extract.push(format!(
                "indexOf(hashes, cityHash64({})) AS mi{a}, types[mi{a}] AS mt{a}, \
                 if(mt{a} = {NUM}, nums[mi{a}], 0) AS v{a}",
                lit(m)
            ));
            let above = Paths::new([m.clone()]).at_and_above();
            for (b, path) in above.iter().filter(|p| *p != m).enumerate() {
                extract.push(match slot_of(path) {
                    Some(at) => format!("slot{at}_t AS ma{a}_{b}"),
                    None => format!(
                        "types[indexOf(hashes, cityHash64({}))] AS ma{a}_{b}",
                        lit(path)
                    ),
                });
                fit.push(format!(" AND ma{a}_{b} != {ARR} AND ma{a}_{b} < {DERIVED}"));
            }
        }
        let e = plan.event_type;
        // A state row is its event, sessions too: added up unless its
        // start or a metric needs the stream; `own0` says whether it is its
        // own session's (a session-level chart counts only those), by
        // hashes. A base is its event if it is no session's, whose cells
        // wait for its rollup; the groups add up those rollups' counts and
        // starts too (`part` 1).
        // (A state row is its own group's: nothing is read twice, so no
        // `ARRAY JOIN`, which cost about 15 % of the statement.)
        let source = if state {
            format!(
                "SELECT toUInt8(0) AS part, day, id_hash, '' AS session_id, \
                 toUInt8(session_hash = id_hash) AS own0, \
                 {extract}, if(st_ok{fit}{not_above}, toUInt64(0), id_hash) AS h0 \
                 FROM hive_state {selected} AND project_id = {project}",
                extract = extract.join(", "),
                fit = fit.concat(),
                project = lit(project_id),
            )
        } else {
            format!(
                "SELECT id_hash, session_id, toUInt8(0) AS own0, {extract}, \
                 if(kind = {BASE} AND st_ok{fit} \
                 AND NOT (ty{e} = {STR} AND tx{e} = 'session'), toUInt64(0), id_hash) AS h0 \
                 FROM hive_writes {selected} AND project_id = {project} AND {VISIBLE}",
                extract = extract.join(", "),
                fit = fit.concat(),
                project = lit(project_id),
            )
        };
        format!(
            "SELECT {keyed}, count(), min(st), sum(id_hash){comma}{totals} FROM ({source}) \
             {parts}GROUP BY {names}",
            keyed = keyed.join(", "),
            comma = if totals.is_empty() { "" } else { ", " },
            totals = totals.join(", "),
            parts = if state {
                ""
            } else {
                "ARRAY JOIN [0, 1] AS part WHERE part = 0 OR h0 = 0 "
            },
            names = names.join(", "),
        )
    }
}

/// How the groups of [`Statement`]'s rows are kept apart by the charts
/// that read them ([`state_shape`]); a change to what a group holds, or
/// how it is read, changes this.
const SHAPE_FORMAT: u32 = 1;

/// The shape of the state's groups for charts `qs` as `plan` reads them
/// (with the project's `slots`, `slotted` when they hold every path
/// read): what a day's groups are kept by (`hive_state_sums`, ADR 0030).
/// Two reads of one shape group a day's rows alike when the day lies
/// whole in each chart's range; charts whose groups differ in anything
/// but their ranges have different shapes.
pub(in crate::clickhouse) fn state_shape(
    qs: &[ChartQuery],
    plan: &Plan,
    slots: &[String],
    slotted: bool,
) -> u64 {
    use sha2::Digest;
    let sql = Statement {
        project_id: "",
        qs,
        plan,
        state: true,
        slots,
        slotted,
        selected: "WHERE 1",
        ranged: false,
        slice: &[],
    }
    .sql();
    let mut h = sha2::Sha256::new();
    let described = serde_json::json!([
        SHAPE_FORMAT,
        super::super::state::FORMAT,
        sql,
        plan.keys,
        plan.metrics,
        plan.unit,
        slots,
    ]);
    h.update(described.to_string().as_bytes());
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().unwrap_or_default())
}

/// Bytes of one day's groups kept at most (ADR 0030): a chart grouped by
/// a key of many values (a user's id) has about as many groups as events,
/// which are not worth keeping.
pub(in crate::clickhouse) const MAX_KEPT: usize = 1 << 20;

/// A reader that keeps a copy of what it reads.
struct Tee<'a> {
    inner: &'a mut dyn std::io::BufRead,
    out: &'a mut Vec<u8>,
}

impl std::io::Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// Add groups kept as read ([`Added::slices`]) to `added`.
pub(in crate::clickhouse) fn add_kept(
    project_id: &str,
    qs: &[ChartQuery],
    plan: &Plan,
    mut groups: &[u8],
    added: &mut Added,
) -> Result<()> {
    let mut tally = (0, 0);
    while !groups.is_empty() {
        take_group(&mut groups, project_id, qs, plan, added, &mut tally)?;
    }
    Ok(())
}

/// Read one group of [`Statement`]'s rows (after its `slice`) into
/// `added`, and its events' number and hashes' sum into `tally`.
fn take_group<R: std::io::Read + ?Sized>(
    r: &mut R,
    project_id: &str,
    qs: &[ChartQuery],
    plan: &Plan,
    added: &mut Added,
    tally: &mut (u64, u64),
) -> Result<()> {
    use super::super::http::binary as b;
    let (charts, metrics) = (plan.charts.len(), plan.metrics.len());
    let part = b::u8(r)?;
    let h = b::u64(r)?;
    let session = b::string(r)?;
    let u = b::i64(r)?;
    let own = b::u8(r)? != 0;
    let mut flags = Vec::with_capacity(charts);
    for _ in 0..charts {
        flags.push(b::u8(r)? != 0);
    }
    let mut leaves = Vec::with_capacity(plan.keys.len());
    for j in 0..plan.keys.len() {
        let (ty, s, n) = (b::u8(r)?, b::string(r)?, b::f64(r)?);
        leaves.push((j, ty, s, n));
    }
    let mut numeric = Vec::with_capacity(metrics);
    for _ in 0..metrics {
        numeric.push(b::u8(r)? != 0);
    }
    let count = b::u64(r)?;
    let earliest = b::f64(r)?;
    let hashes = b::u64(r)?;
    let mut totals = Vec::with_capacity(metrics);
    for _ in 0..metrics {
        totals.push((b::f64(r)?, b::f64(r)?, b::f64(r)?));
    }
    if part == 1 {
        added.rollups.push((
            SessionKey::new(project_id, &session),
            i64::try_from(count).unwrap_or(i64::MAX),
            earliest.floor() as i64,
        ));
        return Ok(());
    }
    tally.0 = tally.0.wrapping_add(count);
    tally.1 = tally.1.wrapping_add(hashes);
    if h != 0 {
        added.streamed.push(h);
        return Ok(());
    }
    added.events += count;
    // The base's leaves as the stream takes them: an integer written
    // without its text is the integer its number spells (schema 9); a
    // type 0 is no leaf (a base writes a null as present).
    let doc = leaves::rebuild_parts(leaves.into_iter().filter(|l| l.1 != 0).map(
        |(j, ty, s, n)| {
            let s = if ty == NUM && s.is_empty() {
                (n as i64).to_string()
            } else {
                s
            };
            (plan.segments[j].as_slice(), ty, s)
        },
    ));
    let start = u.saturating_mul(plan.unit);
    // (A session-level chart counts a session's own event; the rebuilt
    // document holds neither id, which `Cells` would compare.)
    let own_session =
        own && doc.get("event_type").and_then(serde_json::Value::as_str) == Some("session");
    for (f, &(i, metric)) in plan.charts.iter().enumerate() {
        if !flags[f] || (qs[i].level == ChartLevel::Session && !own_session) {
            continue;
        }
        match metric {
            None => {
                if let Some(cell) = Cells::cell_starting(&qs[i], &doc, start) {
                    added.cells.push((i, Add::Times(cell, count)));
                }
            }
            Some(a) => {
                if numeric[a]
                    && let Some(key) = Cells::cell_key(&qs[i], &doc, start)
                {
                    let (s, lo, hi) = totals[a];
                    added.cells.push((i, Add::Totals(key, count, s, lo, hi)));
                }
            }
        }
    }
    Ok(())
}

/// A float as a literal ClickHouse reads back to the same number.
fn float_sql(x: f64) -> String {
    if x.is_finite() {
        format!("{x:?}")
    } else if x > 0.0 {
        "inf".into()
    } else if x < 0.0 {
        "-inf".into()
    } else {
        "nan".into()
    }
}
