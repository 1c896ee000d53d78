//! The write path (ADR 0006). Handlers decode and validate, append what the
//! request decided to the [`IngestLog`], and are acknowledged once it is on
//! disk. The applier drains the log into the store in large batches behind
//! them, recording the position it applied in the same transaction, so a
//! restart replays exactly what is missing.
//!
//! - **Back-pressure** is decided from the headers, before a body is read:
//!   past `max_backlog_bytes` of log not yet applied, or when the bodies
//!   being handled already hold `max_inflight_bytes`, a write gets `503`
//!   with `Retry-After`.
//! - **Read-your-writes**: a read first waits (at most `read_wait`) until
//!   everything logged before it arrived is applied, else `503`.
//! - A write that cannot be logged for lack of space gets `507`; nothing of
//!   it stays in the log, and writes resume once space is freed.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hive_core::model::Event;
use hive_store::{PreparedEvent, Store, WriteOp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::ingest_log::format::RecordBuf;
use crate::ingest_log::{AppendError, IngestLog, LogConfig, LogReader, Recovered, Shared};

/// Limits of the write path.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// fsync the log before acknowledging (`--durability full`).
    pub sync: bool,
    /// Size of a log segment file.
    pub segment_bytes: u64,
    /// Log bytes not yet applied past which writes get 503.
    pub max_backlog_bytes: u64,
    /// Bytes of request bodies being handled at once (by their
    /// Content-Length) past which writes get 503.
    pub max_inflight_bytes: usize,
    /// How long a read waits for the writes acknowledged before it.
    pub read_wait: Duration,
    /// Records (and so, for most records, ops) applied in one transaction
    /// at most.
    pub max_batch_ops: usize,
    /// Log bytes read into one transaction at most.
    pub max_batch_bytes: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            sync: true,
            segment_bytes: 64 << 20,
            max_backlog_bytes: 256 << 20,
            max_inflight_bytes: 32 << 20,
            read_wait: Duration::from_secs(10),
            max_batch_ops: 1_000,
            max_batch_bytes: 2 << 20,
        }
    }
}

/// Counters of the write path.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub logged_requests: AtomicU64,
    pub applied_ops: AtomicU64,
    pub transactions: AtomicU64,
    pub rejected_requests: AtomicU64,
    pub disk_full_requests: AtomicU64,
    pub read_timeouts: AtomicU64,
    /// Records that could not be applied and were set aside.
    pub set_aside_records: AtomicU64,
    pub apply_retries: AtomicU64,
}

/// The handle handlers use.
#[derive(Clone)]
pub struct WriteQueue {
    log: IngestLog,
    inflight: Arc<Semaphore>,
    config: WriterConfig,
    closed: Arc<AtomicBool>,
    pub stats: Arc<WriterStats>,
    /// The applier's last error, for `/v1/stats` (cleared once it applies).
    last_error: Arc<std::sync::Mutex<Option<String>>>,
}

/// The writer's threads; [`WriterThreads::join`] waits for them.
pub struct WriterThreads {
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl WriterThreads {
    pub fn join(self) {
        for h in self.handles {
            let _ = h.join();
        }
    }
}

/// A write admitted by [`WriteQueue::admit`]: holds its share of the
/// in-flight budget until dropped.
pub struct Admission {
    _permit: Option<OwnedSemaphorePermit>,
}

/// Units of the in-flight budget (a semaphore counts in `u32`).
const BUDGET_UNIT: usize = 1024;

impl WriteQueue {
    /// Open the log in `dir` (recovering it against the store's applied
    /// position) and start the appender and the applier.
    pub fn open(
        store: Arc<dyn Store>,
        dir: &Path,
        config: WriterConfig,
    ) -> Result<(WriteQueue, Recovered, WriterThreads), String> {
        let applied = store
            .log_position()
            .map_err(|e| format!("cannot read the applied log position: {e}"))?;
        let (log, recovered, appender) = IngestLog::open(
            dir,
            applied,
            LogConfig {
                sync: config.sync,
                segment_bytes: config.segment_bytes,
                ..LogConfig::default()
            },
        )
        .map_err(|e| e.to_string())?;
        if recovered.unapplied_records > 0 {
            tracing::info!(
                records = recovered.unapplied_records,
                bytes = recovered.unapplied_bytes,
                "applying the ingest log where the last run stopped"
            );
        }
        let stats = Arc::new(WriterStats::default());
        let closed = Arc::new(AtomicBool::new(false));
        let last_error = Arc::new(std::sync::Mutex::new(None));
        let applier = crate::applier::start(
            store,
            log.shared.clone(),
            applied,
            config,
            stats.clone(),
            last_error.clone(),
        )
        .map_err(|e| format!("cannot start the applier: {e}"))?;
        let mut handles = vec![appender];
        handles.extend(applier);
        let units = (config.max_inflight_bytes / BUDGET_UNIT).clamp(1, u32::MAX as usize >> 4);
        Ok((
            WriteQueue {
                log,
                inflight: Arc::new(Semaphore::new(units)),
                config,
                closed,
                stats,
                last_error,
            },
            recovered,
            WriterThreads { handles },
        ))
    }

