//! `hive bench charts --clickhouse URL`: the reads issue 10 names (the
//! session list with a metadata filter, the events list with a filter,
//! charts grouped by a metadata field) on the ClickHouse store at millions
//! of events, cold and warm, through the store's own read path
//! ([`Store::query`], [`Store::chart`]), and the bytes per event on disk
//! beside SQLite's for the same events.
//!
//! Loading: `--seed-events` events go through the store's write path
//! (`Store::apply`, batches of 5 000); the rest are copies of their rows
//! made inside ClickHouse, each with new event and session ids in every
//! place the write path puts them (the id columns, the `event_id`,
//! `session_id` and `parent_id` leaves, and the document), so they are the
//! rows the write path would make for those events, received when a live
//! node would have received them (as they start); the side tables fill
//! from the same materialised views. Copies compress better than real
//! events (they differ from their seed only by the ids), so bytes per event
//! are measured on the seed alone.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hive_core::chart::ChartQuery;
use hive_core::filter::{DateRange, Filter};
use hive_store::clickhouse::ClickHouseStore;
use hive_store::prepared::PreparedEvent;
use hive_store::sqlite::{Durability, SqliteOptions, SqliteStore};
use hive_store::{EventQuery, Level, Order, Store, WriteOp};
use serde_json::json;

use crate::bench_charts::{ChartsArgs, PROJECT, SPAN_MS, START, event_with, pct};

fn ops(project_id: &str, from: usize, to: usize, total: usize, content: usize) -> Vec<WriteOp> {
    (from..to)
        .map(|n| {
            WriteOp::Prepared(Box::new(PreparedEvent::new(
                event_with(project_id, n, total, content),
                None,
                None,
                false,
                false,
            )))
        })
        .collect()
}

/// `n` new events of the data's last hour, past the `total` loaded and the
/// `written` before them (`--unsettled`): in new sessions of ten, but one
/// event in two that is no session's own goes to one of the 50 sessions
/// loaded last (live sessions, whose events are already in the state).
fn unsettled(project_id: &str, total: usize, n: usize, written: usize) -> Vec<WriteOp> {
    let first = (total + written).div_ceil(10) * 10;
    let sessions = (total / 10).max(1);
    (first..first + n)
        .map(|k| {
            let mut e = event_with(project_id, k, total, 0);
            let start = START + SPAN_MS - 3_600_000 + ((k - first) as i64 * 3_600_000) / n as i64;
            e.end_time = start + (e.end_time - e.start_time);
            e.start_time = start;
            if k % 2 == 1 {
                let live = sessions - 1 - ((k - first) / 2) % 50usize.min(sessions);
                let sid = event_with(project_id, live * 10, total, 0).event_id;
                e.parent_id = Some(sid.clone());
                e.session_id = sid;
            }
            WriteOp::Prepared(Box::new(PreparedEvent::new(e, None, None, false, false)))
        })
        .collect()
}

fn count(store: &ClickHouseStore, sql: &str) -> Result<u64> {
    Ok(store
        .sql_rows(sql)?
        .first()
        .and_then(|r| r["n"].as_u64())
        .unwrap_or(0))
}

/// Bytes on disk of every table of the store's database.
fn disk_bytes(store: &ClickHouseStore) -> Result<u64> {
    count(
        store,
        "SELECT sum(bytes_on_disk) AS n FROM system.parts \
         WHERE active AND database = currentDatabase()",
    )
}

/// Bytes on disk of each table of the store's database, the largest first.
fn disk_bytes_by_table(store: &ClickHouseStore) -> Result<Vec<(String, u64)>> {
    Ok(store
        .sql_rows(
            "SELECT table AS t, sum(bytes_on_disk) AS n FROM system.parts \
             WHERE active AND database = currentDatabase() GROUP BY t ORDER BY n DESC, t",
        )?
        .iter()
        .filter_map(|r| Some((r["t"].as_str()?.to_owned(), r["n"].as_u64()?)))
        .collect())
}

/// Tables of the events' state (ADR 0028, 0032, 0036), which a cluster
/// does not keep.
const STATE_TABLES: [&str; 3] = ["hive_state", "hive_session_first", "hive_state_dead"];

