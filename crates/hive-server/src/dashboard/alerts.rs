//! Alerts in the dashboard: the rules with their state and actions, a form
//! for a new rule, and one rule's evaluation history.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use hive_core::alert::{Action, AlertRule, Condition, Frequency};
use hive_core::chart::{Bucket, ChartQuery};
use hive_core::filter::DateRange;
use hive_store::objects::ALERT;
use serde_json::{Value, json};

use super::charts::ChartParams;
use super::format::{self, urlencode};
use super::{Layout, PageResult, field, html, layout, posted, svg, web};
use crate::SharedState;
use crate::alerts::checked_rule_doc;
use crate::error::ApiError;

pub struct AlertRow {
    pub id: String,
    pub name: String,
    pub state: String,
    pub condition: String,
    pub frequency: String,
    pub last_value: String,
    pub last_evaluated: String,
    /// When the evaluator checks the rule next (UTC), or why not.
    pub next_check: String,
    pub webhook: String,
    /// The group-by field, empty without one.
    pub group_by: String,
    pub actions: Vec<&'static str>,
}

/// A group that crossed: its name (`(none)` for events without the
/// field) and value.
pub struct GroupCell {
    pub group: String,
    pub value: String,
}

pub struct EvalRow {
    pub at: String,
    pub value: String,
    pub threshold: String,
    pub transition: String,
    pub notified: String,
    pub delivery: String,
    /// The crossing groups as recorded (at most 20), and how many more.
    pub groups: Vec<GroupCell>,
    pub groups_more: u64,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    l: Layout,
    alerts: Vec<AlertRow>,
    error: String,
    aggs: &'static [&'static str],
    frequencies: &'static [(&'static str, &'static str)],
}

#[derive(Template)]
#[template(path = "alert.html")]
struct AlertPage {
    l: Layout,
    a: AlertRow,
    query: String,
    history: Vec<EvalRow>,
    /// Whether the history has a groups column.
    grouped: bool,
    /// The edit form's values.
    edit: RuleForm,
    frequencies: &'static [(&'static str, &'static str)],
    /// Why an edit was refused.
    error: String,
    /// Where the page fetches the rule's query over recent windows drawn
    /// (empty when the rule cannot be charted), and what it shows.
    draw: String,
    chart_note: String,
}

/// What the edit form shows of a rule (never its webhook URL, which may
/// hold a secret: an empty field keeps it).
struct RuleForm {
    name: String,
    kind: String,
    comparison: String,
    threshold: String,
    frequency: String,
    /// The frequency is none of [`FREQUENCIES`] (an interval set by the API).
    other_frequency: bool,
    slack: bool,
}

impl RuleForm {
    fn new(
        name: String,
        kind: String,
        comparison: String,
        threshold: String,
        frequency: String,
        slack: bool,
    ) -> RuleForm {
        RuleForm {
            other_frequency: !FREQUENCIES.iter().any(|(v, _)| *v == frequency),
            name,
            kind,
            comparison,
            threshold,
            frequency,
            slack,
        }
    }
}

/// Frequencies the forms offer: (value, label).
const FREQUENCIES: [(&str, &str); 5] = [
    ("hourly", "hourly"),
    ("daily", "daily"),
    ("weekly", "weekly"),
    ("monthly", "monthly"),
    ("15m", "every 15 minutes"),
];

/// The rule's query over its recent past, in buckets of about its window
/// (UTC calendar buckets; the rule itself checks the window that ends at
/// each evaluation), and a line saying so.
fn recent(rule: &AlertRule, now_ms: i64) -> (ChartQuery, String) {
    const M: i64 = 60_000;
    const H: i64 = 60 * M;
    const D: i64 = 24 * H;
    let (bucket, span) = match rule.frequency {
        Frequency::Hourly => (Bucket::Hour, 48 * H),
        Frequency::Daily => (Bucket::Day, 30 * D),
        Frequency::Weekly => (Bucket::Week, 12 * 7 * D),
        Frequency::Monthly => (Bucket::Month, 365 * D),
        Frequency::Every(ms) if ms < H => (Bucket::Minute, (ms * 48).clamp(H, 6 * H)),
        Frequency::Every(ms) if ms < D => (Bucket::Hour, (ms * 48).clamp(48 * H, 7 * D)),
        Frequency::Every(_) => (Bucket::Day, 30 * D),
    };
    let mut q = rule.query.clone();
    q.bucket = bucket;
    q.date_range = DateRange {
        start_ms: Some((now_ms - span) as f64),
        end_ms: Some(now_ms as f64),
    };
    let days = span / D;
    let over = if days >= 2 {
        format!("the last {days} days")
    } else {
        format!("the last {} hours", span / H)
    };
    let per = bucket.name();
    let note = match rule.condition {
        Condition::Aggregate { .. } => format!(
            "The rule's query per {per} (UTC) over {over}, with its threshold. Each evaluation \
             checks the window that ends then ({}), so its value can differ from a calendar \
             {per}'s.",
            rule.frequency.name()
        ),
        Condition::Drift { percent, .. } => format!(
            "The rule's query per {per} (UTC) over {over}. Each evaluation compares the window \
             that ends then ({}) with the one before it, and crosses on a change of more than \
             {percent}%.",
            rule.frequency.name()
        ),
    };
    (q, note)
}

