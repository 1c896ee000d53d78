//! Alerts: the evaluator (driven by an injectable [`Clock`]), webhook
//! delivery with retries, and the `/v1/alerts` API.
//!
//! A rule is stored as a saved object (kind `alert`) holding the rule
//! ([`AlertRule::to_json`]) plus its state and the time of its last
//! evaluation. [`evaluate_due`] evaluates every rule whose period has passed
//! since its last evaluation (paused rules are skipped), applies
//! [`hive_core::alert::next`], records the evaluation in the history and
//! sends the webhook when the machine says so. The server calls it on a
//! timer ([`spawn_evaluator`]); tests call it with a manual clock.
//!
//! A rule with a group-by is evaluated per group
//! ([`AlertRule::evaluate`]): the history and the notifications name the
//! groups that cross.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use bytes::Bytes;
use hive_core::alert::{
    Action, AlertRule, AlertState, Evaluation, GroupOutcome, GroupValue, Input, Notify, next,
};
use hive_core::chart::{ChartQuery, Series};
use hive_core::filter::DateRange;
use hive_core::time::format_rfc3339_ms;
use hive_store::objects::{ALERT, NOTIFICATION, ObjectPut, StoredObject};
use serde_json::{Map, Value, json};

use crate::auth::{authenticate, project_for_read, project_for_write};
use crate::body::{json_object, new_id};
use crate::charts::object_json;
use crate::error::{ApiError, ApiResult};
use crate::{AppState, SharedState, webhook};

/// The time, in epoch milliseconds.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        crate::body::now_ms()
    }
}

/// A clock that moves only when told (tests).
#[derive(Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(ms: i64) -> ManualClock {
        ManualClock(AtomicI64::new(ms))
    }
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Alert settings.
#[derive(Debug, Clone)]
pub struct AlertConfig {
    /// How often the evaluator looks for due rules.
    pub tick: Duration,
    /// Webhook attempts after the first one.
    pub retries: u32,
    /// Wait before the first retry; doubled before each next one.
    pub backoff: Duration,
    /// Time limit of one webhook attempt.
    pub timeout: Duration,
    /// CA certificates webhook TLS trusts besides Mozilla's roots.
    pub webhook_ca: Option<webhook::WebhookCa>,
    /// The HTTP proxy webhooks go through (`None`: straight to the host).
    pub webhook_proxy: Option<webhook::WebhookProxy>,
    /// Allow webhooks to loopback, private, link-local and other
    /// non-public addresses (`--webhook-allow-private`); refused otherwise,
    /// see [`crate::destination`].
    pub webhook_allow_private: bool,
    /// How long a decided notification may stay undelivered before any
    /// node takes its deciding node for dead and delivers it
    /// (`None`: [`AlertConfig::redeliver_after`]'s default).
    pub redeliver_after: Option<Duration>,
}

impl AlertConfig {
    /// How long a decided notification may stay undelivered before any
    /// node delivers it: by default twice the longest a delivery can take
    /// (every attempt timing out, with the backoffs between), and a
    /// minute; 190 s with the default webhook settings. Shorter than a
    /// claim's grace time (5 minutes), after which an evaluation whose
    /// decision was not stored is made again.
    pub fn redeliver_after(&self) -> Duration {
        self.redeliver_after.unwrap_or_else(|| {
            let backoffs = self.backoff * (2u32.pow(self.retries.min(16)) - 1);
            (self.timeout * (self.retries + 1) + backoffs) * 2 + Duration::from_secs(60)
        })
    }
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            tick: Duration::from_secs(15),
            retries: 4,
            backoff: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            webhook_ca: None,
            webhook_proxy: None,
            webhook_allow_private: false,
            redeliver_after: None,
        }
    }
}

