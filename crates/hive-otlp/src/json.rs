//! OTLP/JSON `ExportTraceServiceRequest` -> [`Span`].
//!
//! Accepts the standard OTLP/JSON mapping (camelCase names, hex ids, enums as
//! integers, 64-bit integers as strings or numbers), protobuf-JSON with base64
//! ids, snake_case field names, and the HoneyHive Python SDK dialect (`null`
//! parent ids, enum names, missing `resource.attributes`). Unknown fields are
//! ignored. The body is parsed into a `serde_json::Value` (serde_json caps
//! nesting at 128) and walked by value, moving strings out of it.

use std::sync::Arc;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hive_core::span::{AttrValue, KeyValue, Span, SpanEvent, SpanKind, StatusCode};
use serde_json::{Map, Value};

use crate::path::Path;
use crate::protobuf::{span_kind_from_i32, status_code_from_i32};
use crate::{MAX_ANY_VALUE_DEPTH, OtlpError};

pub(crate) type Object = Map<String, Value>;
type Result<T> = std::result::Result<T, OtlpError>;

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const BASE64_URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub(crate) fn decode(body: &[u8]) -> Result<Vec<Span>> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let root: Value = serde_json::from_slice(body).map_err(|e| OtlpError::Json(e.to_string()))?;
    let path = Path::ROOT;
    let mut root = object(root, &path)?;
    let (resource_spans, key) = take_array(&mut root, "resourceSpans", "resource_spans", &path)?;
    let rs_path = path.key(key);
    let mut out = Vec::new();
    for (ri, rs) in resource_spans.into_iter().enumerate() {
        resource_spans_into(rs, &rs_path.index(ri), &mut out)?;
    }
    Ok(out)
}

pub(crate) fn error(path: &Path<'_>, message: impl Into<String>) -> OtlpError {
    OtlpError::JsonField {
        path: path.render(),
        message: message.into(),
    }
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn object(v: Value, path: &Path<'_>) -> Result<Object> {
    match v {
        Value::Object(o) => Ok(o),
        other => Err(error(
            path,
            format!("expected an object, got {}", type_name(&other)),
        )),
    }
}

/// Takes the value of `camel` (or else `snake`) out of `obj`; `null` reads
/// as absent.
pub(crate) fn take(obj: &mut Object, camel: &'static str, snake: &'static str) -> Option<Value> {
    match obj.get_mut(camel) {
        Some(v) if !v.is_null() => return Some(v.take()),
        _ => {}
    }
    if camel == snake {
        return None;
    }
    match obj.get_mut(snake) {
        Some(v) if !v.is_null() => Some(v.take()),
        _ => None,
    }
}

/// An array field (absent or `null` → empty), with the key for error paths.
pub(crate) fn take_array(
    obj: &mut Object,
    camel: &'static str,
    snake: &'static str,
    path: &Path<'_>,
) -> Result<(Vec<Value>, &'static str)> {
    match take(obj, camel, snake) {
        None => Ok((Vec::new(), camel)),
        Some(Value::Array(a)) => Ok((a, camel)),
        Some(other) => Err(error(
            &path.key(camel),
            format!("expected an array, got {}", type_name(&other)),
        )),
    }
}

pub(crate) fn take_string(
    obj: &mut Object,
    camel: &'static str,
    snake: &'static str,
    path: &Path<'_>,
) -> Result<String> {
    match take(obj, camel, snake) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(error(
            &path.key(camel),
            format!("expected a string, got {}", type_name(&other)),
        )),
    }
}

