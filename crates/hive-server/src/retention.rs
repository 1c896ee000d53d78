//! Retention and deletion in the background (ADR 0009).
//!
//! One task, every `interval`:
//! 1. carries on the deletions by filter that are not finished: each page
//!    of matches becomes [`WriteOp::Delete`]s appended to the ingest log,
//!    so they are applied in order with ingest, in small transactions,
//!    and a deletion interrupted by a crash is resumed from its record;
//! 2. expires, per project with a retention, the sessions that started
//!    before the cut-off, a few hundred per transaction, and alert
//!    evaluations older than it;
//! 3. gives the freed space back to the file system in bounded steps.
//!
//! Progress is in `/v1/stats` (`maintenance`).

use std::sync::Mutex;
use std::time::Duration;

use hive_core::filter::{DateRange, Filter};
use hive_store::objects::ALERT;
use hive_store::{DeleteTarget, EventQuery, Level, Order, WriteOp};
use serde::Serialize;
use serde_json::{Value, json};

use crate::SharedState;
use crate::body::now_ms;
use crate::error::ApiError;

/// Saved-object kind of a project's settings (id: the project id).
pub const SETTINGS: &str = "project_settings";
/// Saved-object kind of a deletion (its audit record and its progress).
pub const DELETION: &str = "deletion";

const DAY_MS: i64 = 86_400_000;
/// Steps of space reclaiming per round at most (each frees up to 8 MiB).
const RECLAIM_STEPS: usize = 512;

/// Settings of the background work.
#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// Days kept in projects that set none (`None`: forever).
    pub default_days: Option<u32>,
    /// How often the task runs.
    pub interval: Duration,
    /// Pause between two steps, so the applier and readers take turns.
    pub pause: Duration,
    /// Matches deleted per ingest-log record by a deletion by filter.
    pub page: usize,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            default_days: None,
            interval: Duration::from_secs(60),
            pause: Duration::from_millis(5),
            page: 500,
        }
    }
}

/// What the background work is doing and has done, for `/v1/stats`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MaintenanceStatus {
    /// What runs now (`deletion <id>`, `retention <project>`,
    /// `reclaiming space`), if anything.
    pub active: Option<String>,
    /// Deletions by filter not finished.
    pub deletions_pending: u64,
    /// Events and sessions deleted by request since start.
    pub deleted_by_request: u64,
    /// Events (SQLite) or writes (ClickHouse) expired since start.
    pub expired: u64,
    /// Alert evaluations expired since start.
    pub evaluations_expired: u64,
    /// Free space left inside the store to give back, in bytes.
    pub reclaimable_bytes: u64,
    /// Bytes the store takes on disk, as of the last round.
    pub store_bytes: u64,
    pub rounds: u64,
    pub last_round_at: Option<i64>,
    pub last_error: Option<String>,
}

/// Shared status of the background work.
#[derive(Default)]
pub struct Maintenance {
    pub config: RetentionConfig,
    pub status: Mutex<MaintenanceStatus>,
    /// Starts a round at once (a new deletion, a changed retention).
    wake: tokio::sync::Notify,
}

