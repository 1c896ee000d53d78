//! Event queries and charts. Both stream the events of their scope
//! resolved on the paths they read ([`super::partial`], ADR 0013); what is
//! left here is the older path, kept for a session-level list with more
//! filters than the stream tracks per session: ClickHouse narrows the events
//! down to a superset of the answer (see [`super::filter_sql`]), the
//! candidates are folded, and the exact semantics ([`Filter::matches`])
//! decide, order and page.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use hive_core::chart::{ChartQuery, Series};
use hive_core::filter::Filter;
use serde_json::Value;

use super::ClickHouseStore;
use super::read::Folded;
use crate::query::MAX_LIMIT;
use crate::{EventPage, EventQuery, Level, Order, Result};

fn is_session_doc(d: &Value) -> bool {
    d.get("event_type").and_then(Value::as_str) == Some("session")
        && d.get("event_id") == d.get("session_id")
}

fn start_of(d: &Value) -> Option<f64> {
    d.get("start_time").and_then(Value::as_f64)
}

/// Whether a document's start lies in the query's date range (one without
/// a start only when there is no range).
pub(super) fn in_range(q: &EventQuery, d: &Value) -> bool {
    let Some(s) = start_of(d) else {
        return q.date_range.start_ms.is_none() && q.date_range.end_ms.is_none();
    };
    q.date_range.start_ms.is_none_or(|x| s >= x) && q.date_range.end_ms.is_none_or(|x| s <= x)
}

/// SQLite's order of values: null, numbers, then text.
pub(super) fn sql_order(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn class(v: Option<&Value>) -> (u8, f64, String) {
        match v {
            None | Some(Value::Null) => (0, 0.0, String::new()),
            Some(Value::Number(n)) => (1, n.as_f64().unwrap_or(0.0), String::new()),
            Some(Value::Bool(b)) => (1, f64::from(u8::from(*b)), String::new()),
            Some(Value::String(s)) => (2, 0.0, s.clone()),
            Some(other) => (2, 0.0, other.to_string()),
        }
    }
    let (ca, na, sa) = class(a);
    let (cb, nb, sb) = class(b);
    ca.cmp(&cb)
        .then(na.partial_cmp(&nb).unwrap_or(Ordering::Equal))
        .then(sa.cmp(&sb))
}

impl ClickHouseStore {
    /// The current documents (with rollups) of the candidates for a query.
    fn candidates(
        &self,
        project_id: Option<&str>,
        filters: &[Filter],
        sessions_only: bool,
        range: (Option<f64>, Option<f64>),
    ) -> Result<Vec<Folded>> {
        let cond = self.candidate_sql(project_id, filters, sessions_only, range);
        let folded = self.fold_where(&cond)?;
        self.with_rollups(folded)
    }

    pub(super) fn run_query(&self, q: &EventQuery) -> Result<EventPage> {
        if let Some(page) = self.stream_query(q)? {
            return Ok(page);
        }
        let project = q.project_id.as_deref();
        let in_range = |d: &Value| in_range(q, d);
        let range = (q.date_range.start_ms, q.date_range.end_ms);
        let mut hits: Vec<Folded> = match q.level {
            Level::Event | Level::SessionEvent => {
                let sessions_only = q.level == Level::SessionEvent;
                self.candidates(project, &q.filters, sessions_only, range)?
                    .into_iter()
                    .filter(|f| !sessions_only || is_session_doc(&f.doc))
                    .filter(|f| in_range(&f.doc) && q.filters.iter().all(|x| x.matches(&f.doc)))
                    .collect()
            }
            Level::Session => {
                // A session matches when, for every filter, the session or
                // one of its events matches it.
                let cond = self.session_candidate_sql(project, &q.filters, range);
                let sessions: Vec<Folded> = self
                    .with_rollups(self.fold_where(&cond)?)?
                    .into_iter()
                    .filter(|f| is_session_doc(&f.doc) && in_range(&f.doc))
                    .collect();
                let keys: Vec<(String, String)> = sessions
                    .iter()
                    .map(|f| (f.project_id.clone(), f.event_id.clone()))
                    .collect();
                let members = if q.filters.is_empty() {
                    Vec::new()
                } else {
                    self.session_members(&keys)?
                };
                let mut by_session: HashMap<(&str, &str), Vec<&Value>> = HashMap::new();
                for m in &members {
                    by_session
                        .entry((m.project_id.as_str(), m.session_id()))
                        .or_default()
                        .push(&m.doc);
                }
                let matched: HashSet<(String, String)> = sessions
                    .iter()
                    .filter(|s| {
                        let events = by_session
                            .get(&(s.project_id.as_str(), s.event_id.as_str()))
                            .map(Vec::as_slice)
                            .unwrap_or(&[]);
                        q.filters.iter().all(|f| {
                            f.matches(&s.doc)
                                || events.iter().any(|e| {
                                    e.get("event_id") != Some(&Value::from(s.event_id.as_str()))
                                        && f.matches(e)
                                })
                        })
                    })
                    .map(|s| (s.project_id.clone(), s.event_id.clone()))
                    .collect();
                sessions
                    .into_iter()
                    .filter(|s| matched.contains(&(s.project_id.clone(), s.event_id.clone())))
                    .collect()
            }
        };
        let key = |f: &Folded, k: &str| -> Option<Value> {
            match k {
                "duration" => f.doc.get("duration").cloned(),
                _ => f.doc.get("metadata").and_then(|m| m.get(k)).cloned(),
            }
        };
        let tie = |a: &Folded, b: &Folded| {
            a.project_id
                .cmp(&b.project_id)
                .then(a.event_id.cmp(&b.event_id))
        };
        let by_start = |a: &Folded, b: &Folded| {
            sql_order(a.doc.get("start_time"), b.doc.get("start_time")).then(tie(a, b))
        };
        match q.order {
            Order::StartAsc => hits.sort_by(by_start),
            Order::StartDesc => hits.sort_by(|a, b| by_start(b, a)),
            Order::DurationDesc | Order::CostDesc | Order::TokensDesc | Order::EventsDesc => {
                let k = match q.order {
                    Order::DurationDesc => "duration",
                    Order::CostDesc => "cost",
                    Order::TokensDesc => "total_tokens",
                    _ => "num_events",
                };
                hits.sort_by(|a, b| {
                    sql_order(key(b, k).as_ref(), key(a, k).as_ref()).then(tie(b, a))
                });
            }
        }
        let total = hits.len() as u64;
        let limit = q.limit.clamp(1, MAX_LIMIT);
        let events = hits
            .into_iter()
            .skip(q.offset)
            .take(limit)
            .map(|f| f.doc)
            .collect();
        Ok(EventPage {
            events,
            total,
            received_from: None,
        })
    }

    pub(super) fn run_chart(
        &self,
        project_id: Option<&str>,
        q: &ChartQuery,
    ) -> Result<Vec<Series>> {
        Ok(self
            .stream_charts(project_id, std::slice::from_ref(q))?
            .pop()
            .unwrap_or_default())
    }
}
