//! A project's charted paths in typed columns of the events' state (ADR
//! 0029): each state row holds, besides its leaves' parallel arrays, the
//! leaf at each of its project's *slot* paths in three columns of their
//! own (`slotN_t`, `slotN_s`, `slotN_n`: a type, a text and a number, as
//! the arrays keep them). A chart whose paths are all in slots reads those
//! columns instead of decompressing every leaf of every row.
//!
//! - The first slots hold `start_time` and `event_type`, which every chart
//!   reads; the others are assigned to the paths charts asked for (a
//!   chart over a path its project's slots lack records it on the node:
//!   [`Wanted`]), at the node's next compaction, while any are free, and
//!   then in place of a slot no chart read for a day ([`Used`], recorded
//!   in each cut: [`SlotReads`]). The compaction that gives a project's
//!   slot to a path copies all of that project's rows again, filled; a
//!   slot is never moved to another place, so rows of other projects are
//!   copied as they are.
//! - Each cut records the map its generations are filled by.
//! - A row where a path above a slot's holds a leaf (a scalar, or an array
//!   whose elements may be read below it) has that slot's type
//!   [`ABOVE`]: a chart streams such rows, as it streams a metric inside
//!   an array. An empty object or a null there holds nothing below, and
//!   the slot is empty ([`holds_nothing`]).

use std::collections::{BTreeMap, BTreeSet};

use super::http::lit;
use super::partial::Paths;

/// Slots a state row has.
pub(super) const SLOTS: usize = 12;

/// The types of a leaf that holds nothing below it (no leaf, `{}`, a
/// `null`), as SQL: such a leaf above a slot's path is no reason to stream
/// its row ([`holds_nothing`]).
const NOTHING: &str = "0, 5, 7";

/// Whether a leaf of type `ty` holds nothing below it: an empty object (as
/// events without metadata, or the sessions hive makes, carry) or a null,
/// read below as absent, as an empty slot reads.
fn holds_nothing(ty: u8) -> bool {
    use super::leaves::{NULL, OBJ, PRESENT_NULL};
    matches!(ty, NULL | OBJ | PRESENT_NULL)
}

/// The paths of every project's first slots: every chart reads them.
pub(super) const FIXED: [&str; 2] = ["start_time", "event_type"];

/// The slot of `event_type` (among [`FIXED`]) in every project's rows.
pub(super) const EVENT_TYPE: usize = 1;

/// A slot's type when a path above its own holds a leaf.
pub(super) const ABOVE: u8 = 255;

/// Paths a compaction is asked for at most, by project (what charts ask
/// beyond that waits for a later one).
const MAX_WANTED: usize = 64;

/// The longest path given a slot, in bytes.
const MAX_PATH: usize = 256;

/// How long no chart may read a slot before it goes to another path
/// charts ask for (`ClickHouseStore::with_slot_idle` in tests).
pub(super) const IDLE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// How often (ms) what charts read is recorded in a cut when nothing else
/// would make one: a node whose turn other nodes take compacts for that
/// alone, and a slot's read counts once it is this much newer.
pub(super) const REPORT_EVERY: i64 = 10 * 60 * 1000;

/// Each project's slot paths past the fixed ones, in slot order.
pub(super) type SlotMap = BTreeMap<String, Vec<String>>;

/// The paths of `project`'s slots, in order (the fixed ones first).
pub(super) fn slot_paths(map: &SlotMap, project: &str) -> Vec<String> {
    let mut out: Vec<String> = FIXED.iter().map(|p| (*p).to_owned()).collect();
    out.extend(map.get(project).into_iter().flatten().cloned());
    out
}

/// The paths strictly above `path`.
fn above(path: &str) -> Vec<String> {
    Paths::new([path.to_owned()])
        .at_and_above()
        .into_iter()
        .filter(|p| p != path)
        .collect()
}

/// A row's slots, from its leaves (`paths` parallel to the others), for
/// the slot paths `slots`.
#[cfg(test)]
fn fill(
    paths: &[String],
    types: &[u8],
    strs: &[String],
    nums: &[f64],
    slots: &[String],
) -> Vec<(u8, String, f64)> {
    Filler::new(&SlotMap::new()).fill_for(&with_above(slots), paths, types, strs, nums)
}

/// Slot paths with the paths above each.
fn with_above(slots: &[String]) -> Vec<(String, Vec<String>)> {
    slots.iter().map(|p| (p.clone(), above(p))).collect()
}

