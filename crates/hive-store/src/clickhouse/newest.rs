//! A list's page, newest or oldest first, without reading the whole
//! project (ADR 0015): the dashboard's lists open newest first over all
//! time, the export API pages oldest first by default, and counting every
//! match of a ten-million-event project takes a pass over all of it, where
//! the page alone lies in the last (or first) hours.

use std::sync::atomic::Ordering as Atomic;

use hive_core::chart::{Aggregation, Bucket, ChartLevel, ChartQuery};

use super::ClickHouseStore;
use super::filter_sql::path_of;
use super::leaves::{ARR, BOOL, NULL, OBJ, PRESENT_NULL, STR, STR_DATE};
use super::partial::{Scope, streams};
use super::schema::{ALWAYS, minute_sql};
use crate::query::MAX_LIMIT;
use crate::{EventQuery, Level, Order, Page, Result};

/// The types of a start that sort before every number newest first (text,
/// a date as text, an array, an object), or oldest first (null, a
/// boolean): starts no window holds.
fn odd_starts(newest: bool) -> String {
    if newest {
        format!("{STR}, {ARR}, {OBJ}, {STR_DATE}")
    } else {
        format!("{NULL}, {BOOL}, {PRESENT_NULL}")
    }
}

/// Pages deeper than this are found by counting, as `query` does.
const MAX_NEED: usize = 10_000;
/// Windows tried before counting instead.
const MAX_WINDOWS: usize = 4;
const HOUR_MS: i64 = 3_600_000;
/// A day in minutes: newest first, the index of starts is read a day's
/// hours first (then a week's, 8 and 64 weeks', then all).
const DAY: i64 = 24 * 60;
const WEEK: i64 = 7 * DAY;

