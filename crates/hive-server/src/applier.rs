//! The applier: drains the ingest log into the store (ADR 0006).
//!
//! Two threads form a pipeline. The reader reads records in order from the
//! position the store applied, decodes them (OTLP records are decoded and
//! mapped to events here, off the request path) into batches of thousands
//! of ops; the applier applies each batch in one transaction that also
//! records the log position it reaches. Failures the environment causes
//! (disk full, I/O, locks) are retried with backoff and never skip
//! anything; a record the store refuses for its content is set aside in
//! `rejected/` beside the log, with the reason, and reported.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hive_store::{LogRecord, Store, StoreError, WriteOp};

use crate::ingest_log::{LogReader, Shared};
use crate::writer::{OtlpHeader, Record, WriterConfig, WriterStats, decode_record, reread};

/// A batch of records, decoded.
struct Batch {
    ops: Vec<WriteOp>,
    /// Per record: its start and end positions, where its ops end in `ops`
    /// and when it was received.
    records: Vec<LogRecord>,
}

/// Start the reader and applier threads from position `from`.
pub fn start(
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    from: u64,
    config: WriterConfig,
    stats: Arc<WriterStats>,
    last_error: Arc<Mutex<Option<String>>>,
) -> io::Result<Vec<std::thread::JoinHandle<()>>> {
    // A rendezvous: the reader prepares the next batch while the applier
    // applies one, and no more are held (memory stays bounded).
    let (tx, rx) = sync_channel::<Batch>(0);
    let reader = {
        let (store, shared, stats, last_error) = (
            store.clone(),
            shared.clone(),
            stats.clone(),
            last_error.clone(),
        );
        std::thread::Builder::new()
            .name("hive-log-read".into())
            .spawn(move || read_loop(store, shared, from, config, tx, stats, last_error))?
    };
    let applier = std::thread::Builder::new()
        .name("hive-applier".into())
        .spawn(move || apply_loop(store, shared, rx, stats, last_error))?;
    Ok(vec![reader, applier])
}

fn set_error(last_error: &Mutex<Option<String>>, e: Option<String>) {
    *last_error.lock().unwrap_or_else(|e| e.into_inner()) = e;
}

/// Why a record could not be turned into ops.
enum Failure {
    /// The store failed (retry later).
    Transient(String),
    /// The record itself is wrong (set it aside).
    Permanent(String),
}

/// Projects named by spans of admin keys, resolved (and created) once.
struct Projects {
    store: Arc<dyn Store>,
    by_name: HashMap<String, String>,
}

impl Projects {
    fn resolve(&mut self, header: &OtlpHeader, named: Option<&str>) -> Result<String, StoreError> {
        if let Some(p) = &header.key_project {
            return Ok(p.clone());
        }
        match named.map(str::trim).filter(|n| !n.is_empty()) {
            None => Ok(header.default_project.clone()),
            Some(name) => {
                if let Some(id) = self.by_name.get(name) {
                    return Ok(id.clone());
                }
                let id = self.store.auth().ensure_project(name)?.id;
                if self.by_name.len() > 10_000 {
                    self.by_name.clear();
                }
                self.by_name.insert(name.to_owned(), id.clone());
                Ok(id)
            }
        }
    }
}

/// A record's ops, and when it was received.
type Prepared = (Vec<WriteOp>, Option<i64>);

fn to_ops(payload: &[u8], projects: &mut Projects) -> Result<Prepared, Failure> {
    match decode_record(payload).map_err(Failure::Permanent)? {
        Record::Ops(ops, at) => Ok((ops, at)),
        Record::Otlp(header, body) => {
            let encoding = if header.json {
                hive_otlp::Encoding::Json
            } else {
                hive_otlp::Encoding::Protobuf
            };
            let spans = hive_otlp::decode_traces(body, encoding)
                .map_err(|e| Failure::Permanent(format!("OTLP record: {e}")))?;
            crate::otlp::spans_to_ops(&spans, &header.source, header.key_project.is_none(), |n| {
                projects.resolve(&header, n)
            })
            .map(|ops| (ops, Some(header.received_at_ms)))
            .map_err(|e| {
                if e.is_transient() {
                    Failure::Transient(e.to_string())
                } else {
                    Failure::Permanent(e.to_string())
                }
            })
        }
    }
}

