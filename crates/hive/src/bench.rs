//! `hive bench ingest|enrich`: load tests against a server the tool starts
//! itself (a child `hive serve` on a temporary data directory, loopback
//! only), so the server's own peak memory can be read from /proc. Each run
//! is bounded in time and stops by itself.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use hive_core::span::Span;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    kind: BenchKind,
}

#[derive(Subcommand)]
enum BenchKind {
    /// OTLP/HTTP protobuf batches of realistic LLM spans.
    Ingest(IngestArgs),
    /// `PUT /events` enrichments from many concurrent clients.
    Enrich(EnrichArgs),
    /// Many senders of large OTLP batches far above capacity: how fast a
    /// 503 is decided, how long accepted requests take, the server's peak
    /// memory, and that nothing acknowledged is lost. Fails when a bound
    /// given is exceeded.
    Overload(OverloadArgs),
    /// Dashboard pages over 100,000 sessions and 1,000,000 events.
    Dashboard(crate::bench_dashboard::DashboardArgs),
    /// Chart queries grouped by a metadata field over 1,000,000 events.
    Charts(crate::bench_charts::ChartsArgs),
    /// `hive backup`, `restore`, `export` and `import` of a project of
    /// LLM-like sessions (the backups while clients enrich).
    Backup(crate::bench_backup::BackupBenchArgs),
    /// What a retention purge of 1,000,000 events costs ingest meanwhile.
    Purge(crate::bench_purge::PurgeArgs),
}

#[derive(Args, Clone)]
struct Common {
    /// How long to send load, in seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Server durability (see `hive serve --help`).
    #[arg(long, default_value = "full")]
    durability: String,
    /// Extra arguments for `hive serve` (e.g. "--max-backlog-mb 4096").
    #[arg(long, allow_hyphen_values = true)]
    serve_args: Option<String>,
}

impl Common {
    fn start_server(&self) -> Result<Server> {
        let extra: Vec<String> = self
            .serve_args
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        Server::start_with(&self.durability, &extra)
    }
}

#[derive(Args)]
struct IngestArgs {
    #[command(flatten)]
    common: Common,
    /// Concurrent connections.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Spans per request.
    #[arg(long, default_value_t = 512)]
    batch: usize,
    /// Spans per session.
    #[arg(long, default_value_t = 32)]
    spans_per_session: usize,
    /// Also ask for a chart of the ingested project (average
    /// metrics.latency_ms by metadata.variant per hour) every this many
    /// milliseconds, to measure what keeping chart columns current costs
    /// ingest, and how fast charts answer while it runs. 0: no charts.
    #[arg(long, default_value_t = 0)]
    chart_every_ms: u64,
    /// Redaction of the ingested project: `off`; `scan` (the default
    /// rules but email: every value is searched, nothing matches, bodies
    /// are logged as they came); `rewrite` (the default rules: every span's
    /// answer holds an email, so every request is redacted and re-encoded).
    #[arg(long, default_value = "off", value_parser = ["off", "scan", "rewrite"])]
    redaction: String,
    /// Serve from ClickHouse (URL as for `hive serve --clickhouse`; a fresh
    /// database) instead of SQLite, and report its bytes on disk per span.
    #[arg(long)]
    clickhouse: Option<String>,
    /// With `--clickhouse`: how many `hive serve` nodes share it (the
    /// connections are spread over them).
    #[arg(long, default_value_t = 1)]
    nodes: usize,
}

#[derive(Args)]
struct OverloadArgs {
    #[command(flatten)]
    common: Common,
    /// Concurrent senders, each with its own connection.
    #[arg(long, default_value_t = 32)]
    senders: usize,
    /// Spans per request.
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// Fail when the server's peak RSS exceeds this many MiB.
    #[arg(long)]
    max_rss_mb: Option<f64>,
    /// Fail when the p99 time to a 503 exceeds this many ms.
    #[arg(long)]
    max_refusal_p99_ms: Option<f64>,
}

#[derive(Args)]
struct EnrichArgs {
    #[command(flatten)]
    common: Common,
    /// Concurrent clients, each with its own connection.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Sessions the clients enrich (round robin).
    #[arg(long, default_value_t = 64)]
    sessions: usize,
}

