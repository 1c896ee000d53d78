//! Prometheus metrics (`GET /metrics`), through the `metrics` facade and
//! its Prometheus recorder.
//!
//! Counters and histograms are recorded where things happen (requests,
//! ingest, store calls, webhooks); gauges of state (the ingest backlog,
//! column memory) and the write path's own counters ([`WriterStats`]) are
//! read when `/metrics` is rendered, so the hot paths pay nothing for them.
//!
//! Label values come from closed sets only (route templates, methods,
//! status codes, operation names), never from what a client sends, so no
//! client can grow the number of series.
//!
//! Other parts of the server report through the small functions below
//! (e.g. [`retention_deleted_events`]); every metric name is listed in
//! [`NAMES`] with its help text.
//!
//! [`WriterStats`]: crate::writer::WriterStats

use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;

/// Every metric hive exports: name, kind, help.
pub const NAMES: &[(&str, &str, &str)] = &[
    // Requests.
    (
        "hive_http_requests_total",
        "counter",
        "HTTP requests answered, by route template, method and status",
    ),
    (
        "hive_http_request_duration_seconds",
        "histogram",
        "Time to answer an HTTP request (to its response head), by route template and method",
    ),
    // Ingest.
    (
        "hive_ingested_spans_total",
        "counter",
        "OTLP spans acknowledged (HTTP and gRPC)",
    ),
    (
        "hive_ingested_events_total",
        "counter",
        "Events acknowledged through the REST API (sessions started, events created)",
    ),
    (
        "hive_ingested_enrichments_total",
        "counter",
        "Enrichments acknowledged (PUT /events, OTLP log records folded into events)",
    ),
    (
        "hive_ingest_logged_requests_total",
        "counter",
        "Write requests acknowledged into the ingest log",
    ),
    (
        "hive_ingest_rejected_requests_total",
        "counter",
        "Write requests refused with 503 (backlog or in-flight bodies over their bound)",
    ),
    (
        "hive_ingest_disk_full_requests_total",
        "counter",
        "Write requests refused with 507 (disk full)",
    ),
    (
        "hive_ingest_backlog_bytes",
        "gauge",
        "Bytes of acknowledged writes in the ingest log not yet applied to the store",
    ),
    (
        "hive_ingest_backlog_records",
        "gauge",
        "Records of acknowledged writes not yet applied to the store",
    ),
    (
        "hive_ingest_backlog_limit_bytes",
        "gauge",
        "The backlog past which writes get 503 (--max-backlog-mb)",
    ),
    (
        "hive_ingest_lag_seconds",
        "gauge",
        "Age of the oldest acknowledged write not yet applied (0 when caught up)",
    ),
    (
        "hive_ingest_disk_full",
        "gauge",
        "1 while the ingest log's disk is full",
    ),
    (
        "hive_applier_applied_ops_total",
        "counter",
        "Writes (events, enrichments) applied to the store",
    ),
    (
        "hive_applier_transactions_total",
        "counter",
        "Store transactions the applier committed",
    ),
    (
        "hive_applier_retries_total",
        "counter",
        "Failed attempts to apply a batch, retried (the store unavailable or failing)",
    ),
    (
        "hive_applier_set_aside_records_total",
        "counter",
        "Logged records the store refused for their content, kept aside",
    ),
    (
        "hive_applier_failing",
        "gauge",
        "1 while the applier cannot apply (its last attempt failed)",
    ),
    (
        "hive_read_timeouts_total",
        "counter",
        "Reads answered 503 after waiting for the writes acknowledged before them",
    ),
    // Store.
    (
        "hive_reads_running",
        "gauge",
        "Reads over a project (lists, counts, charts, exports) running now",
    ),
    (
        "hive_reads_waiting",
        "gauge",
        "Reads waiting for their turn (--max-concurrent-reads)",
    ),
    (
        "hive_reads_max",
        "gauge",
        "Reads over a project run at once (--max-concurrent-reads)",
    ),
    (
        "hive_reads_refused_total",
        "counter",
        "Reads answered 503 busy after waiting --read-queue-secs for their turn",
    ),
    (
        "hive_store_commit_seconds",
        "histogram",
        "Time to apply one batch of writes to the store (one transaction)",
    ),
    (
        "hive_store_query_seconds",
        "histogram",
        "Time of a store read, by operation",
    ),
    (
        "hive_store_errors_total",
        "counter",
        "Store calls that failed, by operation",
    ),
    (
        "hive_column_memory_bytes",
        "gauge",
        "Memory held by the in-memory columns (SQLite)",
    ),
    (
        "hive_column_memory_budget_bytes",
        "gauge",
        "The in-memory columns' budget (--column-memory-mb)",
    ),
    // Alerts.
    (
        "hive_webhook_deliveries_total",
        "counter",
        "Alert webhook notifications sent, by result (delivered, failed, refused)",
    ),
    (
        "hive_webhook_attempts_total",
        "counter",
        "Alert webhook attempts, retries included",
    ),
    (
        "hive_webhook_failures_total",
        "counter",
        "Alert webhook notifications that failed after their retries (or were refused)",
    ),
    // Retention and deletion.
    (
        "hive_retention_runs_total",
        "counter",
        "Retention passes run",
    ),
    (
        "hive_retention_deleted_events_total",
        "counter",
        "Events deleted by retention",
    ),
    (
        "hive_retention_last_run_timestamp_seconds",
        "gauge",
        "When retention last completed a pass (Unix time)",
    ),
    (
        "hive_deletion_pending",
        "gauge",
        "Deletion requests accepted and not yet completed",
    ),
    (
        "hive_deletion_deleted_events_total",
        "counter",
        "Events deleted by deletion requests",
    ),
    (
        "hive_deletion_completed_total",
        "counter",
        "Deletion requests completed",
    ),
    // The events' state (ClickHouse).
    (
        "hive_state_compactions_total",
        "counter",
        "Compactions of the events' state this node ran, by result (compacted, built, failed)",
    ),
    (
        "hive_state_last_compaction_timestamp_seconds",
        "gauge",
        "When the newest compaction of the events' state was recorded, by any node (Unix time)",
    ),
    // Process.
    (
        "hive_up",
        "gauge",
        "1 while the server runs (with its version as a label)",
    ),
];