fn read_loop(
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    from: u64,
    config: WriterConfig,
    tx: SyncSender<Batch>,
    stats: Arc<WriterStats>,
    last_error: Arc<Mutex<Option<String>>>,
) {
    let mut reader = LogReader::new(shared.clone(), from);
    let mut projects = Projects {
        store,
        by_name: HashMap::new(),
    };
    let mut warned = Instant::now() - Duration::from_secs(60);
    loop {
        // Read a batch of records (cheap)...
        let mut raw: Vec<(u64, u64, Vec<u8>)> = Vec::new();
        let mut bytes = 0usize;
        while raw.len() < config.max_batch_ops && bytes < config.max_batch_bytes {
            let start = reader.position();
            match reader.next_record() {
                Ok(Some((payload, end))) => {
                    bytes += payload.len();
                    raw.push((start, end, payload));
                }
                Ok(None) => {
                    if !raw.is_empty() {
                        break;
                    }
                    if shared.is_closed() && reader.position() >= shared.durable_end() {
                        return;
                    }
                    shared.wait_beyond(reader.position(), Duration::from_millis(200));
                }
                Err(e) => {
                    if warned.elapsed() > Duration::from_secs(10) {
                        tracing::error!(error = %e, "cannot read the ingest log, retrying");
                        warned = Instant::now();
                    }
                    set_error(&last_error, Some(e.to_string()));
                    reader = LogReader::new(shared.clone(), start);
                    if !raw.is_empty() {
                        break;
                    }
                    if shared.is_closed() {
                        return;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
        // ...then decode and map them (OTLP mapping is most of the CPU of a
        // span), in log order.
        let prepared = prepare_all(&raw, &mut projects);
        if projects.store.derives_ahead() {
            for ops in prepared.iter().flatten() {
                for op in &ops.0 {
                    if let WriteOp::Prepared(p) = op {
                        p.prepare();
                    }
                }
            }
        }
        let mut batch = Batch {
            ops: Vec::new(),
            records: Vec::new(),
        };
        for ((start, end, payload), result) in raw.iter().zip(prepared) {
            let record = |upto, received_at_ms| LogRecord {
                start: *start,
                end: *end,
                upto,
                received_at_ms,
            };
            match result {
                Ok((ops, at)) => {
                    batch.ops.extend(ops);
                    batch.records.push(record(batch.ops.len(), at));
                }
                Err(Failure::Permanent(reason)) => {
                    set_aside(&shared, *start, payload, &reason);
                    stats.set_aside_records.fetch_add(1, Ordering::Relaxed);
                    batch.records.push(record(batch.ops.len(), None));
                }
                Err(Failure::Transient(e)) => {
                    // This record and those after it are read again.
                    if warned.elapsed() > Duration::from_secs(10) {
                        tracing::warn!(error = %e, "cannot prepare logged writes, retrying");
                        warned = Instant::now();
                    }
                    set_error(&last_error, Some(e));
                    reader = LogReader::new(shared.clone(), *start);
                    if batch.records.is_empty() {
                        std::thread::sleep(Duration::from_millis(500));
                    }
                    break;
                }
            }
        }
        if !batch.records.is_empty() && tx.send(batch).is_err() {
            return;
        }
    }
}

/// [`to_ops`] of every record, in order. (Mapping on several threads was
/// tried: no faster on two cores shared with the applier and the handlers,
/// and 30-50 MiB more memory held.)
fn prepare_all(
    raw: &[(u64, u64, Vec<u8>)],
    projects: &mut Projects,
) -> Vec<Result<Prepared, Failure>> {
    raw.iter().map(|r| to_ops(&r.2, projects)).collect()
}

fn apply_loop(
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    rx: Receiver<Batch>,
    stats: Arc<WriterStats>,
    last_error: Arc<Mutex<Option<String>>>,
) {
    let applier = Applier {
        store,
        shared,
        stats,
        last_error,
    };
    // Said in the log while the applier is far behind (at most once a
    // minute), and once when it has caught up.
    let mut behind_since: Option<Instant> = None;
    let mut said = Instant::now() - Duration::from_secs(3600);
    for batch in rx {
        if !applier.apply(&batch.ops, &batch.records) {
            tracing::info!(
                "the applier stopped with writes left in the log (applied at the next start)"
            );
            return;
        }
        let lag = applier.shared.lag();
        if lag >= Duration::from_secs(10) {
            behind_since.get_or_insert_with(Instant::now);
            if said.elapsed() >= Duration::from_secs(60) {
                said = Instant::now();
                tracing::warn!(
                    seconds = lag.as_secs(),
                    records = applier.shared.backlog_records(),
                    mib = applier.shared.backlog_bytes() >> 20,
                    "the store is behind the ingest log"
                );
            }
        } else if lag < Duration::from_secs(1)
            && let Some(since) = behind_since.take()
            && said.elapsed() < Duration::from_secs(3600)
        {
            tracing::info!(
                after_s = since.elapsed().as_secs(),
                "the store has caught up with the ingest log"
            );
        }
    }
    tracing::debug!("applier drained and stopped");
}

struct Applier {
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    stats: Arc<WriterStats>,
    last_error: Arc<Mutex<Option<String>>>,
}

impl Applier {
    /// Apply records (their ops, in order) in one transaction; when the
    /// store refuses the batch for its content, each half apart, down to
    /// the record at fault, which is set aside.
    /// False when it gave up because the server is stopping.
    fn apply(&self, ops: &[WriteOp], records: &[LogRecord]) -> bool {
        let Some(end) = records.last().map(|r| r.end) else {
            return true;
        };
        let started = Instant::now();
        let mut delay = Duration::from_millis(50);
        let mut warned: Option<Instant> = None;
        loop {
            match self.store.apply_log_records(ops, records) {
                Ok(()) => {
                    self.stats.transactions.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .applied_ops
                        .fetch_add(ops.len() as u64, Ordering::Relaxed);
                    self.shared.set_applied(end, records.len() as u64);
                    if warned.is_some() {
                        tracing::info!(
                            ms = crate::writer::ms_since(started),
                            "the store accepts writes again"
                        );
                    }
                    // Whatever failed before (here or in the reader) is over.
                    set_error(&self.last_error, None);
                    return true;
                }
                Err(e) if e.is_transient() => {
                    self.stats.apply_retries.fetch_add(1, Ordering::Relaxed);
                    if warned.is_none_or(|w| w.elapsed() > Duration::from_secs(10)) {
                        tracing::warn!(error = %e, "cannot apply logged writes to the store, retrying (they are safe in the log)");
                        warned = Some(Instant::now());
                    }
                    set_error(&self.last_error, Some(e.to_string()));
                    if self.shared.is_closed() && started.elapsed() > Duration::from_secs(5) {
                        return false;
                    }
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) if records.len() > 1 => {
                    // Split in halves down to the record at fault: a few
                    // statements per bad record rather than one per record.
                    tracing::warn!(error = %e, records = records.len(), "the store refused a batch of logged writes for its content; splitting it");
                    let half = records.len() / 2;
                    let cut = records[half - 1].upto;
                    let first: Vec<LogRecord> = records[..half].to_vec();
                    let second: Vec<LogRecord> = records[half..]
                        .iter()
                        .map(|r| LogRecord {
                            upto: r.upto - cut,
                            ..*r
                        })
                        .collect();
                    return self.apply(&ops[..cut], &first) && self.apply(&ops[cut..], &second);
                }
                Err(e) => {
                    let r = records[0];
                    let payload = reread(self.shared.clone(), r.start).unwrap_or_default();
                    set_aside(&self.shared, r.start, &payload, &e.to_string());
                    self.stats.set_aside_records.fetch_add(1, Ordering::Relaxed);
                    // Record that it is dealt with.
                    return self.apply(&[], &[LogRecord { upto: 0, ..r }]);
                }
            }
        }
    }
}

/// Keep a record the store cannot take in `rejected/` beside the log: the
/// payload as logged and why.
fn set_aside(shared: &Shared, position: u64, payload: &[u8], reason: &str) {
    let dir = shared.dir().join("rejected");
    let write = |dir: &Path| -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join(format!("{position:020}.record")), payload)?;
        std::fs::write(dir.join(format!("{position:020}.reason.txt")), reason)?;
        Ok(())
    };
    match write(&dir) {
        Ok(()) => tracing::error!(
            position,
            %reason,
            kept = %dir.display(),
            "a logged write cannot be applied; it is kept aside"
        ),
        Err(e) => tracing::error!(
            position,
            %reason,
            error = %e,
            "a logged write cannot be applied, and cannot be kept aside either"
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use hive_store::sqlite::{SqliteOptions, SqliteStore};
    use hive_store::{Store, WriteOp};
    use serde_json::json;

    use crate::ingest_log::{IngestLog, LogConfig, format::RecordBuf};
    use crate::writer::{WriterConfig, WriterStats, encode_ops};

    fn enrich(key: &str) -> WriteOp {
        WriteOp::Enrich {
            project_id: "p".into(),
            floating: false,
            event_id: "e1".into(),
            patch: json!({"metadata": {key: 1}}),
            key_id: None,
            received_at_ms: 1,
        }
    }

    #[test]
    fn a_record_that_cannot_be_applied_is_set_aside_and_the_rest_applied() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(dir.path().join("hive.db"), SqliteOptions::default()).unwrap(),
        );
        let log_dir = dir.path().join("log");
        let (log, _, appender) = IngestLog::open(&log_dir, 0, LogConfig::default()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            log.append_record(encode_ops(&[enrich("before")]))
                .await
                .unwrap();
            let mut bad = RecordBuf::with_capacity(8);
            bad.payload().extend_from_slice(b"\x01not json");
            log.append_record(bad).await.unwrap();
            log.append_record(encode_ops(&[enrich("after")]))
                .await
                .unwrap();
        });
        let stats = Arc::new(WriterStats::default());
        let threads = super::start(
            store.clone(),
            log.shared.clone(),
            0,
            WriterConfig::default(),
            stats.clone(),
            Arc::new(std::sync::Mutex::new(None)),
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while log.shared.applied() < log.shared.durable_end() {
            assert!(
                Instant::now() < deadline,
                "the applier did not pass the bad record"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let history = store.history(Some("p"), "e1").unwrap();
        assert_eq!(history.len(), 2, "both good records applied: {history:?}");
        assert_eq!(
            stats
                .set_aside_records
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        let kept: Vec<String> = std::fs::read_dir(log_dir.join("rejected"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(kept.len(), 2, "{kept:?}");
        let reason = std::fs::read_to_string(
            log_dir
                .join("rejected")
                .join(kept.iter().find(|k| k.ends_with(".txt")).unwrap()),
        )
        .unwrap();
        assert!(reason.contains("does not decode"), "{reason}");
        log.close();
        drop(log);
        for t in threads {
            t.join().unwrap();
        }
        appender.join().unwrap();
    }
}
