//! Lists and charts decided in ClickHouse: the SQL resolves every value a
//! query reads per event (the last-writer-wins rule of
//! [`super::filter_sql`]), widens each session's start to its events' as
//! the rollup does, filters, orders and pages, or aggregates, and only the
//! page is folded in Rust. Each row also says whether the SQL can decide it
//! (a value of an array too large to index, `contains` on an object built
//! by several writes, a session's rollup counters, a start that is not a
//! number, ...); when any row of the query cannot be decided, the caller
//! falls back to folding the candidates ([`super::query`]), which is exact
//! by construction.

use std::collections::BTreeMap;

use hive_core::chart::{
    Aggregation, Bucket, ChartLevel, ChartQuery, Point, Series, aggregate, finish,
};
use hive_core::filter::{FieldRef, Filter};
use serde_json::Value;

use super::ClickHouseStore;
use super::filter_sql::{Compiler, UNKNOWN, canonical_indices, inner, num, path_of, rollup_owned};
use super::write::str_field;
use crate::query::MAX_LIMIT;
use crate::{EventPage, EventQuery, Level, Order, Result};

/// The parts of a resolved value `rN`: state (type, `% 16` drops the
/// "inside an array" flag), raw type, text, number.
fn st(r: &str) -> String {
    format!("(tupleElement({r}, 1) % 16)")
}
fn raw(r: &str) -> String {
    format!("tupleElement({r}, 1)")
}
fn txt(r: &str) -> String {
    format!("tupleElement({r}, 2)")
}
fn n(r: &str) -> String {
    format!("tupleElement({r}, 3)")
}

/// What a scan keeps per event besides its id.
struct Scan {
    /// Per-event columns computed before grouping by session.
    cols: Vec<(String, String)>,
    compiler: Compiler,
    scope: String,
}

impl Scan {
    fn new(project_id: Option<&str>) -> Scan {
        Scan {
            cols: Vec::new(),
            compiler: Compiler::default(),
            scope: ClickHouseStore::project_cond(project_id),
        }
    }

    fn col(&mut self, name: &str, expr: String) {
        self.cols.push((name.to_owned(), expr));
    }

    /// The columns every scan has: whether the event is a session (by
    /// type: it gets a rollup; by document: `event_id == session_id`), the
    /// session it belongs to, its own start.
    fn base(&mut self) {
        let et = self.compiler.resolve("event_type");
        let sid = self.compiler.resolve("session_id");
        let eid = self.compiler.resolve("event_id");
        let start = self.compiler.resolve("start_time");
        self.col(
            "typed",
            format!("({} IN (1, 6) AND {} = 'session')", st(&et), txt(&et)),
        );
        self.col(
            "sid_s",
            format!("if({} IN (1, 6), {}, '')", st(&sid), txt(&sid)),
        );
        // `event_id == session_id` as JSON values: strings, or both absent
        // or both null; anything else is left undecided.
        self.col(
            "ids_und",
            format!(
                "({} NOT IN (0, 1, 6, 7) OR {} NOT IN (0, 1, 6, 7))",
                st(&eid),
                st(&sid)
            ),
        );
        self.col(
            "ids_eq",
            format!(
                "(({e} IN (1, 6) AND {s} IN (1, 6) AND {et} = {st}) OR ({e} = {s} AND {e} IN (0, 7)))",
                e = st(&eid),
                s = st(&sid),
                et = txt(&eid),
                st = txt(&sid)
            ),
        );
        self.col("st_st", st(&start));
        self.col("st_n", n(&start));
        // `as_i64`: an integer's text; 19 digits or more are left undecided.
        self.col(
            "st_int",
            format!(
                "({} = 2 AND match({}, '^-?[0-9]{{1,18}}$'))",
                st(&start),
                txt(&start)
            ),
        );
        self.col(
            "st_int_und",
            format!(
                "({} = 2 AND match({}, '^-?[0-9]{{19,}}$'))",
                st(&start),
                txt(&start)
            ),
        );
        self.col("st_i", format!("toInt64OrZero({})", txt(&start)));
    }

    /// Filter verdicts: `f_in` (every filter holds, surely), `f_out` (one
    /// surely fails).
    fn filters(&mut self, filters: &[Filter]) {
        let mut ins = vec!["1".to_owned()];
        let mut outs = vec!["0".to_owned()];
        for f in filters {
            let (exact, mut und) = self.compiler.parts(f);
            if rollup_owned(&path_of(&f.field)) {
                und = format!("({und} OR typed)");
            }
            ins.push(format!("({exact} AND NOT {und})"));
            outs.push(format!("(NOT {exact} AND NOT {und})"));
        }
        self.col("f_in", format!("({})", ins.join(" AND ")));
        self.col("f_out", format!("({})", outs.join(" OR ")));
    }

