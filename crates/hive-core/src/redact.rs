//! Redaction: rules that replace secrets and personal data with a marker
//! such as `[REDACTED:email]` before anything is stored.
//!
//! A project's [`RedactionSettings`] name two kinds of rules:
//!
//! - **key rules** replace the whole value of a key whose name matches, at
//!   any depth of a namespace (`password`, `api_key`, `authorization`,
//!   ...). A key matches when, lowercased and without `_`, `-` and spaces,
//!   one of its dot-separated segments *ends with* the rule's name treated
//!   the same way: `api_key` matches `apiKey`, `X-Api-Key`,
//!   `openai_api_key` and `honeyhive_config.api_key`; `token` matches
//!   `access_token` but not `total_tokens` or `token_count`. A `null`
//!   value is left alone (in an enrichment it removes the key).
//! - **pattern rules** are regular expressions (the `regex` crate: linear
//!   time whatever the pattern and the text) replaced wherever they match
//!   in a string value or an object key: emails, card numbers (with a Luhn
//!   check), bearer tokens, API key shapes, AWS access keys, or custom
//!   ones.
//!
//! A string holding a JSON object or array (an OTLP attribute such as
//! `traceloop.entity.input` or `gen_ai.input.messages`) is parsed and
//! redacted as JSON, so key rules reach inside it too.
//!
//! ```
//! use hive_core::redact::{Counts, RedactionSettings};
//! use serde_json::json;
//!
//! let redactor = RedactionSettings::default_set().compile().unwrap();
//! let mut metadata = json!({"user": "ada@example.com", "db": {"password": "hunter2"}});
//! let mut counts = Counts::default();
//! redactor.redact_value(&mut metadata, &mut counts);
//! assert_eq!(metadata, json!({"user": "[REDACTED:email]", "db": {"password": "[REDACTED:password]"}}));
//! assert_eq!(counts.get("email"), 1);
//! ```

use std::collections::BTreeMap;

use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::{Event, NAMESPACES};
use crate::span::{AttrValue, KeyValue, Span};

/// Key rules a project may add.
pub const MAX_KEYS: usize = 100;
/// Pattern rules a project may add.
pub const MAX_PATTERNS: usize = 50;
/// Characters of one custom regular expression.
pub const MAX_PATTERN_LEN: usize = 1_000;
/// Characters of a rule's name.
pub const MAX_NAME_LEN: usize = 64;
/// Bytes a compiled custom pattern may take (the `regex` crate's size
/// limit): a pattern that would compile to more is refused.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// JSON held in strings is parsed this many levels deep.
const JSON_IN_STRING_DEPTH: usize = 4;

/// The default key rules.
pub const DEFAULT_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "api_key",
    "apikey",
    "token",
    "authorization",
    "cookie",
    "credentials",
    "private_key",
];

/// The default pattern rules: name, regular expression, Luhn check.
/// `(?-u:\b)` is an ASCII word boundary (faster than Unicode's, and the
/// shapes matched are ASCII).
pub const DEFAULT_PATTERNS: &[(&str, &str, bool)] = &[
    (
        "private_key",
        r"(?s)-----BEGIN[A-Z ]*PRIVATE KEY-----.*?-----END[A-Z ]*PRIVATE KEY-----",
        false,
    ),
    (
        "bearer_token",
        r"(?i)(?-u:\b)bearer\s+[A-Za-z0-9\-._~+/]{8,}=*",
        false,
    ),
    (
        "jwt",
        r"(?-u:\b)eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
        false,
    ),
    (
        "secret_token",
        r"(?-u:\b)(?:(?:sk|pk|rk)-[A-Za-z0-9][A-Za-z0-9_-]{15,}|sk_(?:live|test)_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|hh_[A-Za-z0-9_-]{20,})",
        false,
    ),
    (
        "aws_access_key",
        r"(?-u:\b)(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}(?-u:\b)",
        false,
    ),
    (
        "credit_card",
        r"(?-u:\b)[3-6][0-9]{3}(?:[ -]?[0-9]){9,15}(?-u:\b)",
        true,
    ),
    (
        "email",
        r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
        false,
    ),
];

