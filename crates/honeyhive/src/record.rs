//! The compact form of one enrichment call, as the macros build it.
//!
//! The caller only collects owned keys and values (`&'static str` keys and
//! attribute names straight from the macro tokens, scalars unboxed, strings
//! moved or borrowed when they are literals). Span attributes are made from
//! it directly; session patches are made from it on the worker thread.

use std::borrow::Cow;
use std::fmt;

use opentelemetry::trace::{SpanRef, Status};
use opentelemetry::{Key as OtelKey, KeyValue, StringValue, Value as OtelValue};
use serde::Serialize;
use serde::ser::{self, Impossible};
use serde_json::{Map, Value};

use crate::HoneyHiveTracer;
use crate::attributes::{flatten_owned, keys};
use crate::enrichment::{Enrichment, Namespace, json_type, string_target};
use crate::stats::Limits;

/// One leaf value of an enrichment.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub enum Val {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A float (non-finite ones become `null`, as in JSON).
    F64(f64),
    /// A string; literals are borrowed.
    Str(Cow<'static, str>),
    /// Anything structured.
    Json(Box<Value>),
}

impl Val {
    /// Captures a value: scalars directly, structured values as JSON. A value
    /// that does not serialize is logged and gives `None`.
    pub fn of<T: Serialize + ?Sized>(key: &str, value: &T) -> Option<Val> {
        match value.serialize(ValSerializer) {
            Ok(v) => Some(v),
            Err(_) => match serde_json::to_value(value) {
                Ok(v) => Some(Val::Json(Box::new(v))),
                Err(err) => {
                    tracing::warn!(key, error = %err, "honeyhive: enrichment value does not serialize; ignored");
                    None
                }
            },
        }
    }

    /// Captures a value silently (`#[trace]` arguments and results): `None`
    /// when it does not serialize.
    pub fn capture<T: Serialize + ?Sized>(value: &T) -> Option<Val> {
        match value.serialize(ValSerializer) {
            Ok(v) => Some(v),
            Err(_) => serde_json::to_value(value)
                .ok()
                .map(|v| Val::Json(Box::new(v))),
        }
    }

    /// A literal from the macro tokens.
    pub fn lit<T: Literal>(value: T) -> Val {
        value.into_val()
    }

    /// A JSON value built by the macro (`[...]`, `{...}`).
    pub fn json(value: Value) -> Val {
        Val::Json(Box::new(value))
    }

    pub(crate) fn into_json(self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(b),
            Val::I64(i) => Value::from(i),
            Val::U64(u) => Value::from(u),
            Val::F64(f) => Value::from(f),
            Val::Str(s) => Value::String(s.into_owned()),
            Val::Json(v) => *v,
        }
    }

    fn is_null(&self) -> bool {
        match self {
            Val::Null => true,
            Val::F64(f) => !f.is_finite(),
            Val::Json(v) => v.is_null(),
            _ => false,
        }
    }

    fn as_object(&self) -> Option<&Map<String, Value>> {
        match self {
            Val::Json(v) => v.as_object(),
            _ => None,
        }
    }

    /// The attribute value of a scalar, `None` for `null` and structured values.
    fn scalar_attribute(&self) -> Option<OtelValue> {
        Some(match self {
            Val::Bool(b) => OtelValue::Bool(*b),
            Val::I64(i) => OtelValue::I64(*i),
            Val::U64(u) => match i64::try_from(*u) {
                Ok(i) => OtelValue::I64(i),
                Err(_) => OtelValue::F64(*u as f64),
            },
            Val::F64(f) if f.is_finite() => OtelValue::F64(*f),
            _ => return None,
        })
    }
}

/// Literals the macros pass through unchanged (string literals stay borrowed).
#[doc(hidden)]
pub trait Literal {
    /// The value.
    fn into_val(self) -> Val;
}

impl Literal for &'static str {
    fn into_val(self) -> Val {
        Val::Str(Cow::Borrowed(self))
    }
}

impl Literal for bool {
    fn into_val(self) -> Val {
        Val::Bool(self)
    }
}