/// What the alert machinery shares.
pub struct AlertRuntime {
    pub clock: Arc<dyn Clock>,
    pub config: AlertConfig,
    webhook: webhook::Client,
    /// The dashboard's base URL, for links in notifications.
    public_url: RwLock<String>,
    /// Serialises state changes (evaluations and user actions).
    pub(crate) lock: tokio::sync::Mutex<()>,
    /// One lock per rule held while its notification is delivered, so a
    /// rule's notifications arrive in order even when one is retried past
    /// the next evaluation.
    delivering: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Pending notifications this node is delivering for a node that did
    /// not ([`redeliver_abandoned`]), so a later round does not take them
    /// again meanwhile.
    redelivering: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl AlertRuntime {
    pub fn new(clock: Arc<dyn Clock>, config: AlertConfig) -> AlertRuntime {
        AlertRuntime {
            clock,
            webhook: webhook::Client::new(&config),
            config,
            public_url: RwLock::new("http://127.0.0.1:8080".into()),
            lock: tokio::sync::Mutex::new(()),
            delivering: std::sync::Mutex::new(HashMap::new()),
            redelivering: std::sync::Mutex::default(),
        }
    }

    /// The delivery lock of a rule (locks of rules delivering nothing are
    /// dropped as they are handed out).
    fn delivery_lock(&self, rule: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.delivering.lock().unwrap_or_else(|e| e.into_inner());
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        locks.entry(rule.to_owned()).or_default().clone()
    }

    pub fn set_public_url(&self, url: &str) {
        *self.public_url.write().unwrap_or_else(|e| e.into_inner()) =
            url.trim_end_matches('/').to_owned();
    }

    fn link(&self, id: &str) -> String {
        format!(
            "{}/alerts/{id}",
            self.public_url.read().unwrap_or_else(|e| e.into_inner())
        )
    }
}

impl Default for AlertRuntime {
    fn default() -> Self {
        AlertRuntime::new(Arc::new(SystemClock), AlertConfig::default())
    }
}

fn state_of(doc: &Value) -> AlertState {
    doc.get("state")
        .and_then(Value::as_str)
        .and_then(AlertState::parse)
        .unwrap_or(AlertState::Active)
}

/// One evaluation's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub alert_id: String,
    pub state: AlertState,
    pub notified: Notify,
    pub value: Option<f64>,
    /// The groups that crossed, worst first (every one).
    pub crossing: Vec<GroupOutcome>,
}

/// The chart a rule reads for a window.
fn window_query(q: &ChartQuery, (start, end): (i64, i64)) -> ChartQuery {
    let mut q = q.clone();
    q.date_range = DateRange {
        start_ms: Some(start as f64),
        end_ms: Some(end as f64),
    };
    q
}

/// The value of every group of a window, from its chart (one, group
/// `None`, without a group-by; a `count` without events is 0 then).
fn group_values(q: &ChartQuery, series: Vec<Series>) -> Vec<GroupValue> {
    let zero_if_empty =
        q.aggregation == hive_core::chart::Aggregation::Count && q.group_by.is_none();
    let values: Vec<GroupValue> = series
        .into_iter()
        .filter_map(|s| {
            let value = s.points.first()?.value;
            Some(GroupValue {
                group: s.group,
                value,
            })
        })
        .collect();
    if values.is_empty() && zero_if_empty {
        return vec![GroupValue {
            group: None,
            value: 0.0,
        }];
    }
    values
}

/// A rule to evaluate: its project, the rule, its window and, when it
/// reads it, the window before.
type RuleWindows<'a> = (&'a str, &'a AlertRule, (i64, i64), Option<(i64, i64)>);

/// What a rule's windows hold: the values of its window and of the window
/// before (empty when it reads none), or why its project's read failed.
type WindowValues = Result<(Vec<GroupValue>, Vec<GroupValue>), String>;