/// Fills rows' slots for a map, its paths' ancestors found once.
pub(super) struct Filler {
    projects: BTreeMap<String, Vec<(String, Vec<String>)>>,
    fixed: Vec<(String, Vec<String>)>,
}

impl Filler {
    pub fn new(map: &SlotMap) -> Filler {
        Filler {
            projects: map
                .keys()
                .map(|p| (p.clone(), with_above(&slot_paths(map, p))))
                .collect(),
            fixed: with_above(&slot_paths(&SlotMap::new(), "")),
        }
    }

    /// A row of `project`'s slots, from its leaves (`paths` parallel to
    /// the others).
    pub fn fill(
        &self,
        project: &str,
        paths: &[String],
        types: &[u8],
        strs: &[String],
        nums: &[f64],
    ) -> Vec<(u8, String, f64)> {
        let slots = self.projects.get(project).unwrap_or(&self.fixed);
        self.fill_for(slots, paths, types, strs, nums)
    }

    fn fill_for(
        &self,
        slots: &[(String, Vec<String>)],
        paths: &[String],
        types: &[u8],
        strs: &[String],
        nums: &[f64],
    ) -> Vec<(u8, String, f64)> {
        slots
            .iter()
            .map(|(p, up)| {
                let holds = |a: &String| {
                    paths
                        .iter()
                        .position(|x| x == a)
                        .is_some_and(|i| !holds_nothing(types[i]))
                };
                if up.iter().any(holds) {
                    return (ABOVE, String::new(), 0.0);
                }
                match paths.iter().position(|x| x == p) {
                    Some(i) => (types[i], strs[i].clone(), nums[i]),
                    None => (0, String::new(), 0.0),
                }
            })
            .collect()
    }
}

/// Each slot's column names (type, text, number).
pub(super) fn names() -> &'static [[String; 3]] {
    static NAMES: std::sync::LazyLock<Vec<[String; 3]>> = std::sync::LazyLock::new(|| {
        (0..SLOTS)
            .map(|j| {
                [
                    format!("slot{j}_t"),
                    format!("slot{j}_s"),
                    format!("slot{j}_n"),
                ]
            })
            .collect()
    });
    &NAMES
}

