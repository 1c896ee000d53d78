//! `hive bench dashboard`: loads a store with many sessions (directly, in
//! large batches), serves the dashboard in-process on loopback and reports
//! p50/p99 request times of its heaviest pages: the session list with a
//! metadata filter and the view of one large session.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use clap::Args;
use hive_core::model::Event;
use hive_server::{ApiConfig, AppState, WriteQueue, WriterConfig};
use hive_store::prepared::PreparedEvent;
use hive_store::sqlite::{Durability, SqliteOptions, SqliteStore};
use hive_store::{Store, WriteOp};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Args)]
pub struct DashboardArgs {
    /// Sessions to load.
    #[arg(long, default_value_t = 100_000)]
    sessions: usize,
    /// Events per session (besides the session event).
    #[arg(long, default_value_t = 10)]
    events_per_session: usize,
    /// Events of the one large session whose view is measured.
    #[arg(long, default_value_t = 1000)]
    large_session: usize,
    /// Requests per measured page.
    #[arg(long, default_value_t = 40)]
    requests: usize,
    /// Keep the loaded database here instead of a temporary directory
    /// (reused when it exists).
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
}

const PROJECT: &str = "bench";
const TENANTS: usize = 20;
const START: i64 = 1_700_000_000_000;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub(crate) fn session_event(project_id: &str, i: usize) -> Event {
    let id = format!("sess-{i:07}");
    Event {
        event_id: id.clone(),
        session_id: id,
        project_id: project_id.to_owned(),
        source: "bench".into(),
        event_type: "session".into(),
        event_name: format!("checkout-{}", i % 7),
        start_time: START + i as i64 * 1000,
        end_time: START + i as i64 * 1000 + 900,
        duration: 900.0,
        metadata: obj(json!({
            "tenant": format!("tenant-{}", i % TENANTS),
            "user_tier": (["free", "pro", "enterprise"][i % 3]),
            "app_version": format!("2.{}.0", i % 5),
        })),
        user_properties: obj(json!({"user_id": format!("user-{}", i % 5000), "plan": "pro"})),
        ..Event::default()
    }
}

pub(crate) fn child_event(
    project_id: &str,
    session: &str,
    start: i64,
    i: usize,
    j: usize,
) -> Event {
    let model = j.is_multiple_of(2);
    Event {
        event_id: format!("{session}-e{j:04}"),
        session_id: session.to_owned(),
        parent_id: Some(session.to_owned()),
        project_id: project_id.to_owned(),
        source: "bench".into(),
        event_type: if model { "model" } else { "tool" }.into(),
        event_name: if model {
            "ChatCompletion"
        } else {
            "search_docs"
        }
        .into(),
        start_time: start + j as i64 * 20,
        end_time: start + j as i64 * 20 + 15,
        duration: 15.0,
        error: (i.is_multiple_of(97) && j == 1).then(|| "timeout calling search".to_owned()),
        inputs: obj(json!({"chat_history": [
            {"role": "system", "content": "You are a helpful support agent for an online shop."},
            {"role": "user", "content": format!("Where is my order {i}-{j}? It was due yesterday.")}
        ]})),
        outputs: obj(
            json!({"role": "assistant", "content": "Your order left the warehouse this morning and arrives tomorrow."}),
        ),
        config: obj(json!({"model": "gpt-4o-mini", "temperature": 0.2})),
        metadata: obj(json!({
            "variant": (["a", "b"][j % 2]),
            "prompt_tokens": 40 + j, "completion_tokens": 12, "total_tokens": 52 + j,
        })),
        metrics: obj(json!({"score": (j % 10) as f64 / 10.0})),
        ..Event::default()
    }
}

pub(crate) fn op(e: Event) -> WriteOp {
    WriteOp::Prepared(Box::new(PreparedEvent::new(e, None, None, false, false)))
}

fn load(store: &SqliteStore, project_id: &str, a: &DashboardArgs) -> Result<String> {
    let started = Instant::now();
    let mut ops = Vec::with_capacity(8192);
    let mut total = 0usize;
    for i in 0..a.sessions {
        let s = session_event(project_id, i);
        let (sid, start) = (s.event_id.clone(), s.start_time);
        ops.push(op(s));
        for j in 0..a.events_per_session {
            ops.push(op(child_event(project_id, &sid, start, i, j)));
        }
        if ops.len() >= 5000 {
            total += ops.len();
            store.apply(&ops)?;
            ops.clear();
            if i % 20_000 < 500 {
                eprintln!(
                    "  loaded {total} events ({:.0}/s)",
                    total as f64 / started.elapsed().as_secs_f64()
                );
            }
        }
    }
    // The large session, newest of all.
    let mut big = session_event(project_id, a.sessions);
    big.event_id = "large-session".into();
    big.session_id = big.event_id.clone();
    big.event_name = "large-session".into();
    let start = big.start_time;
    ops.push(op(big));
    for j in 0..a.large_session {
        let mut e = child_event(project_id, "large-session", start, a.sessions, j);
        // Some depth: every tenth event is a chain holding the next nine.
        if j % 10 != 0 {
            e.parent_id = Some(format!("large-session-e{:04}", j - j % 10));
        } else {
            e.event_type = "chain".into();
            e.event_name = format!("step-{}", j / 10);
        }
        ops.push(op(e));
    }
    total += ops.len();
    store.apply(&ops)?;
    eprintln!(
        "loaded {total} events in {:.1} s ({:.0} events/s)",
        started.elapsed().as_secs_f64(),
        total as f64 / started.elapsed().as_secs_f64()
    );
    Ok("large-session".into())
}

