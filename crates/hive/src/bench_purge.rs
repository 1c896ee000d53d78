//! `hive bench purge`: what a retention purge costs ingest. Loads old
//! sessions (1,000,000 events by default) straight into a SQLite store,
//! starts `hive serve` on it, measures OTLP ingest alone, then sets the
//! project's retention so every loaded session expires and measures ingest
//! again while the background task deletes them and gives the space back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use hive_store::Store;
use hive_store::sqlite::{Durability, SqliteOptions, SqliteStore};
use serde_json::{Value, json};

use crate::bench::{Conn, Server, Template, percentile};
use crate::bench_dashboard::{child_event, op, session_event};

#[derive(Args, Clone)]
pub struct PurgeArgs {
    /// Old sessions loaded before the run.
    #[arg(long, default_value_t = 50_000)]
    sessions: usize,
    /// Events per session besides the session event (50 000 x 20 = 1 M).
    #[arg(long, default_value_t = 19)]
    events_per_session: usize,
    /// Seconds of ingest measured before the purge.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Concurrent ingest connections.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Spans per request.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Server durability.
    #[arg(long, default_value = "full")]
    durability: String,
    /// Give up when the purge takes longer than this many seconds.
    #[arg(long, default_value_t = 3600.0)]
    max_seconds: f64,
}

const PROJECT: &str = "bench";

pub fn main(a: PurgeArgs) -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run(a))
}