/// The windows of rules (a project's rule, its window and, for a change
/// rule, the window before), each project's read together
/// (`Store::charts`: one pass over their events where each rule alone
/// would read them again). Per rule, its window's values and the previous
/// window's (empty when it has none), or why its project's read failed.
async fn windows_values(state: &AppState, rules: &[RuleWindows<'_>]) -> Vec<WindowValues> {
    let mut out: Vec<WindowValues> = rules.iter().map(|_| Ok((Vec::new(), Vec::new()))).collect();
    let mut projects: Vec<&str> = rules.iter().map(|(p, ..)| *p).collect();
    projects.sort_unstable();
    projects.dedup();
    for project in projects {
        // The charts of the project's rules, and whose window each is.
        let mut qs = Vec::new();
        let mut whose: Vec<(usize, bool)> = Vec::new();
        for (i, (p, rule, window, previous)) in rules.iter().enumerate() {
            if *p != project {
                continue;
            }
            qs.push(window_query(&rule.query, *window));
            whose.push((i, false));
            if let Some(w) = previous {
                qs.push(window_query(&rule.query, *w));
                whose.push((i, true));
            }
        }
        let read = {
            let (project, qs) = (project.to_owned(), qs.clone());
            state
                .blocking(move |store| store.charts(Some(&project), &qs))
                .await
        };
        match read {
            Ok(charts) => {
                for ((i, previous), (q, series)) in whose.into_iter().zip(qs.iter().zip(charts)) {
                    let values = group_values(q, series);
                    if let Ok((now, before)) = &mut out[i] {
                        if previous {
                            *before = values;
                        } else {
                            *now = values;
                        }
                    }
                }
            }
            Err(e) => {
                let why = e.to_string();
                for (i, _) in whose {
                    out[i] = Err(why.clone());
                }
            }
        }
    }
    out
}

/// An evaluation decided and its rule updated, with its notification
/// (if any) still to send and its history record still to write.
struct Decided {
    outcome: Outcome,
    record: Value,
    notification: Option<(String, Value)>,
    at: i64,
    project_id: String,
    /// The id of the pending notification stored with the rule's state
    /// ([`NOTIFICATION`]), deleted once delivered.
    pending: Option<String>,
}

/// Evaluate every due rule now (by the runtime's clock), send the
/// notifications and record the evaluations; returns when all are done.
pub async fn evaluate_due(state: &SharedState) -> ApiResult<Vec<Outcome>> {
    let decided = decide_due(state).await?;
    Ok(deliver_and_record(state, decided).await)
}

/// Decide every due rule and store its new state, under the alerts lock.
/// Webhooks are not sent here: a slow or failing endpoint (retries take up
/// to a minute) must not hold up other rules or a user pausing this one.
/// A rule that cannot be evaluated is logged and skipped; the others go on.
async fn decide_due(state: &SharedState) -> ApiResult<Vec<Decided>> {
    // Rules read every write acknowledged before the evaluation; while the
    // store is too far behind, the evaluation waits for the next round
    // rather than judge a window with writes missing.
    state.writer.wait_applied().await?;
    let rt = &state.alerts;
    let _guard = rt.lock.lock().await;
    let now = rt.clock.now_ms();
    let mut due = Vec::new();
    for obj in state.store.objects().list(ALERT, None)? {
        let current = state_of(&obj.doc);
        if current == AlertState::Paused {
            continue;
        }
        let rule = match AlertRule::from_json(&obj.doc, now as f64) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(alert = %obj.id, error = %e, "stored alert rule is invalid");
                continue;
            }
        };
        let last = obj.doc.get("last_evaluated_at").and_then(Value::as_i64);
        if last.is_some_and(|l| now < l + rule.frequency.period_ms()) {
            continue;
        }
        due.push((obj, rule, current, last));
    }
    // Nodes sharing a store evaluate each rule once per window: each due
    // evaluation (the rule and the evaluation it follows) is claimed, and
    // only the node that wins it evaluates and notifies.
    let keys: Vec<String> = due
        .iter()
        .map(|(obj, _, _, last)| claim_key(&obj.id, *last))
        .collect();
    let won = if keys.is_empty() {
        Vec::new()
    } else {
        state
            .blocking(move |store| store.objects().claim(&keys))
            .await?
    };
    let won: Vec<(StoredObject, AlertRule, AlertState)> = due
        .into_iter()
        .zip(won)
        .filter(|(_, won)| *won)
        .map(|((obj, rule, current, _), _)| (obj, rule, current))
        .collect();
    let windows: Vec<_> = won
        .iter()
        .map(|(obj, rule, _)| {
            let (window, previous) = rule.windows(now);
            (
                obj.project_id.as_str(),
                rule,
                window,
                rule.needs_previous().then_some(previous),
            )
        })
        .collect();
    let values = windows_values(state, &windows).await;
    let mut out = Vec::new();
    for ((obj, rule, current), values) in won.into_iter().zip(values) {
        let id = obj.id.clone();
        let decided = values.and_then(|values| {
            decide_one(state, obj, rule, current, now, values).map_err(|e| e.to_string())
        });
        match decided {
            Ok(d) => out.push(d),
            Err(e) => tracing::warn!(alert = %id, error = %e, "alert evaluation failed"),
        }
    }
    Ok(out)
}

/// What an evaluation is claimed as: the rule and the evaluation it follows
/// (its time; `first` for a rule never evaluated).
fn claim_key(alert_id: &str, last_evaluated_at: Option<i64>) -> String {
    match last_evaluated_at {
        Some(t) => format!("alert:{alert_id}:after:{t}"),
        None => format!("alert:{alert_id}:first"),
    }
}

/// Send the notifications (concurrently, each with its retries), then
/// record every evaluation with what its delivery came to.
async fn deliver_and_record(state: &SharedState, decided: Vec<Decided>) -> Vec<Outcome> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, d) in decided.into_iter().enumerate() {
        let state = state.clone();
        tasks.spawn(async move {
            let id = d.outcome.alert_id.clone();
            deliver_once(
                &state,
                &id,
                &d.project_id,
                d.at,
                d.record,
                d.notification,
                d.pending,
            )
            .await;
            (i, d.outcome)
        });
    }
    let mut outcomes: Vec<(usize, Outcome)> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(o) => outcomes.push(o),
            Err(e) => tracing::warn!(error = %e, "an alert delivery task failed"),
        }
    }
    outcomes.sort_by_key(|(i, _)| *i);
    outcomes.into_iter().map(|(_, o)| o).collect()
}

