//! Alert rules and their state machine.
//!
//! A rule is a chart query (its whole evaluation window is one bucket) plus
//! a condition: an absolute threshold on the window's value (`aggregate`)
//! or a percent change against the window before it (`drift`). The window
//! is the rule's frequency: hourly, daily, weekly, monthly (30 days) or an
//! interval such as `15m`.
//!
//! With a group-by, every group's value is checked on its own (a drift
//! against the same group's previous value), and the rule is crossed when
//! any group is: [`AlertRule::evaluate`]. A rule still has one state.
//!
//! [`next`] is the whole state machine: given the state and either an
//! observation (crossed or not) or a user action, it returns the new state
//! and what to notify. Time enters only as the `now` callers pass in.
//!
//! ```
//! use hive_core::alert::{AlertState, Input, Notify, next};
//!
//! let (s, n) = next(AlertState::Active, Input::Observed { crossed: true }).unwrap();
//! assert_eq!((s, n), (AlertState::Triggered, Notify::Fired));
//! let (s, n) = next(s, Input::Observed { crossed: true }).unwrap();
//! assert_eq!((s, n), (AlertState::Triggered, Notify::Nothing));
//! ```

use serde_json::{Map, Value, json};

use crate::chart::{Bucket, ChartQuery};

/// Where a rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    /// Watching; not crossed.
    Active,
    /// Crossed at the last evaluation (notified once when it became so).
    Triggered,
    /// Was triggered, back within bounds (notified once).
    Resolved,
    /// Not evaluated.
    Paused,
    /// Evaluated and recorded, never notified.
    Muted,
}

impl AlertState {
    pub const ALL: [AlertState; 5] = [
        AlertState::Active,
        AlertState::Triggered,
        AlertState::Resolved,
        AlertState::Paused,
        AlertState::Muted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AlertState::Active => "active",
            AlertState::Triggered => "triggered",
            AlertState::Resolved => "resolved",
            AlertState::Paused => "paused",
            AlertState::Muted => "muted",
        }
    }

    pub fn parse(s: &str) -> Option<AlertState> {
        AlertState::ALL.into_iter().find(|a| a.name() == s)
    }
}

/// What a user can do to a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pause,
    Resume,
    Mute,
    Unmute,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "pause" => Some(Action::Pause),
            "resume" => Some(Action::Resume),
            "mute" => Some(Action::Mute),
            "unmute" => Some(Action::Unmute),
            _ => None,
        }
    }
}

/// What drives the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// An evaluation: whether the condition holds.
    Observed {
        crossed: bool,
    },
    Act(Action),
}

/// What to send after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    Nothing,
    Fired,
    Resolved,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlertError {
    #[error("cannot {action} an alert that is {state}")]
    Transition {
        action: &'static str,
        state: &'static str,
    },
    #[error("{0}")]
    Invalid(String),
}

/// The state machine.
pub fn next(state: AlertState, input: Input) -> Result<(AlertState, Notify), AlertError> {
    use AlertState::*;
    let bad = |action: &'static str| AlertError::Transition {
        action,
        state: state.name(),
    };
    Ok(match input {
        Input::Observed { crossed } => match (state, crossed) {
            (Active | Resolved, true) => (Triggered, Notify::Fired),
            (Triggered, true) => (Triggered, Notify::Nothing),
            (Triggered, false) => (Resolved, Notify::Resolved),
            (Active, false) => (Active, Notify::Nothing),
            (Resolved, false) => (Resolved, Notify::Nothing),
            (Paused, _) => (Paused, Notify::Nothing),
            (Muted, _) => (Muted, Notify::Nothing),
        },
        Input::Act(Action::Pause) => match state {
            Paused => return Err(bad("pause")),
            _ => (Paused, Notify::Nothing),
        },
        Input::Act(Action::Resume) => match state {
            Paused => (Active, Notify::Nothing),
            _ => return Err(bad("resume")),
        },
        Input::Act(Action::Mute) => match state {
            Paused | Muted => return Err(bad("mute")),
            _ => (Muted, Notify::Nothing),
        },
        Input::Act(Action::Unmute) => match state {
            Muted => (Active, Notify::Nothing),
            _ => return Err(bad("unmute")),
        },
    })
}

