//! `hive serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use hive_server::alerts::{AlertConfig, AlertRuntime, SystemClock};
use hive_server::retention::RetentionConfig;
use hive_server::{ApiConfig, AppState, WriteQueue, WriterConfig};
use hive_store::Store;
use hive_store::sqlite::Durability;
use tokio::net::TcpListener;

#[derive(Clone, Copy, ValueEnum, Debug)]
pub enum DurabilityArg {
    /// fsync every commit (survives power loss).
    Full,
    /// fsync at checkpoints (survives a crash of the server, not of the machine).
    Normal,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Where the database lives.
    #[arg(long, env = "HIVE_DATA_DIR", default_value = ".hive")]
    pub data_dir: PathBuf,
    /// HTTP address (REST API, OTLP/HTTP). Port 0 picks a free port.
    #[arg(long, env = "HIVE_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// OTLP/gRPC address, or "off".
    #[arg(long, env = "HIVE_GRPC_ADDR", default_value = "127.0.0.1:4317")]
    pub grpc_addr: String,
    /// How hard commits wait for the disk.
    #[arg(long, env = "HIVE_DURABILITY", value_enum, default_value = "full")]
    pub durability: DurabilityArg,
    /// Acknowledged writes (MiB of ingest log, on disk) waiting to be
    /// applied to the store, past which new writes get 503 + Retry-After
    /// before their body is read.
    #[arg(long, env = "HIVE_MAX_BACKLOG_MB", default_value_t = 256)]
    pub max_backlog_mb: u64,
    /// Memory (MiB, by Content-Length) of the write bodies being handled at
    /// once, past which new writes get 503 + Retry-After.
    #[arg(long, env = "HIVE_MAX_INFLIGHT_MB", default_value_t = 32)]
    pub max_inflight_mb: usize,
    /// How long (ms) a read waits for the writes acknowledged before it to
    /// be applied, before it gets 503 ("catching up").
    #[arg(long, env = "HIVE_READ_WAIT_MS", default_value_t = 10_000)]
    pub read_wait_ms: u64,
    /// Ingest-log bytes (MiB) the applier reads, maps and writes as one
    /// batch: 2 on SQLite (one transaction, which reads wait behind), 8 on
    /// ClickHouse (one insert per table; larger inserts leave ClickHouse
    /// fewer parts to merge, for more memory while a batch is held).
    #[arg(long, env = "HIVE_APPLY_BATCH_MB", value_parser = clap::value_parser!(u64).range(1..=256))]
    pub apply_batch_mb: Option<u64>,
    /// Reads over a project (lists, their counts, charts, exports) this node
    /// runs at once; more wait their turn. Each holds memory in proportion
    /// to what it reads (on ClickHouse about 1 GB at ten million events).
    /// Default: the cores, at least 4.
    #[arg(long, env = "HIVE_MAX_CONCURRENT_READS", value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub max_concurrent_reads: Option<u64>,
    /// Seconds a read waits for its turn (--max-concurrent-reads) before it
    /// gets 503 busy + Retry-After.
    #[arg(long, env = "HIVE_READ_QUEUE_SECS", default_value_t = 30)]
    pub read_queue_secs: u64,
    /// Largest request body in bytes.
    #[arg(long, env = "HIVE_MAX_BODY_BYTES", default_value_t = 16 << 20)]
    pub max_body_bytes: usize,
    /// A PEM file of CA certificates that alert webhooks over https:// trust
    /// besides Mozilla's root CAs (for endpoints with a private CA).
    #[arg(long, env = "HIVE_WEBHOOK_CA")]
    pub webhook_ca: Option<PathBuf>,
    /// An HTTP proxy that alert webhooks go through, as
    /// http://[user:password@]host:port (requests are tunnelled with
    /// CONNECT). Without it they go straight to the endpoint; HTTP_PROXY and
    /// the like are not used.
    #[arg(long, env = "HIVE_WEBHOOK_PROXY")]
    pub webhook_proxy: Option<String>,
    /// Allow alert webhooks to loopback, private, link-local (cloud
    /// metadata) and other non-public addresses. Refused by default, as
    /// anyone who may save an alert chooses where its webhook goes.
    #[arg(long, env = "HIVE_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
    /// Memory (MiB) for the in-memory columns that charts and filters over
    /// every event read; those whose columns do not fit read the documents
    /// (slower). 0 turns columns off.
    #[arg(long, env = "HIVE_COLUMN_MEMORY_MB", default_value_t = 256)]
    pub column_memory_mb: usize,
    /// Seconds a client has to send a request's head once it began (slow
    /// clients are disconnected); on the gRPC port, its first call once
    /// connected.
    #[arg(long, env = "HIVE_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a request body may pause before the request fails with 408
    /// (gRPC: DEADLINE_EXCEEDED).
    #[arg(long, env = "HIVE_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,
    /// Seconds a keep-alive connection may sit idle before it is closed (on
    /// the gRPC port: without a call, pings aside; closed with GOAWAY).
    #[arg(long, env = "HIVE_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,
    /// Connections open at once on each port (HTTP, gRPC); more wait to be
    /// accepted.
    #[arg(long, env = "HIVE_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Keep events, keys and saved objects in ClickHouse instead of SQLite:
    /// http[s]://[user[:password]@]host:port[/database] (database `hive` by
    /// default), with `?timeout=SECONDS`, `?ca=PATH` (https: a private CA's
    /// certificates, PEM), `?partition=month`, `?cluster=NAME` and
    /// `?replicated=true` (see the README). Several nodes may share one
    /// server; each keeps its ingest log in its own --data-dir.
    #[arg(long = "clickhouse", env = "HIVE_CLICKHOUSE_URL")]
    pub clickhouse: Option<String>,
    #[command(flatten)]
    pub clickhouse_login: crate::ClickHouseLogin,
    /// How often (ms) the alert evaluator looks for rules due.
    #[arg(long, env = "HIVE_ALERT_TICK_MS", default_value_t = 15_000)]
    pub alert_tick_ms: u64,
    /// With --clickhouse: how long (ms) this node waits between
    /// compactions of the events' state that wide charts read (ADR 0028).
    /// What a chart resolves beside the state is about this much of
    /// ingest. 0: this node never compacts (another node sharing the
    /// server may).
    #[arg(long, env = "HIVE_COMPACT_EVERY_MS", default_value_t = 5_000)]
    pub compact_every_ms: u64,
    /// How long (ms) an alert notification a node decided and did not
    /// deliver (it died) waits before any node delivers it. By default
    /// twice the longest a delivery takes, and a minute (190 s); at most
    /// 240 000.
    #[arg(long, env = "HIVE_ALERT_REDELIVER_AFTER_MS")]
    pub alert_redeliver_after_ms: Option<u64>,
    /// A separate address serving /metrics (Prometheus text) without a key,
    /// with /healthz and /readyz, e.g. 127.0.0.1:9464. Without it, /metrics
    /// is on the main address and needs an admin key. Give it a loopback or
    /// private address that only the scraper reaches.
    #[arg(long, env = "HIVE_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Days of data kept in projects that set no retention of their own
    /// (`off`: kept forever). Sessions that started earlier are deleted
    /// in the background with their events, history and raw spans, and
    /// alert evaluations older than that too; saved charts, views and
    /// rules stay.
    #[arg(long, env = "HIVE_RETENTION_DAYS", default_value = "off", value_parser = parse_days)]
    pub retention_days: RetentionDays,
    /// How often (ms) retention, deletions by filter and space reclaiming
    /// run in the background.
    #[arg(long, env = "HIVE_RETENTION_INTERVAL_MS", default_value_t = 60_000)]
    pub retention_interval_ms: u64,
    /// Sessions or events a deletion by filter removes per ingest-log
    /// record (and transaction).
    #[arg(long, env = "HIVE_DELETION_PAGE", default_value_t = 500, hide = true)]
    pub deletion_page: usize,
    /// Log filter (tracing syntax), e.g. info or hive_server=debug.
    #[arg(long, env = "HIVE_LOG", default_value = "info")]
    pub log: String,
}