impl Literal for char {
    fn into_val(self) -> Val {
        Val::Str(Cow::Owned(self.to_string()))
    }
}

macro_rules! literal_int {
    ($($t:ty => $v:ident),*) => {$(
        impl Literal for $t {
            fn into_val(self) -> Val {
                Val::$v(self as _)
            }
        }
    )*};
}
literal_int!(i8 => I64, i16 => I64, i32 => I64, i64 => I64, isize => I64,
             u8 => U64, u16 => U64, u32 => U64, u64 => U64, usize => U64);

impl Literal for f64 {
    fn into_val(self) -> Val {
        Val::F64(self)
    }
}

impl Literal for f32 {
    fn into_val(self) -> Val {
        Val::Json(Box::new(Value::from(self)))
    }
}

impl<T: Serialize + ?Sized> Literal for &'static T
where
    T: NotStr,
{
    fn into_val(self) -> Val {
        Val::of("literal", self).unwrap_or(Val::Null)
    }
}

/// Byte-string literals (`b"..."`), serialized as JSON does.
#[doc(hidden)]
pub trait NotStr {}
impl<const N: usize> NotStr for [u8; N] {}
impl NotStr for std::ffi::CStr {}

/// A key and, when the macro knew it, the full attribute name.
#[derive(Debug)]
pub(crate) enum Key {
    Static {
        key: &'static str,
        attribute: &'static str,
    },
    Owned(String),
}

impl Key {
    fn as_str(&self) -> &str {
        match self {
            Key::Static { key, .. } => key,
            Key::Owned(key) => key,
        }
    }
}

#[derive(Debug)]
pub(crate) enum Item {
    /// `namespace.key = value` (a `null` is kept: it deletes the key).
    Field {
        namespace: Namespace,
        key: Key,
        value: Val,
    },
    /// An object merged into a namespace, key by key.
    Merge {
        namespace: Namespace,
        map: Box<Map<String, Value>>,
    },
}

impl Item {
    fn namespace(&self) -> Namespace {
        match self {
            Item::Field { namespace, .. } | Item::Merge { namespace, .. } => *namespace,
        }
    }

    /// Whether this item sets `key` of `namespace`.
    fn sets(&self, namespace: Namespace, key: &str) -> bool {
        if self.namespace() != namespace {
            return false;
        }
        match self {
            Item::Field { key: k, .. } => k.as_str() == key,
            Item::Merge { map, .. } => map.contains_key(key),
        }
    }
}

/// The data of one enrichment, as sent to the worker.
#[derive(Debug, Default)]
pub(crate) struct Body {
    pub(crate) items: Vec<Item>,
    pub(crate) error: Option<String>,
}

impl Body {
    /// Whether a later item (or, for a session, the error) replaces
    /// `namespace.key` of item `i`: within one call the last value of a key wins.
    fn superseded(
        &self,
        i: usize,
        namespace: Namespace,
        key: &str,
        error_in_metadata: bool,
    ) -> bool {
        (error_in_metadata
            && self.error.is_some()
            && namespace == Namespace::Metadata
            && key == "error")
            || self.items[i + 1..]
                .iter()
                .any(|item| item.sets(namespace, key))
    }

    /// The `PUT /events` patch (without `event_id`), as one JSON object: each
    /// namespace an object, the error in `metadata.error` (sessions) or
    /// top-level (event updates).
    #[cfg(test)]
    pub(crate) fn into_patch(self, error_top_level: bool) -> Map<String, Value> {
        let mut patch = Map::new();
        let composed = self.compose_into(&mut patch, error_top_level);
        debug_assert!(composed.is_ok());
        patch
    }