/// Above or below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Above,
    Below,
}

impl Comparison {
    pub fn parse(s: &str) -> Option<Comparison> {
        match s.trim().to_ascii_lowercase().as_str() {
            "above" | "gt" | ">" | "greater than" => Some(Comparison::Above),
            "below" | "lt" | "<" | "less than" => Some(Comparison::Below),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Comparison::Above => "above",
            Comparison::Below => "below",
        }
    }
}

/// When a rule is crossed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    /// The window's value is above / below `threshold`.
    Aggregate {
        comparison: Comparison,
        threshold: f64,
    },
    /// The window's value changed by more than `percent` up (above) or
    /// down (below) against the previous window.
    Drift {
        comparison: Comparison,
        percent: f64,
    },
}

/// The longest interval a rule may be evaluated at: 365 days.
pub const MAX_INTERVAL_MS: i64 = 365 * 86_400_000;

/// How often a rule is evaluated; also its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    Hourly,
    Daily,
    Weekly,
    /// 30 days.
    Monthly,
    /// Milliseconds, at least a minute.
    Every(i64),
}

impl Frequency {
    pub fn parse(s: &str) -> Option<Frequency> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hourly" => Some(Frequency::Hourly),
            "daily" => Some(Frequency::Daily),
            "weekly" => Some(Frequency::Weekly),
            "monthly" => Some(Frequency::Monthly),
            other => {
                let ms = crate::time::parse_relative_ms(other)?;
                (60_000.0..=MAX_INTERVAL_MS as f64)
                    .contains(&ms)
                    .then_some(Frequency::Every(ms as i64))
            }
        }
    }

    pub fn name(self) -> String {
        match self {
            Frequency::Hourly => "hourly".into(),
            Frequency::Daily => "daily".into(),
            Frequency::Weekly => "weekly".into(),
            Frequency::Monthly => "monthly".into(),
            Frequency::Every(ms) if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
            Frequency::Every(ms) => format!("{}m", ms / 60_000),
        }
    }

    pub fn period_ms(self) -> i64 {
        match self {
            Frequency::Hourly => 3_600_000,
            Frequency::Daily => 86_400_000,
            Frequency::Weekly => 7 * 86_400_000,
            Frequency::Monthly => 30 * 86_400_000,
            Frequency::Every(ms) => ms,
        }
    }
}

/// A validated rule (without its state).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub name: String,
    pub query: ChartQuery,
    /// The query as given (kept for display and editing).
    pub query_json: Value,
    pub condition: Condition,
    pub frequency: Frequency,
    /// `http://` or `https://` URL, or none (history only).
    pub webhook_url: Option<String>,
    /// Send a Slack-compatible body (`{"text": ...}`).
    pub slack: bool,
}

fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Check a webhook URL: `http://` or `https://`, then a host (and port),
/// then a path.
pub fn check_webhook_url(url: &str) -> Result<(), AlertError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(AlertError::Invalid(format!(
            "webhook.url: {url:?} is not a URL: use http://host/path or https://host/path"
        )));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(AlertError::Invalid(format!(
            "webhook.url: {url:?}: the scheme {scheme:?} is not supported, use http:// or https://"
        )));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let port_ok = match authority.rsplit_once(':') {
        Some((h, port)) if !h.starts_with('[') || h.ends_with(']') => {
            port.parse::<u16>().is_ok_and(|p| p > 0)
        }
        _ => true,
    };
    if host.is_empty()
        || authority.contains(['@', ' '])
        || url.chars().any(|c| c.is_control() || c == ' ')
        || !port_ok
    {
        return Err(AlertError::Invalid(format!(
            "webhook.url: {url:?} has no valid host (and port)"
        )));
    }
    Ok(())
}

/// Most crossing groups an evaluation lists (the rest are counted).
pub const MAX_LISTED_GROUPS: usize = 20;