fn resource_spans_into(rs: Value, path: &Path<'_>, out: &mut Vec<Span>) -> Result<()> {
    let mut rs = object(rs, path)?;
    let resource = match take(&mut rs, "resource", "resource") {
        None => Vec::new(),
        Some(r) => {
            let res_path = path.key("resource");
            let mut r = object(r, &res_path)?;
            let (attrs, key) = take_array(&mut r, "attributes", "attributes", &res_path)?;
            key_values(attrs, &res_path.key(key), 0)?
        }
    };
    let resource = Arc::new(resource);
    let (mut scope_spans, mut key) = take_array(&mut rs, "scopeSpans", "scope_spans", path)?;
    if scope_spans.is_empty() {
        // OTLP before 0.19 called them instrumentation library spans.
        (scope_spans, key) = take_array(
            &mut rs,
            "instrumentationLibrarySpans",
            "instrumentation_library_spans",
            path,
        )?;
    }
    let ss_path = path.key(key);
    out.reserve(scope_spans.len());
    for (si, ss) in scope_spans.into_iter().enumerate() {
        let ss_i = ss_path.index(si);
        let mut ss = object(ss, &ss_i)?;
        let scope = match take(&mut ss, "scope", "scope") {
            Some(scope) => Some((scope, "scope")),
            None => take(&mut ss, "instrumentationLibrary", "instrumentation_library")
                .map(|s| (s, "instrumentationLibrary")),
        };
        let (scope_name, scope_version) = match scope {
            None => (String::new(), String::new()),
            Some((scope, key)) => {
                let scope_path = ss_i.key(key);
                let mut scope = object(scope, &scope_path)?;
                (
                    take_string(&mut scope, "name", "name", &scope_path)?,
                    take_string(&mut scope, "version", "version", &scope_path)?,
                )
            }
        };
        let (spans, key) = take_array(&mut ss, "spans", "spans", &ss_i)?;
        let spans_path = ss_i.key(key);
        out.reserve(spans.len());
        for (i, span) in spans.into_iter().enumerate() {
            out.push(span_from(
                span,
                &spans_path.index(i),
                &resource,
                &scope_name,
                &scope_version,
            )?);
        }
    }
    Ok(())
}

fn span_from(
    span: Value,
    path: &Path<'_>,
    resource: &Arc<Vec<KeyValue>>,
    scope_name: &str,
    scope_version: &str,
) -> Result<Span> {
    let mut o = object(span, path)?;
    let trace_id = required_id::<16>(take(&mut o, "traceId", "trace_id"), &path.key("traceId"))?;
    let span_id = required_id::<8>(take(&mut o, "spanId", "span_id"), &path.key("spanId"))?;
    let parent_span_id = optional_id::<8>(
        take(&mut o, "parentSpanId", "parent_span_id"),
        &path.key("parentSpanId"),
    )?
    .filter(|id| *id != [0; 8]);
    let name = take_string(&mut o, "name", "name", path)?;
    let kind = match take(&mut o, "kind", "kind") {
        None => SpanKind::Unspecified,
        Some(v) => span_kind(v, &path.key("kind"))?,
    };
    let start_time_unix_nano = match take(&mut o, "startTimeUnixNano", "start_time_unix_nano") {
        None => 0,
        Some(v) => uint64(v, &path.key("startTimeUnixNano"))?,
    };
    let end_time_unix_nano = match take(&mut o, "endTimeUnixNano", "end_time_unix_nano") {
        None => 0,
        Some(v) => uint64(v, &path.key("endTimeUnixNano"))?,
    };
    let (attrs, key) = take_array(&mut o, "attributes", "attributes", path)?;
    let attributes = key_values(attrs, &path.key(key), 0)?;
    let (raw_events, key) = take_array(&mut o, "events", "events", path)?;
    let events_path = path.key(key);
    let mut events = Vec::with_capacity(raw_events.len());
    for (i, event) in raw_events.into_iter().enumerate() {
        events.push(event_from(event, &events_path.index(i))?);
    }
    let (status_code, status_message) = match take(&mut o, "status", "status") {
        None => (StatusCode::Unset, String::new()),
        Some(status) => {
            let status_path = path.key("status");
            let mut status = object(status, &status_path)?;
            let code = match take(&mut status, "code", "code") {
                None => StatusCode::Unset,
                Some(code) => status_code(code, &status_path.key("code"))?,
            };
            (
                code,
                take_string(&mut status, "message", "message", &status_path)?,
            )
        }
    };
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        name,
        kind,
        start_time_unix_nano,
        end_time_unix_nano,
        attributes,
        events,
        status_code,
        status_message,
        resource: Arc::clone(resource),
        scope_name: scope_name.to_owned(),
        scope_version: scope_version.to_owned(),
    })
}

fn event_from(event: Value, path: &Path<'_>) -> Result<SpanEvent> {
    let mut o = object(event, path)?;
    let time_unix_nano = match take(&mut o, "timeUnixNano", "time_unix_nano") {
        None => 0,
        Some(v) => uint64(v, &path.key("timeUnixNano"))?,
    };
    let name = take_string(&mut o, "name", "name", path)?;
    let (attrs, key) = take_array(&mut o, "attributes", "attributes", path)?;
    Ok(SpanEvent {
        time_unix_nano,
        name,
        attributes: key_values(attrs, &path.key(key), 0)?,
    })
}

// ------------------------------------------------------------------- ids

fn required_id<const N: usize>(v: Option<Value>, path: &Path<'_>) -> Result<[u8; N]> {
    optional_id::<N>(v, path)?
        .ok_or_else(|| error(path, format!("missing, expected {} hex characters", 2 * N)))
}

