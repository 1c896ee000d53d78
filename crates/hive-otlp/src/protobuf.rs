//! Protobuf `ExportTraceServiceRequest` <-> [`Span`].

use std::collections::HashMap;
use std::sync::Arc;

use hive_core::span::{AttrValue, KeyValue, Span, SpanEvent, SpanKind, StatusCode};
use prost::Message;

use crate::path::Path;
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::common::v1 as pc;
use crate::proto::resource::v1::Resource;
use crate::proto::trace::v1 as pt;
use crate::{MAX_ANY_VALUE_DEPTH, OtlpError};

/// prost's own nesting guard (its default recursion limit).
const PROST_RECURSION_LIMIT: usize = 100;

pub(crate) fn decode(body: &[u8]) -> Result<Vec<Span>, OtlpError> {
    let request = ExportTraceServiceRequest::decode(body).map_err(decode_error)?;
    convert_request(request)
}

/// A prost decoding error as an [`OtlpError`].
pub(crate) fn decode_error(e: prost::DecodeError) -> OtlpError {
    let text = e.to_string();
    if text.contains("recursion limit") {
        OtlpError::NestingTooDeep {
            path: "(protobuf message)".into(),
            limit: PROST_RECURSION_LIMIT,
        }
    } else {
        OtlpError::Protobuf(text)
    }
}

pub(crate) fn field_error(path: &Path<'_>, message: impl Into<String>) -> OtlpError {
    OtlpError::ProtobufField {
        path: path.render(),
        message: message.into(),
    }
}

fn convert_request(request: ExportTraceServiceRequest) -> Result<Vec<Span>, OtlpError> {
    let total = request
        .resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .map(|ss| ss.spans.len())
        .sum();
    let mut out = Vec::with_capacity(total);
    let root = Path::ROOT;
    let rs_path = root.key("resource_spans");
    for (ri, rs) in request.resource_spans.into_iter().enumerate() {
        let rs_i = rs_path.index(ri);
        let resource = match rs.resource {
            Some(r) => {
                let res_path = rs_i.key("resource");
                convert_kvs(r.attributes, &res_path.key("attributes"), 0)?
            }
            None => Vec::new(),
        };
        let resource = Arc::new(resource);
        let ss_path = rs_i.key("scope_spans");
        for (si, ss) in rs.scope_spans.into_iter().enumerate() {
            let ss_i = ss_path.index(si);
            let (scope_name, scope_version) = match ss.scope {
                Some(scope) => (scope.name, scope.version),
                None => (String::new(), String::new()),
            };
            let spans_path = ss_i.key("spans");
            for (i, span) in ss.spans.into_iter().enumerate() {
                let span_path = spans_path.index(i);
                out.push(convert_span(
                    span,
                    &span_path,
                    &resource,
                    &scope_name,
                    &scope_version,
                )?);
            }
        }
    }
    Ok(out)
}

pub(crate) fn fixed_id<const N: usize>(
    bytes: &[u8],
    path: &Path<'_>,
) -> Result<[u8; N], OtlpError> {
    <[u8; N]>::try_from(bytes).map_err(|_| {
        let what = if bytes.is_empty() {
            "missing".to_string()
        } else {
            format!("got {} bytes", bytes.len())
        };
        field_error(path, format!("expected {N} bytes, {what}"))
    })
}

fn convert_span(
    span: pt::Span,
    path: &Path<'_>,
    resource: &Arc<Vec<KeyValue>>,
    scope_name: &str,
    scope_version: &str,
) -> Result<Span, OtlpError> {
    let trace_id = fixed_id::<16>(&span.trace_id, &path.key("trace_id"))?;
    let span_id = fixed_id::<8>(&span.span_id, &path.key("span_id"))?;
    let parent_span_id = if span.parent_span_id.is_empty() {
        None
    } else {
        let id = fixed_id::<8>(&span.parent_span_id, &path.key("parent_span_id"))?;
        (id != [0; 8]).then_some(id)
    };
    let attributes = convert_kvs(span.attributes, &path.key("attributes"), 0)?;
    let mut events = Vec::with_capacity(span.events.len());
    let events_path = path.key("events");
    for (i, event) in span.events.into_iter().enumerate() {
        let event_path = events_path.index(i);
        events.push(SpanEvent {
            time_unix_nano: event.time_unix_nano,
            name: event.name,
            attributes: convert_kvs(event.attributes, &event_path.key("attributes"), 0)?,
        });
    }
    let (status_code, status_message) = match span.status {
        Some(status) => (status_code_from_i32(status.code), status.message),
        None => (StatusCode::Unset, String::new()),
    };
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        name: span.name,
        kind: span_kind_from_i32(span.kind),
        start_time_unix_nano: span.start_time_unix_nano,
        end_time_unix_nano: span.end_time_unix_nano,
        attributes,
        events,
        status_code,
        status_message,
        resource: Arc::clone(resource),
        scope_name: scope_name.to_owned(),
        scope_version: scope_version.to_owned(),
    })
}