fn load(dir: &std::path::Path, a: &PurgeArgs) -> Result<u64> {
    let store = SqliteStore::open(
        dir.join("hive.db"),
        SqliteOptions {
            durability: Durability::Normal,
            ..SqliteOptions::default()
        },
    )
    .context("cannot open the bench database")?;
    let project = store.auth().ensure_project(PROJECT)?;
    let started = Instant::now();
    let mut ops = Vec::with_capacity(8192);
    let mut total = 0u64;
    for i in 0..a.sessions {
        let s = session_event(&project.id, i);
        let (sid, start) = (s.event_id.clone(), s.start_time);
        ops.push(op(s));
        for j in 0..a.events_per_session {
            ops.push(op(child_event(&project.id, &sid, start, i, j)));
        }
        if ops.len() >= 5000 {
            total += ops.len() as u64;
            store.apply(&ops)?;
            ops.clear();
        }
    }
    total += ops.len() as u64;
    store.apply(&ops)?;
    store.checkpoint()?;
    eprintln!(
        "loaded {total} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(total)
}

fn disk(dir: &std::path::Path) -> u64 {
    ["hive.db", "hive.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// Ingest until `stop`: (spans acknowledged, request latencies in µs).
async fn ingest(
    addr: String,
    key: String,
    template: Arc<Template>,
    concurrency: usize,
    counter: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> Result<(u64, Vec<u64>)> {
    let batch = template.span_at.len() as u64;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (template, stop, counter) = (template.clone(), stop.clone(), counter.clone());
        let (addr, key) = (addr.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(&addr).await?;
            let mut lat = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let body = template.instance(counter.fetch_add(1, Ordering::Relaxed));
                let t = Instant::now();
                let answer = conn
                    .request(
                        "POST",
                        "/opentelemetry/v1/traces",
                        &key,
                        "application/x-protobuf",
                        &body,
                    )
                    .await;
                let Ok((status, resp)) = answer else {
                    // A refusal decided from the headers (backlog full)
                    // closes the connection while the body is being sent.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    conn = Conn::connect(&addr).await?;
                    continue;
                };
                match status {
                    200 => lat.push(t.elapsed().as_micros() as u64),
                    503 => tokio::time::sleep(Duration::from_millis(50)).await,
                    s => bail!("status {s}: {}", String::from_utf8_lossy(&resp)),
                }
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort_unstable();
    Ok((all.len() as u64 * batch, all))
}

fn report(what: &str, spans: u64, lat: &[u64], secs: f64) {
    println!(
        "  {what:<22} {:>8.0} spans/s   request p50 {:>7.1} ms   p99 {:>7.1} ms   ({} requests)",
        spans as f64 / secs,
        percentile(lat, 0.5),
        percentile(lat, 0.99),
        lat.len()
    );
}

async fn stats(conn: &mut Conn, key: &str) -> Result<Value> {
    let (status, body) = conn
        .request("GET", "/v1/stats", key, "application/json", b"")
        .await?;
    if status != 200 {
        bail!("/v1/stats answered {status}");
    }
    Ok(serde_json::from_slice(&body)?)
}

async fn run(a: PurgeArgs) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("hive-bench-purge-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    eprintln!(
        "loading {} sessions x {} events (2023) into {}",
        a.sessions,
        a.events_per_session + 1,
        dir.display()
    );
    let loaded = {
        let (d, args) = (dir.clone(), a.clone());
        tokio::task::spawn_blocking(move || load(&d, &args)).await??
    };
    let server = Server::start_in(
        dir.clone(),
        &a.durability,
        &["--retention-interval-ms".into(), "1000".into()],
    )?;
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as u64;
    let template = Arc::new(Template::starting(a.batch, 32, Some(now_ns))?);
    let counter = Arc::new(AtomicU64::new(0));
    let before_bytes = disk(&dir);
    println!(
        "purge: {loaded} events loaded ({:.0} MiB on disk); ingest of {}-span requests on {} connections, durability {}",
        before_bytes as f64 / 1048576.0,
        a.batch,
        a.concurrency,
        a.durability
    );

    // Ingest alone.
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let timer = {
        let (stop, secs) = (stop.clone(), a.seconds);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let (spans, lat) = ingest(
        server.addr.clone(),
        server.key.clone(),
        template.clone(),
        a.concurrency,
        counter.clone(),
        stop,
    )
    .await?;
    timer.await?;
    report("ingest alone", spans, &lat, started.elapsed().as_secs_f64());

    // The purge, with the same ingest all along.
    let mut conn = Conn::connect(&server.addr).await?;
    // Reads (and this PUT) wait for the ingest just sent to be applied.
    loop {
        let (status, body) = conn
            .request(
                "PUT",
                &format!("/v1/projects/{PROJECT}"),
                &server.key,
                "application/json",
                json!({"retention_days": 30}).to_string().as_bytes(),
            )
            .await?;
        match status {
            200 => break,
            503 => tokio::time::sleep(Duration::from_millis(200)).await,
            _ => bail!(
                "setting the retention: {status} {}",
                String::from_utf8_lossy(&body)
            ),
        }
    }
    let started = Instant::now();
    let cpu_before = server.cpu_by_thread();
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(ingest(
        server.addr.clone(),
        server.key.clone(),
        template.clone(),
        a.concurrency,
        counter.clone(),
        stop.clone(),
    ));
    let mut expired_at = None;
    let mut smallest = before_bytes;
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let s = stats(&mut conn, &server.key).await?;
        let m = &s["maintenance"];
        smallest = smallest.min(disk(&dir));
        let expired = m["expired"].as_u64().unwrap_or(0);
        if expired >= loaded && expired_at.is_none() {
            expired_at = Some(started.elapsed());
        }
        if expired_at.is_some() && m["reclaimable_bytes"] == 0 && m["active"].is_null() {
            break;
        }
        if started.elapsed().as_secs_f64() > a.max_seconds {
            stop.store(true, Ordering::Relaxed);
            return Err(anyhow!(
                "the purge did not end within {} s: {m}",
                a.max_seconds
            ));
        }
    }
    let purge = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (spans, lat) = load.await??;
    let cpu_after = server.cpu_by_thread();
    report("ingest during purge", spans, &lat, purge.as_secs_f64());
    let expired_s = expired_at.map_or(f64::NAN, |d| d.as_secs_f64());
    println!(
        "  purge: {loaded} events expired in {expired_s:.1} s ({:.0} events/s), space given back after {:.1} s; \
         disk {:.0} MiB -> {:.0} MiB",
        loaded as f64 / expired_s,
        purge.as_secs_f64(),
        before_bytes as f64 / 1048576.0,
        smallest as f64 / 1048576.0
    );
    let mut cpu: Vec<(String, f64)> = cpu_after
        .iter()
        .map(|(k, v)| (k.clone(), v - cpu_before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.05)
        .collect();
    cpu.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!(
        "  server CPU during the purge: {}",
        cpu.iter()
            .map(|(k, v)| format!("{k} {v:.1} s"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
