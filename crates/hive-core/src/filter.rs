//! The filter model shared by the export API, the dashboard, charts and
//! alerts: HoneyHive's `{field, operator, value, type}` over top-level
//! fields and dotted namespace paths.
//!
//! Stores compile a [`Filter`] to their query language; [`Filter::matches`]
//! is the reference semantics they are tested against.

use serde_json::Value;

use crate::model::is_namespace;
use crate::time::parse_datetime_ms;

/// A top-level event field usable in filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopField {
    EventId,
    SessionId,
    ParentId,
    ProjectId,
    Source,
    EventType,
    EventName,
    StartTime,
    EndTime,
    Duration,
    Error,
}

impl TopField {
    pub const ALL: [TopField; 11] = [
        TopField::EventId,
        TopField::SessionId,
        TopField::ParentId,
        TopField::ProjectId,
        TopField::Source,
        TopField::EventType,
        TopField::EventName,
        TopField::StartTime,
        TopField::EndTime,
        TopField::Duration,
        TopField::Error,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TopField::EventId => "event_id",
            TopField::SessionId => "session_id",
            TopField::ParentId => "parent_id",
            TopField::ProjectId => "project_id",
            TopField::Source => "source",
            TopField::EventType => "event_type",
            TopField::EventName => "event_name",
            TopField::StartTime => "start_time",
            TopField::EndTime => "end_time",
            TopField::Duration => "duration",
            TopField::Error => "error",
        }
    }

    pub fn from_name(name: &str) -> Option<TopField> {
        TopField::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether the field holds a number (epoch ms or ms).
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            TopField::StartTime | TopField::EndTime | TopField::Duration
        )
    }
}

/// What a filter looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldRef {
    Top(TopField),
    /// A namespace and a non-empty path inside it.
    Path {
        namespace: String,
        path: Vec<String>,
    },
}

impl FieldRef {
    /// Parse `event_name` or `metadata.user.tier`.
    pub fn parse(field: &str) -> Result<FieldRef, FilterError> {
        if let Some(top) = TopField::from_name(field) {
            return Ok(FieldRef::Top(top));
        }
        let mut parts = field.split('.');
        let ns = parts.next().unwrap_or_default();
        let path: Vec<String> = parts.map(str::to_owned).collect();
        if !is_namespace(ns) || path.is_empty() || path.iter().any(|p| p.is_empty()) {
            return Err(FilterError::UnknownField(field.to_owned()));
        }
        if path.iter().any(|p| p.contains('"') || p.contains('\\')) {
            return Err(FilterError::UnknownField(field.to_owned()));
        }
        // Stores turn the path into a query language's path literal (a NUL
        // ends SQLite's); no key a client means holds a control character.
        if field.chars().any(char::is_control) {
            return Err(FilterError::ControlCharacter(field.to_owned()));
        }
        Ok(FieldRef::Path {
            namespace: ns.to_owned(),
            path,
        })
    }

    /// The dotted name.
    pub fn dotted(&self) -> String {
        match self {
            FieldRef::Top(t) => t.name().to_owned(),
            FieldRef::Path { namespace, path } => format!("{namespace}.{}", path.join(".")),
        }
    }

    /// Look the field up in an event's JSON.
    pub fn lookup<'a>(&self, event: &'a Value) -> Option<&'a Value> {
        match self {
            FieldRef::Top(t) => event.get(t.name()).filter(|v| !v.is_null()),
            FieldRef::Path { namespace, path } => {
                let mut node = event.get(namespace)?;
                for seg in path {
                    node = match node {
                        Value::Object(m) => m.get(seg)?,
                        Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
                        _ => return None,
                    };
                }
                Some(node)
            }
        }
    }
}

/// HoneyHive's operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Is,
    IsNot,
    Contains,
    NotContains,
    Exists,
    NotExists,
    GreaterThan,
    LessThan,
    After,
    Before,
}

