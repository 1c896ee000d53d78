//! Charts from the events' state (ADR 0028): the rows of the newest cut,
//! added up by ClickHouse as [`super::singles`] adds up bases, and the
//! events the cut does not settle, streamed as before.

use std::collections::BTreeSet;
use std::time::Instant;

use hive_core::chart::{Cells, ChartQuery, Series};
use hive_core::rollup::Rollup;

use super::super::http::{binary as b, lit};
use super::super::slots;
use super::super::state::{MAX_UNSETTLED, Unsettled};
use super::super::{ClickHouseStore, lock, now_ms};
use super::singles::{self, Added, Singles};
use super::{BySession, HeldSessions, Paths, Scope, add_cells, finish_cells, rollup_inputs};
use crate::{Result, StoreError};

/// Rounds of widening the streamed events to hold every event of the
/// sessions among them before the read resolves every write instead.
const ROUNDS: usize = 4;

impl ClickHouseStore {
    /// The charts `qs` of one project (reading the paths `needed`) from
    /// the state, or `None` when it cannot answer for them: no cut yet,
    /// more events written since it than a read streams, a chart the
    /// groups cannot add up (content, ids, percentiles, a path below one
    /// read), or the read took longer than a cut's rows are kept.
    ///
    /// Every event is either its row at the cut or streamed: the events
    /// written since the cut, the sessions they belong to (whose rollups
    /// their rows hold), every event of those sessions (which their
    /// rollups need), and rows the groups leave to the stream (a start
    /// that is not a number, a metric inside an array), with every event
    /// of the sessions among those.
    pub(in crate::clickhouse) fn charts_from_state(
        &self,
        project_id: Option<&str>,
        qs: &[ChartQuery],
        needed: &[String],
    ) -> Result<Option<Vec<Vec<Series>>>> {
        if let Some(project) = project_id {
            lock(&self.recent).note(project, qs, needed, now_ms());
        }
        self.charts_from_state_as_read(project_id, qs, needed)
    }

    /// Keep the groups of the days a compaction rewrote for the charts
    /// read here within [`WARM_FOR`] (ADR 0030): the next chart of each
    /// reads them as kept, not the days' rows. Run after a compaction that
    /// rewrote many days (a slot given to a path rewrites them all).
    pub(in crate::clickhouse) fn keep_recent_sums(&self) {
        if !self.keep_sums {
            return;
        }
        let recent = lock(&self.recent).since(now_ms() - WARM_FOR.as_millis() as i64);
        let began = Instant::now();
        for (project, qs, needed) in recent {
            // (The compactions wait meanwhile: what is left is kept by
            // the charts' own next reads.)
            if began.elapsed() > WARM_BUDGET {
                break;
            }
            if let Err(e) = self.charts_from_state_as_read(Some(&project), &qs, &needed) {
                tracing::warn!(error = %e, "cannot keep the groups of a chart read lately");
            }
        }
    }

