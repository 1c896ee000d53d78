//! The ingest log: what each write request decided, appended to checksummed
//! segment files and fsynced in groups before the request is acknowledged.
//! The applier ([`crate::writer`]) drains it into the store behind the
//! requests; the store records the position it applied in the same
//! transaction as the data, so a restart replays exactly what is missing.
//! See ADR 0006.

pub mod format;

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use format::{Next, SEGMENT_HEADER};

/// Settings of the log.
#[derive(Debug, Clone, Copy)]
pub struct LogConfig {
    /// fsync each group of appends before acknowledging it (`--durability
    /// full`); otherwise appends are acknowledged once written to the OS
    /// (they survive a crash of the server, not of the machine).
    pub sync: bool,
    /// A segment is closed and a new one begun past this size.
    pub segment_bytes: u64,
    /// Bytes of appends written in one group at most.
    pub max_group_bytes: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            sync: true,
            segment_bytes: 64 << 20,
            max_group_bytes: 16 << 20,
        }
    }
}

/// Why an append failed. Nothing of a failed append stays in the log.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AppendError {
    #[error("the disk is full: {0}")]
    DiskFull(String),
    #[error("cannot write the ingest log: {0}")]
    Io(String),
    #[error("the ingest log is closed")]
    Closed,
}

impl AppendError {
    fn of(e: io::Error) -> AppendError {
        // ENOSPC, and EDQUOT (a quota) which a user sees the same way.
        match e.raw_os_error() {
            Some(28) | Some(122) => AppendError::DiskFull(e.to_string()),
            _ => AppendError::Io(e.to_string()),
        }
    }
}

/// Why the log cannot be opened: a refusal to guess, with what was found.
#[derive(Debug, thiserror::Error)]
#[error("ingest log {dir}: {message}")]
pub struct OpenError {
    pub dir: String,
    pub message: String,
}

/// State shared by the appender, the applier and the handlers.
pub struct Shared {
    dir: PathBuf,
    /// Everything before this position is written (and fsynced when the
    /// log syncs): the applier may read up to here.
    durable_end: AtomicU64,
    /// Records written since start, plus those found unapplied at start.
    appended_records: AtomicU64,
    /// Records applied since start.
    applied_records: AtomicU64,
    /// Start positions of the segment files, ascending.
    segments: Mutex<Vec<u64>>,
    /// Wakes the reader when `durable_end` moves.
    wake: (Mutex<()>, Condvar),
    applied: watch::Sender<u64>,
    /// (end position, when written), at most one per 10 ms, for the lag in
    /// seconds.
    marks: Mutex<VecDeque<(u64, Instant)>>,
    /// The last append failed for lack of space.
    pub disk_full: AtomicBool,
    closed: AtomicBool,
}

impl Shared {
    pub fn durable_end(&self) -> u64 {
        self.durable_end.load(Ordering::Acquire)
    }

