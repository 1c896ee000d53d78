//! Group commit: request handlers hand batches of ops to one writer thread,
//! which applies many requests in one transaction and answers each request
//! once its data is committed. The queue is bounded by the number of ops
//! waiting; beyond it requests are refused with 503 and `Retry-After`
//! instead of growing memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use hive_store::{Store, WriteOp};
use tokio::sync::{mpsc, oneshot};

use crate::error::ApiError;

/// Limits of the write path.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// Ops waiting (queued, not yet committed) before requests are refused.
    pub max_pending_ops: usize,
    /// Bytes held by waiting ops (estimated) before requests are refused.
    pub max_pending_bytes: usize,
    /// Ops applied in one transaction at most.
    pub max_batch_ops: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_pending_ops: 200_000,
            max_pending_bytes: 128 << 20,
            max_batch_ops: 20_000,
        }
    }
}

struct Job {
    ops: Vec<WriteOp>,
    reply: oneshot::Sender<Result<(), String>>,
}

/// Counters of the write path.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub committed_ops: AtomicU64,
    pub transactions: AtomicU64,
    pub rejected_requests: AtomicU64,
    pub failed_ops: AtomicU64,
}

/// The handle handlers use.
#[derive(Clone)]
pub struct WriteQueue {
    tx: mpsc::UnboundedSender<Job>,
    pending: Arc<AtomicUsize>,
    pending_bytes: Arc<AtomicUsize>,
    closed: Arc<AtomicBool>,
    config: WriterConfig,
    pub stats: Arc<WriterStats>,
}

/// Releases the pending count of a job however it ends.
struct PendingGuard {
    pending: Arc<AtomicUsize>,
    n: usize,
    pending_bytes: Arc<AtomicUsize>,
    bytes: usize,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.pending.fetch_sub(self.n, Ordering::AcqRel);
        self.pending_bytes.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

impl WriteQueue {
    /// Start the writer thread.
    pub fn start(
        store: Arc<dyn Store>,
        config: WriterConfig,
    ) -> (WriteQueue, std::thread::JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(WriterStats::default());
        let thread_stats = stats.clone();
        let handle = std::thread::Builder::new()
            .name("hive-writer".into())
            .spawn(move || run(store, rx, config, thread_stats))
            .unwrap_or_else(|e| panic!("cannot start the writer thread: {e}"));
        (
            WriteQueue {
                tx,
                pending: Arc::new(AtomicUsize::new(0)),
                pending_bytes: Arc::new(AtomicUsize::new(0)),
                closed: Arc::new(AtomicBool::new(false)),
                config,
                stats,
            },
            handle,
        )
    }

    /// Ops waiting now.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Stop taking new writes; the writer finishes what it has and exits
    /// once every handle is dropped.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Submit ops and wait until they are committed.
    pub async fn submit(&self, ops: Vec<WriteOp>) -> Result<(), ApiError> {
        if ops.is_empty() {
            return Ok(());
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(ApiError::ShuttingDown);
        }
        let n = ops.len();
        let bytes: usize = ops.iter().map(WriteOp::approx_bytes).sum();
        let before = self.pending.fetch_add(n, Ordering::AcqRel);
        let bytes_before = self.pending_bytes.fetch_add(bytes, Ordering::AcqRel);
        let guard = PendingGuard {
            pending: self.pending.clone(),
            n,
            pending_bytes: self.pending_bytes.clone(),
            bytes,
        };
        // A request larger than the whole budget is still taken when the
        // queue is empty, so a big batch can never be refused forever.
        let over = before + n > self.config.max_pending_ops
            || bytes_before + bytes > self.config.max_pending_bytes;
        if before > 0 && over {
            self.stats.rejected_requests.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::Busy(1));
        }
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { ops, reply })
            .map_err(|_| ApiError::ShuttingDown)?;
        let result = rx
            .await
            .map_err(|_| ApiError::internal("the writer stopped"))?;
        drop(guard);
        result.map_err(ApiError::Internal)
    }
}

fn run(
    store: Arc<dyn Store>,
    mut rx: mpsc::UnboundedReceiver<Job>,
    config: WriterConfig,
    stats: Arc<WriterStats>,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        let mut n = jobs[0].ops.len();
        while n < config.max_batch_ops {
            match rx.try_recv() {
                Ok(job) => {
                    n += job.ops.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        commit(&*store, jobs, &stats);
    }
    tracing::debug!("writer drained and stopped");
}

fn commit(store: &dyn Store, mut jobs: Vec<Job>, stats: &WriterStats) {
    let mut all: Vec<WriteOp> = Vec::with_capacity(jobs.iter().map(|j| j.ops.len()).sum());
    let mut bounds = Vec::with_capacity(jobs.len());
    for job in &mut jobs {
        bounds.push(job.ops.len());
        all.append(&mut job.ops);
    }
    match store.apply(&all) {
        Ok(()) => {
            stats.transactions.fetch_add(1, Ordering::Relaxed);
            stats
                .committed_ops
                .fetch_add(all.len() as u64, Ordering::Relaxed);
            for job in jobs {
                let _ = job.reply.send(Ok(()));
            }
        }
        Err(e) if jobs.len() > 1 => {
            // Isolate the failing request: commit the others one by one.
            tracing::warn!(error = %e, jobs = jobs.len(), "group commit failed, retrying requests one by one");
            let mut rest = all.into_iter();
            for (mut job, n) in jobs.into_iter().zip(bounds) {
                job.ops = rest.by_ref().take(n).collect();
                commit(store, vec![job], stats);
            }
        }
        Err(e) => {
            stats
                .failed_ops
                .fetch_add(all.len() as u64, Ordering::Relaxed);
            tracing::error!(error = %e, ops = all.len(), "write failed");
            for job in jobs {
                let _ = job.reply.send(Err(e.to_string()));
            }
        }
    }
}
