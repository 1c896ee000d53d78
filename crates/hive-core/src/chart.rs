//! Chart queries: a numeric metric aggregated per time bucket, optionally
//! per value of a group-by field, over the events (or sessions) that match
//! a set of filters.
//!
//! Definitions every store follows (and [`reference`] implements):
//!
//! - A **value** is the metric's JSON value when it is a number (integer or
//!   real); strings, booleans and missing values are skipped. `count` counts
//!   matching events (with a metric: the events whose metric is a number).
//! - **Buckets** are UTC: a bucket holds `[start, next)`, with minutes, hours
//!   and days aligned to the epoch, weeks starting on Monday 00:00 UTC (ISO)
//!   and months on the 1st at 00:00 UTC. An event falls in the bucket of its
//!   `start_time`.
//! - **Percentiles** use the nearest-rank definition: of `n` values sorted
//!   ascending, `pX` is the value at 1-based rank `max(1, ceil(X/100 * n))`.
//!   `median` is `p50` (the lower median when `n` is even).
//! - **Groups** are the group-by field's value as text (strings as they are,
//!   numbers as SQLite prints them, `true`/`false`); events without it form
//!   the group `null`. At most [`MAX_GROUPS`] groups are kept, those with the
//!   most values first.
//!
//! ```
//! use hive_core::chart::{Bucket, ChartQuery, Aggregation};
//! use serde_json::json;
//!
//! let q = ChartQuery::from_json(&json!({
//!     "metric": "metrics.latency_ms", "aggregation": "p95",
//!     "bucket": "hour", "groupBy": "metadata.variant"
//! }), 0.0).unwrap();
//! assert_eq!(q.aggregation, Aggregation::Percentile(95));
//! assert_eq!(Bucket::Hour.floor(7_250_000), 7_200_000);
//! ```

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::filter::{DateRange, FieldRef, Filter, FilterError};
use crate::time::{civil_from_days, days_from_civil, format_rfc3339_ms};

/// Most series a chart returns.
pub const MAX_GROUPS: usize = 50;

/// How the values of a bucket become one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    /// `median` is `Percentile(50)`.
    Percentile(u8),
}

impl Aggregation {
    pub const NAMES: [&'static str; 11] = [
        "count", "sum", "avg", "min", "max", "median", "p50", "p75", "p90", "p95", "p99",
    ];

    pub fn parse(s: &str) -> Result<Aggregation, ChartError> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "count" => Aggregation::Count,
            "sum" => Aggregation::Sum,
            "avg" | "average" | "mean" => Aggregation::Avg,
            "min" => Aggregation::Min,
            "max" => Aggregation::Max,
            "median" | "p50" => Aggregation::Percentile(50),
            "p75" => Aggregation::Percentile(75),
            "p90" => Aggregation::Percentile(90),
            "p95" => Aggregation::Percentile(95),
            "p99" => Aggregation::Percentile(99),
            other => return Err(ChartError::Aggregation(other.to_owned())),
        })
    }

    pub fn name(self) -> String {
        match self {
            Aggregation::Count => "count".into(),
            Aggregation::Sum => "sum".into(),
            Aggregation::Avg => "avg".into(),
            Aggregation::Min => "min".into(),
            Aggregation::Max => "max".into(),
            Aggregation::Percentile(p) => format!("p{p}"),
        }
    }
}

/// A UTC time bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Minute,
    Hour,
    Day,
    /// Monday 00:00 UTC to the next Monday.
    Week,
    /// The 1st 00:00 UTC to the next 1st.
    Month,
    /// The whole date range as one bucket (starting at 0): what alerts
    /// evaluate.
    Total,
}

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
const WEEK: i64 = 7 * DAY;
/// 1970-01-05, the first Monday after the epoch.
const FIRST_MONDAY: i64 = 4 * DAY;

