//! Compile an [`EventQuery`] to SQLite SQL. The semantics are those of
//! [`hive_core::filter::Filter::matches`]; the conformance suite checks
//! that both agree.

use hive_core::chart::{Aggregation, ChartLevel, ChartQuery};
use hive_core::filter::{FieldRef, Filter, FilterType, Operand, Operator, TopField};
use rusqlite::types::Value as SqlValue;

use crate::{EventQuery, Level, Order};

/// SQL text and its positional parameters.
pub struct Compiled {
    pub select_sql: String,
    pub count_sql: String,
    pub params: Vec<SqlValue>,
}

/// Largest page.
pub const MAX_LIMIT: usize = 7500;

struct Builder {
    params: Vec<SqlValue>,
}

impl Builder {
    fn bind(&mut self, v: SqlValue) -> String {
        self.params.push(v);
        format!("?{}", self.params.len())
    }
}

/// A JSON path literal for SQLite: `$."metadata"."a"`, array indices as `[n]`
/// when `index_numeric`.
fn json_path(namespace: &str, path: &[String], index_numeric: bool) -> String {
    let mut p = format!("$.\"{namespace}\"");
    for seg in path {
        if index_numeric && !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            p.push_str(&format!("[{seg}]"));
        } else {
            p.push_str(&format!(".\"{seg}\""));
        }
    }
    p
}

/// The value expression and its JSON-type expression for a field on table
/// alias `t`.
fn field_exprs(t: &str, field: &FieldRef, b: &mut Builder) -> (String, String) {
    match field {
        FieldRef::Top(top) => {
            let column = match top {
                TopField::EventId => Some("event_id"),
                TopField::SessionId => Some("session_id"),
                TopField::ParentId => Some("parent_id"),
                TopField::ProjectId => Some("project_id"),
                TopField::EventType => Some("event_type"),
                TopField::EventName => Some("event_name"),
                TopField::StartTime => Some("start_time"),
                _ => None,
            };
            match column {
                Some(c) => {
                    let x = format!("{t}.{c}");
                    let ty = format!(
                        "(CASE typeof({x}) WHEN 'null' THEN NULL WHEN 'integer' THEN 'integer' \
                         WHEN 'real' THEN 'real' ELSE 'text' END)"
                    );
                    (x, ty)
                }
                None => {
                    let path = b.bind(SqlValue::Text(format!("$.\"{}\"", top.name())));
                    (
                        format!("json_extract({t}.doc, {path})"),
                        format!("json_type({t}.doc, {path})"),
                    )
                }
            }
        }
        FieldRef::Path { namespace, path } => {
            let keyed = b.bind(SqlValue::Text(json_path(namespace, path, false)));
            if path.iter().any(|s| s.bytes().all(|c| c.is_ascii_digit())) {
                let indexed = b.bind(SqlValue::Text(json_path(namespace, path, true)));
                (
                    format!(
                        "COALESCE(json_extract({t}.doc, {keyed}), json_extract({t}.doc, {indexed}))"
                    ),
                    format!("COALESCE(json_type({t}.doc, {keyed}), json_type({t}.doc, {indexed}))"),
                )
            } else {
                (
                    format!("json_extract({t}.doc, {keyed})"),
                    format!("json_type({t}.doc, {keyed})"),
                )
            }
        }
    }
}

/// A boolean SQL expression (never NULL) for one filter on alias `t`.
fn filter_sql(t: &str, f: &Filter, b: &mut Builder) -> String {
    let (x, ty) = field_exprs(t, &f.field, b);
    let present = format!("({ty} IS NOT NULL AND {ty} != 'null')");
    let numeric = format!("{ty} IN ('integer','real')");
    let as_text = format!(
        "(CASE {ty} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
         WHEN 'integer' THEN CAST({x} AS TEXT) WHEN 'real' THEN CAST({x} AS TEXT) ELSE {x} END)"
    );
    let equals = |b: &mut Builder| -> String {
        match &f.operand {
            Operand::Text(s) => {
                let p = b.bind(SqlValue::Text(s.clone()));
                format!("({present} AND {ty} NOT IN ('object','array') AND {as_text} = {p})")
            }
            Operand::Number(n) | Operand::Datetime { ms: n, .. } => {
                let p = b.bind(SqlValue::Real(*n));
                format!("({numeric} AND {x} = {p})")
            }
            Operand::Bool(v) => format!("({ty} = '{}')", if *v { "true" } else { "false" }),
            Operand::None => "0".into(),
        }
    };
    let contains = |b: &mut Builder| -> String {
        let Operand::Text(s) = &f.operand else {
            return "0".into();
        };
        let p = b.bind(SqlValue::Text(s.to_lowercase()));
        format!("({present} AND instr(lower({as_text}), {p}) > 0)")
    };
    let compare = |b: &mut Builder, op: &str| -> String {
        match &f.operand {
            Operand::Number(n) => {
                let p = b.bind(SqlValue::Real(*n));
                format!("({numeric} AND {x} {op} {p})")
            }
            Operand::Datetime { ms, .. } => {
                let p = b.bind(SqlValue::Real(*ms));
                format!(
                    "(({numeric} AND {x} {op} {p}) OR ({ty} = 'text' AND \
                     (julianday({x}) - 2440587.5) * 86400000.0 {op} {p}))"
                )
            }
            _ => "0".into(),
        }
    };
    let _ = FilterType::String;
    match f.operator {
        Operator::Exists => present,
        Operator::NotExists => format!("(NOT {present})"),
        Operator::Is => format!("COALESCE({}, 0)", equals(b)),
        Operator::IsNot => format!("(NOT COALESCE({}, 0))", equals(b)),
        Operator::Contains => format!("COALESCE({}, 0)", contains(b)),
        Operator::NotContains => format!("(NOT COALESCE({}, 0))", contains(b)),
        Operator::GreaterThan | Operator::After => format!("COALESCE({}, 0)", compare(b, ">")),
        Operator::LessThan | Operator::Before => format!("COALESCE({}, 0)", compare(b, "<")),
    }
}

