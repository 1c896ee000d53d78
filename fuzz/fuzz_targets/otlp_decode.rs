//! OTLP decoding (hive-otlp): any bytes as a trace, log or metrics request,
//! protobuf or JSON (both dialects), gRPC framed or gzipped, never panic,
//! and what decodes as protobuf spans re-encodes and decodes to the same
//! spans.
#![no_main]

use hive_otlp::{
    Encoding, count_metric_points, decode_logs, decode_traces, encode_traces_protobuf,
    grpc_unframe, gunzip,
};
use libfuzzer_sys::fuzz_target;

const MAX_OUT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 8 {
        0 => {
            if let Ok(spans) = decode_traces(body, Encoding::Protobuf) {
                let again = decode_traces(&encode_traces_protobuf(&spans), Encoding::Protobuf)
                    .expect("what decoded re-encodes and decodes");
                assert_eq!(again, spans);
            }
        }
        1 => {
            let _ = decode_traces(body, Encoding::Json);
        }
        2 => {
            let _ = decode_logs(body, Encoding::Protobuf);
        }
        3 => {
            let _ = decode_logs(body, Encoding::Json);
        }
        4 => {
            let _ = count_metric_points(body, Encoding::Protobuf);
        }
        5 => {
            let _ = count_metric_points(body, Encoding::Json);
        }
        6 => {
            for encoding in [None, Some("gzip"), Some("identity"), Some("br")] {
                if let Ok(message) = grpc_unframe(body, encoding, MAX_OUT) {
                    assert!(message.len() <= MAX_OUT);
                    let _ = decode_traces(&message, Encoding::Protobuf);
                }
            }
        }
        _ => {
            if let Ok(out) = gunzip(body, MAX_OUT) {
                assert!(out.len() <= MAX_OUT);
                let _ = decode_traces(&out, Encoding::Json);
            }
        }
    }
});
