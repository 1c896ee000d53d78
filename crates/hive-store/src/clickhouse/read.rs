//! Reading events back: the rows of an event folded in their total order
//! (the latest base, else the earliest placeholder, then every patch), and
//! the session rollups computed from the current state of each session's
//! events.

use std::collections::{BTreeMap, HashSet};

use hive_core::merge::merge_patch;
use hive_core::model::Event;
use hive_core::rollup::Rollup;
use serde_json::Value;

use super::ClickHouseStore;
use super::http::lit;
use super::leaves::{Leaf, interleave, rebuild};
use super::partial::{BySession, SessionKey};
use super::write::{BASE, PATCH, PLACEHOLDER, in_lists, own_ids_sql, str_field};
use crate::{HistoryEntry, Result, StoreError};

/// An event's current state.
#[derive(Debug, Clone)]
pub(super) struct Folded {
    pub project_id: String,
    pub event_id: String,
    pub doc: Value,
    /// Whether a patch set a (non-null) duration: the rollup then leaves
    /// the session's duration alone.
    pub duration_explicit: bool,
    pub patches: Vec<HistoryEntry>,
    /// When its earliest write was received (ms; 0 where not read).
    pub received_from: i64,
}

impl Folded {
    pub fn is_session(&self) -> bool {
        self.doc.get("event_type").and_then(Value::as_str) == Some("session")
    }