    /// [`Self::charts_from_state`], without noting the charts as read.
    fn charts_from_state_as_read(
        &self,
        project_id: Option<&str>,
        qs: &[ChartQuery],
        needed: &[String],
    ) -> Result<Option<Vec<Vec<Series>>>> {
        let Some(project) = project_id else {
            return Ok(None);
        };
        let Some(plan) = singles::plan(Some(project), qs, needed, true) else {
            return Ok(None);
        };
        // (The cut first: without one, as on a cluster, nothing else is
        // read before the read resolves the writes.)
        let taken = Instant::now();
        let Some(cut) = self.read_cut(Some(project))? else {
            return Ok(None);
        };
        let mut read: Vec<String> = needed.to_vec();
        read.extend(rollup_inputs(needed));
        let paths = Paths::new(read);
        if !self.below(project_id, &paths)?.is_empty() {
            return Ok(None);
        }
        let Some(Unsettled {
            hashes: mut unsettled,
            days: mut unsettled_days,
            received_from,
        }) = self.state_unsettled(project, &cut)?
        else {
            return Ok(None);
        };
        // Since when every write of the streamed events was received
        // (ADR 0031): found with them, and unknown for rows the groups
        // leave to the stream until their rows are read.
        let mut every = Some(received_from).filter(|&t| t < i64::MAX);
        // The hours of the union of the ranges (open where any is open),
        // and those of events with no start an hour can hold (`-1`).
        let bound = |x: Option<f64>| {
            x.filter(|v| v.is_finite())
                .map(|v| (v / 3_600_000.0).floor())
        };
        let from = qs
            .iter()
            .map(|q| bound(q.date_range.start_ms))
            .try_fold(f64::INFINITY, |m, s| s.map(|s| m.min(s)));
        let to = qs
            .iter()
            .map(|q| bound(q.date_range.end_ms))
            .try_fold(f64::NEG_INFINITY, |m, e| e.map(|e| m.max(e)));
        let mut hours = vec!["1".to_owned()];
        if let Some(f) = from.filter(|f| f.is_finite()) {
            hours.push(format!("(hour = -1 OR hour >= {})", f as i64));
        }
        if let Some(t) = to.filter(|t| t.is_finite()) {
            hours.push(format!("hour <= {}", t as i64));
        }
        let hours = hours.join(" AND ");
        // The project's slots, when they hold every path the plan reads;
        // else those it lacks are asked for, for the next compaction
        // (ADR 0029).
        let slot_paths = slots::slot_paths(&cut.slots, project);
        let lacking = plan.unslotted(&slot_paths);
        let slotted = lacking.is_empty();
        if !slotted {
            lock(&self.wanted).add(project, lacking);
        }
        lock(&self.used).note(project, plan.slotted(&slot_paths), now_ms());
        let shape = singles::state_shape(qs, &plan, &slot_paths, slotted);
        // The days every chart holds whole (not the day of starts that
        // are no hour's), by their generation at the cut.
        // (A day with layers, ADR 0036, is read from its rows: groups
        // are kept of a generation's whole day.)
        let unlayered = cut.unlayered();
        let whole: Vec<(u32, u64)> = cut
            .days
            .iter()
            .copied()
            .filter(|&(d, _)| {
                self.keep_sums
                    && d > 0
                    && unlayered.contains(&d)
                    && qs.iter().all(|q| holds_day(q, d))
            })
            .collect();
        for _ in 0..ROUNDS {
            // Of those, the days no unsettled event has a row in: their
            // groups as kept, or kept now.
            let mut settled = whole.clone();
            settled.retain(|(d, _)| !unsettled_days.contains(d));
            let mut from_kept = Added::default();
            let kept = self.state_sums(project, shape, &settled, (qs, &plan), &mut from_kept)?;
            let keep: Vec<u32> = settled
                .iter()
                .map(|(d, _)| *d)
                .filter(|d| !kept.contains(d))
                .collect();
            let mut live = cut.clone();
            live.days.retain(|(d, _)| !kept.contains(d));
            let rows = format!("{} AND {hours}", live.rows_in(project));
            let Some(mut added) = self.add_up_singles(
                project,
                qs,
                &plan,
                Singles::State {
                    rows,
                    unsettled: &unsettled,
                    slots: &slot_paths,
                    slotted,
                    keep: &keep,
                    keep_max: self.sums_max,
                },
            )?
            else {
                return Ok(None);
            };
            added.add(from_kept);
            self.state_sums_read
                .fetch_add(kept.len() as u64, std::sync::atomic::Ordering::Relaxed);
            let slices = std::mem::take(&mut added.slices);
            self.keep_state_sums(project, shape, &settled, slices);
            // (A cut's rows are kept for the grace time after a newer cut
            // replaced it: a statement begun later may have missed some.)
            if taken.elapsed() >= self.state_grace {
                return Ok(None);
            }
            // Rows left to the stream: with every event of the sessions
            // among them, or added up again without those.
            // (The unsettled events hold every event of their sessions
            // already.)
            let all = if added.streamed.is_empty() {
                std::mem::take(&mut unsettled)
            } else {
                let mut streamed: BTreeSet<u64> = unsettled.iter().copied().collect();
                let known = streamed.len();
                streamed.extend(added.streamed.iter().copied());
                let left = streamed.len();
                if left > known {
                    every = None;
                }
                let Some(all) = self.with_members(project, streamed, MAX_UNSETTLED)? else {
                    return Ok(None);
                };
                if all.len() > left {
                    // (Their rows' days, read from their rows next time,
                    // and when their events were first received: those
                    // without a row at the cut were written since it.)
                    let (_, days, from) = self.rows_at(project, &cut, &all)?;
                    unsettled = all;
                    unsettled_days = days;
                    every = Some(received_from.min(from)).filter(|&t| t < i64::MAX);
                    continue;
                }
                all
            };
            let mut cells: Vec<Cells> = qs.iter().map(Cells::for_query).collect();
            add_cells(&mut cells, added.cells);
            let mut sessions = HeldSessions::new(self.ranges.held_in_memory);
            let mut rollups: BySession<Rollup> = BySession::default();
            if !all.is_empty() {
                let restarted = self.stream_into(
                    project_id,
                    &Scope::Hashes(all, None, every),
                    &paths,
                    qs,
                    &mut cells,
                    &mut sessions,
                    &mut rollups,
                )?;
                // A path written below a read one meanwhile.
                if restarted || !self.below(project_id, &paths)?.is_empty() {
                    return Ok(None);
                }
            }
            self.state_added
                .fetch_add(added.events, std::sync::atomic::Ordering::Relaxed);
            return finish_cells(qs, cells, sessions, &rollups).map(Some);
        }
        Ok(None)
    }