    pub fn log(&self) -> &Shared {
        &self.log.shared
    }

    pub fn config(&self) -> &WriterConfig {
        &self.config
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether [`WriteQueue::close`] was called (the server is stopping).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Stop taking new writes; the applier finishes what is logged (or
    /// stops at `drain`, leaving the rest to the next start).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.log.close();
    }

    /// Decide, from the headers alone, whether a write of `content_length`
    /// bytes (`None`: unknown) may be read.
    pub fn admit(&self, content_length: Option<usize>) -> Result<Admission, ApiError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(ApiError::ShuttingDown);
        }
        let backlog = self.log.shared.backlog_bytes();
        if backlog > self.config.max_backlog_bytes {
            self.stats.rejected_requests.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::Busy(format!(
                "{} MiB of acknowledged writes are waiting to be applied (--max-backlog-mb {})",
                backlog >> 20,
                self.config.max_backlog_bytes >> 20
            )));
        }
        // A body of unknown length (chunked) is charged 256 KiB; one larger
        // than the whole budget takes all of it, so it is never refused
        // forever.
        let bytes = content_length.unwrap_or(256 << 10);
        let total = self.config.max_inflight_bytes / BUDGET_UNIT;
        let units = (bytes / BUDGET_UNIT + 1).clamp(1, total.max(1)) as u32;
        match self.inflight.clone().try_acquire_many_owned(units) {
            Ok(permit) => Ok(Admission {
                _permit: Some(permit),
            }),
            Err(_) => {
                self.stats.rejected_requests.fetch_add(1, Ordering::Relaxed);
                Err(ApiError::Busy(format!(
                    "the request bodies being handled already hold {} MiB (--max-inflight-mb)",
                    self.config.max_inflight_bytes >> 20
                )))
            }
        }
    }

    /// Log ops and wait until they are on disk.
    pub async fn submit(&self, ops: Vec<WriteOp>) -> Result<(), ApiError> {
        if ops.is_empty() {
            return Ok(());
        }
        self.append(encode_ops(&ops)).await?;
        let enrichments = ops
            .iter()
            .filter(|op| matches!(op, WriteOp::Enrich { .. }))
            .count();
        crate::metrics::ingested_ops(ops.len() - enrichments, enrichments);
        Ok(())
    }

    /// Log an OTLP export request (validated by the caller) and wait until
    /// it is on disk.
    pub async fn submit_otlp(&self, header: OtlpHeader, body: Vec<u8>) -> Result<(), ApiError> {
        let record = encode_otlp(&header, &body);
        // Only the record is held while the log writes it.
        drop(body);
        self.append(record).await
    }

    async fn append(&self, record: RecordBuf) -> Result<(), ApiError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(ApiError::ShuttingDown);
        }
        match self.log.append_record(record).await {
            Ok(_) => {
                self.stats.logged_requests.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(AppendError::DiskFull(e)) => {
                self.stats
                    .disk_full_requests
                    .fetch_add(1, Ordering::Relaxed);
                Err(ApiError::DiskFull(format!(
                    "the disk is full: the write was not stored ({e}); retry once space is freed"
                )))
            }
            Err(AppendError::Closed) => Err(ApiError::ShuttingDown),
            Err(AppendError::Io(e)) => Err(ApiError::Internal(format!("ingest log: {e}"))),
        }
    }

    /// Wait at most `limit` for every write logged before now to be
    /// applied; whether it was.
    pub async fn wait_applied_for(&self, limit: Duration) -> bool {
        let shared = &self.log.shared;
        let target = shared.durable_end();
        let mut rx = shared.subscribe_applied();
        matches!(
            tokio::time::timeout(limit, rx.wait_for(|a| *a >= target)).await,
            Ok(Ok(_))
        )
    }

    /// What the dashboard says of the write path, when anything: writes
    /// waiting to be applied, a full disk, a failing store.
    pub fn status_note(&self) -> Option<String> {
        let shared = &self.log.shared;
        if shared.disk_full.load(Ordering::Relaxed) {
            return Some(
                "The disk is full: new writes are refused (507) until space is freed.".into(),
            );
        }
        let lag = self.lag();
        let failing = self
            .last_error()
            .map(|e| format!(" The store is failing: {e}."))
            .unwrap_or_default();
        if lag.records == 0 && failing.is_empty() {
            return None;
        }
        Some(format!(
            "Applying {} acknowledged writes ({} KiB, {:.0} s behind): pages may not show them yet.{failing}",
            lag.records,
            lag.bytes.div_ceil(1024),
            lag.seconds
        ))
    }

    /// Wait until every write logged before now is applied (bounded by
    /// `read_wait`). While the applier cannot apply (the store fails), a
    /// read waits at most a second and gets `503 store_unavailable` naming
    /// the store's error, rather than the whole `read_wait`.
    pub async fn wait_applied(&self) -> Result<(), ApiError> {
        let shared = &self.log.shared;
        let target = shared.durable_end();
        if shared.applied() >= target {
            return Ok(());
        }
        let started = Instant::now();
        let failing_limit = self.config.read_wait.min(Duration::from_secs(1));
        let mut rx = shared.subscribe_applied();
        loop {
            let waited = started.elapsed();
            let failing = self.last_error();
            let limit = if failing.is_some() {
                failing_limit
            } else {
                self.config.read_wait
            };
            if waited >= limit {
                self.stats.read_timeouts.fetch_add(1, Ordering::Relaxed);
                let behind = target.saturating_sub(shared.applied()).div_ceil(1024);
                return Err(match failing {
                    Some(e) => ApiError::StoreUnavailable(format!(
                        "the store is failing ({e}): {behind} KiB of writes acknowledged before \
                         this read are safe in the ingest log and applied once it is back; retry shortly"
                    )),
                    None => ApiError::CatchingUp(format!(
                        "the server is catching up: {behind} KiB of writes acknowledged before this \
                         read are not applied yet after {} ms; retry shortly",
                        self.config.read_wait.as_millis()
                    )),
                });
            }
            // Look at the applier's state again at least every 100 ms.
            let slice = (limit - waited).min(Duration::from_millis(100));
            match tokio::time::timeout(slice, rx.wait_for(|a| *a >= target)).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(_)) => return Err(ApiError::ShuttingDown),
                Err(_) => {}
            }
        }
    }

    /// The lag of the applier.
    pub fn lag(&self) -> Lag {
        let s = &self.log.shared;
        Lag {
            records: s.backlog_records(),
            bytes: s.backlog_bytes(),
            seconds: s.lag().as_secs_f64(),
        }
    }
}

