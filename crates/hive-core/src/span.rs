//! A protocol-neutral span, the output of OTLP decoding (protobuf, JSON, gRPC)
//! and the input of [`crate::mapping`].
//!
//! It keeps everything an OTLP span carries that Hive uses, in plain Rust
//! types, so the mapping to events can be tested without any decoder.

/// An attribute value, as OTLP's `AnyValue`.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    Str(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Array(Vec<AttrValue>),
    KvList(Vec<KeyValue>),
    /// An `AnyValue` with no value set.
    Empty,
}

/// One attribute.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue {
    pub key: String,
    pub value: AttrValue,
}

impl KeyValue {
    pub fn new(key: impl Into<String>, value: AttrValue) -> Self {
        Self {
            key: key.into(),
            value,
        }
    }
}

/// OTLP span kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpanKind {
    #[default]
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

/// OTLP status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusCode {
    #[default]
    Unset,
    Ok,
    Error,
}

/// A timed event inside a span (for instance an `exception`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SpanEvent {
    pub time_unix_nano: u64,
    pub name: String,
    pub attributes: Vec<KeyValue>,
}

/// One span with its resource and instrumentation scope.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Span {
    /// 16 bytes.
    pub trace_id: [u8; 16],
    /// 8 bytes.
    pub span_id: [u8; 8],
    /// `None` for a root span (absent, empty, all zero or JSON `null` on the wire).
    pub parent_span_id: Option<[u8; 8]>,
    pub name: String,
    pub kind: SpanKind,
    pub start_time_unix_nano: u64,
    pub end_time_unix_nano: u64,
    pub attributes: Vec<KeyValue>,
    pub events: Vec<SpanEvent>,
    pub status_code: StatusCode,
    pub status_message: String,
    /// The resource's attributes (shared by all spans of one `ResourceSpans`).
    pub resource: std::sync::Arc<Vec<KeyValue>>,
    pub scope_name: String,
    pub scope_version: String,
}

impl Span {
    /// The first attribute with this key.
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| &kv.value)
    }

    /// A string-valued attribute (other scalar types are rendered as text).
    pub fn attr_str(&self, key: &str) -> Option<String> {
        self.attr(key).and_then(AttrValue::as_text)
    }
}

impl AttrValue {
    /// The value as text when it is a scalar.
    pub fn as_text(&self) -> Option<String> {
        match self {
            AttrValue::Str(s) => Some(s.clone()),
            AttrValue::Bool(b) => Some(b.to_string()),
            AttrValue::Int(i) => Some(i.to_string()),
            AttrValue::Double(d) => Some(d.to_string()),
            _ => None,
        }
    }

    /// The value as a number when it is numeric (or a numeric string).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AttrValue::Int(i) => Some(*i as f64),
            AttrValue::Double(d) => Some(*d),
            AttrValue::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as JSON, keeping its type.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            AttrValue::Str(s) => Value::String(s.clone()),
            AttrValue::Bool(b) => Value::Bool(*b),
            AttrValue::Int(i) => Value::from(*i),
            AttrValue::Double(d) => serde_json::Number::from_f64(*d)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(d.to_string())),
            AttrValue::Bytes(b) => Value::String(hex_lower(b)),
            AttrValue::Array(items) => Value::Array(items.iter().map(AttrValue::to_json).collect()),
            AttrValue::KvList(kvs) => Value::Object(
                kvs.iter()
                    .map(|kv| (kv.key.clone(), kv.value.to_json()))
                    .collect(),
            ),
            AttrValue::Empty => Value::Null,
        }
    }
}

/// Lower-case hex of bytes.
pub fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}