pub fn run(args: BenchArgs) -> Result<()> {
    if let BenchKind::Dashboard(a) = args.kind {
        return crate::bench_dashboard::main(a);
    }
    if let BenchKind::Charts(a) = args.kind {
        return crate::bench_charts::main(a);
    }
    if let BenchKind::Backup(a) = args.kind {
        return crate::bench_backup::main(a);
    }
    if let BenchKind::Purge(a) = args.kind {
        return crate::bench_purge::main(a);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.kind {
        BenchKind::Ingest(a) => rt.block_on(ingest(a)),
        BenchKind::Enrich(a) => rt.block_on(enrich(a)),
        BenchKind::Overload(a) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?
            .block_on(overload(a)),
        BenchKind::Dashboard(_)
        | BenchKind::Charts(_)
        | BenchKind::Backup(_)
        | BenchKind::Purge(_) => Ok(()),
    }
}

/// A `hive serve` child on a temporary directory.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: String,
    pub(crate) key: String,
    pub(crate) dir: std::path::PathBuf,
}

impl Server {
    pub(crate) fn start_with(durability: &str, extra: &[String]) -> Result<Server> {
        let dir = std::env::temp_dir().join(format!("hive-bench-{}", uuid::Uuid::new_v4()));
        Server::start_in(dir, durability, extra)
    }

    /// Start on `dir` (removed when the server is dropped).
    pub(crate) fn start_in(
        dir: std::path::PathBuf,
        durability: &str,
        extra: &[String],
    ) -> Result<Server> {
        Server::start_node(dir, durability, extra, None)
    }

    /// Start on `dir`; `key`: the key to use when the server prints none
    /// (a node joining a store whose first key another node created).
    pub(crate) fn start_node(
        dir: std::path::PathBuf,
        durability: &str,
        extra: &[String],
        key: Option<String>,
    ) -> Result<Server> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--grpc-addr",
                "off",
                "--log",
                "warn",
            ])
            .arg("--data-dir")
            .arg(&dir)
            .args(["--durability", durability])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start `hive serve`")?;
        let stderr = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
        let mut lines = BufReader::new(stderr).lines();
        let (mut key, mut addr) = (key, None);
        for line in lines.by_ref() {
            let line = line?;
            if let Some(k) = line.trim().strip_prefix("HH_API_KEY=") {
                key = Some(k.to_owned());
            }
            if let Some(rest) = line.strip_prefix("listening on http://") {
                addr = rest.split_whitespace().next().map(str::to_owned);
                break;
            }
        }
        // Keep draining the server's log so it never blocks on a full pipe
        // (shown with HIVE_BENCH_SERVER_LOG=1).
        let show = std::env::var_os("HIVE_BENCH_SERVER_LOG").is_some();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if show {
                    eprintln!("server: {line}");
                }
            }
        });
        match (addr, key) {
            (Some(addr), Some(key)) => Ok(Server {
                child,
                addr,
                key,
                dir,
            }),
            _ => {
                let _ = child.kill();
                bail!("the server did not start (no address or key in its output)")
            }
        }
    }

    /// Stop the server as an operator would (SIGTERM) and wait for it.
    pub(crate) fn stop(&self, within: Duration) -> Result<()> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let deadline = Instant::now() + within;
        while std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
        {
            if Instant::now() > deadline {
                bail!("the server did not stop within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// CPU seconds used so far by the server's threads, by thread name
    /// (from /proc; robust to other load on the machine, unlike wall time).
    pub(crate) fn cpu_by_thread(&self) -> std::collections::BTreeMap<String, f64> {
        let mut out = std::collections::BTreeMap::new();
        let tick = 100.0; // USER_HZ on Linux
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.child.id())) else {
            return out;
        };
        for task in tasks.flatten() {
            let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
                continue;
            };
            // comm is in parentheses and may contain spaces.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            let name = stat[open + 1..close].to_owned();
            let rest: Vec<&str> = stat[close + 2..].split_whitespace().collect();
            let ticks: f64 = [11, 12]
                .iter()
                .filter_map(|i| rest.get(*i)?.parse::<f64>().ok())
                .sum();
            *out.entry(name).or_insert(0.0) += ticks / tick;
        }
        out
    }

    /// (peak, current) resident memory of the server in MiB.
    fn rss_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map(|kb| kb / 1024.0)
                .unwrap_or(f64::NAN)
        };
        (field("VmHWM:"), field("VmRSS:"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A minimal HTTP/1.1 keep-alive client (requests to our own server only).
pub(crate) struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub(crate) async fn connect(addr: &str) -> Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Send a request, return (status, body).
    pub(crate) async fn request(
        &mut self,
        method: &str,
        path: &str,
        key: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>)> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer {key}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        self.stream.write_all(head.as_bytes()).await?;
        self.stream.write_all(body).await?;
        self.buf.clear();
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buf[..end])
                    .map_err(|_| anyhow!("bad response head"))?;
                let status: u16 = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| anyhow!("bad status line"))?;
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .ok_or_else(|| anyhow!("response without content-length"))?;
                let start = end + 4;
                while self.buf.len() < start + len {
                    let mut chunk = [0u8; 8192];
                    let n = self.stream.read(&mut chunk).await?;
                    if n == 0 {
                        bail!("connection closed mid-response");
                    }
                    self.buf.extend_from_slice(&chunk[..n]);
                }
                return Ok((status, self.buf[start..start + len].to_vec()));
            }
            let mut chunk = [0u8; 8192];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                bail!("connection closed");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Server CPU per operation by thread: what each op costs the server,
