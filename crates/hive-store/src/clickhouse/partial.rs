//! Reads that need a few paths of every event in scope (charts): the rows
//! of each event are streamed with only the leaves that decide those paths
//! and resolved by the last-writer-wins rule ([`leaves::resolve`], held
//! equal to the fold by a property test), one event at a time. A chart over
//! millions of events so holds a number per event and the small states of
//! its sessions, never the documents.
//!
//! The value of a path (and everything below it) depends only on the
//! writes at it, above it and below it (ADR 0008): a write elsewhere can
//! clear a write above the path only where that write already hid the path.
//! So the leaves kept are those at, above or below a needed path.

use std::collections::HashMap;

use hive_core::chart::{Cells, ChartLevel, ChartQuery, Series};
use hive_core::filter::{FieldRef, Filter};
use hive_core::model::Event;
use hive_core::rollup::{Contribution, Rollup};
use serde::Deserialize;
use serde_json::Value;

use super::ClickHouseStore;
use super::http::lit;
use super::leaves::{self, DERIVED, Leaf, NULL, flatten, is_ancestor};
use super::read::VISIBLE;
use super::write::{BASE, PATCH, PLACEHOLDER};
use crate::{Result, StoreError};

/// What a session's rollup reads of its events, and what it writes into the
/// session (besides the `metadata` keys it owns).
const ROLLUP_INPUTS: [&str; 16] = [
    "event_type",
    "event_id",
    "session_id",
    "start_time",
    "end_time",
    "duration",
    "feedback",
    "error",
    "metadata.cost",
    "metadata.prompt_tokens",
    "metadata.completion_tokens",
    "metadata.total_tokens",
    "metrics.cost",
    "metrics.prompt_tokens",
    "metrics.completion_tokens",
    "metrics.total_tokens",
];

/// A path as the leaves spell it (filter paths hold no `.` or `\` inside a
/// key, so no escaping is needed).
fn path_of(f: &FieldRef) -> String {
    match f {
        FieldRef::Top(t) => t.name().to_owned(),
        FieldRef::Path { namespace, path } => format!("{namespace}.{}", path.join(".")),
    }
}

/// The paths a read needs.
pub(super) struct Paths {
    needed: Vec<String>,
}

impl Paths {
    pub fn new(needed: impl IntoIterator<Item = String>) -> Paths {
        let mut needed: Vec<String> = needed.into_iter().collect();
        needed.sort();
        needed.dedup();
        Paths { needed }
    }

    /// Whether a leaf at `path` can decide a needed path.
    fn relevant(&self, path: &str) -> bool {
        self.needed
            .iter()
            .any(|n| n == path || is_ancestor(path, n) || is_ancestor(n, path))
    }

    /// The same, in SQL over a leaf path `k` (a superset: `relevant` then
    /// decides exactly).
    fn sql(&self) -> String {
        let mut exact: Vec<String> = Vec::new();
        for n in &self.needed {
            let parts: Vec<&str> = n.split('.').collect();
            for i in 1..=parts.len() {
                exact.push(lit(&parts[..i].join(".")));
            }
        }
        exact.sort();
        exact.dedup();
        let below: Vec<String> = self.needed.iter().map(|n| lit(&format!("{n}."))).collect();
        format!(
            "(has([{}], k) OR arrayExists(d -> startsWith(k, d), [{}]))",
            exact.join(", "),
            below.join(", ")
        )
    }
}

#[derive(Deserialize)]
struct Row {
    project_id: String,
    event_id: String,
    kind: u8,
    ts: i64,
    node: String,
    seq: u64,
    idx: u32,
    lp: Vec<String>,
    lt: Vec<u8>,
    ls: Vec<String>,
}

/// An event's current state restricted to the needed paths.
pub(super) struct Partial {
    pub project_id: String,
    pub doc: Value,
    /// Whether a patch set the duration (the rollup then leaves it alone).
    pub duration_explicit: bool,
}

impl Partial {
    /// A session event: it gets the rollup of the events that name it
    /// (as `read::Folded::is_session`).
    fn is_session(&self) -> bool {
        self.doc.get("event_type").and_then(Value::as_str) == Some("session")
    }

    fn field(&self, k: &str) -> &str {
        self.doc.get(k).and_then(Value::as_str).unwrap_or_default()
    }
}

fn leaves_of(r: &Row, paths: &Paths) -> Vec<Leaf> {
    r.lp.iter()
        .zip(&r.lt)
        .zip(&r.ls)
        .filter(|((p, t), _)| **t < DERIVED && paths.relevant(p))
        .map(|((p, t), s)| Leaf {
            path: p.clone(),
            ty: *t,
            s: s.clone(),
            n: 0.0,
        })
        .collect()
}

