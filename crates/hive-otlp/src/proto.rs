//! Hand-written prost messages for the subset of the OTLP protocol Hive reads.
//!
//! Field numbers and wire types follow the official `opentelemetry-proto`
//! definitions (`collector/{trace,logs,metrics}/v1/*_service.proto`,
//! `trace/v1/trace.proto`, `logs/v1/logs.proto`, `metrics/v1/metrics.proto`,
//! `common/v1/common.proto`, `resource/v1/resource.proto`). Metrics are
//! only counted: their data points are kept as undecoded bytes. Enum fields (`Span.kind`, `Status.code`)
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

    pub mod logs {
        pub mod v1 {
            /// `opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest`
            #[derive(Clone, PartialEq, prost::Message)]
            pub struct ExportLogsServiceRequest {
                #[prost(message, repeated, tag = "1")]
                pub resource_logs: Vec<crate::proto::logs::v1::ResourceLogs>,
            }

            /// `opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse`
            #[derive(Clone, PartialEq, prost::Message)]
            pub struct ExportLogsServiceResponse {
                #[prost(message, optional, tag = "1")]
                pub partial_success: Option<ExportLogsPartialSuccess>,
            }

            /// `opentelemetry.proto.collector.logs.v1.ExportLogsPartialSuccess`
            #[derive(Clone, PartialEq, prost::Message)]
            pub struct ExportLogsPartialSuccess {
                #[prost(int64, tag = "1")]
                pub rejected_log_records: i64,
                #[prost(string, tag = "2")]
                pub error_message: String,
            }
        }
    }

    pub mod metrics {
        pub mod v1 {
            /// `opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest`
            /// (data points left undecoded).
            #[derive(Clone, PartialEq, prost::Message)]
            pub struct ExportMetricsServiceRequest {
                #[prost(message, repeated, tag = "1")]
                pub resource_metrics: Vec<crate::proto::metrics::v1::ResourceMetrics>,
            }

            /// `opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse`
            #[derive(Clone, PartialEq, prost::Message)]
            pub struct ExportMetricsServiceResponse {
                #[prost(message, optional, tag = "1")]
                pub partial_success: Option<ExportMetricsPartialSuccess>,
            }

            /// `opentelemetry.proto.collector.metrics.v1.ExportMetricsPartialSuccess`
            #[derive(Clone, PartialEq, prost::Message)]
            pub struct ExportMetricsPartialSuccess {
                #[prost(int64, tag = "1")]
                pub rejected_data_points: i64,
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

pub mod logs {
    pub mod v1 {
        use crate::proto::common::v1::{AnyValue, InstrumentationScope, KeyValue};
        use crate::proto::resource::v1::Resource;

        /// `opentelemetry.proto.logs.v1.ResourceLogs`
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct ResourceLogs {
            #[prost(message, optional, tag = "1")]
            pub resource: Option<Resource>,
            #[prost(message, repeated, tag = "2")]
            pub scope_logs: Vec<ScopeLogs>,
            #[prost(string, tag = "3")]
            pub schema_url: String,
        }

        /// `opentelemetry.proto.logs.v1.ScopeLogs`
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct ScopeLogs {
            #[prost(message, optional, tag = "1")]
            pub scope: Option<InstrumentationScope>,
            #[prost(message, repeated, tag = "2")]
            pub log_records: Vec<LogRecord>,
            #[prost(string, tag = "3")]
            pub schema_url: String,
        }

        /// `opentelemetry.proto.logs.v1.LogRecord` (field 4 is reserved).
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct LogRecord {
            #[prost(fixed64, tag = "1")]
            pub time_unix_nano: u64,
            #[prost(fixed64, tag = "11")]
            pub observed_time_unix_nano: u64,
            /// `SeverityNumber` (0 unspecified, 1-24 TRACE..FATAL4).
            #[prost(int32, tag = "2")]
            pub severity_number: i32,
            #[prost(string, tag = "3")]
            pub severity_text: String,
            #[prost(message, optional, tag = "5")]
            pub body: Option<AnyValue>,
            #[prost(message, repeated, tag = "6")]
            pub attributes: Vec<KeyValue>,
            #[prost(uint32, tag = "7")]
            pub dropped_attributes_count: u32,
            #[prost(fixed32, tag = "8")]
            pub flags: u32,
            #[prost(bytes = "vec", tag = "9")]
            pub trace_id: Vec<u8>,
            #[prost(bytes = "vec", tag = "10")]
            pub span_id: Vec<u8>,
            #[prost(string, tag = "12")]
            pub event_name: String,
        }
    }
}

pub mod metrics {
    pub mod v1 {
        use crate::proto::common::v1::InstrumentationScope;
        use crate::proto::resource::v1::Resource;

        /// `opentelemetry.proto.metrics.v1.ResourceMetrics`
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct ResourceMetrics {
            #[prost(message, optional, tag = "1")]
            pub resource: Option<Resource>,
            #[prost(message, repeated, tag = "2")]
            pub scope_metrics: Vec<ScopeMetrics>,
            #[prost(string, tag = "3")]
            pub schema_url: String,
        }

        /// `opentelemetry.proto.metrics.v1.ScopeMetrics`
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct ScopeMetrics {
            #[prost(message, optional, tag = "1")]
            pub scope: Option<InstrumentationScope>,
            #[prost(message, repeated, tag = "2")]
            pub metrics: Vec<Metric>,
            #[prost(string, tag = "3")]
            pub schema_url: String,
        }

        /// `opentelemetry.proto.metrics.v1.Metric`: name and data only.
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct Metric {
            #[prost(string, tag = "1")]
            pub name: String,
            #[prost(oneof = "metric::Data", tags = "5, 7, 9, 10, 11")]
            pub data: Option<metric::Data>,
        }

        pub mod metric {
            /// The `data` oneof of `Metric`.
            #[derive(Clone, PartialEq, prost::Oneof)]
            pub enum Data {
                #[prost(message, tag = "5")]
                Gauge(super::DataPoints),
                #[prost(message, tag = "7")]
                Sum(super::DataPoints),
                #[prost(message, tag = "9")]
                Histogram(super::DataPoints),
                #[prost(message, tag = "10")]
                ExponentialHistogram(super::DataPoints),
                #[prost(message, tag = "11")]
                Summary(super::DataPoints),
            }
        }

        /// `Gauge`, `Sum`, `Histogram`, `ExponentialHistogram` and `Summary`
        /// all keep their data points in field 1; each point is left as its
        /// encoded bytes (only counted).
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct DataPoints {
            #[prost(bytes = "vec", repeated, tag = "1")]
            pub data_points: Vec<Vec<u8>>,
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
