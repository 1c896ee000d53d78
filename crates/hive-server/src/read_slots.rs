//! How many reads that pass over a project (lists, counts, charts,
//! exports) a node runs at once: `hive serve --max-concurrent-reads`.
//!
//! Such a read holds memory in proportion to what it reads (on ClickHouse,
//! a chart keeps a number per event and each session waiting for its
//! rollup; about 1 GB at ten million events), and two cores do no more
//! work with sixteen of them at once than with two: sixteen charts sent
//! together at a million events held 1.3 GB and all answered after about
//! 65 s, where each alone takes 4 s. The rest wait, first come first
//! served, for at most `--read-queue-secs`, then answer `503 busy` with
//! `Retry-After`; a read whose client goes away while it waits leaves the
//! queue. Background work (alert rounds, retention, deletion) is not
//! counted: each runs one read at a time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// Reads at once when not configured: the cores, and at least 4 (a
/// dashboard page asks for its list, its count and its charts together).
pub fn default_max() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get().max(4))
}

/// How long a read waits for a slot when not configured.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// The slots, and what waits for them.
pub struct ReadSlots {
    slots: Arc<Semaphore>,
    max: usize,
    wait: Duration,
    waiting: AtomicUsize,
    refused: AtomicU64,
}

impl Default for ReadSlots {
    fn default() -> ReadSlots {
        ReadSlots::new(default_max(), DEFAULT_WAIT)
    }
}

/// Counts a read among those waiting while it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ReadSlots {
    /// `max` reads at once (at least 1); the others wait up to `wait`.
    pub fn new(max: usize, wait: Duration) -> ReadSlots {
        let max = max.max(1);
        ReadSlots {
            slots: Arc::new(Semaphore::new(max)),
            max,
            wait,
            waiting: AtomicUsize::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// A slot, held until the permit is dropped; `Busy` when none came
    /// free within the wait.
    pub async fn acquire(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(ApiError::ShuttingDown),
            Err(_) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Err(ApiError::Busy(format!(
                    "all {} of this node's read slots (--max-concurrent-reads) stayed taken \
                     by lists, counts, charts or exports for the {} s this read waited \
                     (--read-queue-secs), with {} more waiting",
                    self.max,
                    self.wait.as_secs_f64(),
                    self.waiting().saturating_sub(1)
                )))
            }
        }
    }

    /// Reads running now.
    pub fn running(&self) -> usize {
        self.max - self.slots.available_permits().min(self.max)
    }

    /// Reads waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Reads refused after waiting, since the start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Reads at once.
    pub fn max(&self) -> usize {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_past_the_slots_wait_in_turn_then_are_refused() {
        let slots = Arc::new(ReadSlots::new(2, Duration::from_millis(200)));
        let a = slots.acquire().await.unwrap();
        let b = slots.acquire().await.unwrap();
        assert_eq!((slots.running(), slots.waiting()), (2, 0));
        // A third waits, and runs when a slot comes free.
        let waiter = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.acquire().await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(slots.waiting(), 1);
        drop(a);
        waiter.await.unwrap().unwrap();
        assert_eq!(slots.waiting(), 0);
        // With both taken past the wait: busy, counted, and out of the
        // queue.
        let c = slots.acquire().await.unwrap();
        let err = slots.acquire().await.unwrap_err();
        assert!(matches!(err, ApiError::Busy(_)), "{err}");
        assert!(err.to_string().contains("--max-concurrent-reads"), "{err}");
        assert_eq!((slots.refused(), slots.waiting()), (1, 0));
        // A waiter whose caller goes away leaves the queue.
        let gone = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.acquire().await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(slots.waiting(), 1);
        gone.abort();
        let _ = gone.await;
        assert_eq!(slots.waiting(), 0);
        drop((b, c));
        assert_eq!(slots.running(), 0);
    }
}
