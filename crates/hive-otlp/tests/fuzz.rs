//! Fuzz-style robustness: thousands of random and mutated inputs never panic.

mod common;

use common::{Rng, sample_spans};
use hive_otlp::{
    Encoding, count_metric_points, decode_logs, decode_traces, encode_traces_protobuf, grpc_frame,
    grpc_unframe, gunzip,
};
use serde_json::{Value, json};

const ITERATIONS: usize = 3_000;

/// One random byte-level mutation of `input`.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(7) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = rng.byte();
            }
            2 => out.truncate(rng.below(out.len() + 1)),
            3 => {
                let i = rng.below(out.len() + 1);
                let n = rng.below(8);
                let bytes = rng.bytes(n);
                out.splice(i..i, bytes);
            }
            4 if !out.is_empty() => {
                let i = rng.below(out.len());
                let j = (i + rng.below(16)).min(out.len());
                out.drain(i..j);
            }
            5 if !out.is_empty() => {
                // Duplicate a chunk (repeats fields, nests lengths oddly).
                let i = rng.below(out.len());
                let j = (i + rng.below(64)).min(out.len());
                let chunk = out[i..j].to_vec();
                let k = rng.below(out.len() + 1);
                out.splice(k..k, chunk);
            }
            _ => {
                // Interesting protobuf bytes: varint continuation, max lengths, tags.
                let special = [0x80, 0xff, 0x7f, 0x0a, 0x12, 0x2a, 0x32, 0x00, 0x01];
                let i = rng.below(out.len() + 1);
                out.insert(i, special[rng.below(special.len())]);
            }
        }
    }
    out
}

fn random_json(rng: &mut Rng, depth: usize) -> Value {
    let choice = if depth > 4 {
        rng.below(6)
    } else {
        rng.below(9)
    };
    match choice {
        0 => Value::Null,
        1 => json!(rng.below(2) == 0),
        2 => json!(rng.next_u64() as i64),
        3 => json!((rng.next_u64() as f64) / 7.0),
        4 => json!(
            [
                "",
                "AAAA",
                "SPAN_KIND_SERVER",
                "NaN",
                "-1",
                "00",
                "eee19b7ec3c1b174",
                "é"
            ][rng.below(8)]
        ),
        5 => json!(format!("{:x}", rng.next_u64())),
        6 => Value::Array(
            (0..rng.below(3))
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let keys = [
                "stringValue",
                "intValue",
                "arrayValue",
                "kvlistValue",
                "values",
                "key",
                "value",
                "traceId",
                "spanId",
                "status",
                "code",
                "attributes",
                "spans",
                "scope",
                "resource",
                "events",
            ];
            let mut map = serde_json::Map::new();
            for _ in 0..rng.below(3) {
                map.insert(
                    keys[rng.below(keys.len())].to_string(),
                    random_json(rng, depth + 1),
                );
            }
            Value::Object(map)
        }
    }
}

/// Replace one random node of `value` with random JSON.
fn mutate_json(rng: &mut Rng, value: &mut Value) {
    let stop = rng.below(6) == 0;
    match value {
        Value::Array(items) if !items.is_empty() && !stop => {
            let i = rng.below(items.len());
            mutate_json(rng, &mut items[i]);
        }
        Value::Object(map) if !map.is_empty() && !stop => {
            let i = rng.below(map.len());
            if let Some(child) = map.values_mut().nth(i) {
                mutate_json(rng, child);
            }
        }
        _ => *value = random_json(rng, 0),
    }
}

fn sample_json() -> Value {
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeSpans": [{"scope": {"name": "s", "version": "1"}, "spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
            "parentSpanId": null, "name": "n", "kind": "SPAN_KIND_INTERNAL",
            "startTimeUnixNano": "1", "endTimeUnixNano": 2,
            "attributes": [
                {"key": "a", "value": {"intValue": "3"}},
                {"key": "b", "value": {"arrayValue": {"values": [{"doubleValue": 1.5}, {"kvlistValue": {"values": [
                    {"key": "c", "value": {"bytesValue": "AAE="}}]}}]}}}
            ],
            "events": [{"timeUnixNano": "3", "name": "e", "attributes": []}],
            "status": {"code": "STATUS_CODE_ERROR", "message": "m"}
        }]}]
    }]})
}

