//! The data of one `enrich_session` / `enrich_span` call.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::HoneyHiveTracer;

/// The typed namespaces of a HoneyHive event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// Business context: user ids, features, flags. Unknown keys land here.
    Metadata,
    /// Numeric measurements: latency, cost, token counts, scores.
    Metrics,
    /// User or system feedback: ratings, comments.
    Feedback,
    /// What went in.
    Inputs,
    /// What came out.
    Outputs,
    /// Model settings, hyperparameters, prompt templates.
    Config,
    /// Properties of the user (plan, region); never folded into metadata.
    UserProperties,
}

impl Namespace {
    /// Every namespace, in wire order.
    pub const ALL: [Namespace; 7] = [
        Namespace::Metadata,
        Namespace::Metrics,
        Namespace::Feedback,
        Namespace::Inputs,
        Namespace::Outputs,
        Namespace::Config,
        Namespace::UserProperties,
    ];

    /// The field name on the wire (`metadata`, `user_properties`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Namespace::Metadata => "metadata",
            Namespace::Metrics => "metrics",
            Namespace::Feedback => "feedback",
            Namespace::Inputs => "inputs",
            Namespace::Outputs => "outputs",
            Namespace::Config => "config",
            Namespace::UserProperties => "user_properties",
        }
    }

    /// The span attribute prefix (`honeyhive_metadata`, ...).
    pub const fn attribute_prefix(self) -> &'static str {
        match self {
            Namespace::Metadata => "honeyhive_metadata",
            Namespace::Metrics => "honeyhive_metrics",
            Namespace::Feedback => "honeyhive_feedback",
            Namespace::Inputs => "honeyhive_inputs",
            Namespace::Outputs => "honeyhive_outputs",
            Namespace::Config => "honeyhive_config",
            Namespace::UserProperties => "honeyhive_user_properties",
        }
    }

    /// The namespace a keyword names, if it names one.
    pub fn from_keyword(name: &str) -> Option<Namespace> {
        Some(match name {
            "metadata" => Namespace::Metadata,
            "metrics" => Namespace::Metrics,
            "feedback" => Namespace::Feedback,
            "inputs" => Namespace::Inputs,
            "outputs" => Namespace::Outputs,
            "config" => Namespace::Config,
            "user_properties" => Namespace::UserProperties,
            _ => return None,
        })
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// One enrichment: data for the namespaces plus, optionally, where it goes.
///
/// Built from a plain map (`Enrichment::from(json!({...}))`, which lands in
/// metadata, as in the documents), with the builder methods, or with the
/// [`enrich_session!`](crate::enrich_session!) / [`enrich_span!`](crate::enrich_span!)
/// macros, which accept every documented invocation form.
///
/// ```
/// use honeyhive::Enrichment;
/// use serde_json::json;
///
/// let e = Enrichment::new()
///     .metadata(json!({"user_id": "user_12345"}))
///     .metrics(json!({"score": 0.95}))
///     .field("feature", "chat"); // not a namespace: lands in metadata.feature
/// assert_eq!(e.get(honeyhive::Namespace::Metadata)["feature"], "chat");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Enrichment {
    namespaces: [Map<String, Value>; 7],
    error: Option<String>,
    session_id: Option<String>,
    event_id: Option<String>,
    tracer: Option<HoneyHiveTracer>,
}

impl Enrichment {
    /// An empty enrichment. Sent as a session enrichment it "touches" the session.
    pub fn new() -> Self {
        Self::default()
    }

    /// Merges an object into `metadata`.
    pub fn metadata(self, value: impl Serialize) -> Self {
        self.namespace(Namespace::Metadata, value)
    }

    /// Merges an object into `metrics`.
    pub fn metrics(self, value: impl Serialize) -> Self {
        self.namespace(Namespace::Metrics, value)
    }

    /// Merges an object into `feedback`.
    pub fn feedback(self, value: impl Serialize) -> Self {
        self.namespace(Namespace::Feedback, value)
    }

    /// Merges an object into `inputs`.
    pub fn inputs(self, value: impl Serialize) -> Self {
        self.namespace(Namespace::Inputs, value)
    }

