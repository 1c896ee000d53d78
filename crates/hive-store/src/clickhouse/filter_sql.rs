//! Filters compiled to ClickHouse SQL over the leaf writes.
//!
//! The value of a path in an event is the verdict of the last row (in the
//! total order) that touches it: a row touches a path when it writes the
//! path, writes a scalar, array or null above it (which clears it), or
//! writes below it (which makes it an object); every base touches every
//! path (a base replaces the whole event). `argMaxIf(verdict, order,
//! touched)` per event is the value by the last-writer-wins rule of
//! [`super::leaves`], which equals the RFC 7396 fold.
//!
//! The SQL selects a *superset* of the matching events: a few cases are
//! left to the folded documents (session rollups, which are computed on
//! read; `contains` on an object; arrays too large to index), and the exact
//! semantics decide after folding.

use hive_core::filter::{FieldRef, Filter, Operand, Operator};

use super::ClickHouseStore;
use super::http::lit;
use super::leaves::is_content;
use super::read::VISIBLE;
use super::write::{own_id_num_sql, own_id_sql};

/// Paths a session's rollup writes on read (and everything below them).
pub(super) const ROLLUP_PATHS: [&str; 10] = [
    "metadata.num_events",
    "metadata.num_model_events",
    "metadata.has_feedback",
    "metadata.cost",
    "metadata.total_tokens",
    "metadata.prompt_tokens",
    "metadata.completion_tokens",
    "start_time",
    "end_time",
    "duration",
];

/// The verdict state of an unknown value (the folded document decides).
const UNKNOWN: u8 = 8;

/// A path as the leaves spell it.
pub(super) fn path_of(f: &FieldRef) -> String {
    match f {
        FieldRef::Top(t) => t.name().to_owned(),
        // Filter paths hold no `.` or `\` inside a key: no escaping needed.
        FieldRef::Path { namespace, path } => format!("{namespace}.{}", path.join(".")),
    }
}

fn rollup_owned(path: &str) -> bool {
    ROLLUP_PATHS
        .iter()
        .any(|r| path == *r || (path.starts_with(r) && path.as_bytes().get(r.len()) == Some(&b'.')))
}

/// Whether an array index in the path is written as the leaves write it.
fn canonical_indices(path: &str) -> bool {
    path.split('.').all(|seg| {
        !seg.bytes().all(|b| b.is_ascii_digit() || b == b'+')
            || seg.parse::<usize>().is_ok_and(|n| n.to_string() == seg)
    })
}

fn num(x: f64) -> String {
    if x.is_nan() {
        "nan".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 {
            "inf".to_owned()
        } else {
            "-inf".to_owned()
        }
    } else {
        format!("toFloat64({x:?})")
    }
}

/// SQL for the aggregates and predicates of one query.
struct Compiler {
    /// Aggregate expressions, `rN`, one per distinct path.
    aggs: Vec<(String, String)>,
}

impl Compiler {
    /// The aggregate column holding the value of a path: a tuple (state,
    /// text, number).
    fn resolve(&mut self, path: &str) -> String {
        if let Some((_, name)) = self.aggs.iter().find(|(p, _)| p == path) {
            return name.clone();
        }
        let name = format!("r{}", self.aggs.len());
        self.aggs.push((path.to_owned(), name.clone()));
        name
    }

