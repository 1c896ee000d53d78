//! Hand-written prost messages for the subset of the OTLP protocol Hive reads.
//!
//! Field numbers and wire types follow the official `opentelemetry-proto`
//! definitions (`collector/trace/v1/trace_service.proto`,
//! `trace/v1/trace.proto`, `common/v1/common.proto`,
//! `resource/v1/resource.proto`). Enum fields (`Span.kind`, `Status.code`)
//! are declared as `int32`, which is wire-identical to a protobuf enum; the
//! constants below name their values. Fields Hive does not use
//! (`entity_refs`, ...) are left out: prost skips unknown fields.

// The items mirror the protobuf schema one to one; the schema documents them.
#![allow(missing_docs)]

pub mod collector {
    pub mod trace {
        pub mod v1 {
            /// `opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest`
            #[derive(Clone, PartialEq, prost::Message)]
            pub struct ExportTraceServiceRequest {
                #[prost(message, repeated, tag = "1")]
                pub resource_spans: Vec<crate::proto::trace::v1::ResourceSpans>,
            }

            /// `opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse`
            #[derive(Clone, PartialEq, prost::Message)]
            pub struct ExportTraceServiceResponse {
                #[prost(message, optional, tag = "1")]
                pub partial_success: Option<ExportTracePartialSuccess>,
            }

            /// `opentelemetry.proto.collector.trace.v1.ExportTracePartialSuccess`
            #[derive(Clone, PartialEq, prost::Message)]
            pub struct ExportTracePartialSuccess {
                #[prost(int64, tag = "1")]
                pub rejected_spans: i64,
                #[prost(string, tag = "2")]
                pub error_message: String,
            }
        }
    }
}

pub mod trace {
    pub mod v1 {
        use crate::proto::common::v1::{InstrumentationScope, KeyValue};
        use crate::proto::resource::v1::Resource;

        /// `opentelemetry.proto.trace.v1.TracesData` (same layout as the request).
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct TracesData {
            #[prost(message, repeated, tag = "1")]
            pub resource_spans: Vec<ResourceSpans>,
        }

        /// `opentelemetry.proto.trace.v1.ResourceSpans`
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct ResourceSpans {
            #[prost(message, optional, tag = "1")]
            pub resource: Option<Resource>,
            #[prost(message, repeated, tag = "2")]
            pub scope_spans: Vec<ScopeSpans>,
            #[prost(string, tag = "3")]
            pub schema_url: String,
        }

        /// `opentelemetry.proto.trace.v1.ScopeSpans`
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct ScopeSpans {
            #[prost(message, optional, tag = "1")]
            pub scope: Option<InstrumentationScope>,
            #[prost(message, repeated, tag = "2")]
            pub spans: Vec<Span>,
            #[prost(string, tag = "3")]
            pub schema_url: String,
        }

        /// `opentelemetry.proto.trace.v1.Span`
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct Span {
            #[prost(bytes = "vec", tag = "1")]
            pub trace_id: Vec<u8>,
            #[prost(bytes = "vec", tag = "2")]
            pub span_id: Vec<u8>,
            #[prost(string, tag = "3")]
            pub trace_state: String,
            #[prost(bytes = "vec", tag = "4")]
            pub parent_span_id: Vec<u8>,
            #[prost(fixed32, tag = "16")]
            pub flags: u32,
            #[prost(string, tag = "5")]
            pub name: String,
            /// `Span.SpanKind` (see [`span_kind`]).
            #[prost(int32, tag = "6")]
            pub kind: i32,
            #[prost(fixed64, tag = "7")]
            pub start_time_unix_nano: u64,
            #[prost(fixed64, tag = "8")]
            pub end_time_unix_nano: u64,
            #[prost(message, repeated, tag = "9")]
            pub attributes: Vec<KeyValue>,
            #[prost(uint32, tag = "10")]
            pub dropped_attributes_count: u32,
            #[prost(message, repeated, tag = "11")]
            pub events: Vec<span::Event>,
            #[prost(uint32, tag = "12")]
            pub dropped_events_count: u32,
            #[prost(message, repeated, tag = "13")]
            pub links: Vec<span::Link>,
            #[prost(uint32, tag = "14")]
            pub dropped_links_count: u32,
            #[prost(message, optional, tag = "15")]
            pub status: Option<Status>,
        }

        pub mod span {
            use crate::proto::common::v1::KeyValue;

