//! `hive bench charts`: loads a store with 1,000,000 events (directly, in
//! large batches) and times chart queries grouped by a metadata field,
//! straight on the store (no HTTP).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use hive_core::chart::ChartQuery;
use hive_core::model::Event;
use hive_store::prepared::PreparedEvent;
use hive_store::sqlite::{Durability, SqliteOptions, SqliteStore};
use hive_store::{Store, WriteOp};
use serde_json::{Map, Value, json};

#[derive(Args)]
pub struct ChartsArgs {
    /// Events to load (sessions of 10 events, the session event included).
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) events: usize,
    /// Runs per measured query.
    #[arg(long, default_value_t = 10)]
    pub(crate) runs: usize,
    /// Also time each query read from the documents with SQL (what charts
    /// fall back to when their columns do not fit in memory).
    #[arg(long)]
    compare_sql: bool,
    /// Keep the loaded database here instead of a temporary directory
    /// (reused when it exists).
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// Time the reads on a ClickHouse store instead (URL as for `hive serve
    /// --clickhouse`, a database of its own; reused when it holds the
    /// events already): the session list and the events list with a filter,
    /// and charts grouped by a metadata field, cold and warm.
    #[arg(long)]
    pub(crate) clickhouse: Option<String>,
    /// With `--clickhouse`: events loaded through the store's write path;
    /// the rest up to `--events` are copies of their rows made inside
    /// ClickHouse with new ids. Bytes per event are measured on these.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) seed_events: usize,
    /// With `--clickhouse`: stop timing a read after a run that took longer
    /// than this (the read itself is abandoned when the bench exits).
    #[arg(long, default_value_t = 120.0)]
    pub(crate) max_read_seconds: f64,
    /// With `--clickhouse`: before each cold run also drop the operating
    /// system's page cache (needs root; affects the whole machine).
    #[arg(long)]
    pub(crate) drop_os_cache: bool,
    /// With `--clickhouse`: time only the reads whose name holds this text
    /// (for example `last`: those bounded by dates).
    #[arg(long)]
    pub(crate) only: Option<String>,
    /// About this many bytes of content (prompt and answer) per model event,
    /// as real chats carry: a system prompt shared by every event and a
    /// question in `inputs.chat_history`, an answer in `outputs.content`.
    /// 0: a few words each.
    #[arg(long, default_value_t = 0)]
    pub(crate) content_bytes: usize,
    /// With `--clickhouse`, when loading: enrich every session once, as
    /// `enrich_session` does (feedback and a metadata key), five minutes
    /// after it starts, so reads also resolve enrichments.
    #[arg(long)]
    pub(crate) enrich_sessions: bool,
    /// With `--clickhouse`: before the timed runs of each read, write this
    /// many new events of the last hour (half in new sessions of ten, half
    /// in the sessions loaded last), which the state has not compacted yet:
    /// reads then find them written since its cut, as they do on a node
    /// taking writes.
    #[arg(long, default_value_t = 0)]
    pub(crate) unsettled: usize,
    /// With `--unsettled`: compact after writing them, as a node's next
    /// round would, so that reads find them in the state as a layer of the
    /// last day (ADR 0036) rather than written since its cut. Each read
    /// adds a layer.
    #[arg(long, requires = "unsettled")]
    pub(crate) compact_unsettled: bool,
}