/// `--retention-days`: a number of days or `off`.
#[derive(Debug, Clone, Copy)]
pub struct RetentionDays(pub Option<u32>);

fn parse_days(s: &str) -> std::result::Result<RetentionDays, String> {
    match s.trim() {
        "off" | "" => Ok(RetentionDays(None)),
        t => match t.parse::<u32>() {
            Ok(d) if (1..=36_500).contains(&d) => Ok(RetentionDays(Some(d))),
            _ => Err(format!(
                "{s:?}: a whole number of days from 1 to 36500, or off"
            )),
        },
    }
}

/// The longest `--alert-redeliver-after-ms`: under the claims' grace time.
const MAX_REDELIVER_AFTER_MS: u64 = 240_000;

pub fn run(mut args: ServeArgs) -> Result<()> {
    args.clickhouse = args.clickhouse_login.url(args.clickhouse.take())?;
    // A notification not delivered is taken for abandoned before its
    // evaluation's claim may be made again (5 minutes): the sweep tells a
    // decision that was stored from one that was not by that order.
    if let Some(ms) = args.alert_redeliver_after_ms
        && !(1..=MAX_REDELIVER_AFTER_MS).contains(&ms)
    {
        anyhow::bail!(
            "--alert-redeliver-after-ms must be from 1 to {MAX_REDELIVER_AFTER_MS} \
             (under the 5 minutes after which an alert evaluation is claimed again), not {ms}"
        );
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&args.log).unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("hive-http")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> Result<()> {
    let durability = match args.durability {
        DurabilityArg::Full => Durability::Full,
        DurabilityArg::Normal => Durability::Normal,
    };
    let webhook_ca = match &args.webhook_ca {
        Some(path) => Some(
            hive_server::webhook::WebhookCa::from_file(path)
                .map_err(|e| anyhow::anyhow!("--webhook-ca: {e}"))?,
        ),
        None => None,
    };
    let webhook_proxy = match &args.webhook_proxy {
        Some(url) => Some(
            hive_server::webhook::WebhookProxy::parse(url)
                .map_err(|e| anyhow::anyhow!("--webhook-proxy: {e}"))?,
        ),
        None => None,
    };
    // SQLite by default; the SQLite-only chores (columns, checkpoints) use
    // `sqlite`.
    type Clickhouse = Arc<hive_store::clickhouse::ClickHouseStore>;
    let (store, sqlite, clickhouse, backend): (Arc<dyn Store>, _, Option<Clickhouse>, String) =
        match &args.clickhouse {
            Some(url) => {
                let ch = Arc::new(crate::open_clickhouse(url, &args.data_dir, true)?);
                let backend = format!("ClickHouse {}", ch.describe());
                (ch.clone(), None, Some(ch), backend)
            }
            None => {
                let s = Arc::new(crate::open_store(
                    &args.data_dir,
                    durability,
                    args.column_memory_mb.saturating_mul(1 << 20),
                )?);
                (s.clone(), Some(s), None, "SQLite".to_owned())
            }
        };
    // A ClickHouse that cannot be reached is waited for in the background:
    // writes are acknowledged into the ingest log meanwhile.
    let waiting = clickhouse.as_ref().and_then(|ch| ch.unavailable());
    let first_key = match waiting {
        Some(_) => None,
        None => store
            .auth()
            .bootstrap()
            .context("cannot create the first project and key")?,
    };
    // Every store call is timed for /metrics.
    hive_server::metrics::install();
    hive_server::metrics::spawn_upkeep();
    let store: Arc<dyn Store> = Arc::new(hive_server::metered::MeteredStore::new(store));
    let log_dir = args.data_dir.join("log");
    let (writer, recovered, writer_threads) = WriteQueue::open(
        store.clone(),
        &log_dir,
        WriterConfig {
            sync: matches!(durability, Durability::Full),
            max_backlog_bytes: args.max_backlog_mb << 20,
            max_inflight_bytes: args.max_inflight_mb << 20,
            read_wait: std::time::Duration::from_millis(args.read_wait_ms),
            max_batch_bytes: (args
                .apply_batch_mb
                .unwrap_or(if sqlite.is_some() { 2 } else { 8 })
                << 20) as usize,
            ..WriterConfig::default()
        },
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let column_memory: Option<hive_server::ColumnMemory> = sqlite.clone().map(|s| {
        let budget = args.column_memory_mb.saturating_mul(1 << 20);
        Arc::new(move || (s.column_memory_used(), budget)) as hive_server::ColumnMemory
    });
    let config = ApiConfig {
        max_body_bytes: args.max_body_bytes,
        max_decompressed_bytes: args.max_body_bytes.saturating_mul(4),
        revocations: Some(hive_server::auth::revocation_file(&args.data_dir)),
        ..ApiConfig::default()
    };
    let state = match waiting {
        None => AppState::new(store.clone(), writer.clone(), config)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        // Project ids on ClickHouse are derived from names.
        Some(_) => AppState::with_default_project(
            store.clone(),
            writer.clone(),
            config,
            hive_store::clickhouse::ClickHouseStore::project_named("default"),
        ),
    };
    // On ClickHouse, keys checked before are accepted while it cannot be
    // reached, after a restart too (writes go on into the ingest log), and
    // redacted with the rules loaded last (ADR 0010).
    let state = match &args.clickhouse {
        Some(_) => state
            .with_known_keys(&args.data_dir.join("known-keys.json"))
            .with_redaction_copy(&args.data_dir.join("redaction-rules.json")),
        None => state,
    };
    let mut state = state
        .with_alerts(AlertRuntime::new(
            Arc::new(SystemClock),
            AlertConfig {
                webhook_ca,
                webhook_proxy,
                webhook_allow_private: args.webhook_allow_private,
                tick: std::time::Duration::from_millis(args.alert_tick_ms.max(10)),
                redeliver_after: args
                    .alert_redeliver_after_ms
                    .map(std::time::Duration::from_millis),
                ..AlertConfig::default()
            },
        ))
        .with_retention(RetentionConfig {
            default_days: args.retention_days.0,
            interval: std::time::Duration::from_millis(args.retention_interval_ms.max(10)),
            page: args.deletion_page.max(1),
            ..RetentionConfig::default()
        });
    if let Some(f) = column_memory {
        state = state.with_column_memory(f);
    }
    let state = state.with_read_slots(
        args.max_concurrent_reads
            .map_or_else(hive_server::read_slots::default_max, |n| n as usize),
        std::time::Duration::from_secs(args.read_queue_secs),
    );
    let state = Arc::new(state);
    let listener = TcpListener::bind(args.addr).await.with_context(|| {
        format!(
            "cannot listen on {} (is another server running? try --addr)",
            args.addr
        )
    })?;
    let addr = listener.local_addr()?;
    let grpc = match args.grpc_addr.trim() {
        "off" | "" => None,
        a => {
            let a: SocketAddr = a
                .parse()
                .with_context(|| format!("--grpc-addr {a:?} is not an address or \"off\""))?;
            let l = TcpListener::bind(a).await.with_context(|| {
                format!("cannot listen on {a} for OTLP/gRPC (try --grpc-addr off)")
            })?;
            Some(l)
        }
    };
    let grpc_addr = grpc.as_ref().and_then(|l| l.local_addr().ok());
    let metrics_listener = match args.metrics_addr {
        None => None,
        Some(a) => {
            let l = TcpListener::bind(a)
                .await
                .with_context(|| format!("cannot listen on {a} for /metrics (--metrics-addr)"))?;
            Some(l)
        }
    };
    let metrics_addr = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());

    eprintln!(
        "hive {}: data in {} ({backend}, durability {:?})",
        env!("CARGO_PKG_VERSION"),
        args.data_dir.display(),
        args.durability
    );
    if recovered.cut_bytes > 0 {
        eprintln!(
            "ingest log: cut a torn tail of {} bytes (writes that were never acknowledged)",
            recovered.cut_bytes
        );
    }
    if recovered.unapplied_records > 0 {
        eprintln!(
            "ingest log: applying {} writes ({} KiB) logged before the last stop",
            recovered.unapplied_records,
            recovered.unapplied_bytes.div_ceil(1024)
        );
    }
    match &waiting {
        None => announce(store.as_ref(), first_key.as_deref(), addr)?,
        Some(why) => {
            eprintln!(
                "{why}\nstarting without it: writes are acknowledged into the ingest log and applied \
                 once it answers, reads answer 503 until then; trying again every second"
            );
            match state.redaction.source() {
                hive_server::redaction::RulesSource::Copy => eprintln!(
                    "redaction: the rules this node loaded last (its copy in the data directory) \
                     apply until ClickHouse answers"
                ),
                hive_server::redaction::RulesSource::Unknown => eprintln!(
                    "redaction: this node keeps no copy of the rules, so writes are refused (503) \
                     until ClickHouse answers"
                ),
                hive_server::redaction::RulesSource::Store => {}
            }
        }
    }
    if let Some(ca) = &state.alerts.config.webhook_ca {
        eprintln!(
            "alert webhooks over https trust {} CA certificate(s) from {} besides Mozilla's roots",
            ca.len(),
            ca.source
        );
    }
    if let Some(proxy) = &state.alerts.config.webhook_proxy {
        eprintln!("alert webhooks go through the proxy {}", proxy.shown);
    }
    match metrics_addr {
        Some(m) if !m.ip().is_loopback() => eprintln!(
            "metrics: http://{m}/metrics (no key: make sure only the scraper reaches {m})"
        ),
        Some(m) => eprintln!("metrics: http://{m}/metrics"),
        None => {}
    }
    match grpc_addr {
        Some(g) => eprintln!("listening on http://{addr} (OTLP/gRPC on {g})"),
        None => eprintln!("listening on http://{addr} (OTLP/gRPC off)"),
    }

    state.alerts.set_public_url(&format!("http://{addr}"));
    if let Some(store) = sqlite.clone().filter(|_| args.column_memory_mb > 0) {
        // Load, in the background, the columns the last run used and those
        // saved charts and alerts read.
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let fields = store.warm_columns().unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot load the columns used before");
                0
            });
            let charts = hive_server::charts::warm_up(store.as_ref());
            if fields + charts > 0 {
                tracing::info!(
                    fields,
                    charts,
                    ms = started.elapsed().as_millis() as u64,
                    "in-memory columns loaded"
                );
            }
        });
    }
    if let (Some(_), Some(ch)) = (&waiting, clickhouse) {
        let store = store.clone();
        tokio::spawn(async move {
            wait_for_clickhouse(ch).await;
            let announced = tokio::task::spawn_blocking(move || {
                let first_key = store.auth().bootstrap()?;
                announce(store.as_ref(), first_key.as_deref(), addr)
            })
            .await;
            if let Ok(Err(e)) = announced {
                tracing::warn!(error = %e, "cannot create the first key or a login link");
            }
        });
    }
    let evaluator = hive_server::alerts::spawn_evaluator(state.clone());
    let maintenance = hive_server::retention::spawn(state.clone());
    let compaction = (args.compact_every_ms > 0).then(|| {
        hive_server::compaction::spawn(
            state.clone(),
            std::time::Duration::from_millis(args.compact_every_ms),
        )
    });

    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // The same limits on every port, each with its own connection cap.
    let limits = crate::connections::Limits {
        header_timeout: std::time::Duration::from_secs(args.header_timeout_secs.max(1)),
        body_timeout: std::time::Duration::from_secs(args.body_timeout_secs.max(1)),
        idle_timeout: std::time::Duration::from_secs(args.idle_timeout_secs.max(1)),
        max_connections: args.max_connections.max(1),
    };
    let http = tokio::spawn(crate::connections::serve(
        listener,
        hive_server::router(state.clone()),
        limits,
        crate::connections::Protocol::Http,
        stop_rx.clone(),
    ));
    let grpc_task = grpc.map(|l| {
        tokio::spawn(crate::connections::serve(
            l,
            hive_server::grpc::router(state.clone()),
            limits,
            crate::connections::Protocol::Grpc,
            stop_rx.clone(),
        ))
    });
    let metrics_task = metrics_listener.map(|l| {
        tokio::spawn(crate::connections::serve(
            l,
            hive_server::metrics_router(state.clone()),
            limits,
            crate::connections::Protocol::Http,
            stop_rx.clone(),
        ))
    });
    shutdown.await;
    tracing::info!("shutting down: finishing requests in flight");
    evaluator.abort();
    maintenance.abort();
    if let Some(c) = compaction {
        c.abort();
    }
    let _ = stop_tx.send(true);
    let _ = http.await;
    if let Some(g) = grpc_task {
        let _ = g.await;
    }
    if let Some(m) = metrics_task {
        let _ = m.await;
    }
    // In-flight requests have been answered: stop the log, and let the
    // applier apply what it holds (for a while: whatever is left is applied
    // at the next start).
    writer.close();
    let lag = writer.lag();
    drop(state);
    drop(writer);
    if lag.records > 0 {
        tracing::info!(records = lag.records, "applying the rest of the ingest log");
    }
    let joined = tokio::task::spawn_blocking(move || writer_threads.join());
    if tokio::time::timeout(std::time::Duration::from_secs(20), joined)
        .await
        .is_err()
    {
        tracing::warn!(
            "stopping with writes left in the ingest log: they are applied at the next start"
        );
    }
    if let Some(Err(e)) = sqlite.map(|s| s.checkpoint()) {
        tracing::warn!(error = %e, "final checkpoint failed (the WAL is replayed at the next start)");
    }
    tracing::info!("stopped");
    Ok(())
}