/// An id from hex (or base64 as a fallback); absent, `null` and `""` give `None`.
pub(crate) fn optional_id<const N: usize>(
    v: Option<Value>,
    path: &Path<'_>,
) -> Result<Option<[u8; N]>> {
    let s = match v {
        None => return Ok(None),
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(error(
                path,
                format!(
                    "expected a string of {} hex characters, got {}",
                    2 * N,
                    type_name(&other)
                ),
            ));
        }
    };
    if s.is_empty() {
        return Ok(None);
    }
    if let Some(id) = parse_hex::<N>(&s) {
        return Ok(Some(id));
    }
    for engine in [&BASE64, &BASE64_URL] {
        let decoded = engine.decode(&s).ok();
        if let Some(id) = decoded.and_then(|b| <[u8; N]>::try_from(b.as_slice()).ok()) {
            return Ok(Some(id));
        }
    }
    Err(error(
        path,
        format!(
            "expected {} hex characters (or base64 of {N} bytes), got {:?}",
            2 * N,
            truncate(&s)
        ),
    ))
}

fn parse_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

pub(crate) fn truncate(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

// ----------------------------------------------------------- enums, numbers

pub(crate) fn enum_name<'s>(s: &'s str, prefix: &str) -> &'s str {
    match s.get(..prefix.len()) {
        Some(p) if p.eq_ignore_ascii_case(prefix) => &s[prefix.len()..],
        _ => s,
    }
}

fn span_kind(v: Value, path: &Path<'_>) -> Result<SpanKind> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(span_kind_from_i32(i32::try_from(i).unwrap_or(-1))),
            None => Err(error(path, format!("expected a span kind, got {n}"))),
        },
        Value::String(s) => {
            if let Ok(i) = s.trim().parse::<i32>() {
                return Ok(span_kind_from_i32(i));
            }
            let name = enum_name(&s, "SPAN_KIND_");
            [
                ("UNSPECIFIED", SpanKind::Unspecified),
                ("INTERNAL", SpanKind::Internal),
                ("SERVER", SpanKind::Server),
                ("CLIENT", SpanKind::Client),
                ("PRODUCER", SpanKind::Producer),
                ("CONSUMER", SpanKind::Consumer),
            ]
            .into_iter()
            .find(|(n, _)| name.eq_ignore_ascii_case(n))
            .map(|(_, k)| k)
            .ok_or_else(|| error(path, format!("unknown span kind {:?}", truncate(&s))))
        }
        other => Err(error(
            path,
            format!("expected a span kind, got {}", type_name(&other)),
        )),
    }
}

fn status_code(v: Value, path: &Path<'_>) -> Result<StatusCode> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(status_code_from_i32(i32::try_from(i).unwrap_or(-1))),
            None => Err(error(path, format!("expected a status code, got {n}"))),
        },
        Value::String(s) => {
            if let Ok(i) = s.trim().parse::<i32>() {
                return Ok(status_code_from_i32(i));
            }
            let name = enum_name(&s, "STATUS_CODE_");
            [
                ("UNSET", StatusCode::Unset),
                ("OK", StatusCode::Ok),
                ("ERROR", StatusCode::Error),
            ]
            .into_iter()
            .find(|(n, _)| name.eq_ignore_ascii_case(n))
            .map(|(_, c)| c)
            .ok_or_else(|| error(path, format!("unknown status code {:?}", truncate(&s))))
        }
        other => Err(error(
            path,
            format!("expected a status code, got {}", type_name(&other)),
        )),
    }
}

/// A non-negative integer from a JSON number or a decimal string.
pub(crate) fn uint64(v: Value, path: &Path<'_>) -> Result<u64> {
    let parsed = match &v {
        Value::Number(n) => n.as_u64().or_else(|| {
            // 1.7e18 style: accept when it is a non-negative whole number in range.
            n.as_f64()
                .filter(|f| {
                    f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f < 1.8446744073709552e19
                })
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        error(
            path,
            format!("expected an unsigned 64-bit integer, got {}", describe(&v)),
        )
    })
}

/// A signed integer from a JSON number or a decimal string.
pub(crate) fn int64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| {
                    f.is_finite()
                        && f.fract() == 0.0
                        && *f >= -9.223372036854776e18
                        && *f < 9.223372036854776e18
                })
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// A double from a JSON number or a string (`"NaN"`, `"Infinity"`,
/// `"-Infinity"` or a decimal).
fn float64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{:?}", truncate(s)),
        Value::Number(n) => n.to_string(),
        other => type_name(other).to_string(),
    }
}

// --------------------------------------------------------------- AnyValue