    /// The SQL of the scan: one row per event with its columns and its
    /// session's earliest event start (`ms`, when `has_ms`), as
    /// `ev.1` (event id), `ev.2`... in the order of `cols`.
    fn sql(&self) -> String {
        // The per-event layer: the resolved values, then the columns.
        let cols: Vec<String> = self
            .cols
            .iter()
            .map(|(name, e)| format!("{e} AS {name}"))
            .collect();
        let per_event = format!(
            "SELECT project_id, event_id, {} FROM ({})",
            cols.join(", "),
            inner(&self.scope, &self.compiler)
        );
        let names: Vec<&str> = self.cols.iter().map(|(n, _)| n.as_str()).collect();
        // Group by session: a session-typed event is its own key, other
        // events go with their session; the rollup's start is the
        // smallest integer start of the non-session events.
        format!(
            "SELECT project_id, k, groupArray(tuple(event_id, {})) AS evs, \
             minIf(st_i, member) AS ms, max(member) AS has_ms FROM \
             (SELECT *, if(typed, event_id, sid_s) AS k, (NOT typed AND st_int) AS member \
             FROM ({per_event})) GROUP BY project_id, k",
            names.join(", ")
        )
    }

    /// The expression of a column after the `ARRAY JOIN evs AS ev`.
    fn at(&self, name: &str) -> String {
        let i = self
            .cols
            .iter()
            .position(|(n, _)| n == name)
            .expect("a column of the scan");
        format!("tupleElement(ev, {})", i + 2)
    }
}

/// The start a document has after its rollup: a session-typed event's
/// own integer start widened to its events', others their own number.
/// Returns (is a number, value, cannot decide) as SQL.
fn effective_start(s: &Scan, for_list: bool) -> (String, String, String) {
    let typed = s.at("typed");
    let st_st = s.at("st_st");
    let st_int = s.at("st_int");
    let st_i = s.at("st_i");
    let session_start =
        format!("if({st_int}, if(has_ms, least({st_i}, ms), {st_i}), if(has_ms, ms, toInt64(0)))");
    let value = format!(
        "if({typed}, toFloat64({session_start}), if({st_st} = 2, {}, toFloat64(0)))",
        s.at("st_n")
    );
    let number = format!("({typed} OR {st_st} = 2)");
    // Lists order strings and booleans as SQLite would: left to the fold.
    let own_und = if for_list {
        format!("{st_st} NOT IN (0, 2, 7)")
    } else {
        format!("{st_st} = {UNKNOWN}")
    };
    let und = format!(
        "(({typed} AND {}) OR (NOT {typed} AND {own_und}))",
        s.at("st_int_und")
    );
    (number, value, und)
}

/// The date range on the effective start: (surely in, surely out).
fn range(number: &str, value: &str, lo: Option<f64>, hi: Option<f64>) -> (String, String) {
    let mut ins = vec!["1".to_owned()];
    let mut outs = vec!["0".to_owned()];
    if let Some(lo) = lo {
        ins.push(format!("{value} >= {}", num(lo)));
        outs.push(format!("{value} < {}", num(lo)));
    }
    if let Some(hi) = hi {
        ins.push(format!("{value} <= {}", num(hi)));
        outs.push(format!("{value} > {}", num(hi)));
    }
    if lo.is_some() || hi.is_some() {
        // Without a start, an event is outside any range.
        (
            format!("({number} AND {})", ins.join(" AND ")),
            format!("(NOT {number} OR {})", outs.join(" OR ")),
        )
    } else {
        ("1".to_owned(), "0".to_owned())
    }
}

/// Whether the SQL resolves this field exactly: a path the leaves spell,
/// not one of a session's rollup (those are computed on read: with any
/// session in scope the SQL could not decide, so such reads go straight to
/// the fold instead of finding that out first).
fn plain(f: &FieldRef) -> bool {
    let p = path_of(f);
    canonical_indices(&p) && !rollup_owned(&p)
}

