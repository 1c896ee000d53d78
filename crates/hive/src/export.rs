//! `hive export` and `hive import`: a project's events, with their raw
//! spans and enrichment history, to a JSON Lines file and back, through a
//! running server's HTTP API (so either store works). See ADR 0011.
//!
//! The file (gzip when its name ends in `.gz`):
//!
//! ```text
//! {"hive_export": 1, "hive_version", "exported_at", "source", "project", "filters"}
//! {"event": {...}, "history": [{"seq", "received_at", "key_id", "patch"}, ...], "span": {...}}
//! ...one line per event...
//! {"hive_export_end": {"events": N, "history": H}}
//! ```
//!
//! The closing line makes a file cut short at a line boundary detectable.
//! `hive import` reads the whole file and checks every line first (the same
//! checks as the server), so a damaged or mistyped file imports nothing.

use crate::now_ms;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use hive_core::filter::{Filter, Operator};
use hive_server::import::ImportRecord;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

/// Events asked for per export page: each page by id costs a fixed part
/// (finding the next ids) besides its events, so pages are large (at ten
/// million events on ClickHouse 18.16, 1.3 s for 1 000 events and 2.0 s
/// for 5 000, histories included).
const PAGE: usize = 5000;
/// A request of `hive import` holds at most this many records, or this
/// many bytes of them (the server takes 16 MiB by default).
const BATCH_RECORDS: usize = 1000;
const BATCH_BYTES: usize = 4 << 20;
/// How long a write refused with 503 (the server is busy) is retried.
const BUSY_RETRY: Duration = Duration::from_secs(300);
/// The file format version written and read.
const FORMAT: u64 = 1;

#[derive(Args, Debug)]
pub struct ServerArgs {
    /// The server's URL.
    #[arg(long, env = "HH_API_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An API key: admin, or (export only) the project's read-write key.
    #[arg(long, env = "HH_API_KEY", hide_env_values = true)]
    pub key: String,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The project (name) to export.
    #[arg(long)]
    pub project: String,
    /// Export only events matching this filter (repeatable; all must
    /// match): `FIELD OPERATOR [VALUE]`, e.g. 'metadata.tenant is acme',
    /// 'metrics.score greater than 0.5', 'feedback.rating exists', or the
    /// export API's JSON form '{"field": .., "operator": .., "value": ..,
    /// "type": ..}'.
    #[arg(long = "filter")]
    pub filters: Vec<String>,
    /// The file to write (`.jsonl`, or `.jsonl.gz` for gzip).
    #[arg(long)]
    pub to: PathBuf,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// The file `hive export` wrote (gzip or not).
    #[arg(long)]
    pub from: PathBuf,
    /// The project (name) to import into, created when missing; by default
    /// the project the file was exported from.
    #[arg(long)]
    pub project: Option<String>,
    /// Import into a project that already has events: events with the same
    /// id are replaced, and their history gets the imported entries (again,
    /// if they were imported before).
    #[arg(long)]
    pub force: bool,
}

/// The server's HTTP API.
struct Api {
    agent: ureq::Agent,
    base: String,
    auth: String,
}

impl Api {
    fn new(args: &ServerArgs) -> Api {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .timeout_connect(Some(Duration::from_secs(10)))
            .build();
        Api {
            agent: ureq::Agent::new_with_config(config),
            base: args.url.trim_end_matches('/').to_owned(),
            auth: format!("Bearer {}", args.key.trim()),
        }
    }

    /// POST a JSON body: (status, JSON answer, Retry-After seconds).
    fn post(&self, path: &str, body: &[u8]) -> Result<(u16, Value, Option<u64>)> {
        let url = format!("{}{path}", self.base);
        let mut resp = self
            .agent
            .post(&url)
            .header("authorization", &self.auth)
            .header("content-type", "application/json")
            .send(body)
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        let status = resp.status().as_u16();
        let retry = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let text = resp
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .with_context(|| format!("cannot read the answer of {url}"))?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value, retry))
    }

    /// POST, retrying while the server is busy or catching up (503).
    fn post_patiently(&self, path: &str, body: &[u8]) -> Result<(u16, Value)> {
        let started = Instant::now();
        loop {
            let (status, value, retry) = self.post(path, body)?;
            if status == 503 && started.elapsed() < BUSY_RETRY {
                std::thread::sleep(Duration::from_secs(retry.unwrap_or(1).clamp(1, 10)));
                continue;
            }
            return Ok((status, value));
        }
    }
}