/// One group's value in a window: `group` is the group-by value (`None`
/// for events without the field, and for rules without a group-by).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupValue {
    pub group: Option<String>,
    pub value: f64,
}

impl GroupValue {
    pub fn new(group: Option<&str>, value: f64) -> GroupValue {
        GroupValue {
            group: group.map(str::to_owned),
            value,
        }
    }
}

/// How one group fared in an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupOutcome {
    pub group: Option<String>,
    pub value: f64,
    /// The same group's value in the previous window (drift only).
    pub previous: Option<f64>,
    /// The change against `previous`, in percent (drift only).
    pub change: Option<f64>,
    pub crossed: bool,
}

impl GroupOutcome {
    /// `{group, value, previous, change_percent}`.
    pub fn to_json(&self) -> Value {
        json!({"group": self.group, "value": self.value, "previous": self.previous,
               "change_percent": self.change})
    }

    /// The group as text: its value, or `(none)` for events without it.
    pub fn label(&self) -> &str {
        self.group.as_deref().unwrap_or("(none)")
    }
}

/// What an evaluation of a rule came to.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Evaluation {
    /// Whether any group crosses.
    pub crossed: bool,
    /// The group whose value the rule records: the worst crossing group, or
    /// the most extreme one when none crosses; `None` without any value.
    pub headline: Option<GroupOutcome>,
    /// Every crossing group, worst first.
    pub crossing: Vec<GroupOutcome>,
    /// Groups with a value in the window.
    pub groups: usize,
}

impl Evaluation {
    pub fn value(&self) -> Option<f64> {
        self.headline.as_ref().map(|h| h.value)
    }

    pub fn previous(&self) -> Option<f64> {
        self.headline.as_ref().and_then(|h| h.previous)
    }

    pub fn change(&self) -> Option<f64> {
        self.headline.as_ref().and_then(|h| h.change)
    }

    /// The first [`MAX_LISTED_GROUPS`] crossing groups as JSON, and how
    /// many more cross.
    pub fn listed_json(&self) -> (Vec<Value>, usize) {
        let listed = self
            .crossing
            .iter()
            .take(MAX_LISTED_GROUPS)
            .map(GroupOutcome::to_json)
            .collect();
        (
            listed,
            self.crossing.len().saturating_sub(MAX_LISTED_GROUPS),
        )
    }
}