    /// Composes this call's patch onto `acc` so that applying `acc` (RFC 7396)
    /// equals applying the old `acc`, then this call. Gives the body back,
    /// untouched, when that cannot be expressed as one patch (an object merged
    /// into a key that `acc` sets to a non-object).
    pub(crate) fn compose_into(
        self,
        acc: &mut Map<String, Value>,
        error_top_level: bool,
    ) -> Result<(), Body> {
        let error_in_metadata = !error_top_level && self.error.is_some();
        if !self.composable(acc, error_in_metadata) {
            return Err(self);
        }
        let Body { items, error } = self;
        let mut iter = items.into_iter();
        while let Some(item) = iter.next() {
            let tail = iter.as_slice();
            let namespace = item.namespace();
            let later = |key: &str| {
                (error_in_metadata && namespace == Namespace::Metadata && key == "error")
                    || tail.iter().any(|it| it.sets(namespace, key))
            };
            match item {
                Item::Field { key, value, .. } => {
                    if !later(key.as_str()) {
                        compose_value(
                            namespace_map(acc, namespace),
                            key.as_str(),
                            value.into_json(),
                        );
                    }
                }
                Item::Merge { map, .. } => {
                    for (k, v) in *map {
                        if !later(&k) {
                            compose_value(namespace_map(acc, namespace), &k, v);
                        }
                    }
                }
            }
        }
        if let Some(error) = error {
            if error_top_level {
                acc.insert("error".to_owned(), Value::String(error));
            } else {
                compose_value(
                    namespace_map(acc, Namespace::Metadata),
                    "error",
                    Value::String(error),
                );
            }
        }
        Ok(())
    }

    /// Whether [`Body::compose_into`] can compose this call onto `acc`.
    fn composable(&self, acc: &Map<String, Value>, error_in_metadata: bool) -> bool {
        for (i, item) in self.items.iter().enumerate() {
            let namespace = item.namespace();
            let target = match acc.get(namespace.as_str()) {
                None => continue,
                Some(Value::Object(target)) => target,
                Some(_) => return false,
            };
            let ok = match item {
                Item::Field { key, value, .. } => match value.as_object() {
                    Some(obj) => {
                        self.superseded(i, namespace, key.as_str(), error_in_metadata)
                            || composable_at(target, key.as_str(), obj)
                    }
                    None => true,
                },
                Item::Merge { map, .. } => map.iter().all(|(k, v)| match v {
                    Value::Object(obj) => {
                        self.superseded(i, namespace, k, error_in_metadata)
                            || composable_at(target, k, obj)
                    }
                    _ => true,
                }),
            };
            if !ok {
                return false;
            }
        }
        true
    }

    /// Sets the attributes of this call on `span` (one lock), and the error
    /// as `honeyhive_error` and the span status.
    pub(crate) fn set_on_span(self, span: &SpanRef<'_>, limits: &Limits) {
        let Body { items, error } = self;
        let mut attributes = Vec::with_capacity(items.len() + usize::from(error.is_some()));
        let mut iter = items.into_iter();
        while let Some(item) = iter.next() {
            let tail = iter.as_slice();
            let namespace = item.namespace();
            let later = |key: &str| tail.iter().any(|it| it.sets(namespace, key));
            match item {
                Item::Field { ref key, .. } if later(key.as_str()) => {}
                Item::Field {
                    namespace,
                    key,
                    value,
                } => push_field(namespace, key, value, limits, &mut attributes),
                Item::Merge { namespace, map } => {
                    let mut prefix = String::with_capacity(64);
                    for (k, v) in *map {
                        if later(&k) {
                            continue;
                        }
                        prefix.clear();
                        prefix.push_str(namespace.attribute_prefix());
                        prefix.push('.');
                        prefix.push_str(&k);
                        flatten_owned(&mut prefix, v, limits, &mut attributes);
                    }
                }
            }
        }
        if let Some(error) = error {
            attributes.push(KeyValue::new(keys::ERROR, error.clone()));
            span.set_status(Status::error(error));
        }
        if !attributes.is_empty() {
            span.set_attributes(attributes);
        }
    }
}