/// Unknown values (proto3 enums are open) read as `Unspecified`.
pub(crate) fn span_kind_from_i32(kind: i32) -> SpanKind {
    match kind {
        pt::span_kind::INTERNAL => SpanKind::Internal,
        pt::span_kind::SERVER => SpanKind::Server,
        pt::span_kind::CLIENT => SpanKind::Client,
        pt::span_kind::PRODUCER => SpanKind::Producer,
        pt::span_kind::CONSUMER => SpanKind::Consumer,
        _ => SpanKind::Unspecified,
    }
}

fn span_kind_to_i32(kind: SpanKind) -> i32 {
    match kind {
        SpanKind::Unspecified => pt::span_kind::UNSPECIFIED,
        SpanKind::Internal => pt::span_kind::INTERNAL,
        SpanKind::Server => pt::span_kind::SERVER,
        SpanKind::Client => pt::span_kind::CLIENT,
        SpanKind::Producer => pt::span_kind::PRODUCER,
        SpanKind::Consumer => pt::span_kind::CONSUMER,
    }
}

/// Unknown values read as `Unset`.
pub(crate) fn status_code_from_i32(code: i32) -> StatusCode {
    match code {
        pt::status_code::OK => StatusCode::Ok,
        pt::status_code::ERROR => StatusCode::Error,
        _ => StatusCode::Unset,
    }
}

fn status_code_to_i32(code: StatusCode) -> i32 {
    match code {
        StatusCode::Unset => pt::status_code::UNSET,
        StatusCode::Ok => pt::status_code::OK,
        StatusCode::Error => pt::status_code::ERROR,
    }
}

pub(crate) fn convert_kvs(
    kvs: Vec<pc::KeyValue>,
    path: &Path<'_>,
    depth: usize,
) -> Result<Vec<KeyValue>, OtlpError> {
    let mut out = Vec::with_capacity(kvs.len());
    for (i, kv) in kvs.into_iter().enumerate() {
        let value = match kv.value {
            Some(v) => {
                let kv_path = path.index(i);
                convert_any(v, &kv_path.key("value"), depth)?
            }
            None => AttrValue::Empty,
        };
        out.push(KeyValue { key: kv.key, value });
    }
    Ok(out)
}

pub(crate) fn convert_any(
    value: pc::AnyValue,
    path: &Path<'_>,
    depth: usize,
) -> Result<AttrValue, OtlpError> {
    use pc::any_value::Value as V;
    Ok(match value.value {
        None => AttrValue::Empty,
        Some(V::StringValue(s)) => AttrValue::Str(s),
        Some(V::BoolValue(b)) => AttrValue::Bool(b),
        Some(V::IntValue(i)) => AttrValue::Int(i),
        Some(V::DoubleValue(d)) => AttrValue::Double(d),
        Some(V::BytesValue(b)) => AttrValue::Bytes(b),
        Some(V::ArrayValue(array)) => {
            let path = path.key("array_value");
            let depth = nested(depth, &path)?;
            let values_path = path.key("values");
            let mut items = Vec::with_capacity(array.values.len());
            for (i, v) in array.values.into_iter().enumerate() {
                items.push(convert_any(v, &values_path.index(i), depth)?);
            }
            AttrValue::Array(items)
        }
        Some(V::KvlistValue(list)) => {
            let path = path.key("kvlist_value");
            let depth = nested(depth, &path)?;
            AttrValue::KvList(convert_kvs(list.values, &path.key("values"), depth)?)
        }
    })
}

