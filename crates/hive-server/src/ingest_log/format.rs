//! The on-disk format of the ingest log (see ADR 0006).
//!
//! A log is a directory of segment files named by the position of their
//! first record (`00000000000000004096.log`). A segment is a 16-byte header
//! (`HIVELOG1` and that position, little-endian) followed by records:
//!
//! ```text
//! len: u32 LE | crc: u32 LE (CRC-32 of the payload) | payload: len bytes
//! ```
//!
//! Positions count record bytes (header and payload) from the start of the
//! log, across segments: a record at position `p` of a segment starting at
//! `s` is at file offset `16 + p - s`.

use std::io::{self, Read};

pub const MAGIC: &[u8; 8] = b"HIVELOG1";
/// Bytes of a segment header.
pub const SEGMENT_HEADER: u64 = 16;
/// Bytes of a record header.
pub const RECORD_HEADER: usize = 8;
/// Largest record payload accepted (a longer length is corruption).
pub const MAX_PAYLOAD: usize = 512 << 20;

/// A segment's file name.
pub fn segment_name(start: u64) -> String {
    format!("{start:020}.log")
}

/// The start position of a segment file name (`None`: not a segment).
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A segment header.
pub fn segment_header(start: u64) -> [u8; SEGMENT_HEADER as usize] {
    let mut h = [0u8; SEGMENT_HEADER as usize];
    h[..8].copy_from_slice(MAGIC);
    h[8..].copy_from_slice(&start.to_le_bytes());
    h
}

/// Check a segment header against the position its name gives.
pub fn check_header(header: &[u8], start: u64) -> Result<(), String> {
    if header.len() < SEGMENT_HEADER as usize || &header[..8] != MAGIC {
        return Err("not an ingest log segment (bad magic)".into());
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&header[8..16]);
    let found = u64::from_le_bytes(b);
    if found != start {
        return Err(format!(
            "its header says it starts at position {found}, its name says {start}"
        ));
    }
    Ok(())
}

/// Append one framed record to `out`.
pub fn frame(payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(RECORD_HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// A record written in place: the payload is appended to [`RecordBuf::payload`]
/// after room for the header, which [`RecordBuf::finish`] fills (one copy of
/// a large payload instead of two).
pub struct RecordBuf(Vec<u8>);

impl RecordBuf {
    pub fn with_capacity(payload: usize) -> RecordBuf {
        let mut v = Vec::with_capacity(RECORD_HEADER + payload);
        v.extend_from_slice(&[0u8; RECORD_HEADER]);
        RecordBuf(v)
    }

    pub fn payload(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }

    /// The framed record.
    pub fn finish(mut self) -> Vec<u8> {
        let len = (self.0.len() - RECORD_HEADER) as u32;
        let crc = crc32fast::hash(&self.0[RECORD_HEADER..]);
        self.0[..4].copy_from_slice(&len.to_le_bytes());
        self.0[4..8].copy_from_slice(&crc.to_le_bytes());
        self.0
    }
}

/// What reading one record found.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A whole, intact record (its payload).
    Record(Vec<u8>),
    /// The clean end: no byte left.
    End,
    /// A record cut short or failing its checksum: `reason`.
    Bad(String),
}

/// The payload length and checksum of a record header.
pub fn parse_record_header(header: &[u8; RECORD_HEADER]) -> Result<(usize, u32), String> {
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len > MAX_PAYLOAD {
        return Err(format!("a record length of {len} bytes"));
    }
    Ok((len, crc))
}

/// Read the next record from `r`.
pub fn read_record(r: &mut impl Read) -> io::Result<Next> {
    let mut header = [0u8; RECORD_HEADER];
    let got = read_full(r, &mut header)?;
    if got == 0 {
        return Ok(Next::End);
    }
    if got < RECORD_HEADER {
        return Ok(Next::Bad(format!("a record header cut after {got} bytes")));
    }
    let (len, crc) = match parse_record_header(&header) {
        Ok(v) => v,
        Err(reason) => return Ok(Next::Bad(reason)),
    };
    let mut payload = vec![0u8; len];
    let got = read_full(r, &mut payload)?;
    if got < len {
        return Ok(Next::Bad(format!(
            "a record of {len} bytes cut after {got}"
        )));
    }
    if crc32fast::hash(&payload) != crc {
        return Ok(Next::Bad(format!(
            "a record of {len} bytes failing its checksum"
        )));
    }
    Ok(Next::Record(payload))
}

/// Read until `buf` is full or the input ends; the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            frame(p, &mut out);
        }
        out
    }

    #[test]
    fn records_read_back_in_order_then_end() {
        let bytes = framed(&[b"one", b"", b"three"]);
        let mut r = &bytes[..];
        assert_eq!(read_record(&mut r).unwrap(), Next::Record(b"one".to_vec()));
        assert_eq!(read_record(&mut r).unwrap(), Next::Record(Vec::new()));
        assert_eq!(
            read_record(&mut r).unwrap(),
            Next::Record(b"three".to_vec())
        );
        assert_eq!(read_record(&mut r).unwrap(), Next::End);
    }

    #[test]
    fn every_cut_of_a_record_is_bad_not_a_record() {
        let bytes = framed(&[b"hello world"]);
        for cut in 1..bytes.len() {
            let mut r = &bytes[..cut];
            assert!(
                matches!(read_record(&mut r).unwrap(), Next::Bad(_)),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn a_flipped_bit_fails_the_checksum() {
        let mut bytes = framed(&[b"hello world"]);
        for i in RECORD_HEADER..bytes.len() {
            bytes[i] ^= 0x10;
            let mut r = &bytes[..];
            assert!(
                matches!(read_record(&mut r).unwrap(), Next::Bad(_)),
                "byte {i}"
            );
            bytes[i] ^= 0x10;
        }
        // An absurd length is bad, not an allocation of 4 GiB.
        let mut r: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        assert!(matches!(read_record(&mut r).unwrap(), Next::Bad(_)));
    }

    #[test]
    fn a_record_written_in_place_equals_a_framed_one() {
        let mut r = RecordBuf::with_capacity(5);
        r.payload().extend_from_slice(b"hello");
        assert_eq!(r.finish(), framed(&[b"hello"]));
    }

    #[test]
    fn segment_names_and_headers() {
        assert_eq!(segment_name(4096), "00000000000000004096.log");
        assert_eq!(parse_segment_name("00000000000000004096.log"), Some(4096));
        assert_eq!(parse_segment_name("4096.log"), None);
        assert_eq!(parse_segment_name("00000000000000004096.tmp"), None);
        assert!(check_header(&segment_header(7), 7).is_ok());
        assert!(check_header(&segment_header(7), 8).is_err());
        assert!(check_header(b"NOTALOG!00000000", 0).is_err());
    }
}