/// The attribute of a scalar or string value (`None` for `null` and
/// structured values). Strings above the field size guidance are warned about.
pub(crate) fn scalar_attribute(name: OtelKey, value: Val, limits: &Limits) -> Option<KeyValue> {
    if let Some(v) = value.scalar_attribute() {
        return Some(KeyValue::new(name, v));
    }
    match value {
        Val::Str(s) => {
            limits.check_field(name.as_str(), s.len());
            let s = match s {
                Cow::Borrowed(s) => StringValue::from(s),
                Cow::Owned(s) => StringValue::from(s),
            };
            Some(KeyValue::new(name, s))
        }
        _ => None,
    }
}

/// Appends the attribute(s) of one field.
fn push_field(
    namespace: Namespace,
    key: Key,
    value: Val,
    limits: &Limits,
    out: &mut Vec<KeyValue>,
) {
    match value {
        Val::Json(v) => {
            let mut prefix = attribute_name(namespace, &key);
            flatten_owned(&mut prefix, *v, limits, out);
        }
        Val::Null => {}
        value => {
            if let Some(kv) = scalar_attribute(attribute_key(namespace, key), value, limits) {
                out.push(kv);
            }
        }
    }
}

fn attribute_key(namespace: Namespace, key: Key) -> OtelKey {
    match key {
        Key::Static { attribute, .. } => OtelKey::from_static_str(attribute),
        Key::Owned(_) => OtelKey::new(attribute_name(namespace, &key)),
    }
}

fn attribute_name(namespace: Namespace, key: &Key) -> String {
    match key {
        Key::Static { attribute, .. } => (*attribute).to_owned(),
        Key::Owned(key) => {
            let prefix = namespace.attribute_prefix();
            let mut name = String::with_capacity(prefix.len() + 1 + key.len());
            name.push_str(prefix);
            name.push('.');
            name.push_str(key);
            name
        }
    }
}

fn namespace_map(acc: &mut Map<String, Value>, namespace: Namespace) -> &mut Map<String, Value> {
    let name = namespace.as_str();
    if !matches!(acc.get(name), Some(Value::Object(_))) {
        acc.insert(name.to_owned(), Value::Object(Map::new()));
    }
    match acc.get_mut(name) {
        Some(Value::Object(map)) => map,
        _ => unreachable!("just inserted"),
    }
}

fn composable_at(target: &Map<String, Value>, key: &str, next: &Map<String, Value>) -> bool {
    match target.get(key) {
        Some(Value::Object(a)) => crate::enrichment::composable(a, next),
        Some(_) => false,
        None => true,
    }
}

/// `acc[key]` after applying `value` (RFC 7396 composition, checked before).
fn compose_value(acc: &mut Map<String, Value>, key: &str, value: Value) {
    match (acc.get_mut(key), value) {
        (Some(Value::Object(a)), Value::Object(n)) => {
            for (k, v) in n {
                compose_value(a, &k, v);
            }
        }
        (Some(slot), value) => *slot = value,
        (None, value) => {
            acc.insert(key.to_owned(), value);
        }
    }
}

/// One `enrich_session!` / `enrich_span!` call, built by the macros.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct Record {
    pub(crate) body: Body,
    pub(crate) session_id: Option<String>,
    pub(crate) event_id: Option<String>,
    pub(crate) tracer: Option<HoneyHiveTracer>,
}

impl Record {
    /// An empty call.
    #[inline]
    pub fn new() -> Record {
        Record::default()
    }

    #[inline]
    fn push(&mut self, item: Item) {
        if self.body.items.capacity() == 0 {
            self.body.items.reserve_exact(8);
        }
        self.body.items.push(item);
    }

    /// `namespace.key = value`, the key and the attribute name known statically.
    #[inline]
    pub fn field(
        &mut self,
        namespace: Namespace,
        key: &'static str,
        attribute: &'static str,
        value: Option<Val>,
    ) {
        if let Some(value) = value {
            self.push(Item::Field {
                namespace,
                key: Key::Static { key, attribute },
                value,
            });
        }
    }

    /// `namespace.key = value` with a computed key.
    pub fn field_owned(
        &mut self,
        namespace: Namespace,
        key: impl Into<String>,
        value: Option<Val>,
    ) {
        if let Some(value) = value {
            self.push(Item::Field {
                namespace,
                key: Key::Owned(key.into()),
                value,
            });
        }
    }