impl ClickHouseStore {
    /// The page of a list newest or oldest first, found in the newest (or
    /// oldest) hours alone when they hold it; `None` when they do not (the
    /// caller counts).
    ///
    /// A window is read as a dated read (ADR 0014), exact for the matches
    /// that start in it. Newest first the window is `[from, end]`, and
    /// every match that starts before `from` comes after every match in it;
    /// oldest first it is `[floor, to]`, and every match that starts after
    /// `to` comes after. So once the window holds more than
    /// `offset + limit` matches, its first `offset + limit` are the
    /// query's, and a match follows the page. The window grows from the
    /// newest (oldest) hours of the index of starts, by what the last one
    /// found, and gives up (counting instead) when it would reach the other
    /// end of the starts, cover the query's own range, or need more events
    /// than a dated read selects.
    ///
    /// A start that no window holds but that sorts before the numbers (text,
    /// an object or an array newest first; null or a boolean oldest first)
    /// makes its project counted, as does a start at or before the epoch's
    /// first hour oldest first (a dated read's bound is after it).
    pub(super) fn edge_page(&self, q: &EventQuery) -> Result<Option<Page>> {
        let Some(project) = q.project_id.as_deref() else {
            return Ok(None);
        };
        let newest = match q.order {
            Order::StartDesc => true,
            Order::StartAsc => false,
            _ => return Ok(None),
        };
        let need = q.offset.saturating_add(q.limit.clamp(1, MAX_LIMIT));
        let (floor, end) = (q.date_range.start_ms, q.date_range.end_ms);
        if !streams(q)
            || need > MAX_NEED
            || floor.is_some_and(|f| !f.is_finite())
            || end.is_some_and(|e| !e.is_finite())
        {
            return Ok(None);
        }
        let pc = Self::project_cond(Some(project));
        if self.starts_written_as(project, &odd_starts(newest))? {
            return Ok(None);
        }
        // How many keys (a session's or an event's starts in a minute)
        // each hour holds, from the edge the list starts at: what a
        // window's read costs. Newest first, the last day's hours are
        // read first (the index is ordered by minute, so only they are
        // read; the whole index took 53–70 ms at ten million events,
        // cold), and more only when a window needs more: the newest hours
        // are the same in each, so a window found among them is the same.
        let hours_since = |since: Option<i64>| -> Result<Vec<(i64, u64)>> {
            let mut sql = format!(
                "SELECT intDiv(minute, 60) AS h, count() AS n FROM hive_starts \
                 WHERE {pc} AND minute != {ALWAYS}"
            );
            if let Some(f) = floor {
                sql.push_str(&format!(" AND minute >= {}", minute_sql(&format!("{f:?}"))));
            }
            if let Some(m) = since {
                sql.push_str(&format!(" AND minute >= {m}"));
            }
            if let Some(e) = end {
                sql.push_str(&format!(" AND minute <= {}", minute_sql(&format!("{e:?}"))));
            }
            sql.push_str(if newest {
                " GROUP BY h ORDER BY h DESC"
            } else {
                " GROUP BY h ORDER BY h"
            });
            Ok(self
                .client
                .rows(&sql)?
                .iter()
                .filter_map(|r| Some((r["h"].as_i64()?, r["n"].as_u64()?)))
                .collect())
        };
        // The hours of the last day, week, 8 weeks and 64 weeks, then all
        // (oldest first: all at once), each read when the ones before
        // hold too few keys. The last from now, or from the end of the
        // newest day the state holds when that is earlier: a project whose
        // events all start long ago (imported, or a database at rest) has
        // its hours found in one read of a day's, where from now each reach
        // found none (about 70 ms at ten million events, for the whole
        // index's last). Each reach reads every hour since, so where it
        // starts changes no answer.
        let (now, mut reaches) = if newest {
            let now = match self.state_end()? {
                Some(end) => crate::now_ms().min(end),
                None => crate::now_ms(),
            };
            (
                now.div_euclid(60_000),
                vec![Some(DAY), Some(WEEK), Some(8 * WEEK), Some(64 * WEEK), None].into_iter(),
            )
        } else {
            (0, vec![None].into_iter())
        };
        let mut read_more = |hours: &mut Vec<(i64, u64)>| -> Result<bool> {
            let Some(reach) = reaches.next() else {
                return Ok(false);
            };
            *hours = hours_since(reach.map(|m: i64| now.saturating_sub(m)))?;
            Ok(true)
        };
        let mut hours = Vec::new();
        while hours.is_empty() && read_more(&mut hours)? {}
        let Some(&(first_hour, _)) = hours.first() else {
            return Ok(None);
        };
        let mut target = (need as u64 + 1).saturating_mul(4);
        for _ in 0..MAX_WINDOWS {
            let edge = |hours: &[(i64, u64)]| {
                let mut keys = 0u64;
                for &(h, n) in hours {
                    keys += n;
                    if keys >= target {
                        return (keys, Some(h));
                    }
                }
                (keys, None)
            };
            let (mut keys, mut edge_hour) = edge(&hours);
            while edge_hour.is_none() && read_more(&mut hours)? {
                (keys, edge_hour) = edge(&hours);
            }
            // The window would hold every start: the whole read costs no
            // more, and counts.
            let Some(h) = edge_hour else {
                return Ok(None);
            };
            let range = if newest {
                let from = h.saturating_mul(HOUR_MS) as f64;
                // The query's own range is no wider: it is a dated read
                // already.
                if floor.is_some_and(|f| f >= from) {
                    return Ok(None);
                }
                (Some(from), end)
            } else {
                // Hours hold their minutes' starts, so the oldest hour's
                // start is at or before every start (and a dated read
                // needs it after the epoch).
                let from = floor.unwrap_or(first_hour.saturating_mul(HOUR_MS) as f64);
                let to = h.saturating_add(1).saturating_mul(HOUR_MS) as f64;
                if end.is_some_and(|e| e <= to) {
                    return Ok(None);
                }
                (Some(from), Some(to))
            };
            let scope = self.dated_scope(Some(project), range)?;
            if matches!(scope, Scope::All) {
                return Ok(None);
            }
            let mut window = q.clone();
            window.date_range.start_ms = range.0;
            window.date_range.end_ms = range.1;
            // The page is folded only once a window holds it.
            let found = self.stream_found(&window, &scope, true)?;
            if found.total > need as u64 {
                let session_errors = Some(found.session_errors());
                let page = self.fold_found(found)?;
                return Ok(Some(Page {
                    events: page.events,
                    total: None,
                    more: true,
                    session_errors,
                    received_from: page.received_from,
                }));
            }
            // Too few: widen by what this window found (twice what it
            // suggests, between 2 and 16 times).
            let grow = match found.total {
                0 => 16,
                n => (2 * (need as u64 + 1)).div_ceil(n).clamp(2, 16),
            };
            target = keys.saturating_mul(grow);
        }
        Ok(None)
    }

