//! Session rollups: what each event contributes to its session, kept
//! incrementally (old contribution out, new one in) so enriching an event
//! later keeps the totals right.

use serde_json::{Map, Value};

/// What one (non-session) event adds to its session's rollup.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Contribution {
    pub events: i64,
    pub model_events: i64,
    pub feedback_events: i64,
    pub error_events: i64,
    pub cost: f64,
    pub prompt_tokens: f64,
    pub completion_tokens: f64,
    pub total_tokens: f64,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
}

fn num(ns: Option<&Value>, key: &str) -> Option<f64> {
    ns?.get(key)?.as_f64()
}

impl Contribution {
    /// The contribution of an event given as JSON. Sessions contribute
    /// nothing (their own fields are read directly).
    pub fn of(event: &Value) -> Contribution {
        if event.get("event_type").and_then(Value::as_str) == Some("session") {
            return Contribution::default();
        }
        let metadata = event.get("metadata");
        let metrics = event.get("metrics");
        let pick = |key: &str| {
            num(metadata, key)
                .or_else(|| num(metrics, key))
                .unwrap_or(0.0)
        };
        let prompt = pick("prompt_tokens");
        let completion = pick("completion_tokens");
        let total = num(metadata, "total_tokens")
            .or_else(|| num(metrics, "total_tokens"))
            .unwrap_or(prompt + completion);
        let non_empty = |k: &str| {
            event
                .get(k)
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty())
        };
        Contribution {
            events: 1,
            model_events: i64::from(
                event.get("event_type").and_then(Value::as_str) == Some("model"),
            ),
            feedback_events: i64::from(non_empty("feedback")),
            error_events: i64::from(event.get("error").is_some_and(|e| !e.is_null())),
            cost: pick("cost"),
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: total,
            start_time: whole_ms(event.get("start_time")),
            end_time: whole_ms(event.get("end_time")),
        }
    }
}

/// A time in whole milliseconds: an integer as it is, a fraction rounded
/// down (a float's `as` saturates at the ends of `i64`); `None` for
/// anything but a number.
pub fn whole_ms(v: Option<&Value>) -> Option<i64> {
    let v = v?;
    v.as_i64().or_else(|| v.as_f64().map(|f| f.floor() as i64))
}

/// The running totals of a session.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rollup {
    pub num_events: i64,
    pub num_model_events: i64,
    pub feedback_events: i64,
    pub error_events: i64,
    pub cost: f64,
    pub prompt_tokens: f64,
    pub completion_tokens: f64,
    pub total_tokens: f64,
    pub min_start: Option<i64>,
    pub max_end: Option<i64>,
}

impl Rollup {
    /// The rollup as what one event would add to another rollup: the
    /// totals of its events, so `a.update(None, &b.as_contribution())`
    /// adds `b`'s events to `a`'s.
    pub fn as_contribution(&self) -> Contribution {
        Contribution {
            events: self.num_events,
            model_events: self.num_model_events,
            feedback_events: self.feedback_events,
            error_events: self.error_events,
            cost: self.cost,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            total_tokens: self.total_tokens,
            start_time: self.min_start,
            end_time: self.max_end,
        }
    }

    /// Replace `old` (if the event was seen before) by `new`.
    pub fn update(&mut self, old: Option<&Contribution>, new: &Contribution) {
        if let Some(o) = old {
            self.num_events -= o.events;
            self.num_model_events -= o.model_events;
            self.feedback_events -= o.feedback_events;
            self.error_events -= o.error_events;
            self.cost -= o.cost;
            self.prompt_tokens -= o.prompt_tokens;
            self.completion_tokens -= o.completion_tokens;
            self.total_tokens -= o.total_tokens;
        }
        self.num_events += new.events;
        self.num_model_events += new.model_events;
        self.feedback_events += new.feedback_events;
        self.error_events += new.error_events;
        self.cost += new.cost;
        self.prompt_tokens += new.prompt_tokens;
        self.completion_tokens += new.completion_tokens;
        self.total_tokens += new.total_tokens;
        // Times only widen: an event moved later leaves the old bound.
        if let Some(s) = new.start_time {
            self.min_start = Some(self.min_start.map_or(s, |m| m.min(s)));
        }
        if let Some(e) = new.end_time {
            self.max_end = Some(self.max_end.map_or(e, |m| m.max(e)));
        }
    }

    /// Write the rollup into a session event's JSON: `metadata.num_events`,
    /// `num_model_events`, `has_feedback`, `cost`, token totals (server-owned
    /// keys: they are recomputed, so a user's own value for them is replaced
    /// on read but kept in the enrichment history), and widen start/end/duration
    /// to cover its events unless the duration was set explicitly.
    pub fn apply_to_session(&self, session: &mut Value, duration_explicit: bool) {
        let Value::Object(doc) = session else { return };
        let has_own_feedback = doc
            .get("feedback")
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty());
        let round = |f: f64| (f * 1e9).round() / 1e9;
        let as_num = |f: f64| {
            if f.fract() == 0.0 && f.abs() < 9e15 {
                Value::from(f as i64)
            } else {
                serde_json::Number::from_f64(round(f))
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            }
        };
        let values = [
            ("num_events", Value::from(self.num_events)),
            ("num_model_events", Value::from(self.num_model_events)),
            (
                "has_feedback",
                Value::Bool(has_own_feedback || self.feedback_events > 0),
            ),
            ("cost", as_num(self.cost)),
            ("total_tokens", as_num(self.total_tokens)),
            ("prompt_tokens", as_num(self.prompt_tokens)),
            ("completion_tokens", as_num(self.completion_tokens)),
        ];
        let metadata = doc
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = metadata {
            for (k, v) in values {
                m.insert(k.to_owned(), v);
            }
        }
        // The session's own times as written (a fraction of a millisecond
        // kept), widened to its events'.
        let own = |k: &str| doc.get(k).and_then(|v| Some((v.as_f64()?, v.clone())));
        let events = |t: Option<i64>| t.map(|t| (t as f64, Value::from(t)));
        let widest = |a: Option<(f64, Value)>, b: Option<(f64, Value)>, earliest: bool| match (a, b)
        {
            (Some(a), Some(b)) => Some(if (b.0 < a.0) == earliest { b } else { a }),
            (a, b) => a.or(b),
        };
        let start = widest(own("start_time"), events(self.min_start), true)
            .unwrap_or((0.0, Value::from(0)));
        let end =
            widest(own("end_time"), events(self.max_end), false).unwrap_or_else(|| start.clone());
        let duration = (end.0 - start.0).max(0.0);
        doc.insert("start_time".into(), start.1);
        doc.insert("end_time".into(), end.1);
        if !duration_explicit {
            doc.insert("duration".into(), Value::from(duration));
        }
    }
}