/// Latency buckets, in seconds (1 ms to 60 s).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Install the process's recorder (once; later calls return the same
/// handle). `None` when another recorder was installed first, in which
/// case recording goes to that one and `/metrics` says so.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .expect("latency buckets are not empty");
            match builder.install_recorder() {
                Ok(handle) => {
                    for (name, kind, help) in NAMES {
                        match *kind {
                            "counter" => ::metrics::describe_counter!(*name, *help),
                            "gauge" => ::metrics::describe_gauge!(*name, *help),
                            _ => ::metrics::describe_histogram!(*name, *help),
                        }
                    }
                    ::metrics::gauge!("hive_up", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
                    // Series that exist from the start (0 until something
                    // happens), so dashboards and rates see them.
                    for name in [
                        "hive_ingested_spans_total",
                        "hive_ingested_events_total",
                        "hive_ingested_enrichments_total",
                        "hive_webhook_attempts_total",
                        "hive_webhook_failures_total",
                    ] {
                        ::metrics::counter!(name).absolute(0);
                    }
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "another metrics recorder is installed: /metrics shows nothing");
                    None
                }
            }
        })
        .as_ref()
}

/// Drain histogram samples into their buckets now and then, so memory
/// stays flat when nobody scrapes. Runs until the process ends.
pub fn spawn_upkeep() {
    if let Some(handle) = install() {
        let _ = std::thread::Builder::new()
            .name("hive-metrics".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    handle.run_upkeep();
                }
            });
    }
}

/// The Prometheus text exposition of every metric, gauges read from
/// `state` first.
pub fn render(state: &AppState) -> String {
    let Some(handle) = install() else {
        return "# no metrics: another recorder is installed in this process\n".into();
    };
    observe_state(state);
    handle.run_upkeep();
    handle.render()
}