    /// Merges an object into a namespace (anything else is logged and ignored).
    pub fn merge(&mut self, namespace: Namespace, value: Value) {
        match value {
            Value::Object(map) => {
                if !map.is_empty() {
                    self.push(Item::Merge {
                        namespace,
                        map: Box::new(map),
                    });
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

    /// The positional map form: merged into metadata.
    pub fn plain<T: Serialize + ?Sized>(&mut self, value: &T) {
        if let Some(value) = crate::__private::to_value("attributes", value) {
            self.merge(Namespace::Metadata, value);
        }
    }

    /// A keyword argument: a namespace name merges an object, `error` sets the
    /// error, `session_id` / `event_id` choose the target, anything else lands
    /// in `metadata.<key>` (a `None` is dropped).
    #[inline]
    pub fn keyword<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        attribute: &'static str,
        value: &T,
    ) {
        if let Some(namespace) = Namespace::from_keyword(key) {
            if let Some(value) = crate::__private::to_value(key, value) {
                self.merge(namespace, value);
            }
            return;
        }
        if let Some(value) = Val::of(key, value) {
            self.keyword_val(key, attribute, value);
        }
    }

    /// A keyword argument with an already captured value (see [`Record::keyword`]).
    pub fn keyword_val(&mut self, key: &'static str, attribute: &'static str, value: Val) {
        if let Some(namespace) = Namespace::from_keyword(key) {
            self.merge(namespace, value.into_json());
            return;
        }
        match key {
            "error" => match value {
                Val::Null => {}
                Val::Str(s) => self.body.error = Some(s.into_owned()),
                other => self.body.error = Some(other.into_json().to_string()),
            },
            "session_id" => self.session_id = string_target(value.into_json(), key),
            "event_id" | "update_event_id" => {
                self.event_id = string_target(value.into_json(), key);
            }
            _ => {
                if !value.is_null() {
                    self.field(Namespace::Metadata, key, attribute, Some(value));
                }
            }
        }
    }

    /// The legacy positional session id.
    pub fn set_session_id(&mut self, session_id: impl Into<String>) {
        self.session_id = Some(session_id.into());
    }

    /// `tracer = ...` / `tracer_instance = ...`.
    pub fn set_tracer(&mut self, tracer: &HoneyHiveTracer) {
        self.tracer = Some(tracer.clone());
    }
}

impl From<Enrichment> for Record {
    fn from(enrichment: Enrichment) -> Record {
        let mut enrichment = enrichment;
        let tracer = enrichment.take_tracer();
        let session_id = enrichment.take_session_id();
        let event_id = enrichment.take_event_id();
        let (namespaces, error) = enrichment.into_parts();
        let mut items = Vec::new();
        for (namespace, map) in Namespace::ALL.into_iter().zip(namespaces) {
            if !map.is_empty() {
                items.push(Item::Merge {
                    namespace,
                    map: Box::new(map),
                });
            }
        }
        Record {
            body: Body { items, error },
            session_id,
            event_id,
            tracer,
        }
    }
}

// ----- capture of scalars without going through `serde_json::Value` -----

/// Not a scalar (or failed): the caller falls back to `serde_json::to_value`.
#[derive(Debug)]
struct Fallback;

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a scalar")
    }
}

impl std::error::Error for Fallback {}

impl ser::Error for Fallback {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Fallback
    }
}

struct ValSerializer;

impl ser::Serializer for ValSerializer {
    type Ok = Val;
    type Error = Fallback;
    type SerializeSeq = Impossible<Val, Fallback>;
    type SerializeTuple = Impossible<Val, Fallback>;
    type SerializeTupleStruct = Impossible<Val, Fallback>;
    type SerializeTupleVariant = Impossible<Val, Fallback>;
    type SerializeMap = Impossible<Val, Fallback>;
    type SerializeStruct = Impossible<Val, Fallback>;
    type SerializeStructVariant = Impossible<Val, Fallback>;

