//! # honeyhive
//!
//! A HoneyHive-compatible LLM-observability SDK for Rust: sessions, session
//! and span enrichment, `#[trace]`, OpenTelemetry and `tracing` integration.
//!
//! ```no_run
//! use honeyhive::{enrich_session, enrich_span, trace, HoneyHiveTracer};
//!
//! let tracer = HoneyHiveTracer::builder()
//!     .with_project("my-app")
//!     .with_session_name("user-123-chat")
//!     .build(); // HH_API_KEY (or HH_INGESTION_API_KEY), HH_API_URL from the environment
//!
//! // Session-level context, sent by a background worker.
//! enrich_session!({"tenant_id": "acme_corp", "user_tier": "premium"});
//!
//! #[trace]
//! fn chat(message: &str, user_id: &str) -> String {
//!     enrich_span!({"user_id": user_id, "message_length": message.len()});
//!     format!("echo: {message}")
//! }
//!
//! chat("Hello!", "user_123");
//! tracer.shutdown(std::time::Duration::from_secs(5));
//! ```
//!
//! ## The contract
//!
//! * Nothing here blocks the caller on the network. Session start, session
//!   enrichments and span export run on background threads; `enrich_session`
//!   costs the caller a queue push.
//! * Nothing here panics or returns an error because of the network or the
//!   server. Problems are logged through `tracing` and counted
//!   ([`HoneyHiveTracer::stats`]).
//! * Session enrichments are coalesced per session (JSON merge patch, in call
//!   order), retried with backoff on transient failures (honouring
//!   `Retry-After`), and bounded by a queue; [`HoneyHiveTracer::flush`] and
//!   [`HoneyHiveTracer::shutdown`] drain it with a timeout.
//! * Every span of a tracer's provider carries `honeyhive.session_id`,
//!   `honeyhive.project` and `honeyhive.source`, whatever the attribute limit.
//!
//! ## Invocation forms
//!
//! `enrich_session!` and `enrich_span!` accept every form of the documents:
//!
//! ```no_run
//! # use honeyhive::{enrich_session, enrich_span};
//! # let prod_tracer = honeyhive::HoneyHiveTracer::init();
//! enrich_span!({"user_id": "user_12345", "feature": "chat"});          // a plain map -> metadata
//! enrich_span!(user_id = "user_12345", feature = "chat");              // keyword fields -> metadata
//! enrich_span!(metadata = {"user_id": "u"}, metrics = {"score": 0.95}, // named namespaces
//!              user_properties = {"plan": "premium"}, feedback = {"rating": 5});
//! enrich_span!(metadata = {"user_id": "u"}, feature = "chat");         // extras -> metadata
//! enrich_span!(metadata = {"success": false}, error = "boom");         // error
//! enrich_session!();                                                   // touch the session
//! enrich_session!(session_id = "sess_abc123", metadata = {"completed": true});
//! enrich_session!("sess_abc123", metadata = {"user_id": "user_456"}); // legacy positional id
//! enrich_session!(metadata = {"environment": "production"}, tracer_instance = prod_tracer);
//! ```
//!
//! The functions [`enrich_session`] and [`enrich_span`] take an [`Enrichment`]
//! (or anything that converts into one: a `serde_json` map, a `HashMap`, ...).

#![warn(missing_docs)]

mod attributes;
mod enrichment;
mod exporter;
mod http;
mod layer;
mod processor;
mod record;
mod session;
mod span;
mod stats;
mod tracer;
mod worker;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

#[cfg(feature = "testing")]
pub mod testing;

use std::time::Duration;

pub use enrichment::{Enrichment, Namespace};
pub use exporter::OtlpExporter;
pub use layer::layer;
pub use session::{Session, SessionBuilder};
pub use span::enrich_span;
pub use stats::Stats;
pub use tracer::{DEFAULT_SERVER_URL, HoneyHiveTracer, TracerBuilder};
pub use worker::RecordedRequest;

#[cfg(feature = "macros")]
pub use honeyhive_macros::trace;

/// Re-exports of the OpenTelemetry crates the SDK is built on, so other
/// instrumentation can use the same versions.
pub mod otel {
    pub use opentelemetry;
    pub use opentelemetry_sdk;
}

/// Enriches the active session: the session of the tracer in the current
/// context (or the one named by [`Enrichment::session_id`], or of the tracer
/// given with [`Enrichment::tracer`]). An empty enrichment touches the
/// session. Never blocks, never fails; see the crate docs.
pub fn enrich_session(enrichment: impl Into<Enrichment>) {
    enrich_session_record(record::Record::from(enrichment.into()));
}

fn enrich_session_record(mut record: record::Record) {
    match record.tracer.take().or_else(HoneyHiveTracer::current) {
        Some(tracer) => tracer.enrich_session_record(record),
        None => {
            static NO_TRACER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            if stats::bump_and_should_log(&NO_TRACER, 1) {
                tracing::warn!(
                    "honeyhive: enrich_session before any HoneyHiveTracer was initialised; dropped"
                );
            }
        }
    }
}

