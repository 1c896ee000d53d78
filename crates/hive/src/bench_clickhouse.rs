//! `hive bench charts --clickhouse URL`: the dashboard's heaviest reads on
//! the ClickHouse store at millions of events, cold and warm.
//!
//! Loading: `--seed-events` events go through the store's own write path
//! (`Store::apply`, batches of 5 000); the rest are copies of their rows
//! made inside ClickHouse, each with new event and session ids (`-cN`
//! appended) in every place the write path puts them (the id columns and
//! the `event_id`, `session_id` and `parent_id` leaves), so they are the
//! rows the write path would make for those events; the side tables fill
//! from the same materialised views.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use hive_core::chart::ChartQuery;
use hive_core::filter::Filter;
use hive_store::clickhouse::ClickHouseStore;
use hive_store::prepared::PreparedEvent;
use hive_store::sqlite::{Durability, SqliteOptions, SqliteStore};
use hive_store::{EventQuery, Level, Order, Store, WriteOp};
use serde_json::json;

use crate::bench_charts::{ChartsArgs, PROJECT, event, pct};

fn ops(from: usize, to: usize, total: usize) -> Vec<WriteOp> {
    (from..to)
        .map(|n| {
            WriteOp::Prepared(Box::new(PreparedEvent::new(
                event(PROJECT, n, total),
                None,
                None,
                false,
                false,
            )))
        })
        .collect()
}

fn load(store: &ClickHouseStore, seed: usize, total: usize) -> Result<()> {
    let t = Instant::now();
    for from in (0..seed).step_by(5000) {
        store.apply(&ops(from, (from + 5000).min(seed), seed))?;
    }
    eprintln!(
        "  {seed} events through the write path in {:.1} s ({:.0} events/s)",
        t.elapsed().as_secs_f64(),
        seed as f64 / t.elapsed().as_secs_f64()
    );
    let stored_docs = store.sql(&format!(
        "SELECT count() AS n FROM hive_writes WHERE project_id = '{PROJECT}' AND doc != ''"
    ))?;
    if stored_docs[0]["n"].as_u64() != Some(0) {
        bail!("bases kept their documents: the copies would keep the seed's ids");
    }
    let copies = total.div_ceil(seed);
    let t = Instant::now();
    let ids = "['event_id', 'session_id', 'parent_id']";
    for c0 in (1..copies).step_by(10) {
        let c1 = (c0 + 10).min(copies);
        let n = c1 - c0;
        store.sql(&format!(
            "INSERT INTO hive_writes (project_id, event_id, kind, ts, node, seq, idx, received, \
             floating, session_id, key_id, doc, raw, paths, types, strs, nums, lossy) \
             SELECT project_id, concat(event_id, '-c', toString(c)), kind, ts, node, seq, idx, \
             received, floating, concat(session_id, '-c', toString(c)), key_id, doc, raw, paths, \
             types, arrayMap((p, x) -> if(has({ids}, p), concat(x, '-c', toString(c)), x), paths, strs), \
             nums, lossy FROM hive_writes ARRAY JOIN arrayMap(i -> i + {c0}, range({n})) AS c \
             WHERE project_id = '{PROJECT}' AND position(event_id, '-c') = 0"
        ))?;
        eprintln!(
            "  {} events ({:.0} s)",
            seed * c1,
            t.elapsed().as_secs_f64()
        );
    }
    store.sql("OPTIMIZE TABLE hive_writes")?;
    Ok(())
}

/// Bytes on disk per table of the store's database.
fn disk(store: &ClickHouseStore) -> Result<Vec<(String, u64)>> {
    Ok(store
        .sql(
            "SELECT table, sum(bytes_on_disk) AS b FROM system.parts \
             WHERE active AND database = currentDatabase() GROUP BY table ORDER BY b DESC",
        )?
        .iter()
        .map(|r| {
            (
                r["table"].as_str().unwrap_or_default().to_owned(),
                r["b"].as_u64().unwrap_or(0),
            )
        })
        .collect())
}