    fn agg_sql(path: &str) -> String {
        // Content (schema 8) lies in columns of its own: a content path is
        // decided by those and the others (where earlier writes hold it);
        // any other path by the others alone.
        let content = is_content(path);
        let (paths, types, strs, nums) = if content {
            (
                "arrayConcat(paths, io_paths)",
                "arrayConcat(types, io_types)",
                "arrayConcat(strs, io_strs)",
                "arrayConcat(nums, io_nums)",
            )
        } else {
            ("paths", "types", "strs", "nums")
        };
        let p = lit(path);
        let below = lit(&format!("{path}."));
        let parts: Vec<&str> = path.split('.').collect();
        let ancestors: Vec<String> = (1..parts.len())
            .map(|i| lit(&parts[..i].join(".")))
            .collect();
        let (cleared_above, array_above) = if ancestors.is_empty() {
            ("0".to_owned(), "0".to_owned())
        } else {
            let a = ancestors.join(", ");
            (
                format!(
                    "arrayExists((k, y) -> has([{a}], k) AND y < 16 AND y != 5, {paths}, {types})"
                ),
                format!("arrayExists((k, y) -> has([{a}], k) AND y = 4, {paths}, {types})"),
            )
        };
        let written_below = format!("arrayExists(k -> startsWith(k, {below}), {paths})");
        let i = format!("indexOf({paths}, {p})");
        let t = |s: &str, x: &str, n: &str| format!("tuple(toUInt8({s}), {x}, toFloat64({n}))");
        format!(
            "argMaxIf(multiIf({i} > 0, {at}, {cleared_above}, if({lossy} AND {array_above}, {unk}, {absent}), \
             {written_below}, {obj}, {absent}), tuple(kind, ts, node, seq, idx), \
             kind < 2 OR {i} > 0 OR {cleared_above} OR {written_below})",
            at = t(
                &format!("{types}[{i}]"),
                &own_id_sql(
                    &p,
                    &format!("{types}[{i}]"),
                    &format!("{strs}[{i}]"),
                    &format!("{nums}[{i}]")
                ),
                &own_id_num_sql(
                    &format!("{types}[{i}]"),
                    &format!("{strs}[{i}]"),
                    &format!("{nums}[{i}]")
                )
            ),
            // Inside an array whose elements are not derived (too many,
            // or content's), the folded document decides.
            lossy = if content { "1" } else { "lossy" },
            unk = t(&UNKNOWN.to_string(), "''", "0"),
            absent = t("0", "''", "0"),
            obj = t("5", "''", "0"),
        )
    }

    /// A predicate that holds for every event the filter matches (and
    /// perhaps a few more).
    fn maybe(&mut self, f: &Filter, session: &str) -> String {
        let path = path_of(&f.field);
        let r = self.resolve(&path);
        let st = format!("(tupleElement({r}, 1) % 16)");
        let raw_ty = format!("tupleElement({r}, 1)");
        let s = format!("tupleElement({r}, 2)");
        let n = format!("tupleElement({r}, 3)");
        let unknown = format!("{st} = {UNKNOWN}");
        let present = format!("{st} IN (1, 2, 3, 4, 5, 6)");
        let eq = match &f.operand {
            Operand::Text(t) => format!("({st} IN (1, 2, 3, 6) AND {s} = {})", lit(t)),
            Operand::Number(x) | Operand::Datetime { ms: x, .. } => {
                format!("({st} = 2 AND {n} = {})", num(*x))
            }
            Operand::Bool(b) => format!("({st} = 3 AND {n} = {})", u8::from(*b)),
            Operand::None => "0".to_owned(),
        };
        // An object built by several writes has no text here.
        let opaque_object = format!("{raw_ty} = 5");
        let contains = match &f.operand {
            Operand::Text(t) => format!(
                "(({st} IN (1, 2, 3, 4, 6) OR {raw_ty} = 21) AND position(lowerUTF8({s}), {}) > 0)",
                lit(&t.to_lowercase())
            ),
            _ => "0".to_owned(),
        };
        let cmp = |op: &str| match &f.operand {
            Operand::Number(x) => format!("({st} = 2 AND {n} {op} {})", num(*x)),
            Operand::Datetime { ms, .. } => format!("({st} IN (2, 6) AND {n} {op} {})", num(*ms)),
            _ => "0".to_owned(),
        };
        let exact = match f.operator {
            Operator::Exists => present,
            Operator::NotExists => format!("NOT {present}"),
            Operator::Is => eq,
            Operator::IsNot => format!("NOT {eq}"),
            Operator::Contains => format!("({contains} OR {opaque_object})"),
            Operator::NotContains => format!("(NOT {contains} OR {opaque_object})"),
            Operator::GreaterThan | Operator::After => cmp(">"),
            Operator::LessThan | Operator::Before => cmp("<"),
        };
        let mut any = vec![exact, unknown];
        if rollup_owned(&path) {
            any.push(session.to_owned());
        }
        if !canonical_indices(&path) {
            any.push("1".to_owned());
        }
        format!("({})", any.join(" OR "))
    }
}