impl Bucket {
    pub const NAMES: [&'static str; 6] = ["minute", "hour", "day", "week", "month", "total"];

    pub fn parse(s: &str) -> Result<Bucket, ChartError> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "minute" | "1m" => Bucket::Minute,
            "hour" | "hourly" | "1h" => Bucket::Hour,
            "day" | "daily" | "1d" => Bucket::Day,
            "week" | "weekly" | "1w" => Bucket::Week,
            "month" | "monthly" => Bucket::Month,
            "total" | "none" | "all" => Bucket::Total,
            other => return Err(ChartError::Bucket(other.to_owned())),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Bucket::Minute => "minute",
            Bucket::Hour => "hour",
            Bucket::Day => "day",
            Bucket::Week => "week",
            Bucket::Month => "month",
            Bucket::Total => "total",
        }
    }

    /// The width and offset of fixed-width buckets: a bucket starts at
    /// `offset + k * width`. `None` for months.
    pub fn fixed(self) -> Option<(i64, i64)> {
        match self {
            Bucket::Minute => Some((MINUTE, 0)),
            Bucket::Hour => Some((HOUR, 0)),
            Bucket::Day => Some((DAY, 0)),
            Bucket::Week => Some((WEEK, FIRST_MONDAY)),
            Bucket::Month | Bucket::Total => None,
        }
    }

    /// The start of the bucket holding `ms` (epoch milliseconds, UTC).
    /// Times whose bucket starts before `i64::MIN` (a start time of -1e300
    /// is kept as that) are in the bucket starting there.
    pub fn floor(self, ms: i64) -> i64 {
        if self == Bucket::Total {
            return 0;
        }
        match self.fixed() {
            // A start below i64::MIN can only come of a time within a
            // bucket of it; the bucket never ends past i64::MAX.
            Some((w, off)) => ms
                .checked_sub(off)
                .and_then(|t| t.div_euclid(w).checked_mul(w))
                .and_then(|t| t.checked_add(off))
                .unwrap_or(i64::MIN),
            None => {
                let (y, m, _) = civil_from_days(ms.div_euclid(DAY));
                days_from_civil(y, m, 1).saturating_mul(DAY)
            }
        }
    }

    /// The start of the bucket after the one starting at `start`.
    pub fn next(self, start: i64) -> i64 {
        if self == Bucket::Total {
            return i64::MAX;
        }
        match self.fixed() {
            Some((w, _)) => self.floor(start).saturating_add(w),
            None => {
                let (y, m, _) = civil_from_days(self.floor(start).div_euclid(DAY));
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(y, m, 1).saturating_mul(DAY)
            }
        }
    }
}

/// Which rows a chart reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChartLevel {
    /// Every event (sessions included) that matches the filters.
    #[default]
    Event,
    /// Session events only (with their rollups: `metadata.cost`,
    /// `metadata.total_tokens`, `metadata.num_events`, `duration`); filters
    /// apply to the session event.
    Session,
}

/// A validated chart query.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartQuery {
    /// `None` only with `count`.
    pub metric: Option<FieldRef>,
    pub aggregation: Aggregation,
    pub bucket: Bucket,
    pub group_by: Option<FieldRef>,
    pub filters: Vec<Filter>,
    pub date_range: DateRange,
    pub level: ChartLevel,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChartError {
    #[error(
        "unknown aggregation {0:?}: use count, sum, avg, min, max, median, p50, p75, p90, p95 or p99"
    )]
    Aggregation(String),
    #[error("unknown bucket {0:?}: use minute, hour, day, week, month or total")]
    Bucket(String),
    #[error("metric: {0}")]
    Metric(String),
    #[error("groupBy: {0}")]
    GroupBy(String),
    #[error("{0}")]
    Filter(#[from] FilterError),
    #[error("{0}")]
    Shape(String),
}

/// The first of `keys` present, a string (trimmed; empty is none); any
/// other type is an error naming the key.
fn text(obj: &Map<String, Value>, keys: &[&str]) -> Result<Option<String>, ChartError> {
    let s: Option<String> = crate::fields::first(obj, keys).map_err(ChartError::Shape)?;
    Ok(s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()))
}

