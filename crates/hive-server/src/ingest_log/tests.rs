use std::fs;
use std::path::Path;

use super::*;

fn config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        sync: true,
        segment_bytes,
        ..LogConfig::default()
    }
}

fn record(i: usize) -> Vec<u8> {
    format!("record {i} {}", "x".repeat(i % 40)).into_bytes()
}

/// Append `n` records (numbered from `from`) and close the log; the
/// positions after each.
fn append(dir: &Path, applied: u64, from: usize, n: usize, segment_bytes: u64) -> Vec<u64> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (log, _, thread) = IngestLog::open(dir, applied, config(segment_bytes)).unwrap();
    let ends = rt.block_on(async {
        let mut ends = Vec::new();
        for i in from..from + n {
            ends.push(log.append(&record(i)).await.unwrap());
        }
        ends
    });
    drop(log);
    thread.join().unwrap();
    ends
}

fn read_all(shared: Arc<Shared>, from: u64) -> Vec<(Vec<u8>, u64)> {
    let mut r = LogReader::new(shared, from);
    let mut out = Vec::new();
    while let Some(x) = r.next_record().unwrap() {
        out.push(x);
    }
    out
}

fn segments(dir: &Path) -> Vec<u64> {
    list_segments(dir).unwrap()
}

#[test]
fn records_come_back_in_order_across_segments_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let ends = append(dir.path(), 0, 0, 60, 300);
    assert!(segments(dir.path()).len() > 3, "small segments roll");
    let more = append(dir.path(), 0, 60, 40, 300);
    let (log, rec, thread) = IngestLog::open(dir.path(), 0, config(300)).unwrap();
    assert_eq!(rec.unapplied_records, 100);
    assert_eq!(rec.cut_bytes, 0);
    let all = read_all(log.shared.clone(), 0);
    assert_eq!(all.len(), 100);
    for (i, (payload, end)) in all.iter().enumerate() {
        assert_eq!(payload, &record(i));
        let expected = if i < 60 { ends[i] } else { more[i - 60] };
        assert_eq!(*end, expected);
    }
    // From a position in the middle, the rest.
    let rest = read_all(log.shared.clone(), ends[29]);
    assert_eq!(rest.len(), 70);
    assert_eq!(rest[0].0, record(30));
    drop(log);
    thread.join().unwrap();
}

#[test]
fn applied_segments_are_deleted_and_a_restart_replays_only_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let ends = append(dir.path(), 0, 0, 50, 300);
    let before = segments(dir.path()).len();
    let (log, _, thread) = IngestLog::open(dir.path(), 0, config(300)).unwrap();
    log.shared.set_applied(ends[39], 40);
    let after = segments(dir.path());
    assert!(after.len() < before, "{before} -> {after:?}");
    assert!(after[0] <= ends[39], "the segment holding the rest is kept");
    drop(log);
    thread.join().unwrap();
    let (log, rec, thread) = IngestLog::open(dir.path(), ends[39], config(300)).unwrap();
    assert_eq!(rec.unapplied_records, 10);
    let rest = read_all(log.shared.clone(), ends[39]);
    assert_eq!(rest.len(), 10);
    assert_eq!(rest[0].0, record(40));
    drop(log);
    thread.join().unwrap();
}