fn value_text(v: Option<&Value>) -> String {
    match v.and_then(Value::as_f64) {
        Some(x) => super::svg::num(x),
        None => "–".into(),
    }
}

fn row(o: &hive_store::objects::StoredObject) -> AlertRow {
    let d = &o.doc;
    let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let state = if s("state").is_empty() {
        "active".to_owned()
    } else {
        s("state")
    };
    let q = d.get("query").cloned().unwrap_or(Value::Null);
    let what = format!(
        "{} of {}",
        q.get("aggregation")
            .and_then(Value::as_str)
            .unwrap_or("count"),
        q.get("metric").and_then(Value::as_str).unwrap_or("events")
    );
    let group_by = q
        .get("groupBy")
        .or_else(|| q.get("group_by"))
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or("")
        .to_owned();
    let threshold = value_text(d.get("threshold"));
    let mut condition = if s("type") == "drift" {
        format!(
            "{what} changes {} {threshold}% vs the previous period",
            s("comparison")
        )
    } else {
        format!("{what} {} {threshold}", s("comparison"))
    };
    if !group_by.is_empty() {
        condition.push_str(&format!(" for any {group_by}"));
    }
    let actions = match state.as_str() {
        "paused" => vec!["resume"],
        "muted" => vec!["unmute", "pause"],
        _ => vec!["mute", "pause"],
    };
    AlertRow {
        id: o.id.clone(),
        name: s("name"),
        state: state.clone(),
        condition,
        frequency: s("frequency"),
        last_value: value_text(d.get("last_value")),
        last_evaluated: d
            .get("last_evaluated_at")
            .and_then(Value::as_i64)
            .map(format::time)
            .unwrap_or_else(|| "never".into()),
        next_check: if state == "paused" {
            "paused".into()
        } else {
            match (
                d.get("last_evaluated_at").and_then(Value::as_i64),
                Frequency::parse(&s("frequency")),
            ) {
                (Some(last), Some(f)) => format::time(last + f.period_ms()),
                _ => "due now".into(),
            }
        },
        webhook: d
            .get("webhook")
            .and_then(|w| w.get("url"))
            .and_then(Value::as_str)
            .map(crate::webhook::redact)
            .unwrap_or_default(),
        group_by,
        actions,
    }
}

async fn render_list(state: &SharedState, l: Layout, error: String) -> PageResult {
    let pid = l.project.id.clone();
    let list = state
        .blocking(move |store| store.objects().list(ALERT, Some(&pid)))
        .await?;
    html(&AlertsPage {
        l,
        alerts: list.iter().map(row).collect(),
        error,
        aggs: &hive_core::chart::Aggregation::NAMES,
        frequencies: &FREQUENCIES,
    })
}

/// `GET /alerts`
pub async fn page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> PageResult {
    let web = web(&state, &headers).await?;
    let project = ChartParams::parse(query.as_deref()).project;
    let l = layout(&state, &web, project.as_deref(), "alerts").await?;
    render_list(&state, l, String::new()).await
}