impl ChartQuery {
    /// Parse `{metric, aggregation, bucket, groupBy, filters, dateRange,
    /// level}` (each string may also be a query-string parameter; `filters`
    /// and `dateRange` may then be JSON text).
    pub fn from_json(v: &Value, now_ms: f64) -> Result<ChartQuery, ChartError> {
        let obj = v
            .as_object()
            .ok_or_else(|| ChartError::Shape("a chart query is a JSON object".into()))?;
        let aggregation = match text(obj, &["aggregation", "func", "agg"])?.as_deref() {
            Some(a) => Aggregation::parse(a)?,
            None => Aggregation::Count,
        };
        let metric = match text(obj, &["metric", "field"])?.as_deref() {
            None | Some("count" | "events" | "event_count" | "sessions") => None,
            Some(m) => Some(FieldRef::parse(m).map_err(|e| ChartError::Metric(e.to_string()))?),
        };
        if metric.is_none() && aggregation != Aggregation::Count {
            return Err(ChartError::Metric(format!(
                "{} needs a numeric metric such as metrics.latency_ms",
                aggregation.name()
            )));
        }
        let bucket =
            match text(obj, &["bucket", "bucketing", "interval", "granularity"])?.as_deref() {
                Some(b) => Bucket::parse(b)?,
                None => Bucket::Hour,
            };
        let group_by = match text(obj, &["groupBy", "group_by"])?.as_deref() {
            None => None,
            Some(g) => Some(FieldRef::parse(g).map_err(|e| ChartError::GroupBy(e.to_string()))?),
        };
        // A field may come as JSON text (saved charts keep theirs so); its
        // errors name it as sent.
        let parse_embedded = |name: &str, v: &Value| -> Result<Value, ChartError> {
            match v {
                Value::String(s) if s.trim().is_empty() => Ok(Value::Null),
                Value::String(s) => serde_json::from_str(s).map_err(|e| {
                    ChartError::Shape(format!("{name}: a string that is not JSON ({e})"))
                }),
                other => Ok(other.clone()),
            }
        };
        let sent =
            |names: [&'static str; 2]| names.into_iter().find_map(|n| obj.get(n).map(|v| (n, v)));
        let filters = match sent(["filters", "query"]) {
            None => Vec::new(),
            Some((name, v)) => match parse_embedded(name, v)? {
                Value::Null => Vec::new(),
                // Null items are skipped; an error gives the item's own place.
                Value::Array(items) => items
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| !f.is_null())
                    .map(|(i, f)| {
                        Filter::from_json(f)
                            .map_err(|e| ChartError::Shape(format!("{name}[{i}]: {e}")))
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(ChartError::Shape(format!("{name} must be an array"))),
            },
        };
        let date_range = match sent(["dateRange", "date_range"]) {
            None => DateRange::default(),
            Some((name, v)) => DateRange::from_json(&parse_embedded(name, v)?, now_ms)?,
        };
        let level = match text(obj, &["level", "type"])?.as_deref() {
            None | Some("event" | "events") => ChartLevel::Event,
            Some("session" | "sessions") => ChartLevel::Session,
            Some(other) => {
                return Err(ChartError::Shape(format!(
                    "level {other:?}: use event or session"
                )));
            }
        };
        Ok(ChartQuery {
            metric,
            aggregation,
            bucket,
            group_by,
            filters,
            date_range,
            level,
        })
    }

    /// The query as JSON (what [`ChartQuery::from_json`] reads back).
    pub fn to_json(&self) -> Value {
        let mut filters = Vec::new();
        for f in &self.filters {
            filters.push(filter_json(f));
        }
        let mut range = Map::new();
        if let Some(s) = self.date_range.start_ms {
            range.insert("$gte".into(), json!(s));
        }
        if let Some(e) = self.date_range.end_ms {
            range.insert("$lte".into(), json!(e));
        }
        json!({
            "metric": self.metric.as_ref().map(FieldRef::dotted),
            "aggregation": self.aggregation.name(),
            "bucket": self.bucket.name(),
            "groupBy": self.group_by.as_ref().map(FieldRef::dotted),
            "filters": filters,
            "dateRange": range,
            "level": match self.level { ChartLevel::Event => "event", ChartLevel::Session => "session" },
        })
    }
}

/// A filter back as `{field, operator, value, type}`.
pub fn filter_json(f: &Filter) -> Value {
    use crate::filter::Operand;
    let value = match &f.operand {
        Operand::None => Value::Null,
        Operand::Text(s) => json!(s),
        Operand::Number(n) => json!(n),
        Operand::Bool(b) => json!(b),
        Operand::Datetime { ms, text } => match text {
            Some(t) => json!(t),
            None => json!(ms),
        },
    };
    json!({"field": f.field.dotted(), "operator": f.operator.name(), "value": value, "type": f.ty.name()})
}

/// One point of a series.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Point {
    /// Bucket start, epoch milliseconds UTC.
    pub bucket: i64,
    pub value: f64,
    /// Values aggregated (events, for `count`).
    pub count: u64,
}

/// The points of one group, by bucket; buckets without values are left out.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Series {
    /// The group-by value; `None` without a group-by and for events that
    /// lack the field.
    pub group: Option<String>,
    pub points: Vec<Point>,
}

