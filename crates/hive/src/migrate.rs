//! `hive migrate`: a SQLite data directory's whole store moved into a
//! ClickHouse database, for a team that outgrows one machine (ADR 0022).
//!
//! What a server on SQLite keeps, the ClickHouse database then holds:
//! projects, API keys (their secrets keep working), saved views, saved
//! charts, alert rules and their history of evaluations, retention and
//! redaction settings, pending deletions, and every event with its raw span
//! and its whole enrichment history, as `hive export` and `hive import`
//! carry them (ADR 0011). Enrichments still waiting for their event are
//! moved as enrichments, so they apply when it arrives. Dashboard logins are
//! not moved: sign in again.
//!
//! ClickHouse derives a project's id from its name (every node must agree
//! on it without a lock), so projects get new ids; every reference to a
//! project's id (keys, views, objects and what they hold) is changed to the
//! new one.
//!
//! The server must be stopped, with its ingest log applied: the source is
//! read as one state, and writes made meanwhile would be missed.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use hive_server::import::ImportRecord;
use hive_server::ingest_log::format;
use hive_store::clickhouse::ClickHouseStore;
use hive_store::sqlite::Durability;
use hive_store::{Store, WriteOp};
use indicatif::{ProgressBar, ProgressStyle};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde_json::{Value, json};

/// Events read and written at a time.
const PAGE: usize = 5_000;

#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// The data directory of the server on SQLite (stop the server first).
    #[arg(long, env = "HIVE_DATA_DIR", default_value = ".hive")]
    pub data_dir: PathBuf,
    /// The ClickHouse to move it to, as `hive serve --clickhouse` takes it
    /// (`http://user:password@host:8123/database`): a database that holds
    /// no hive data yet.
    #[arg(long = "to-clickhouse", env = "HIVE_CLICKHOUSE_URL")]
    pub to: String,
    #[command(flatten)]
    pub login: crate::ClickHouseLogin,
}

/// What was moved.
#[derive(Default)]
struct Counts {
    projects: usize,
    keys: usize,
    views: usize,
    objects: usize,
    evaluations: usize,
    events: u64,
    history: u64,
    waiting: u64,
}