/// Set the gauges and counters that mirror the server's state.
fn observe_state(state: &AppState) {
    use ::metrics::{counter, gauge};
    let w = &state.writer;
    let lag = w.lag();
    let log = w.log();
    gauge!("hive_ingest_backlog_bytes").set(lag.bytes as f64);
    gauge!("hive_ingest_backlog_records").set(lag.records as f64);
    gauge!("hive_ingest_lag_seconds").set(lag.seconds);
    gauge!("hive_ingest_backlog_limit_bytes").set(w.config().max_backlog_bytes as f64);
    gauge!("hive_ingest_disk_full").set(if log.disk_full.load(Ordering::Relaxed) {
        1.0
    } else {
        0.0
    });
    gauge!("hive_applier_failing").set(if w.last_error().is_some() { 1.0 } else { 0.0 });
    let s = &w.stats;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    counter!("hive_ingest_logged_requests_total").absolute(load(&s.logged_requests));
    counter!("hive_ingest_rejected_requests_total").absolute(load(&s.rejected_requests));
    counter!("hive_ingest_disk_full_requests_total").absolute(load(&s.disk_full_requests));
    counter!("hive_applier_applied_ops_total").absolute(load(&s.applied_ops));
    counter!("hive_applier_transactions_total").absolute(load(&s.transactions));
    counter!("hive_applier_retries_total").absolute(load(&s.apply_retries));
    counter!("hive_applier_set_aside_records_total").absolute(load(&s.set_aside_records));
    counter!("hive_read_timeouts_total").absolute(load(&s.read_timeouts));
    let reads = &state.read_slots;
    gauge!("hive_reads_running").set(reads.running() as f64);
    gauge!("hive_reads_waiting").set(reads.waiting() as f64);
    gauge!("hive_reads_max").set(reads.max() as f64);
    counter!("hive_reads_refused_total").absolute(reads.refused());
    if let Some(columns) = &state.column_memory {
        let (used, budget) = columns();
        gauge!("hive_column_memory_bytes").set(used as f64);
        gauge!("hive_column_memory_budget_bytes").set(budget as f64);
    }
}

// ---- Requests --------------------------------------------------------------

/// The method as a label: the standard ones, anything else `other` (a
/// client may send any token as a method).
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Count a request answered: `route` is the matched route template
/// (`None`: no route matched, counted as `unmatched`).
pub fn request(route: Option<&str>, method: &axum::http::Method, status: u16, elapsed: Duration) {
    let route = route.unwrap_or("unmatched").to_owned();
    let method = method_label(method);
    ::metrics::counter!("hive_http_requests_total",
        "route" => route.clone(), "method" => method, "status" => status.to_string())
    .increment(1);
    ::metrics::histogram!("hive_http_request_duration_seconds",
        "route" => route, "method" => method)
    .record(elapsed.as_secs_f64());
}

// ---- Ingest ------------------------------------------------------------------

/// Spans acknowledged.
pub fn ingested_spans(n: usize) {
    ::metrics::counter!("hive_ingested_spans_total").increment(n as u64);
}

/// Events and enrichments acknowledged.
pub fn ingested_ops(events: usize, enrichments: usize) {
    if events > 0 {
        ::metrics::counter!("hive_ingested_events_total").increment(events as u64);
    }
    if enrichments > 0 {
        ::metrics::counter!("hive_ingested_enrichments_total").increment(enrichments as u64);
    }
}

// ---- Store -------------------------------------------------------------------

/// A batch of writes applied (or not: `ok` false) in `elapsed`.
pub fn store_commit(elapsed: Duration, ok: bool) {
    ::metrics::histogram!("hive_store_commit_seconds").record(elapsed.as_secs_f64());
    if !ok {
        ::metrics::counter!("hive_store_errors_total", "op" => "commit").increment(1);
    }
}

/// A store read `op` (a fixed name) took `elapsed`.
pub fn store_query(op: &'static str, elapsed: Duration, ok: bool) {
    ::metrics::histogram!("hive_store_query_seconds", "op" => op).record(elapsed.as_secs_f64());
    if !ok {
        ::metrics::counter!("hive_store_errors_total", "op" => op).increment(1);
    }
}

