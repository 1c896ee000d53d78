//! Shared fixtures for the integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use hive_core::span::{AttrValue, KeyValue, Span, SpanEvent, SpanKind, StatusCode};

pub fn kv(key: &str, value: AttrValue) -> KeyValue {
    KeyValue::new(key, value)
}

/// A handful of spans over two resources and three scopes, using every
/// attribute type, events, statuses and kinds.
pub fn sample_spans() -> Vec<Span> {
    let res_a = Arc::new(vec![
        kv("service.name", AttrValue::Str("svc-a".into())),
        kv("telemetry.sdk.language", AttrValue::Str("python".into())),
    ]);
    let res_b = Arc::new(vec![kv("service.name", AttrValue::Str("svc-b".into()))]);
    let nested = AttrValue::KvList(vec![
        kv(
            "list",
            AttrValue::Array(vec![
                AttrValue::Int(1),
                AttrValue::Str("two".into()),
                AttrValue::Empty,
            ]),
        ),
        kv(
            "inner",
            AttrValue::KvList(vec![kv("deep", AttrValue::Bool(false))]),
        ),
    ]);
    let base = |i: u8, res: &Arc<Vec<KeyValue>>, scope: &str, version: &str| Span {
        trace_id: [i; 16],
        span_id: [i.wrapping_add(100); 8],
        parent_span_id: None,
        name: format!("span-{i}"),
        kind: SpanKind::Internal,
        start_time_unix_nano: 1_795_253_222_280_873_855 + u64::from(i),
        end_time_unix_nano: 1_795_253_222_286_559_260 + u64::from(i),
        attributes: vec![kv(
            "honeyhive.session_id",
            AttrValue::Str(format!("session-{i}")),
        )],
        events: Vec::new(),
        status_code: StatusCode::Unset,
        status_message: String::new(),
        resource: Arc::clone(res),
        scope_name: scope.into(),
        scope_version: version.into(),
    };
    let mut s1 = base(1, &res_a, "honeyhive.1", "");
    s1.attributes.extend([
        kv("int", AttrValue::Int(-42)),
        kv("max", AttrValue::Int(i64::MAX)),
        kv("double", AttrValue::Double(0.95)),
        kv("inf", AttrValue::Double(f64::INFINITY)),
        kv("bool", AttrValue::Bool(true)),
        kv("bytes", AttrValue::Bytes(vec![0, 1, 2, 255])),
        kv("empty", AttrValue::Empty),
        kv("nested", nested),
        kv("unicode", AttrValue::Str("héllo ✓ \u{1F600}".into())),
    ]);
    let mut s2 = base(2, &res_a, "honeyhive.1", "");
    s2.parent_span_id = Some(s1.span_id);
    s2.trace_id = s1.trace_id;
    s2.kind = SpanKind::Client;
    s2.status_code = StatusCode::Error;
    s2.status_message = "ValueError: boom".into();
    s2.events = vec![
        SpanEvent {
            time_unix_nano: 1_795_253_222_286_284_272,
            name: "exception".into(),
            attributes: vec![kv("exception.type", AttrValue::Str("ValueError".into()))],
        },
        SpanEvent::default(),
    ];
    let mut s3 = base(3, &res_a, "openinference.instrumentation.openai", "0.1.66");
    s3.kind = SpanKind::Server;
    s3.status_code = StatusCode::Ok;
    let mut s4 = base(4, &res_b, "", "");
    s4.kind = SpanKind::Unspecified;
    s4.attributes.clear();
    let mut s5 = base(5, &res_b, "", "");
    s5.kind = SpanKind::Consumer;
    s5.start_time_unix_nano = 0;
    s5.end_time_unix_nano = u64::MAX;
    let mut s6 = base(6, &res_b, "", "");
    s6.kind = SpanKind::Producer;
    s6.name = String::new();
    vec![s1, s2, s3, s4, s5, s6]
}

/// A tiny deterministic PRNG (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}
