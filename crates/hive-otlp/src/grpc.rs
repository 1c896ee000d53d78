//! gRPC length-prefixed message framing (`TraceService/Export` is unary: one
//! message per request and per response).

use crate::{OtlpError, gunzip};

const HEADER_LEN: usize = 5;

/// Parse one length-prefixed gRPC message: a compressed-flag byte, a
/// big-endian `u32` length, then the message.
///
/// With the flag set the message is gunzipped (at most `max_out` bytes) when
/// `grpc_encoding` is `gzip`; other encodings, or a set flag without any
/// `grpc-encoding`, are errors. An uncompressed message is returned as is
/// whatever `grpc_encoding` says. A message longer than `max_out`, a length
/// that disagrees with the body and trailing bytes are errors.
pub fn grpc_unframe(
    body: &[u8],
    grpc_encoding: Option<&str>,
    max_out: usize,
) -> Result<Vec<u8>, OtlpError> {
    let Some((header, rest)) = body.split_first_chunk::<HEADER_LEN>() else {
        return Err(OtlpError::GrpcFrame(format!(
            "{} bytes is shorter than the 5-byte message header",
            body.len()
        )));
    };
    let [flag, len @ ..] = *header;
    let declared = u32::from_be_bytes(len) as usize;
    if declared > rest.len() {
        return Err(OtlpError::GrpcFrame(format!(
            "message length {declared} exceeds the {} bytes received",
            rest.len()
        )));
    }
    if declared < rest.len() {
        return Err(OtlpError::GrpcFrame(format!(
            "{} trailing bytes after a {declared}-byte message (one message expected)",
            rest.len() - declared
        )));
    }
    match flag {
        0 => {
            if rest.len() > max_out {
                return Err(OtlpError::TooLarge { limit: max_out });
            }
            Ok(rest.to_vec())
        }
        1 => {
            let encoding = grpc_encoding.map(str::trim).unwrap_or("");
            if encoding.eq_ignore_ascii_case("gzip") {
                gunzip(rest, max_out)
            } else if encoding.is_empty() || encoding.eq_ignore_ascii_case("identity") {
                Err(OtlpError::GrpcFrame(
                    "compressed flag set but no grpc-encoding was given".into(),
                ))
            } else {
                Err(OtlpError::GrpcEncoding(encoding.to_owned()))
            }
        }
        other => Err(OtlpError::GrpcFrame(format!(
            "invalid compressed flag {other}"
        ))),
    }
}

/// Frame one uncompressed gRPC message.
///
/// # Panics
/// When `message` is 4 GiB or longer, which gRPC cannot frame.
pub fn grpc_frame(message: &[u8]) -> Vec<u8> {
    let len = u32::try_from(message.len()).expect("gRPC messages are limited to 4 GiB");
    let mut out = Vec::with_capacity(HEADER_LEN + message.len());
    out.push(0);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(message);
    out
}