pub(crate) const PROJECT: &str = "bench";
/// 2024-01-01T00:00:00Z; events spread over 30 days.
pub(crate) const START: i64 = 1_704_067_200_000;
pub(crate) const SPAN_MS: i64 = 30 * 86_400_000;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A bijective mix of `x` (SplitMix64's finaliser).
fn scatter(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A version-4 UUID made from `x` (the same `x`, the same UUID).
fn uuid(x: u64) -> String {
    let (a, b) = (scatter(x), scatter(x ^ 0x9e37_79b9_7f4a_7c15));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// About `bytes` of text drawn by `seed`: words of two or three of 16
/// syllables (about 4 000 words), so it compresses about as prose does, not
/// as one repeated word.
fn prose(seed: u64, bytes: usize) -> String {
    const SYLLABLES: [&str; 16] = [
        "ta", "ren", "mo", "qui", "sel", "an", "dor", "lu", "vex", "po", "ith", "cal", "ne", "bru",
        "os", "fe",
    ];
    let mut out = String::with_capacity(bytes + 16);
    let mut x = seed;
    while out.len() < bytes {
        x = scatter(x.wrapping_add(0x9e37_79b9_7f4a_7c15));
        for i in 0..2 + (x >> 60) % 2 {
            out.push_str(SYLLABLES[((x >> (4 * i)) % 16) as usize]);
        }
        out.push(if x.is_multiple_of(11) { '.' } else { ' ' });
    }
    out
}

pub(crate) fn event(project_id: &str, n: usize, total: usize) -> Event {
    event_with(project_id, n, total, 0)
}

/// [`event`] with about `content` bytes of prompt and answer in a model
/// event (half a system prompt every event shares, a quarter each the
/// question and the answer).
pub(crate) fn event_with(project_id: &str, n: usize, total: usize, content: usize) -> Event {
    let session = n / 10;
    // UUIDs, as the SDKs send: a time range's sessions lie all over the id
    // order, and so do a session's events; and ids compress as little as
    // real ones do.
    let sid = uuid(2 * session as u64);
    let is_session = n.is_multiple_of(10);
    let start = START + (n as i64 * SPAN_MS) / total.max(1) as i64;
    Event {
        event_id: if is_session {
            sid.clone()
        } else {
            uuid(2 * n as u64 + 1)
        },
        session_id: sid.clone(),
        parent_id: (!is_session).then(|| sid.clone()),
        project_id: project_id.to_owned(),
        source: "bench".into(),
        event_type: if is_session { "session" } else { "model" }.into(),
        event_name: if is_session { "chat" } else { "ChatCompletion" }.into(),
        start_time: start,
        end_time: start + 400,
        duration: 400.0,
        inputs: obj(if content == 0 || is_session {
            json!({"chat_history": [{"role": "user", "content": format!("question {n}")}]})
        } else {
            json!({"chat_history": [
                {"role": "system", "content": prose(0, content / 2)},
                {"role": "user", "content": format!("question {n}: {}", prose(2 * n as u64 + 1, content / 4))},
            ]})
        }),
        outputs: obj(if content == 0 || is_session {
            json!({"role": "assistant", "content": "an answer of some length for realism"})
        } else {
            json!({"role": "assistant", "content": prose(2 * n as u64 + 2, content / 4)})
        }),
        config: obj(json!({"model": "gpt-4o-mini", "temperature": 0.2})),
        metadata: obj(json!({
            "variant": (["a", "b", "c", "d"][session % 4]),
            "tenant": format!("tenant-{}", session % 20),
            "cost": (n % 100) as f64 / 10_000.0,
        })),
        metrics: obj(json!({"latency_ms": 200 + (n * 7919) % 1000})),
        user_properties: obj(json!({"plan": (["free", "pro", "enterprise"][session % 3])})),
        ..Event::default()
    }
}

fn load(store: &SqliteStore, project_id: &str, total: usize) -> Result<()> {
    let started = Instant::now();
    let mut ops = Vec::with_capacity(5000);
    for n in 0..total {
        ops.push(WriteOp::Prepared(Box::new(PreparedEvent::new(
            event(project_id, n, total),
            None,
            None,
            false,
            false,
        ))));
        if ops.len() >= 5000 {
            store.apply(&ops)?;
            ops.clear();
            if n % 200_000 < 5000 {
                eprintln!("  loaded {} events", n + 1);
            }
        }
    }
    store.apply(&ops)?;
    eprintln!(
        "loaded {total} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub(crate) fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn main(a: ChartsArgs) -> Result<()> {
    if let Some(url) = a.clickhouse.clone() {
        return crate::bench_clickhouse::main(&a, &url);
    }
    let tmp = std::env::temp_dir().join(format!("hive-bench-charts-{}", uuid::Uuid::new_v4()));
    let dir = a.data_dir.clone().unwrap_or_else(|| tmp.clone());
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("hive.db");
    let fresh = !path.exists();
    let store = Arc::new(
        SqliteStore::open(
            &path,
            SqliteOptions {
                durability: Durability::Normal,
                ..SqliteOptions::default()
            },
        )
        .context("cannot open the bench database")?,
    );
    let project = store.auth().ensure_project(PROJECT)?;
    if fresh {
        eprintln!("loading {} events into {}", a.events, path.display());
        load(&store, &project.id, a.events)?;
        store.checkpoint()?;
    } else {
        eprintln!("reusing {}", path.display());
    }
    println!(
        "charts over {} events ({} sessions), {} runs each, store only:",
        a.events,
        a.events / 10,
        a.runs
    );
    let queries = [
        (
            "count by metadata.variant per hour",
            json!({"aggregation": "count", "bucket": "hour", "groupBy": "metadata.variant"}),
        ),
        (
            "avg metrics.latency_ms by metadata.variant per hour",
            json!({"metric": "metrics.latency_ms", "aggregation": "avg", "bucket": "hour", "groupBy": "metadata.variant"}),
        ),
        (
            "sum metadata.cost by user_properties.plan per day",
            json!({"metric": "metadata.cost", "aggregation": "sum", "bucket": "day", "groupBy": "user_properties.plan"}),
        ),
        (
            "p95 metrics.latency_ms by metadata.variant per day",
            json!({"metric": "metrics.latency_ms", "aggregation": "p95", "bucket": "day", "groupBy": "metadata.variant"}),
        ),
        (
            "avg latency by variant per hour, last 24 h",
            json!({"metric": "metrics.latency_ms", "aggregation": "avg", "bucket": "hour", "groupBy": "metadata.variant",
                   "dateRange": {"$gte": START + SPAN_MS - 86_400_000}}),
        ),
        (
            "sessions: sum metadata.cost by metadata.tenant per day",
            json!({"metric": "metadata.cost", "aggregation": "sum", "bucket": "day", "groupBy": "metadata.tenant", "level": "session"}),
        ),
    ];
    let time = |f: &dyn Fn() -> Result<()>| -> Result<Vec<f64>> {
        let mut times = Vec::with_capacity(a.runs);
        for _ in 0..a.runs.max(1) {
            let t = Instant::now();
            f()?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        Ok(times)
    };
    for (name, q) in &queries {
        let q = ChartQuery::from_json(q, 0.0).map_err(|e| anyhow::anyhow!("{e}"))?;
        // The first chart of a field loads its column (one scan).
        let t = Instant::now();
        let warm = store.chart(Some(&project.id), &q)?;
        let first = t.elapsed().as_secs_f64() * 1000.0;
        let points: usize = warm.iter().map(|s| s.points.len()).sum();
        let times = time(&|| {
            store
                .chart(Some(&project.id), &q)
                .map(drop)
                .map_err(Into::into)
        })?;
        println!(
            "{name:<56} p50 {:>8.1} ms   p99 {:>8.1} ms   first {first:>7.0} ms   ({} series, {points} points)",
            pct(&times, 0.5),
            pct(&times, 0.99),
            warm.len()
        );
        if a.compare_sql {
            let sql = store.chart_from_documents(Some(&project.id), &q)?;
            anyhow::ensure!(
                sql.len() == warm.len()
                    && sql.iter().zip(&warm).all(|(x, y)| x.group == y.group
                        && x.points.len() == y.points.len()
                        && x.points
                            .iter()
                            .zip(&y.points)
                            .all(|(p, r)| p.bucket == r.bucket
                                && p.count == r.count
                                && (p.value - r.value).abs() <= 1e-9 * p.value.abs().max(1.0))),
                "columns and documents disagree on {name}"
            );
            let times = time(&|| {
                store
                    .chart_from_documents(Some(&project.id), &q)
                    .map(drop)
                    .map_err(Into::into)
            })?;
            println!(
                "{:<56} p50 {:>8.1} ms   p99 {:>8.1} ms   (same result)",
                "  the same from the documents (SQL)",
                pct(&times, 0.5),
                pct(&times, 0.99),
            );
        }
    }
    // A field used for the first time is loaded by one scan, which takes
    // seconds at this size; charts whose columns are loaded go on meanwhile.
    let loaded = ChartQuery::from_json(&queries[1].1, 0.0).map_err(|e| anyhow::anyhow!("{e}"))?;
    let new_field = ChartQuery::from_json(
        &json!({"aggregation": "count", "bucket": "day", "groupBy": "config.model"}),
        0.0,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let loading = {
        let store = store.clone();
        let project = project.id.clone();
        std::thread::spawn(move || -> Result<f64> {
            let t = Instant::now();
            store.chart(Some(&project), &new_field)?;
            Ok(t.elapsed().as_secs_f64() * 1000.0)
        })
    };
    let mut during = Vec::new();
    while !loading.is_finished() {
        let t = Instant::now();
        store.chart(Some(&project.id), &loaded)?;
        during.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let load_ms = loading
        .join()
        .map_err(|_| anyhow::anyhow!("the loading chart panicked"))??;
    during.sort_by(f64::total_cmp);
    if let Some(max) = during.last() {
        println!(
            "{:<56} p50 {:>8.1} ms   max {max:>8.1} ms   ({} charts while config.model loaded in {load_ms:.0} ms)",
            "avg latency by variant while another field loads",
            pct(&during, 0.5),
            during.len(),
        );
    }
    println!(
        "columns hold {:.1} MiB",
        store.column_memory_used() as f64 / (1 << 20) as f64
    );

    // A restart: the store reopens with cold columns and warms up the
    // fields used above in the background (as `hive serve` does, most
    // recently used first), while a chart whose fields come later in that
    // order is asked for.
    drop(store);
    let store = Arc::new(
        SqliteStore::open(
            &path,
            SqliteOptions {
                durability: Durability::Normal,
                ..SqliteOptions::default()
            },
        )
        .context("cannot reopen the bench database")?,
    );
    let warming = {
        let store = store.clone();
        std::thread::spawn(move || -> Result<(usize, f64)> {
            let t = Instant::now();
            let fields = store.warm_columns()?;
            Ok((fields, t.elapsed().as_secs_f64() * 1000.0))
        })
    };
    // The chart comes once the warm-up's first scan is under way.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let t = Instant::now();
    store.chart(Some(&project.id), &loaded)?;
    let first = t.elapsed().as_secs_f64() * 1000.0;
    let (fields, warm_ms) = warming
        .join()
        .map_err(|_| anyhow::anyhow!("the warm-up panicked"))??;
    println!(
        "{:<56} first {first:>8.0} ms   (the warm-up of {fields} fields took {warm_ms:.0} ms)",
        "after a restart: avg latency by variant during warm-up",
    );
    if a.data_dir.is_none() {
        drop(store);
        let _ = std::fs::remove_dir_all(&tmp);
    }
    Ok(())
}