/// Deliver an evaluation's notification (if any), record the evaluation
/// with what the delivery came to, then delete its pending notification:
/// a node that dies before that leaves it for [`redeliver_abandoned`].
async fn deliver_once(
    state: &SharedState,
    alert_id: &str,
    project_id: &str,
    at: i64,
    mut record: Value,
    notification: Option<(String, Value)>,
    pending: Option<String>,
) {
    if let Some((url, body)) = &notification {
        let lock = state.alerts.delivery_lock(alert_id);
        let _in_order = lock.lock().await;
        let key = pending.as_deref().unwrap_or(alert_id);
        let r = state.alerts.webhook.deliver(url, body, key).await;
        record["delivery"] = json!({"url": crate::webhook::redact(url), "ok": r.ok,
                                    "attempts": r.attempts, "error": r.error});
    }
    let id = alert_id.to_owned();
    let saved = state
        .blocking(move |store| store.objects().add_evaluation(&id, at, &record))
        .await;
    if let Err(e) = saved {
        tracing::warn!(alert = %alert_id, error = %e, "cannot record an alert evaluation");
    }
    if let Some(pending) = pending {
        let project = project_id.to_owned();
        let done = state
            .blocking(move |store| {
                store
                    .objects()
                    .delete(NOTIFICATION, Some(&project), &pending)
            })
            .await;
        if let Err(e) = done {
            tracing::warn!(alert = %alert_id, error = %e,
                "cannot forget a delivered notification; it may be delivered again");
        }
    }
}

/// Deliver the notifications decided more than
/// [`AlertConfig::redeliver_after`] ago and still pending: the node that
/// decided each died (or lost its store) before delivering it. Each is
/// claimed first, so one node delivers it. A notification counts only if
/// its rule's state was stored with it (the rule was evaluated then or
/// later); otherwise the evaluation did not happen, will be made again,
/// and the notification is dropped.
pub async fn redeliver_abandoned(state: &SharedState) -> ApiResult<usize> {
    let now = state.alerts.clock.now_ms();
    let lease =
        i64::try_from(state.alerts.config.redeliver_after().as_millis()).unwrap_or(i64::MAX);
    let pending = state
        .blocking(|store| store.objects().list(NOTIFICATION, None))
        .await?;
    let stale: Vec<StoredObject> = {
        let taken = state
            .alerts
            .redelivering
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        pending
            .into_iter()
            .filter(|p| {
                !taken.contains(&p.id)
                    && p.doc["at"]
                        .as_i64()
                        .is_some_and(|at| at < now.saturating_sub(lease))
            })
            .collect()
    };
    if stale.is_empty() {
        return Ok(0);
    }
    let keys: Vec<String> = stale.iter().map(|p| format!("notify:{}", p.id)).collect();
    let won = state
        .blocking(move |store| store.objects().claim(&keys))
        .await?;
    let mut delivered = 0;
    for (p, won) in stale.into_iter().zip(won) {
        if !won {
            continue;
        }
        let (alert_id, at) = (
            p.doc["alert_id"].as_str().unwrap_or_default().to_owned(),
            p.doc["at"].as_i64().unwrap_or(0),
        );
        let (rule_id, project) = (alert_id.clone(), p.project_id.clone());
        let rule = state
            .blocking(move |store| store.objects().get(ALERT, Some(&project), &rule_id))
            .await?;
        let stored = rule.is_some_and(|r| {
            r.doc
                .get("last_evaluated_at")
                .and_then(Value::as_i64)
                .is_some_and(|last| last >= at)
        });
        let notification = match (&p.doc["url"], &p.doc["body"]) {
            (Value::String(url), body) if stored => Some((url.clone(), body.clone())),
            _ => None,
        };
        let Some(notification) = notification else {
            tracing::warn!(alert = %alert_id, stored, "a pending notification is dropped: its \
                evaluation was not stored (the rule is evaluated again), or it names no URL");
            let (project, id) = (p.project_id.clone(), p.id.clone());
            state
                .blocking(move |store| store.objects().delete(NOTIFICATION, Some(&project), &id))
                .await?;
            continue;
        };
        tracing::warn!(alert = %alert_id, "delivering a notification its node decided but did not \
            deliver");
        let mut record = p.doc["record"].clone();
        if let Value::Object(m) = &mut record {
            m.insert("redelivered".into(), json!(true));
        }
        state
            .alerts
            .redelivering
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(p.id.clone());
        let state = state.clone();
        // On its own, as the evaluator's deliveries are: a slow webhook
        // must not hold up the next evaluations.
        tokio::spawn(async move {
            let id = p.id.clone();
            deliver_once(
                &state,
                &alert_id,
                &p.project_id,
                at,
                record,
                Some(notification),
                Some(p.id),
            )
            .await;
            state
                .alerts
                .redelivering
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
        });
        delivered += 1;
    }
    Ok(delivered)
}