/// whatever else the machine was doing.
fn print_cpu(
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
    ops: u64,
    what: &str,
) {
    if ops == 0 {
        return;
    }
    let mut parts = Vec::new();
    let mut total = 0.0;
    for (name, t) in after {
        let used = t - before.get(name).copied().unwrap_or(0.0);
        total += used;
        if used > 0.0 {
            parts.push(format!("{name} {:.1}", used * 1e6 / ops as f64));
        }
    }
    println!(
        "  server CPU per {what}  {:.1} us ({} us)",
        total * 1e6 / ops as f64,
        parts.join(", ")
    );
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub(crate) fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

/// A request body whose ids can be rewritten in place: offsets of every
/// trace id, span id and session id in the encoded template.
pub(crate) struct Template {
    pub(crate) body: Vec<u8>,
    trace_at: Vec<usize>,
    pub(crate) span_at: Vec<usize>,
    session_at: Vec<usize>,
}

fn sentinel_session(k: usize) -> String {
    format!("5e55{:04x}-0000-4000-8000-{:012x}", k, k)
}

impl Template {
    fn new(batch: usize, per_session: usize) -> Result<Template> {
        Template::starting(batch, per_session, None)
    }

    /// Spans that start at `start_ns` (else a fixed time in 2026).
    pub(crate) fn starting(
        batch: usize,
        per_session: usize,
        start_ns: Option<u64>,
    ) -> Result<Template> {
        let per_session = per_session.max(1);
        let spans: Vec<Span> = (0..batch)
            .map(|i| {
                let mut trace = [0xA7u8; 16];
                trace[8..].copy_from_slice(&(i as u64).to_be_bytes());
                let mut span = [0xB3u8; 8];
                span[4..].copy_from_slice(&(i as u32).to_be_bytes());
                let mut s =
                    hive_otlp::sample::llm_span(trace, span, &sentinel_session(i / per_session), i);
                if let Some(t) = start_ns {
                    let d = s.end_time_unix_nano - s.start_time_unix_nano;
                    s.start_time_unix_nano = t + i as u64 * 1_000_000;
                    s.end_time_unix_nano = s.start_time_unix_nano + d;
                }
                s
            })
            .collect();
        let body = hive_otlp::encode_traces_protobuf(&spans);
        let mut t = Template {
            trace_at: Vec::new(),
            span_at: Vec::new(),
            session_at: Vec::new(),
            body,
        };
        // Spans are encoded in order: search each one's ids from the last.
        let mut from = 0;
        for sp in &spans {
            let trace = from
                + find(&t.body[from..], &sp.trace_id)
                    .ok_or_else(|| anyhow!("trace id not found"))?;
            let span = from
                + find(&t.body[from..], &sp.span_id).ok_or_else(|| anyhow!("span id not found"))?;
            t.trace_at.push(trace);
            t.span_at.push(span);
            from = trace.min(span);
        }
        for k in 0..batch.div_ceil(per_session) {
            let needle = sentinel_session(k);
            let mut from = 0;
            while let Some(p) = find(&t.body[from..], needle.as_bytes()) {
                t.session_at.push(from + p);
                from += p + needle.len();
            }
        }
        Ok(t)
    }

    /// A copy with ids unique to request number `n`.
    pub(crate) fn instance(&self, n: u64) -> Vec<u8> {
        let mut body = self.body.clone();
        let tag = n.to_be_bytes();
        for &at in &self.trace_at {
            body[at..at + 8].copy_from_slice(&tag);
        }
        for &at in &self.span_at {
            body[at..at + 4].copy_from_slice(&(n as u32).to_be_bytes());
        }
        let hex = format!("{n:08x}");
        for &at in &self.session_at {
            body[at..at + 8].copy_from_slice(&hex.as_bytes()[hex.len() - 8..]);
        }
        body
    }
}

async fn ingest(a: IngestArgs) -> Result<()> {
    let template = Arc::new(Template::new(a.batch, a.spans_per_session)?);
    let servers = match &a.clickhouse {
        None => {
            if a.nodes != 1 {
                bail!("--nodes needs --clickhouse (SQLite is one node)");
            }
            vec![a.common.start_server()?]
        }
        Some(url) => {
            let mut servers: Vec<Server> = Vec::new();
            for _ in 0..a.nodes.max(1) {
                let mut extra = vec!["--clickhouse".to_owned(), url.clone()];
                extra.extend(
                    a.common
                        .serve_args
                        .as_deref()
                        .unwrap_or("")
                        .split_whitespace()
                        .map(str::to_owned),
                );
                let dir = std::env::temp_dir().join(format!("hive-bench-{}", uuid::Uuid::new_v4()));
                let key = servers.first().map(|s| s.key.clone());
                servers.push(Server::start_node(dir, &a.common.durability, &extra, key)?);
            }
            servers
        }
    };
    let server = &servers[0];
    eprintln!(
        "ingest: {} spans/request ({} bytes), {} connections, {} s, durability {}, {}",
        a.batch,
        template.body.len(),
        a.concurrency,
        a.common.seconds,
        a.common.durability,
        match &a.clickhouse {
            Some(_) => format!("{} node(s) on ClickHouse", servers.len()),
            None => "SQLite".to_owned(),
        }
    );
    if a.redaction != "off" {
        let settings = if a.redaction == "scan" {
            r#"{"project":"bench","enabled":true,"disabled_defaults":["email"]}"#
        } else {
            r#"{"project":"bench","enabled":true}"#
        };
        let mut conn = Conn::connect(&server.addr).await?;
        let (status, resp) = conn
            .request(
                "PUT",
                "/v1/redaction",
                &server.key,
                "application/json",
                settings.as_bytes(),
            )
            .await?;
        if status != 200 {
            bail!(
                "redaction settings: {status} {}",
                String::from_utf8_lossy(&resp)
            );
        }
        eprintln!("redaction: {}", a.redaction);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    let cpu = || {
        let mut all = std::collections::BTreeMap::new();
        for s in &servers {
            for (name, t) in s.cpu_by_thread() {
                *all.entry(name).or_insert(0.0) += t;
            }
        }
        all
    };
    let cpu_before = cpu();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..a.concurrency {
        let (template, stop, counter) = (template.clone(), stop.clone(), counter.clone());
        let node = &servers[i % servers.len()];
        let (addr, key) = (node.addr.clone(), server.key.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(&addr).await?;
            let mut lat = Vec::new();
            let (mut ok, mut busy) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let body = template.instance(n);
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
                let (status, resp) = match answer {
                    Ok(a) => a,
                    Err(_) => {
                        // A refusal decided from the headers closes the
                        // connection while the body is still being sent.
                        busy += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        conn = Conn::connect(&addr).await?;
                        continue;
                    }
                };
                match status {
                    200 => {
                        ok += 1;
                        lat.push(t.elapsed().as_micros() as u64);
                    }
                    503 | 429 => {
                        busy += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    s => bail!("status {s}: {}", String::from_utf8_lossy(&resp)),
                }
            }
            Ok::<_, anyhow::Error>((ok, busy, lat))
        }));
    }
    let charts = (a.chart_every_ms > 0).then(|| {
        let (stop, addr, key) = (stop.clone(), server.addr.clone(), server.key.clone());
        let every = Duration::from_millis(a.chart_every_ms);
        tokio::spawn(async move {
            let mut conn = Conn::connect(&addr).await?;
            let body = br#"{"project":"bench","metric":"metrics.latency_ms","aggregation":"avg","bucket":"hour","groupBy":"metadata.variant"}"#;
            let mut lat = Vec::new();
            let mut caught_up_late = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let (status, resp) = conn
                    .request("POST", "/v1/events/chart", &key, "application/json", body)
                    .await?;
                match status {
                    200 => lat.push(t.elapsed().as_micros() as u64),
                    // The project exists once its first spans are stored.
                    404 => {}
                    // The read waited --read-wait-ms for the writes before it.
                    503 => caught_up_late += 1,
                    _ => bail!("chart status {status}: {}", String::from_utf8_lossy(&resp)),
                }
                tokio::time::sleep(every.saturating_sub(t.elapsed())).await;
            }
            Ok::<_, anyhow::Error>((lat, caught_up_late))
        })
    });
    let mut peak_sample = 0f64;
    let deadline = started + Duration::from_secs_f64(a.common.seconds);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        peak_sample = peak_sample.max(server.rss_mib().1);
    }
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut busy, mut lat) = (0, 0, Vec::new());
    for t in tasks {
        let (o, b, l) = t.await??;
        ok += o;
        busy += b;
        lat.extend(l);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = cpu();
    let chart_lat = match charts {
        Some(t) => {
            let (mut l, late) = t.await??;
            l.sort_unstable();
            Some((l, late))
        }
        None => None,
    };
    lat.sort_unstable();
    let spans = ok * a.batch as u64;
    let (hwm, rss) = server.rss_mib();
    // Every acknowledged span must be readable: the read waits until the
    // applier has applied them all (retried while it says it is catching up).
    // With several nodes, each node's reads wait for its own writes: ask
    // every node in turn, the first last.
    let drain_started = Instant::now();
    let mut answer = None;
    for node in servers.iter().rev() {
        let mut conn = Conn::connect(&node.addr).await?;
        answer = Some(loop {
            let (status, resp) = conn
                .request(
                    "POST",
                    "/v1/events/export",
                    &server.key,
                    "application/json",
                    br#"{"filters":[{"field":"event_type","operator":"is","value":"model","type":"string"}],"limit":1}"#,
                )
                .await?;
            if status != 503 || drain_started.elapsed() > Duration::from_secs(600) {
                break (status, resp);
            }
        });
    }
    let (status, resp) = answer.ok_or_else(|| anyhow!("no server"))?;
    let mut conn = Conn::connect(&server.addr).await?;
    let drained = drain_started.elapsed().as_secs_f64();
    let cpu_drained = cpu();
    let stored = serde_json::from_slice::<serde_json::Value>(&resp)
        .ok()
        .and_then(|v| v["totalEvents"].as_u64())
        .unwrap_or(0);
    println!("ingest results ({elapsed:.1} s)");
    println!("  acknowledged spans   {spans}");
    println!(
        "  throughput           {:.0} spans/s",
        spans as f64 / elapsed
    );
    println!(
        "  request latency      p50 {:.1} ms, p99 {:.1} ms ({} requests, {} refused busy)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        ok,
        busy
    );
    if let Some((l, late)) = &chart_lat {
        println!(
            "  charts meanwhile     p50 {:.1} ms, p99 {:.1} ms ({} charts, the first loads its columns; each waits for the writes acknowledged before it; {late} answered 503 after --read-wait-ms)",
            percentile(l, 0.5),
            percentile(l, 0.99),
            l.len()
        );
    }
    println!(
        "  server RSS           peak {hwm:.0} MiB (sampled max {peak_sample:.0} MiB, end {rss:.0} MiB)"
    );
    println!(
        "  applied              all {:.1} s after the load ({:.0} spans/s from start to applied)",
        drained,
        spans as f64 / (elapsed + drained)
    );
    print_cpu(&cpu_before, &cpu_after, spans, "span (during the load)");
    print_cpu(&cpu_before, &cpu_drained, spans, "span (until applied)");
    println!("  stored model events  {stored} (status {status})");
    if stored > 0 {
        let bytes = match &a.clickhouse {
            Some(url) => {
                let store = hive_store::clickhouse::ClickHouseStore::open(url, "bench-probe")?;
                store.sql_exec("OPTIMIZE TABLE hive_writes FINAL")?;
                store.sql_rows(
                    "SELECT sum(bytes_on_disk) AS n FROM system.parts \
                     WHERE active AND database = currentDatabase()",
                )?[0]["n"]
                    .as_u64()
                    .unwrap_or(0)
            }
            None => {
                // Stopped as an operator would (SIGTERM): the final
                // checkpoint moves the WAL into the database.
                server.stop(Duration::from_secs(120))?;
                ["hive.db", "hive.db-wal"]
                    .iter()
                    .filter_map(|f| std::fs::metadata(server.dir.join(f)).ok())
                    .map(|m| m.len())
                    .sum()
            }
        };
        println!(
            "  on disk              {:.0} bytes/span ({:.1} MiB; every span repeats one template's texts with new ids)",
            bytes as f64 / spans as f64,
            bytes as f64 / (1 << 20) as f64
        );
    }
    if a.redaction != "off" {
        let (_, resp) = conn
            .request("GET", "/v1/stats", &server.key, "application/json", b"")
            .await?;
        let total = serde_json::from_slice::<serde_json::Value>(&resp)
            .ok()
            .and_then(|v| v["redaction"]["redacted_total"].as_u64())
            .unwrap_or(0);
        println!("  values redacted      {total}");
    }
    if status == 503 {
        bail!(
            "the server had not applied everything acknowledged {drained:.0} s after the load (still catching up)"
        );
    }
    if stored < spans {
        bail!(
            "{} acknowledged spans are missing from the store",
            spans - stored
        );
    }
    Ok(())
}