/// The message of an error answer.
fn message(v: &Value) -> String {
    v.pointer("/error/message")
        .or_else(|| v.get("message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| v.to_string())
}

/// Parse `--filter`: JSON, or `FIELD OPERATOR [VALUE]`.
pub fn parse_filter(text: &str) -> Result<Value> {
    let text = text.trim();
    let value = if text.starts_with('{') {
        serde_json::from_str(text).map_err(|e| anyhow!("--filter {text:?}: invalid JSON: {e}"))?
    } else {
        let (field, rest) = text
            .split_once(char::is_whitespace)
            .ok_or_else(|| anyhow!("--filter {text:?}: expected FIELD OPERATOR [VALUE]"))?;
        let rest = rest.trim_start();
        let lower = rest.to_ascii_lowercase();
        // Longest first: "is not" before "is", "not exists" before ...
        let mut names: Vec<&str> = Operator::ALL.iter().map(|o| o.name()).collect();
        names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        let op = names
            .into_iter()
            .find(|n| {
                lower.starts_with(n)
                    && lower[n.len()..]
                        .chars()
                        .next()
                        .is_none_or(char::is_whitespace)
            })
            .ok_or_else(|| {
                anyhow!(
                    "--filter {text:?}: no operator after {field:?}; use one of: {}",
                    Operator::ALL.map(|o| o.name()).join(", ")
                )
            })?;
        let raw = rest[op.len()..].trim();
        let value = if raw.is_empty() {
            Value::Null
        } else if let Some(s) = raw
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .or_else(|| raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
        {
            Value::String(s.to_owned())
        } else {
            match serde_json::from_str::<Value>(raw) {
                Ok(v @ (Value::Number(_) | Value::Bool(_))) => v,
                _ => Value::String(raw.to_owned()),
            }
        };
        json!({"field": field, "operator": op, "value": value})
    };
    Filter::from_json(&value).map_err(|e| anyhow!("--filter {text:?}: {e}"))?;
    Ok(value)
}

fn progress(len: u64, what: &str) -> ProgressBar {
    // Drawn on stderr, and not at all when it is not a terminal.
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{{spinner}} {what} [{{bar:30}}] {{pos}}/{{len}} events, {{elapsed}} ({{eta}} left)"
    )) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn is_gz(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// A writer that counts bytes.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// `hive export`.
pub fn export(args: ExportArgs) -> Result<()> {
    let started = Instant::now();
    let filters = args
        .filters
        .iter()
        .map(|f| parse_filter(f))
        .collect::<Result<Vec<_>>>()?;
    let api = Api::new(&args.server);
    let partial = PathBuf::from(format!("{}.partial", args.to.display()));
    let file =
        File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let sink: Box<dyn Write> = if is_gz(&args.to) {
        Box::new(flate2::write::GzEncoder::new(
            BufWriter::new(file),
            flate2::Compression::default(),
        ))
    } else {
        Box::new(BufWriter::new(file))
    };
    let mut out = Counting {
        inner: sink,
        bytes: 0,
    };
    let result = (|| -> Result<(u64, u64, u64, u64)> {
        let header = json!({
            "hive_export": FORMAT,
            "hive_version": env!("CARGO_PKG_VERSION"),
            "exported_at": now_ms(),
            "source": api.base,
            "project": args.project,
            "filters": filters,
        });
        serde_json::to_writer(&mut out, &header)?;
        out.write_all(b"\n")?;
        let bar = progress(0, "exporting");
        let (mut events, mut sessions, mut history, mut spans) = (0u64, 0u64, 0u64, 0u64);
        // How many match, for the progress bar: a page of one, counted.
        let count = json!({"project": args.project, "filters": filters, "limit": 1});
        let (status, v) = api.post_patiently("/v1/events/export", count.to_string().as_bytes())?;
        if status != 200 {
            bail!("the server refused the export ({status}): {}", message(&v));
        }
        bar.set_length(v["totalEvents"].as_u64().unwrap_or(0));
        // Then pages by event id, each after the last id of the one before:
        // each costs about its own size, where a page at an offset reads
        // every event before it (hours per page at ten million events).
        let mut after = String::new();
        loop {
            let body = json!({
                "project": args.project,
                "filters": filters,
                "limit": PAGE,
                "after": after,
                "include": ["history", "span"],
            });
            let (status, v) =
                api.post_patiently("/v1/events/export", body.to_string().as_bytes())?;
            if status != 200 {
                bail!("the server refused the export ({status}): {}", message(&v));
            }
            let page_events = v["events"].as_array().cloned().unwrap_or_default();
            for e in page_events {
                let id = e["event_id"].as_str().unwrap_or_default().to_owned();
                let h = v["history"].get(&id).cloned().unwrap_or(json!([]));
                let span = v["spans"].get(&id).cloned().unwrap_or(Value::Null);
                history += h.as_array().map_or(0, |a| a.len() as u64);
                spans += u64::from(!span.is_null());
                if e["event_type"] == "session" && e["event_id"] == e["session_id"] {
                    sessions += 1;
                }
                serde_json::to_writer(&mut out, &json!({"event": e, "history": h, "span": span}))?;
                out.write_all(b"\n")?;
                events += 1;
                bar.inc(1);
            }
            match v.get("next") {
                Some(Value::String(next)) => next.clone_into(&mut after),
                Some(Value::Null) => break,
                _ => bail!(
                    "the server does not page an export by event id (`after`); \
                     upgrade it to export from it"
                ),
            }
        }
        serde_json::to_writer(
            &mut out,
            &json!({"hive_export_end": {"events": events, "history": history}}),
        )?;
        out.write_all(b"\n")?;
        bar.finish_and_clear();
        Ok((events, sessions, history, spans))
    })();
    let (events, sessions, history, spans) = match result {
        Ok(counts) => counts,
        Err(e) => {
            drop(out);
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    let text_bytes = out.bytes;
    let mut sink = out.inner;
    sink.flush()?;
    drop(sink);
    std::fs::rename(&partial, &args.to)
        .with_context(|| format!("cannot write {}", args.to.display()))?;
    let file_bytes = std::fs::metadata(&args.to)?.len();
    eprintln!(
        "exported {events} events ({sessions} sessions, {history} history entries, {spans} spans) \
         of project {:?} to {}: {:.1} MiB{}, {:.1} s",
        args.project,
        args.to.display(),
        file_bytes as f64 / (1 << 20) as f64,
        if is_gz(&args.to) {
            format!(" ({:.1} MiB of JSON)", text_bytes as f64 / (1 << 20) as f64)
        } else {
            String::new()
        },
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Open an export file, gunzipping it when it is gzip (by its first bytes).
fn open_lines(path: &Path) -> Result<Box<dyn BufRead>> {
    let mut f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut magic = [0u8; 2];
    let n = f.read(&mut magic)?;
    let f = File::open(path)?;
    Ok(if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::read::MultiGzDecoder::new(BufReader::new(f)),
        ))
    } else {
        Box::new(BufReader::with_capacity(1 << 20, f))
    })
}

/// Each line of an export file in turn: (line number, text). A line that
/// cannot be read (a damaged gzip stream, not UTF-8) is an error naming it.
fn for_each_line(path: &Path, mut f: impl FnMut(usize, &str) -> Result<bool>) -> Result<()> {
    let mut reader = open_lines(path)?;
    let mut line = String::new();
    for n in 1.. {
        line.clear();
        let read = reader
            .read_line(&mut line)
            .map_err(|e| anyhow!("{}: line {n} cannot be read: {e}", path.display()))?;
        if read == 0 {
            return Ok(());
        }
        if !f(n, line.trim_end_matches(['\n', '\r']))? {
            return Ok(());
        }
    }
    Ok(())
}

/// What the first pass over an import file found.
struct Checked {
    project: String,
    /// The closing line's number.
    end_line: usize,
    events: u64,
    sessions: u64,
    history: u64,
}

/// Read the whole file and check every line as the server will.
fn check_file(path: &Path) -> Result<Checked> {
    let nothing = "nothing was imported";
    let mut header: Option<Value> = None;
    let mut end: Option<(usize, Value)> = None;
    let mut ids: HashMap<String, usize> = HashMap::new();
    let (mut events, mut sessions, mut history) = (0u64, 0u64, 0u64);
    for_each_line(path, |n, text| {
        if let Some((end_line, _)) = &end {
            if text.trim().is_empty() {
                return Ok(true);
            }
            bail!(
                "{}: line {n} follows the closing line ({end_line}); {nothing}",
                path.display()
            );
        }
        let v: Value = serde_json::from_str(text).map_err(|e| {
            anyhow!(
                "{}: line {n} is not valid JSON ({e}): the file is damaged or cut short; {nothing}",
                path.display()
            )
        })?;
        if header.is_none() {
            match v.get("hive_export").and_then(Value::as_u64) {
                Some(FORMAT) => {}
                Some(other) => bail!(
                    "{}: an export of format {other} (this hive reads {FORMAT}); {nothing}",
                    path.display()
                ),
                None => bail!(
                    "{}: line 1 is not the header of a hive export (no \"hive_export\"); {nothing}",
                    path.display()
                ),
            }
            header = Some(v);
            return Ok(true);
        }
        if let Some(e) = v.get("hive_export_end") {
            end = Some((n, e.clone()));
            return Ok(true);
        }
        let record = ImportRecord::parse(&v, "-")
            .map_err(|e| anyhow!("{}: line {n}: {e}; {nothing}", path.display()))?;
        if let Some(first) = ids.insert(record.event.event_id.clone(), n) {
            bail!(
                "{}: line {n}: event {:?} is also on line {first}; {nothing}",
                path.display(),
                record.event.event_id
            );
        }
        events += 1;
        history += record.history.len() as u64;
        if record.event.is_session() && record.event.event_id == record.event.session_id {
            sessions += 1;
        }
        Ok(true)
    })
    .map_err(|e| {
        let text = e.to_string();
        if text.contains(nothing) {
            e
        } else {
            anyhow!("{text}; {nothing}")
        }
    })?;
    let header = header.ok_or_else(|| anyhow!("{} is empty; {nothing}", path.display()))?;
    let Some((end_line, end)) = end else {
        bail!(
            "{} ends without its closing line (hive_export_end): it was cut short; {nothing}",
            path.display()
        );
    };
    if end["events"].as_u64() != Some(events) || end["history"].as_u64() != Some(history) {
        bail!(
            "{}: its closing line counts {} events and {} history entries, the file holds \
             {events} and {history}; {nothing}",
            path.display(),
            end["events"],
            end["history"]
        );
    }
    Ok(Checked {
        project: header["project"].as_str().unwrap_or_default().to_owned(),
        end_line,
        events,
        sessions,
        history,
    })
}

/// `hive import`.
pub fn import(args: ImportArgs) -> Result<()> {
    let started = Instant::now();
    let checked = check_file(&args.from)?;
    let project = args
        .project
        .clone()
        .unwrap_or_else(|| checked.project.clone());
    if project.trim().is_empty() {
        bail!("the file names no project: pass --project");
    }
    let api = Api::new(&args.server);
    // Into an empty (or new) project, unless told.
    let probe = json!({"project": project, "limit": 1});
    let (status, v) = api.post_patiently("/v1/events/export", probe.to_string().as_bytes())?;
    match status {
        200 => {
            let n = v["totalEvents"].as_u64().unwrap_or(0);
            if n > 0 && !args.force {
                bail!(
                    "project {project:?} already has {n} events: import into a new project \
                     (--project NAME), or pass --force to add to it (events with the same id are \
                     replaced, and their history gets the imported entries)"
                );
            }
        }
        404 => {}
        _ => bail!(
            "cannot look at project {project:?} ({status}): {}",
            message(&v)
        ),
    }

    let bar = progress(checked.events, "importing");
    let mut batch: Vec<u8> = Vec::new();
    let mut batch_records = 0usize;
    let mut batch_first_line = 0usize;
    let mut imported = 0u64;
    let mut last_imported_line = 1usize;
    let mut bytes = 0u64;
    let send = |batch: &mut Vec<u8>,
                records: &mut usize,
                first_line: usize,
                last_line: usize,
                imported: &mut u64,
                last_imported_line: &mut usize|
     -> Result<()> {
        if *records == 0 {
            return Ok(());
        }
        let mut body = Vec::with_capacity(batch.len() + 64);
        body.extend_from_slice(b"{\"project\":");
        serde_json::to_writer(&mut body, &project)?;
        body.extend_from_slice(b",\"records\":[");
        body.extend_from_slice(batch);
        body.extend_from_slice(b"]}");
        let (status, v) = api.post_patiently("/v1/import", &body)?;
        if status != 200 {
            let done = if *imported == 0 {
                "nothing was imported".to_owned()
            } else {
                format!(
                    "lines 2-{last_imported_line} ({imported} events) were imported into \
                     {project:?}, nothing after them"
                )
            };
            bail!(
                "the server refused lines {first_line}-{last_line} ({status}): {}; {done}",
                message(&v)
            );
        }
        *imported += *records as u64;
        *last_imported_line = last_line;
        bar.inc(*records as u64);
        batch.clear();
        *records = 0;
        Ok(())
    };
    let mut last_line = 1usize;
    for_each_line(&args.from, |n, text| {
        bytes += text.len() as u64 + 1;
        if n >= checked.end_line {
            return Ok(false);
        }
        if n == 1 || text.trim().is_empty() {
            return Ok(true);
        }
        if batch_records > 0
            && (batch_records >= BATCH_RECORDS || batch.len() + text.len() > BATCH_BYTES)
        {
            send(
                &mut batch,
                &mut batch_records,
                batch_first_line,
                last_line,
                &mut imported,
                &mut last_imported_line,
            )?;
        }
        if batch_records == 0 {
            batch_first_line = n;
        } else {
            batch.push(b',');
        }
        batch.extend_from_slice(text.as_bytes());
        batch_records += 1;
        last_line = n;
        Ok(true)
    })?;
    send(
        &mut batch,
        &mut batch_records,
        batch_first_line,
        last_line,
        &mut imported,
        &mut last_imported_line,
    )?;
    bar.finish_and_clear();
    eprintln!(
        "imported {imported} events ({} sessions, {} history entries) into project {project:?} \
         from {}: {:.1} MiB of JSON, {:.1} s",
        checked.sessions,
        checked.history,
        args.from.display(),
        bytes as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
