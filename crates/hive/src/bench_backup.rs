//! `hive bench backup`: how long `hive backup`, `hive restore`, `hive
//! export` and `hive import` take on a project of LLM-like sessions (each
//! with enrichments), the backup while clients go on enriching.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

use crate::bench::Server;

#[derive(Args)]
pub struct BackupBenchArgs {
    /// Sessions loaded (each with --events events and two enrichments).
    #[arg(long, default_value_t = 5_000)]
    sessions: usize,
    /// Events per session.
    #[arg(long, default_value_t = 10)]
    events: usize,
    /// Times each command runs (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build(),
    )
}

fn post(agent: &ureq::Agent, url: &str, key: &str, method: &str, body: &str) -> Result<u16> {
    let auth = format!("Bearer {key}");
    let resp = match method {
        "PUT" => agent
            .put(url)
            .header("authorization", &auth)
            .send(body.as_bytes()),
        _ => agent
            .post(url)
            .header("authorization", &auth)
            .send(body.as_bytes()),
    }
    .with_context(|| format!("{method} {url}"))?;
    Ok(resp.status().as_u16())
}

/// A session of `events` model calls with a conversation, as one batch.
fn session_batch(s: usize, events: usize) -> String {
    let sid = format!("bench-{s:08}");
    let evs: Vec<_> = (0..events)
        .map(|e| {
            json!({
                "event_id": format!("{sid}-{e:03}"),
                "event_type": if e == 0 { "chain" } else { "model" },
                "event_name": format!("step {e}"),
                "start_time": 1_764_000_000_000i64 + (s * 1000 + e) as i64,
                "duration": 350 + e,
                "inputs": {"chat_history": [
                    {"role": "system", "content": "You are a helpful assistant for an online shop."},
                    {"role": "user", "content": format!("Where is order {s}? It was due on day {e} and I need it for a trip.")}
                ]},
                "outputs": {"role": "assistant", "content": format!("Order {s} left the warehouse and arrives in {e} days; here is the tracking link and what to do if it is late.")},
                "config": {"model": "gpt-4o-mini", "temperature": 0.2},
                "metadata": {"prompt_tokens": 120 + e, "completion_tokens": 40, "total_tokens": 160 + e},
                "metrics": {"cost": 0.0004, "latency_ms": 350 + e}
            })
        })
        .collect();
    json!({
        "project": "bench",
        "single_session": true,
        "session_properties": {"session_id": sid, "session_name": "support chat",
            "user_properties": {"plan": if s.is_multiple_of(3) { "pro" } else { "free" }}},
        "events": evs
    })
    .to_string()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_bytes(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

pub fn main(a: BackupBenchArgs) -> Result<()> {
    if a.runs == 0 || a.sessions == 0 {
        bail!("--runs and --sessions must be positive");
    }
    let server = Server::start_with("full", &[])?;
    let base = format!("http://{}", server.addr);
    let loaded = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (next, base, key) = (next.clone(), base.clone(), server.key.clone());
            let (sessions, events) = (a.sessions, a.events);
            std::thread::spawn(move || -> Result<()> {
                let agent = agent();
                loop {
                    let s = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if s >= sessions {
                        return Ok(());
                    }
                    let sid = format!("bench-{s:08}");
                    for (method, path, body) in [
                        ("POST", "/events/batch", session_batch(s, events)),
                        (
                            "PUT",
                            "/events",
                            json!({"event_id": sid, "metadata": {"tenant": format!("t{}", s % 50)}})
                                .to_string(),
                        ),
                        (
                            "PUT",
                            "/events",
                            json!({"event_id": format!("{sid}-001"), "feedback": {"rating": s % 5}})
                                .to_string(),
                        ),
                    ] {
                        loop {
                            match post(&agent, &format!("{base}{path}"), &key, method, &body)? {
                                200 => break,
                                503 => std::thread::sleep(Duration::from_millis(200)),
                                other => bail!("{method} {path}: {other}"),
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join()
            .map_err(|_| anyhow::anyhow!("a loader panicked"))??;
    }
    // Wait until everything is applied (a read waits for it).
    let reader = agent();
    let body = json!({"project": "bench", "limit": 1}).to_string();
    while post(
        &reader,
        &format!("{base}/v1/events/export"),
        &server.key,
        "POST",
        &body,
    )? != 200
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    let events = (a.sessions * (a.events + 1)) as f64;
    eprintln!(
        "loaded {} sessions, {} events in {:.1} s; data directory {:.1} MiB",
        a.sessions,
        events,
        loaded.elapsed().as_secs_f64(),
        dir_bytes(&server.dir) as f64 / (1 << 20) as f64
    );
    let work = std::env::temp_dir().join(format!("hive-bench-backup-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&work)?;
    let result = (|| -> Result<()> {
        // Backups while 2 clients keep enriching.
        let stop = Arc::new(AtomicBool::new(false));
        let enrichers: Vec<_> = (0..2)
            .map(|c| {
                let (stop, base, key) = (stop.clone(), base.clone(), server.key.clone());
                let sessions = a.sessions;
                std::thread::spawn(move || {
                    let agent = agent();
                    let mut n = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let body =
                            json!({"event_id": format!("bench-{:08}", (n * 7 + c) % sessions),
                            "metadata": {format!("k{c}_{n}"): n}})
                            .to_string();
                        let _ = post(&agent, &format!("{base}/events"), &key, "PUT", &body);
                    }
                    n
                })
            })
            .collect();
        let file = work.join("hive.backup");
        let mut backup_s = Vec::new();
        for _ in 0..a.runs {
            let t = Instant::now();
            crate::backup::backup(crate::backup::BackupArgs {
                data_dir: server.dir.clone(),
                to: file.clone(),
            })?;
            backup_s.push(t.elapsed().as_secs_f64());
        }
        stop.store(true, Ordering::Relaxed);
        let enriched: usize = enrichers.into_iter().map(|t| t.join().unwrap_or(0)).sum();
        let backup_bytes = std::fs::metadata(&file)?.len();
        let mut restore_s = Vec::new();
        for i in 0..a.runs {
            let t = Instant::now();
            crate::backup::restore(crate::backup::RestoreArgs {
                from: file.clone(),
                data_dir: work.join(format!("restored-{i}")),
                force: false,
            })?;
            restore_s.push(t.elapsed().as_secs_f64());
        }
        let server_args = crate::export::ServerArgs {
            url: base.clone(),
            key: server.key.clone(),
        };
        let export_file = work.join("bench.jsonl.gz");
        let mut export_s = Vec::new();
        for _ in 0..a.runs {
            let t = Instant::now();
            crate::export::export(crate::export::ExportArgs {
                server: crate::export::ServerArgs {
                    url: server_args.url.clone(),
                    key: server_args.key.clone(),
                },
                project: "bench".into(),
                filters: Vec::new(),
                to: export_file.clone(),
            })?;
            export_s.push(t.elapsed().as_secs_f64());
        }
        let export_bytes = std::fs::metadata(&export_file)?.len();
        let target = Server::start_with("full", &[])?;
        let mut import_s = Vec::new();
        for i in 0..a.runs {
            let t = Instant::now();
            crate::export::import(crate::export::ImportArgs {
                server: crate::export::ServerArgs {
                    url: format!("http://{}", target.addr),
                    key: target.key.clone(),
                },
                from: export_file.clone(),
                project: Some(format!("imported-{i}")),
                force: false,
            })?;
            import_s.push(t.elapsed().as_secs_f64());
        }
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        println!(
            "backup (while 2 clients enriched, {enriched} enrichments): median {:.2} s of {:?}; file {:.1} MiB",
            median(backup_s.clone()),
            backup_s
                .iter()
                .map(|s| (s * 100.0).round() / 100.0)
                .collect::<Vec<_>>(),
            mib(backup_bytes)
        );
        println!(
            "restore: median {:.2} s of {:?}",
            median(restore_s.clone()),
            restore_s
                .iter()
                .map(|s| (s * 100.0).round() / 100.0)
                .collect::<Vec<_>>()
        );
        println!(
            "export ({events} events with history, gzip): median {:.2} s of {:?} ({:.0} events/s); file {:.1} MiB",
            median(export_s.clone()),
            export_s
                .iter()
                .map(|s| (s * 100.0).round() / 100.0)
                .collect::<Vec<_>>(),
            events / median(export_s.clone()),
            mib(export_bytes)
        );
        println!(
            "import (into another server, until acknowledged): median {:.2} s of {:?} ({:.0} events/s)",
            median(import_s.clone()),
            import_s
                .iter()
                .map(|s| (s * 100.0).round() / 100.0)
                .collect::<Vec<_>>(),
            events / median(import_s.clone())
        );
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&work);
    result
}