    /// Merges an object into `outputs`.
    pub fn outputs(self, value: impl Serialize) -> Self {
        self.namespace(Namespace::Outputs, value)
    }

    /// Merges an object into `config`.
    pub fn config(self, value: impl Serialize) -> Self {
        self.namespace(Namespace::Config, value)
    }

    /// Merges an object into `user_properties`.
    pub fn user_properties(self, value: impl Serialize) -> Self {
        self.namespace(Namespace::UserProperties, value)
    }

    /// Merges an object into the given namespace. A value that is not an
    /// object (or does not serialize) is logged and ignored.
    pub fn namespace(mut self, namespace: Namespace, value: impl Serialize) -> Self {
        match serde_json::to_value(value) {
            Ok(value) => self.merge_value(namespace, value),
            Err(err) => tracing::warn!(
                namespace = namespace.as_str(),
                error = %err,
                "honeyhive: enrichment value does not serialize; ignored"
            ),
        }
        self
    }

    /// A keyword-style field: a namespace name (`metrics`, ...) merges into that
    /// namespace, `error` sets the error, `session_id` / `event_id` choose the
    /// target, anything else lands in `metadata.<key>`.
    pub fn field(mut self, key: &str, value: impl Serialize) -> Self {
        match serde_json::to_value(value) {
            Ok(value) => self.set_field(key, value),
            Err(err) => tracing::warn!(
                key,
                error = %err,
                "honeyhive: enrichment value does not serialize; ignored"
            ),
        }
        self
    }

    /// Sets the error message (`honeyhive_error` on a span; `metadata.error`
    /// for a session).
    pub fn error(mut self, message: impl Into<String>) -> Self {
        self.error = Some(message.into());
        self
    }