/// Print the first admin key (when this start created it) and a dashboard
/// login link.
fn announce(store: &dyn Store, first_key: Option<&str>, addr: SocketAddr) -> Result<()> {
    if let Some(secret) = first_key {
        eprintln!(
            "first start: created project \"default\" and an admin API key, shown only this once:"
        );
        eprintln!();
        eprintln!("    HH_API_KEY={secret}");
        eprintln!();
        eprintln!("point the HoneyHive SDK at this server with:");
        eprintln!("    export HH_API_URL=http://{addr} HH_API_KEY={secret}");
        eprintln!("more keys: hive keys create --project NAME --scope ingest|read-write|admin");
    }
    let login = hive_server::dashboard::login_url(store, &format!("http://{addr}"))
        .context("cannot create a dashboard login link")?;
    eprintln!("dashboard: {login}");
    eprintln!("  (one-time link, valid 24 h; `hive login` prints a new one)");
    Ok(())
}

/// Until ClickHouse answers (and hive's schema is in place there): a
/// warning every 10 s saying why and that writes wait in the ingest log.
async fn wait_for_clickhouse(ch: Arc<hive_store::clickhouse::ClickHouseStore>) {
    let started = std::time::Instant::now();
    let mut warned: Option<std::time::Instant> = None;
    loop {
        let probe = ch.clone();
        let why = tokio::task::spawn_blocking(move || probe.unavailable())
            .await
            .unwrap_or(None);
        let Some(why) = why else {
            tracing::info!(
                waited_s = started.elapsed().as_secs(),
                "ClickHouse answers: applying the writes logged meanwhile"
            );
            return;
        };
        if warned.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(10)) {
            tracing::warn!(
                waited_s = started.elapsed().as_secs(),
                "{why}; writes wait in the ingest log, reads answer 503; trying again every second"
            );
            warned = Some(std::time::Instant::now());
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