/// One GET over a kept-alive connection; returns the status and body size.
async fn get(conn: &mut TcpStream, path: &str, cookie: &str) -> Result<(u16, usize)> {
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: hive_session={cookie}\r\nConnection: keep-alive\r\n\r\n"
    );
    conn.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(1 << 16);
    let mut chunk = vec![0u8; 1 << 16];
    let header_end = loop {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Err(anyhow!("connection closed"));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .ok_or_else(|| anyhow!("no content-length in {head}"))?;
    while buf.len() < header_end + len {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Err(anyhow!("connection closed mid-body"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok((status, len))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn measure(addr: &str, cookie: &str, name: &str, path: &str, n: usize) -> Result<()> {
    let mut conn = TcpStream::connect(addr).await?;
    conn.set_nodelay(true)?;
    // Warm up (first use of statements and caches; a filter over every
    // event loads the columns it reads).
    let t = Instant::now();
    let (status, size) = get(&mut conn, path, cookie).await?;
    let first = t.elapsed().as_secs_f64() * 1000.0;
    if status != 200 {
        return Err(anyhow!("{path} answered {status}"));
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        get(&mut conn, path, cookie).await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{name:<52} p50 {:>7.1} ms   p99 {:>7.1} ms   first {first:>7.1} ms   ({} KB)",
        pct(&times, 0.5),
        pct(&times, 0.99),
        size / 1024
    );
    Ok(())
}

pub fn main(a: DashboardArgs) -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(a))
}

async fn run(a: DashboardArgs) -> Result<()> {
    let tmp;
    let dir = match &a.data_dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempdir()?;
            tmp.clone()
        }
    };
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
    let large = if fresh {
        eprintln!(
            "loading {} sessions x {} events and one session of {} events into {}",
            a.sessions,
            a.events_per_session,
            a.large_session,
            path.display()
        );
        let loader = store.clone();
        let pid = project.id.clone();
        let args = DashboardArgs {
            data_dir: None,
            ..a
        };
        let large = tokio::task::spawn_blocking(move || load(&loader, &pid, &args)).await??;
        store.checkpoint()?;
        large
    } else {
        eprintln!("reusing {}", path.display());
        "large-session".to_owned()
    };
    let log_dir = path.with_extension("log");
    let (writer, _recovered, _writer_threads) = WriteQueue::open(
        store.clone() as Arc<dyn Store>,
        &log_dir,
        WriterConfig::default(),
    )
    .map_err(|e| anyhow!("{e}"))?;
    let state = Arc::new(
        AppState::new(
            store.clone() as Arc<dyn Store>,
            writer,
            ApiConfig::default(),
        )
        .map_err(|e| anyhow!("{e}"))?,
    );
    let (cookie, _) = store.auth().create_web_session(3_600_000)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let app = hive_server::router(state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    tokio::time::sleep(Duration::from_millis(50)).await;

    let n = a.requests;
    println!(
        "dashboard, {} sessions / {} events, {} requests each (in-process server, loopback HTTP):",
        a.sessions,
        a.sessions * (a.events_per_session + 1) + a.large_session + 1,
        n
    );
    let p = format!("project={PROJECT}");
    measure(
        &addr,
        &cookie,
        "session list (newest 50)",
        &format!("/sessions?{p}"),
        n,
    )
    .await?;
    // No project named: the page opens on the most active one
    // (`Store::active_projects`).
    measure(
        &addr,
        &cookie,
        "session list (newest 50), no project named",
        "/sessions",
        n,
    )
    .await?;
    measure(
        &addr,
        &cookie,
        "session list, metadata.tenant is tenant-7",
        &format!("/sessions?{p}&ff=metadata.tenant&fo=is&fv=tenant-7"),
        n,
    )
    .await?;
    measure(
        &addr,
        &cookie,
        "session list, tenant-7 + user_tier pro",
        &format!(
            "/sessions?{p}&ff=metadata.tenant&fo=is&fv=tenant-7&ff=metadata.user_tier&fo=is&fv=pro"
        ),
        n,
    )
    .await?;
    measure(
        &addr,
        &cookie,
        "session list, page 1000",
        &format!("/sessions?{p}&page=1000"),
        n,
    )
    .await?;
    // Filters over every event and orders by a rollup read in-memory
    // columns (loaded by the first request).
    let few = n;
    measure(
        &addr,
        &cookie,
        "session list, highest cost first",
        &format!("/sessions?{p}&sort=cost"),
        few,
    )
    .await?;
    measure(
        &addr,
        &cookie,
        "session list, tenant-7 in the session or any event",
        &format!("/sessions?{p}&ff=metadata.tenant&fo=is&fv=tenant-7&match=any"),
        few,
    )
    .await?;
    measure(
        &addr,
        &cookie,
        "events list, metrics.score greater than 0.85",
        &format!("/events?{p}&ff=metrics.score&fo=greater+than&fv=0.85"),
        few,
    )
    .await?;
    measure(
        &addr,
        &cookie,
        "events list, variant b and score > 0.85, page 100",
        &format!(
            "/events?{p}&ff=metadata.variant&fo=is&fv=b&ff=metrics.score&fo=greater+than&fv=0.85&page=100"
        ),
        few,
    )
    .await?;
    measure(
        &addr,
        &cookie,
        &format!("session view, {} events", a.large_session),
        &format!("/sessions/{large}?{p}"),
        n,
    )
    .await?;
    measure(
        &addr,
        &cookie,
        "session view, one event selected",
        &format!("/sessions/{large}?{p}&event={large}-e0500"),
        n,
    )
    .await?;
    if a.data_dir.is_none() {
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

fn tempdir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("hive-bench-dashboard-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