impl Maintenance {
    pub fn new(config: RetentionConfig) -> Maintenance {
        Maintenance {
            config,
            status: Mutex::new(MaintenanceStatus::default()),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Run a round now rather than at the next interval.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn update_deleted(&self, n: u64) {
        self.update(|s| s.deleted_by_request += n);
    }

    pub fn snapshot(&self) -> MaintenanceStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn update(&self, f: impl FnOnce(&mut MaintenanceStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// The retention of a project in days: its own setting, else the
/// server's default (`None`: kept forever).
pub fn retention_days(state: &SharedState, project_id: &str) -> Result<Option<u32>, ApiError> {
    let own = state
        .store
        .objects()
        .get(SETTINGS, Some(project_id), project_id)?;
    Ok(effective_days(
        own.as_ref().map(|o| &o.doc),
        state.maintenance.config.default_days,
    ))
}

/// A project's retention from its settings document and the default: a
/// number of days, `"off"` (kept forever whatever the default), or absent
/// (the default).
pub fn effective_days(settings: Option<&Value>, default: Option<u32>) -> Option<u32> {
    match settings.and_then(|s| s.get("retention_days")) {
        Some(Value::Number(n)) => n.as_u64().map(|d| d.min(u32::MAX as u64) as u32),
        Some(Value::String(s)) if s == "off" => None,
        _ => default,
    }
}

/// Parse a retention setting from the API, the CLI or a form: a whole
/// number of days (1..=36500), `"off"`, or null / `"default"` (follow the
/// server's default). Returns the value to store.
pub fn parse_retention(v: &Value) -> Result<Value, String> {
    let days = |n: f64| {
        if n.fract() == 0.0 && (1.0..=36_500.0).contains(&n) {
            Ok(json!(n as u64))
        } else {
            Err(format!(
                "retention_days must be a whole number of days from 1 to 36500, \"off\" or null, got {v}"
            ))
        }
    };
    match v {
        Value::Null => Ok(Value::Null),
        Value::Number(n) => days(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => match s.trim() {
            "" | "default" => Ok(Value::Null),
            "off" | "none" | "forever" => Ok(json!("off")),
            t => days(t.parse::<f64>().map_err(|_| {
                format!("retention_days must be a number of days, \"off\" or null, got {s:?}")
            })?),
        },
        other => Err(format!(
            "retention_days must be a number of days, \"off\" or null, got {}",
            crate::body::type_name(other)
        )),
    }
}

/// Start the background task.
pub fn spawn(state: SharedState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let interval = state.maintenance.config.interval;
        loop {
            if let Err(e) = round(&state).await {
                tracing::warn!(error = %e, "retention and deletion round failed; retried next round");
                state
                    .maintenance
                    .update(|s| s.last_error = Some(e.to_string()));
            }
            state.maintenance.update(|s| s.active = None);
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = state.maintenance.wake.notified() => {}
            }
        }
    })
}

/// Where a retention of `days` cuts at `now`: rounded down to a multiple
/// of the store's `step` ([`hive_store::Store::expire_step_ms`]), so on a
/// store that removes a step's worth at a time the cut-off stays put, and
/// the rounds remove nothing, until the next step.
fn cut_off(now: i64, days: u32, step: i64) -> i64 {
    let step = step.max(1);
    (now - i64::from(days) * DAY_MS).div_euclid(step) * step
}

/// One round: deletions by filter, retention, space.
pub async fn round(state: &SharedState) -> Result<(), ApiError> {
    let m = &state.maintenance;
    let pause = m.config.pause;
    // 1. Deletions by filter, oldest first.
    let jobs = state.blocking(|s| s.objects().list(DELETION, None)).await?;
    let pending: Vec<_> = jobs
        .into_iter()
        .filter(|j| j.doc["state"] == "running")
        .collect();
    m.update(|s| s.deletions_pending = pending.len() as u64);
    crate::metrics::deletion_pending(pending.len() as u64);
    for job in pending {
        run_deletion(state, job.project_id, job.doc).await?;
        m.update(|s| s.deletions_pending = s.deletions_pending.saturating_sub(1));
        crate::metrics::deletion_pending(m.snapshot().deletions_pending);
        crate::metrics::deletion_completed();
    }
    // 2. Retention per project.
    let projects = state.blocking(|s| s.auth().projects()).await?;
    let now = now_ms();
    let step = state.store.expire_step_ms();
    let mut every_project_expires = !projects.is_empty();
    let mut oldest_kept = i64::MAX;
    let mut expiring = Vec::new();
    for p in projects {
        match retention_days(state, &p.id)? {
            Some(days) => expiring.push((p, cut_off(now, days, step))),
            None => every_project_expires = false,
        }
    }
    // Nodes sharing a store each run these rounds: one of them removes
    // each project's writes for each cut-off (on ClickHouse a removal
    // rewrites the table, and a sweep of its lookups follows; ADR 0009),
    // claimed as alert evaluations are. A store no other node shares wins
    // every claim; one whose winner died opens the claim again later.
    let keys: Vec<String> = expiring
        .iter()
        .map(|(p, cutoff)| format!("retention:{}:{cutoff}", p.id))
        .collect();
    let won = if step > 1 && !keys.is_empty() {
        state.blocking(move |s| s.objects().claim(&keys)).await?
    } else {
        vec![true; keys.len()]
    };
    for ((p, cutoff), won) in expiring.into_iter().zip(won) {
        oldest_kept = oldest_kept.min(cutoff);
        m.update(|s| s.active = Some(format!("retention {}", p.name)));
        // Unless another node claimed this cut-off: it removes the writes
        // and evaluations.
        if won {
            loop {
                let id = p.id.clone();
                let n = state
                    .blocking(move |s| s.expire(&id, cutoff, hive_store::EXPIRE_BATCH))
                    .await?;
                if n == 0 {
                    break;
                }
                m.update(|s| s.expired += n);
                crate::metrics::retention_deleted_events(n);
                tokio::time::sleep(pause).await;
            }
            // The project's alert evaluations, all rules at once.
            let id = p.id.clone();
            let n = state
                .blocking(move |s| {
                    let rules: Vec<String> = s
                        .objects()
                        .list(ALERT, Some(&id))?
                        .into_iter()
                        .map(|rule| rule.id)
                        .collect();
                    s.objects().delete_evaluations_before(&rules, cutoff)
                })
                .await?;
            m.update(|s| s.evaluations_expired += n);
        }
    }
    if every_project_expires {
        state
            .blocking(move |s| s.expire_partitions(oldest_kept))
            .await?;
    }
    // Claims (alert evaluations, notifications, retention steps) older
    // than a day: a claim counts for minutes, and each evaluation leaves
    // one a node. Cut at a day's start, so one round a day removes them
    // (a removal rewrites the table on ClickHouse) and the others find
    // none.
    let before = (now - DAY_MS).div_euclid(DAY_MS) * DAY_MS;
    let forgotten = state
        .blocking(move |s| s.objects().forget_claims_before(before))
        .await?;
    if forgotten > 0 {
        tracing::debug!(forgotten, "old claims forgotten");
    }
    // 3. Space.
    m.update(|s| s.active = Some("reclaiming space".into()));
    for _ in 0..RECLAIM_STEPS {
        let free = state.blocking(|s| s.reclaim_space()).await?;
        m.update(|s| s.reclaimable_bytes = free);
        if free == 0 {
            break;
        }
        tokio::time::sleep(pause).await;
    }
    let bytes = state.blocking(|s| s.disk_bytes()).await?;
    m.update(|s| {
        s.store_bytes = bytes;
        s.rounds += 1;
        s.last_round_at = Some(now_ms());
        s.last_error = None;
    });
    crate::metrics::retention_run_completed();
    Ok(())
}

/// The query a deletion by filter runs, from its record: the API's
/// `filters`, or the dashboard's `list_query`; the time range as fixed
/// when it was asked for.
pub fn deletion_query(
    store: &dyn hive_store::Store,
    project_id: &str,
    doc: &Value,
    page: usize,
) -> Result<EventQuery, String> {
    let level = match doc["level"].as_str() {
        Some("session") => Level::Session,
        Some("session_event") => Level::SessionEvent,
        _ => Level::Event,
    };
    let filters = match doc["list_query"].as_str() {
        Some(qs) => {
            let fields = store.fields(project_id).map_err(|e| e.to_string())?;
            let params = crate::dashboard::filters::ListParams::parse(Some(qs));
            let (q, problems) = params.query(project_id, &fields, level, 1, 0);
            if !problems.is_empty() {
                return Err(problems.join("; "));
            }
            q.filters
        }
        None => doc["filters"]
            .as_array()
            .map(|fs| {
                fs.iter()
                    .map(Filter::from_json)
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()
            .map_err(|e| e.to_string())?
            .unwrap_or_default(),
    };
    Ok(EventQuery {
        project_id: Some(project_id.to_owned()),
        filters,
        date_range: DateRange {
            start_ms: doc["start_ms"].as_f64(),
            end_ms: doc["end_ms"].as_f64(),
        },
        level,
        order: Order::StartAsc,
        limit: page.clamp(1, hive_store::query::MAX_LIMIT),
        offset: 0,
        brief: false,
    })
}

/// Carry a deletion by filter to its end: each page of what still matches
/// is logged as deletions, applied behind the writes acknowledged before
/// it, and counted in the record.
async fn run_deletion(
    state: &SharedState,
    project_id: String,
    mut doc: Value,
) -> Result<(), ApiError> {
    let id = doc["id"].as_str().unwrap_or_default().to_owned();
    let m = &state.maintenance;
    m.update(|s| s.active = Some(format!("deletion {id}")));
    let (p, d, page) = (project_id.clone(), doc.clone(), m.config.page);
    let q = match state
        .blocking(move |s| Ok(deletion_query(s, &p, &d, page)))
        .await?
    {
        Ok(q) => q,
        Err(e) => {
            doc["state"] = json!("failed");
            doc["error"] = json!(e);
            return save(state, &project_id, &id, doc).await;
        }
    };
    let by_session = q.level != Level::Event;
    loop {
        // The deletions logged by the last page are applied before the
        // next page is read.
        state.writer.wait_applied().await?;
        let query = q.clone();
        let page = state.blocking(move |s| s.query(&query)).await?;
        if page.events.is_empty() {
            break;
        }
        let ops: Vec<WriteOp> = page
            .events
            .iter()
            .filter_map(|e| e["event_id"].as_str())
            .map(|e| WriteOp::Delete {
                project_id: project_id.clone(),
                target: if by_session {
                    DeleteTarget::Session(e.to_owned())
                } else {
                    DeleteTarget::Event(e.to_owned())
                },
            })
            .collect();
        let n = ops.len() as u64;
        state.writer.submit(ops).await?;
        doc["deleted"] = json!(doc["deleted"].as_u64().unwrap_or(0) + n);
        m.update(|s| s.deleted_by_request += n);
        crate::metrics::deletion_deleted_events(n);
        save(state, &project_id, &id, doc.clone()).await?;
        tokio::time::sleep(m.config.pause).await;
    }
    state.writer.wait_applied().await?;
    doc["state"] = json!("done");
    doc["finished_at"] = json!(now_ms());
    save(state, &project_id, &id, doc).await
}

async fn save(state: &SharedState, project_id: &str, id: &str, doc: Value) -> Result<(), ApiError> {
    let (p, i) = (project_id.to_owned(), id.to_owned());
    state
        .blocking(move |s| s.objects().put(DELETION, &p, &i, &doc).map(|_| ()))
        .await
}

#[cfg(test)]
mod cut_off_tests {
    use super::{DAY_MS, cut_off};

    #[test]
    fn a_cut_off_moves_by_the_stores_step() {
        const H: i64 = 3_600_000;
        let t = 1_764_000_000_000 + 17 * 60_000 + 5; // 17 min past an hour
        // Every round (SQLite).
        assert_eq!(cut_off(t, 30, 1), t - 30 * DAY_MS);
        assert_eq!(cut_off(t, 30, 0), t - 30 * DAY_MS);
        // An hour (ClickHouse): the same cut-off for the whole hour.
        let base = cut_off(t, 30, H);
        assert_eq!(base % H, 0);
        assert!(t - 30 * DAY_MS - base < H && base <= t - 30 * DAY_MS);
        assert_eq!(cut_off(t + 40 * 60_000, 30, H), base);
        assert_eq!(cut_off(t + 43 * 60_000, 30, H), base + H);
    }
}