async fn enrich(a: EnrichArgs) -> Result<()> {
    let server = a.common.start_server()?;
    let sessions: Vec<String> = (0..a.sessions.max(1))
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();
    {
        let mut conn = Conn::connect(&server.addr).await?;
        for s in &sessions {
            let body = serde_json::json!({"session": {"session_id": s, "session_name": "bench", "project": "bench"}});
            let (status, resp) = conn
                .request(
                    "POST",
                    "/session/start",
                    &server.key,
                    "application/json",
                    body.to_string().as_bytes(),
                )
                .await?;
            if status != 200 {
                bail!("session start: {status} {}", String::from_utf8_lossy(&resp));
            }
        }
    }
    eprintln!(
        "enrich: {} clients over {} sessions, {} s, durability {}",
        a.clients, a.sessions, a.common.seconds, a.common.durability
    );
    let sessions = Arc::new(sessions);
    let stop = Arc::new(AtomicBool::new(false));
    let cpu_before = server.cpu_by_thread();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..a.clients {
        let (sessions, stop) = (sessions.clone(), stop.clone());
        let (addr, key) = (server.addr.clone(), server.key.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(&addr).await?;
            let mut lat = Vec::new();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let session = &sessions[(c + i) % sessions.len()];
                let body = format!(
                    r#"{{"event_id":"{session}","metadata":{{"client_{c}":{i},"step":"s{i}"}},"metrics":{{"score":{}}}}}"#,
                    (i % 100) as f64 / 100.0
                );
                let t = Instant::now();
                let (status, resp) = conn.request("PUT", "/events", &key, "application/json", body.as_bytes()).await?;
                if status != 200 {
                    bail!("status {status}: {}", String::from_utf8_lossy(&resp));
                }
                lat.push(t.elapsed().as_micros() as u64);
                i += 1;
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(a.common.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = server.cpu_by_thread();
    lat.sort_unstable();
    let (hwm, _) = server.rss_mib();
    println!("enrich results ({elapsed:.1} s)");
    println!(
        "  acknowledged         {} enrichments ({:.0}/s)",
        lat.len(),
        lat.len() as f64 / elapsed
    );
    println!(
        "  latency              p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999),
        percentile(&lat, 1.0)
    );
    println!("  server RSS           peak {hwm:.0} MiB");
    print_cpu(&cpu_before, &cpu_after, lat.len() as u64, "enrichment");
    Ok(())
}

/// One request on a fresh connection whose body is written while the
/// answer is read, as a server may answer (503) before reading the body:
/// (status, time to the status line).
async fn request_early(addr: &str, key: &str, body: Vec<u8>) -> Result<(u16, Duration)> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut rd, mut wr) = stream.into_split();
    let head = format!(
        "POST /opentelemetry/v1/traces HTTP/1.1\r\nhost: bench\r\nauthorization: Bearer {key}\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        // The server may close the connection after an early answer.
        let _ = wr.write_all(head.as_bytes()).await;
        let _ = wr.write_all(&body).await;
        wr
    });
    let mut buf = Vec::with_capacity(256);
    let status = loop {
        let mut chunk = [0u8; 1024];
        let n = rd.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed before an answer");
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(line_end) = find(&buf, b"\r\n") {
            let line = String::from_utf8_lossy(&buf[..line_end]).to_string();
            break line
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse::<u16>().ok())
                .ok_or_else(|| anyhow!("bad status line {line:?}"))?;
        }
    };
    let elapsed = started.elapsed();
    // Read the rest so the connection closes cleanly.
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), rd.read_to_end(&mut rest)).await;
    let _ = writer.await;
    Ok((status, elapsed))
}