/// Resolve one event from its rows (sorted by kind, then their order), as
/// `read::fold_rows` folds it: the latest base, else the earliest
/// placeholder, else a placeholder session; then every patch once.
fn resolve_rows(rows: &[Row], paths: &Paths) -> Partial {
    let base = rows.iter().rev().find(|r| r.kind == BASE);
    let placeholder = rows.iter().rev().find(|r| r.kind == PLACEHOLDER);
    let mut seen = std::collections::HashSet::new();
    let patches: Vec<&Row> = rows
        .iter()
        .filter(|r| r.kind == PATCH && seen.insert((r.node.as_str(), r.seq, r.idx)))
        .collect();
    let first = &rows[0];
    let mut writes = match base.or(placeholder) {
        Some(r) => leaves_of(r, paths),
        None => {
            let at = patches.first().map_or(0, |r| r.ts);
            let doc = Event::placeholder_session(&first.event_id, &first.project_id, at).to_json();
            flatten(&doc, true)
                .leaves
                .into_iter()
                .filter(|l| l.ty < DERIVED && paths.relevant(&l.path))
                .collect()
        }
    };
    let mut duration_explicit = false;
    for r in patches {
        let mut ls = leaves_of(r, paths);
        duration_explicit |= ls.iter().any(|l| {
            (l.path == "duration" && l.ty != NULL) || is_ancestor("duration", &l.path)
        });
        writes.append(&mut ls);
    }
    Partial {
        project_id: first.project_id.clone(),
        doc: leaves::resolve(&writes),
        duration_explicit,
    }
}

impl ClickHouseStore {
    /// Every event the condition selects, resolved on `paths`, in order of
    /// (project, event id), one at a time.
    pub(super) fn each_partial(
        &self,
        cond: &str,
        paths: &Paths,
        mut f: impl FnMut(Partial) -> Result<()>,
    ) -> Result<()> {
        let keep = paths.sql();
        let sql = format!(
            "SELECT project_id, event_id, kind, ts, node, seq, idx, \
             arrayFilter((k, y) -> y < 16 AND {keep}, paths, types) AS lp, \
             arrayFilter((y, k) -> y < 16 AND {keep}, types, paths) AS lt, \
             arrayFilter((s, k, y) -> y < 16 AND {keep}, strs, paths, types) AS ls \
             FROM hive_writes WHERE ({cond}) AND {VISIBLE} \
             ORDER BY project_id, event_id, kind, ts, node, seq, idx"
        );
        let mut rows: Vec<Row> = Vec::new();
        self.client.each_line(&sql, |line| {
            let row: Row = serde_json::from_str(line)
                .map_err(|e| StoreError::Corrupt(format!("clickhouse row: {e}")))?;
            if let Some(last) = rows.last()
                && (last.project_id != row.project_id || last.event_id != row.event_id)
            {
                f(resolve_rows(&rows, paths))?;
                rows.clear();
            }
            rows.push(row);
            Ok(())
        })?;
        if !rows.is_empty() {
            f(resolve_rows(&rows, paths))?;
        }
        Ok(())
    }

    /// A chart, streamed: every event of the scope resolved on the paths
    /// the chart reads (and its sessions' rollup inputs), added to the
    /// cells one at a time; session events once their rollups are known.
    pub(super) fn stream_chart(
        &self,
        project_id: Option<&str>,
        q: &ChartQuery,
    ) -> Result<Vec<Series>> {
        let mut needed: Vec<String> = ROLLUP_INPUTS.iter().map(|p| (*p).to_owned()).collect();
        needed.extend(q.filters.iter().map(|f: &Filter| path_of(&f.field)));
        needed.extend(q.metric.iter().map(path_of));
        needed.extend(q.group_by.iter().map(path_of));
        let paths = Paths::new(needed);
        let mut cells = Cells::default();
        let mut sessions: Vec<Partial> = Vec::new();
        let mut rollups: HashMap<(String, String), Rollup> = HashMap::new();
        self.each_partial(&Self::project_cond(project_id), &paths, |e| {
            if e.is_session() {
                // Sessions contribute nothing to rollups.
                sessions.push(e);
                return Ok(());
            }
            let c = Contribution::of(&e.doc);
            rollups
                .entry((e.project_id.clone(), e.field("session_id").to_owned()))
                .or_default()
                .update(None, &c);
            if q.level == ChartLevel::Event {
                cells.add(q, &e.doc);
            }
            Ok(())
        })?;
        for mut s in sessions {
            let r = rollups
                .get(&(s.project_id.clone(), s.field("event_id").to_owned()))
                .copied()
                .unwrap_or_default();
            r.apply_to_session(&mut s.doc, s.duration_explicit);
            cells.add(q, &s.doc);
        }
        Ok(cells.finish(q))
    }
}