pub(crate) fn key_values(
    items: Vec<Value>,
    path: &Path<'_>,
    depth: usize,
) -> Result<Vec<KeyValue>> {
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let kv_path = path.index(i);
        let mut kv = object(item, &kv_path)?;
        let key = take_string(&mut kv, "key", "key", &kv_path)?;
        let value = match take(&mut kv, "value", "value") {
            None => AttrValue::Empty,
            Some(v) => any_value(v, &kv_path.key("value"), depth)?,
        };
        out.push(KeyValue { key, value });
    }
    Ok(out)
}

pub(crate) fn any_value(v: Value, path: &Path<'_>, depth: usize) -> Result<AttrValue> {
    let o = match v {
        Value::Object(o) => o,
        Value::Null => return Ok(AttrValue::Empty),
        // Not OTLP, but unambiguous: a bare JSON scalar.
        Value::String(s) => return Ok(AttrValue::Str(s)),
        Value::Bool(b) => return Ok(AttrValue::Bool(b)),
        Value::Number(n) => {
            return Ok(match n.as_i64() {
                Some(i) => AttrValue::Int(i),
                None => AttrValue::Double(n.as_f64().unwrap_or(f64::NAN)),
            });
        }
        Value::Array(_) => return Err(error(path, "expected an AnyValue object, got an array")),
    };
    // Usually exactly one key: a single pass over the entries.
    for (key, value) in o {
        if value.is_null() {
            continue;
        }
        let attr = match key.as_str() {
            "stringValue" | "string_value" => match value {
                Value::String(s) => AttrValue::Str(s),
                other => return Err(wrong(path, "stringValue", "a string", &other)),
            },
            "boolValue" | "bool_value" => match value {
                Value::Bool(b) => AttrValue::Bool(b),
                Value::String(s) if s == "true" => AttrValue::Bool(true),
                Value::String(s) if s == "false" => AttrValue::Bool(false),
                other => return Err(wrong(path, "boolValue", "a boolean", &other)),
            },
            "intValue" | "int_value" => match int64(&value) {
                Some(i) => AttrValue::Int(i),
                None => return Err(wrong(path, "intValue", "a 64-bit integer", &value)),
            },
            "doubleValue" | "double_value" => match float64(&value) {
                Some(d) => AttrValue::Double(d),
                None => return Err(wrong(path, "doubleValue", "a number", &value)),
            },
            "bytesValue" | "bytes_value" => match &value {
                Value::String(s) => match BASE64.decode(s).or_else(|_| BASE64_URL.decode(s)) {
                    Ok(b) => AttrValue::Bytes(b),
                    Err(_) => return Err(wrong(path, "bytesValue", "base64", &value)),
                },
                other => return Err(wrong(path, "bytesValue", "a base64 string", other)),
            },
            "arrayValue" | "array_value" => {
                let path = path.key("arrayValue");
                let depth = nested(depth, &path)?;
                let (values, values_path) = list_values(value, &path)?;
                let values_path = path.key(values_path);
                let mut items = Vec::with_capacity(values.len());
                for (i, item) in values.into_iter().enumerate() {
                    items.push(any_value(item, &values_path.index(i), depth)?);
                }
                AttrValue::Array(items)
            }
            "kvlistValue" | "kvlist_value" => {
                let path = path.key("kvlistValue");
                let depth = nested(depth, &path)?;
                let (values, values_path) = list_values(value, &path)?;
                AttrValue::KvList(key_values(values, &path.key(values_path), depth)?)
            }
            _ => continue,
        };
        return Ok(attr);
    }
    Ok(AttrValue::Empty)
}

/// The `values` of an `ArrayValue` / `KeyValueList` (a bare array is accepted too).
fn list_values(v: Value, path: &Path<'_>) -> Result<(Vec<Value>, &'static str)> {
    match v {
        Value::Array(a) => Ok((a, "values")),
        Value::Object(mut o) => take_array(&mut o, "values", "values", path),
        other => Err(error(
            path,
            format!("expected an object, got {}", type_name(&other)),
        )),
    }
}

fn wrong(path: &Path<'_>, key: &str, expected: &str, got: &Value) -> OtlpError {
    error(
        &path.key(key),
        format!("expected {expected}, got {}", describe(got)),
    )
}

fn nested(depth: usize, path: &Path<'_>) -> Result<usize> {
    if depth >= MAX_ANY_VALUE_DEPTH {
        Err(OtlpError::NestingTooDeep {
            path: path.render(),
            limit: MAX_ANY_VALUE_DEPTH,
        })
    } else {
        Ok(depth + 1)
    }
}