/// SQLite's bytes per event for the first `n` events of the same load.
fn sqlite_bytes(n: usize) -> Result<f64> {
    let dir = std::env::temp_dir().join(format!("hive-bench-sqlite-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("hive.db");
    let store = SqliteStore::open(
        &path,
        SqliteOptions {
            durability: Durability::Normal,
            ..SqliteOptions::default()
        },
    )?;
    let project = store.auth().ensure_project(PROJECT)?;
    for from in (0..n).step_by(5000) {
        let ops: Vec<WriteOp> = (from..(from + 5000).min(n))
            .map(|i| {
                WriteOp::Prepared(Box::new(PreparedEvent::new(
                    event(&project.id, i, n),
                    None,
                    None,
                    false,
                    false,
                )))
            })
            .collect();
        store.apply(&ops)?;
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

pub fn main(a: &ChartsArgs, url: &str) -> Result<()> {
    let store = ClickHouseStore::open(url, "bench").context("cannot open ClickHouse")?;
    let version = store.server_version()?;
    let have = store.sql(&format!(
        "SELECT count() AS n FROM hive_writes WHERE project_id = '{PROJECT}' AND kind = 1"
    ))?[0]["n"]
        .as_u64()
        .unwrap_or(0) as usize;
    let seed = a.seed_events.min(a.events).max(10) / 10 * 10;
    if have == 0 {
        eprintln!("loading {} events into {}", a.events, store.describe());
        load(&store, seed, a.events)?;
    } else {
        eprintln!("reusing {have} events in {}", store.describe());
    }
    let events = store.sql(&format!(
        "SELECT count() AS n FROM hive_locations WHERE project_id = '{PROJECT}'"
    ))?[0]["n"]
        .as_u64()
        .unwrap_or(0);
    let tables = disk(&store)?;
    let total: u64 = tables.iter().map(|(_, b)| b).sum();
    println!(
        "ClickHouse {version}: {events} events, {:.1} MiB on disk, {:.1} bytes/event \
         (hive_writes {:.1})",
        total as f64 / (1 << 20) as f64,
        total as f64 / events.max(1) as f64,
        tables
            .iter()
            .find(|(t, _)| t == "hive_writes")
            .map_or(0.0, |(_, b)| *b as f64 / events.max(1) as f64)
    );
    let sqlite = sqlite_bytes(seed)?;
    println!("SQLite, the same generator, {seed} events: {sqlite:.1} bytes/event");

    let filter = |v: serde_json::Value| Filter::from_json(&v).map_err(|e| anyhow::anyhow!("{e}"));
    let sessions = EventQuery {
        project_id: Some(PROJECT.into()),
        filters: vec![filter(
            json!({"field": "metadata.tenant", "operator": "is", "value": "tenant-7"}),
        )?],
        level: Level::SessionEvent,
        order: Order::StartDesc,
        limit: 50,
        ..EventQuery::default()
    };
    let events_list = EventQuery {
        project_id: Some(PROJECT.into()),
        filters: vec![filter(
            json!({"field": "metrics.latency_ms", "operator": "greater than", "value": 1100}),
        )?],
        level: Level::Event,
        order: Order::StartDesc,
        limit: 50,
        ..EventQuery::default()
    };
    let chart =
        |v: serde_json::Value| ChartQuery::from_json(&v, 0.0).map_err(|e| anyhow::anyhow!("{e}"));
    let count_chart =
        chart(json!({"aggregation": "count", "bucket": "hour", "groupBy": "metadata.variant"}))?;
    let avg_chart = chart(json!({"metric": "metrics.latency_ms", "aggregation": "avg",
        "bucket": "hour", "groupBy": "metadata.variant"}))?;
    type Read<'a> = Box<dyn Fn() -> Result<String> + 'a>;
    let list = |q: EventQuery| -> Read<'_> {
        let store = &store;
        Box::new(move || match store.sql_query_only(&q)? {
            Some(p) => Ok(format!("{} matched", p.total)),
            None => bail!("the SQL left this query to the fold"),
        })
    };
    let plot = |q: ChartQuery| -> Read<'_> {
        let store = &store;
        Box::new(move || match store.sql_chart_only(Some(PROJECT), &q)? {
            Some(s) => Ok(format!(
                "{} series, {} points",
                s.len(),
                s.iter().map(|x| x.points.len()).sum::<usize>()
            )),
            None => bail!("the SQL left this chart to the fold"),
        })
    };
    let reads: Vec<(&str, Read<'_>)> = vec![
        (
            "session list, metadata.tenant is tenant-7, newest 50",
            list(sessions),
        ),
        (
            "events list, metrics.latency_ms > 1100, newest 50",
            list(events_list),
        ),
        (
            "chart: count by metadata.variant per hour",
            plot(count_chart),
        ),
        (
            "chart: avg metrics.latency_ms by metadata.variant per hour",
            plot(avg_chart),
        ),
    ];
    println!(
        "{} runs each; cold = ClickHouse's mark and uncompressed caches dropped before each \
         run (the OS page cache is not dropped)",
        a.runs
    );
    for (name, read) in &reads {
        let mut cold = Vec::new();
        let mut what = String::new();
        for _ in 0..a.runs.max(1) {
            store.sql("SYSTEM DROP MARK CACHE")?;
            store.sql("SYSTEM DROP UNCOMPRESSED CACHE")?;
            let t = Instant::now();
            what = read()?;
            cold.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let mut warm = Vec::new();
        for _ in 0..a.runs.max(1) {
            let t = Instant::now();
            read()?;
            warm.push(t.elapsed().as_secs_f64() * 1000.0);
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
    Ok(())
}
