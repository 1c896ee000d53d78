//! Keeping what the store derives from its writes for wide reads up to
//! date ([`hive_store::Store::compact`]; on ClickHouse, every event's
//! state: ADR 0028), in the background, on every node. A compaction that
//! fails is tried again at the next round; reads meanwhile resolve what
//! the last one did not cover.

use std::time::Duration;

use crate::SharedState;

/// Start the background task, waiting `every` between the end of one
/// compaction and the start of the next (what a wide read streams beside
/// the state is about this much of ingest).
pub fn spawn(state: SharedState, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let store = state.store.clone();
            match tokio::task::spawn_blocking(move || store.compact_due(every)).await {
                Ok(Ok(Some(c))) if c.full => tracing::info!(
                    events = c.events,
                    days = c.days,
                    seconds = c.took.as_secs_f64(),
                    "the events' state is built"
                ),
                Ok(Ok(Some(c))) => tracing::debug!(
                    events = c.events,
                    days = c.days,
                    seconds = c.took.as_secs_f64(),
                    "the events' state is compacted"
                ),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => tracing::warn!(
                    error = %e,
                    "compacting the events' state failed; tried again at the next round"
                ),
                Err(e) => tracing::warn!(error = %e, "the compaction task failed"),
            }
            tokio::time::sleep(every).await;
        }
    })
}