impl Operator {
    pub const ALL: [Operator; 10] = [
        Operator::Is,
        Operator::IsNot,
        Operator::Contains,
        Operator::NotContains,
        Operator::Exists,
        Operator::NotExists,
        Operator::GreaterThan,
        Operator::LessThan,
        Operator::After,
        Operator::Before,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operator::Is => "is",
            Operator::IsNot => "is not",
            Operator::Contains => "contains",
            Operator::NotContains => "not contains",
            Operator::Exists => "exists",
            Operator::NotExists => "not exists",
            Operator::GreaterThan => "greater than",
            Operator::LessThan => "less than",
            Operator::After => "after",
            Operator::Before => "before",
        }
    }

    pub fn parse(s: &str) -> Result<Operator, FilterError> {
        let norm = s.trim().to_ascii_lowercase().replace(['_', '-'], " ");
        let alias = match norm.as_str() {
            "equals" | "eq" | "=" | "==" => "is",
            "not equals" | "neq" | "!=" => "is not",
            "gt" | ">" => "greater than",
            "lt" | "<" => "less than",
            "does not contain" => "not contains",
            "does not exist" => "not exists",
            other => other,
        };
        Operator::ALL
            .into_iter()
            .find(|o| o.name() == alias)
            .ok_or_else(|| FilterError::UnknownOperator(s.to_owned()))
    }

    /// The operators offered for a value type.
    pub fn for_type(ty: FilterType) -> &'static [Operator] {
        use Operator::*;
        match ty {
            FilterType::String => &[Is, IsNot, Contains, NotContains, Exists, NotExists],
            FilterType::Number => &[Is, IsNot, GreaterThan, LessThan, Exists, NotExists],
            FilterType::Boolean => &[Is, IsNot, Exists, NotExists],
            FilterType::Datetime => &[After, Before, Exists, NotExists],
        }
    }
}

/// The value type a filter compares as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterType {
    String,
    Number,
    Boolean,
    Datetime,
}

impl FilterType {
    pub fn name(self) -> &'static str {
        match self {
            FilterType::String => "string",
            FilterType::Number => "number",
            FilterType::Boolean => "boolean",
            FilterType::Datetime => "datetime",
        }
    }

    pub fn parse(s: &str) -> Result<FilterType, FilterError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "string" | "str" | "text" => Ok(FilterType::String),
            "number" | "float" | "int" | "integer" => Ok(FilterType::Number),
            "boolean" | "bool" => Ok(FilterType::Boolean),
            "datetime" | "date" | "timestamp" => Ok(FilterType::Datetime),
            _ => Err(FilterError::UnknownType(s.to_owned())),
        }
    }
}

/// The comparison value, already converted to the filter's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    None,
    Text(String),
    Number(f64),
    Bool(bool),
    /// Epoch milliseconds, with the original text for comparing with
    /// datetimes stored as strings.
    Datetime {
        ms: f64,
        text: Option<String>,
    },
}

/// One validated filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub field: FieldRef,
    pub operator: Operator,
    pub ty: FilterType,
    pub operand: Operand,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    #[error(
        "unknown filter field {0:?}: use a top-level field (event_name, session_id, ...) or a namespace path such as metadata.user_id"
    )]
    UnknownField(String),
    #[error("filter field {0:?} holds a control character")]
    ControlCharacter(String),
    #[error("unknown filter operator {0:?}")]
    UnknownOperator(String),
    #[error("unknown filter type {0:?}: use string, number, boolean or datetime")]
    UnknownType(String),
    #[error("filter on {field}: {message}")]
    BadValue { field: String, message: String },
    #[error("filter is not an object with field, operator, value and type")]
    Shape,
    /// A member of the wrong type (`field: invalid type: ...`).
    #[error("{0}")]
    Field(String),
    #[error("invalid dateRange: {0}")]
    DateRange(String),
}