/// Time `f` as the store read `op`.
pub(crate) fn timed<T, E>(op: &'static str, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let started = Instant::now();
    let r = f();
    store_query(op, started.elapsed(), r.is_ok());
    r
}

// ---- The events' state -------------------------------------------------------

/// A compaction round ended: `compacted`, `built` or `failed`.
pub fn state_compaction(result: &'static str) {
    ::metrics::counter!("hive_state_compactions_total", "result" => result).increment(1);
}

/// The newest compaction, by any node, was recorded at `at_ms`.
pub fn state_last_compaction(at_ms: i64) {
    ::metrics::gauge!("hive_state_last_compaction_timestamp_seconds").set(at_ms as f64 / 1000.0);
}

// ---- Webhooks ----------------------------------------------------------------

/// A webhook notification's outcome after `attempts` attempts: `delivered`,
/// `failed` or `refused` (a destination that is not allowed).
pub fn webhook_delivery(result: &'static str, attempts: u32) {
    ::metrics::counter!("hive_webhook_deliveries_total", "result" => result).increment(1);
    ::metrics::counter!("hive_webhook_attempts_total").increment(u64::from(attempts));
    if result != "delivered" {
        ::metrics::counter!("hive_webhook_failures_total").increment(1);
    }
}

// ---- Retention and deletion --------------------------------------------------

/// Retention deleted `n` events (call once per batch deleted).
pub fn retention_deleted_events(n: u64) {
    ::metrics::counter!("hive_retention_deleted_events_total").increment(n);
}

/// A retention pass finished (at the current time).
pub fn retention_run_completed() {
    ::metrics::counter!("hive_retention_runs_total").increment(1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    ::metrics::gauge!("hive_retention_last_run_timestamp_seconds").set(now);
}

/// How many deletion requests wait to be completed now.
pub fn deletion_pending(n: u64) {
    ::metrics::gauge!("hive_deletion_pending").set(n as f64);
}

/// A deletion request deleted `n` more events.
pub fn deletion_deleted_events(n: u64) {
    ::metrics::counter!("hive_deletion_deleted_events_total").increment(n);
}

/// A deletion request completed.
pub fn deletion_completed() {
    ::metrics::counter!("hive_deletion_completed_total").increment(1);
}

#[cfg(test)]
mod tests {
    use super::NAMES;

    /// The `hive_*` names in `text`, histogram series folded into their
    /// family.
    fn names_in(text: &str) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        let mut rest = text;
        while let Some(i) = rest.find("hive_") {
            let before = rest[..i].chars().last();
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(tail.len());
            if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                let name = &tail[..end];
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(name);
                out.insert(family.to_owned());
            }
            rest = &tail[end..];
        }
        out
    }

    fn exported() -> std::collections::BTreeSet<String> {
        NAMES.iter().map(|(n, _, _)| n.to_string()).collect()
    }

    #[test]
    fn the_grafana_dashboard_uses_only_exported_metrics() {
        let dashboard = include_str!("../../../deploy/grafana/hive-dashboard.json");
        let used = names_in(dashboard);
        assert!(used.len() > 20, "{used:?}");
        let unknown: Vec<_> = used.difference(&exported()).cloned().collect();
        assert!(unknown.is_empty(), "not exported: {unknown:?}");
    }

    #[test]
    fn every_metric_is_documented_in_the_readme() {
        let readme = include_str!("../../../README.md");
        let section = &readme[readme.find("### Metrics").expect("a Metrics section")..];
        let documented = names_in(section);
        let missing: Vec<_> = exported().difference(&documented).cloned().collect();
        assert!(missing.is_empty(), "not in the README: {missing:?}");
    }

    #[test]
    fn names_kinds_and_help_are_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for (name, kind, help) in NAMES {
            assert!(seen.insert(name), "{name} twice");
            assert!(["counter", "gauge", "histogram"].contains(kind), "{name}");
            assert_eq!(kind == &"counter", name.ends_with("_total"), "{name}");
            if *kind == "histogram" {
                assert!(name.ends_with("_seconds"), "{name}: gets latency buckets");
            }
            assert!(!help.is_empty());
        }
    }
}