    fn serialize_bool(self, v: bool) -> Result<Val, Fallback> {
        Ok(Val::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Val, Fallback> {
        Ok(Val::I64(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Val, Fallback> {
        Ok(Val::I64(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Val, Fallback> {
        Ok(Val::I64(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Val, Fallback> {
        Ok(Val::I64(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Val, Fallback> {
        Ok(Val::U64(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Val, Fallback> {
        Ok(Val::U64(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Val, Fallback> {
        Ok(Val::U64(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Val, Fallback> {
        Ok(Val::U64(v))
    }
    fn serialize_f32(self, _: f32) -> Result<Val, Fallback> {
        Err(Fallback)
    }
    fn serialize_f64(self, v: f64) -> Result<Val, Fallback> {
        Ok(if v.is_finite() {
            Val::F64(v)
        } else {
            Val::Null
        })
    }
    fn serialize_char(self, v: char) -> Result<Val, Fallback> {
        Ok(Val::Str(Cow::Owned(v.to_string())))
    }
    fn serialize_str(self, v: &str) -> Result<Val, Fallback> {
        Ok(Val::Str(Cow::Owned(v.to_owned())))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Val, Fallback> {
        Err(Fallback)
    }
    fn serialize_none(self) -> Result<Val, Fallback> {
        Ok(Val::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Val, Fallback> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Val, Fallback> {
        Ok(Val::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Val, Fallback> {
        Ok(Val::Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Val, Fallback> {
        Ok(Val::Str(Cow::Borrowed(variant)))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Val, Fallback> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Val, Fallback> {
        Err(Fallback)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Fallback> {
        Err(Fallback)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Fallback> {
        Err(Fallback)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Fallback> {
        Err(Fallback)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Fallback> {
        Err(Fallback)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Fallback> {
        Err(Fallback)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, Fallback> {
        Err(Fallback)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Fallback> {
        Err(Fallback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrichment::compose_patch;
    use serde_json::json;

    fn enrichments() -> Vec<Enrichment> {
        vec![
            Enrichment::new(),
            Enrichment::from(json!({"a": 1, "b": {"x": [1, 2]}})),
            Enrichment::new()
                .metadata(json!({"a": {"y": 2}, "error": {"o": 1}}))
                .metrics(json!({"m": 0.5}))
                .error("boom"),
            Enrichment::new().metadata(json!({"a": null, "c": "s"})),
            Enrichment::new().metadata(json!({"a": {"z": {"deep": true}}})),
            Enrichment::new()
                .metadata(json!({"a": 3}))
                .feedback(json!({"r": 5})),
            Enrichment::new().field("feature", "chat").field("error", 7),
        ]
    }

    #[test]
    fn patches_equal_the_enrichment_patches() {
        for e in enrichments() {
            for top in [false, true] {
                let expect = e.clone().into_patch(top);
                let got = Record::from(e.clone()).body.into_patch(top);
                assert_eq!(Value::Object(got), Value::Object(expect), "{e:?} top={top}");
            }
        }
    }

    #[test]
    fn composition_equals_the_reference() {
        for first in enrichments() {
            for second in enrichments() {
                for top in [false, true] {
                    let mut reference = first.clone().into_patch(top);
                    let ok = compose_patch(&mut reference, &second.clone().into_patch(top));
                    let mut acc = first.clone().into_patch(top);
                    let got = Record::from(second.clone())
                        .body
                        .compose_into(&mut acc, top);
                    assert_eq!(got.is_ok(), ok, "{first:?} then {second:?}");
                    if ok {
                        assert_eq!(Value::Object(acc), Value::Object(reference));
                    } else {
                        assert_eq!(acc, first.clone().into_patch(top), "left untouched");
                    }
                }
            }
        }
    }

    fn macro_patch(r: Record) -> Value {
        Value::Object(r.body.into_patch(false))
    }

    #[test]
    fn macro_forms_build_the_documented_patch() {
        let user_id = String::from("u1");
        let key = "computed";
        let mut r = Record::new();
        crate::__enrichment_args!(r;
            {"user_id": user_id, "len": user_id.len(), "neg": -1, "n": null,
             "nested": {"x": [1, "two"]}, "list": [1, 2], "big": 10_000_000_000u64},
            metrics = {"score": 0.95, "sum": 1 + 2, "f": 1.5f32},
            metadata = {key: 1, "after": true},
            priority = "high",
            dropped = None::<u8>,
            tags = ["a", "b"],
            obj = {"k": "v"},
            error = "boom"
        );
        assert_eq!(
            macro_patch(r),
            json!({
                "metadata": {
                    "user_id": "u1", "len": 2, "neg": -1, "n": null,
                    "nested": {"x": [1, "two"]}, "list": [1, 2], "big": 10_000_000_000u64,
                    "computed": 1, "after": true, "priority": "high",
                    "tags": ["a", "b"], "obj": {"k": "v"}, "error": "boom"
                },
                "metrics": {"score": 0.95, "sum": 3, "f": 1.5}
            })
        );

        // Within one call the last value of a key wins (no deep merge).
        let mut r = Record::new();
        crate::__enrichment_args!(r; {"a": {"x": 1}, "b": 1}, metadata = {"a": {"y": 2}}, b = None::<u8>);
        assert_eq!(macro_patch(r), json!({"metadata": {"a": {"y": 2}, "b": 1}}));

        // Targets and errors of other types.
        let mut r = Record::new();
        crate::__enrichment_args!(r; "sess_legacy", metadata = {"k": 1}, error = {"code": 7});
        assert_eq!(r.session_id.as_deref(), Some("sess_legacy"));
        assert_eq!(r.body.error.as_deref(), Some(r#"{"code":7}"#));
        let mut r = Record::new();
        crate::__enrichment_args!(r; event_id = 42, session_id = "s");
        assert_eq!(r.event_id.as_deref(), Some("42"));
        assert_eq!(r.session_id.as_deref(), Some("s"));

        // A map expression, positional.
        let mut map = std::collections::BTreeMap::new();
        map.insert("from_map", 1);
        let mut r = Record::new();
        crate::__enrichment_args!(r; map, inputs = {"q": "x"});
        assert_eq!(
            macro_patch(r),
            json!({"metadata": {"from_map": 1}, "inputs": {"q": "x"}})
        );
    }

    #[test]
    fn large_object_literals_expand() {
        let v = 1;
        let mut r = Record::new();
        crate::__enrichment_args!(r; metadata = {
            "k01": v + 1, "k02": v + 1, "k03": v + 1, "k04": v + 1, "k05": v + 1,
            "k06": v + 1, "k07": v + 1, "k08": v + 1, "k09": v + 1, "k10": v + 1,
            "k11": v + 1, "k12": v + 1, "k13": v + 1, "k14": v + 1, "k15": v + 1,
            "k16": v + 1, "k17": v + 1, "k18": v + 1, "k19": v + 1, "k20": v + 1,
            "k21": v + 1, "k22": v + 1, "k23": v + 1, "k24": v + 1, "k25": v + 1
        });
        assert_eq!(r.body.items.len(), 25);
    }

    #[test]
    fn scalars_are_captured_without_json() {
        assert!(matches!(Val::capture(&3u8), Some(Val::U64(3))));
        assert!(matches!(Val::capture(&-3i64), Some(Val::I64(-3))));
        assert!(matches!(Val::capture(&Some("x")), Some(Val::Str(_))));
        assert!(matches!(Val::capture(&None::<u8>), Some(Val::Null)));
        assert!(matches!(Val::capture(&f64::NAN), Some(Val::Null)));
        assert!(matches!(Val::capture(&vec![1]), Some(Val::Json(_))));
        assert_eq!(Val::capture(&1.5f32).map(Val::into_json), Some(json!(1.5)));
        assert_eq!(Val::capture(&'c').map(Val::into_json), Some(json!("c")));
    }
}