/// Decide a rule from its window's values (and, for a change rule, the
/// previous window's), and store its new state.
fn decide_one(
    state: &SharedState,
    obj: StoredObject,
    rule: AlertRule,
    current: AlertState,
    now: i64,
    (values, previous): (Vec<GroupValue>, Vec<GroupValue>),
) -> ApiResult<Decided> {
    let (window, _) = rule.windows(now);
    let eval = rule.evaluate(&values, &previous);
    let crossed = eval.crossed;
    let value = eval.value();
    let (new_state, notify) = next(current, Input::Observed { crossed })
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let notification = match (notify, &rule.webhook_url) {
        (Notify::Nothing, _) | (_, None) => None,
        (n, Some(url)) => {
            let status = if n == Notify::Fired {
                "triggered"
            } else {
                "resolved"
            };
            Some((
                url.clone(),
                notification(state, &obj, &rule, status, &eval, now),
            ))
        }
    };
    let mut doc = obj.doc.as_object().cloned().unwrap_or_default();
    doc.insert("state".into(), json!(new_state.name()));
    doc.insert("last_evaluated_at".into(), json!(now));
    doc.insert("last_value".into(), json!(value));
    if notify == Notify::Fired {
        doc.insert("last_triggered_at".into(), json!(now));
    }
    let mut record = json!({
        "at": format_rfc3339_ms(now),
        "value": value,
        "previous": eval.previous(),
        "change_percent": eval.change(),
        "threshold": rule.threshold(),
        "crossed": crossed,
        "state_before": current.name(),
        "state": new_state.name(),
        "notified": match notify { Notify::Nothing => Value::Null, Notify::Fired => json!("triggered"), Notify::Resolved => json!("resolved") },
        "delivery": Value::Null,
        "window": {"start": format_rfc3339_ms(window.0), "end": format_rfc3339_ms(window.1)},
    });
    if let (Some(group_by), Value::Object(m)) = (&rule.query.group_by, &mut record) {
        group_fields(m, &group_by.dotted(), &eval);
    }
    // The rule's new state and its notification, stored in one write: the
    // notification stays pending until delivered, so a node that dies
    // before delivering it leaves it to another (`redeliver_abandoned`).
    let rule_doc = Value::Object(doc);
    let pending = notification.as_ref().map(|(url, body)| {
        (
            format!("{}:{now}", obj.id),
            json!({"alert_id": obj.id, "url": url, "body": body, "record": record, "at": now}),
        )
    });
    let rule_put = ObjectPut {
        kind: ALERT,
        project_id: &obj.project_id,
        id: &obj.id,
        doc: &rule_doc,
    };
    // The notification first: where the two cannot be stored at once (a
    // cluster), a rule's state is stored only with its notification, and
    // a notification without its state is dropped (`redeliver_abandoned`).
    match &pending {
        Some((id, doc)) => state.store.objects().put_all(&[
            ObjectPut {
                kind: NOTIFICATION,
                project_id: &obj.project_id,
                id,
                doc,
            },
            rule_put,
        ])?,
        None => state.store.objects().put_all(&[rule_put])?,
    }
    Ok(Decided {
        project_id: obj.project_id.clone(),
        pending: pending.map(|(id, _)| id),
        outcome: Outcome {
            alert_id: obj.id,
            state: new_state,
            notified: notify,
            value,
            crossing: eval.crossing,
        },
        record,
        notification,
        at: now,
    })
}

/// What a grouped rule's history and JSON notifications add: `group_by`,
/// `group` (whose value `value` is), `groups` (the crossing groups, worst
/// first, at most [`hive_core::alert::MAX_LISTED_GROUPS`]), `groups_more`
/// (how many more cross) and `groups_evaluated`.
fn group_fields(m: &mut Map<String, Value>, group_by: &str, eval: &Evaluation) {
    let (listed, more) = eval.listed_json();
    m.insert("group_by".into(), json!(group_by));
    m.insert(
        "group".into(),
        json!(eval.headline.as_ref().and_then(|h| h.group.clone())),
    );
    m.insert("groups".into(), Value::Array(listed));
    m.insert("groups_more".into(), json!(more));
    m.insert("groups_evaluated".into(), json!(eval.groups));
}