impl ClickHouseStore {
    /// A condition on `hive_writes` that selects every row of the events
    /// that may match the filters (sessions only: the session events that
    /// may match them), in a date range (a superset: sessions widen their
    /// start to their earliest event on read).
    pub(super) fn candidate_sql(
        &self,
        project_id: Option<&str>,
        filters: &[Filter],
        sessions_only: bool,
        range: (Option<f64>, Option<f64>),
    ) -> String {
        let scope = Self::project_cond(project_id);
        let mut c = Compiler { aggs: Vec::new() };
        let et = c.resolve("event_type");
        let sid = c.resolve("session_id");
        let start = c.resolve("start_time");
        let session =
            format!("(tupleElement({et}, 1) % 16 IN (1, 6) AND tupleElement({et}, 2) = 'session')");
        let own_session = format!("({session} AND tupleElement({sid}, 2) = event_id)");
        let mut preds: Vec<String> = filters.iter().map(|f| c.maybe(f, &session)).collect();
        if sessions_only {
            preds.push(own_session.clone());
        }
        preds.extend(range_preds(&start, &session, range));
        if preds.is_empty() {
            return scope;
        }
        format!(
            "{scope} AND (project_id, event_id) IN (SELECT project_id, event_id FROM ({inner}) WHERE {})",
            preds.join(" AND "),
            inner = inner(&scope, &c),
        )
    }

    /// A condition selecting the rows of the sessions that may match the
    /// filters at session level: for every filter, the session or one of
    /// its events may match it.
    pub(super) fn session_candidate_sql(
        &self,
        project_id: Option<&str>,
        filters: &[Filter],
        range: (Option<f64>, Option<f64>),
    ) -> String {
        let scope = Self::project_cond(project_id);
        let mut c = Compiler { aggs: Vec::new() };
        let et = c.resolve("event_type");
        let sid = c.resolve("session_id");
        let start = c.resolve("start_time");
        let session =
            format!("(tupleElement({et}, 1) % 16 IN (1, 6) AND tupleElement({et}, 2) = 'session')");
        let mut own = vec![format!("{session} AND tupleElement({sid}, 2) = event_id")];
        own.extend(range_preds(&start, &session, range));
        let mut having = vec![format!("max(event_id = s AND {})", own.join(" AND "))];
        for f in filters {
            having.push(format!("max({})", c.maybe(f, &session)));
        }
        format!(
            "{scope} AND (project_id, event_id) IN (SELECT project_id, s FROM \
             (SELECT *, tupleElement({sid}, 2) AS s FROM ({inner})) GROUP BY project_id, s HAVING {})",
            having.join(" AND "),
            inner = inner(&scope, &c),
        )
    }
}

fn inner(scope: &str, c: &Compiler) -> String {
    let aggs: Vec<String> = c
        .aggs
        .iter()
        .map(|(p, name)| format!("{} AS {name}", Compiler::agg_sql(p)))
        .collect();
    format!(
        "SELECT project_id, event_id, {} FROM hive_writes WHERE {scope} AND {VISIBLE} \
         GROUP BY project_id, event_id",
        aggs.join(", ")
    )
}

/// The date range on the start time: a session's start only moves earlier
/// on read, so only the lower bound applies to sessions here.
fn range_preds(start: &str, session: &str, range: (Option<f64>, Option<f64>)) -> Vec<String> {
    let st = format!("tupleElement({start}, 1) % 16");
    let n = format!("tupleElement({start}, 3)");
    let mut out = Vec::new();
    if let Some(lo) = range.0 {
        out.push(format!("({st} = 2 AND {n} >= {})", num(lo)));
    }
    if let Some(hi) = range.1 {
        out.push(format!("(({st} = 2 AND {n} <= {}) OR {session})", num(hi)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollup_paths_and_indices() {
        assert!(rollup_owned("metadata.cost"));
        assert!(rollup_owned("metadata.cost.x"));
        assert!(!rollup_owned("metadata.costs"));
        assert!(rollup_owned("duration"));
        assert!(canonical_indices("metadata.tags.1"));
        assert!(!canonical_indices("metadata.tags.01"));
        assert!(!canonical_indices("metadata.tags.+1"));
    }
}
