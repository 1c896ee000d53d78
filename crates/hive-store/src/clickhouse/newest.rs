//! A list's page, newest first, without reading the whole project
//! (ADR 0015): the dashboard's lists open newest first over all time, and
//! counting every match of a ten-million-event project takes a pass over
//! all of it, where the page alone lies in the last hours.

use super::ClickHouseStore;
use super::leaves::{ARR, OBJ, STR, STR_DATE};
use super::partial::{Scope, streams};
use super::schema::minute_sql;
use crate::query::MAX_LIMIT;
use crate::{EventQuery, Order, Page, Result};

/// Pages deeper than this are found by counting, as `query` does.
const MAX_NEED: usize = 10_000;
/// Windows tried before counting instead.
const MAX_WINDOWS: usize = 4;
const HOUR_MS: i64 = 3_600_000;

impl ClickHouseStore {
    /// The page of a list newest first, found in the newest hours alone
    /// when they hold it; `None` when it is not (the caller counts).
    ///
    /// A window `[from, end]` is read as a dated read (ADR 0014), exact for
    /// the matches that start in it. Newest first, every match that starts
    /// before `from` comes after every match in the window, so once the
    /// window holds more than `offset + limit` matches, its first
    /// `offset + limit` are the query's, and a match follows the page. The
    /// window grows from the newest hours of the index of starts, by what
    /// the last one found, and gives up (counting instead) when it would
    /// reach the oldest start, cover the query's own range, or need more
    /// events than a dated read selects.
    ///
    /// Newest first, a start that is text (or an object or array) sorts
    /// before every number, and no window holds it: a project where one
    /// was ever written is counted.
    pub(super) fn newest_page(&self, q: &EventQuery) -> Result<Option<Page>> {
        let Some(project) = q.project_id.as_deref() else {
            return Ok(None);
        };
        let need = q.offset.saturating_add(q.limit.clamp(1, MAX_LIMIT));
        let (floor, end) = (q.date_range.start_ms, q.date_range.end_ms);
        if q.order != Order::StartDesc
            || !streams(q)
            || need > MAX_NEED
            || floor.is_some_and(|f| !f.is_finite())
            || end.is_some_and(|e| !e.is_finite())
        {
            return Ok(None);
        }
        let pc = Self::project_cond(Some(project));
        let odd = self
            .client
            .rows(&format!(
                "SELECT count() AS n FROM hive_fields WHERE {pc} AND \
                 ((path = 'start_time' AND type IN ({STR}, {ARR}, {OBJ}, {STR_DATE})) \
                 OR startsWith(path, 'start_time.'))"
            ))?
            .first()
            .and_then(|r| r["n"].as_u64())
            .unwrap_or(1);
        if odd > 0 {
            return Ok(None);
        }
        // How many keys (a session's or an event's starts in a minute)
        // each hour holds, newest first: what a window's read costs.
        let mut hours_sql = format!(
            "SELECT intDiv(minute, 60) AS h, count() AS n FROM hive_starts \
             WHERE {pc} AND minute >= 60"
        );
        if let Some(e) = end {
            hours_sql.push_str(&format!(" AND minute <= {}", minute_sql(&format!("{e:?}"))));
        }
        hours_sql.push_str(" GROUP BY h ORDER BY h DESC");
        let hours: Vec<(i64, u64)> = self
            .client
            .rows(&hours_sql)?
            .iter()
            .filter_map(|r| Some((r["h"].as_i64()?, r["n"].as_u64()?)))
            .collect();
        let mut target = (need as u64 + 1).saturating_mul(4);
        for _ in 0..MAX_WINDOWS {
            let mut keys = 0u64;
            let mut from_hour = None;
            for &(h, n) in &hours {
                keys += n;
                if keys >= target {
                    from_hour = Some(h);
                    break;
                }
            }
            // The window would hold every start: the whole read costs no
            // more, and counts.
            let Some(h) = from_hour else {
                return Ok(None);
            };
            let from = h.saturating_mul(HOUR_MS) as f64;
            // The query's own range is no wider: it is a dated read already.
            if floor.is_some_and(|f| f >= from) {
                return Ok(None);
            }
            let scope = self.dated_scope(Some(project), (Some(from), end))?;
            if matches!(scope, Scope::All) {
                return Ok(None);
            }
            let mut window = q.clone();
            window.date_range.start_ms = Some(from);
            // The page is folded only once a window holds it.
            let found = self.stream_found(&window, &scope, true)?;
            if found.total > need as u64 {
                return Ok(Some(Page {
                    events: self.fold_found(found)?.events,
                    total: None,
                    more: true,
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
}
