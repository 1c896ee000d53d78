//! encode_traces_protobuf -> decode_traces(Protobuf) is the identity, also
//! through gzip and gRPC framing.

mod common;

use std::io::Write;
use std::sync::Arc;

use common::sample_spans;
use hive_otlp::proto::collector::trace::v1::ExportTraceServiceRequest;
use hive_otlp::{
    Encoding, decode_traces, encode_traces_protobuf, export_response_json,
    export_response_protobuf, grpc_frame, grpc_unframe, gunzip,
};
use prost::Message;

#[test]
fn protobuf_round_trip_is_identity() {
    let spans = sample_spans();
    let bytes = encode_traces_protobuf(&spans);
    let decoded = decode_traces(&bytes, Encoding::Protobuf).expect("decodes");
    assert_eq!(decoded, spans);
}

#[test]
fn encoding_groups_by_resource_and_scope() {
    let spans = sample_spans();
    let bytes = encode_traces_protobuf(&spans);
    let request = ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!(request.resource_spans.len(), 2);
    let scopes: Vec<Vec<(String, usize)>> = request
        .resource_spans
        .iter()
        .map(|rs| {
            rs.scope_spans
                .iter()
                .map(|ss| (ss.scope.as_ref().unwrap().name.clone(), ss.spans.len()))
                .collect()
        })
        .collect();
    assert_eq!(
        scopes,
        vec![
            vec![
                ("honeyhive.1".to_string(), 2),
                ("openinference.instrumentation.openai".to_string(), 1)
            ],
            vec![(String::new(), 3)],
        ]
    );
}

#[test]
fn interleaved_input_comes_back_grouped() {
    let spans = sample_spans();
    // s4 (resource b) between s1 and s2 (resource a).
    let interleaved = vec![
        spans[0].clone(),
        spans[3].clone(),
        spans[1].clone(),
        spans[2].clone(),
    ];
    let decoded = decode_traces(&encode_traces_protobuf(&interleaved), Encoding::Protobuf).unwrap();
    let names: Vec<&str> = decoded.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["span-1", "span-2", "span-3", "span-4"]);
}

#[test]
fn decoded_spans_share_their_resource() {
    let decoded =
        decode_traces(&encode_traces_protobuf(&sample_spans()), Encoding::Protobuf).unwrap();
    assert!(Arc::ptr_eq(&decoded[0].resource, &decoded[1].resource));
    assert!(Arc::ptr_eq(&decoded[0].resource, &decoded[2].resource));
    assert!(Arc::ptr_eq(&decoded[3].resource, &decoded[5].resource));
    assert!(!Arc::ptr_eq(&decoded[0].resource, &decoded[3].resource));
}

#[test]
fn empty_inputs() {
    assert!(encode_traces_protobuf(&[]).is_empty());
    assert_eq!(decode_traces(&[], Encoding::Protobuf).unwrap(), vec![]);
    assert_eq!(decode_traces(b"{}", Encoding::Json).unwrap(), vec![]);
    assert_eq!(
        decode_traces(br#"{"resourceSpans":[]}"#, Encoding::Json).unwrap(),
        vec![]
    );
}

#[test]
fn gzip_and_grpc_round_trip() {
    let spans = sample_spans();
    let bytes = encode_traces_protobuf(&spans);

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&bytes).unwrap();
    let compressed = gz.finish().unwrap();
    assert_eq!(
        gunzip(&compressed, bytes.len()).unwrap(),
        bytes,
        "exactly at the cap is fine"
    );

    let framed = grpc_frame(&bytes);
    assert_eq!(framed[0], 0);
    assert_eq!(
        u32::from_be_bytes(framed[1..5].try_into().unwrap()) as usize,
        bytes.len()
    );
    let payload = grpc_unframe(&framed, None, 1 << 20).unwrap();
    assert_eq!(decode_traces(&payload, Encoding::Protobuf).unwrap(), spans);
    // An uncompressed message is fine whatever grpc-encoding says.
    assert_eq!(grpc_unframe(&framed, Some("gzip"), 1 << 20).unwrap(), bytes);

    let mut compressed_frame = vec![1];
    compressed_frame.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
    compressed_frame.extend_from_slice(&compressed);
    let payload = grpc_unframe(&compressed_frame, Some("gzip"), 1 << 20).unwrap();
    assert_eq!(decode_traces(&payload, Encoding::Protobuf).unwrap(), spans);
}

#[test]
fn concatenated_gzip_members() {
    let mut body = Vec::new();
    for part in [&b"hello "[..], b"world"] {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(part).unwrap();
        body.extend(gz.finish().unwrap());
    }
    assert_eq!(gunzip(&body, 100).unwrap(), b"hello world");
}

#[test]
fn export_responses() {
    assert!(
        export_response_protobuf().is_empty(),
        "an empty message encodes to no bytes"
    );
    let decoded = hive_otlp::proto::collector::trace::v1::ExportTraceServiceResponse::decode(
        &*export_response_protobuf(),
    )
    .unwrap();
    assert_eq!(decoded.partial_success, None);
    assert_eq!(export_response_json(), "{}");
    assert_eq!(grpc_frame(&export_response_protobuf()), [0, 0, 0, 0, 0]);
}

#[test]
fn content_types() {
    use hive_otlp::Encoding as E;
    let cases = [
        ("application/x-protobuf", Some(E::Protobuf)),
        ("application/protobuf", Some(E::Protobuf)),
        ("Application/JSON; charset=utf-8", Some(E::Json)),
        ("application/grpc", Some(E::Protobuf)),
        ("text/plain", None),
        ("", None),
    ];
    for (ct, want) in cases {
        assert_eq!(E::from_content_type(ct), want, "{ct}");
    }
}