/// Text for Slack's mrkdwn: `&`, `<` and `>` escaped, as Slack asks.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn notification(
    state: &SharedState,
    obj: &StoredObject,
    rule: &AlertRule,
    status: &str,
    eval: &Evaluation,
    now: i64,
) -> Value {
    let link = state.alerts.link(&obj.id);
    let condition = match rule.condition {
        hive_core::alert::Condition::Aggregate {
            comparison,
            threshold,
        } => format!(
            "{} {} {threshold}",
            rule.query.aggregation.name(),
            comparison.name()
        ),
        hive_core::alert::Condition::Drift {
            comparison,
            percent,
        } => format!("change {} {percent}%", comparison.name()),
    };
    let fmt = |v: Option<f64>| {
        v.map(|v| format!("{v}"))
            .unwrap_or_else(|| "no data".into())
    };
    let group_by = rule.query.group_by.as_ref().map(|g| g.dotted());
    if rule.slack {
        let emoji = if status == "triggered" {
            ":rotating_light:"
        } else {
            ":white_check_mark:"
        };
        let name = slack_escape(&rule.name);
        let text = match &group_by {
            None => format!(
                "{emoji} Alert *{name}* {status}: value {} ({condition}).",
                fmt(eval.value())
            ),
            Some(g) if !eval.crossing.is_empty() => {
                let named: Vec<String> = eval
                    .crossing
                    .iter()
                    .take(hive_core::alert::MAX_LISTED_GROUPS)
                    .map(|o| {
                        let change = o.change.map(|c| format!(" ({c:+.1}%)"));
                        format!(
                            "{}: {}{}",
                            slack_escape(o.label()),
                            o.value,
                            change.unwrap_or_default()
                        )
                    })
                    .collect();
                let more = match eval.listed_json().1 {
                    0 => String::new(),
                    n => format!(" and {n} more"),
                };
                format!(
                    "{emoji} Alert *{name}* {status} ({condition}) for {} {}{more}.",
                    slack_escape(g),
                    named.join(", ")
                )
            }
            Some(g) => {
                let closest = match &eval.headline {
                    Some(h) => format!("; closest {}: {}", slack_escape(h.label()), h.value),
                    None => "; no data".into(),
                };
                format!(
                    "{emoji} Alert *{name}* {status}: no {} crosses ({condition}){closest}.",
                    slack_escape(g)
                )
            }
        };
        return json!({"text": format!("{text} <{link}|Open in Hive>")});
    }
    let mut body = json!({
        "alert": {"id": obj.id, "name": rule.name, "project_id": obj.project_id,
                  "query": rule.query_json, "frequency": rule.frequency.name()},
        "status": status,
        "value": eval.value(),
        "previous_value": eval.previous(),
        "change_percent": eval.change(),
        "threshold": rule.threshold(),
        "condition": condition,
        "evaluated_at": format_rfc3339_ms(now),
        "link": link,
    });
    if let (Some(g), Value::Object(m)) = (&group_by, &mut body) {
        group_fields(m, g, eval);
    }
    body
}

/// Run [`evaluate_due`] every `config.tick` until the task is dropped.
pub fn spawn_evaluator(state: SharedState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(state.alerts.config.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match decide_due(&state).await {
                // Deliveries run on their own, so a slow webhook does not
                // delay the next evaluations.
                Ok(decided) if !decided.is_empty() => {
                    let state = state.clone();
                    tokio::spawn(async move { deliver_and_record(&state, decided).await });
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "alert evaluation failed"),
            }
            if let Err(e) = redeliver_abandoned(&state).await {
                tracing::warn!(error = %e, "cannot look for undelivered alert notifications");
            }
        }
    })
}

// ---- API ----

fn alert_json(o: &StoredObject) -> Value {
    let mut v = object_json(o);
    if let Value::Object(m) = &mut v {
        if !m.contains_key("state") {
            m.insert("state".into(), json!("active"));
        }
        if let Some(at) = m.get("last_evaluated_at").and_then(Value::as_i64) {
            m.insert("last_evaluated_at".into(), json!(format_rfc3339_ms(at)));
        }
        if let Some(at) = m.get("last_triggered_at").and_then(Value::as_i64) {
            m.insert("last_triggered_at".into(), json!(format_rfc3339_ms(at)));
        }
    }
    v
}

