//! Keeping what the store derives from its writes for wide reads up to
//! date ([`hive_store::Store::compact`]; on ClickHouse, every event's
//! state: ADR 0028), in the background, on every node. A compaction that
//! fails is tried again at the next round; reads meanwhile resolve what
//! the last one did not cover, and grow slower the longer that is: so each
//! round also reads when the newest compaction was recorded by any node
//! ([`hive_store::Store::compacted_at`]), for `/metrics`
//! (`hive_state_last_compaction_timestamp_seconds`) and `/v1/stats`.

use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::SharedState;

/// What this node's compactions did, for `/v1/stats` (`state`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompactionStatus {
    /// When the newest compaction was recorded, by any node (ms since the
    /// epoch); `None` before the first, or where the store keeps nothing
    /// to compact (SQLite, a ClickHouse cluster).
    pub newest_at: Option<i64>,
    /// Compactions (builds among them) this node made since it started.
    pub compactions: u64,
    /// Builds of the whole state (the first, or after a format change).
    pub builds: u64,
    /// Rounds that failed (tried again at the next).
    pub failures: u64,
    /// This node's last compaction.
    pub last: Option<LastCompaction>,
    /// The last round's error, until a round succeeds.
    pub last_error: Option<String>,
}

/// A compaction this node made.
#[derive(Debug, Clone, Serialize)]
pub struct LastCompaction {
    /// When it ended (ms since the epoch).
    pub at: i64,
    /// Whether it built the whole state.
    pub full: bool,
    /// The events it resolved (or, building, copied).
    pub events: u64,
    /// The days it wrote.
    pub days: usize,
    pub seconds: f64,
}

/// The status shared between the task and its readers.
#[derive(Default)]
pub struct Compactions {
    status: Mutex<CompactionStatus>,
}

impl Compactions {
    pub fn snapshot(&self) -> CompactionStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn update(&self, f: impl FnOnce(&mut CompactionStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// Start the background task, waiting `every` between the end of one
/// compaction and the start of the next (what a wide read streams beside
/// the state is about this much of ingest).
pub fn spawn(state: SharedState, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            round(&state, every).await;
            tokio::time::sleep(every).await;
        }
    })
}

/// One round: compact when due, then read when the newest compaction was
/// recorded.
async fn round(state: &SharedState, every: Duration) {
    let store = state.store.clone();
    let done = tokio::task::spawn_blocking(move || {
        let out = store.compact_due(every);
        // (Read even when this node's compaction failed: another node's
        // may have succeeded.)
        (out, store.compacted_at())
    })
    .await;
    let (out, newest) = match done {
        Ok(both) => both,
        Err(e) => {
            tracing::warn!(error = %e, "the compaction task failed");
            crate::metrics::state_compaction("failed");
            state.compactions.update(|s| {
                s.failures += 1;
                s.last_error = Some(format!("the compaction task failed: {e}"));
            });
            return;
        }
    };
    match out {
        Ok(Some(c)) => {
            if c.full {
                tracing::info!(
                    events = c.events,
                    days = c.days,
                    seconds = c.took.as_secs_f64(),
                    "the events' state is built"
                );
            } else {
                tracing::debug!(
                    events = c.events,
                    days = c.days,
                    seconds = c.took.as_secs_f64(),
                    "the events' state is compacted"
                );
            }
            crate::metrics::state_compaction(if c.full { "built" } else { "compacted" });
            state.compactions.update(|s| {
                s.compactions += 1;
                s.builds += u64::from(c.full);
                s.last = Some(LastCompaction {
                    at: crate::body::now_ms(),
                    full: c.full,
                    events: c.events,
                    days: c.days,
                    seconds: c.took.as_secs_f64(),
                });
                s.last_error = None;
            });
        }
        Ok(None) => state.compactions.update(|s| s.last_error = None),
        Err(e) => {
            tracing::warn!(
                error = %e,
                "compacting the events' state failed; tried again at the next round"
            );
            crate::metrics::state_compaction("failed");
            state.compactions.update(|s| {
                s.failures += 1;
                s.last_error = Some(e.to_string());
            });
        }
    }
    // (A failed read leaves the last one known.)
    if let Ok(newest) = newest {
        if let Some(at) = newest {
            crate::metrics::state_last_compaction(at);
        }
        state.compactions.update(|s| s.newest_at = newest);
    }
}