impl Filter {
    /// Parse a `{field, operator, value, type}` object.
    pub fn from_json(v: &Value) -> Result<Filter, FilterError> {
        let obj = v.as_object().ok_or(FilterError::Shape)?;
        let typed = |key: &str| -> Result<Option<String>, FilterError> {
            crate::fields::field::<String>(obj, key).map_err(FilterError::Field)
        };
        let field_name = typed("field")?.ok_or(FilterError::Shape)?;
        let field = FieldRef::parse(&field_name)?;
        let operator = Operator::parse(&typed("operator")?.ok_or(FilterError::Shape)?)?;
        let value = obj.get("value").unwrap_or(&Value::Null);
        let ty = match typed("type")? {
            Some(t) => FilterType::parse(&t)?,
            None => infer_type(&field, operator, value),
        };
        Filter::new(field, operator, ty, value)
    }

    /// Build a filter, converting `value` to the type.
    pub fn new(
        field: FieldRef,
        operator: Operator,
        ty: FilterType,
        value: &Value,
    ) -> Result<Filter, FilterError> {
        let bad = |message: String| FilterError::BadValue {
            field: field.dotted(),
            message,
        };
        let operand = match operator {
            Operator::Exists | Operator::NotExists => Operand::None,
            Operator::After | Operator::Before => datetime_operand(value).map_err(bad)?,
            Operator::GreaterThan | Operator::LessThan if ty == FilterType::Datetime => {
                datetime_operand(value).map_err(bad)?
            }
            Operator::GreaterThan | Operator::LessThan => Operand::Number(
                number_of(value).ok_or_else(|| bad(format!("{value} is not a number")))?,
            ),
            Operator::Contains | Operator::NotContains => Operand::Text(text_of(value)),
            Operator::Is | Operator::IsNot => match ty {
                FilterType::String => Operand::Text(text_of(value)),
                FilterType::Number => Operand::Number(
                    number_of(value).ok_or_else(|| bad(format!("{value} is not a number")))?,
                ),
                FilterType::Boolean => Operand::Bool(match value {
                    Value::Bool(b) => *b,
                    Value::String(s) if s.eq_ignore_ascii_case("true") => true,
                    Value::String(s) if s.eq_ignore_ascii_case("false") => false,
                    _ => return Err(bad(format!("{value} is not a boolean"))),
                }),
                FilterType::Datetime => datetime_operand(value).map_err(bad)?,
            },
        };
        Ok(Filter {
            field,
            operator,
            ty,
            operand,
        })
    }

    /// The reference semantics: whether an event (as JSON) matches.
    pub fn matches(&self, event: &Value) -> bool {
        self.matches_found(self.field.lookup(event))
    }

    /// Whether the value found at the filter's field (`None`: absent)
    /// matches; [`Filter::matches`] is this applied to a lookup.
    pub fn matches_found(&self, found: Option<&Value>) -> bool {
        let found = found.filter(|v| !v.is_null());
        match self.operator {
            Operator::Exists => found.is_some(),
            Operator::NotExists => found.is_none(),
            Operator::Is => found.is_some_and(|v| self.equals(v)),
            Operator::IsNot => !found.is_some_and(|v| self.equals(v)),
            Operator::Contains => found.is_some_and(|v| self.contains(v)),
            Operator::NotContains => !found.is_some_and(|v| self.contains(v)),
            Operator::GreaterThan | Operator::After => {
                found.is_some_and(|v| self.compare(v) == Some(std::cmp::Ordering::Greater))
            }
            Operator::LessThan | Operator::Before => {
                found.is_some_and(|v| self.compare(v) == Some(std::cmp::Ordering::Less))
            }
        }
    }

    fn equals(&self, v: &Value) -> bool {
        match (&self.operand, v) {
            (Operand::Text(t), Value::String(s)) => s == t,
            (Operand::Text(t), Value::Number(n)) => n.to_string() == *t,
            (Operand::Text(t), Value::Bool(b)) => b.to_string() == *t,
            (Operand::Number(x), Value::Number(n)) => n.as_f64() == Some(*x),
            (Operand::Bool(x), Value::Bool(b)) => b == x,
            (Operand::Datetime { ms, .. }, Value::Number(n)) => n.as_f64() == Some(*ms),
            _ => false,
        }
    }

