//! A list's page, newest or oldest first, without reading the whole
//! project (ADR 0015): the dashboard's lists open newest first over all
//! time, the export API pages oldest first by default, and counting every
//! match of a ten-million-event project takes a pass over all of it, where
//! the page alone lies in the last (or first) hours.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering as Atomic;

use hive_core::chart::{Aggregation, Bucket, ChartLevel, ChartQuery};

use hive_core::filter::{Filter, Operand, Operator};

use super::filter_sql::path_of;
use super::http::{NAMED, lit};
use super::leaves::{ARR, BOOL, NULL, NUM, OBJ, PRESENT_NULL, STR, STR_DATE};
use super::partial::{Paths, Scope, order_path, streams};
use super::schema::{ALWAYS, minute_sql};
use super::state::MAX_UNSETTLED;
use super::{ClickHouseStore, lock, now_ms, slots};
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
    ///
    /// `max_keys`: the most keys a window may hold (more, and `None`).
    pub(super) fn edge_page(&self, q: &EventQuery, max_keys: u64) -> Result<Option<Page>> {
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
            if keys > max_keys {
                return Ok(None);
            }
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

/// State rows a page selected from the state reads at most (those its
/// filters cannot settle among them): more, and the list is found as
/// before.
const MAX_SELECTED: usize = 5_000;

/// Keys a window of the edge hours holds at most where the state could
/// select the page ([`ClickHouseStore::some_page`]): two windows' worth
/// for a page of 50 (the first holds 204 keys, the next up to 16 times
/// that).
const STATE_SELECTS_PAST: u64 = 4_096;

impl ClickHouseStore {
    /// A list's page found without counting every match: in the newest or
    /// oldest hours ([`Self::edge_page`]), else selected from the events'
    /// state ([`Self::state_page`]); `None`: the caller counts.
    ///
    /// Where the state could select the page, windows of the edge hours
    /// hold [`STATE_SELECTS_PAST`] keys at most: a rare filter's page lies
    /// far back, and the windows that reach it read much of the project
    /// (at ten million events, 1.7 s for a match in a thousand four hours
    /// back, and 23–26 s for a filter nothing matched, before the list was
    /// counted).
    pub(super) fn some_page(&self, q: &EventQuery) -> Result<Option<Page>> {
        let max_keys = match self.state_selects(q) {
            true => STATE_SELECTS_PAST,
            false => u64::MAX,
        };
        if self.edge_pages
            && let Some(page) = self.edge_page(q, max_keys)?
        {
            return Ok(Some(page));
        }
        self.state_page(q)
    }

    /// Whether the state may select the page of `q`, as far as the list
    /// tells ([`Self::state_page`] reads the rest).
    fn state_selects(&self, q: &EventQuery) -> bool {
        let need = q.offset.saturating_add(q.limit.clamp(1, MAX_LIMIT));
        let finite = |x: Option<f64>| x.is_none_or(f64::is_finite);
        self.may_count_from_state(q)
            && streams(q)
            && need <= MAX_NEED
            && finite(q.date_range.start_ms)
            && finite(q.date_range.end_ms)
            && q.filters
                .iter()
                .enumerate()
                .all(|(j, f)| state_path(&path_of(&f.field)) && verdicts(f, j).is_some())
    }

    /// The page of a list newest or oldest first, selected from the
    /// events' state (ADR 0038, after ADR 0034), where the newest or oldest
    /// hours do not hold it ([`Self::edge_page`]: a rare filter, whose
    /// matches lie all over the project); `None` where the state cannot
    /// select it (the caller counts, as before).
    ///
    /// The state's rows at the cut are exact for every event not written
    /// or marked since it ([`Self::state_unsettled`]). Each filter is
    /// compiled to two conditions on a row's leaves ([`verdicts`]): one
    /// that holds only where the event matches, one only where it does
    /// not. The rows of the level and range are read from the list's end,
    /// ordered by start, a window of days at a time; taken are every row
    /// not settled as no match, up to the page's last place and one more
    /// among the rows settled as matches (with every row tied with it),
    /// and every event written since the cut. Every match of the page is
    /// among them: an unchanged event that matches and starts after the
    /// last row taken follows at least that many matches. The events
    /// taken, with every event of their sessions, are then read as a dated
    /// read reads its scope (`stream_found`): the same folds, filters and
    /// order, and so the same page.
    pub(super) fn state_page(&self, q: &EventQuery) -> Result<Option<Page>> {
        let Some(project) = q.project_id.as_deref() else {
            return Ok(None);
        };
        if !self.state_selects(q) {
            return Ok(None);
        }
        // Newest first, or by the largest value of another path (a
        // session's rollup for sessions): the rows are then read in one
        // window, ordered by that path's number.
        let by_start = matches!(q.order, Order::StartDesc | Order::StartAsc);
        let descending = q.order != Order::StartAsc;
        let need = q.offset.saturating_add(q.limit.clamp(1, MAX_LIMIT));
        let (floor, end) = (q.date_range.start_ms, q.date_range.end_ms);
        let paths: Vec<String> = q.filters.iter().map(|f| path_of(&f.field)).collect();
        let key = (!by_start).then(|| order_path(q.order).to_owned());
        let read: Vec<String> = paths.iter().chain(&key).cloned().collect();
        let conds: Vec<(String, String)> = q
            .filters
            .iter()
            .enumerate()
            .filter_map(|(j, f)| verdicts(f, j))
            .collect();
        let taken = std::time::Instant::now();
        let Some(cut) = self.read_cut(Some(project))? else {
            return Ok(None);
        };
        // A leaf below a filter's path makes it an object there, which
        // no row's leaf at the path tells.
        if !read.is_empty()
            && !self
                .below(Some(project), &Paths::new(read.clone()))?
                .is_empty()
        {
            return Ok(None);
        }
        let Some(unsettled) = self.state_unsettled(project, &cut)? else {
            return Ok(None);
        };
        let slot_paths = slots::slot_paths(&cut.slots, project);
        let lacking: Vec<String> = read
            .iter()
            .filter(|p| !slot_paths.contains(p))
            .cloned()
            .collect();
        if !lacking.is_empty() {
            lock(&self.wanted).add(project, lacking);
        }
        let slotted: Vec<String> = read
            .iter()
            .filter(|p| slot_paths.contains(p))
            .cloned()
            .collect();
        lock(&self.used).note(project, slotted, now_ms());
        let slot_of = |p: &str| slot_paths.iter().position(|x| x == p);
        let mut extract = vec![match slot_of("start_time") {
            Some(j) => format!("slot{j}_t AS t_s, slot{j}_n AS st"),
            None => "indexOf(hashes, cityHash64('start_time')) AS i_s, types[i_s] AS t_s, \
                     nums[i_s] AS st"
                .to_owned(),
        }];
        let leaf = |p: &str, j: &str| match slot_of(p) {
            Some(at) => format!("slot{at}_t AS ty{j}, slot{at}_s AS tx{j}, slot{at}_n AS nm{j}"),
            None => format!(
                "indexOf(hashes, cityHash64({})) AS i{j}, types[i{j}] AS ty{j}, \
                 strs[i{j}] AS tx{j}, nums[i{j}] AS nm{j}",
                lit(p)
            ),
        };
        for (j, p) in paths.iter().enumerate() {
            extract.push(leaf(p, &j.to_string()));
        }
        // A row's group in the list's order and its number there: by start,
        // a start that is a number of an hour (1) or not (0, taken always:
        // the fold orders them); by another path, largest first as SQLite
        // orders, text and the like first (0, taken always), then numbers
        // (1), then none (2, taken while the page is not complete).
        let (grp, key_of) = match &key {
            None => (format!("hour >= 0 AND t_s = {NUM}"), "st"),
            Some(k) => {
                extract.push(leaf(k, "k"));
                (
                    format!("multiIf(tyk = {NUM}, 1, tyk IN ({NULL}, {PRESENT_NULL}), 2, 0)"),
                    "nmk",
                )
            }
        };
        let (yes, no) = match conds.is_empty() {
            true => ("1".to_owned(), "0".to_owned()),
            false => (
                conds
                    .iter()
                    .map(|(y, _)| y.as_str())
                    .collect::<Vec<_>>()
                    .join(" AND "),
                conds
                    .iter()
                    .map(|(_, n)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(" OR "),
            ),
        };
        let mut rows = vec![format!("project_id = {}", lit(project))];
        let mut in_range = vec![format!("t_s = {NUM}")];
        if let Some(f) = floor {
            rows.push(format!(
                "(hour = -1 OR hour >= {})",
                (f / HOUR_MS as f64).floor() as i64
            ));
            in_range.push(format!("st >= toFloat64({f:?})"));
        }
        if let Some(e) = end {
            rows.push(format!(
                "(hour = -1 OR hour <= {})",
                (e / HOUR_MS as f64).floor() as i64
            ));
            in_range.push(format!("st <= toFloat64({e:?})"));
        }
        // What a row's own columns settle, read first (`PREWHERE`): the
        // rest is read for the rows left.
        let mut pre = vec![
            format!("NOT ({no})"),
            match (by_start, in_range.len()) {
                // (A start no hour holds is the fold's to place.)
                (true, _) => format!("(grp = 0 OR ({}))", in_range.join(" AND ")),
                (false, 1) => "1".to_owned(),
                (false, _) => format!("({})", in_range.join(" AND ")),
            },
        ];
        if q.level == Level::SessionEvent {
            pre.insert(0, "session_hash = id_hash".into());
        }
        if !unsettled.hashes.is_empty() {
            pre.push(format!("id_hash NOT IN {NAMED}"));
        }
        let pre = pre.join(" AND ");
        let rows = rows.join(" AND ");
        // The days read, from the list's end, a window at a time (a day,
        // then two, four…): a page whose matches are not that rare lies in
        // the first. A row is ordered by its start where that is a
        // number of an hour (in day 0 otherwise, read in the first
        // window: the fold orders those rows).
        const DAY_MS: f64 = 24.0 * HOUR_MS as f64;
        let day_of = |ms: f64| (ms / DAY_MS).floor();
        let mut days: Vec<u32> = cut
            .days
            .iter()
            .map(|(d, _)| *d)
            .filter(|&d| {
                d > 0
                    && floor.is_none_or(|f| f64::from(d) >= day_of(f))
                    && end.is_none_or(|e| f64::from(d) <= day_of(e))
            })
            .collect();
        days.sort_unstable();
        days.dedup();
        if descending {
            days.reverse();
        }
        let mut windows: Vec<Vec<u32>> = Vec::new();
        // (Ordered by another path, every day at once.)
        let (mut at, mut size) = (0, if by_start { 1 } else { days.len().max(1) });
        while at < days.len() || windows.is_empty() {
            let mut window = days[at.min(days.len())..(at + size).min(days.len())].to_vec();
            if windows.is_empty() {
                window.push(0);
            }
            windows.push(window);
            at += size;
            size *= 2;
        }
        // The rows the page needs: the events written since the cut, and
        // of the rows read (ordered), every one the filters do not settle
        // as no match up to the page's last place and one more among
        // those they settle as matches, with every row tied with it; and
        // the keys of their sessions' first days.
        let mut picked: BTreeSet<u64> = unsettled.hashes.iter().copied().collect();
        let mut keys: BTreeSet<u64> = BTreeSet::new();
        let (mut read, mut sure, mut last, mut closed) = (0usize, 0usize, None::<f64>, false);
        for window in windows {
            if closed {
                break;
            }
            let sql = format!(
                "SELECT id_hash, k, grp, o, grp = 1 AND ({yes}) AS sure FROM (\
                 SELECT id_hash, if(session_hash = cityHash64(''), id_hash, session_hash) AS k, \
                 {extract}, toUInt8({grp}) AS grp, toFloat64({key_of}) AS o FROM hive_state \
                 PREWHERE {pre} WHERE {rows} AND {cut_rows}) \
                 ORDER BY grp, o {dir} LIMIT {limit}",
                extract = extract.join(", "),
                cut_rows = cut.rows_in_days(project, &window),
                dir = if descending { "DESC" } else { "ASC" },
                limit = (MAX_SELECTED + 1).saturating_sub(read),
            );
            self.client.each_binary_row_naming(
                &sql,
                (!unsettled.hashes.is_empty()).then_some(unsettled.hashes.as_slice()),
                |r| {
                    use super::http::binary as b;
                    let (h, k) = (b::u64(r)?, b::u64(r)?);
                    let (grp, o, is) = (b::u8(r)?, b::f64(r)?, b::u8(r)? != 0);
                    read += 1;
                    // (Numbers past the page's end close it; the rows
                    // of no number after them are then not needed.)
                    if closed || (grp == 1 && last.is_some_and(|l| l != o)) {
                        closed = true;
                        return Ok(());
                    }
                    picked.insert(h);
                    keys.insert(k);
                    if grp == 1 && is && last.is_none() {
                        sure += 1;
                        if sure > need {
                            last = Some(o);
                        }
                    }
                    Ok(())
                },
            )?;
            if read > MAX_SELECTED && !closed {
                return Ok(None);
            }
        }
        // (A cut's rows are kept for the grace time after a newer cut
        // replaced it: a statement begun later may have missed some.)
        if taken.elapsed() >= self.state_grace {
            return Ok(None);
        }
        let Some(all) = self.with_members(project, picked, MAX_UNSETTLED)? else {
            return Ok(None);
        };
        // Their writes from the day the earliest was received: a row's
        // writes were received no earlier than its session's first day
        // (`hive_session_first`), and the writes since the cut no earlier
        // than the batches since.
        let since = match unsettled.hashes.is_empty() {
            true => i64::MAX,
            false => unsettled.received_from,
        };
        let keys: Vec<u64> = keys.into_iter().collect();
        let at_cut = self.first_days(project, &keys)?;
        let every = Some(at_cut.min(since)).filter(|&t| t < i64::MAX);
        let found = self.stream_found(q, &Scope::Hashes(all, None, every), true)?;
        let more = found.total > need as u64;
        let session_errors = Some(found.session_errors());
        let page = self.fold_found(found)?;
        self.lists_paged_from_state.fetch_add(1, Atomic::Relaxed);
        Ok(Some(Page {
            events: page.events,
            total: None,
            more,
            session_errors,
            received_from: page.received_from,
        }))
    }

    /// The first day (as ms) any write of the events of these keys (a
    /// session's hash, or an event's of no session) was received, by
    /// `hive_session_first`; `i64::MAX` for none. (Its keys are made from
    /// them first, and looked up as literals, which its index finds: as a
    /// subquery, every key was read, 50–80 ms at ten million events.)
    fn first_days(&self, project: &str, keys: &[u64]) -> Result<i64> {
        let mut first = i64::MAX;
        if keys.is_empty() {
            return Ok(first);
        }
        let mut of = Vec::with_capacity(keys.len());
        self.client.each_binary_row_naming(
            &format!("SELECT cityHash64({}, h) FROM {NAMED}", lit(project)),
            Some(keys),
            |r| {
                of.push(super::http::binary::u64(r)?.to_string());
                Ok(())
            },
        )?;
        for chunk in of.chunks(10_000) {
            self.client.each_binary_row(
                &format!(
                    "SELECT count(), minMerge(first) FROM hive_session_first WHERE key IN ({})",
                    chunk.join(", ")
                ),
                |r| {
                    use super::http::binary as b;
                    let (n, day) = (b::u64(r)?, b::u32(r)?);
                    if n > 0 {
                        first = first.min(i64::from(day) * 24 * HOUR_MS);
                    }
                    Ok(())
                },
            )?;
        }
        Ok(first)
    }
}

/// Whether a filter's path is read from a state row's leaves: not an id
/// the row keeps apart, not content, and no array's element.
fn state_path(path: &str) -> bool {
    const OWN: [&str; 4] = ["event_id", "session_id", "parent_id", "project_id"];
    let top = path.split('.').next().unwrap_or_default();
    !OWN.contains(&top)
        && !super::leaves::is_content(path)
        && path
            .split('.')
            .all(|s| !s.is_empty() && !s.bytes().all(|b| b.is_ascii_digit()) && !s.contains('\\'))
}

/// Filter `f` on a state row's leaf at its path (`ty{j}`, `tx{j}`,
/// `nm{j}`) as two conditions: the first holds only where the event
/// matches, the second only where it does not, as [`Filter::matches`]
/// decides on the folded document; `None` for a filter neither can tell.
/// A row that neither settles is taken, and its event read. (A leaf inside an array, or
/// below a leaf a slot's path lies under, settles neither: types from
/// `leaves::DERIVED`.)
fn verdicts(f: &Filter, j: usize) -> Option<(String, String)> {
    let (ty, tx, nm) = (format!("ty{j}"), format!("tx{j}"), format!("nm{j}"));
    let absent = format!("{ty} IN ({NULL}, {PRESENT_NULL})");
    let text = format!("{ty} IN ({STR}, {STR_DATE})");
    let num = |x: f64| match x {
        x if x.is_nan() => "nan".to_owned(),
        x if x.is_infinite() => (if x > 0.0 { "inf" } else { "-inf" }).to_owned(),
        x => format!("toFloat64({x:?})"),
    };
    // Is: a value of one type equal to the operand's, and no other type
    // equal; the types it never equals, besides the absent.
    let equal = |yes: String, of: &str, never: &str| {
        (
            yes.clone(),
            format!("{absent} OR {ty} IN ({never}) OR ({ty} IN ({of}) AND NOT ({yes}))"),
        )
    };
    let is = || -> Option<(String, String)> {
        Some(match &f.operand {
            Operand::Text(t) => equal(
                format!("{ty} IN ({STR}, {STR_DATE}, {BOOL}) AND {tx} = {}", lit(t)),
                &format!("{STR}, {STR_DATE}, {BOOL}"),
                &format!("{ARR}, {OBJ}"),
            ),
            Operand::Number(x) | Operand::Datetime { ms: x, .. } => equal(
                format!("{ty} = {NUM} AND {nm} = {}", num(*x)),
                &NUM.to_string(),
                &format!("{STR}, {STR_DATE}, {BOOL}, {ARR}, {OBJ}"),
            ),
            Operand::Bool(v) => equal(
                format!("{ty} = {BOOL} AND {tx} = '{v}'"),
                &BOOL.to_string(),
                &format!("{STR}, {STR_DATE}, {NUM}, {ARR}, {OBJ}"),
            ),
            Operand::None => return None,
        })
    };
    // Greater or less: a number (or, for a date, a number or a date's
    // text, as its milliseconds) compared; other types never compare.
    let compare = |op: &str| -> Option<(String, String)> {
        let (x, of, never) = match &f.operand {
            Operand::Number(x) => (
                *x,
                NUM.to_string(),
                format!("{STR}, {STR_DATE}, {BOOL}, {ARR}, {OBJ}"),
            ),
            Operand::Datetime { ms, .. } => (
                *ms,
                format!("{NUM}, {STR_DATE}"),
                format!("{BOOL}, {ARR}, {OBJ}"),
            ),
            _ => return None,
        };
        let yes = format!("{ty} IN ({of}) AND {nm} {op} {}", num(x));
        Some((
            yes.clone(),
            format!("{absent} OR {ty} IN ({never}) OR ({ty} IN ({of}) AND NOT ({yes}))"),
        ))
    };
    // Contains: a text holding the operand, case aside. Settled for ASCII
    // operands on ASCII texts, which ClickHouse and the fold lower alike.
    let contains = || -> Option<(String, String)> {
        let Operand::Text(t) = &f.operand else {
            return None;
        };
        if !t.is_ascii() {
            return Some(("0".into(), absent.clone()));
        }
        let found = format!("positionCaseInsensitive({tx}, {}) > 0", lit(t));
        Some((
            format!("{text} AND {found}"),
            format!("{absent} OR ({text} AND length({tx}) = lengthUTF8({tx}) AND NOT ({found}))"),
        ))
    };
    let present = format!("{ty} IN ({STR}, {NUM}, {BOOL}, {ARR}, {OBJ}, {STR_DATE})");
    let not = |(y, n): (String, String)| (n, y);
    let (y, n) = match f.operator {
        Operator::Exists => (present, absent),
        Operator::NotExists => (absent, present),
        Operator::Is => is()?,
        Operator::IsNot => not(is()?),
        Operator::Contains => contains()?,
        Operator::NotContains => not(contains()?),
        Operator::GreaterThan | Operator::After => compare(">")?,
        Operator::LessThan | Operator::Before => compare("<")?,
    };
    Some((format!("({y})"), format!("({n})")))
}