    /// The days of `project` (each with its generation) whose groups are
    /// kept for charts of `shape`, their groups read into `into` for the
    /// charts `qs` as `plan` reads them, a day at a time (ADR 0030).
    fn state_sums(
        &self,
        project: &str,
        shape: u64,
        days: &[(u32, u64)],
        (qs, plan): (&[ChartQuery], &singles::Plan),
        into: &mut Added,
    ) -> Result<BTreeSet<u32>> {
        let mut out = BTreeSet::new();
        if days.is_empty() {
            return Ok(out);
        }
        // Those read here before: a generation's groups never change.
        let mut asked = Vec::new();
        for &(d, g) in days {
            let known = lock(&self.kept_groups).get(project, shape, g, d);
            let mut day_added = Added::default();
            match known.map(|groups| singles::add_kept(project, qs, plan, &groups, &mut day_added))
            {
                Some(Ok(())) => {
                    out.insert(d);
                    into.add(day_added);
                }
                _ => asked.push((d, g)),
            }
        }
        if asked.is_empty() {
            return Ok(out);
        }
        let pairs: Vec<String> = asked.iter().map(|(d, g)| format!("({g}, {d})")).collect();
        self.client.each_binary_row(
            &format!(
                "SELECT day, groups FROM hive_state_sums \
                 WHERE project_id = {} AND shape = {shape} AND (gen, day) IN ({})",
                lit(project),
                pairs.join(", ")
            ),
            |r| {
                let day = b::u32(r)?;
                let groups = b::string(r)?;
                // (Two reads may keep the same day's: they are the same.)
                if out.contains(&day) {
                    return Ok(());
                }
                // Groups that cannot be read (a row damaged outside hive)
                // are left for the day's rows to answer, not the read's
                // failure.
                let mut day_added = Added::default();
                let read = hex::decode(groups)
                    .map_err(|_| {
                        StoreError::Corrupt("a day's kept groups are not hexadecimal".into())
                    })
                    .and_then(|g| {
                        singles::add_kept(project, qs, plan, &g, &mut day_added)?;
                        Ok(g)
                    });
                match read {
                    Ok(groups) => {
                        out.insert(day);
                        into.add(day_added);
                        if let Some(&(_, g)) = asked.iter().find(|(d, _)| *d == day) {
                            lock(&self.kept_groups).put(project, shape, g, day, groups);
                        }
                    }
                    Err(e) => tracing::warn!(
                        error = %e, day,
                        "a chart's kept groups of a day cannot be read; its rows are read instead"
                    ),
                }
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// Keep the groups `slices` read of `project`'s rows of these days
    /// (with their generations) for charts of `shape`. Nothing ClickHouse
    /// refuses is kept (the next read makes the groups again).
    fn keep_state_sums(
        &self,
        project: &str,
        shape: u64,
        days: &[(u32, u64)],
        slices: Vec<(u32, Vec<u8>)>,
    ) {
        #[derive(serde::Serialize)]
        struct Row<'a> {
            r#gen: u64,
            day: u32,
            project_id: &'a str,
            shape: u64,
            groups: String,
        }
        let rows: Vec<Row> = slices
            .into_iter()
            .filter_map(|(day, groups)| {
                let (_, g) = days.iter().find(|(d, _)| *d == day)?;
                let encoded = hex::encode(&groups);
                lock(&self.kept_groups).put(project, shape, *g, day, groups);
                Some(Row {
                    r#gen: *g,
                    day,
                    project_id: project,
                    shape,
                    groups: encoded,
                })
            })
            .collect();
        // (A partition a part: a current server refuses an insert into
        // more than 100.)
        for chunk in rows.chunks(50) {
            if let Err(e) = self.client.insert("hive_state_sums", chunk) {
                tracing::warn!(error = %e, "cannot keep a chart's groups of the state's days");
                return;
            }
        }
    }
}

/// How long a chart read here has its groups kept again after a
/// compaction that rewrote many days ([`ClickHouseStore::keep_recent_sums`]).
const WARM_FOR: std::time::Duration = std::time::Duration::from_secs(3600);

/// How long a node keeps groups again after such a compaction at most.
const WARM_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

/// Charts read here at most, of which the groups are kept again.
const RECENT_MAX: usize = 32;

/// A read's charts (their ranges left out), the paths they read, and when.
type Read = (Vec<ChartQuery>, Vec<String>, i64);

/// The charts read from the state here lately, by project and charts.
#[derive(Default)]
pub(in crate::clickhouse) struct Recent {
    by: std::collections::HashMap<(String, String), Read>,
}

impl Recent {
    fn note(&mut self, project: &str, qs: &[ChartQuery], needed: &[String], now: i64) {
        let mut qs = qs.to_vec();
        for q in &mut qs {
            q.date_range = Default::default();
        }
        let key = (project.to_owned(), format!("{qs:?}"));
        self.by.insert(key, (qs, needed.to_vec(), now));
        if self.by.len() > RECENT_MAX {
            let oldest = self
                .by
                .iter()
                .min_by_key(|(_, v)| v.2)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.by.remove(&k);
            }
        }
    }

    /// The charts read since `from` (ms), by project, the newest first.
    fn since(&self, from: i64) -> Vec<(String, Vec<ChartQuery>, Vec<String>)> {
        let mut read: Vec<_> = self.by.iter().filter(|(_, v)| v.2 >= from).collect();
        read.sort_by_key(|(_, v)| std::cmp::Reverse(v.2));
        read.into_iter()
            .map(|((p, _), (qs, needed, _))| (p.clone(), qs.clone(), needed.clone()))
            .collect()
    }
}

/// Bytes of groups [`KeptGroups`] holds at most.
const KEPT_HELD: usize = 16 << 20;

/// Days' groups kept for charts (`hive_state_sums`, ADR 0030), as read or
/// kept by this node, by project, charts' shape, generation and day: a
/// generation's rows never change, so neither do the groups made of them,
/// and a chart finds them here without a statement. (That statement
/// opens a part a day: about 0.1–0.25 s for 30 days, cold, at ten million
/// events, most of an all-time count's time.) The oldest go first past
/// [`KEPT_HELD`] bytes; a generation no cut names is never asked for
/// again, and goes in its turn.
#[derive(Default)]
pub(in crate::clickhouse) struct KeptGroups {
    by: std::collections::HashMap<(String, u64, u64, u32), std::sync::Arc<[u8]>>,
    order: std::collections::VecDeque<(String, u64, u64, u32)>,
    bytes: usize,
}

impl KeptGroups {
    fn get(&self, project: &str, shape: u64, g: u64, day: u32) -> Option<std::sync::Arc<[u8]>> {
        self.by.get(&(project.to_owned(), shape, g, day)).cloned()
    }