/// `hive migrate`.
pub fn migrate(mut args: MigrateArgs) -> Result<()> {
    if let Some(to) = args.login.url(Some(args.to.clone()))? {
        args.to = to;
    }
    let started = Instant::now();
    let db = args.data_dir.join("hive.db");
    if !db.exists() {
        bail!(
            "no database in {}: pass the data directory of the server on SQLite (--data-dir)",
            args.data_dir.display()
        );
    }
    let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open {}", db.display()))?;
    let applied = applied_position(&conn)?;
    let log = args.data_dir.join("log");
    let end = log_end(&log)?;
    if end > applied {
        bail!(
            "the ingest log in {} holds writes not applied to the database yet (up to position \
             {end}, applied {applied}): start `hive serve --data-dir {}` once and stop it (it \
             applies them), then migrate",
            log.display(),
            args.data_dir.display()
        );
    }
    // Events and enrichments are moved project by project: one of no
    // project (none is expected) would be left behind.
    let strays: i64 = conn.query_row(
        "SELECT (SELECT count(*) FROM events WHERE project_id NOT IN (SELECT id FROM projects)) \
         + (SELECT count(*) FROM patches WHERE project_id NOT IN (SELECT id FROM projects))",
        [],
        |r| r.get(0),
    )?;
    if strays > 0 {
        bail!(
            "{} holds {strays} events or enrichments of no project it knows: nothing was moved",
            db.display()
        );
    }
    let source = crate::open_store(&args.data_dir, Durability::Full, 0)?;
    let node = format!("migrate-{}", uuid::Uuid::new_v4());
    let target =
        ClickHouseStore::open(&args.to, &node).context("cannot open the ClickHouse store")?;
    if !target.auth().keys()?.is_empty() || !target.auth().projects()?.is_empty() {
        bail!(
            "ClickHouse at {} already holds hive data: migrate into a database of its own \
             (another name in the URL's path), which hive creates. (A migration that failed \
             part-way leaves its database: drop it, or choose another name.)",
            target.describe()
        );
    }
    let mut counts = Counts::default();

    // Projects, by name: ClickHouse derives their ids from their names.
    let mut ids: HashMap<String, String> = HashMap::new();
    let projects = source.auth().projects()?;
    for p in &projects {
        let q = target.auth().ensure_project(&p.name)?;
        ids.insert(p.id.clone(), q.id);
        counts.projects += 1;
    }
    let remap = |id: &str| ids.get(id).cloned().unwrap_or_else(|| id.to_owned());

    // Keys, under the hashes of their secrets.
    for (mut key, hash) in source.keys_with_hashes()? {
        key.project_id = key.project_id.as_deref().map(remap);
        target.import_key(&key, &hash)?;
        counts.keys += 1;
    }
    // Saved views.
    for p in &projects {
        for v in source.auth().views(&p.id)? {
            target
                .auth()
                .save_view(&remap(&p.id), &v.name, &v.page, &v.query)?;
            counts.views += 1;
        }
    }
    // Saved objects of every kind (charts, alert rules, settings, redaction
    // rules, deletions), with the same ids; alert rules with their
    // evaluations, oldest first.
    for kind in object_kinds(&conn)? {
        for mut o in source.objects().list(&kind, None)? {
            let evaluations = if kind == hive_store::objects::ALERT {
                source.objects().evaluations(&o.id, usize::MAX)?
            } else {
                Vec::new()
            };
            // Settings and redaction rules are kept under their project's id.
            if o.id == o.project_id {
                o.id = remap(&o.id);
            }
            o.project_id = remap(&o.project_id);
            remap_ids(&mut o.doc, &ids);
            target.import_object(&kind, &o)?;
            counts.objects += 1;
            let mut evaluations = evaluations;
            evaluations.sort_by_key(|e| e.seq);
            for mut e in evaluations {
                remap_ids(&mut e.doc, &ids);
                target.objects().add_evaluation(&o.id, e.at, &e.doc)?;
                counts.evaluations += 1;
            }
        }
    }

    // Events, project by project, in pages by id: one thread reads and
    // prepares pages while this one writes the previous (at most two wait).
    let total: u64 = conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
    let bar = progress(total);
    let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<WriteOp>, usize, String)>(2);
    let (conn, moved) = std::thread::scope(|s| -> Result<(Connection, Counts)> {
        let projects = &projects;
        let remap = &remap;
        let reader = s.spawn(move || -> Result<(Connection, Counts)> {
            let mut counts = Counts::default();
            for p in projects {
                let to = remap(&p.id);
                let mut after = String::new();
                loop {
                    let page = events_page(&conn, &p.id, &after)?;
                    let Some(last) = page.last() else { break };
                    after.clone_from(&last.event_id);
                    let ops = page_ops(&conn, p, &to, &page, &mut counts)?;
                    // The writer gone: it failed, and says why.
                    if tx.send((ops, page.len(), p.name.clone())).is_err() {
                        return Ok((conn, counts));
                    }
                }
            }
            Ok((conn, counts))
        });
        for (ops, events, project) in rx {
            target.apply(&ops).with_context(|| {
                format!("cannot write events of project {project:?} to ClickHouse")
            })?;
            bar.inc(events as u64);
        }
        reader
            .join()
            .map_err(|_| anyhow::anyhow!("reading the events failed"))?
    })?;
    bar.finish_and_clear();
    counts.events = moved.events;
    counts.history = moved.history;
    counts.waiting = moved.waiting;
    // Enrichments of no stored event (none are expected: one waiting for
    // its event has a placeholder) move as waiting ones too.
    let stray_ops: Vec<WriteOp> = stray_patches(&conn)?
        .into_iter()
        .map(|(project, event_id, h)| WriteOp::Enrich {
            project_id: remap(&project),
            floating: h.floating,
            event_id,
            patch: h.patch,
            key_id: h.key_id,
            received_at_ms: h.received_at,
        })
        .collect();
    for ops in stray_ops.chunks(PAGE) {
        target
            .apply(ops)
            .context("cannot write enrichments to ClickHouse")?;
        counts.waiting += ops.len() as u64;
    }

    // A server that ran meanwhile wrote what this did not read.
    if log_end(&log)? != end || applied_position(&conn)? != applied {
        bail!(
            "the server on {} wrote while it was moved: what it wrote meanwhile is not in \
             ClickHouse. Stop it, then migrate again into a new database",
            args.data_dir.display()
        );
    }
    eprintln!(
        "migrated {} to ClickHouse at {}: {}, {}, {}, {} ({}), {} with {}, {} waiting for \
         their event, {:.1} s",
        args.data_dir.display(),
        target.describe(),
        n(counts.projects, "project", "projects"),
        n(counts.keys, "key", "keys"),
        n(counts.views, "saved view", "saved views"),
        n(counts.objects, "saved object", "saved objects"),
        n(counts.evaluations, "alert evaluation", "alert evaluations"),
        n(counts.events as usize, "event", "events"),
        n(counts.history as usize, "history entry", "history entries"),
        n(counts.waiting as usize, "enrichment", "enrichments"),
        started.elapsed().as_secs_f64()
    );
    eprintln!(
        "projects have new ids on ClickHouse (derived from their names); keys, names, charts \
         and alert rules are the same. Start the server with `hive serve --clickhouse URL`; \
         dashboard logins start afresh (`hive login`)."
    );
    Ok(())
}