/// OTLP attributes that say where a span belongs (ids, project, type,
/// source): never redacted, so a redacted span still lands in its session.
const STRUCTURAL_ATTRIBUTES: &[&str] = &[
    "honeyhive_event_id",
    "honeyhive_event_type",
    "honeyhive.parent_id",
    "honeyhive.project",
    "honeyhive.source",
    "traceloop.association.properties.project",
    "traceloop.association.properties.source",
];

/// A project's redaction settings, as stored and as the API takes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactionSettings {
    /// Rules apply only when enabled (off by default).
    #[serde(default)]
    pub enabled: bool,
    /// Use the default set ([`DEFAULT_KEYS`], [`DEFAULT_PATTERNS`]).
    #[serde(default = "yes")]
    pub defaults: bool,
    /// Default rules (by name) left out.
    #[serde(default)]
    pub disabled_defaults: Vec<String>,
    /// Key rules of the project.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Pattern rules of the project.
    #[serde(default)]
    pub patterns: Vec<PatternRule>,
}

fn yes() -> bool {
    true
}

impl Default for RedactionSettings {
    fn default() -> Self {
        RedactionSettings {
            enabled: false,
            defaults: true,
            disabled_defaults: Vec::new(),
            keys: Vec::new(),
            patterns: Vec::new(),
        }
    }
}

/// A custom pattern rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternRule {
    /// The rule's name, in its marker (`[REDACTED:<name>]`) and counter.
    pub name: String,
    /// The regular expression (`regex` crate syntax).
    pub regex: String,
}

/// Why settings were refused: a message that names the field at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

fn err(field: impl std::fmt::Display, message: impl std::fmt::Display) -> SettingsError {
    SettingsError(format!("{field}: {message}"))
}

/// Whether a rule's name is made of `A-Z a-z 0-9 _ . -`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Every default rule's name.
pub fn default_rule_names() -> impl Iterator<Item = &'static str> {
    DEFAULT_KEYS
        .iter()
        .copied()
        .chain(DEFAULT_PATTERNS.iter().map(|(n, _, _)| *n))
}

impl RedactionSettings {
    /// The default set, enabled.
    pub fn default_set() -> RedactionSettings {
        RedactionSettings {
            enabled: true,
            ..RedactionSettings::default()
        }
    }

    /// Settings from a JSON document (an API body or a stored document),
    /// validated: errors name the field (`patterns[1].regex: ...`).
    pub fn from_json(value: &Value) -> Result<RedactionSettings, SettingsError> {
        let settings: RedactionSettings =
            serde_path_to_error::deserialize(value).map_err(|e| err(e.path(), e.inner()))?;
        settings.compile()?;
        Ok(settings)
    }