impl Series {
    pub fn to_json(&self) -> Value {
        json!({
            "group": self.group,
            "points": self.points.iter().map(|p| json!({
                "bucket": format_rfc3339_ms(p.bucket),
                "timestamp": p.bucket,
                "value": p.value,
                "count": p.count,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The nearest-rank percentile of ascending values (`None` when empty).
pub fn percentile(sorted: &[f64], p: u8) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len();
    let rank = ((f64::from(p) / 100.0) * n as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

/// Aggregate one bucket's values (any order).
pub fn aggregate(agg: Aggregation, values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return if agg == Aggregation::Count {
            Some(0.0)
        } else {
            None
        };
    }
    Some(match agg {
        Aggregation::Count => values.len() as f64,
        Aggregation::Sum => values.iter().sum(),
        Aggregation::Avg => values.iter().sum::<f64>() / values.len() as f64,
        Aggregation::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        Aggregation::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Aggregation::Percentile(p) => {
            values.sort_by(f64::total_cmp);
            percentile(values, p)?
        }
    })
}

/// The group key of a JSON value, as stores render it.
pub fn group_key(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => i.to_string(),
            None => sqlite_real(n.as_f64().unwrap_or_default()),
        }),
        other => Some(other.to_string()),
    }
}

/// A real number as SQLite prints it (`2.0`, `0.5`).
fn sqlite_real(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// Keep the [`MAX_GROUPS`] groups with the most values; series sorted by
/// group (`null` last), points by bucket.
pub fn finish(mut series: Vec<Series>) -> Vec<Series> {
    if series.len() > MAX_GROUPS {
        // Ties broken by group, so the result does not depend on the order
        // the series come in.
        series.sort_by(|a, b| {
            let count = |s: &Series| s.points.iter().map(|p| p.count).sum::<u64>();
            count(b).cmp(&count(a)).then_with(|| a.group.cmp(&b.group))
        });
        series.truncate(MAX_GROUPS);
    }
    series.sort_by(|a, b| match (&a.group, &b.group) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, _) => std::cmp::Ordering::Greater,
        (_, None) => std::cmp::Ordering::Less,
        (Some(x), Some(y)) => x.cmp(y),
    });
    for s in &mut series {
        s.points.sort_by_key(|p| p.bucket);
    }
    series
}

/// The reference semantics over events as JSON, which stores are tested
/// against (it reads every value into memory).
pub fn reference(q: &ChartQuery, events: &[Value]) -> Vec<Series> {
    let mut cells = Cells::default();
    for e in events {
        cells.add(q, e);
    }
    cells.finish(q)
}

/// A chart's cells filled one event at a time: [`reference`] without
/// holding the events (each adds one number to its cell).
///
/// By default every number is kept, as [`aggregate`] needs for a
/// percentile. [`Cells::for_query`] keeps only what its aggregation needs:
/// a count, sum, average, minimum or maximum is kept as it is made, in the
/// order the numbers come, so it equals [`aggregate`] over them bit for bit
/// (a chart over ten million events held 80–160 MB of numbers).
#[derive(Debug, Default)]
pub struct Cells {
    cells: BTreeMap<(Option<String>, i64), Numbers>,
    totals_only: bool,
}

/// A cell's numbers, or only their totals.
#[derive(Debug)]
struct Numbers {
    /// Every number (empty when only totals are kept).
    all: Vec<f64>,
    count: u64,
    /// Folded as [`Iterator::sum`] folds, from its own start.
    sum: f64,
    min: f64,
    max: f64,
}

impl Numbers {
    fn new() -> Numbers {
        Numbers {
            all: Vec::new(),
            count: 0,
            sum: std::iter::empty::<f64>().sum(),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// [`aggregate`] over the numbers pushed (`None` for an empty cell).
    fn aggregate(mut self, agg: Aggregation, totals_only: bool) -> Option<f64> {
        if !totals_only {
            return aggregate(agg, &mut self.all);
        }
        if self.count == 0 {
            return (agg == Aggregation::Count).then_some(0.0);
        }
        Some(match agg {
            Aggregation::Count => self.count as f64,
            Aggregation::Sum => self.sum,
            Aggregation::Avg => self.sum / self.count as f64,
            Aggregation::Min => self.min,
            Aggregation::Max => self.max,
            // (A percentile keeps every number: never totals only.)
            Aggregation::Percentile(_) => return None,
        })
    }
}

/// Where an event counts in a chart, and with what number: its cell (its
/// group and bucket) and value. [`Cells::cell`] finds it; [`Cells::push`]
/// adds it, so a reader can find an event's cell where the event is, and
/// hand on only that.
pub type Cell = ((Option<String>, i64), f64);

impl Cells {
    /// Add an event (its current state, with rollups for sessions).
    pub fn add(&mut self, q: &ChartQuery, e: &Value) {
        if let Some(c) = Cells::cell(q, e) {
            self.push(c);
        }
    }

    /// Cells that keep only what `q`'s aggregation needs of their numbers
    /// (the same answers as [`Cells::default`]'s).
    pub fn for_query(q: &ChartQuery) -> Cells {
        Cells {
            cells: BTreeMap::new(),
            totals_only: !matches!(q.aggregation, Aggregation::Percentile(_)),
        }
    }

    /// Add a cell's value, as [`Cells::add`] adds the event it is of.
    pub fn push(&mut self, (key, value): Cell) {
        let n = self.cells.entry(key).or_insert_with(Numbers::new);
        if self.totals_only {
            n.count += 1;
            n.sum += value;
            n.min = n.min.min(value);
            n.max = n.max.max(value);
        } else {
            n.count += 1;
            n.all.push(value);
        }
    }

    /// [`Cells::push`] the same cell `times` times: as many events alike
    /// in all the chart reads of them.
    pub fn push_times(&mut self, (key, value): Cell, times: u64) {
        let n = self.cells.entry(key).or_insert_with(Numbers::new);
        for _ in 0..times {
            n.count += 1;
            if self.totals_only {
                n.sum += value;
                n.min = n.min.min(value);
                n.max = n.max.max(value);
            } else {
                n.all.push(value);
            }
        }
    }

    /// The cell an event adds to, if it counts in the chart.
    pub fn cell(q: &ChartQuery, e: &Value) -> Option<Cell> {
        let start = e.get("start_time").and_then(Value::as_f64)?;
        if q.date_range.start_ms.is_some_and(|s| start < s)
            || q.date_range.end_ms.is_some_and(|x| start > x)
        {
            return None;
        }
        Cells::cell_starting(q, e, start as i64)
    }

    /// [`Cells::cell`] of an event known to start in the chart's range, in
    /// the same bucket as the whole millisecond `start` (`start_time` as
    /// an integer): what a store that tells the range and the bucket
    /// itself asks of the rest of the event.
    pub fn cell_starting(q: &ChartQuery, e: &Value, start: i64) -> Option<Cell> {
        let value = match &q.metric {
            None => 1.0,
            Some(m) => m
                .lookup(e)
                .filter(|v| v.is_number())
                .and_then(Value::as_f64)?,
        };
        Some((Cells::cell_key(q, e, start)?, value))
    }

    /// Where [`Cells::cell_starting`] puts an event, whatever its metric
    /// (its group and bucket), if its level and filters let it count: for
    /// a store that finds the metric's numbers itself.
    pub fn cell_key(q: &ChartQuery, e: &Value, start: i64) -> Option<(Option<String>, i64)> {
        let is_session = e.get("event_type").and_then(Value::as_str) == Some("session")
            && e.get("event_id") == e.get("session_id");
        if q.level == ChartLevel::Session && !is_session {
            return None;
        }
        if !q.filters.iter().all(|f| f.matches(e)) {
            return None;
        }
        let group = q.group_by.as_ref().and_then(|g| group_key(g.lookup(e)));
        Some((group, q.bucket.floor(start)))
    }

    /// Add `count` numbers of sum `sum`, least `min` and greatest `max`
    /// to a cell, as pushing each would (but for the order of the sum).
    /// Cells that keep every number (a percentile's) take nothing this
    /// way: a store adds its numbers one by one there.
    pub fn push_totals(
        &mut self,
        key: (Option<String>, i64),
        count: u64,
        sum: f64,
        min: f64,
        max: f64,
    ) {
        if !self.totals_only || count == 0 {
            return;
        }
        let n = self.cells.entry(key).or_insert_with(Numbers::new);
        n.count += count;
        n.sum += sum;
        n.min = n.min.min(min);
        n.max = n.max.max(max);
    }

    /// The series.
    pub fn finish(self, q: &ChartQuery) -> Vec<Series> {
        let mut by_group: BTreeMap<Option<String>, Vec<Point>> = BTreeMap::new();
        for ((group, bucket), numbers) in self.cells {
            let count = numbers.count;
            if let Some(value) = numbers.aggregate(q.aggregation, self.totals_only) {
                by_group.entry(group).or_default().push(Point {
                    bucket,
                    value,
                    count,
                });
            }
        }
        finish(
            by_group
                .into_iter()
                .map(|(group, points)| Series { group, points })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests;