impl AlertRule {
    /// Parse `{name, query: {chart query}, type: aggregate|drift,
    /// comparison: above|below, threshold, frequency, webhook: {url, slack}}`.
    pub fn from_json(v: &Value, now_ms: f64) -> Result<AlertRule, AlertError> {
        let obj = v
            .as_object()
            .ok_or_else(|| AlertError::Invalid("an alert is a JSON object".into()))?;
        let typed = |key: &str| -> Result<Option<String>, AlertError> {
            crate::fields::field::<String>(obj, key).map_err(AlertError::Invalid)
        };
        let name = typed("name")?;
        let name = name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty() && n.len() <= 200)
            .ok_or_else(|| {
                AlertError::Invalid("an alert needs a name (up to 200 characters)".into())
            })?;
        let query_json = obj
            .get("query")
            .cloned()
            .unwrap_or(Value::Object(Map::new()));
        let mut query = ChartQuery::from_json(&query_json, now_ms)
            .map_err(|e| AlertError::Invalid(format!("query: {e}")))?;
        query.bucket = Bucket::Total;
        let comparison = match typed("comparison")?.as_deref() {
            None => Comparison::Above,
            Some(c) => Comparison::parse(c).ok_or_else(|| {
                AlertError::Invalid(format!("comparison {c:?}: use above or below"))
            })?,
        };
        let threshold = number(obj.get("threshold"))
            .filter(|t| t.is_finite())
            .ok_or_else(|| AlertError::Invalid("threshold must be a number".into()))?;
        let condition = match typed("type")?.as_deref().unwrap_or("aggregate") {
            "aggregate" | "threshold" => Condition::Aggregate {
                comparison,
                threshold,
            },
            "drift" | "change" => Condition::Drift {
                comparison,
                percent: threshold,
            },
            other => {
                return Err(AlertError::Invalid(format!(
                    "type {other:?}: use aggregate or drift"
                )));
            }
        };
        let frequency = match typed("frequency")?.as_deref() {
            None => Frequency::Hourly,
            Some(f) => Frequency::parse(f).ok_or_else(|| {
                AlertError::Invalid(format!(
                    "frequency {f:?}: use hourly, daily, weekly, monthly or an interval from 1m to 365d such as 15m"
                ))
            })?,
        };
        /// `webhook` as an object.
        #[derive(serde::Deserialize)]
        struct Webhook {
            url: Option<String>,
            slack: Option<bool>,
        }
        let (webhook_url, slack) = match obj.get("webhook") {
            None | Some(Value::Null) => (None, false),
            Some(Value::String(s)) => (Some(s.trim().to_owned()), false),
            Some(w @ Value::Object(_)) => {
                let w: Webhook = crate::fields::value(w, "webhook").map_err(AlertError::Invalid)?;
                (w.url.map(|u| u.trim().to_owned()), w.slack.unwrap_or(false))
            }
            Some(_) => {
                return Err(AlertError::Invalid(
                    "webhook must be {url, slack} or a URL".into(),
                ));
            }
        };
        let webhook_url = webhook_url.filter(|s| !s.is_empty());
        if let Some(url) = &webhook_url {
            check_webhook_url(url)?;
        }
        Ok(AlertRule {
            name: name.to_owned(),
            query,
            query_json,
            condition,
            frequency,
            webhook_url,
            slack,
        })
    }

    /// The rule as stored (what [`AlertRule::from_json`] reads).
    pub fn to_json(&self) -> Value {
        let (ty, comparison, threshold) = match self.condition {
            Condition::Aggregate {
                comparison,
                threshold,
            } => ("aggregate", comparison, threshold),
            Condition::Drift {
                comparison,
                percent,
            } => ("drift", comparison, percent),
        };
        json!({
            "name": self.name,
            "query": self.query_json,
            "type": ty,
            "comparison": comparison.name(),
            "threshold": threshold,
            "frequency": self.frequency.name(),
            "webhook": self.webhook_url.as_ref().map(|u| json!({"url": u, "slack": self.slack})),
        })
    }

    /// The evaluation window ending at `now`: `[now - period, now)`, and the
    /// one before it.
    pub fn windows(&self, now_ms: i64) -> ((i64, i64), (i64, i64)) {
        let p = self.frequency.period_ms();
        ((now_ms - p, now_ms - 1), (now_ms - 2 * p, now_ms - p - 1))
    }

    /// Whether the condition holds for the window's value (and the previous
    /// window's, for drift); the drift in percent when there is one.
    pub fn crossed(&self, value: Option<f64>, previous: Option<f64>) -> (bool, Option<f64>) {
        let Some(v) = value else {
            return (false, None);
        };
        match self.condition {
            Condition::Aggregate {
                comparison,
                threshold,
            } => (
                match comparison {
                    Comparison::Above => v > threshold,
                    Comparison::Below => v < threshold,
                },
                None,
            ),
            Condition::Drift {
                comparison,
                percent,
            } => {
                let Some(p) = previous.filter(|p| *p != 0.0) else {
                    return (false, None);
                };
                let change = (v - p) / p.abs() * 100.0;
                (
                    match comparison {
                        Comparison::Above => change > percent,
                        Comparison::Below => change < -percent,
                    },
                    Some(change),
                )
            }
        }
    }

    /// Evaluate every group of the window (`current`) against the
    /// condition; for drift, each against the same group's value in the
    /// previous window (`previous`; a group without one cannot cross). A rule
    /// without a group-by passes its one value with group `None`, or
    /// nothing when the window has no value.
    ///
    /// A grouped `count` also evaluates the groups of the previous window
    /// that have no events in this one, at 0: "fewer than 10 requests per
    /// tenant" catches a tenant that stopped sending (see
    /// [`AlertRule::needs_previous`]).
    ///
    /// The headline is the worst crossing group (highest value or change for
    /// `above`, lowest for `below`), or, when none crosses, the group closest
    /// to crossing by the same measure; ties go to the first group in order
    /// (by name, `None` last).
    /// Whether evaluating needs the previous window's values: drift, and
    /// grouped counts (for groups that vanished).
    pub fn needs_previous(&self) -> bool {
        matches!(self.condition, Condition::Drift { .. }) || self.counts_vanished_groups()
    }

    fn counts_vanished_groups(&self) -> bool {
        self.query.group_by.is_some() && self.query.aggregation == crate::chart::Aggregation::Count
    }

    pub fn evaluate(&self, current: &[GroupValue], previous: &[GroupValue]) -> Evaluation {
        let vanished: Vec<GroupValue> = if self.counts_vanished_groups() {
            previous
                .iter()
                .filter(|p| !current.iter().any(|c| c.group == p.group))
                .map(|p| GroupValue {
                    group: p.group.clone(),
                    value: 0.0,
                })
                .collect()
        } else {
            Vec::new()
        };
        let current: Vec<&GroupValue> = current.iter().chain(vanished.iter()).collect();
        let comparison = match self.condition {
            Condition::Aggregate { comparison, .. } | Condition::Drift { comparison, .. } => {
                comparison
            }
        };
        let sign = match comparison {
            Comparison::Above => 1.0,
            Comparison::Below => -1.0,
        };
        let mut outcomes: Vec<GroupOutcome> = current
            .iter()
            .map(|g| {
                let prev = match self.condition {
                    Condition::Drift { .. } => previous
                        .iter()
                        .find(|p| p.group == g.group)
                        .map(|p| p.value),
                    Condition::Aggregate { .. } => None,
                };
                let (crossed, change) = self.crossed(Some(g.value), prev);
                GroupOutcome {
                    group: g.group.clone(),
                    value: g.value,
                    previous: prev,
                    change,
                    crossed,
                }
            })
            .collect();
        outcomes.sort_by(|a, b| group_order(&a.group, &b.group));
        // How bad a group is: its change (drift; groups with one first) or
        // its value, in the direction of the comparison.
        let severity = |o: &GroupOutcome| -> (bool, f64) {
            match self.condition {
                Condition::Aggregate { .. } => (true, sign * o.value),
                Condition::Drift { .. } => match o.change {
                    Some(c) => (true, sign * c),
                    None => (false, sign * o.value),
                },
            }
        };
        let worse = |a: &GroupOutcome, b: &GroupOutcome| {
            let (sa, sb) = (severity(a), severity(b));
            sb.0.cmp(&sa.0).then(sb.1.total_cmp(&sa.1))
        };
        let mut crossing: Vec<GroupOutcome> =
            outcomes.iter().filter(|o| o.crossed).cloned().collect();
        crossing.sort_by(worse);
        let headline = match crossing.first() {
            Some(worst) => Some(worst.clone()),
            None => {
                let mut all = outcomes.clone();
                all.sort_by(worse);
                all.into_iter().next()
            }
        };
        Evaluation {
            crossed: !crossing.is_empty(),
            headline,
            crossing,
            groups: outcomes.len(),
        }
    }

    /// The threshold to show: the value, or the percent for drift.
    pub fn threshold(&self) -> f64 {
        match self.condition {
            Condition::Aggregate { threshold, .. } => threshold,
            Condition::Drift { percent, .. } => percent,
        }
    }
}

/// Groups by name, `None` last.
fn group_order(a: &Option<String>, b: &Option<String>) -> std::cmp::Ordering {
    match (a, b) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, _) => std::cmp::Ordering::Greater,
        (_, None) => std::cmp::Ordering::Less,
        (Some(x), Some(y)) => x.cmp(y),
    }
}

#[cfg(test)]
mod tests;