            /// `opentelemetry.proto.trace.v1.Span.Event`
            #[derive(Clone, PartialEq, prost::Message)]
            pub struct Event {
                #[prost(fixed64, tag = "1")]
                pub time_unix_nano: u64,
                #[prost(string, tag = "2")]
                pub name: String,
                #[prost(message, repeated, tag = "3")]
                pub attributes: Vec<KeyValue>,
                #[prost(uint32, tag = "4")]
                pub dropped_attributes_count: u32,
            }

            /// `opentelemetry.proto.trace.v1.Span.Link`
            #[derive(Clone, PartialEq, prost::Message)]
            pub struct Link {
                #[prost(bytes = "vec", tag = "1")]
                pub trace_id: Vec<u8>,
                #[prost(bytes = "vec", tag = "2")]
                pub span_id: Vec<u8>,
                #[prost(string, tag = "3")]
                pub trace_state: String,
                #[prost(message, repeated, tag = "4")]
                pub attributes: Vec<KeyValue>,
                #[prost(uint32, tag = "5")]
                pub dropped_attributes_count: u32,
                #[prost(fixed32, tag = "6")]
                pub flags: u32,
            }
        }

        /// Values of `Span.SpanKind`.
        pub mod span_kind {
            pub const UNSPECIFIED: i32 = 0;
            pub const INTERNAL: i32 = 1;
            pub const SERVER: i32 = 2;
            pub const CLIENT: i32 = 3;
            pub const PRODUCER: i32 = 4;
            pub const CONSUMER: i32 = 5;
        }

        /// `opentelemetry.proto.trace.v1.Status` (field 1 is reserved).
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct Status {
            #[prost(string, tag = "2")]
            pub message: String,
            /// `Status.StatusCode` (see [`status_code`]).
            #[prost(int32, tag = "3")]
            pub code: i32,
        }

        /// Values of `Status.StatusCode`.
        pub mod status_code {
            pub const UNSET: i32 = 0;
            pub const OK: i32 = 1;
            pub const ERROR: i32 = 2;
        }
    }
}

pub mod common {
    pub mod v1 {
        /// `opentelemetry.proto.common.v1.AnyValue`
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct AnyValue {
            #[prost(oneof = "any_value::Value", tags = "1, 2, 3, 4, 5, 6, 7")]
            pub value: Option<any_value::Value>,
        }

        pub mod any_value {
            /// The `value` oneof of `AnyValue`.
            #[derive(Clone, PartialEq, prost::Oneof)]
            pub enum Value {
                #[prost(string, tag = "1")]
                StringValue(String),
                #[prost(bool, tag = "2")]
                BoolValue(bool),
                #[prost(int64, tag = "3")]
                IntValue(i64),
                #[prost(double, tag = "4")]
                DoubleValue(f64),
                #[prost(message, tag = "5")]
                ArrayValue(super::ArrayValue),
                #[prost(message, tag = "6")]
                KvlistValue(super::KeyValueList),
                #[prost(bytes = "vec", tag = "7")]
                BytesValue(Vec<u8>),
            }
        }

        /// `opentelemetry.proto.common.v1.ArrayValue`
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct ArrayValue {
            #[prost(message, repeated, tag = "1")]
            pub values: Vec<AnyValue>,
        }

        /// `opentelemetry.proto.common.v1.KeyValueList`
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct KeyValueList {
            #[prost(message, repeated, tag = "1")]
            pub values: Vec<KeyValue>,
        }

        /// `opentelemetry.proto.common.v1.KeyValue`
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct KeyValue {
            #[prost(string, tag = "1")]
            pub key: String,
            #[prost(message, optional, tag = "2")]
            pub value: Option<AnyValue>,
        }

        /// `opentelemetry.proto.common.v1.InstrumentationScope`
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct InstrumentationScope {
            #[prost(string, tag = "1")]
            pub name: String,
            #[prost(string, tag = "2")]
            pub version: String,
            #[prost(message, repeated, tag = "3")]
            pub attributes: Vec<KeyValue>,
            #[prost(uint32, tag = "4")]
            pub dropped_attributes_count: u32,
        }
    }
}

pub mod resource {
    pub mod v1 {
        use crate::proto::common::v1::KeyValue;

        /// `opentelemetry.proto.resource.v1.Resource`
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct Resource {
            #[prost(message, repeated, tag = "1")]
            pub attributes: Vec<KeyValue>,
            #[prost(uint32, tag = "2")]
            pub dropped_attributes_count: u32,
        }
    }
}