/// An `enrich_session` of every session among the first `seed` events,
/// received five minutes after the session starts.
fn session_enrichments(project_id: &str, seed: usize) -> Vec<WriteOp> {
    (0..seed)
        .step_by(10)
        .map(|n| {
            let session = event_with(project_id, n, seed, 0);
            WriteOp::Enrich {
                project_id: project_id.to_owned(),
                floating: false,
                event_id: session.event_id,
                patch: json!({
                    "feedback": {"rating": (n / 10) % 5 + 1},
                    "metadata": {"reviewed": (n / 10) % 2 == 0},
                }),
                key_id: None,
                received_at_ms: session.start_time + 300_000,
            }
        })
        .collect()
}

fn load(
    store: &ClickHouseStore,
    project_id: &str,
    seed: usize,
    total: usize,
    content: usize,
    enrich: bool,
) -> Result<(f64, Vec<(String, u64)>)> {
    let t = Instant::now();
    // The seed starts across the 30 days, and each copy when its seed
    // does: so many events an hour as `total` over 30 days makes.
    for from in (0..seed).step_by(5000) {
        store.apply(&ops(
            project_id,
            from,
            (from + 5000).min(seed),
            seed,
            content,
        ))?;
    }
    if enrich {
        for batch in session_enrichments(project_id, seed).chunks(5000) {
            store.apply(batch)?;
        }
    }
    eprintln!(
        "  {seed} events through the write path in {:.1} s ({:.0} events/s)",
        t.elapsed().as_secs_f64(),
        seed as f64 / t.elapsed().as_secs_f64()
    );
    store.sql_exec("OPTIMIZE TABLE hive_writes FINAL")?;
    // (Its state too, as a node's compaction keeps it: ADR 0028.)
    store.rebuild_state()?;
    let tables = disk_bytes_by_table(store)?;
    let per_event = tables.iter().map(|(_, n)| n).sum::<u64>() as f64 / seed as f64;
    let copies = total.div_ceil(seed);
    let t = Instant::now();
    let ids = "['event_id', 'session_id', 'parent_id']";
    // A copy is received as a live node would have received it: two
    // seconds after it starts (an enrichment after its own time), so the
    // writes lie in the days they would (they are partitioned by the day
    // received, which reads bounded by dates prune by: ADR 0024).
    let received = "if(kind = 2, ts, if(indexOf(paths, 'start_time') > 0, \
        toInt64(nums[indexOf(paths, 'start_time')]), received)) + 2000";
    for c in 1..copies {
        // The generator's ids are UUIDs (version 4).
        // A copy's ids start with its tag, so the copies of one session
        // lie apart in the id order (each copy's sessions in their own
        // scattered order), as distinct sessions' UUIDs would.
        let tag = format!("x{c}-");
        store.sql_exec(&format!(
            "INSERT INTO hive_writes (project_id, event_id, kind, ts, node, seq, idx, received, \
             floating, session_id, key_id, doc, raw, paths, types, strs, nums, lossy, \
             io_paths, io_types, io_strs, io_nums, io_at) \
             SELECT project_id, concat('{tag}', event_id), kind, ts, node, seq, idx, {received}, \
             floating, if(session_id = '', '', concat('{tag}', session_id)), key_id, \
             replaceRegexpAll(doc, '\"([0-9a-f]{{8}}-[0-9a-f]{{4}}-4[0-9a-f]{{3}}-[0-9a-f]{{4}}-[0-9a-f]{{12}})\"', '\"{tag}\\\\1\"'), \
             raw, paths, types, \
             arrayMap((p, x) -> if(has({ids}, p) AND x != '', concat('{tag}', x), x), paths, strs), \
             nums, lossy, io_paths, io_types, io_strs, io_nums, io_at FROM hive_writes \
             WHERE project_id = '{project_id}' AND NOT startsWith(event_id, 'x')"
        ))?;
        if c % 10 == 9 || c + 1 == copies {
            eprintln!(
                "  {} events ({:.0} s)",
                seed * (c + 1),
                t.elapsed().as_secs_f64()
            );
        }
    }
    Ok((per_event, tables))
}