#[test]
fn a_torn_tail_is_cut_and_appends_continue_where_the_log_was_whole() {
    let dir = tempfile::tempdir().unwrap();
    let ends = append(dir.path(), 0, 0, 5, 1 << 20);
    let last = *segments(dir.path()).last().unwrap();
    let path = dir.path().join(format::segment_name(last));
    // A record header promising more than was written, as a crash leaves it.
    let mut torn = Vec::new();
    format::frame(b"never acknowledged", &mut torn);
    torn.truncate(torn.len() - 4);
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(&torn);
    fs::write(&path, &bytes).unwrap();
    let (log, rec, thread) = IngestLog::open(dir.path(), 0, config(1 << 20)).unwrap();
    assert_eq!(rec.cut_bytes, torn.len() as u64);
    assert_eq!(rec.unapplied_records, 5);
    assert_eq!(log.shared.durable_end(), ends[4]);
    drop(log);
    thread.join().unwrap();
    append(dir.path(), 0, 5, 3, 1 << 20);
    let (log, _, thread) = IngestLog::open(dir.path(), 0, config(1 << 20)).unwrap();
    let all = read_all(log.shared.clone(), 0);
    let got: Vec<Vec<u8>> = all.into_iter().map(|(p, _)| p).collect();
    let want: Vec<Vec<u8>> = (0..8).map(record).collect();
    assert_eq!(got, want);
    drop(log);
    thread.join().unwrap();
}

#[test]
fn a_corrupt_tail_record_is_cut_but_corruption_in_an_earlier_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    append(dir.path(), 0, 0, 40, 300);
    let segs = segments(dir.path());
    // A flipped byte in the last record of the last segment: cut.
    let last = dir.path().join(format::segment_name(*segs.last().unwrap()));
    let mut bytes = fs::read(&last).unwrap();
    let n = bytes.len();
    bytes[n - 2] ^= 1;
    fs::write(&last, &bytes).unwrap();
    let (log, rec, thread) = IngestLog::open(dir.path(), 0, config(300)).unwrap();
    assert!(rec.cut_bytes > 0);
    assert_eq!(rec.unapplied_records, 39);
    drop(log);
    thread.join().unwrap();
    // A flipped byte in the first segment: acknowledged writes are damaged.
    let first = dir.path().join(format::segment_name(segs[0]));
    let mut bytes = fs::read(&first).unwrap();
    bytes[30] ^= 1;
    fs::write(&first, &bytes).unwrap();
    let err = IngestLog::open(dir.path(), 0, config(300))
        .err()
        .expect("refused");
    assert!(err.message.contains("corrupt"), "{err}");
    assert!(
        err.message.contains(&format::segment_name(segs[0])),
        "{err}"
    );
}

#[test]
fn a_segment_deleted_before_it_was_applied_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let ends = append(dir.path(), 0, 0, 40, 300);
    let segs = segments(dir.path());
    fs::remove_file(dir.path().join(format::segment_name(segs[0]))).unwrap();
    let err = IngestLog::open(dir.path(), 0, config(300))
        .err()
        .expect("refused");
    assert!(
        err.message.contains("deleted before they were applied"),
        "{err}"
    );
    // A segment in the middle is a gap.
    let dir = tempfile::tempdir().unwrap();
    append(dir.path(), 0, 0, 40, 300);
    let segs = segments(dir.path());
    fs::remove_file(dir.path().join(format::segment_name(segs[1]))).unwrap();
    let err = IngestLog::open(dir.path(), 0, config(300))
        .err()
        .expect("refused");
    assert!(err.message.contains("ends at"), "{err}");
    // No log at all for a store that applied some.
    let dir = tempfile::tempdir().unwrap();
    let err = IngestLog::open(dir.path(), ends[3], config(300))
        .err()
        .expect("refused");
    assert!(err.message.contains("has no segment"), "{err}");
}

#[test]
fn a_store_ahead_of_the_log_continues_after_what_it_applied() {
    // --durability normal after a power loss: the store kept writes the
    // log lost. New records must not reuse positions the store has applied.
    let dir = tempfile::tempdir().unwrap();
    let ends = append(dir.path(), 0, 0, 3, 1 << 20);
    let ahead = ends[2] + 1000;
    let (log, _, thread) = IngestLog::open(dir.path(), ahead, config(1 << 20)).unwrap();
    assert_eq!(log.shared.durable_end(), ahead);
    drop(log);
    thread.join().unwrap();
    let more = append(dir.path(), ahead, 3, 2, 1 << 20);
    assert!(more[0] > ahead);
}
