//! `ExportLogsServiceRequest` (protobuf and OTLP/JSON) -> [`LogRecord`].
//!
//! The JSON side accepts what the trace decoder accepts: camelCase or
//! snake_case names, hex (or base64) ids, enum names or numbers, 64-bit
//! integers as strings or numbers, `null` for absent.

use std::sync::Arc;

use hive_core::log::LogRecord;
use hive_core::span::{AttrValue, KeyValue};
use prost::Message;
use serde_json::Value;

use crate::OtlpError;
use crate::json::{
    any_value, enum_name, error, int64, key_values, object, optional_id, take, take_array,
    take_string, truncate, type_name, uint64,
};
use crate::path::Path;
use crate::proto::collector::logs::v1::ExportLogsServiceRequest;
use crate::protobuf::{convert_any, convert_kvs, decode_error, field_error};

type Result<T> = std::result::Result<T, OtlpError>;

/// The `event.name` attribute, for records without an `event_name` field.
fn event_name_of(field: String, attributes: &[KeyValue]) -> String {
    if !field.is_empty() {
        return field;
    }
    attributes
        .iter()
        .find(|kv| kv.key == "event.name")
        .and_then(|kv| match &kv.value {
            AttrValue::Str(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn nonzero<const N: usize>(id: Option<[u8; N]>) -> Option<[u8; N]> {
    id.filter(|id| *id != [0; N])
}

// ---------------------------------------------------------------- protobuf

pub(crate) fn decode_protobuf(body: &[u8]) -> Result<Vec<LogRecord>> {
    let request = ExportLogsServiceRequest::decode(body).map_err(decode_error)?;
    let mut out = Vec::new();
    let root = Path::ROOT;
    let rl_path = root.key("resource_logs");
    for (ri, rl) in request.resource_logs.into_iter().enumerate() {
        let rl_i = rl_path.index(ri);
        let resource = match rl.resource {
            Some(r) => convert_kvs(r.attributes, &rl_i.key("resource").key("attributes"), 0)?,
            None => Vec::new(),
        };
        let resource = Arc::new(resource);
        let sl_path = rl_i.key("scope_logs");
        for (si, sl) in rl.scope_logs.into_iter().enumerate() {
            let sl_i = sl_path.index(si);
            let (scope_name, scope_version) = match sl.scope {
                Some(scope) => (scope.name, scope.version),
                None => (String::new(), String::new()),
            };
            let records_path = sl_i.key("log_records");
            for (i, r) in sl.log_records.into_iter().enumerate() {
                let path = records_path.index(i);
                let trace_id = optional_fixed::<16>(&r.trace_id, &path.key("trace_id"))?;
                let span_id = optional_fixed::<8>(&r.span_id, &path.key("span_id"))?;
                let body = match r.body {
                    Some(b) => convert_any(b, &path.key("body"), 0)?.to_json(),
                    None => Value::Null,
                };
                let attributes = convert_kvs(r.attributes, &path.key("attributes"), 0)?;
                out.push(LogRecord {
                    time_unix_nano: r.time_unix_nano,
                    observed_time_unix_nano: r.observed_time_unix_nano,
                    trace_id,
                    span_id,
                    severity_number: r.severity_number,
                    severity_text: r.severity_text,
                    body,
                    event_name: event_name_of(r.event_name, &attributes),
                    attributes,
                    flags: r.flags,
                    resource: Arc::clone(&resource),
                    scope_name: scope_name.clone(),
                    scope_version: scope_version.clone(),
                });
            }
        }
    }
    Ok(out)
}

/// An id that may be absent (empty); present, it must have N bytes.
fn optional_fixed<const N: usize>(bytes: &[u8], path: &Path<'_>) -> Result<Option<[u8; N]>> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let id = <[u8; N]>::try_from(bytes).map_err(|_| {
        field_error(
            path,
            format!("expected {N} bytes, got {} bytes", bytes.len()),
        )
    })?;
    Ok(nonzero(Some(id)))
}

// -------------------------------------------------------------------- JSON

pub(crate) fn decode_json(body: &[u8]) -> Result<Vec<LogRecord>> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let root: Value = serde_json::from_slice(body).map_err(|e| OtlpError::Json(e.to_string()))?;
    let path = Path::ROOT;
    let mut root = object(root, &path)?;
    let (resource_logs, key) = take_array(&mut root, "resourceLogs", "resource_logs", &path)?;
    let rl_path = path.key(key);
    let mut out = Vec::new();
    for (ri, rl) in resource_logs.into_iter().enumerate() {
        let rl_i = rl_path.index(ri);
        let mut rl = object(rl, &rl_i)?;
        let resource = match take(&mut rl, "resource", "resource") {
            None => Vec::new(),
            Some(r) => {
                let res_path = rl_i.key("resource");
                let mut r = object(r, &res_path)?;
                let (attrs, key) = take_array(&mut r, "attributes", "attributes", &res_path)?;
                key_values(attrs, &res_path.key(key), 0)?
            }
        };
        let resource = Arc::new(resource);
        let (scope_logs, key) = take_array(&mut rl, "scopeLogs", "scope_logs", &rl_i)?;
        let sl_path = rl_i.key(key);
        for (si, sl) in scope_logs.into_iter().enumerate() {
            let sl_i = sl_path.index(si);
            let mut sl = object(sl, &sl_i)?;
            let (scope_name, scope_version) = match take(&mut sl, "scope", "scope") {
                None => (String::new(), String::new()),
                Some(scope) => {
                    let scope_path = sl_i.key("scope");
                    let mut scope = object(scope, &scope_path)?;
                    (
                        take_string(&mut scope, "name", "name", &scope_path)?,
                        take_string(&mut scope, "version", "version", &scope_path)?,
                    )
                }
            };
            let (records, key) = take_array(&mut sl, "logRecords", "log_records", &sl_i)?;
            let records_path = sl_i.key(key);
            for (i, record) in records.into_iter().enumerate() {
                let path = records_path.index(i);
                out.push(record_from_json(
                    record,
                    &path,
                    &resource,
                    &scope_name,
                    &scope_version,
                )?);
            }
        }
    }
    Ok(out)
}

fn record_from_json(
    record: Value,
    path: &Path<'_>,
    resource: &Arc<Vec<KeyValue>>,
    scope_name: &str,
    scope_version: &str,
) -> Result<LogRecord> {
    let mut o = object(record, path)?;
    let time = |o: &mut crate::json::Object, camel, snake| -> Result<u64> {
        match take(o, camel, snake) {
            None => Ok(0),
            Some(v) => uint64(v, &path.key(camel)),
        }
    };
    let time_unix_nano = time(&mut o, "timeUnixNano", "time_unix_nano")?;
    let observed_time_unix_nano = time(&mut o, "observedTimeUnixNano", "observed_time_unix_nano")?;
    let severity_number = match take(&mut o, "severityNumber", "severity_number") {
        None => 0,
        Some(v) => severity(v, &path.key("severityNumber"))?,
    };
    let severity_text = take_string(&mut o, "severityText", "severity_text", path)?;
    let body = match take(&mut o, "body", "body") {
        None => Value::Null,
        Some(v) => any_value(v, &path.key("body"), 0)?.to_json(),
    };
    let (attrs, key) = take_array(&mut o, "attributes", "attributes", path)?;
    let attributes = key_values(attrs, &path.key(key), 0)?;
    let flags = match take(&mut o, "flags", "flags") {
        None => 0,
        Some(v) => {
            let n = uint64(v, &path.key("flags"))?;
            u32::try_from(n).map_err(|_| error(&path.key("flags"), "expected a 32-bit integer"))?
        }
    };
    let trace_id = nonzero(optional_id::<16>(
        take(&mut o, "traceId", "trace_id"),
        &path.key("traceId"),
    )?);
    let span_id = nonzero(optional_id::<8>(
        take(&mut o, "spanId", "span_id"),
        &path.key("spanId"),
    )?);
    let event_name = take_string(&mut o, "eventName", "event_name", path)?;
    Ok(LogRecord {
        time_unix_nano,
        observed_time_unix_nano,
        trace_id,
        span_id,
        severity_number,
        severity_text,
        body,
        event_name: event_name_of(event_name, &attributes),
        attributes,
        flags,
        resource: Arc::clone(resource),
        scope_name: scope_name.to_owned(),
        scope_version: scope_version.to_owned(),
    })
}

/// `SeverityNumber` from a number or an enum name (`SEVERITY_NUMBER_WARN2`,
/// `INFO`).
fn severity(v: Value, path: &Path<'_>) -> Result<i32> {
    if let Some(i) = int64(&v) {
        return i32::try_from(i).map_err(|_| error(path, format!("severity {i} out of range")));
    }
    let Value::String(s) = &v else {
        return Err(error(
            path,
            format!("expected a severity number, got {}", type_name(&v)),
        ));
    };
    let name = enum_name(s, "SEVERITY_NUMBER_").to_ascii_uppercase();
    if name == "UNSPECIFIED" {
        return Ok(0);
    }
    const BASES: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    let digits = name.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let base = &name[..name.len() - digits.len()];
    let step = match digits {
        "" => Some(0),
        "2" => Some(1),
        "3" => Some(2),
        "4" => Some(3),
        _ => None,
    };
    match (BASES.iter().position(|b| *b == base), step) {
        (Some(b), Some(step)) => Ok(b as i32 * 4 + 1 + step),
        _ => Err(error(path, format!("unknown severity {:?}", truncate(s)))),
    }
}