    /// Compile the rules (validating them).
    pub fn compile(&self) -> Result<Redactor, SettingsError> {
        if self.keys.len() > MAX_KEYS {
            return Err(err("keys", format!("at most {MAX_KEYS} key rules")));
        }
        if self.patterns.len() > MAX_PATTERNS {
            return Err(err(
                "patterns",
                format!("at most {MAX_PATTERNS} pattern rules"),
            ));
        }
        for (i, name) in self.disabled_defaults.iter().enumerate() {
            if !default_rule_names().any(|d| d == name) {
                return Err(err(
                    format_args!("disabled_defaults[{i}]"),
                    format!(
                        "{name:?} is not a default rule (one of {})",
                        default_rule_names().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        let use_default =
            |name: &str| self.defaults && !self.disabled_defaults.iter().any(|d| d == name);
        let mut keys: Vec<KeyRule> = Vec::new();
        let mut add_key = |name: &str| {
            let norm = normalize(name);
            if !keys.iter().any(|k| k.norm == norm) {
                keys.push(KeyRule {
                    marker: marker(name),
                    name: name.to_owned(),
                    norm,
                });
            }
        };
        for name in DEFAULT_KEYS.iter().filter(|n| use_default(n)) {
            add_key(name);
        }
        for (i, name) in self.keys.iter().enumerate() {
            if !valid_name(name) || normalize(name).is_empty() {
                return Err(err(
                    format_args!("keys[{i}]"),
                    format!(
                        "{name:?} is not a key name: 1 to {MAX_NAME_LEN} characters of A-Z a-z 0-9 _ . -"
                    ),
                ));
            }
            add_key(name);
        }
        let mut patterns = Vec::new();
        for (name, re, luhn) in DEFAULT_PATTERNS.iter().filter(|(n, _, _)| use_default(n)) {
            let regex = RegexBuilder::new(re)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| err(format_args!("default rule {name}"), e))?;
            patterns.push(Pattern {
                name: (*name).to_owned(),
                marker: marker(name),
                regex,
                luhn: *luhn,
            });
        }
        for (i, rule) in self.patterns.iter().enumerate() {
            if !valid_name(&rule.name) {
                return Err(err(
                    format_args!("patterns[{i}].name"),
                    format!(
                        "{:?} is not a rule name: 1 to {MAX_NAME_LEN} characters of A-Z a-z 0-9 _ . -",
                        rule.name
                    ),
                ));
            }
            if self.patterns[..i].iter().any(|p| p.name == rule.name) {
                return Err(err(
                    format_args!("patterns[{i}].name"),
                    format!("{:?} is used by another pattern", rule.name),
                ));
            }
            let field = format!("patterns[{i}].regex");
            if rule.regex.chars().count() > MAX_PATTERN_LEN {
                return Err(err(
                    &field,
                    format!("longer than {MAX_PATTERN_LEN} characters"),
                ));
            }
            let regex = RegexBuilder::new(&rule.regex)
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| err(&field, one_line(&e.to_string())))?;
            if regex.is_match("") {
                return Err(err(&field, "matches the empty string"));
            }
            patterns.push(Pattern {
                name: rule.name.clone(),
                marker: marker(&rule.name),
                regex,
                luhn: false,
            });
        }
        let set = if patterns.is_empty() {
            None
        } else {
            Some(
                RegexSetBuilder::new(patterns.iter().map(|p| p.regex.as_str()))
                    .size_limit(REGEX_SIZE_LIMIT * (patterns.len() + 1))
                    .dfa_size_limit(REGEX_SIZE_LIMIT * 2)
                    .build()
                    .map_err(|e| err("patterns", one_line(&e.to_string())))?,
            )
        };
        Ok(Redactor {
            keys,
            set,
            patterns,
        })
    }
}

/// The `regex` crate's errors draw the pattern over several lines.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn marker(name: &str) -> String {
    format!("[REDACTED:{name}]")
}

/// Lowercase, without `_`, `-`, `.` and spaces.
fn normalize(name: &str) -> String {
    name.bytes()
        .filter(|b| !matches!(b, b'_' | b'-' | b' ' | b'.'))
        .map(|b| char::from(b.to_ascii_lowercase()))
        .collect()
}

/// Whether `segment`, normalised, ends with `norm` (already normalised),
/// without allocating.
fn ends_with_normalized(segment: &str, norm: &str) -> bool {
    let mut it = segment
        .bytes()
        .rev()
        .filter(|b| !matches!(b, b'_' | b'-' | b' '))
        .map(|b| b.to_ascii_lowercase());
    norm.bytes().rev().all(|n| it.next() == Some(n))
}

/// The Luhn checksum of the digits of `s` (13 to 19 of them).
fn luhn_ok(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if !i.is_multiple_of(2) {
                let d = d * 2;
                if d > 9 { d - 9 } else { d }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

struct KeyRule {
    name: String,
    norm: String,
    marker: String,
}

struct Pattern {
    name: String,
    marker: String,
    regex: Regex,
    luhn: bool,
}

/// What was redacted: values replaced, per rule name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts(pub BTreeMap<String, u64>);

impl Counts {
    fn add(&mut self, name: &str, n: u64) {
        match self.0.get_mut(name) {
            Some(c) => *c += n,
            None => {
                self.0.insert(name.to_owned(), n);
            }
        }
    }

    /// Values redacted by one rule.
    pub fn get(&self, name: &str) -> u64 {
        self.0.get(name).copied().unwrap_or(0)
    }

    /// Values redacted in all.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Compiled rules ([`RedactionSettings::compile`]).
pub struct Redactor {
    keys: Vec<KeyRule>,
    /// Every pattern at once: one pass says which (if any) match a string.
    set: Option<RegexSet>,
    patterns: Vec<Pattern>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field(
                "keys",
                &self.keys.iter().map(|k| &k.name).collect::<Vec<_>>(),
            )
            .field(
                "patterns",
                &self.patterns.iter().map(|p| &p.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn is_marker(s: &str) -> bool {
    s.starts_with("[REDACTED:") && s.ends_with(']') && !s[1..].contains('[')
}

impl Redactor {
    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.patterns.is_empty()
    }

    /// The key rule a key (dotted segments) matches.
    fn key_rule(&self, key: &str) -> Option<&KeyRule> {
        if self.keys.is_empty() {
            return None;
        }
        key.split('.').find_map(|segment| {
            self.keys
                .iter()
                .find(|k| ends_with_normalized(segment, &k.norm))
        })
    }

    /// Replace what the pattern rules match in `s`; whether anything was.
    pub fn redact_text(&self, s: &mut String, counts: &mut Counts) -> bool {
        let Some(set) = &self.set else { return false };
        let matched = set.matches(s);
        if !matched.matched_any() {
            return false;
        }
        let mut changed = false;
        for i in matched.iter() {
            let p = &self.patterns[i];
            let mut out = String::new();
            let mut last = 0;
            let mut n = 0;
            for m in p.regex.find_iter(s) {
                if p.luhn && !luhn_ok(m.as_str()) {
                    continue;
                }
                out.push_str(&s[last..m.start()]);
                out.push_str(&p.marker);
                last = m.end();
                n += 1;
            }
            if n > 0 {
                out.push_str(&s[last..]);
                *s = out;
                counts.add(&p.name, n);
                changed = true;
            }
        }
        changed
    }

    /// A string value: JSON in it is redacted as JSON, else the patterns.
    fn redact_string(&self, s: &mut String, counts: &mut Counts, depth: usize) -> bool {
        let t = s.trim_start();
        if depth < JSON_IN_STRING_DEPTH
            && (t.starts_with('{') || t.starts_with('['))
            && let Ok(mut v) = serde_json::from_str::<Value>(s)
            && (v.is_object() || v.is_array())
        {
            if self.redact_value_at(&mut v, counts, depth + 1) {
                *s = v.to_string();
                return true;
            }
            return false;
        }
        self.redact_text(s, counts)
    }

    /// Redact a JSON value: key rules on the keys of its objects, patterns
    /// on its strings and keys. Whether anything changed.
    pub fn redact_value(&self, v: &mut Value, counts: &mut Counts) -> bool {
        self.redact_value_at(v, counts, 0)
    }

    fn redact_value_at(&self, v: &mut Value, counts: &mut Counts, depth: usize) -> bool {
        match v {
            Value::String(s) => self.redact_string(s, counts, depth),
            Value::Array(items) => {
                let mut changed = false;
                for item in items {
                    changed |= self.redact_value_at(item, counts, depth);
                }
                changed
            }
            Value::Object(m) => self.redact_map_at(m, counts, depth),
            _ => false,
        }
    }

    /// Redact a JSON object (a namespace).
    pub fn redact_map(&self, m: &mut Map<String, Value>, counts: &mut Counts) -> bool {
        self.redact_map_at(m, counts, 0)
    }

    fn redact_map_at(&self, m: &mut Map<String, Value>, counts: &mut Counts, depth: usize) -> bool {
        let mut changed = false;
        let mut keys_match = false;
        for (k, v) in m.iter_mut() {
            if let Some(rule) = self.key_rule(k) {
                let already = matches!(&*v, Value::String(s) if is_marker(s));
                if !v.is_null() && !already {
                    *v = Value::String(rule.marker.clone());
                    counts.add(&rule.name, 1);
                    changed = true;
                }
            } else {
                changed |= self.redact_value_at(v, counts, depth);
            }
            if let Some(set) = &self.set
                && set.is_match(k)
            {
                keys_match = true;
            }
        }
        if keys_match {
            for (mut k, v) in std::mem::take(m) {
                changed |= self.redact_text(&mut k, counts);
                m.insert(k, v);
            }
        }
        changed
    }

    /// Redact an event: its seven namespaces, and the patterns in its name
    /// and error (ids, project, type, source and times are left alone).
    pub fn redact_event(&self, e: &mut Event, counts: &mut Counts) -> bool {
        let mut changed = false;
        for ns in [
            &mut e.inputs,
            &mut e.outputs,
            &mut e.config,
            &mut e.metadata,
            &mut e.metrics,
            &mut e.feedback,
            &mut e.user_properties,
        ] {
            changed |= self.redact_map(ns, counts);
        }
        changed |= self.redact_text(&mut e.event_name, counts);
        if let Some(error) = &mut e.error {
            changed |= self.redact_string(error, counts, 0);
        }
        changed
    }

    /// Redact an enrichment patch: its namespaces, and the patterns in its
    /// `error` and `event_name`.
    pub fn redact_patch(&self, patch: &mut Value, counts: &mut Counts) -> bool {
        let Value::Object(m) = patch else {
            return false;
        };
        let mut changed = false;
        for (k, v) in m.iter_mut() {
            if NAMESPACES.contains(&k.as_str()) {
                if let Value::Object(ns) = v {
                    changed |= self.redact_map(ns, counts);
                }
            } else if matches!(k.as_str(), "error" | "event_name")
                && let Value::String(s) = v
            {
                changed |= self.redact_string(s, counts, 0);
            }
        }
        changed
    }

    /// Redact a span: its attributes (but those that say where it belongs:
    /// session and event ids, project, type, source), its events' names
    /// and attributes, its name and its status message. Not its resource,
    /// which spans share: see [`Redactor::redact_attributes`].
    pub fn redact_span(&self, span: &mut Span, counts: &mut Counts) -> bool {
        let mut changed = self.redact_kvs(&mut span.attributes, counts, true);
        for event in &mut span.events {
            changed |= self.redact_text(&mut event.name, counts);
            changed |= self.redact_kvs(&mut event.attributes, counts, false);
        }
        changed |= self.redact_text(&mut span.name, counts);
        changed |= self.redact_string(&mut span.status_message, counts, 0);
        changed
    }

    /// Redact attributes (a resource's, a log record's).
    pub fn redact_attributes(&self, kvs: &mut [KeyValue], counts: &mut Counts) -> bool {
        self.redact_kvs(kvs, counts, false)
    }

    fn redact_kvs(&self, kvs: &mut [KeyValue], counts: &mut Counts, span_level: bool) -> bool {
        let mut changed = false;
        for kv in kvs {
            if span_level
                && (STRUCTURAL_ATTRIBUTES.contains(&kv.key.as_str())
                    || crate::mapping::SESSION_ID_KEYS.contains(&kv.key.as_str()))
            {
                continue;
            }
            if let Some(rule) = self.key_rule(&kv.key) {
                let already = matches!(&kv.value, AttrValue::Str(s) if is_marker(s));
                if !matches!(kv.value, AttrValue::Empty) && !already {
                    kv.value = AttrValue::Str(rule.marker.clone());
                    counts.add(&rule.name, 1);
                    changed = true;
                }
            } else {
                changed |= self.redact_attr_value(&mut kv.value, counts);
            }
            changed |= self.redact_text(&mut kv.key, counts);
        }
        changed
    }

    fn redact_attr_value(&self, v: &mut AttrValue, counts: &mut Counts) -> bool {
        match v {
            AttrValue::Str(s) => self.redact_string(s, counts, 0),
            AttrValue::Array(items) => {
                let mut changed = false;
                for item in items {
                    changed |= self.redact_attr_value(item, counts);
                }
                changed
            }
            AttrValue::KvList(kvs) => self.redact_kvs(kvs, counts, false),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests;