/// Where the bytes an event go, table by table (the tables of under a tenth
/// of a byte an event together), and the bytes without the events' state.
fn print_tables(tables: &[(String, u64)], seed: usize, per_event: f64, sqlite: f64) {
    let per = |n: u64| n as f64 / seed as f64;
    let (shown, rest): (Vec<_>, Vec<_>) = tables.iter().partition(|(_, n)| per(*n) >= 0.1);
    let mut line: Vec<String> = shown
        .iter()
        .map(|(t, n)| format!("{t} {:.1}", per(*n)))
        .collect();
    if !rest.is_empty() {
        line.push(format!(
            "{} more {:.2}",
            rest.len(),
            per(rest.iter().map(|(_, n)| n).sum())
        ));
    }
    println!("  by table, bytes an event: {}", line.join(", "));
    let state: u64 = tables
        .iter()
        .filter(|(t, _)| STATE_TABLES.contains(&t.as_str()))
        .map(|(_, n)| n)
        .sum();
    let without = per_event - per(state);
    println!(
        "  without the events' state ({}; a cluster keeps none): {without:.1}, {:.2}x fewer",
        STATE_TABLES.join(", "),
        sqlite / without
    );
}

/// SQLite's bytes per event for the same `n` events (database and WAL
/// after a checkpoint), with the same enrichments.
fn sqlite_bytes(n: usize, content: usize, enrich: bool) -> Result<f64> {
    let dir = std::env::temp_dir().join(format!("hive-bench-sqlite-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let store = SqliteStore::open(
        dir.join("hive.db"),
        SqliteOptions {
            durability: Durability::Normal,
            ..SqliteOptions::default()
        },
    )?;
    let project = store.auth().ensure_project(PROJECT)?;
    for from in (0..n).step_by(5000) {
        store.apply(&ops(&project.id, from, (from + 5000).min(n), n, content))?;
    }
    if enrich {
        for batch in session_enrichments(&project.id, n).chunks(5000) {
            store.apply(batch)?;
        }
    }
    store.checkpoint()?;
    drop(store);
    let mut bytes = 0;
    for e in std::fs::read_dir(&dir)? {
        bytes += e?.metadata()?.len();
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(bytes as f64 / n as f64)
}

/// Drop ClickHouse's mark and uncompressed caches, and the OS page cache
/// if asked and this process may (root); says which.
fn drop_caches(store: &ClickHouseStore, os: bool) -> Result<&'static str> {
    store.sql_exec("SYSTEM DROP MARK CACHE")?;
    store.sql_exec("SYSTEM DROP UNCOMPRESSED CACHE")?;
    if !os {
        return Ok("ClickHouse's mark and uncompressed caches");
    }
    let dropped = std::process::Command::new("sync").status().is_ok()
        && std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok();
    Ok(if dropped {
        "ClickHouse's mark and uncompressed caches and the OS page cache"
    } else {
        "ClickHouse's mark and uncompressed caches (not the OS page cache: not root)"
    })
}

type Read = Box<dyn Fn(&ClickHouseStore) -> Result<String> + Send + Sync>;

/// `end`: the latest start loaded (dated reads cover the hours before it).
fn reads(project_id: &str, end: i64) -> Result<Vec<(&'static str, Read)>> {
    let filter = |v: serde_json::Value| Filter::from_json(&v).map_err(|e| anyhow::anyhow!("{e}"));
    let chart =
        |v: serde_json::Value| ChartQuery::from_json(&v, 0.0).map_err(|e| anyhow::anyhow!("{e}"));
    let list = |q: EventQuery| -> Read {
        Box::new(move |store| {
            let page = store.query(&q)?;
            Ok(format!("{} of {} matched", page.events.len(), page.total))
        })
    };
    // The page alone, as the dashboard's lists first show it (ADR 0015).
    let page = |q: EventQuery| -> Read {
        Box::new(move |store| {
            let page = store.query_page(&q)?;
            Ok(format!(
                "{} shown, {}",
                page.events.len(),
                match page.total {
                    Some(n) => format!("{n} matched"),
                    None => format!("more: {}, not counted", page.more),
                }
            ))
        })
    };
    let plot = |q: ChartQuery, project: String| -> Read {
        Box::new(move |store| {
            let s = store.chart(Some(&project), &q)?;
            Ok(format!(
                "{} series, {} points",
                s.len(),
                s.iter().map(|x| x.points.len()).sum::<usize>()
            ))
        })
    };
    // The newest 50 sessions of tenant-7 in a date range (the dashboard's
    // session list matching sessions alone). Lists are read as the
    // dashboard reads them: without the events' content, which its rows do
    // not show (`brief`).
    let tenant_sessions = |date_range: DateRange| -> Result<EventQuery> {
        Ok(EventQuery {
            project_id: Some(project_id.into()),
            filters: vec![filter(
                json!({"field": "metadata.tenant", "operator": "is", "value": "tenant-7"}),
            )?],
            level: Level::SessionEvent,
            order: Order::StartDesc,
            limit: 50,
            date_range,
            brief: true,
            ..EventQuery::default()
        })
    };
    let slow_events = EventQuery {
        project_id: Some(project_id.into()),
        filters: vec![filter(
            json!({"field": "metrics.latency_ms", "operator": "greater than", "value": 1100}),
        )?],
        level: Level::Event,
        order: Order::StartDesc,
        limit: 50,
        brief: true,
        ..EventQuery::default()
    };
    // A rare match (one event in a thousand: its newest 50 lie in the
    // last four hours, and windows of the newest hours that find them
    // read most of a day), and sessions no event matches (tenant-7's
    // sessions are all of variant d), which no window finds.
    let rare_events = EventQuery {
        filters: vec![filter(
            json!({"field": "metrics.latency_ms", "operator": "is", "value": 1099}),
        )?],
        ..slow_events.clone()
    };
    let no_sessions = EventQuery {
        filters: vec![
            filter(json!({"field": "metadata.tenant", "operator": "is", "value": "tenant-7"}))?,
            filter(json!({"field": "metadata.variant", "operator": "is", "value": "a"}))?,
        ],
        ..tenant_sessions(DateRange::default())?
    };
    Ok(vec![
        (
            "events list, rare: latency_ms is 1099, newest 50",
            list(rare_events.clone()),
        ),
        (
            "events list page, rare, newest 50, not counted",
            page(rare_events),
        ),
        (
            "session list, none: tenant-7 and variant a, newest 50",
            list(no_sessions),
        ),
        (
            "session list, metadata.tenant is tenant-7, newest 50",
            list(tenant_sessions(DateRange::default())?),
        ),
        (
            "events list, metrics.latency_ms > 1100, newest 50",
            list(slow_events.clone()),
        ),
        (
            "session list page, tenant-7, newest 50, not counted",
            page(tenant_sessions(DateRange::default())?),
        ),
        (
            "events list page, latency_ms > 1100, newest 50, not counted",
            page(slow_events),
        ),
        (
            "chart: count by metadata.variant per hour",
            plot(
                chart(
                    json!({"aggregation": "count", "bucket": "hour", "groupBy": "metadata.variant"}),
                )?,
                project_id.into(),
            ),
        ),
        (
            "chart: avg metrics.latency_ms by metadata.variant per hour",
            plot(
                chart(json!({"metric": "metrics.latency_ms", "aggregation": "avg",
                    "bucket": "hour", "groupBy": "metadata.variant"}))?,
                project_id.into(),
            ),
        ),
        // Bounded by dates, as the dashboard's time ranges and alert windows
        // are: the last hour and the last 24 hours of the 30 days loaded.
        (
            "alert window: count in the last hour",
            plot(
                dated(
                    chart(json!({"aggregation": "count", "bucket": "total"}))?,
                    end,
                    1,
                ),
                project_id.into(),
            ),
        ),
        // An alert round: five hourly rules of one project due together
        // (a count, a filtered average, a p95, a grouped count, which also
        // reads the hour before, and a drift), their windows read apart as
        // each rule alone would, then together (`Store::charts`).
        (
            "alert round: 5 rules' windows, read apart",
            rounds(alert_round(&chart, end)?, project_id.into(), false),
        ),
        (
            "alert round: 5 rules' windows, read together",
            rounds(alert_round(&chart, end)?, project_id.into(), true),
        ),
        (
            "chart: count by metadata.variant per hour, last 24 hours",
            plot(
                dated(
                    chart(json!({"aggregation": "count", "bucket": "hour",
                        "groupBy": "metadata.variant"}))?,
                    end,
                    24,
                ),
                project_id.into(),
            ),
        ),
        // The dashboard's charts open on the last 7 days.
        (
            "chart: count by metadata.variant per hour, last 7 days",
            plot(
                dated(
                    chart(json!({"aggregation": "count", "bucket": "hour",
                        "groupBy": "metadata.variant"}))?,
                    end,
                    24 * 7,
                ),
                project_id.into(),
            ),
        ),
        (
            "session list, metadata.tenant is tenant-7, last hour",
            list(tenant_sessions(last_hours(end, 1))?),
        ),
    ])
}

/// The windows an alert round of five hourly rules reads (the last hour,
/// and the hour before for the grouped count and the drift).
fn alert_round(
    chart: &dyn Fn(serde_json::Value) -> Result<ChartQuery>,
    end: i64,
) -> Result<Vec<ChartQuery>> {
    let tenant = json!([{"field": "metadata.tenant", "operator": "is", "value": "tenant-7"}]);
    let rules = [
        json!({"aggregation": "count", "bucket": "total"}),
        json!({"metric": "metrics.latency_ms", "aggregation": "avg", "bucket": "total",
               "filters": tenant}),
        json!({"metric": "metrics.latency_ms", "aggregation": "p95", "bucket": "total"}),
        json!({"aggregation": "count", "bucket": "total", "groupBy": "metadata.variant"}),
        json!({"aggregation": "count", "bucket": "total", "level": "session"}),
    ];
    let mut qs = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let q = chart(r.clone())?;
        qs.push(dated(q.clone(), end, 1));
        // The grouped count and the drift also read the hour before.
        if i >= 3 {
            let mut before = q;
            before.date_range = DateRange {
                start_ms: Some((end - 2 * 3_600_000) as f64),
                end_ms: Some((end - 3_600_000 - 1) as f64),
            };
            qs.push(before);
        }
    }
    Ok(qs)
}