impl ClickHouseStore {
    /// [`crate::Store::query`] in SQL, or `None` when the SQL cannot decide
    /// it (the caller folds the candidates).
    pub(super) fn sql_query(&self, q: &EventQuery) -> Result<Option<EventPage>> {
        let desc = match (q.level, q.order) {
            (Level::Session, _) => return Ok(None),
            (_, Order::StartAsc) => false,
            (_, Order::StartDesc) => true,
            _ => return Ok(None),
        };
        if !q.filters.iter().all(|f| plain(&f.field)) {
            return Ok(None);
        }
        let mut s = Scan::new(q.project_id.as_deref());
        s.base();
        s.filters(&q.filters);
        let sql = s.sql();
        let (number, value, start_und) = effective_start(&s, true);
        let (r_in, r_out) = range(&number, &value, q.date_range.start_ms, q.date_range.end_ms);
        let (level_in, level_out) = if q.level == Level::SessionEvent {
            let (typed, eq, und) = (s.at("typed"), s.at("ids_eq"), s.at("ids_und"));
            (
                format!("({typed} AND {eq} AND NOT {und})"),
                format!("(NOT {typed} OR (NOT {eq} AND NOT {und}))"),
            )
        } else {
            ("1".to_owned(), "0".to_owned())
        };
        let (f_in, f_out) = (s.at("f_in"), s.at("f_out"));
        let is_in = format!("({f_in} AND {level_in} AND {r_in} AND NOT {start_und})");
        let is_out = format!("({f_out} OR {level_out} OR ({r_out} AND NOT {start_und}))");
        let dir = if desc { "DESC" } else { "ASC" };
        let limit = q.limit.clamp(1, MAX_LIMIT);
        let sql = format!(
            "SELECT project_id, tupleElement(ev, 1) AS event_id, und FROM \
             (SELECT project_id, ev, {is_in} AS yes, NOT yes AND NOT {is_out} AS und, \
             {number} AS cls, {value} AS start FROM ({sql}) ARRAY JOIN evs AS ev) \
             WHERE yes OR und \
             ORDER BY und DESC, cls {dir}, start {dir}, project_id {dir}, event_id {dir} \
             LIMIT {}",
            q.offset.saturating_add(limit)
        );
        let (rows, total) = self.client.rows_and_total(&sql)?;
        if rows.first().is_some_and(|r| r["und"].as_u64() == Some(1)) {
            return Ok(None);
        }
        let total = match total {
            Some(t) => t,
            None => return Ok(None),
        };
        let page: Vec<(String, String)> = rows
            .iter()
            .skip(q.offset)
            .map(|r| (str_field(r, "project_id"), str_field(r, "event_id")))
            .collect();
        let mut by_project: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (p, e) in &page {
            by_project.entry(p).or_default().push(e);
        }
        let mut folded = Vec::new();
        for (p, ids) in by_project {
            folded.extend(self.fold_ids(Some(p), &ids)?);
        }
        let mut docs: std::collections::HashMap<(String, String), Value> = self
            .with_rollups(folded)?
            .into_iter()
            .map(|f| ((f.project_id, f.event_id), f.doc))
            .collect();
        let events = page.iter().filter_map(|k| docs.remove(k)).collect();
        Ok(Some(EventPage { events, total }))
    }