    pub fn session_id(&self) -> &str {
        self.doc
            .get("session_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// Rows of the writes table that reads see: floating writes already moved
/// to their event's project are hidden.
pub(super) const VISIBLE: &str = "NOT (floating = 1 AND (project_id, event_id) IN \
     (SELECT project_id, event_id FROM hive_adopted))";

fn parse(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl ClickHouseStore {
    /// Fold the events the condition selects (on `hive_writes`).
    pub(super) fn fold_where(&self, cond: &str) -> Result<Vec<Folded>> {
        self.fold_rows_where(&format!("WHERE ({cond}) AND {VISIBLE}"))
    }

    /// [`ClickHouseStore::fold_where`] of the events `names` names in the
    /// projects `project` selects. The names are looked up by their hashes
    /// in ClickHouse's `PREWHERE` (`id_hash`, schema 13), so the ids and
    /// the other columns are read only of the granules that hold a named
    /// event, and listed ids are checked there (a session's members are
    /// known by their hashes alone, schema 14: the caller checks what it
    /// finds). Events named in a table partitioned by
    /// day (ADR 0024) are looked for in every partition: fifty read a
    /// granule of ids in each of thirty partitions, and with the names in a
    /// plain `WHERE` every column of those granules too (2.1–3.4 s instead
    /// of about 1 s); the hashes take 8 bytes a row where the ids take 41.
    /// `cond` (a condition on the writes, or empty) applies after.
    pub(super) fn fold_named(
        &self,
        project: &str,
        names: &Named<'_>,
        cond: &str,
    ) -> Result<Vec<Folded>> {
        self.fold_named_brief(project, names, cond, false)
    }

    /// [`ClickHouseStore::fold_named`]; `brief`: without the events'
    /// content where their leaves hold it (schema 8 keeps it in columns of
    /// its own, so those are not read: a granule's content is most of its
    /// bytes, and a page of fifty events reads fifty granules).
    pub(super) fn fold_named_brief(
        &self,
        project: &str,
        names: &Named<'_>,
        cond: &str,
        brief: bool,
    ) -> Result<Vec<Folded>> {
        let (hashes, ids) = names.sets();
        let ids = match ids {
            Some(ids) => format!("event_id IN ({ids})"),
            None => "1".to_owned(),
        };
        self.fold_rows_where_brief(
            &format!(
                "PREWHERE {project} AND id_hash IN ({hashes}) \
                 WHERE {ids}{cond} AND {VISIBLE}"
            ),
            brief,
        )
    }

    fn fold_rows_where(&self, condition: &str) -> Result<Vec<Folded>> {
        self.fold_rows_where_brief(condition, false)
    }

    fn fold_rows_where_brief(&self, condition: &str, brief: bool) -> Result<Vec<Folded>> {
        let content = if brief {
            "emptyArrayString() AS iopaths, emptyArrayUInt8() AS iotypes, \
             emptyArrayString() AS iostrs, emptyArrayUInt32() AS ioat"
        } else {
            "if(doc = '', io_paths, emptyArrayString()) AS iopaths, \
             if(doc = '', io_types, emptyArrayUInt8()) AS iotypes, \
             if(doc = '', io_strs, emptyArrayString()) AS iostrs, \
             if(doc = '', io_at, emptyArrayUInt32()) AS ioat"
        };
        let rows = self.client.rows(&format!(
            "SELECT project_id, event_id, kind, ts, node, seq, idx, received, key_id, doc, \
             if(doc = '', paths, emptyArrayString()) AS lpaths, \
             if(doc = '', types, emptyArrayUInt8()) AS ltypes, \
             if(doc = '', {}, emptyArrayString()) AS lstrs, \
             {content} FROM hive_writes \
             {condition} \
             ORDER BY project_id, event_id, kind, ts, node, seq, idx",
            own_ids_sql(
                "paths",
                "types",
                "strs",
                "nums",
                Some(("'event_id'", "'session_id'", "'parent_id'"))
            )
        ))?;
        let mut out = Vec::new();
        let mut i = 0;
        while i < rows.len() {
            let p = str_field(&rows[i], "project_id");
            let e = str_field(&rows[i], "event_id");
            let mut j = i;
            while j < rows.len()
                && rows[j]["project_id"] == p.as_str()
                && rows[j]["event_id"] == e.as_str()
            {
                j += 1;
            }
            out.push(fold_rows(p, e, &rows[i..j])?);
            i = j;
        }
        Ok(out)
    }

    /// Events of one or more projects by id.
    pub(super) fn fold_ids(&self, project_id: Option<&str>, ids: &[&str]) -> Result<Vec<Folded>> {
        self.fold_ids_since(project_id, ids, None, false)
    }

    /// [`ClickHouseStore::fold_ids`] of events none of whose writes was
    /// received before `since` (when given), as a streamed read found
    /// them: only the partitions of the days since are read (ADR 0024).
    /// `brief`: as [`ClickHouseStore::fold_named_brief`].
    pub(super) fn fold_ids_since(
        &self,
        project_id: Option<&str>,
        ids: &[&str],
        since: Option<i64>,
        brief: bool,
    ) -> Result<Vec<Folded>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let since = super::received_since(since);
        let mut out = Vec::new();
        let project = Self::project_cond(project_id);
        for list in in_lists(ids.iter().copied()) {
            out.extend(self.fold_named_brief(&project, &Named::Listed(&list), &since, brief)?);
        }
        Ok(out)
    }

    /// Add the rollups to the session events among `events`, reading the
    /// sessions' other events as needed.
    pub(super) fn with_rollups(&self, events: Vec<Folded>) -> Result<Vec<Folded>> {
        self.with_known_rollups(events, &BySession::default())
    }

    /// [`ClickHouseStore::with_rollups`], where the sessions in `known`
    /// have the rollups given there (read whole by the caller) and only
    /// the others' events are read.
    pub(super) fn with_known_rollups(
        &self,
        mut events: Vec<Folded>,
        known: &BySession<Rollup>,
    ) -> Result<Vec<Folded>> {
        let sessions: Vec<(String, String)> = events
            .iter()
            .filter(|f| f.is_session())
            .map(|f| (f.project_id.clone(), f.event_id.clone()))
            .filter(|(p, id)| !known.contains_key(&SessionKey::new(p, id)))
            .collect();
        if !events.iter().any(Folded::is_session) {
            return Ok(events);
        }
        let mut rollups = if sessions.is_empty() {
            BySession::default()
        } else {
            self.rollups_of(&sessions)?
        };
        rollups.extend(known.iter().map(|(k, r)| (k.clone(), *r)));
        for f in events.iter_mut().filter(|f| f.is_session()) {
            let r = rollups
                .get(&SessionKey::new(&f.project_id, &f.event_id))
                .copied()
                .unwrap_or_default();
            r.apply_to_session(&mut f.doc, f.duration_explicit);
        }
        Ok(events)
    }

    /// The current events of these sessions (project, session id): those
    /// whose current state names one of them.
    pub(super) fn session_members(&self, sessions: &[(String, String)]) -> Result<Vec<Folded>> {
        self.session_members_brief(sessions, false)
    }

    /// [`ClickHouseStore::session_members`]; `brief`: without their
    /// content (as [`ClickHouseStore::fold_named_brief`]).
    pub(super) fn session_members_brief(
        &self,
        sessions: &[(String, String)],
        brief: bool,
    ) -> Result<Vec<Folded>> {
        let mut out = Vec::new();
        for (p, ss) in by_project(sessions) {
            let want: HashSet<&str> = ss.iter().copied().collect();
            let project = format!("project_id = {}", lit(p));
            for list in in_lists(ss.iter().copied()) {
                let members = Named::Members {
                    project: p,
                    sessions: &list,
                };
                for mut f in self.fold_named_brief(&project, &members, "", brief)? {
                    if want.contains(f.session_id()) {
                        if brief {
                            without_content(&mut f.doc);
                        }
                        out.push(f);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// An event's content (`inputs`, `outputs`) left out: what an
/// enrichment of content holds (kept as its patch's text) goes with the
/// rest of it.
/// (Empty, as an event without content has them.)
pub(super) fn without_content(doc: &mut Value) {
    if let Some(o) = doc.as_object_mut() {
        for ns in super::leaves::CONTENT {
            o.insert(ns.to_owned(), Value::Object(serde_json::Map::new()));
        }
    }
}

impl ClickHouseStore {
    /// The events of a session, session event first, then by start time,
    /// at most `limit`, with their project; `brief`: without their
    /// content. `None`: no project holds the session.
    pub(super) fn session_events_brief(
        &self,
        project_id: Option<&str>,
        session_id: &str,
        limit: usize,
        brief: bool,
    ) -> Result<Option<(String, Vec<Value>)>> {
        let project = match project_id {
            Some(p) => p.to_owned(),
            None => match self.locate_any(session_id)? {
                Some(p) => p,
                None => return Ok(None),
            },
        };
        let members =
            self.session_members_brief(&[(project.clone(), session_id.to_owned())], brief)?;
        let mut events = self.with_rollups(members)?;
        let own = |f: &Folded| !(f.is_session() && f.event_id == session_id);
        events.sort_by(|a, b| {
            own(a)
                .cmp(&own(b))
                .then(
                    a.doc["start_time"]
                        .as_f64()
                        .unwrap_or(0.0)
                        .total_cmp(&b.doc["start_time"].as_f64().unwrap_or(0.0)),
                )
                .then(a.event_id.cmp(&b.event_id))
        });
        Ok(Some((
            project,
            events.into_iter().take(limit).map(|f| f.doc).collect(),
        )))
    }
}

/// The events a read names, by id.
pub(super) enum Named<'a> {
    /// These ids (SQL literals, comma-separated: [`in_lists`]).
    Listed(&'a str),
    /// The events that named these sessions (SQL literals) in the project
    /// `project` (its id), by their ids' hashes, found by the sessions'
    /// hashes (schema 24): with any other event that shares one, or whose
    /// session shares one.
    Members { project: &'a str, sessions: &'a str },
    /// The events with these hashes of their ids (a comma-separated list
    /// of numbers, not empty).
    Hashes(&'a str),
}

impl Named<'_> {
    /// The set of the events' hashes and the set of their ids (when
    /// known), as SQL.
    fn sets(&self) -> (String, Option<String>) {
        match self {
            Named::Listed(list) => (
                format!("SELECT cityHash64(arrayJoin([{list}]))"),
                Some((*list).to_owned()),
            ),
            Named::Members { project, sessions } => (session_events_sql(project, sessions), None),
            Named::Hashes(list) => (format!("SELECT arrayJoin([{list}])"), None),
        }
    }
}

/// The hashes of the events that named `sessions` (SQL literals,
/// comma-separated: [`in_lists`]) in the project `project` (its id), looked
/// up by the project's and the sessions' hashes, which the lookup is
/// ordered by (schema 24). A session sharing a hash adds its events.
pub(super) fn session_events_sql(project: &str, sessions: &str) -> String {
    format!(
        "SELECT id_hash FROM hive_session_events WHERE project_hash = cityHash64({}) \
         AND session_hash IN (SELECT cityHash64(arrayJoin([{sessions}])))",
        lit(project)
    )
}

/// (project, id) pairs as each project's ids, projects in order.
pub(super) fn by_project(pairs: &[(String, String)]) -> BTreeMap<&str, Vec<&str>> {
    let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (p, id) in pairs {
        out.entry(p).or_default().push(id);
    }
    out
}

/// A base stored as its leaves only (its `doc` left empty): its content
/// (schema 8) put back in its places among the others.
fn base_of_leaves(r: &Value) -> Value {
    let arr = |k: &str| r[k].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let leaves = |paths: &str, types: &str, strs: &str| -> Vec<Leaf> {
        arr(paths)
            .iter()
            .zip(arr(types))
            .zip(arr(strs))
            .map(|((p, t), s)| Leaf {
                path: p.as_str().unwrap_or_default().to_owned(),
                ty: t.as_u64().unwrap_or(0) as u8,
                s: s.as_str().unwrap_or_default().to_owned(),
                n: 0.0,
            })
            .collect()
    };
    let at: Vec<u32> = arr("ioat")
        .iter()
        .map(|a| a.as_u64().unwrap_or(u64::MAX).min(u64::from(u32::MAX)) as u32)
        .collect();
    rebuild(&interleave(
        leaves("lpaths", "ltypes", "lstrs"),
        leaves("iopaths", "iotypes", "iostrs"),
        &at,
    ))
}

/// Fold the rows of one event (sorted by kind, then their order).
pub(super) fn fold_rows(project_id: String, event_id: String, rows: &[Value]) -> Result<Folded> {
    let kind = |r: &Value| r["kind"].as_u64().unwrap_or(0) as u8;
    // Rows are sorted: the last base is the latest; the last placeholder
    // has the highest order, i.e. the earliest time.
    let base = rows.iter().rev().find(|r| kind(r) == BASE);
    let placeholder = rows.iter().rev().find(|r| kind(r) == PLACEHOLDER);
    let mut seen = HashSet::new();
    let patches: Vec<&Value> = rows
        .iter()
        .filter(|r| kind(r) == PATCH)
        .filter(|r| {
            seen.insert((
                str_field(r, "node"),
                r["seq"].as_u64().unwrap_or(0),
                r["idx"].as_u64().unwrap_or(0),
            ))
        })
        .collect();
    let mut doc = match base.or(placeholder) {
        Some(r) if r["doc"].as_str() == Some("") => base_of_leaves(r),
        Some(r) => parse(r["doc"].as_str().unwrap_or("null"))?,
        None => {
            let first = patches.first().and_then(|r| r["ts"].as_i64()).unwrap_or(0);
            Event::placeholder_session(&event_id, &project_id, first).to_json()
        }
    };
    let mut history = Vec::with_capacity(patches.len());
    let mut duration_explicit = false;
    for (i, r) in patches.iter().enumerate() {
        let patch = parse(r["doc"].as_str().unwrap_or("null"))?;
        duration_explicit |= patch.get("duration").is_some_and(|d| !d.is_null());
        merge_patch(&mut doc, &patch);
        history.push(HistoryEntry {
            seq: i as i64 + 1,
            received_at: r["ts"].as_i64().unwrap_or(0),
            key_id: r["key_id"].as_str().map(str::to_owned),
            patch,
        });
    }
    Ok(Folded {
        project_id,
        event_id,
        doc,
        duration_explicit,
        patches: history,
        received_from: rows
            .iter()
            .filter_map(|r| r["received"].as_i64())
            .min()
            .unwrap_or(0),
    })
}