/// The first `n` slots' column names, in order (an insert that names no
/// more leaves the others empty).
pub(super) fn columns(n: usize) -> String {
    (0..n.min(SLOTS))
        .map(|j| format!("slot{j}_t, slot{j}_s, slot{j}_n"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Their definitions.
pub(super) fn column_definitions() -> Vec<String> {
    (0..SLOTS)
        .flat_map(|j| {
            [
                format!("slot{j}_t UInt8"),
                format!("slot{j}_s String"),
                format!("slot{j}_n Float64"),
            ]
        })
        .collect()
}

/// Expressions for the columns of the slots `slots` (`columns(slots.len())`),
/// filled from the arrays `hashes`, `types`, `strs` and `nums` as
/// [`Filler`] fills them. `of_state`: from the state's own rows, whose
/// arrays lack the fixed slots' leaves (those slots are kept as they are).
pub(super) fn sql(slots: &[String], of_state: bool) -> String {
    slots
        .iter()
        .take(SLOTS)
        .enumerate()
        .map(|(j, p)| {
            if of_state && j < FIXED.len() {
                return format!("slot{j}_t, slot{j}_s, slot{j}_n");
            }
            let at = format!("indexOf(hashes, cityHash64({}))", lit(p));
            let up = above(p);
            let t = if up.is_empty() {
                format!("types[{at}]")
            } else {
                let mut held = vec![format!(
                    "arrayExists((h, y) -> has([{}], h) AND y NOT IN ({NOTHING}), hashes, types)",
                    up.iter()
                        .map(|a| format!("cityHash64({})", lit(a)))
                        .collect::<Vec<_>>()
                        .join(", ")
                )];
                if of_state {
                    held.extend(
                        FIXED
                            .iter()
                            .enumerate()
                            .filter(|(_, f)| up.iter().any(|a| a == *f))
                            .map(|(i, _)| format!("slot{i}_t NOT IN ({NOTHING})")),
                    );
                }
                format!("if({}, toUInt8({ABOVE}), types[{at}])", held.join(" OR "))
            };
            format!("{t}, strs[{at}], nums[{at}]")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `map` with paths charts asked for (`wanted`, by project) in free slots,
/// or in place of a slot no chart read since `idle_before` (ms; `reads`
/// holds each slot's last read, parallel to `map`, and a slot given now is
/// read `now`): the new map, its reads, and the projects whose slots it
/// changes.
pub(super) fn assign(
    map: &SlotMap,
    reads: &SlotReads,
    wanted: &BTreeMap<String, BTreeSet<String>>,
    (idle_before, now): (i64, i64),
) -> (SlotMap, SlotReads, BTreeSet<String>) {
    let mut out = map.clone();
    let mut out_reads: SlotReads = map
        .iter()
        .map(|(p, paths)| {
            let r = reads.get(p).map(Vec::as_slice).unwrap_or(&[]);
            // (A slot with no read recorded counts as read now.)
            let r = (0..paths.len()).map(|i| r.get(i).copied().unwrap_or(now));
            (p.clone(), r.collect())
        })
        .collect();
    let mut changed = BTreeSet::new();
    for (project, paths) in wanted {
        let have = out.entry(project.clone()).or_default();
        let read = out_reads.entry(project.clone()).or_default();
        for p in paths {
            if FIXED.contains(&p.as_str()) || have.contains(p) {
                continue;
            }
            if have.len() + FIXED.len() < SLOTS {
                have.push(p.clone());
                read.push(now);
            } else {
                // The slot read longest ago, if idle.
                let Some((i, _)) = read
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| **r < idle_before)
                    .min_by_key(|(_, r)| **r)
                else {
                    break;
                };
                have[i] = p.clone();
                read[i] = now;
            }
            changed.insert(project.clone());
        }
    }
    out.retain(|_, v| !v.is_empty());
    out_reads.retain(|p, _| out.contains_key(p));
    (out, out_reads, changed)
}

/// Each slot's last read by a chart (ms since 1970), by project, parallel
/// to a [`SlotMap`]'s paths: a cut records them, so that every node knows
/// which slots may be given to other paths.
pub(super) type SlotReads = BTreeMap<String, Vec<i64>>;

/// `reads` (parallel to `map`) moved on to what charts on this node read
/// since (`used`: each path's last read, by project).
pub(super) fn with_used(
    map: &SlotMap,
    reads: &SlotReads,
    used: &BTreeMap<String, BTreeMap<String, i64>>,
) -> SlotReads {
    let mut out = reads.clone();
    for (project, paths) in map {
        let Some(u) = used.get(project) else {
            continue;
        };
        let r = out.entry(project.clone()).or_default();
        for (i, path) in paths.iter().enumerate() {
            if let (Some(at), Some(slot)) = (u.get(path), r.get_mut(i)) {
                *slot = (*slot).max(*at);
            }
        }
    }
    out
}

/// The slotted paths charts on this node read, and when last (ms), kept
/// until a compaction records them in its cut ([`with_used`]). Only slot
/// paths are noted, so a project holds at most [`SLOTS`] of them.
#[derive(Default)]
pub(super) struct Used {
    read: BTreeMap<String, BTreeMap<String, i64>>,
    /// When a compaction last took them (ms).
    taken: i64,
}

impl Used {
    pub fn note(&mut self, project: &str, paths: impl IntoIterator<Item = String>, at: i64) {
        if !self.read.contains_key(project) && self.read.len() >= 10_000 {
            return;
        }
        let m = self.read.entry(project.to_owned()).or_default();
        for p in paths {
            if !FIXED.contains(&p.as_str()) && (m.contains_key(&p) || m.len() < SLOTS) {
                m.insert(p, at);
            }
        }
    }

    /// Whether reads are noted that no compaction took for `every` (ms).
    pub fn overdue(&self, now: i64, every: i64) -> bool {
        !self.read.is_empty() && now - self.taken >= every
    }

    pub fn take(&mut self, now: i64) -> BTreeMap<String, BTreeMap<String, i64>> {
        self.taken = now;
        std::mem::take(&mut self.read)
    }

    /// Put back what a compaction that failed took.
    pub fn restore(&mut self, taken: BTreeMap<String, BTreeMap<String, i64>>) {
        for (p, paths) in taken {
            for (path, at) in paths {
                let newer = self
                    .read
                    .get(&p)
                    .and_then(|m| m.get(&path))
                    .is_some_and(|t| *t >= at);
                if !newer {
                    self.note(&p, [path], at);
                }
            }
        }
    }
}

/// Paths charts asked for that their project's slots lack, kept until a
/// compaction assigns them.
#[derive(Default)]
pub(super) struct Wanted(BTreeMap<String, BTreeSet<String>>);

impl Wanted {
    pub fn add(&mut self, project: &str, paths: impl IntoIterator<Item = String>) {
        // (A bound on what a node holds: projects past it wait.)
        if !self.0.contains_key(project) && self.0.len() >= 10_000 {
            return;
        }
        let set = self.0.entry(project.to_owned()).or_default();
        // (A path longer than any a field is likely named by stays in the
        // arrays: each cut names every slot's path.)
        for p in paths.into_iter().filter(|p| p.len() <= MAX_PATH) {
            if set.len() < MAX_WANTED {
                set.insert(p);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn take(&mut self) -> BTreeMap<String, BTreeSet<String>> {
        std::mem::take(&mut self.0)
    }

    /// Put back what a compaction that failed took.
    pub fn restore(&mut self, taken: BTreeMap<String, BTreeSet<String>>) {
        for (p, paths) in taken {
            self.add(&p, paths);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn event_type_has_its_fixed_slot() {
        assert_eq!(FIXED[EVENT_TYPE], "event_type");
    }

    #[test]
    fn a_slot_holds_its_leaf_or_says_a_path_above_holds_one() {
        let slots = s(&["start_time", "event_type", "metadata.variant", "metrics.x"]);
        let got = fill(
            &s(&["event_type", "metadata.variant", "metrics", "start_time"]),
            &[1, 1, 4, 2],
            &s(&["model", "a", "[1]", ""]),
            &[0.0, 0.0, 0.0, 5.0],
            &slots,
        );
        assert_eq!(
            got,
            vec![
                (2, String::new(), 5.0),
                (1, "model".into(), 0.0),
                (1, "a".into(), 0.0),
                (ABOVE, String::new(), 0.0),
            ]
        );
        assert_eq!(
            fill(&[], &[], &[], &[], &slots[..1]),
            vec![(0, String::new(), 0.0)]
        );
        // An empty object or a null above holds nothing: the slot is
        // empty, as the stream reads the path (absent). A scalar above is
        // left to the stream.
        use crate::clickhouse::leaves::{NULL, OBJ, PRESENT_NULL, STR};
        for ty in [OBJ, PRESENT_NULL, NULL] {
            let got = fill(&s(&["metadata"]), &[ty], &s(&[""]), &[0.0], &slots[2..3]);
            assert_eq!(got, vec![(0, String::new(), 0.0)], "type {ty}");
        }
        let got = fill(&s(&["metadata"]), &[STR], &s(&["x"]), &[0.0], &slots[2..3]);
        assert_eq!(got, vec![(ABOVE, String::new(), 0.0)]);
        // (The statements' list of those types is the same.)
        assert_eq!(NOTHING, format!("{NULL}, {OBJ}, {PRESENT_NULL}"));
    }

    #[test]
    fn slots_are_added_while_free_and_never_moved() {
        let mut wanted = BTreeMap::new();
        wanted.insert(
            "p".to_owned(),
            (0..20).map(|i| format!("metadata.k{i:02}")).collect(),
        );
        wanted.insert("q".to_owned(), BTreeSet::from(["event_type".to_owned()]));
        let (map, reads, changed) = assign(&SlotMap::new(), &SlotReads::new(), &wanted, (0, 10));
        assert_eq!(map["p"].len(), SLOTS - FIXED.len());
        assert_eq!(map["p"][0], "metadata.k00");
        assert_eq!(reads["p"], vec![10; SLOTS - FIXED.len()]);
        assert!(!map.contains_key("q"), "a fixed path takes no slot");
        assert_eq!(changed, BTreeSet::from(["p".to_owned()]));
        // Full, and no slot idle: nothing changes.
        let (again, again_reads, changed) = assign(&map, &reads, &wanted, (10, 20));
        assert_eq!(again, map);
        assert_eq!(again_reads, reads);
        assert!(changed.is_empty());
    }

    #[test]
    fn a_slot_no_chart_read_since_goes_to_a_path_asked_for() {
        let map = SlotMap::from([("p".to_owned(), s(&["a", "b", "c"]))]);
        // (`b` read longest ago; `c` has no read recorded, as in a cut
        // made before reads were.)
        let reads = SlotReads::from([("p".to_owned(), vec![50, 5])]);
        let wanted = BTreeMap::from([(
            "p".to_owned(),
            BTreeSet::from(["x".to_owned(), "y".to_owned(), "z".to_owned()]),
        )]);
        // Seven slots free: no slot is given back.
        let (m, r, _) = assign(&map, &reads, &wanted, (100, 200));
        assert_eq!(m["p"], s(&["a", "b", "c", "x", "y", "z"]));
        assert_eq!(r["p"], vec![50, 5, 200, 200, 200, 200]);
        // Full: the idle slots, read longest ago first; `c` counts as
        // read now.
        let full: Vec<String> = (0..SLOTS - FIXED.len()).map(|i| format!("k{i}")).collect();
        let map = SlotMap::from([("p".to_owned(), full.clone())]);
        let mut read = vec![300; full.len()];
        read[4] = 7;
        read[2] = 3;
        let reads = SlotReads::from([("p".to_owned(), read)]);
        let (m, r, changed) = assign(&map, &reads, &wanted, (100, 400));
        let mut expect = full.clone();
        expect[2] = "x".into();
        expect[4] = "y".into();
        assert_eq!(m["p"], expect, "z waits for a slot");
        assert_eq!(r["p"][2], 400);
        assert_eq!(r["p"][4], 400);
        assert_eq!(changed, BTreeSet::from(["p".to_owned()]));
        // What charts read since moves a slot's read on.
        let used = BTreeMap::from([(
            "p".to_owned(),
            BTreeMap::from([("k2".to_owned(), 350), ("gone".to_owned(), 1)]),
        )]);
        let moved = with_used(&map, &reads, &used);
        assert_eq!(moved["p"][2], 350);
        assert_eq!(moved["p"][4], 7);
        let (m, _, _) = assign(&map, &moved, &wanted, (100, 400));
        assert_eq!(m["p"][2], "k2");
        assert_eq!(m["p"][4], "x");
    }

    #[test]
    fn reads_noted_are_bounded_and_taken_once() {
        let mut u = Used::default();
        u.note("p", (0..40).map(|i| format!("k{i}")), 5);
        u.note("p", ["start_time".to_owned()], 5);
        assert!(u.overdue(10, 5));
        assert!(!u.overdue(4, 5));
        let taken = u.take(10);
        assert_eq!(taken["p"].len(), SLOTS);
        assert!(!taken["p"].contains_key("start_time"));
        assert!(!u.overdue(100, 5), "nothing noted");
        u.note("p", ["k1".to_owned()], 20);
        u.restore(taken);
        let again = u.take(30);
        assert_eq!(again["p"]["k1"], 20, "the newer read stays");
        assert_eq!(again["p"]["k2"], 5);
    }

    #[test]
    fn what_charts_ask_for_is_bounded() {
        let mut w = Wanted::default();
        w.add("p", (0..100).map(|i| format!("metadata.k{i}")));
        w.add("p", ["x".repeat(MAX_PATH + 1)]);
        let taken = w.take();
        assert_eq!(taken["p"].len(), MAX_WANTED);
        assert!(taken["p"].iter().all(|p| p.len() <= MAX_PATH));
        assert!(w.take().is_empty());
    }

    #[test]
    fn the_sql_fills_the_slots_it_is_given() {
        let sql = sql(&s(&["start_time", "metadata.variant"]), false);
        assert!(sql.starts_with(
            "types[indexOf(hashes, cityHash64('start_time'))], strs[indexOf(hashes, cityHash64('start_time'))]"
        ));
        assert!(sql.contains(
            "if(arrayExists((h, y) -> has([cityHash64('metadata')], h) AND y NOT IN (0, 5, 7), \
             hashes, types), toUInt8(255), "
        ));
        assert_eq!(sql.matches("cityHash64").count(), 7);
        // From the state's rows, the fixed slots as they are, and a leaf
        // above in a fixed slot.
        let of_state = super::sql(&s(&["start_time", "event_type", "event_type.x"]), true);
        assert!(of_state.starts_with("slot0_t, slot0_s, slot0_n, slot1_t, slot1_s, slot1_n, if("));
        assert!(of_state.contains(" OR slot1_t NOT IN (0, 5, 7), toUInt8(255)"));
        assert_eq!(
            columns(2),
            "slot0_t, slot0_s, slot0_n, slot1_t, slot1_s, slot1_n"
        );
    }
}