fn nested(depth: usize, path: &Path<'_>) -> Result<usize, OtlpError> {
    if depth >= MAX_ANY_VALUE_DEPTH {
        Err(OtlpError::NestingTooDeep {
            path: path.render(),
            limit: MAX_ANY_VALUE_DEPTH,
        })
    } else {
        Ok(depth + 1)
    }
}

// ---------------------------------------------------------------- encoding

pub(crate) fn encode(spans: &[Span]) -> Vec<u8> {
    struct Group<'a> {
        resource: &'a Arc<Vec<KeyValue>>,
        scopes: Vec<pt::ScopeSpans>,
        scope_index: HashMap<(&'a str, &'a str), usize>,
    }
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut group_index: HashMap<*const Vec<KeyValue>, usize> = HashMap::new();
    for span in spans {
        let gi = *group_index
            .entry(Arc::as_ptr(&span.resource))
            .or_insert_with(|| {
                groups.push(Group {
                    resource: &span.resource,
                    scopes: Vec::new(),
                    scope_index: HashMap::new(),
                });
                groups.len() - 1
            });
        let group = &mut groups[gi];
        let si = *group
            .scope_index
            .entry((span.scope_name.as_str(), span.scope_version.as_str()))
            .or_insert_with(|| {
                group.scopes.push(pt::ScopeSpans {
                    scope: Some(pc::InstrumentationScope {
                        name: span.scope_name.clone(),
                        version: span.scope_version.clone(),
                        ..Default::default()
                    }),
                    spans: Vec::new(),
                    schema_url: String::new(),
                });
                group.scopes.len() - 1
            });
        group.scopes[si].spans.push(encode_span(span));
    }
    let request = ExportTraceServiceRequest {
        resource_spans: groups
            .into_iter()
            .map(|g| pt::ResourceSpans {
                resource: Some(Resource {
                    attributes: encode_kvs(g.resource),
                    dropped_attributes_count: 0,
                }),
                scope_spans: g.scopes,
                schema_url: String::new(),
            })
            .collect(),
    };
    request.encode_to_vec()
}

fn encode_span(span: &Span) -> pt::Span {
    let status =
        (span.status_code != StatusCode::Unset || !span.status_message.is_empty()).then(|| {
            pt::Status {
                message: span.status_message.clone(),
                code: status_code_to_i32(span.status_code),
            }
        });
    pt::Span {
        trace_id: span.trace_id.to_vec(),
        span_id: span.span_id.to_vec(),
        trace_state: String::new(),
        parent_span_id: span.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
        flags: 0,
        name: span.name.clone(),
        kind: span_kind_to_i32(span.kind),
        start_time_unix_nano: span.start_time_unix_nano,
        end_time_unix_nano: span.end_time_unix_nano,
        attributes: encode_kvs(&span.attributes),
        dropped_attributes_count: 0,
        events: span
            .events
            .iter()
            .map(|e| pt::span::Event {
                time_unix_nano: e.time_unix_nano,
                name: e.name.clone(),
                attributes: encode_kvs(&e.attributes),
                dropped_attributes_count: 0,
            })
            .collect(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status,
    }
}

fn encode_kvs(kvs: &[KeyValue]) -> Vec<pc::KeyValue> {
    kvs.iter()
        .map(|kv| pc::KeyValue {
            key: kv.key.clone(),
            value: Some(encode_any(&kv.value)),
        })
        .collect()
}

fn encode_any(value: &AttrValue) -> pc::AnyValue {
    use pc::any_value::Value as V;
    let value = match value {
        AttrValue::Str(s) => Some(V::StringValue(s.clone())),
        AttrValue::Bool(b) => Some(V::BoolValue(*b)),
        AttrValue::Int(i) => Some(V::IntValue(*i)),
        AttrValue::Double(d) => Some(V::DoubleValue(*d)),
        AttrValue::Bytes(b) => Some(V::BytesValue(b.clone())),
        AttrValue::Array(items) => Some(V::ArrayValue(pc::ArrayValue {
            values: items.iter().map(encode_any).collect(),
        })),
        AttrValue::KvList(kvs) => Some(V::KvlistValue(pc::KeyValueList {
            values: encode_kvs(kvs),
        })),
        AttrValue::Empty => None,
    };
    pc::AnyValue { value }
}