/// Validate a rule document (merged over `previous` for updates); keeps
/// the runtime fields of `previous`.
pub fn rule_doc(body: &Map<String, Value>, previous: Option<&Value>, now: i64) -> ApiResult<Value> {
    let mut merged = previous
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, v) in body {
        if !matches!(
            k.as_str(),
            "state" | "last_evaluated_at" | "last_value" | "last_triggered_at"
        ) {
            merged.insert(k.clone(), v.clone());
        }
    }
    let rule = AlertRule::from_json(&Value::Object(merged.clone()), now as f64)
        .map_err(|e| ApiError::bad(e.to_string()))?;
    let mut doc = rule.to_json().as_object().cloned().unwrap_or_default();
    if let Some(d) = crate::body::text(&merged, "description")? {
        doc.insert("description".into(), json!(d));
    }
    for k in [
        "state",
        "last_evaluated_at",
        "last_value",
        "last_triggered_at",
    ] {
        if let Some(v) = previous.and_then(|p| p.get(k)) {
            doc.insert(k.into(), v.clone());
        }
    }
    doc.entry("state").or_insert(json!("active"));
    Ok(Value::Object(doc))
}

/// [`rule_doc`], then the webhook's destination checked: unless private
/// destinations are allowed, a host that is (or resolves to) a non-public
/// address is a 400 naming `webhook.url` (see [`crate::destination`]).
pub async fn checked_rule_doc(
    state: &AppState,
    body: &Map<String, Value>,
    previous: Option<&Value>,
) -> ApiResult<Value> {
    let doc = rule_doc(body, previous, state.alerts.clock.now_ms())?;
    let url = doc.pointer("/webhook/url").and_then(Value::as_str);
    if let Some(url) = url
        && !state.alerts.config.webhook_allow_private
    {
        let target = url.to_owned();
        let lookup = tokio::task::spawn_blocking(move || crate::destination::check(&target, false));
        // A lookup that hangs is left to the check at delivery.
        let check = tokio::time::timeout(Duration::from_secs(5), lookup).await;
        if let Ok(Ok(crate::destination::Check::Refused)) = check {
            return Err(ApiError::bad(crate::destination::refusal(url)));
        }
    }
    Ok(doc)
}

fn find(state: &SharedState, headers: &HeaderMap, id: &str) -> ApiResult<StoredObject> {
    let caller = authenticate(state, headers)?;
    let project = project_for_read(state, &caller, None)?;
    state
        .store
        .objects()
        .get(ALERT, project.as_deref(), id)?
        .ok_or_else(|| ApiError::NotFound(format!("no alert {id:?}")))
}