    /// Whether a start of `project` was ever written as one of `types`, or
    /// as an object (field discovery, `hive_fields`, knows every type a
    /// path was written as).
    fn starts_written_as(&self, project: &str, types: &str) -> Result<bool> {
        let pc = Self::project_cond(Some(project));
        Ok(self
            .client
            .rows(&format!(
                "SELECT count() AS n FROM hive_fields WHERE {pc} AND \
                 ((path = 'start_time' AND type IN ({types})) \
                 OR startsWith(path, 'start_time.'))"
            ))?
            .first()
            .and_then(|r| r["n"].as_u64())
            .is_none_or(|n| n > 0))
    }

    /// Whether a list may be counted as a chart counts
    /// ([`Self::counted_from_state`]), as far as the list tells: an event or
    /// session-event list of one project, on a server that keeps the
    /// events' state (not a cluster).
    pub(super) fn may_count_from_state(&self, q: &EventQuery) -> bool {
        q.level != Level::Session && q.project_id.is_some() && self.keeps_state()
    }

    /// The count of a list that [`Self::may_count_from_state`], taken as a
    /// chart counts the same events (ADR 0037): `count` in one bucket, from
    /// the events' state at its cut and the events written since, where
    /// counting the list itself resolves every event of the project (about
    /// 30 s at ten million events). `None` where the two could differ, or
    /// the chart does not come from the state: the caller counts.
    ///
    /// A chart's levels are a list's event and session-event levels (a
    /// session's own event, with its rollups); a session-level list also
    /// matches a session by its other events, which no chart does. A chart
    /// counts the events whose start is a number in its range, as a list
    /// with a range does; over all time a list counts every event, and
    /// every event's start is a number unless one was ever written as
    /// something else.
    pub(super) fn counted_from_state(&self, project: &str, q: &EventQuery) -> Result<Option<u64>> {
        let level = match q.level {
            Level::Event => ChartLevel::Event,
            Level::SessionEvent => ChartLevel::Session,
            Level::Session => return Ok(None),
        };
        let all_time = q.date_range.start_ms.is_none() && q.date_range.end_ms.is_none();
        if all_time
            && self.starts_written_as(
                project,
                &format!("{}, {}", odd_starts(true), odd_starts(false)),
            )?
        {
            return Ok(None);
        }
        let chart = ChartQuery {
            metric: None,
            aggregation: Aggregation::Count,
            bucket: Bucket::Total,
            group_by: None,
            filters: q.filters.clone(),
            date_range: q.date_range,
            level,
        };
        let mut needed: Vec<String> = q.filters.iter().map(|f| path_of(&f.field)).collect();
        needed.sort_unstable();
        needed.dedup();
        let Some(counted) =
            self.charts_from_state(Some(project), std::slice::from_ref(&chart), &needed)?
        else {
            return Ok(None);
        };
        self.lists_counted_from_state.fetch_add(1, Atomic::Relaxed);
        Ok(Some(
            counted
                .iter()
                .flatten()
                .flat_map(|s| &s.points)
                .map(|p| p.count)
                .sum(),
        ))
    }
}