/// Whether a query is fast in SQL: no filters (indexes list events and
/// sessions in time order), ordered by time. Others read in-memory columns
/// when they fit.
pub fn fast_in_sql(q: &EventQuery) -> bool {
    matches!(q.order, Order::StartAsc | Order::StartDesc) && q.filters.is_empty()
}

/// Compile a query.
pub fn compile(q: &EventQuery) -> Compiled {
    let mut b = Builder { params: Vec::new() };
    let mut conds: Vec<String> = Vec::new();
    if let Some(p) = &q.project_id {
        let p = b.bind(SqlValue::Text(p.clone()));
        conds.push(format!("e.project_id = {p}"));
    }
    if let Some(start) = q.date_range.start_ms {
        let p = b.bind(SqlValue::Real(start));
        conds.push(format!("e.start_time >= {p}"));
    }
    if let Some(end) = q.date_range.end_ms {
        let p = b.bind(SqlValue::Real(end));
        conds.push(format!("e.start_time <= {p}"));
    }
    match q.level {
        Level::Event => {
            for f in &q.filters {
                conds.push(filter_sql("e", f, &mut b));
            }
        }
        Level::SessionEvent => {
            conds.push("e.event_type = 'session' AND e.event_id = e.session_id".into());
            for f in &q.filters {
                conds.push(filter_sql("e", f, &mut b));
            }
        }
        Level::Session => {
            conds.push("e.event_type = 'session' AND e.event_id = e.session_id".into());
            for f in &q.filters {
                let own = filter_sql("e", f, &mut b);
                let child = filter_sql("c", f, &mut b);
                conds.push(format!(
                    "({own} OR EXISTS (SELECT 1 FROM events c WHERE c.project_id = e.project_id \
                     AND c.session_id = e.event_id AND c.id != e.id AND {child}))"
                ));
            }
        }
    }
    let where_sql = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let order = match q.order {
        Order::StartAsc => "e.start_time ASC, e.id ASC",
        Order::StartDesc => "e.start_time DESC, e.id DESC",
        Order::DurationDesc => "json_extract(e.doc, '$.duration') DESC, e.id DESC",
        Order::CostDesc => "json_extract(e.doc, '$.metadata.cost') DESC, e.id DESC",
        Order::TokensDesc => "json_extract(e.doc, '$.metadata.total_tokens') DESC, e.id DESC",
        Order::EventsDesc => "json_extract(e.doc, '$.metadata.num_events') DESC, e.id DESC",
    };
    let limit = q.limit.clamp(1, MAX_LIMIT);
    Compiled {
        select_sql: format!(
            "SELECT e.doc FROM events e{where_sql} ORDER BY {order} LIMIT {limit} OFFSET {}",
            // SQLite's integers are i64: a larger offset is past any row.
            q.offset.min(i64::MAX as usize)
        ),
        count_sql: format!("SELECT count(*) FROM events e{where_sql}"),
        params: b.params,
    }
}

/// A compiled chart query: rows of `(group, bucket, value, count)` when
/// `sorted_values` is false (SQL aggregates), and of `(group, bucket,
/// value)` ordered by group, bucket and value when it is true (percentiles,
/// computed by the caller one cell at a time).
pub struct CompiledChart {
    pub sql: String,
    pub params: Vec<SqlValue>,
    pub sorted_values: bool,
}

