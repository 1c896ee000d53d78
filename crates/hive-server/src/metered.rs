//! [`MeteredStore`]: any [`Store`] with the latency of its calls recorded
//! (`hive_store_commit_seconds`, `hive_store_query_seconds{op}`,
//! `hive_store_errors_total{op}`). `hive serve` wraps its store in it, so
//! the applier's commits and every read are measured whatever the backend.

use std::sync::Arc;
use std::time::Instant;

use hive_core::chart::{ChartQuery, Series};
use hive_store::{
    EventPage, EventQuery, FieldInfo, HistoryEntry, Page, Result, Store, WriteOp, auth, objects,
};
use serde_json::Value;

use crate::metrics::{store_commit, timed};

/// A store whose calls are timed.
pub struct MeteredStore {
    inner: Arc<dyn Store>,
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn Store>) -> MeteredStore {
        MeteredStore { inner }
    }
}

fn commit<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    let started = Instant::now();
    let r = f();
    store_commit(started.elapsed(), r.is_ok());
    r
}

impl Store for MeteredStore {
    fn apply(&self, ops: &[WriteOp]) -> Result<()> {
        commit(|| self.inner.apply(ops))
    }

    fn apply_logged(&self, ops: &[WriteOp], position: u64) -> Result<()> {
        commit(|| self.inner.apply_logged(ops, position))
    }

    fn apply_log_records(&self, ops: &[WriteOp], records: &[hive_store::LogRecord]) -> Result<()> {
        commit(|| self.inner.apply_log_records(ops, records))
    }

    fn log_position(&self) -> Result<u64> {
        timed("log_position", || self.inner.log_position())
    }

    fn ping(&self) -> Result<()> {
        timed("ping", || self.inner.ping())
    }

    fn get_event(&self, project_id: Option<&str>, event_id: &str) -> Result<Option<Value>> {
        timed("get_event", || self.inner.get_event(project_id, event_id))
    }

    fn get_raw(&self, project_id: Option<&str>, event_id: &str) -> Result<Option<Value>> {
        timed("get_raw", || self.inner.get_raw(project_id, event_id))
    }

    fn session_events(
        &self,
        project_id: Option<&str>,
        session_id: &str,
        limit: usize,
    ) -> Result<Vec<Value>> {
        timed("session_events", || {
            self.inner.session_events(project_id, session_id, limit)
        })
    }

    fn session_events_showing(
        &self,
        project_id: Option<&str>,
        session_id: &str,
        limit: usize,
        shown: &str,
    ) -> Result<Vec<Value>> {
        timed("session_events", || {
            self.inner
                .session_events_showing(project_id, session_id, limit, shown)
        })
    }

    fn query(&self, q: &EventQuery) -> Result<EventPage> {
        timed("query", || self.inner.query(q))
    }

    fn derives_ahead(&self) -> bool {
        self.inner.derives_ahead()
    }

    fn query_page(&self, q: &EventQuery) -> Result<Page> {
        timed("query_page", || self.inner.query_page(q))
    }

    fn events_after(&self, project_id: &str, q: &EventQuery, after: &str) -> Result<Vec<Value>> {
        timed("events_after", || {
            self.inner.events_after(project_id, q, after)
        })
    }

    fn history(&self, project_id: Option<&str>, event_id: &str) -> Result<Vec<HistoryEntry>> {
        timed("history", || self.inner.history(project_id, event_id))
    }

    fn histories(
        &self,
        project_id: Option<&str>,
        event_ids: &[&str],
        since: Option<i64>,
    ) -> Result<std::collections::HashMap<String, Vec<HistoryEntry>>> {
        timed("histories", || {
            self.inner.histories(project_id, event_ids, since)
        })
    }

    fn raws(
        &self,
        project_id: Option<&str>,
        event_ids: &[&str],
        since: Option<i64>,
    ) -> Result<std::collections::HashMap<String, Value>> {
        timed("raws", || self.inner.raws(project_id, event_ids, since))
    }

    fn fields(&self, project_id: &str) -> Result<Vec<FieldInfo>> {
        timed("fields", || self.inner.fields(project_id))
    }

    fn session_errors(
        &self,
        project_id: &str,
        session_ids: &[String],
    ) -> Result<Vec<(String, i64)>> {
        timed("session_errors", || {
            self.inner.session_errors(project_id, session_ids)
        })
    }

    fn chart(&self, project_id: Option<&str>, q: &ChartQuery) -> Result<Vec<Series>> {
        timed("chart", || self.inner.chart(project_id, q))
    }

    fn charts(&self, project_id: Option<&str>, qs: &[ChartQuery]) -> Result<Vec<Vec<Series>>> {
        timed("charts", || self.inner.charts(project_id, qs))
    }

    // Every method is forwarded, those with a default too: a default
    // here would hide what the store does.
    fn expire(&self, project_id: &str, before_ms: i64, limit: usize) -> Result<u64> {
        timed("expire", || self.inner.expire(project_id, before_ms, limit))
    }

    fn compact(&self) -> Result<Option<hive_store::Compaction>> {
        timed("compact", || self.inner.compact())
    }

    fn compact_due(&self, every: std::time::Duration) -> Result<Option<hive_store::Compaction>> {
        timed("compact", || self.inner.compact_due(every))
    }

    fn compacted_at(&self) -> Result<Option<i64>> {
        timed("compacted_at", || self.inner.compacted_at())
    }

    fn expire_step_ms(&self) -> i64 {
        self.inner.expire_step_ms()
    }

    fn expire_partitions(&self, before_ms: i64) -> Result<u64> {
        timed("expire_partitions", || {
            self.inner.expire_partitions(before_ms)
        })
    }

    fn reclaim_space(&self) -> Result<u64> {
        timed("reclaim_space", || self.inner.reclaim_space())
    }

    fn disk_bytes(&self) -> Result<u64> {
        timed("disk_bytes", || self.inner.disk_bytes())
    }

    fn active_projects(&self) -> Result<Vec<String>> {
        timed("active_projects", || self.inner.active_projects())
    }

    fn auth(&self) -> &dyn auth::AuthStore {
        self.inner.auth()
    }

    fn objects(&self) -> &dyn objects::ObjectStore {
        self.inner.objects()
    }
}