/// `GET /v1/alerts[?project=]`
#[utoipa::path(
    get,
    path = "/v1/alerts",
    tag = "alerts",
    params(("project" = Option<String>, Query, description = "Project name (admin keys)")),
    responses((status = 200, description = "Alert rules", body = crate::openapi::ListEnvelope), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn list_alerts(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let caller = authenticate(&state, &headers)?;
    let project = project_for_read(&state, &caller, params.get("project").map(String::as_str))?;
    let list = state.store.objects().list(ALERT, project.as_deref())?;
    Ok(Json(
        json!({"success": true, "data": list.iter().map(alert_json).collect::<Vec<_>>()}),
    ))
}

/// `POST /v1/alerts`
#[utoipa::path(
    post,
    path = "/v1/alerts",
    tag = "alerts",
    request_body(content = crate::openapi::AlertBody, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`)"),
    responses((status = 200, description = "The rule", body = crate::openapi::DataEnvelope), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn create_alert(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (caller, obj) = crate::body::caller_and_body(&state, &headers, &body)?;
    caller.require_read()?;
    let named = crate::body::text(&obj, "project")?;
    let doc = checked_rule_doc(&state, &obj, None).await?;
    // Only a valid rule may create the project it names.
    let project = project_for_write(&state, &caller, named.as_deref())?;
    let saved = state
        .store
        .objects()
        .put(ALERT, &project, &new_id(), &doc)?;
    Ok(Json(json!({"success": true, "data": alert_json(&saved)})))
}

/// `GET /v1/alerts/{id}`
#[utoipa::path(
    get,
    path = "/v1/alerts/{alert_id}",
    tag = "alerts",
    params(("alert_id" = String, Path, description = "The alert id")),
    responses((status = 200, description = "The rule and its state", body = crate::openapi::DataEnvelope), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn get_alert(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let o = find(&state, &headers, &id)?;
    Ok(Json(json!({"success": true, "data": alert_json(&o)})))
}

/// `PUT|PATCH /v1/alerts/{id}`
#[utoipa::path(
    method(put, patch),
    path = "/v1/alerts/{alert_id}",
    tag = "alerts",
    params(("alert_id" = String, Path, description = "The alert id")),
    request_body(content = crate::openapi::AlertBody, content_type = "application/json", description = "JSON (gzip accepted with `Content-Encoding: gzip`)"),
    responses((status = 200, description = "The rule; the fields given replace the saved ones", body = crate::openapi::DataEnvelope), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn update_alert(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let obj = json_object(&headers, &body, state.config.max_decompressed_bytes)?;
    let _guard = state.alerts.lock.lock().await;
    let o = find(&state, &headers, &id)?;
    let doc = checked_rule_doc(&state, &obj, Some(&o.doc)).await?;
    let saved = state.store.objects().put(ALERT, &o.project_id, &id, &doc)?;
    Ok(Json(json!({"success": true, "data": alert_json(&saved)})))
}

/// `DELETE /v1/alerts/{id}`
#[utoipa::path(
    delete,
    path = "/v1/alerts/{alert_id}",
    tag = "alerts",
    params(("alert_id" = String, Path, description = "The alert id")),
    responses((status = 200, description = "Deleted", body = Object), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn delete_alert(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let _guard = state.alerts.lock.lock().await;
    let o = find(&state, &headers, &id)?;
    state
        .store
        .objects()
        .delete(ALERT, Some(&o.project_id), &id)?;
    Ok(Json(json!({"success": true, "message": "alert deleted"})))
}

/// Apply a user action to a rule (API and dashboard).
pub async fn act(state: &SharedState, o: StoredObject, action: Action) -> ApiResult<StoredObject> {
    let _guard = state.alerts.lock.lock().await;
    // Re-read under the lock: an evaluation may have changed the state.
    let o = state
        .store
        .objects()
        .get(ALERT, Some(&o.project_id), &o.id)?
        .ok_or_else(|| ApiError::NotFound(format!("no alert {:?}", o.id)))?;
    let (new_state, _) =
        next(state_of(&o.doc), Input::Act(action)).map_err(|e| ApiError::bad(e.to_string()))?;
    let mut doc = o.doc.as_object().cloned().unwrap_or_default();
    doc.insert("state".into(), json!(new_state.name()));
    Ok(state
        .store
        .objects()
        .put(ALERT, &o.project_id, &o.id, &Value::Object(doc))?)
}

/// `POST /v1/alerts/{id}/{pause|resume|mute|unmute}`
#[utoipa::path(
    post,
    path = "/v1/alerts/{alert_id}/{action}",
    tag = "alerts",
    params(("alert_id" = String, Path, description = "The alert id"), ("action" = String, Path, description = "`pause`, `resume`, `mute` or `unmute`")),
    responses((status = 200, description = "The rule in its new state", body = crate::openapi::DataEnvelope), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn alert_action(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let action = Action::parse(&action).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no alert action {action:?}: use pause, resume, mute or unmute"
        ))
    })?;
    let caller = authenticate(&state, &headers)?;
    caller.require_read()?;
    let o = find(&state, &headers, &id)?;
    let saved = act(&state, o, action).await?;
    Ok(Json(json!({"success": true, "data": alert_json(&saved)})))
}

/// `GET /v1/alerts/{id}/history[?limit=]`: evaluations, newest first.
#[utoipa::path(
    get,
    path = "/v1/alerts/{alert_id}/history",
    tag = "alerts",
    params(("alert_id" = String, Path, description = "The alert id"), ("limit" = Option<usize>, Query, description = "Evaluations returned")),
    responses((status = 200, description = "Evaluations, newest first", body = crate::openapi::ListEnvelope), (status = 400, description = "Malformed or wrongly typed request (the message names the field)", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "The key's scope or project does not allow it", body = crate::openapi::ErrorBody), (status = 404, description = "Not found", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`), catching up, or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn alert_history(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let o = find(&state, &headers, &id)?;
    let limit = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(100usize)
        .clamp(1, 1000);
    let evals = state.store.objects().evaluations(&o.id, limit)?;
    Ok(Json(
        json!({"success": true, "data": evals.iter().map(|e| e.doc.clone()).collect::<Vec<_>>()}),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn slack_text_is_escaped() {
        assert_eq!(
            super::slack_escape("<!channel> & <http://x|y>"),
            "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
        );
    }
}