/// An alert round's charts, read one by one or together.
fn rounds(qs: Vec<ChartQuery>, project: String, together: bool) -> Read {
    Box::new(move |store| {
        let charts = if together {
            store.charts(Some(&project), &qs)?
        } else {
            qs.iter()
                .map(|q| store.chart(Some(&project), q))
                .collect::<Result<Vec<_>, _>>()?
        };
        Ok(format!(
            "{} charts, {} points",
            charts.len(),
            charts
                .iter()
                .flatten()
                .map(|x| x.points.len())
                .sum::<usize>()
        ))
    })
}

/// The `hours` up to `end`.
fn last_hours(end: i64, hours: i64) -> DateRange {
    DateRange {
        start_ms: Some((end - hours * 3_600_000) as f64),
        end_ms: Some(end as f64),
    }
}

fn dated(mut q: ChartQuery, end: i64, hours: i64) -> ChartQuery {
    q.date_range = last_hours(end, hours);
    q
}

pub fn main(a: &ChartsArgs, url: &str) -> Result<()> {
    let store =
        std::sync::Arc::new(ClickHouseStore::open(url, "bench").context("cannot open ClickHouse")?);
    let version = store.server_version()?;
    let project_id = ClickHouseStore::project_named(PROJECT).id;
    let have = count(
        &store,
        &format!(
            "SELECT count() AS n FROM hive_writes WHERE project_id = '{project_id}' AND kind = 1"
        ),
    )? as usize;
    let seed = a.seed_events.min(a.events).max(10) / 10 * 10;
    if have == 0 {
        eprintln!("loading {} events into {}", a.events, store.describe());
        let (per_event, tables) = load(
            &store,
            &project_id,
            seed,
            a.events,
            a.content_bytes,
            a.enrich_sessions,
        )?;
        let sqlite = sqlite_bytes(seed, a.content_bytes, a.enrich_sessions)?;
        println!(
            "bytes per event on disk, the {seed} events loaded through the write path: \
             ClickHouse {version} {per_event:.1} (every table), SQLite {sqlite:.1} \
             (database and WAL after a checkpoint): {:.1}x fewer",
            sqlite / per_event
        );
        print_tables(&tables, seed, per_event, sqlite);
    } else {
        eprintln!("reusing {have} events in {}", store.describe());
    }
    // The events' state (ADR 0028), built from every write: the copies
    // above were not written by a node, so no compaction would find them.
    // A database reused with a state already built keeps it.
    if (have == 0 && a.events > seed) || store.state_rows_cond()?.is_none() {
        let t = Instant::now();
        match store.rebuild_state()? {
            Some(c) => println!(
                "the events' state built from every write: {} events in {:.1} s",
                c.events,
                t.elapsed().as_secs_f64()
            ),
            None => println!("no state is kept on this ClickHouse (a cluster)"),
        }
    }
    let events = count(
        &store,
        &format!(
            "SELECT uniqExact(event_id) AS n FROM hive_writes \
             WHERE project_id = '{project_id}' AND kind = 1"
        ),
    )?;
    println!(
        "ClickHouse {version}: {events} events, {:.1} MiB on disk (with the copies)",
        disk_bytes(&store)? as f64 / (1 << 20) as f64
    );
    let limit = Duration::from_secs_f64(a.max_read_seconds);
    let mut cold_what = "";
    let end = START + SPAN_MS;
    let mut written = 0;
    let (mut names, mut matched) = (Vec::new(), 0);
    for (name, read) in reads(&project_id, end)? {
        names.push(name);
        if a.only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        matched += 1;
        let read = std::sync::Arc::new(read);
        // One run in a thread of its own, so a read slower than the limit
        // is reported instead of waited for.
        let run = |store: &std::sync::Arc<ClickHouseStore>| -> Result<Option<(f64, String)>> {
            let (tx, rx) = mpsc::channel();
            let (store, read) = (store.clone(), read.clone());
            std::thread::spawn(move || {
                let t = Instant::now();
                let out = read(&store);
                let _ = tx.send(out.map(|w| (t.elapsed().as_secs_f64() * 1000.0, w)));
            });
            match rx.recv_timeout(limit) {
                Ok(r) => Ok(Some(r?)),
                Err(_) => Ok(None),
            }
        };
        // A node's compaction gives the paths a chart (or a list the
        // state selects) reads columns of their own within seconds of its
        // first read (ADR 0029): that read, then a compaction, before the
        // runs.
        if name.starts_with("chart") || name.contains("rare") || name.contains("none") {
            cold_what = drop_caches(&store, a.drop_os_cache)?;
            match run(&store) {
                Ok(Some((ms, _))) => {
                    let t = Instant::now();
                    if let Some(c) = store.compact_state()? {
                        println!(
                            "{name:<58} first read {ms:>8.0} ms; then its paths given slots by a \
                             compaction of {} events in {:.1} s",
                            c.events,
                            t.elapsed().as_secs_f64()
                        );
                    }
                }
                Ok(None) => {
                    println!(
                        "{name:<58} more than {:.0} s (abandoned; the reads after it are not run)",
                        a.max_read_seconds
                    );
                    return Ok(());
                }
                Err(e) => {
                    println!("{name:<58} failed: {e}");
                    continue;
                }
            }
        }
        if a.unsettled > 0 {
            store.apply(&unsettled(&project_id, a.events, a.unsettled, written))?;
            written += a.unsettled;
            if a.compact_unsettled {
                store.compact_state()?;
            }
        }
        let (mut cold, mut warm, mut what) = (Vec::new(), Vec::new(), String::new());
        let mut abandoned = false;
        for _ in 0..a.runs.max(1) {
            cold_what = drop_caches(&store, a.drop_os_cache)?;
            let answer = match run(&store) {
                Ok(answer) => answer,
                Err(e) => {
                    println!("{name:<58} failed: {e}");
                    break;
                }
            };
            match answer {
                Some((ms, w)) => {
                    cold.push(ms);
                    what = w;
                }
                None => {
                    abandoned = true;
                    break;
                }
            }
        }
        if cold.is_empty() && !abandoned {
            continue;
        }
        if !abandoned {
            for _ in 0..a.runs.max(1) {
                match run(&store)? {
                    Some((ms, _)) => warm.push(ms),
                    None => {
                        abandoned = true;
                        break;
                    }
                }
            }
        }
        if abandoned {
            println!(
                "{name:<58} more than {:.0} s (abandoned; the reads after it are not run, since \
                 it would still use the machine)",
                a.max_read_seconds
            );
            return Ok(());
        }
        cold.sort_by(f64::total_cmp);
        warm.sort_by(f64::total_cmp);
        println!(
            "{name:<58} cold p50 {:>8.0} ms p99 {:>8.0} ms   warm p50 {:>8.0} ms p99 {:>8.0} ms   ({what})",
            pct(&cold, 0.5),
            pct(&cold, 0.99),
            pct(&warm, 0.5),
            pct(&warm, 0.99),
        );
    }
    match (&a.only, matched) {
        (Some(only), 0) => println!(
            "no read's name contains {only:?}, so none was run; the reads: {}",
            names.join("; ")
        ),
        _ => println!(
            "{} runs each; cold: {cold_what} dropped before each run",
            a.runs
        ),
    }
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .unwrap_or(f64::NAN);
    println!(
        "peak memory of the reading process (what a hive node would hold): {:.0} MiB",
        hwm / 1024.0
    );
    if events == 0 {
        bail!("no events loaded");
    }
    Ok(())
}