    /// [`crate::Store::chart`] aggregated in SQL, or `None` when the SQL
    /// cannot decide it.
    pub(super) fn sql_chart(
        &self,
        project_id: Option<&str>,
        q: &ChartQuery,
    ) -> Result<Option<Vec<Series>>> {
        if q.metric.as_ref().is_some_and(|m| !plain(m))
            || q.group_by.as_ref().is_some_and(|g| !plain(g))
            || !q.filters.iter().all(|f| plain(&f.field))
        {
            return Ok(None);
        }
        let mut s = Scan::new(project_id);
        s.base();
        s.filters(&q.filters);
        // The metric: a number, or (rollup paths of sessions) undecided.
        match &q.metric {
            None => {
                s.col("v_ok", "1".into());
                s.col("v", "toFloat64(1)".into());
                s.col("v_und", "0".into());
            }
            Some(m) => {
                let p = path_of(m);
                let r = s.compiler.resolve(&p);
                s.col("v_ok", format!("{} = 2", st(&r)));
                s.col("v", n(&r));
                let rollup = if rollup_owned(&p) { " OR typed" } else { "" };
                s.col("v_und", format!("({} = {UNKNOWN}{rollup})", st(&r)));
            }
        }
        // The group: text as `group_key` renders it; numbers other than
        // integers and objects built by writes are left to the fold.
        match &q.group_by {
            None => {
                s.col("g_null", "1".into());
                s.col("g", "''".into());
                s.col("g_und", "0".into());
            }
            Some(g) => {
                let p = path_of(g);
                let r = s.compiler.resolve(&p);
                let (t, rt, x) = (st(&r), raw(&r), txt(&r));
                s.col("g_null", format!("{t} IN (0, 7)"));
                s.col("g", x.clone());
                let rollup = if rollup_owned(&p) { " OR typed" } else { "" };
                s.col(
                    "g_und",
                    format!(
                        "({t} = {UNKNOWN} OR {rt} = 5 OR ({t} = 2 AND NOT match({x}, '^-?[0-9]{{1,18}}$')){rollup})"
                    ),
                );
            }
        }
        let sql = s.sql();
        let (number, value, start_und) = effective_start(&s, false);
        let (r_in, r_out) = range(&number, &value, q.date_range.start_ms, q.date_range.end_ms);
        let (level_in, level_out) = if q.level == ChartLevel::Session {
            let (typed, eq, und) = (s.at("typed"), s.at("ids_eq"), s.at("ids_und"));
            (
                format!("({typed} AND {eq} AND NOT {und})"),
                format!("(NOT {typed} OR (NOT {eq} AND NOT {und}))"),
            )
        } else {
            ("1".to_owned(), "0".to_owned())
        };
        let x = format!("toInt64({value})");
        let (bucket, bucket_und) = match q.bucket {
            Bucket::Total => ("toInt64(0)".to_owned(), "0".to_owned()),
            Bucket::Month => (
                format!(
                    "toInt64(toUInt32(toStartOfMonth(toDateTime(intDiv({x}, 1000), 'UTC')))) * 86400000"
                ),
                format!("({x} < 0 OR {x} >= 4102444800000)"),
            ),
            b => {
                let (w, off) = b.fixed().expect("a fixed bucket");
                (
                    format!("({x} - {off}) - ((({x} - {off}) % {w}) + {w}) % {w} + {off}"),
                    "0".to_owned(),
                )
            }
        };
        // `toStartOfMonth` of a DateTime gives a Date: days since the epoch.
        let (f_in, f_out) = (s.at("f_in"), s.at("f_out"));
        let (v_ok, v_und) = (s.at("v_ok"), s.at("v_und"));
        let is_in = format!("({f_in} AND {level_in} AND {r_in} AND {v_ok} AND NOT {start_und})");
        let is_out = format!(
            "({f_out} OR {level_out} OR ({r_out} AND NOT {start_und}) OR (NOT {v_ok} AND NOT {v_und}))"
        );
        let row_und = format!(
            "({start_und} OR {v_und} OR {} OR {bucket_und})",
            s.at("g_und")
        );
        let values = matches!(q.aggregation, Aggregation::Percentile(_));
        let sql = format!(
            "SELECT und, g_null, g, b, count() AS c, sum(v) AS total, min(v) AS lo, max(v) AS hi{} FROM \
             (SELECT ({is_in} AND NOT {row_und}) AS yes, NOT yes AND NOT {is_out} AS und, \
             {} AS g_null, {} AS g, {} AS v, if(und, toInt64(0), {bucket}) AS b \
             FROM ({sql}) ARRAY JOIN evs AS ev) WHERE yes OR und \
             GROUP BY und, g_null, g, b ORDER BY und DESC LIMIT 1000000",
            if values { ", groupArray(v) AS vs" } else { "" },
            s.at("g_null"),
            s.at("g"),
            s.at("v"),
        );
        let rows = self.client.rows(&sql)?;
        if rows.first().is_some_and(|r| r["und"].as_u64() == Some(1)) {
            return Ok(None);
        }
        let mut by_group: BTreeMap<Option<String>, Vec<Point>> = BTreeMap::new();
        for r in &rows {
            let group = (r["g_null"].as_u64() != Some(1)).then(|| str_field(r, "g"));
            let count = r["c"].as_u64().unwrap_or(0);
            let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
            let value = match q.aggregation {
                Aggregation::Count => Some(count as f64),
                Aggregation::Sum => Some(f("total")),
                Aggregation::Avg => Some(f("total") / count.max(1) as f64),
                Aggregation::Min => Some(f("lo")),
                Aggregation::Max => Some(f("hi")),
                Aggregation::Percentile(_) => {
                    let mut vs: Vec<f64> = r["vs"]
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_f64).collect())
                        .unwrap_or_default();
                    aggregate(q.aggregation, &mut vs)
                }
            };
            if let Some(value) = value {
                by_group.entry(group).or_default().push(Point {
                    bucket: r["b"].as_i64().unwrap_or(0),
                    value,
                    count,
                });
            }
        }
        Ok(Some(finish(
            by_group
                .into_iter()
                .map(|(group, points)| Series { group, points })
                .collect(),
        )))
    }
}