/// `POST /alerts`: a new rule from the form.
pub async fn create(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> PageResult {
    let (web, fields) = posted(&state, &headers, &body).await?;
    let l = layout(&state, &web, field(&fields, "project"), "alerts").await?;
    let f = |k: &str| field(&fields, k).unwrap_or("").trim().to_owned();
    let mut query = json!({"aggregation": f("agg")});
    if !f("metric").is_empty() {
        query["metric"] = json!(f("metric"));
    }
    if !f("ff").is_empty() {
        query["filters"] = json!([{"field": f("ff"), "operator": "is", "value": f("fv")}]);
    }
    if !f("gb").is_empty() {
        query["groupBy"] = json!(f("gb"));
    }
    let webhook = if f("webhook").is_empty() {
        Value::Null
    } else {
        json!({"url": f("webhook"), "slack": f("slack") == "on"})
    };
    let body = json!({
        "name": f("name"), "query": query, "type": f("type"), "comparison": f("comparison"),
        "threshold": f("threshold"), "frequency": f("frequency"), "webhook": webhook,
    });
    let obj = body.as_object().cloned().unwrap_or_default();
    let doc = match checked_rule_doc(&state, &obj, None).await {
        Ok(d) => d,
        Err(e) => return render_list(&state, l, e.to_string()).await,
    };
    let pid = l.project.id.clone();
    state
        .blocking(move |store| {
            store
                .objects()
                .put(ALERT, &pid, &crate::body::new_id(), &doc)
        })
        .await?;
    Ok(Redirect::to(&format!("/alerts?{}", l.pq())).into_response())
}

/// `GET /alerts/{id}`: the rule and its evaluations.
pub async fn detail(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> PageResult {
    let web = web(&state, &headers).await?;
    let o = state
        .blocking(move |store| -> hive_store::Result<_> {
            let Some(o) = store.objects().get(ALERT, None, &id)? else {
                return Ok(None);
            };
            let evals = store.objects().evaluations(&o.id, 200)?;
            Ok(Some((o, evals)))
        })
        .await?;
    let Some((o, evals)) = o else {
        return Err(ApiError::NotFound("no such alert".into()).into());
    };
    let named = ChartParams::parse(query.as_deref())
        .project
        .unwrap_or(o.project_id.clone());
    let l = layout(&state, &web, Some(&named), "alerts").await?;
    if l.project.id != o.project_id {
        return Err(ApiError::NotFound("no such alert in this project".into()).into());
    }
    render_detail(&state, l, o, evals, None).await
}

/// `GET /alerts/{id}/recent?project=NAME`: the rule's query over recent
/// windows drawn (SVG, legend, the threshold), for its page to show.
pub async fn recent_values(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> PageResult {
    let web = web(&state, &headers).await?;
    let Some(o) = state
        .blocking(move |store| store.objects().get(ALERT, None, &id))
        .await?
    else {
        return Err(ApiError::NotFound("no such alert".into()).into());
    };
    let named = ChartParams::parse(query.as_deref())
        .project
        .unwrap_or(o.project_id.clone());
    let l = layout(&state, &web, Some(&named), "alerts").await?;
    if l.project.id != o.project_id {
        return Err(ApiError::NotFound("no such alert in this project".into()).into());
    }
    let now = state.alerts.clock.now_ms();
    let drawn = match AlertRule::from_json(&o.doc, now as f64) {
        Ok(rule) => {
            let (q, _) = recent(&rule, now);
            let threshold = match rule.condition {
                Condition::Aggregate { threshold, .. } => Some(threshold),
                Condition::Drift { .. } => None,
            };
            let frame = svg::Frame::of(&q, now);
            let pid = o.project_id.clone();
            let series = state.read(move |store| store.chart(Some(&pid), &q)).await?;
            super::charts::DrawnChart {
                svg: svg::chart_with(&series, &frame, &rule.name, threshold),
                legend: super::charts::legend(&series),
                error: String::new(),
            }
        }
        Err(e) => super::charts::DrawnChart {
            svg: String::new(),
            legend: String::new(),
            error: format!("This rule cannot be charted: {e}"),
        },
    };
    html(&drawn)
}

/// The rule's page; `refused`: an edit that was refused, why, and the
/// values to show again in its form.
async fn render_detail(
    state: &SharedState,
    l: Layout,
    o: hive_store::objects::StoredObject,
    evals: Vec<hive_store::objects::Evaluation>,
    refused: Option<(String, RuleForm)>,
) -> PageResult {
    let history = evals
        .iter()
        .map(|e| {
            let d = &e.doc;
            let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let delivery = match d.get("delivery") {
                Some(Value::Object(m)) => format!(
                    "{} after {} attempt(s){}",
                    if m.get("ok") == Some(&Value::Bool(true)) {
                        "delivered"
                    } else {
                        "failed"
                    },
                    m.get("attempts").and_then(Value::as_u64).unwrap_or(0),
                    m.get("error")
                        .and_then(Value::as_str)
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                ),
                _ => String::new(),
            };
            let mut value = value_text(d.get("value"));
            if let Some(c) = d.get("change_percent").and_then(Value::as_f64) {
                value.push_str(&format!(" ({c:+.1}%)"));
            }
            let groups = d
                .get("groups")
                .and_then(Value::as_array)
                .map(|gs| {
                    gs.iter()
                        .map(|g| GroupCell {
                            group: g
                                .get("group")
                                .and_then(Value::as_str)
                                .unwrap_or("(none)")
                                .to_owned(),
                            value: {
                                let mut v = value_text(g.get("value"));
                                if let Some(c) = g.get("change_percent").and_then(Value::as_f64) {
                                    v.push_str(&format!(" ({c:+.1}%)"));
                                }
                                v
                            },
                        })
                        .collect()
                })
                .unwrap_or_default();
            EvalRow {
                at: format::time(e.at),
                value,
                threshold: value_text(d.get("threshold")),
                transition: format!("{} → {}", s("state_before"), s("state")),
                notified: s("notified"),
                delivery,
                groups,
                groups_more: d.get("groups_more").and_then(Value::as_u64).unwrap_or(0),
            }
        })
        .collect();
    // What the rule watches, recently: drawn apart (`GET
    // /alerts/{id}/recent`), so the page answers before that read.
    let now = state.alerts.clock.now_ms();
    let (draw, chart_note) = match AlertRule::from_json(&o.doc, now as f64) {
        Ok(rule) => (
            format!("/alerts/{}/recent?{}", urlencode(&o.id), l.pq()),
            recent(&rule, now).1,
        ),
        Err(e) => (String::new(), format!("This rule cannot be charted: {e}")),
    };
    let a = row(&o);
    let d = &o.doc;
    let s = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let (error, edit) = refused.unwrap_or_else(|| {
        let threshold = match d.get("threshold").and_then(Value::as_f64) {
            Some(t) if t.fract() == 0.0 && t.abs() < 1e15 => format!("{}", t as i64),
            Some(t) => t.to_string(),
            None => String::new(),
        };
        let slack = d
            .get("webhook")
            .and_then(|w| w.get("slack"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        (
            String::new(),
            RuleForm::new(
                s("name"),
                s("type"),
                s("comparison"),
                threshold,
                s("frequency"),
                slack,
            ),
        )
    });
    html(&AlertPage {
        edit,
        frequencies: &FREQUENCIES,
        error,
        draw,
        chart_note,
        grouped: !a.group_by.is_empty() || evals.iter().any(|e| e.doc.get("group_by").is_some()),
        a,
        query: serde_json::to_string_pretty(o.doc.get("query").unwrap_or(&Value::Null))
            .unwrap_or_default(),
        l,
        history,
    })
}

/// `POST /alerts/{id}/edit`: change a rule's name, condition, frequency
/// or webhook; its query, state and history are kept.
pub async fn edit(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: bytes::Bytes,
) -> PageResult {
    let (web, fields) = posted(&state, &headers, &body).await?;
    let l = layout(&state, &web, field(&fields, "project"), "alerts").await?;
    let f = |k: &str| field(&fields, k).unwrap_or("").trim().to_owned();
    let mut change = serde_json::Map::new();
    for k in ["name", "type", "comparison", "threshold", "frequency"] {
        change.insert(k.into(), json!(f(k)));
    }
    // Serialised with evaluations, as the API's update is.
    let _guard = state.alerts.lock.lock().await;
    let (pid, key) = (l.project.id.clone(), id.clone());
    let (o, evals) = state
        .blocking(move |store| -> hive_store::Result<_> {
            let Some(o) = store.objects().get(ALERT, Some(&pid), &key)? else {
                return Ok(None);
            };
            let evals = store.objects().evaluations(&o.id, 200)?;
            Ok(Some((o, evals)))
        })
        .await?
        .ok_or_else(|| ApiError::NotFound("no such alert in this project".into()))?;
    let current = o.doc.get("webhook").cloned().unwrap_or(Value::Null);
    let webhook = if f("no_webhook") == "on" {
        Value::Null
    } else if !f("webhook").is_empty() {
        json!({"url": f("webhook"), "slack": f("slack") == "on"})
    } else if let Some(url) = current.get("url") {
        json!({"url": url, "slack": f("slack") == "on"})
    } else {
        Value::Null
    };
    change.insert("webhook".into(), webhook);
    let doc = match checked_rule_doc(&state, &change, Some(&o.doc)).await {
        Ok(d) => d,
        Err(e) => {
            drop(_guard);
            let typed = RuleForm::new(
                f("name"),
                f("type"),
                f("comparison"),
                f("threshold"),
                f("frequency"),
                f("slack") == "on",
            );
            return render_detail(&state, l, o, evals, Some((e.to_string(), typed))).await;
        }
    };
    let (pid, key) = (o.project_id.clone(), o.id.clone());
    state
        .blocking(move |store| store.objects().put(ALERT, &pid, &key, &doc))
        .await?;
    Ok(Redirect::to(&format!(
        "/alerts/{}?project={}",
        urlencode(&id),
        urlencode(&l.project.name)
    ))
    .into_response())
}

/// `POST /alerts/{id}/{pause|resume|mute|unmute|delete}`
pub async fn act(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: bytes::Bytes,
) -> PageResult {
    let (web, fields) = posted(&state, &headers, &body).await?;
    let l = layout(&state, &web, field(&fields, "project"), "alerts").await?;
    let o = state
        .store
        .objects()
        .get(ALERT, Some(&l.project.id), &id)?
        .ok_or_else(|| ApiError::NotFound("no such alert".into()))?;
    if action == "delete" {
        state
            .store
            .objects()
            .delete(ALERT, Some(&l.project.id), &id)?;
        return Ok(Redirect::to(&format!("/alerts?{}", l.pq())).into_response());
    }
    let action = Action::parse(&action)
        .ok_or_else(|| ApiError::NotFound(format!("no alert action {action:?}")))?;
    crate::alerts::act(&state, o, action).await?;
    let back = match field(&fields, "back") {
        Some("detail") => format!(
            "/alerts/{}?project={}",
            urlencode(&id),
            urlencode(&l.project.name)
        ),
        _ => format!("/alerts?{}", l.pq()),
    };
    Ok(Redirect::to(&back).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(frequency: &str, kind: &str) -> AlertRule {
        AlertRule::from_json(
            &json!({"name": "r", "type": kind, "comparison": "above", "threshold": 10,
                    "frequency": frequency,
                    "query": {"metric": "metrics.latency_ms", "aggregation": "avg",
                              "dateRange": {"relative": "52w"}}}),
            0.0,
        )
        .unwrap()
    }

    #[test]
    fn recent_windows_follow_the_frequency() {
        let now = 1_800_000_000_000;
        const H: f64 = 3_600_000.0;
        let cases = [
            ("hourly", Bucket::Hour, 48.0 * H, "the last 2 days"),
            ("daily", Bucket::Day, 30.0 * 24.0 * H, "the last 30 days"),
            ("weekly", Bucket::Week, 84.0 * 24.0 * H, "the last 84 days"),
            (
                "monthly",
                Bucket::Month,
                365.0 * 24.0 * H,
                "the last 365 days",
            ),
            ("5m", Bucket::Minute, 4.0 * H, "the last 4 hours"),
            ("30m", Bucket::Minute, 6.0 * H, "the last 6 hours"),
            ("2h", Bucket::Hour, 96.0 * H, "the last 4 days"),
            ("2d", Bucket::Day, 30.0 * 24.0 * H, "the last 30 days"),
        ];
        for (frequency, bucket, span, over) in cases {
            let (q, note) = recent(&rule(frequency, "aggregate"), now);
            assert_eq!(q.bucket, bucket, "{frequency}");
            // The rule's own date range is replaced by the recent past.
            assert_eq!(q.date_range.end_ms, Some(now as f64), "{frequency}");
            assert_eq!(
                q.date_range.start_ms,
                Some(now as f64 - span),
                "{frequency}"
            );
            assert!(note.contains(over), "{frequency}: {note}");
            assert!(note.contains("with its threshold"), "{note}");
        }
        let (_, note) = recent(&rule("hourly", "drift"), now);
        assert!(note.contains("more than 10%"), "{note}");
    }
}