    /// Targets this session instead of the active one (`enrich_session`).
    pub fn session_id(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// Updates this existing event through the API instead of the current
    /// span (`enrich_span(event_id=...)`).
    pub fn event_id(mut self, event_id: impl Into<String>) -> Self {
        self.event_id = Some(event_id.into());
        self
    }

    /// Sends with this tracer instead of the one in the current context.
    pub fn tracer(mut self, tracer: &HoneyHiveTracer) -> Self {
        self.tracer = Some(tracer.clone());
        self
    }

    /// The data collected for a namespace.
    pub fn get(&self, namespace: Namespace) -> &Map<String, Value> {
        &self.namespaces[namespace.index()]
    }

    /// The error message, if one was set.
    pub fn error_message(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// The explicit session id, if one was set.
    pub fn target_session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// Whether no data at all was given (an empty call).
    pub fn is_empty(&self) -> bool {
        self.error.is_none() && self.namespaces.iter().all(Map::is_empty)
    }

    // ----- used by the macros and the rest of the crate -----

    /// Routes an already-built JSON value by keyword (see [`Enrichment::field`]).
    #[doc(hidden)]
    pub fn set_field(&mut self, key: &str, value: Value) {
        if let Some(namespace) = Namespace::from_keyword(key) {
            self.merge_value(namespace, value);
            return;
        }
        match key {
            "error" => match value {
                Value::Null => {}
                Value::String(s) => self.error = Some(s),
                other => self.error = Some(other.to_string()),
            },
            "session_id" => self.session_id = string_target(value, key),
            "event_id" | "update_event_id" => self.event_id = string_target(value, key),
            _ => {
                // `None`-valued keyword arguments are dropped, as in the documents.
                if !value.is_null() {
                    self.namespaces[Namespace::Metadata.index()].insert(key.to_owned(), value);
                }
            }
        }
    }

    /// Merges a plain map (the positional form) into metadata.
    #[doc(hidden)]
    pub fn set_plain(&mut self, value: Value) {
        self.merge_value(Namespace::Metadata, value);
    }

    /// Sets the tracer (macro support).
    #[doc(hidden)]
    pub fn set_tracer(&mut self, tracer: &HoneyHiveTracer) {
        self.tracer = Some(tracer.clone());
    }

    /// Sets the target session (macro support).
    #[doc(hidden)]
    pub fn set_session_id(&mut self, session_id: impl Into<String>) {
        self.session_id = Some(session_id.into());
    }

    fn merge_value(&mut self, namespace: Namespace, value: Value) {
        match value {
            Value::Object(map) => {
                let target = &mut self.namespaces[namespace.index()];
                if target.is_empty() {
                    *target = map;
                } else {
                    for (k, v) in map {
                        target.insert(k, v);
                    }
                }
            }
            Value::Null => {}
            other => tracing::warn!(
                namespace = namespace.as_str(),
                value_type = json_type(&other),
                "honeyhive: a namespace takes an object (map); value ignored"
            ),
        }
    }

    pub(crate) fn take_tracer(&mut self) -> Option<HoneyHiveTracer> {
        self.tracer.take()
    }

    pub(crate) fn take_event_id(&mut self) -> Option<String> {
        self.event_id.take()
    }

    pub(crate) fn take_session_id(&mut self) -> Option<String> {
        self.session_id.take()
    }

    /// Splits into the namespaces' data and the error message.
    pub(crate) fn into_parts(self) -> ([Map<String, Value>; 7], Option<String>) {
        (self.namespaces, self.error)
    }

    /// The body of a `PUT /events` for this enrichment (without `event_id`).
    #[cfg(test)]
    /// For a session, `error` goes into `metadata.error`; for an event update
    /// it is sent as the top-level `error`.
    pub(crate) fn into_patch(self, error_top_level: bool) -> Map<String, Value> {
        let Enrichment {
            namespaces, error, ..
        } = self;
        let mut patch = Map::new();
        for (ns, mut map) in Namespace::ALL.into_iter().zip(namespaces) {
            if ns == Namespace::Metadata && !error_top_level {
                if let Some(err) = &error {
                    map.insert("error".to_owned(), Value::String(err.clone()));
                }
            }
            if !map.is_empty() {
                patch.insert(ns.as_str().to_owned(), Value::Object(map));
            }
        }
        if error_top_level {
            if let Some(err) = error {
                patch.insert("error".to_owned(), Value::String(err));
            }
        }
        patch
    }
}

pub(crate) fn string_target(value: Value, key: &str) -> Option<String> {
    match value {
        Value::String(s) => Some(s),
        Value::Null => None,
        Value::Number(n) => Some(n.to_string()),
        other => {
            tracing::warn!(
                key,
                value_type = json_type(&other),
                "honeyhive: an id must be a string; ignored"
            );
            None
        }
    }
}

pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A plain map lands in metadata (the documents' positional form).
impl From<Value> for Enrichment {
    fn from(value: Value) -> Self {
        let mut e = Enrichment::new();
        e.set_plain(value);
        e
    }
}

impl From<Map<String, Value>> for Enrichment {
    fn from(map: Map<String, Value>) -> Self {
        Enrichment::from(Value::Object(map))
    }
}

impl<K, V, S> From<std::collections::HashMap<K, V, S>> for Enrichment
where
    K: Into<String>,
    V: Serialize,
{
    fn from(map: std::collections::HashMap<K, V, S>) -> Self {
        from_pairs(map)
    }
}

impl<K, V> From<std::collections::BTreeMap<K, V>> for Enrichment
where
    K: Into<String>,
    V: Serialize,
{
    fn from(map: std::collections::BTreeMap<K, V>) -> Self {
        from_pairs(map)
    }
}

impl<K, V, const N: usize> From<[(K, V); N]> for Enrichment
where
    K: Into<String>,
    V: Serialize,
{
    fn from(pairs: [(K, V); N]) -> Self {
        from_pairs(pairs)
    }
}

fn from_pairs<K: Into<String>, V: Serialize>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> Enrichment {
    let mut map = Map::new();
    for (k, v) in pairs {
        let key = k.into();
        match serde_json::to_value(v) {
            Ok(v) => {
                map.insert(key, v);
            }
            Err(err) => tracing::warn!(
                key,
                error = %err,
                "honeyhive: enrichment value does not serialize; ignored"
            ),
        }
    }
    Enrichment::from(map)
}

/// Composes patch `next` onto patch `acc` so that applying the result with
/// RFC 7396 equals applying `acc` then `next`. Returns `false` (and leaves
/// `acc` untouched) when that cannot be expressed as one patch: when `next`
/// merges an object into a key that `acc` sets to a non-object. (The worker
/// composes records directly, see `record::Body::compose_into`; this is the
/// reference it is tested against.)
#[cfg(test)]
pub(crate) fn compose_patch(acc: &mut Map<String, Value>, next: &Map<String, Value>) -> bool {
    if !composable(acc, next) {
        return false;
    }
    compose_unchecked(acc, next);
    true
}

pub(crate) fn composable(acc: &Map<String, Value>, next: &Map<String, Value>) -> bool {
    next.iter().all(|(k, v)| match (acc.get(k), v) {
        (Some(Value::Object(a)), Value::Object(n)) => composable(a, n),
        (Some(_), Value::Object(_)) => false,
        _ => true,
    })
}

#[cfg(test)]
fn compose_unchecked(acc: &mut Map<String, Value>, next: &Map<String, Value>) {
    for (k, v) in next {
        match (acc.get_mut(k), v) {
            (Some(Value::Object(a)), Value::Object(n)) => compose_unchecked(a, n),
            _ => {
                acc.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// RFC 7396 apply, for checking composition.
    fn apply(target: &mut Value, patch: &Value) {
        if let Value::Object(p) = patch {
            if !target.is_object() {
                *target = json!({});
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        apply(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        } else {
            *target = patch.clone();
        }
    }

    #[test]
    fn composition_equals_sequential_application() {
        let cases = [
            (json!({"metadata": {"a": 1}}), json!({"metadata": {"b": 2}})),
            (
                json!({"metadata": {"a": {"x": 1}}}),
                json!({"metadata": {"a": {"y": 2}}}),
            ),
            (
                json!({"metadata": {"a": 1}}),
                json!({"metadata": {"a": null}}),
            ),
            (
                json!({"metadata": {"a": null}}),
                json!({"metadata": {"a": 3}}),
            ),
            (
                json!({"metrics": {"m": [1, 2]}}),
                json!({"metrics": {"m": [3]}}),
            ),
        ];
        let base = json!({"metadata": {"a": {"z": 0}, "keep": true}, "metrics": {"m": [0]}});
        for (first, second) in cases {
            let mut sequential = base.clone();
            apply(&mut sequential, &first);
            apply(&mut sequential, &second);
            let mut acc = obj(first.clone());
            assert!(compose_patch(&mut acc, &obj(second.clone())));
            let mut composed = base.clone();
            apply(&mut composed, &Value::Object(acc));
            assert_eq!(sequential, composed, "{first} then {second}");
        }
    }

    #[test]
    fn object_over_scalar_is_not_composed() {
        let mut acc = obj(json!({"metadata": {"a": 1}}));
        assert!(!compose_patch(
            &mut acc,
            &obj(json!({"metadata": {"a": {"b": 1}}}))
        ));
        assert_eq!(Value::Object(acc), json!({"metadata": {"a": 1}}));
    }

    #[test]
    fn keyword_routing() {
        let mut e = Enrichment::new();
        e.set_field("metrics", json!({"score": 1}));
        e.set_field("feature", json!("chat"));
        e.set_field("dropped", Value::Null);
        e.set_field("error", json!("boom"));
        e.set_field("session_id", json!("s1"));
        assert_eq!(e.get(Namespace::Metrics)["score"], 1);
        assert_eq!(e.get(Namespace::Metadata)["feature"], "chat");
        assert!(!e.get(Namespace::Metadata).contains_key("dropped"));
        assert_eq!(e.error_message(), Some("boom"));
        assert_eq!(e.target_session_id(), Some("s1"));
        let patch = e.into_patch(false);
        assert_eq!(
            Value::Object(patch),
            json!({"metadata": {"feature": "chat", "error": "boom"}, "metrics": {"score": 1}})
        );
    }
}