/// The writes that recreate a page of a project's events (`to`: its id on
/// ClickHouse) with their history.
fn page_ops(
    conn: &Connection,
    p: &hive_store::auth::Project,
    to: &str,
    page: &[Stored],
    counts: &mut Counts,
) -> Result<Vec<WriteOp>> {
    let mut ops = Vec::with_capacity(page.len() * 2);
    let history = patches_of(conn, &p.id, page)?;
    let sessions = placeholder_names(conn, &p.id, page)?;
    for e in page {
        let entries = history.get(&e.event_id).map(Vec::as_slice).unwrap_or(&[]);
        if !e.has_base {
            // No event arrived yet: its enrichments wait for it, as
            // enrichments (a placeholder session without any is made again
            // by its events).
            for h in entries {
                ops.push(WriteOp::Enrich {
                    project_id: to.to_owned(),
                    floating: h.floating,
                    event_id: e.event_id.clone(),
                    patch: h.patch.clone(),
                    key_id: h.key_id.clone(),
                    received_at_ms: h.received_at,
                });
                counts.waiting += 1;
            }
            continue;
        }
        let record = json!({
            "event": e.doc,
            "history": entries.iter().map(|h| json!({
                "received_at": h.received_at, "key_id": h.key_id, "patch": h.patch,
            })).collect::<Vec<_>>(),
            "span": e.raw,
        });
        let record = ImportRecord::parse(&record, to)
            .map_err(|m| anyhow::anyhow!("event {:?} of project {:?}: {m}", e.event_id, p.name))?;
        counts.history += record.history.len() as u64;
        counts.events += 1;
        let at = ops.len();
        record.into_ops(&mut ops);
        // A session still a placeholder keeps its name when its events
        // make it again.
        if let Some(WriteOp::Event {
            event,
            session_name,
            ..
        }) = ops.get_mut(at)
            && let Some(name) = sessions.get(&event.session_id)
        {
            *session_name = Some(name.clone());
        }
    }
    Ok(ops)
}

/// `count` of a thing, in the plural unless one.
fn n(count: usize, one: &str, more: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {more}")
    }
}

/// Replace every string of `v` that is a project id of `ids` with its new
/// id (ids are UUIDs: nothing else spells one).
fn remap_ids(v: &mut Value, ids: &HashMap<String, String>) {
    match v {
        Value::String(s) => {
            if let Some(new) = ids.get(s.as_str()) {
                s.clone_from(new);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| remap_ids(x, ids)),
        Value::Object(m) => m.values_mut().for_each(|x| remap_ids(x, ids)),
        _ => {}
    }
}

fn progress(len: u64) -> ProgressBar {
    // Drawn on stderr, and not at all when it is not a terminal.
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} moving [{bar:30}] {pos}/{len} events, {elapsed} ({eta} left)",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// How far the database applied the ingest log.
fn applied_position(conn: &Connection) -> Result<u64> {
    let position: Option<i64> = conn
        .query_row("SELECT position FROM log_position WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(position.unwrap_or(0).max(0) as u64)
}

/// The position after the last whole record of the ingest log in `dir`
/// (0 when there is none).
fn log_end(dir: &Path) -> Result<u64> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0);
    };
    let last = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| format::parse_segment_name(&e.file_name().to_string_lossy()))
        .max();
    let Some(start) = last else { return Ok(0) };
    let path = dir.join(format::segment_name(start));
    let mut f = BufReader::new(
        File::open(&path).with_context(|| format!("cannot read {}", path.display()))?,
    );
    f.seek(SeekFrom::Start(format::SEGMENT_HEADER))?;
    let mut end = start;
    // A record cut short at the end is not acknowledged: the server drops
    // it at its next start.
    while let format::Next::Record(payload) = format::read_record(&mut f)? {
        end += (format::RECORD_HEADER + payload.len()) as u64;
    }
    Ok(end)
}