/// How far the applier is behind the log.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Lag {
    pub records: u64,
    pub bytes: u64,
    pub seconds: f64,
}

// ---- Records -------------------------------------------------------------

/// Ops as JSON (logged by hives before records carried their time).
const KIND_OPS: u8 = 1;
const KIND_OTLP: u8 = 2;
/// Ops as JSON after the time they were received (`i64` ms, little-endian).
const KIND_OPS_AT: u8 = 3;

/// An op as logged (JSON): what [`WriteOp`] says, less what is derived.
#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
// Lives only while a record is encoded or decoded.
#[allow(clippy::large_enum_variant)]
enum LoggedOp {
    Event {
        event: Event,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        raw: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_name: Option<String>,
        #[serde(default)]
        join: bool,
        #[serde(default)]
        floating: bool,
    },
    Enrich {
        project_id: String,
        #[serde(default)]
        floating: bool,
        event_id: String,
        patch: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_id: Option<String>,
        received_at_ms: i64,
    },
    Delete {
        project_id: String,
        target: hive_store::DeleteTarget,
    },
}

/// Who sent an OTLP export request and how: what mapping its spans needs
/// besides the body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OtlpHeader {
    /// The project of the caller's key (`None`: an admin key).
    pub key_project: Option<String>,
    /// Where an admin key's spans go when they name no project.
    pub default_project: String,
    pub source: String,
    /// JSON (else protobuf).
    pub json: bool,
    pub received_at_ms: i64,
}

pub(crate) fn encode_ops(ops: &[WriteOp]) -> RecordBuf {
    let logged: Vec<LoggedOp> = ops
        .iter()
        .map(|op| match op {
            WriteOp::Event {
                event,
                raw,
                session_name,
                join,
                floating,
            } => LoggedOp::Event {
                event: event.clone(),
                raw: raw.clone(),
                session_name: session_name.clone(),
                join: *join,
                floating: *floating,
            },
            WriteOp::Prepared(p) => LoggedOp::Event {
                event: p.event.clone(),
                raw: p
                    .raw_text
                    .as_deref()
                    .and_then(|t| serde_json::from_str(t).ok()),
                session_name: p.session_name.clone(),
                join: p.join,
                floating: p.floating,
            },
            WriteOp::Enrich {
                project_id,
                floating,
                event_id,
                patch,
                key_id,
                received_at_ms,
            } => LoggedOp::Enrich {
                project_id: project_id.clone(),
                floating: *floating,
                event_id: event_id.clone(),
                patch: patch.clone(),
                key_id: key_id.clone(),
                received_at_ms: *received_at_ms,
            },
            WriteOp::Delete { project_id, target } => LoggedOp::Delete {
                project_id: project_id.clone(),
                target: target.clone(),
            },
        })
        .collect();
    let mut record = RecordBuf::with_capacity(256);
    let out = record.payload();
    out.push(KIND_OPS_AT);
    out.extend_from_slice(&crate::body::now_ms().to_le_bytes());
    // Serialising plain data into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &logged);
    record
}