    pub fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    pub fn subscribe_applied(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// Bytes written but not yet applied.
    pub fn backlog_bytes(&self) -> u64 {
        self.durable_end().saturating_sub(self.applied())
    }

    pub fn backlog_records(&self) -> u64 {
        self.appended_records
            .load(Ordering::Relaxed)
            .saturating_sub(self.applied_records.load(Ordering::Relaxed))
    }

    /// How long the oldest unapplied record has waited.
    pub fn lag(&self) -> Duration {
        let applied = self.applied();
        let marks = lock(&self.marks);
        marks
            .iter()
            .find(|(end, _)| *end > applied)
            .map(|(_, at)| at.elapsed())
            .unwrap_or_default()
    }

    /// The applier has applied everything before `position` (`records`
    /// more records): publish it, drop old marks and the segments no
    /// longer needed.
    pub fn set_applied(&self, position: u64, records: u64) {
        self.applied_records.fetch_add(records, Ordering::Relaxed);
        self.applied.send_replace(position);
        {
            let mut marks = lock(&self.marks);
            while marks.front().is_some_and(|(end, _)| *end <= position) {
                marks.pop_front();
            }
        }
        self.release(position);
    }

    /// Delete the segments wholly before `applied` (never the last one).
    fn release(&self, applied: u64) {
        let doomed: Vec<u64> = {
            let segs = lock(&self.segments);
            segs.windows(2)
                .take_while(|w| w[1] <= applied)
                .map(|w| w[0])
                .collect()
        };
        for start in doomed {
            let path = self.dir.join(format::segment_name(start));
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot delete an applied log segment");
                    continue;
                }
            }
            lock(&self.segments).retain(|s| *s != start);
        }
    }

    /// Wait (at most `timeout`) until more than `pos` is durable.
    pub fn wait_beyond(&self, pos: u64, timeout: Duration) {
        let (m, cv) = &self.wake;
        let guard = lock(m);
        if self.durable_end() > pos || self.closed.load(Ordering::Acquire) {
            return;
        }
        let _ = cv.wait_timeout(guard, timeout);
    }

    fn notify(&self) {
        let (m, cv) = &self.wake;
        let _g = lock(m);
        cv.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Job {
    framed: Vec<u8>,
    records: u64,
    reply: oneshot::Sender<Result<u64, AppendError>>,
}

/// The handle requests append through.
#[derive(Clone)]
pub struct IngestLog {
    tx: mpsc::UnboundedSender<Job>,
    pub shared: Arc<Shared>,
}

/// What opening found.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Bytes of a torn tail cut off (never acknowledged).
    pub cut_bytes: u64,
    /// Records waiting to be applied.
    pub unapplied_records: u64,
    pub unapplied_bytes: u64,
}

impl IngestLog {
    /// Open (or create) the log in `dir` for a store that has applied it up
    /// to `applied`, and start the appender thread.
    pub fn open(
        dir: &Path,
        applied: u64,
        config: LogConfig,
    ) -> Result<(IngestLog, Recovered, std::thread::JoinHandle<()>), OpenError> {
        let err = |message: String| OpenError {
            dir: dir.display().to_string(),
            message,
        };
        fs::create_dir_all(dir).map_err(|e| err(format!("cannot create it: {e}")))?;
        let mut segments = list_segments(dir).map_err(|e| err(format!("cannot list it: {e}")))?;
        let mut recovered = Recovered::default();
        if segments.is_empty() && applied > 0 {
            return Err(err(format!(
                "it has no segment, but the store has applied it up to position {applied}: \
                 the log was removed or the database belongs to another data directory; \
                 restore the log, or move the database aside to start empty"
            )));
        }
        if let Some(&first) = segments.first()
            && first > applied
        {
            return Err(err(format!(
                "the store has applied it up to position {applied}, but its first segment \
                 starts at {first}: the segments holding positions {applied}..{first} were \
                 deleted before they were applied (acknowledged writes are missing); restore \
                 them from a backup of the data directory"
            )));
        }
        // Segments wholly applied are no longer needed.
        while segments.len() > 1 && segments[1] <= applied {
            let start = segments.remove(0);
            let _ = fs::remove_file(dir.join(format::segment_name(start)));
        }
        // Check the segments still needed, cut a torn tail off the last.
        let mut end = segments.first().copied().unwrap_or(applied);
        for (i, &start) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            if start != end {
                return Err(err(format!(
                    "segment {} starts at position {start}, but the one before it ends at {end}",
                    format::segment_name(start)
                )));
            }
            let scan = scan_segment(dir, start, applied, last).map_err(&err)?;
            recovered.cut_bytes += scan.cut_bytes;
            recovered.unapplied_records += scan.records_after_applied;
            end = scan.end;
        }
        if end < applied {
            // The store kept writes the log did not (it fsyncs on its own
            // schedule with --durability normal after a power loss): they
            // are applied, so the log continues after them.
            tracing::warn!(
                log_end = end,
                applied,
                "the ingest log ends before the position the store applied; continuing after it"
            );
            for start in segments.drain(..) {
                let _ = fs::remove_file(dir.join(format::segment_name(start)));
            }
            end = applied;
        }
        recovered.unapplied_bytes = end.saturating_sub(applied);
        let (file, active_start) = match segments.last() {
            Some(&start) => {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(dir.join(format::segment_name(start)))
                    .map_err(|e| err(format!("cannot open its last segment: {e}")))?;
                (file, start)
            }
            None => {
                let file = create_segment(dir, end)
                    .map_err(|e| err(format!("cannot create a segment: {e}")))?;
                segments.push(end);
                (file, end)
            }
        };
        let (applied_tx, _) = watch::channel(applied);
        let mut marks = VecDeque::new();
        marks.push_back((end, Instant::now()));
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            durable_end: AtomicU64::new(end),
            appended_records: AtomicU64::new(recovered.unapplied_records),
            applied_records: AtomicU64::new(0),
            segments: Mutex::new(segments),
            wake: (Mutex::new(()), Condvar::new()),
            applied: applied_tx,
            marks: Mutex::new(marks),
            disk_full: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let appender = Appender {
            shared: shared.clone(),
            config,
            file,
            active_start,
            active_len: end - active_start,
        };
        let handle = std::thread::Builder::new()
            .name("hive-log".into())
            .spawn(move || appender.run(rx))
            .map_err(|e| err(format!("cannot start its thread: {e}")))?;
        Ok((IngestLog { tx, shared }, recovered, handle))
    }

    /// Append one record; resolves with the position after it once it is
    /// written (and fsynced when the log syncs).
    pub async fn append(&self, payload: &[u8]) -> Result<u64, AppendError> {
        let mut record = format::RecordBuf::with_capacity(payload.len());
        record.payload().extend_from_slice(payload);
        self.append_record(record).await
    }

    /// [`IngestLog::append`] a record built in place.
    pub async fn append_record(&self, record: format::RecordBuf) -> Result<u64, AppendError> {
        let framed = record.finish();
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job {
                framed,
                records: 1,
                reply,
            })
            .map_err(|_| AppendError::Closed)?;
        rx.await.map_err(|_| AppendError::Closed)?
    }

    /// Stop taking appends; the appender thread ends once every handle is
    /// dropped.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        self.shared.notify();
    }
}

fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(start) = entry
            .file_name()
            .to_str()
            .and_then(format::parse_segment_name)
        {
            found.push(start);
        }
    }
    found.sort_unstable();
    Ok(found)
}

fn create_segment(dir: &Path, start: u64) -> io::Result<File> {
    let path = dir.join(format::segment_name(start));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    let written = file
        .write_all_at(&format::segment_header(start), 0)
        .and_then(|()| file.sync_all())
        .and_then(|()| File::open(dir)?.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    Ok(file)
}

struct Scan {
    end: u64,
    cut_bytes: u64,
    records_after_applied: u64,
}

/// Read a segment through: check every record, count those at or after
/// `applied`, and cut a torn tail off the last segment. A bad record in any
/// other segment, or a header that does not match, is an error.
fn scan_segment(dir: &Path, start: u64, applied: u64, last: bool) -> Result<Scan, String> {
    let name = format::segment_name(start);
    let path = dir.join(&name);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open segment {name}: {e}"))?;
    let len = file
        .metadata()
        .map_err(|e| format!("cannot read segment {name}: {e}"))?
        .len();
    let mut header = [0u8; SEGMENT_HEADER as usize];
    if len < SEGMENT_HEADER {
        if last {
            // Cut while being created: nothing was ever written to it.
            file.set_len(0)
                .and_then(|()| file.write_all_at(&format::segment_header(start), 0))
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot repair segment {name}: {e}"))?;
            return Ok(Scan {
                end: start,
                cut_bytes: 0,
                records_after_applied: 0,
            });
        }
        return Err(format!("segment {name} is shorter than its header"));
    }
    file.read_exact_at(&mut header, 0)
        .map_err(|e| format!("cannot read segment {name}: {e}"))?;
    format::check_header(&header, start).map_err(|e| format!("segment {name}: {e}"))?;
    let mut reader = BufReader::with_capacity(1 << 20, &file);
    reader
        .seek(SeekFrom::Start(SEGMENT_HEADER))
        .map_err(|e| format!("cannot read segment {name}: {e}"))?;
    let mut pos = start;
    let mut records = 0u64;
    loop {
        match format::read_record(&mut reader)
            .map_err(|e| format!("cannot read segment {name}: {e}"))?
        {
            Next::Record(payload) => {
                if pos >= applied {
                    records += 1;
                }
                pos += (format::RECORD_HEADER + payload.len()) as u64;
            }
            Next::End => {
                return Ok(Scan {
                    end: pos,
                    cut_bytes: 0,
                    records_after_applied: records,
                });
            }
            Next::Bad(reason) => {
                let offset = SEGMENT_HEADER + (pos - start);
                if !last {
                    return Err(format!(
                        "segment {name} is corrupt at byte {offset} ({reason}); it is not the last \
                         segment, so acknowledged writes would be lost: restore it from a backup"
                    ));
                }
                if pos < applied {
                    return Err(format!(
                        "segment {name} is corrupt at byte {offset} ({reason}), before the \
                         position the store applied ({applied})"
                    ));
                }
                let cut = len - offset;
                tracing::warn!(
                    segment = %name,
                    offset,
                    bytes = cut,
                    %reason,
                    "cutting a torn tail off the ingest log (writes never acknowledged)"
                );
                drop(reader);
                file.set_len(offset)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| format!("cannot cut the torn tail of segment {name}: {e}"))?;
                return Ok(Scan {
                    end: pos,
                    cut_bytes: cut,
                    records_after_applied: records,
                });
            }
        }
    }
}