async fn overload(a: OverloadArgs) -> Result<()> {
    let template = Arc::new(Template::new(a.batch, 32)?);
    let server = a.common.start_server()?;
    eprintln!(
        "overload: {} senders of {} spans/request ({} KiB), {} s",
        a.senders,
        a.batch,
        template.body.len() / 1024,
        a.common.seconds
    );
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..a.senders {
        let (template, stop, counter) = (template.clone(), stop.clone(), counter.clone());
        let (addr, key) = (server.addr.clone(), server.key.clone());
        tasks.push(tokio::spawn(async move {
            let (mut accepted, mut refused, mut errors) = (Vec::new(), Vec::new(), 0u64);
            while !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                match request_early(&addr, &key, template.instance(n)).await {
                    Ok((200, t)) => accepted.push(t.as_micros() as u64),
                    Ok((503, t)) => {
                        refused.push(t.as_micros() as u64);
                        // A hostile client retries at once.
                        tokio::task::yield_now().await;
                    }
                    Ok((s, _)) => bail!("status {s}"),
                    Err(_) => errors += 1,
                }
            }
            Ok::<_, anyhow::Error>((accepted, refused, errors))
        }));
    }
    let mut peak_sample = 0f64;
    let deadline = started + Duration::from_secs_f64(a.common.seconds);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak_sample = peak_sample.max(server.rss_mib().1);
    }
    stop.store(true, Ordering::Relaxed);
    let (mut accepted, mut refused, mut errors) = (Vec::new(), Vec::new(), 0);
    for t in tasks {
        let (ok, busy, e) = t.await??;
        accepted.extend(ok);
        refused.extend(busy);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    accepted.sort_unstable();
    refused.sort_unstable();
    let (hwm, _) = server.rss_mib();
    let spans = accepted.len() as u64 * a.batch as u64;
    // Drain: how long until every acknowledged span is applied.
    let drain_started = Instant::now();
    let mut conn = Conn::connect(&server.addr).await?;
    let stored = loop {
        let (status, resp) = conn
            .request(
                "POST",
                "/v1/events/export",
                &server.key,
                "application/json",
                br#"{"filters":[{"field":"event_type","operator":"is","value":"model","type":"string"}],"limit":1}"#,
            )
            .await?;
        if status == 200 {
            break serde_json::from_slice::<serde_json::Value>(&resp)
                .ok()
                .and_then(|v| v["totalEvents"].as_u64())
                .unwrap_or(0);
        }
        if drain_started.elapsed() > Duration::from_secs(600) {
            bail!("the server did not catch up in 10 minutes");
        }
    };
    println!("overload results ({elapsed:.1} s)");
    println!(
        "  accepted             {} requests ({spans} spans, {:.0} spans/s), latency p50 {:.1} ms, p99 {:.1} ms",
        accepted.len(),
        spans as f64 / elapsed,
        percentile(&accepted, 0.5),
        percentile(&accepted, 0.99)
    );
    println!(
        "  refused (503)        {} requests, time to the answer p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        refused.len(),
        percentile(&refused, 0.5),
        percentile(&refused, 0.99),
        percentile(&refused, 1.0)
    );
    println!("  transport errors     {errors}");
    println!("  server RSS           peak {hwm:.0} MiB (sampled max {peak_sample:.0} MiB)");
    println!(
        "  caught up after      {:.1} s; stored model events {stored}",
        drain_started.elapsed().as_secs_f64()
    );
    let mut failures = Vec::new();
    if stored < spans {
        failures.push(format!("{} acknowledged spans are missing", spans - stored));
    }
    if let Some(max) = a.max_rss_mb
        && hwm > max
    {
        failures.push(format!("peak RSS {hwm:.0} MiB is over {max} MiB"));
    }
    if let Some(max) = a.max_refusal_p99_ms
        && percentile(&refused, 0.99) > max
    {
        failures.push(format!(
            "p99 time to a 503 {:.1} ms is over {max} ms",
            percentile(&refused, 0.99)
        ));
    }
    if accepted.is_empty() {
        failures.push("no request was accepted".into());
    }
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(())
}