fn encode_otlp(header: &OtlpHeader, body: &[u8]) -> RecordBuf {
    let h = serde_json::to_vec(header).unwrap_or_default();
    let mut record = RecordBuf::with_capacity(5 + h.len() + body.len());
    let out = record.payload();
    out.push(KIND_OTLP);
    out.extend_from_slice(&(h.len() as u32).to_le_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(body);
    record
}

/// A logged record, decoded.
pub enum Record<'a> {
    /// The ops, and when they were received (`None`: logged by an older
    /// hive, which did not say).
    Ops(Vec<WriteOp>, Option<i64>),
    Otlp(OtlpHeader, &'a [u8]),
}

/// Decode a record's payload.
pub fn decode_record(payload: &[u8]) -> Result<Record<'_>, String> {
    match payload.first() {
        Some(&kind @ (KIND_OPS | KIND_OPS_AT)) => {
            let (at, json) = if kind == KIND_OPS_AT {
                let at = payload
                    .get(1..9)
                    .ok_or_else(|| "a record of ops is cut short".to_owned())?;
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(at);
                (Some(i64::from_le_bytes(bytes)), &payload[9..])
            } else {
                (None, &payload[1..])
            };
            let logged: Vec<LoggedOp> = serde_json::from_slice(json)
                .map_err(|e| format!("a record of ops does not decode: {e}"))?;
            Ok(Record::Ops(
                logged
                    .into_iter()
                    .map(|op| match op {
                        LoggedOp::Event {
                            event,
                            raw,
                            session_name,
                            join,
                            floating,
                        } => WriteOp::Prepared(Box::new(PreparedEvent::new(
                            event,
                            raw.as_ref(),
                            session_name,
                            join,
                            floating,
                        ))),
                        LoggedOp::Enrich {
                            project_id,
                            floating,
                            event_id,
                            patch,
                            key_id,
                            received_at_ms,
                        } => WriteOp::Enrich {
                            project_id,
                            floating,
                            event_id,
                            patch,
                            key_id,
                            received_at_ms,
                        },
                        LoggedOp::Delete { project_id, target } => {
                            WriteOp::Delete { project_id, target }
                        }
                    })
                    .collect(),
                at,
            ))
        }
        Some(&KIND_OTLP) => {
            let short = || "an OTLP record is cut short".to_owned();
            let len = payload.get(1..5).ok_or_else(short)?;
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let h = payload.get(5..5 + len).ok_or_else(short)?;
            let header: OtlpHeader = serde_json::from_slice(h)
                .map_err(|e| format!("an OTLP record's header does not decode: {e}"))?;
            Ok(Record::Otlp(header, &payload[5 + len..]))
        }
        Some(other) => Err(format!("a record of unknown kind {other}")),
        None => Err("an empty record".into()),
    }
}

/// How long since `since`, for logs.
pub(crate) fn ms_since(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

/// Read the record at `position` again (to set it aside).
pub(crate) fn reread(shared: Arc<Shared>, position: u64) -> Option<Vec<u8>> {
    LogReader::new(shared, position)
        .next_record()
        .ok()
        .flatten()
        .map(|(p, _)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enrich() -> WriteOp {
        WriteOp::Enrich {
            project_id: "p".into(),
            floating: false,
            event_id: "e".into(),
            patch: serde_json::json!({"metadata": {"k": 1}}),
            key_id: None,
            received_at_ms: 7,
        }
    }

    /// Records of ops carry when they were received; those an older hive
    /// logged (without it) still decode.
    #[test]
    fn records_of_ops_say_when_they_were_received() {
        let before = crate::body::now_ms();
        let framed = encode_ops(&[enrich()]).finish();
        let payload = framed[crate::ingest_log::format::RECORD_HEADER..].to_vec();
        let after = crate::body::now_ms();
        match decode_record(&payload).unwrap() {
            Record::Ops(ops, Some(at)) => {
                assert_eq!(ops.len(), 1);
                assert!(before <= at && at <= after, "{before} {at} {after}");
            }
            _ => panic!("ops with their time"),
        }
        // As an older hive logged it: the kind, then the JSON.
        let mut old = vec![KIND_OPS];
        old.extend_from_slice(&payload[9..]);
        match decode_record(&old).unwrap() {
            Record::Ops(ops, None) => assert!(matches!(ops[0], WriteOp::Enrich { .. })),
            _ => panic!("ops without a time"),
        }
        assert!(decode_record(&[KIND_OPS_AT, 1, 2]).is_err());
    }
}
