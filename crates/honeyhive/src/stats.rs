//! Counters, size limits and rate-limited warnings.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A snapshot of a tracer's counters. See [`HoneyHiveTracer::stats`](crate::HoneyHiveTracer::stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// `enrich_session` calls (and `enrich_span(event_id=...)`) accepted into the queue.
    pub enrichments_enqueued: u64,
    /// Enrichments the server acknowledged (coalesced ones count each).
    pub enrichments_sent: u64,
    /// `PUT /events` requests sent (after coalescing).
    pub enrichment_requests: u64,
    /// Requests (enrichment, session start or span export) retried after a transient failure.
    pub retried: u64,
    /// Enrichments lost: queue full, rejected by the server, or still queued at shutdown.
    pub enrichments_dropped: u64,
    /// Whether the session start reached the server.
    pub session_started: bool,
    /// Spans handed to the exporter.
    pub spans_exported: u64,
    /// Spans whose export failed for good.
    pub spans_dropped: u64,
    /// Span attributes dropped by the span attribute limit.
    pub span_attributes_dropped: u64,
    /// Values above the size limits (warned about, still sent).
    pub oversize_warnings: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) enqueued: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) session_started: AtomicU64,
    pub(crate) spans_exported: AtomicU64,
    pub(crate) spans_dropped: AtomicU64,
    pub(crate) attributes_dropped: AtomicU64,
    pub(crate) oversize: AtomicU64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            enrichments_enqueued: self.enqueued.load(Relaxed),
            enrichments_sent: self.sent.load(Relaxed),
            enrichment_requests: self.requests.load(Relaxed),
            retried: self.retried.load(Relaxed),
            enrichments_dropped: self.dropped.load(Relaxed),
            session_started: self.session_started.load(Relaxed) > 0,
            spans_exported: self.spans_exported.load(Relaxed),
            spans_dropped: self.spans_dropped.load(Relaxed),
            span_attributes_dropped: self.attributes_dropped.load(Relaxed),
            oversize_warnings: self.oversize.load(Relaxed),
        }
    }
}

/// Adds `n` to a counter and says whether this occurrence should be logged:
/// the 1st, 2nd, 4th, 8th, ... so a flood logs a handful of lines, not one per event.
pub(crate) fn bump_and_should_log(counter: &AtomicU64, n: u64) -> bool {
    let before = counter.fetch_add(n, Relaxed);
    let after = before + n;
    // Log when the count crosses a power of two.
    before == 0 || (64 - before.leading_zeros()) != (64 - after.leading_zeros())
}

/// The documents' size guidance: at most 100 KB per enrichment and 1 KB per
/// field. Larger values are still sent, with a warning.
#[derive(Debug)]
pub(crate) struct Limits {
    pub(crate) max_enrichment_bytes: usize,
    pub(crate) max_field_bytes: usize,
    pub(crate) warnings: AtomicU64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new(100 * 1024, 1024)
    }
}

impl Limits {
    pub(crate) const fn new(max_enrichment_bytes: usize, max_field_bytes: usize) -> Self {
        Limits {
            max_enrichment_bytes,
            max_field_bytes,
            warnings: AtomicU64::new(0),
        }
    }

    pub(crate) fn check_field(&self, path: &str, len: usize) {
        if len > self.max_field_bytes && bump_and_should_log(&self.warnings, 1) {
            tracing::warn!(
                field = path,
                bytes = len,
                limit = self.max_field_bytes,
                "honeyhive: enrichment field is larger than the recommended limit"
            );
        }
    }

    pub(crate) fn check_enrichment(&self, session_id: &str, len: usize) {
        if len > self.max_enrichment_bytes && bump_and_should_log(&self.warnings, 1) {
            tracing::warn!(
                session_id,
                bytes = len,
                limit = self.max_enrichment_bytes,
                "honeyhive: enrichment is larger than the recommended limit"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_on_powers_of_two() {
        let c = AtomicU64::new(0);
        let logged: Vec<u64> = (1..=20).filter(|_| bump_and_should_log(&c, 1)).collect();
        assert_eq!(logged.len(), 5); // 1, 2, 4, 8, 16
    }
}