/// The kinds of saved objects the database holds.
fn object_kinds(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT DISTINCT kind FROM saved_objects ORDER BY kind")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// An event as the database keeps it.
struct Stored {
    event_id: String,
    /// Whether the event itself arrived (else it is a placeholder made by
    /// its enrichments or its events).
    has_base: bool,
    doc: Value,
    raw: Value,
}

/// The next page of a project's events after `after`, by id.
fn events_page(conn: &Connection, project_id: &str, after: &str) -> Result<Vec<Stored>> {
    let mut stmt = conn.prepare_cached(
        "SELECT event_id, has_base, doc, raw FROM events WHERE project_id = ?1 \
         AND event_id > ?2 ORDER BY event_id LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![project_id, after, PAGE as i64], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (event_id, has_base, doc, raw) = row?;
        let doc: Value = serde_json::from_str(&doc)
            .with_context(|| format!("event {event_id:?}: its stored document"))?;
        let raw = match raw {
            Some(text) => serde_json::from_str(&text)
                .with_context(|| format!("event {event_id:?}: its stored span"))?,
            None => Value::Null,
        };
        out.push(Stored {
            event_id,
            has_base: has_base != 0,
            doc,
            raw,
        });
    }
    Ok(out)
}

/// One stored enrichment.
struct Patch {
    received_at: i64,
    key_id: Option<String>,
    patch: Value,
    floating: bool,
}

/// The enrichments of a page's events, oldest first, by event id.
fn patches_of(
    conn: &Connection,
    project_id: &str,
    page: &[Stored],
) -> Result<HashMap<String, Vec<Patch>>> {
    let (Some(first), Some(last)) = (page.first(), page.last()) else {
        return Ok(HashMap::new());
    };
    // The page is a run of ids: the patches of the same run.
    let mut out: HashMap<String, Vec<Patch>> = HashMap::new();
    for (_, event_id, h) in read_patches(
        conn,
        "WHERE project_id = ?1 AND event_id >= ?2 AND event_id <= ?3",
        params![project_id, first.event_id, last.event_id],
    )? {
        out.entry(event_id).or_default().push(h);
    }
    Ok(out)
}

/// Enrichments whose event has no row (neither the event nor its
/// placeholder), oldest first: (project, event id, enrichment).
fn stray_patches(conn: &Connection) -> Result<Vec<(String, String, Patch)>> {
    read_patches(
        conn,
        "p WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.project_id = p.project_id \
         AND e.event_id = p.event_id)",
        [],
    )
}

/// The stored enrichments `condition` selects, oldest first: (project,
/// event id, enrichment).
fn read_patches(
    conn: &Connection,
    condition: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<(String, String, Patch)>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT project_id, event_id, received_at, key_id, patch, floating FROM patches \
         {condition} ORDER BY seq"
    ))?;
    let rows = stmt.query_map(params, |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (project, event_id, received_at, key_id, patch, floating) = row?;
        let patch: Value = serde_json::from_str(&patch)
            .with_context(|| format!("an enrichment of event {event_id:?}"))?;
        let h = Patch {
            received_at,
            key_id,
            patch,
            floating: floating != 0,
        };
        out.push((project, event_id, h));
    }
    Ok(out)
}

/// The names of the sessions of a page's events that are placeholders
/// (no session start arrived), by session id.
fn placeholder_names(
    conn: &Connection,
    project_id: &str,
    page: &[Stored],
) -> Result<HashMap<String, String>> {
    let mut sessions: Vec<&str> = page
        .iter()
        .filter(|e| e.has_base)
        .filter_map(|e| e.doc["session_id"].as_str())
        .collect();
    sessions.sort_unstable();
    sessions.dedup();
    let mut out = HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT json_extract(doc, '$.event_name') FROM events WHERE project_id = ?1 \
         AND event_id = ?2 AND has_base = 0",
    )?;
    for s in sessions {
        let name: Option<Option<String>> = stmt
            .query_row(params![project_id, s], |r| r.get(0))
            .optional()?;
        if let Some(Some(name)) = name {
            out.insert(s.to_owned(), name);
        }
    }
    Ok(out)
}