    fn put(&mut self, project: &str, shape: u64, g: u64, day: u32, groups: Vec<u8>) {
        let key = (project.to_owned(), shape, g, day);
        if groups.len() > KEPT_HELD / 16 || self.by.contains_key(&key) {
            return;
        }
        // (With what holding an entry costs besides.)
        self.bytes += held(&key, groups.len());
        self.by.insert(key.clone(), groups.into());
        self.order.push_back(key);
        while self.bytes > KEPT_HELD {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(g) = self.by.remove(&oldest) {
                self.bytes -= held(&oldest, g.len());
            }
        }
    }
}

/// Bytes [`KeptGroups`] holds for an entry of `len` bytes of groups.
fn held(key: &(String, u64, u64, u32), len: usize) -> usize {
    len + key.0.len() + 128
}

/// Whether chart `q`'s range holds every start of day `day` (days since
/// 1970, as the state's rows are partitioned).
fn holds_day(q: &ChartQuery, day: u32) -> bool {
    const DAY_MS: f64 = 86_400_000.0;
    let (first, next) = (f64::from(day) * DAY_MS, f64::from(day + 1) * DAY_MS);
    let r = &q.date_range;
    r.start_ms.is_none_or(|s| s <= first) && r.end_ms.is_none_or(|e| e >= next)
}

#[cfg(test)]
mod tests {
    use super::{KEPT_HELD, KeptGroups, held};