/// Flushes the current tracer (see [`HoneyHiveTracer::flush`]).
pub fn flush(timeout: Duration) -> bool {
    HoneyHiveTracer::current().is_none_or(|t| t.flush(timeout))
}

/// Shuts down the current tracer (see [`HoneyHiveTracer::shutdown`]).
pub fn shutdown(timeout: Duration) -> bool {
    HoneyHiveTracer::current().is_none_or(|t| t.shutdown(timeout))
}

/// Enriches the active session with any documented form (see the crate docs).
#[macro_export]
macro_rules! enrich_session {
    ($($args:tt)*) => {{
        #[allow(unused_mut)]
        let mut __hh_e = $crate::__private::Record::new();
        $crate::__enrichment_args!(__hh_e; $($args)*);
        $crate::__private::enrich_session_record(__hh_e)
    }};
}

/// Enriches the current span with any documented form (see the crate docs).
/// Evaluates to `true` when there was a span to enrich.
#[macro_export]
macro_rules! enrich_span {
    ($($args:tt)*) => {{
        #[allow(unused_mut)]
        let mut __hh_e = $crate::__private::Record::new();
        $crate::__enrichment_args!(__hh_e; $($args)*);
        $crate::__private::enrich_span_record(__hh_e)
    }};
}

// The macros collect a compact record (`__private::Record`): keys and span
// attribute names are `&'static str` made from the tokens (`concat!`),
// scalars are captured without `serde_json::Value`, string literals are
// borrowed. Object literals (`{"k": v, ...}`) are split into their fields
// here; nested objects and arrays go through `json!`.
#[doc(hidden)]
#[macro_export]
macro_rules! __enrichment_args {
    // ----- positional part -----
    ($e:ident;) => {};
    ($e:ident; $sid:literal $(, $($rest:tt)*)?) => {
        $e.set_session_id($sid);
        $crate::__enrichment_args!(@pos $e; $($($rest)*)?);
    };
    ($e:ident; $($rest:tt)+) => {
        $crate::__enrichment_args!(@pos $e; $($rest)+);
    };
    (@pos $e:ident;) => {};
    (@pos $e:ident; { $($j:tt)* } $(, $($rest:tt)*)?) => {
        {
            let __hh_ns = $crate::Namespace::Metadata;
            $crate::__enrichment_args!(@obj $e metadata __hh_ns; $($j)*);
        }
        $crate::__enrichment_args!(@kw $e; $($($rest)*)?);
    };
    (@pos $e:ident; $key:ident = $($rest:tt)+) => {
        $crate::__enrichment_args!(@kw $e; $key = $($rest)+);
    };
    (@pos $e:ident; $map:expr $(, $($rest:tt)*)?) => {
        $e.plain(&$map);
        $crate::__enrichment_args!(@kw $e; $($($rest)*)?);
    };
    // ----- keyword part -----
    (@kw $e:ident;) => {};
    (@kw $e:ident; tracer = $t:expr $(, $($rest:tt)*)?) => {
        $e.set_tracer(::core::borrow::Borrow::<$crate::HoneyHiveTracer>::borrow(&$t));
        $crate::__enrichment_args!(@kw $e; $($($rest)*)?);
    };
    (@kw $e:ident; tracer_instance = $t:expr $(, $($rest:tt)*)?) => {
        $e.set_tracer(::core::borrow::Borrow::<$crate::HoneyHiveTracer>::borrow(&$t));
        $crate::__enrichment_args!(@kw $e; $($($rest)*)?);
    };
    (@kw $e:ident; $key:ident = $($rest:tt)+) => {
        $crate::__enrichment_args!(@val $e $key [] $($rest)+);
    };
    (@val $e:ident $key:ident [$($v:tt)+] , $($rest:tt)*) => {
        $crate::__enrichment_args!(@set $e $key $($v)+);
        $crate::__enrichment_args!(@kw $e; $($rest)*);
    };
    (@val $e:ident $key:ident [$($v:tt)*] $t:tt $($rest:tt)*) => {
        $crate::__enrichment_args!(@val $e $key [$($v)* $t] $($rest)*);
    };
    (@val $e:ident $key:ident [$($v:tt)+]) => {
        $crate::__enrichment_args!(@set $e $key $($v)+);
    };
    (@set $e:ident $key:ident { $($j:tt)* }) => {
        match $crate::Namespace::from_keyword(::core::stringify!($key)) {
            ::core::option::Option::Some(__hh_ns) => {
                $crate::__enrichment_args!(@obj $e $key __hh_ns; $($j)*);
            }
            ::core::option::Option::None => $e.keyword_val(
                ::core::stringify!($key),
                ::core::concat!("honeyhive_metadata.", ::core::stringify!($key)),
                $crate::__private::Val::json($crate::__private::serde_json::json!({ $($j)* })),
            ),
        }
    };
    (@set $e:ident $key:ident [ $($j:tt)* ]) => {
        $e.keyword_val(
            ::core::stringify!($key),
            ::core::concat!("honeyhive_metadata.", ::core::stringify!($key)),
            $crate::__private::Val::json($crate::__private::serde_json::json!([ $($j)* ])),
        );
    };
    (@set $e:ident $key:ident $v:expr) => {
        $e.keyword(
            ::core::stringify!($key),
            ::core::concat!("honeyhive_metadata.", ::core::stringify!($key)),
            &$v,
        );
    };
    // ----- the fields of an object literal, into namespace `$ns` -----
    (@obj $e:ident $nsid:ident $ns:ident;) => {};
    // Every value one token: no munching.
    (@obj $e:ident $nsid:ident $ns:ident; $($k:literal : $v:tt),+ $(,)?) => {
        $( $crate::__enrichment_args!(@leaf $e $nsid $ns $k $v); )+
    };
    (@obj $e:ident $nsid:ident $ns:ident; $($rest:tt)+) => {
        $crate::__enrichment_args!(@objm $e $nsid $ns; $($rest)+);
    };
    // Values as `expr` fragments (as `json!` does): the expansion depth grows
    // by one per field, not per token.
    (@objm $e:ident $nsid:ident $ns:ident;) => {};
    (@objm $e:ident $nsid:ident $ns:ident; $k:literal : null $(, $($rest:tt)*)?) => {
        $crate::__enrichment_args!(@leaf $e $nsid $ns $k null);
        $crate::__enrichment_args!(@objm $e $nsid $ns; $($($rest)*)?);
    };
    (@objm $e:ident $nsid:ident $ns:ident; $k:literal : [ $($j:tt)* ] $(, $($rest:tt)*)?) => {
        $crate::__enrichment_args!(@leaf $e $nsid $ns $k [ $($j)* ]);
        $crate::__enrichment_args!(@objm $e $nsid $ns; $($($rest)*)?);
    };
    (@objm $e:ident $nsid:ident $ns:ident; $k:literal : { $($j:tt)* } $(, $($rest:tt)*)?) => {
        $crate::__enrichment_args!(@leaf $e $nsid $ns $k { $($j)* });
        $crate::__enrichment_args!(@objm $e $nsid $ns; $($($rest)*)?);
    };
    (@objm $e:ident $nsid:ident $ns:ident; $k:literal : $v:expr $(, $($rest:tt)*)?) => {
        $e.field(
            $ns,
            $k,
            ::core::concat!("honeyhive_", ::core::stringify!($nsid), ".", $k),
            $crate::__private::Val::of($k, &$v),
        );
        $crate::__enrichment_args!(@objm $e $nsid $ns; $($($rest)*)?);
    };
    (@objm $e:ident $nsid:ident $ns:ident; $($rest:tt)+) => {
        // A computed key: the rest of the object goes through `json!`.
        $e.merge($ns, $crate::__private::serde_json::json!({ $($rest)+ }));
    };
    (@leaf $e:ident $nsid:ident $ns:ident $k:literal null) => {
        $e.field(
            $ns,
            $k,
            ::core::concat!("honeyhive_", ::core::stringify!($nsid), ".", $k),
            ::core::option::Option::Some($crate::__private::Val::Null),
        );
    };
    (@leaf $e:ident $nsid:ident $ns:ident $k:literal [ $($j:tt)* ]) => {
        $e.field(
            $ns,
            $k,
            ::core::concat!("honeyhive_", ::core::stringify!($nsid), ".", $k),
            ::core::option::Option::Some($crate::__private::Val::json(
                $crate::__private::serde_json::json!([ $($j)* ]),
            )),
        );
    };
    (@leaf $e:ident $nsid:ident $ns:ident $k:literal { $($j:tt)* }) => {
        $e.field(
            $ns,
            $k,
            ::core::concat!("honeyhive_", ::core::stringify!($nsid), ".", $k),
            ::core::option::Option::Some($crate::__private::Val::json(
                $crate::__private::serde_json::json!({ $($j)* }),
            )),
        );
    };
    (@leaf $e:ident $nsid:ident $ns:ident $k:literal $v:literal) => {
        $e.field(
            $ns,
            $k,
            ::core::concat!("honeyhive_", ::core::stringify!($nsid), ".", $k),
            ::core::option::Option::Some($crate::__private::Val::lit($v)),
        );
    };
    (@leaf $e:ident $nsid:ident $ns:ident $k:literal $v:expr) => {
        $e.field(
            $ns,
            $k,
            ::core::concat!("honeyhive_", ::core::stringify!($nsid), ".", $k),
            $crate::__private::Val::of($k, &$v),
        );
    };
}