#[test]
fn protobuf_mutations_never_panic() {
    let mut rng = Rng::new(0x5eed_0001);
    let seed = encode_traces_protobuf(&sample_spans());
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..ITERATIONS {
        let input = mutate(&mut rng, &seed);
        match decode_traces(&input, Encoding::Protobuf) {
            Ok(_) => ok += 1,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                failed += 1;
            }
        }
        // The same bytes through the JSON path too.
        let _ = decode_traces(&input, Encoding::Json);
    }
    assert!(ok > 0 && failed > 0, "ok={ok} failed={failed}");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng::new(0x5eed_0002);
    for _ in 0..ITERATIONS {
        let n = rng.below(300);
        let input = rng.bytes(n);
        let _ = decode_traces(&input, Encoding::Protobuf);
        let _ = decode_traces(&input, Encoding::Json);
        let _ = decode_logs(&input, Encoding::Protobuf);
        let _ = decode_logs(&input, Encoding::Json);
        let _ = count_metric_points(&input, Encoding::Protobuf);
        let _ = count_metric_points(&input, Encoding::Json);
        let _ = grpc_unframe(&input, Some("gzip"), 1 << 16);
        let _ = grpc_unframe(&input, None, 1 << 16);
        let _ = gunzip(&input, 1 << 16);
    }
}

#[test]
fn logs_and_metrics_mutations_never_panic() {
    let mut rng = Rng::new(0x5eed_0005);
    let logs = json!({"resourceLogs": [{"resource": {"attributes": [
    {"key": "service.name", "value": {"stringValue": "svc"}}]},
    "scopeLogs": [{"scope": {"name": "s"}, "logRecords": [{
        "timeUnixNano": "1700000000000000000", "severityNumber": "SEVERITY_NUMBER_INFO",
        "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
        "eventName": "gen_ai.choice", "flags": 1,
        "body": {"kvlistValue": {"values": [{"key": "index", "value": {"intValue": "0"}}]}},
        "attributes": [{"key": "k", "value": {"arrayValue": {"values": [{"boolValue": true}]}}}]
    }]}]}]});
    let metrics = json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [
        {"name": "g", "gauge": {"dataPoints": [{"asInt": "1"}]}},
        {"name": "h", "histogram": {"dataPoints": [{"count": "2"}]}}]}]}]});
    assert_eq!(
        decode_logs(logs.to_string().as_bytes(), Encoding::Json)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        count_metric_points(metrics.to_string().as_bytes(), Encoding::Json).unwrap(),
        2
    );
    let (mut ok, mut failed) = (0, 0);
    for i in 0..ITERATIONS {
        let seed = if i % 2 == 0 { &logs } else { &metrics };
        let input = if i % 4 < 2 {
            let mut value = seed.clone();
            for _ in 0..=rng.below(3) {
                mutate_json(&mut rng, &mut value);
            }
            serde_json::to_vec(&value).unwrap()
        } else {
            mutate(&mut rng, &serde_json::to_vec(seed).unwrap())
        };
        let outcome = if i % 2 == 0 {
            decode_logs(&input, Encoding::Json).map(|_| ())
        } else {
            count_metric_points(&input, Encoding::Json).map(|_| ())
        };
        match outcome {
            Ok(()) => ok += 1,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                failed += 1;
            }
        }
        let _ = decode_logs(&input, Encoding::Protobuf);
        let _ = count_metric_points(&input, Encoding::Protobuf);
    }
    assert!(ok > 0 && failed > 0, "ok={ok} failed={failed}");
}

#[test]
fn json_mutations_never_panic() {
    let mut rng = Rng::new(0x5eed_0003);
    let seed = sample_json();
    let seed_bytes = serde_json::to_vec(&seed).unwrap();
    assert_eq!(decode_traces(&seed_bytes, Encoding::Json).unwrap().len(), 1);
    let (mut ok, mut failed) = (0, 0);
    for i in 0..ITERATIONS {
        let input = if i % 2 == 0 {
            let mut value = seed.clone();
            for _ in 0..=rng.below(3) {
                mutate_json(&mut rng, &mut value);
            }
            serde_json::to_vec(&value).unwrap()
        } else {
            mutate(&mut rng, &seed_bytes)
        };
        match decode_traces(&input, Encoding::Json) {
            Ok(_) => ok += 1,
            Err(_) => failed += 1,
        }
    }
    assert!(ok > 0 && failed > 0, "ok={ok} failed={failed}");
}

#[test]
fn grpc_mutations_never_panic() {
    let mut rng = Rng::new(0x5eed_0004);
    let payload = encode_traces_protobuf(&sample_spans());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &payload).unwrap();
    let compressed = gz.finish().unwrap();
    let mut gz_frame = vec![1];
    gz_frame.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
    gz_frame.extend_from_slice(&compressed);
    let seeds = [grpc_frame(&payload), gz_frame];
    for i in 0..ITERATIONS {
        let input = mutate(&mut rng, &seeds[i % 2]);
        for encoding in [None, Some("gzip"), Some("identity"), Some("deflate")] {
            if let Ok(message) = grpc_unframe(&input, encoding, 1 << 16) {
                let _ = decode_traces(&message, Encoding::Protobuf);
            }
        }
    }
}