/// Compile a chart query (semantics: [`hive_core::chart::reference`]).
pub fn compile_chart(project_id: Option<&str>, q: &ChartQuery) -> CompiledChart {
    let mut b = Builder { params: Vec::new() };
    let mut conds: Vec<String> = Vec::new();
    if let Some(p) = project_id {
        let p = b.bind(SqlValue::Text(p.to_owned()));
        conds.push(format!("e.project_id = {p}"));
    }
    if let Some(start) = q.date_range.start_ms {
        let p = b.bind(SqlValue::Real(start));
        conds.push(format!("e.start_time >= {p}"));
    }
    if let Some(end) = q.date_range.end_ms {
        let p = b.bind(SqlValue::Real(end));
        conds.push(format!("e.start_time <= {p}"));
    }
    if q.level == ChartLevel::Session {
        conds.push("e.event_type = 'session' AND e.event_id = e.session_id".into());
    }
    for f in &q.filters {
        conds.push(filter_sql("e", f, &mut b));
    }
    let value = match &q.metric {
        Some(m) => {
            let (x, ty) = field_exprs("e", m, &mut b);
            conds.push(format!("{ty} IN ('integer', 'real')"));
            x
        }
        None => "1".to_owned(),
    };
    let group = match &q.group_by {
        Some(g) => {
            let (x, ty) = field_exprs("e", g, &mut b);
            format!(
                "(CASE {ty} WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' \
                 ELSE CAST({x} AS TEXT) END)"
            )
        }
        None => "NULL".to_owned(),
    };
    let bucket = match q.bucket.fixed() {
        Some((w, off)) => format!("(((e.start_time - {off}) / {w}) * {w} + {off})"),
        None if q.bucket == hive_core::chart::Bucket::Total => "0".to_owned(),
        None => "(unixepoch(date(e.start_time / 1000, 'unixepoch', 'start of month')) * 1000)"
            .to_owned(),
    };
    let where_sql = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let (sql, sorted_values) = match q.aggregation {
        Aggregation::Percentile(_) => (
            format!(
                "SELECT {group} AS g, {bucket} AS b, {value} AS v FROM events e{where_sql} \
                 ORDER BY g, b, v"
            ),
            true,
        ),
        agg => {
            let f = match agg {
                Aggregation::Count => "count(*)".to_owned(),
                Aggregation::Sum => "total(v)".to_owned(),
                Aggregation::Avg => "avg(v)".to_owned(),
                Aggregation::Min => "min(v)".to_owned(),
                _ => "max(v)".to_owned(),
            };
            (
                format!(
                    "SELECT g, b, {f}, count(*) FROM (SELECT {group} AS g, {bucket} AS b, \
                     {value} AS v FROM events e{where_sql}) GROUP BY g, b"
                ),
                false,
            )
        }
    };
    CompiledChart {
        sql,
        params: b.params,
        sorted_values,
    }
}

/// What a column read selects: `SELECT id, start_time, is_session, then
/// (value, json type) per field FROM events e WHERE <key>`, the key bound
/// as `?1` (a project id or a row id) and the fields' paths after it.
pub struct ColumnRead {
    pub sql: String,
    /// The parameters after `?1`.
    pub params: Vec<SqlValue>,
}

/// Column reads with the chart and filter semantics of [`field_exprs`]:
/// `by_row` reads one row by id, otherwise a whole project.
pub fn column_read(fields: &[FieldRef], by_row: bool) -> ColumnRead {
    let mut b = Builder {
        params: vec![SqlValue::Null],
    };
    let mut select = String::from(
        "SELECT e.id, e.start_time, (e.event_type = 'session' AND e.event_id = e.session_id)",
    );
    for f in fields {
        let (x, ty) = field_exprs("e", f, &mut b);
        select.push_str(&format!(", {x}, {ty}"));
    }
    let key = if by_row { "e.id" } else { "e.project_id" };
    let mut params = b.params;
    params.remove(0);
    ColumnRead {
        sql: format!("{select} FROM events e WHERE {key} = ?1"),
        params,
    }
}

/// Whether an event's document is one of an event-level query's matches:
/// its start in the date range (an event without a numeric start only
/// when there is no range) and every filter matched. What
/// [`crate::Store::events_after`] keeps of the events it reads in id order.
pub fn matches_event(q: &EventQuery, doc: &serde_json::Value) -> bool {
    let in_range = match doc.get("start_time").and_then(serde_json::Value::as_f64) {
        Some(s) => {
            q.date_range.start_ms.is_none_or(|x| s >= x)
                && q.date_range.end_ms.is_none_or(|x| s <= x)
        }
        None => q.date_range.start_ms.is_none() && q.date_range.end_ms.is_none(),
    };
    in_range && q.filters.iter().all(|f| f.matches(doc))
}

/// How many events [`crate::Store::events_after`] reads at a time for a
/// page of `limit`: the page itself when every event matches (no filter,
/// no date range), else twice it (at least 256), so a sparse filter takes
/// few rounds.
pub fn after_batch(q: &EventQuery, limit: usize) -> usize {
    if q.filters.is_empty() && q.date_range.start_ms.is_none() && q.date_range.end_ms.is_none() {
        limit
    } else {
        (limit * 2).max(256)
    }
}