struct Appender {
    shared: Arc<Shared>,
    config: LogConfig,
    file: File,
    active_start: u64,
    /// Record bytes in the active segment.
    active_len: u64,
}

impl Appender {
    fn run(mut self, mut rx: mpsc::UnboundedReceiver<Job>) {
        while let Some(first) = rx.blocking_recv() {
            let mut bytes = first.framed.len();
            let mut jobs = vec![first];
            while bytes < self.config.max_group_bytes {
                match rx.try_recv() {
                    Ok(job) => {
                        bytes += job.framed.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            let result = self.write(&jobs);
            match result {
                Ok(()) => {
                    if self.shared.disk_full.swap(false, Ordering::Relaxed) {
                        tracing::info!("the ingest log takes writes again (disk space freed)");
                    }
                    let mut end = self.active_start + self.active_len - bytes as u64;
                    let records: u64 = jobs.iter().map(|j| j.records).sum();
                    self.shared
                        .appended_records
                        .fetch_add(records, Ordering::Relaxed);
                    let group_end = self.active_start + self.active_len;
                    {
                        let mut marks = lock(&self.shared.marks);
                        if marks
                            .back()
                            .is_none_or(|(_, at)| at.elapsed() >= Duration::from_millis(10))
                        {
                            marks.push_back((group_end, Instant::now()));
                        }
                    }
                    self.shared.durable_end.store(group_end, Ordering::Release);
                    self.shared.notify();
                    for job in jobs {
                        end += job.framed.len() as u64;
                        let _ = job.reply.send(Ok(end));
                    }
                }
                Err(e) => {
                    // Said once per episode of a full disk; other errors each time.
                    let full = matches!(e, AppendError::DiskFull(_));
                    if !full || !self.shared.disk_full.swap(true, Ordering::Relaxed) {
                        tracing::warn!(error = %e, requests = jobs.len(), "cannot append to the ingest log");
                    }
                    for job in jobs {
                        let _ = job.reply.send(Err(e.clone()));
                    }
                }
            }
        }
        if let Err(e) = self.file.sync_all() {
            tracing::warn!(error = %e, "final fsync of the ingest log failed");
        }
        tracing::debug!("ingest log closed");
    }

    /// Write a group at the end of the active segment (rolling first when
    /// it is full). On failure the segment is cut back to where it was.
    fn write(&mut self, jobs: &[Job]) -> Result<(), AppendError> {
        if self.active_len >= self.config.segment_bytes {
            self.roll().map_err(AppendError::of)?;
        }
        let base = self.active_len;
        let mut offset = base;
        let written = (|| {
            for job in jobs {
                self.file
                    .write_all_at(&job.framed, SEGMENT_HEADER + offset)?;
                offset += job.framed.len() as u64;
            }
            if self.config.sync {
                self.file.sync_data()?;
            }
            Ok::<(), io::Error>(())
        })();
        match written {
            Ok(()) => {
                self.active_len = offset;
                Ok(())
            }
            Err(e) => {
                // Leave nothing of a failed group behind: later appends go
                // where it began.
                if let Err(cut) = self.file.set_len(SEGMENT_HEADER + base) {
                    tracing::error!(error = %cut, "cannot cut a failed append off the ingest log");
                }
                Err(AppendError::of(e))
            }
        }
    }

    /// Close the active segment and begin the next one.
    fn roll(&mut self) -> io::Result<()> {
        self.file.sync_all()?;
        let start = self.active_start + self.active_len;
        let file = create_segment(&self.shared.dir, start)?;
        self.file = file;
        self.active_start = start;
        self.active_len = 0;
        lock(&self.shared.segments).push(start);
        Ok(())
    }
}

/// Reads records in order from a position, never past what is durable
/// (with positioned reads: bytes past the durable end may be half written).
pub struct LogReader {
    shared: Arc<Shared>,
    pos: u64,
    current: Option<(u64, File)>,
}

impl LogReader {
    pub fn new(shared: Arc<Shared>, from: u64) -> LogReader {
        LogReader {
            shared,
            pos: from,
            current: None,
        }
    }

    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The next record and the position after it, or `None` when nothing
    /// more is durable yet.
    pub fn next_record(&mut self) -> io::Result<Option<(Vec<u8>, u64)>> {
        let durable = self.shared.durable_end();
        if self.pos >= durable {
            return Ok(None);
        }
        // A segment ends where the next begins; the appender lists a new
        // segment before any of it becomes durable.
        let start = {
            let segs = lock(&self.shared.segments);
            match segs.iter().rev().find(|s| **s <= self.pos) {
                Some(s) => *s,
                None => {
                    return Err(io::Error::other(format!(
                        "no segment holds position {}",
                        self.pos
                    )));
                }
            }
        };
        if self.current.as_ref().is_none_or(|(s, _)| *s != start) {
            let file = File::open(self.shared.dir.join(format::segment_name(start)))?;
            self.current = Some((start, file));
        }
        let Some((_, file)) = self.current.as_ref() else {
            return Ok(None);
        };
        let offset = SEGMENT_HEADER + (self.pos - start);
        let corrupt = |reason: String| {
            io::Error::other(format!(
                "the ingest log is corrupt at position {}: {reason}",
                self.pos
            ))
        };
        let mut header = [0u8; format::RECORD_HEADER];
        file.read_exact_at(&mut header, offset)
            .map_err(|e| corrupt(format!("cannot read a record header: {e}")))?;
        let (len, crc) = format::parse_record_header(&header).map_err(corrupt)?;
        let end = self.pos + (format::RECORD_HEADER + len) as u64;
        if end > durable {
            return Err(corrupt(format!(
                "a record of {len} bytes runs past the durable end {durable}"
            )));
        }
        let mut payload = vec![0u8; len];
        file.read_exact_at(&mut payload, offset + format::RECORD_HEADER as u64)
            .map_err(|e| corrupt(format!("cannot read a record: {e}")))?;
        if crc32fast::hash(&payload) != crc {
            return Err(corrupt(format!(
                "a record of {len} bytes fails its checksum"
            )));
        }
        self.pos = end;
        Ok(Some((payload, end)))
    }
}

#[cfg(test)]
mod tests;