    fn contains(&self, v: &Value) -> bool {
        let Operand::Text(needle) = &self.operand else {
            return false;
        };
        let hay = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        hay.to_lowercase().contains(&needle.to_lowercase())
    }

    fn compare(&self, v: &Value) -> Option<std::cmp::Ordering> {
        match (&self.operand, v) {
            (Operand::Number(x), Value::Number(n)) => n.as_f64()?.partial_cmp(x),
            (Operand::Datetime { ms, .. }, Value::Number(n)) => n.as_f64()?.partial_cmp(ms),
            (Operand::Datetime { ms, .. }, Value::String(s)) => {
                parse_datetime_ms(s)?.partial_cmp(ms)
            }
            _ => None,
        }
    }
}

fn infer_type(field: &FieldRef, operator: Operator, value: &Value) -> FilterType {
    match (field, operator, value) {
        (_, Operator::After | Operator::Before, _) => FilterType::Datetime,
        (FieldRef::Top(t), _, _) if t.is_numeric() => FilterType::Number,
        (_, _, Value::Number(_)) => FilterType::Number,
        (_, _, Value::Bool(_)) => FilterType::Boolean,
        _ => FilterType::String,
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn datetime_operand(v: &Value) -> Result<Operand, String> {
    match v {
        Value::Number(n) => Ok(Operand::Datetime {
            ms: n.as_f64().unwrap_or_default(),
            text: None,
        }),
        Value::String(s) => {
            if let Ok(ms) = s.trim().parse::<f64>() {
                return Ok(Operand::Datetime { ms, text: None });
            }
            parse_datetime_ms(s)
                .map(|ms| Operand::Datetime {
                    ms,
                    text: Some(s.clone()),
                })
                .ok_or_else(|| format!("{s:?} is not a date (use RFC 3339 or epoch milliseconds)"))
        }
        other => Err(format!("{other} is not a date")),
    }
}

/// A time window in epoch milliseconds (inclusive bounds).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DateRange {
    pub start_ms: Option<f64>,
    pub end_ms: Option<f64>,
}

impl DateRange {
    /// Parse `{"$gte": .., "$lte": ..}`, `{"start_time": .., "end_time": ..}`
    /// or `{"relative": "7d"}` (needs the current time).
    pub fn from_json(v: &Value, now_ms: f64) -> Result<DateRange, FilterError> {
        let Some(obj) = v.as_object() else {
            if v.is_null() {
                return Ok(DateRange::default());
            }
            return Err(FilterError::DateRange("expected an object".into()));
        };
        let bound = |keys: &[&str]| -> Result<Option<f64>, FilterError> {
            for k in keys {
                if let Some(val) = obj.get(*k).filter(|v| !v.is_null()) {
                    return match datetime_operand(val) {
                        Ok(Operand::Datetime { ms, .. }) => Ok(Some(ms)),
                        Ok(_) => Ok(None),
                        Err(e) => Err(FilterError::DateRange(format!("{k}: {e}"))),
                    };
                }
            }
            Ok(None)
        };
        let mut range = DateRange {
            start_ms: bound(&["$gte", "$gt", "start_time", "start", "from"])?,
            end_ms: bound(&["$lte", "$lt", "end_time", "end", "to"])?,
        };
        if let Some(rel) = obj.get("relative").and_then(Value::as_str) {
            let ms = crate::time::parse_relative_ms(rel).ok_or_else(|| {
                FilterError::DateRange(format!(
                    "relative {rel:?}: use e.g. 30m, 24h, 7d, 4w (at most 100 years)"
                ))
            })?;
            range.start_ms = Some(now_ms - ms);
            range.end_ms = None;
        }
        Ok(range)
    }
}

#[cfg(test)]
mod tests;