    /// Held groups are found by all four of their keys, an entry too
    /// large for its share is not held, one held again is not counted
    /// twice, and past the bound the oldest go first, with the bytes they
    /// held.
    #[test]
    fn kept_groups_hold_their_bound_and_lose_the_oldest_first() {
        let mut k = KeptGroups::default();
        k.put("p", 1, 7, 20000, vec![1, 2, 3]);
        assert_eq!(k.get("p", 1, 7, 20000).as_deref(), Some(&[1u8, 2, 3][..]));
        for other in [
            ("q", 1, 7, 20000),
            ("p", 2, 7, 20000),
            ("p", 1, 8, 20000),
            ("p", 1, 7, 20001),
        ] {
            assert!(
                k.get(other.0, other.1, other.2, other.3).is_none(),
                "{other:?}"
            );
        }
        k.put("p", 1, 7, 20000, vec![9; 3]);
        assert_eq!(k.get("p", 1, 7, 20000).as_deref(), Some(&[1u8, 2, 3][..]));
        assert_eq!(k.bytes, held(&("p".into(), 1, 7, 20000), 3));
        k.put("p", 1, 7, 1, vec![0; KEPT_HELD / 16 + 1]);
        assert!(k.get("p", 1, 7, 1).is_none());
        // Entries of a sixteenth of the bound each: the first goes when
        // the sixteenth comes, with those before it in turn.
        let big = KEPT_HELD / 16 - 200;
        for day in 0..20u32 {
            k.put("p", 1, 7, day, vec![day as u8; big]);
            assert!(k.bytes <= KEPT_HELD, "{day}: {}", k.bytes);
        }
        assert!(k.get("p", 1, 7, 20000).is_none(), "the oldest went");
        assert!(k.get("p", 1, 7, 19).is_some() && k.get("p", 1, 7, 5).is_some());
        assert!(k.get("p", 1, 7, 0).is_none());
        let left: usize = (0..20u32)
            .filter(|&d| k.get("p", 1, 7, d).is_some())
            .map(|d| held(&("p".into(), 1, 7, d), big))
            .sum();
        assert_eq!(k.bytes, left);
        assert_eq!(k.by.len(), k.order.len());
    }
}
