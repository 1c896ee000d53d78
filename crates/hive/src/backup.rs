//! `hive backup` and `hive restore`: a consistent copy of a SQLite data
//! directory, taken while the server runs, and a data directory made from
//! it (ADR 0011).
//!
//! A backup holds the database as of one moment (SQLite's online backup
//! API, in one step: a read transaction, so the server's writer goes on)
//! and the ingest log segments copied *before* that moment. So every write
//! acknowledged before the backup began is either in the database or in
//! the log tail after the database's applied position, and a server started
//! on the restored directory applies that tail at start, as after any stop.
//!
//! The file is gzip over:
//!
//! ```text
//! HIVEBAK1\n
//! manifest (one JSON line: format, version, created_at_ms, log_position,
//!           files: [{path, bytes, sha256}])\n
//! the files' bytes, in manifest order
//! HIVEEND1 | SHA-256 of everything above (32 bytes)
//! ```

use crate::now_ms;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use hive_server::ingest_log::format;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const MAGIC: &[u8] = b"HIVEBAK1\n";
const TRAILER: &[u8] = b"HIVEEND1";
/// The version of the manifest this build writes and reads.
const FORMAT: u32 = 1;
/// Longest manifest line read (a backup lists a few hundred files at most).
const MAX_MANIFEST: usize = 16 << 20;
/// What a data directory of hive holds (anything else is left out).
const KNOWN: [&str; 6] = [
    "hive.db",
    "hive.db-wal",
    "hive.db-shm",
    "hive.columns.json",
    "clickhouse-node",
    "log",
];
/// Where the README explains how to back up a ClickHouse store.
const CLICKHOUSE_DOCS: &str = "README.md, \"Operating Hive\" → \"Backup and restore\"";

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Data directory of the server (it may be running).
    #[arg(long, env = "HIVE_DATA_DIR", default_value = ".hive")]
    pub data_dir: PathBuf,
    /// The backup file to write (replaced if it exists, once the new one
    /// is complete).
    #[arg(long)]
    pub to: PathBuf,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The backup file (`hive backup --to`).
    #[arg(long)]
    pub from: PathBuf,
    /// The data directory to create. It must not exist or be empty.
    #[arg(long, env = "HIVE_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Restore into a non-empty data directory: its contents are first
    /// moved aside to DIR.before-restore-<time> (never deleted). Stop the
    /// server that uses it first.
    #[arg(long)]
    pub force: bool,
}

#[derive(Serialize, Deserialize, Debug)]
struct Manifest {
    format: u32,
    hive_version: String,
    created_at_ms: i64,
    /// How far the database had applied the ingest log.
    log_position: u64,
    files: Vec<FileEntry>,
}

#[derive(Serialize, Deserialize, Debug)]
struct FileEntry {
    /// Relative to the data directory, `/`-separated.
    path: String,
    bytes: u64,
    sha256: String,
}

/// A temporary directory removed when dropped (unless kept).
struct Staging(PathBuf);

impl Staging {
    fn beside(target: &Path, what: &str) -> Result<Staging> {
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "hive".into());
        let dir = parent.join(format!(".{name}.{what}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
        Ok(Staging(dir))
    }

    /// Keep the directory: it becomes the result.
    fn keep(mut self) -> PathBuf {
        std::mem::take(&mut self.0)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// `hive backup`.
pub fn backup(args: BackupArgs) -> Result<()> {
    let started = Instant::now();
    let data = &args.data_dir;
    let db = data.join("hive.db");
    if !db.exists() {
        if data.join("clickhouse-node").exists() {
            bail!(
                "{} belongs to a server that keeps its data in ClickHouse: `hive backup` copies \
                 the SQLite store only. Back up the ClickHouse tables with ClickHouse's own tools \
                 ({CLICKHOUSE_DOCS})",
                data.display()
            );
        }
        bail!(
            "no database in {} (hive.db): pass the --data-dir of the server",
            data.display()
        );
    }
    let staging = Staging::beside(&args.to, "partial")?;
    let dir = &staging.0;

    // 1. The log first: every write acknowledged before now is in these
    //    segments (it was written before it was acknowledged).
    let log_files = copy_log(&data.join("log"), &dir.join("log"))?;

    // 2. What else the server keeps: records it set aside and the list of
    //    columns to load at start.
    let mut others = Vec::new();
    let rejected = data.join("log").join("rejected");
    if rejected.is_dir() {
        fs::create_dir_all(dir.join("log/rejected"))?;
        for entry in fs::read_dir(&rejected)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if copy_if_present(&entry.path(), &dir.join("log/rejected").join(&name))? {
                    others.push(format!("log/rejected/{name}"));
                }
            }
        }
    }
    for name in ["hive.columns.json", "clickhouse-node"] {
        if copy_if_present(&data.join(name), &dir.join(name))? {
            others.push(name.into());
        }
    }
    for entry in fs::read_dir(data)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !KNOWN.contains(&name.as_str()) {
            eprintln!("not in the backup: {name} (not a file of hive's)");
        }
    }

    // 3. The database as of one moment, after the log was copied: its
    //    applied position is at least where the copied log begins.
    snapshot(&db, &dir.join("hive.db"))?;
    let (position, check) = inspect(&dir.join("hive.db"))?;
    if check != "ok" {
        bail!(
            "the copy of the database fails its integrity check ({check}): the database of {} \
             may be damaged; nothing was written to {}",
            data.display(),
            args.to.display()
        );
    }
    let log_files = cover_position(&dir.join("log"), log_files, position)?;

    // 4. One file: the manifest, the files, a checksum of it all.
    let mut paths = vec!["hive.db".to_owned()];
    paths.extend(log_files);
    paths.extend(others);
    let mut files = Vec::with_capacity(paths.len());
    for p in &paths {
        let (bytes, sha256) = hash_file(&dir.join(p))?;
        files.push(FileEntry {
            path: p.clone(),
            bytes,
            sha256,
        });
    }
    let manifest = Manifest {
        format: FORMAT,
        hive_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at_ms: now_ms(),
        log_position: position,
        files,
    };
    let partial = dir.join("backup");
    let written = write_archive(&partial, dir, &manifest)?;
    fs::rename(&partial, &args.to)
        .with_context(|| format!("cannot write {}", args.to.display()))?;
    sync_parent(&args.to);
    let db_bytes = manifest.files[0].bytes;
    let log_bytes: u64 = manifest
        .files
        .iter()
        .filter(|f| format::parse_segment_name(f.path.trim_start_matches("log/")).is_some())
        .map(|f| f.bytes)
        .sum();
    eprintln!(
        "backup of {} written to {}: database {:.1} MiB (integrity ok, log applied to position \
         {position}), ingest log {:.1} MiB, {} files, {:.1} MiB compressed, {:.1} s",
        data.display(),
        args.to.display(),
        mib(db_bytes),
        mib(log_bytes),
        manifest.files.len(),
        mib(written),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn copy_if_present(from: &Path, to: &Path) -> Result<bool> {
    match fs::copy(from, to) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot copy {}", from.display())),
    }
}

/// Copy the segments of the log in `from` to `to`; the relative paths of
/// those kept. A segment deleted while copying (wholly applied meanwhile)
/// makes the ones before it useless: only the run after the last missing
/// one is kept. The last segment is cut after its last whole record (the
/// server may be writing one); a damaged record in any other is an error.
fn copy_log(from: &Path, to: &Path) -> Result<Vec<String>> {
    fs::create_dir_all(to)?;
    let mut starts: Vec<u64> = match fs::read_dir(from) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(format::parse_segment_name))
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", from.display())),
    };
    starts.sort_unstable();
    let mut kept: Vec<u64> = Vec::new();
    for start in starts {
        let name = format::segment_name(start);
        if copy_if_present(&from.join(&name), &to.join(&name))? {
            kept.push(start);
        } else {
            for s in kept.drain(..) {
                let _ = fs::remove_file(to.join(format::segment_name(s)));
            }
        }
    }
    let n = kept.len();
    for (i, &start) in kept.iter().enumerate() {
        let end = check_segment(&to.join(format::segment_name(start)), start, i + 1 == n)?;
        if let Some(&next) = kept.get(i + 1)
            && next != end
        {
            bail!(
                "the ingest log of {} has a gap: segment {} ends at position {end}, the next \
                 starts at {next}",
                from.display(),
                format::segment_name(start)
            );
        }
    }
    Ok(kept
        .into_iter()
        .map(|s| format!("log/{}", format::segment_name(s)))
        .collect())
}

/// Read a copied segment through; the position after its last record. The
/// last one is cut there.
fn check_segment(path: &Path, start: u64, last: bool) -> Result<u64> {
    let name = path.display();
    let mut file = fs::OpenOptions::new().read(true).write(true).open(path)?;
    let len = file.metadata()?.len();
    if len < format::SEGMENT_HEADER {
        if !last {
            bail!("ingest log segment {name} is shorter than its header");
        }
        file.set_len(0)?;
        file.write_all(&format::segment_header(start))?;
        return Ok(start);
    }
    let mut header = [0u8; format::SEGMENT_HEADER as usize];
    file.read_exact(&mut header)?;
    format::check_header(&header, start).map_err(|e| anyhow!("segment {name}: {e}"))?;
    let mut reader = BufReader::with_capacity(1 << 20, &file);
    let mut pos = start;
    loop {
        match format::read_record(&mut reader)? {
            format::Next::Record(payload) => {
                pos += (format::RECORD_HEADER + payload.len()) as u64;
            }
            format::Next::End => return Ok(pos),
            format::Next::Bad(reason) => {
                if !last {
                    bail!(
                        "ingest log segment {name} is damaged at position {pos} ({reason}): \
                         the server would refuse to start on this log too"
                    );
                }
                drop(reader);
                // Being written while copied: not acknowledged yet.
                file.set_len(format::SEGMENT_HEADER + (pos - start))?;
                return Ok(pos);
            }
        }
    }
}

/// Make sure the copied log covers the database's applied position: it
/// must begin at or before it. Segments wholly before it are dropped; a log
/// that ends before it (everything copied was applied by then) is replaced
/// by an empty segment there, which is where the server continues.
fn cover_position(log: &Path, segments: Vec<String>, position: u64) -> Result<Vec<String>> {
    let mut starts: Vec<u64> = segments
        .iter()
        .filter_map(|p| format::parse_segment_name(p.trim_start_matches("log/")))
        .collect();
    if let Some(&first) = starts.first()
        && first > position
    {
        bail!(
            "the ingest log moved on while it was copied (its first segment starts at {first}, \
             after the database's position {position}); run the backup again"
        );
    }
    let end = match starts.last() {
        Some(&last) => {
            let len = fs::metadata(log.join(format::segment_name(last)))?.len();
            last + len.saturating_sub(format::SEGMENT_HEADER)
        }
        None => 0,
    };
    if starts.is_empty() || end < position {
        for s in starts.drain(..) {
            fs::remove_file(log.join(format::segment_name(s)))?;
        }
        fs::write(
            log.join(format::segment_name(position)),
            format::segment_header(position),
        )?;
        starts.push(position);
    }
    while starts.len() > 1 && starts[1] <= position {
        fs::remove_file(log.join(format::segment_name(starts[0])))?;
        starts.remove(0);
    }
    // The records of the first segment before the position are applied:
    // the segment is rewritten to begin there (a record boundary).
    if starts[0] < position && trim_segment(log, starts[0], position)? {
        starts[0] = position;
    }
    Ok(starts
        .into_iter()
        .map(|s| format!("log/{}", format::segment_name(s)))
        .collect())
}

/// Rewrite the copied segment starting at `start` as one starting at
/// `position`, when a record begins there; whether it was.
fn trim_segment(log: &Path, start: u64, position: u64) -> Result<bool> {
    let from = log.join(format::segment_name(start));
    let file = File::open(&from)?;
    let mut reader = BufReader::with_capacity(1 << 20, &file);
    reader.seek(SeekFrom::Start(format::SEGMENT_HEADER))?;
    let mut pos = start;
    while pos < position {
        match format::read_record(&mut reader)? {
            format::Next::Record(payload) => pos += (format::RECORD_HEADER + payload.len()) as u64,
            _ => return Ok(false),
        }
    }
    if pos != position {
        return Ok(false);
    }
    let to = log.join(format::segment_name(position));
    let mut out = BufWriter::new(File::create(&to)?);
    out.write_all(&format::segment_header(position))?;
    io::copy(&mut reader, &mut out)?;
    out.into_inner().map_err(|e| e.into_error())?;
    drop(reader);
    fs::remove_file(&from)?;
    Ok(true)
}

/// Copy the database at `src` (in use by a server, maybe) to `dst` with
/// SQLite's online backup API, in one step: one read transaction sees one
/// moment, and the server's writer is not blocked (WAL).
fn snapshot(src: &Path, dst: &Path) -> Result<()> {
    let from = Connection::open_with_flags(
        src,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open the database {}", src.display()))?;
    from.busy_timeout(Duration::from_secs(10))?;
    from.pragma_update(None, "query_only", true)?;
    let mut to =
        Connection::open(dst).with_context(|| format!("cannot create {}", dst.display()))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    {
        let backup = rusqlite::backup::Backup::new(&from, &mut to)?;
        loop {
            match backup.step(-1)? {
                rusqlite::backup::StepResult::Done => break,
                rusqlite::backup::StepResult::More => continue,
                _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                _ => bail!("the database stayed locked for 60 s; try again"),
            }
        }
    }
    // One file, no WAL beside it.
    to.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    drop(to);
    for suffix in ["-wal", "-shm"] {
        let mut p = dst.as_os_str().to_owned();
        p.push(suffix);
        let _ = fs::remove_file(PathBuf::from(p));
    }
    Ok(())
}

/// The applied log position of a database and its integrity check.
fn inspect(db: &Path) -> Result<(u64, String)> {
    let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .with_context(|| format!("cannot open {}", db.display()))?;
    let has_table: bool = c.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'events'",
        [],
        |r| r.get(0),
    )?;
    if !has_table {
        bail!("{} is not a hive database (no events table)", db.display());
    }
    let position: Option<i64> = c
        .query_row("SELECT position FROM log_position WHERE id = 1", [], |r| {
            r.get(0)
        })
        .optional()
        .unwrap_or(None);
    let mut stmt = c.prepare("PRAGMA integrity_check")?;
    let lines: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    Ok((position.unwrap_or(0).max(0) as u64, lines.join("; ")))
}

fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut f = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = Sha256::new();
    let n = io::copy(&mut f, &mut h)?;
    Ok((n, hex::encode(h.finalize())))
}

/// A writer that hashes what goes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Write the archive; its size.
fn write_archive(out: &Path, root: &Path, manifest: &Manifest) -> Result<u64> {
    let file = File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let gz = flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
    let mut w = Hashing {
        inner: gz,
        hash: Sha256::new(),
    };
    w.write_all(MAGIC)?;
    serde_json::to_writer(&mut w, manifest)?;
    w.write_all(b"\n")?;
    for f in &manifest.files {
        let mut src = File::open(root.join(&f.path))?;
        let n = io::copy(&mut (&mut src).take(f.bytes), &mut w)?;
        if n != f.bytes {
            bail!("{} changed while it was written", f.path);
        }
    }
    let digest = std::mem::take(&mut w.hash).finalize();
    let mut gz = w.inner;
    gz.write_all(TRAILER)?;
    gz.write_all(&digest)?;
    let file = gz.finish()?.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    Ok(file.metadata()?.len())
}

fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        if let Ok(d) = File::open(parent) {
            let _ = d.sync_all();
        }
    }
}

/// A reader that hashes what it reads.
struct HashingReader<R> {
    inner: R,
    hash: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for HashingReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            let n = amt.min(buf.len());
            self.hash.update(&buf[..n]);
        }
        self.inner.consume(amt);
    }
}

/// A relative path of the archive, checked to stay inside the directory.
fn safe_path(p: &str) -> Result<PathBuf> {
    let path = Path::new(p);
    let ok = !p.is_empty()
        && path.components().all(|c| matches!(c, Component::Normal(_)))
        && (p == "hive.db"
            || p == "hive.columns.json"
            || p == "clickhouse-node"
            || p.strip_prefix("log/")
                .is_some_and(|s| format::parse_segment_name(s).is_some())
            || p.strip_prefix("log/rejected/")
                .is_some_and(|s| !s.is_empty() && !s.contains('/')));
    if !ok {
        bail!("the backup names an unexpected file {p:?}");
    }
    Ok(path.to_path_buf())
}

fn corrupt(file: &Path, what: impl std::fmt::Display) -> anyhow::Error {
    anyhow!(
        "{} is not a usable hive backup: {what}; nothing was restored",
        file.display()
    )
}

/// Read and check the archive, writing its files under `dir`.
fn extract(file: &Path, dir: &Path) -> Result<Manifest> {
    let f = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let gz = flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(1 << 20, f));
    let mut r = HashingReader {
        inner: BufReader::with_capacity(1 << 20, gz),
        hash: Sha256::new(),
    };
    let bad = |e: io::Error| corrupt(file, format!("cannot read it ({e})"));
    let mut magic = vec![0u8; MAGIC.len()];
    r.read_exact(&mut magic).map_err(bad)?;
    if magic != MAGIC {
        return Err(corrupt(file, "it does not begin as a hive backup does"));
    }
    let mut line = Vec::new();
    (&mut r)
        .take(MAX_MANIFEST as u64)
        .read_until(b'\n', &mut line)
        .map_err(bad)?;
    let manifest: Manifest = serde_json::from_slice(&line)
        .map_err(|e| corrupt(file, format!("its manifest cannot be read ({e})")))?;
    if manifest.format != FORMAT {
        bail!(
            "{} is a backup of format {} (this hive reads format {FORMAT}); use the hive \
             version that wrote it ({})",
            file.display(),
            manifest.format,
            manifest.hive_version
        );
    }
    if manifest.files.first().map(|f| f.path.as_str()) != Some("hive.db") {
        return Err(corrupt(file, "it holds no database"));
    }
    for entry in &manifest.files {
        let rel = safe_path(&entry.path).map_err(|e| corrupt(file, e))?;
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut out = BufWriter::new(
            File::create(&path).with_context(|| format!("cannot create {}", path.display()))?,
        );
        let mut h = Sha256::new();
        let mut left = entry.bytes;
        let mut buf = vec![0u8; 1 << 16];
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = r.read(&mut buf[..want]).map_err(bad)?;
            if n == 0 {
                return Err(corrupt(
                    file,
                    format!("it ends inside {} (truncated)", entry.path),
                ));
            }
            h.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            left -= n as u64;
        }
        if hex::encode(h.finalize()) != entry.sha256 {
            return Err(corrupt(
                file,
                format!("{} does not match its checksum", entry.path),
            ));
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    let digest = std::mem::take(&mut r.hash).finalize();
    let mut trailer = vec![0u8; TRAILER.len() + 32];
    r.read_exact(&mut trailer)
        .map_err(|_| corrupt(file, "it ends before its checksum (truncated)"))?;
    if &trailer[..TRAILER.len()] != TRAILER || trailer[TRAILER.len()..] != digest[..] {
        return Err(corrupt(file, "its checksum does not match"));
    }
    let mut rest = [0u8; 1];
    if r.read(&mut rest).map_err(bad)? != 0 {
        return Err(corrupt(file, "it goes on after its checksum"));
    }
    Ok(manifest)
}

/// Whether a directory has anything in it.
fn is_empty_dir(dir: &Path) -> Result<bool> {
    Ok(fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .next()
        .is_none())
}

/// `hive restore`.
pub fn restore(args: RestoreArgs) -> Result<()> {
    let started = Instant::now();
    let target = &args.data_dir;
    let occupied = target.exists() && !is_empty_dir(target)?;
    if occupied && !args.force {
        bail!(
            "{} is not empty: restore into a new directory, or pass --force to move its \
             contents aside first (stop the server that uses it)",
            target.display()
        );
    }
    let staging = Staging::beside(target, "restoring")?;
    let manifest = extract(&args.from, &staging.0)?;
    let (position, check) = inspect(&staging.0.join("hive.db"))
        .map_err(|e| corrupt(&args.from, format!("its database cannot be opened ({e})")))?;
    if check != "ok" {
        return Err(corrupt(
            &args.from,
            format!("its database fails the integrity check ({check})"),
        ));
    }
    if position != manifest.log_position {
        return Err(corrupt(
            &args.from,
            format!(
                "its database says the log is applied to {position}, its manifest says {}",
                manifest.log_position
            ),
        ));
    }
    // Fsync the directories of the new tree before it takes the name.
    for d in [staging.0.clone(), staging.0.join("log")] {
        if let Ok(f) = File::open(&d) {
            let _ = f.sync_all();
        }
    }
    let mut moved_aside = None;
    if occupied {
        let aside = PathBuf::from(format!(
            "{}.before-restore-{}",
            target.display(),
            now_ms() / 1000
        ));
        fs::rename(target, &aside).with_context(|| {
            format!(
                "cannot move {} aside to {}",
                target.display(),
                aside.display()
            )
        })?;
        moved_aside = Some(aside);
    } else if target.exists() {
        fs::remove_dir(target)
            .with_context(|| format!("cannot replace the empty {}", target.display()))?;
    }
    if let Err(e) = fs::rename(&staging.0, target) {
        // Put back what was there; the staging directory is removed.
        if let Some(aside) = &moved_aside {
            let _ = fs::rename(aside, target);
        }
        return Err(e).with_context(|| {
            format!(
                "cannot move the restored files from {} to {}; nothing was restored",
                staging.0.display(),
                target.display()
            )
        });
    }
    staging.keep();
    sync_parent(target);
    let bytes: u64 = manifest.files.iter().map(|f| f.bytes).sum();
    let log_tail = log_tail_bytes(&target.join("log"), position)?;
    if let Some(aside) = moved_aside {
        eprintln!(
            "the former contents of {} are in {}",
            target.display(),
            aside.display()
        );
    }
    eprintln!(
        "restored a backup of {} into {}: {} files, {:.1} MiB, database integrity ok, log \
         applied to position {position}; {} KiB of acknowledged writes are applied at the \
         first start ({:.1} s)",
        hive_core::time::format_rfc3339_ms(manifest.created_at_ms),
        target.display(),
        manifest.files.len(),
        mib(bytes),
        log_tail.div_ceil(1024),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Bytes of log after `position` (what the server applies at start).
fn log_tail_bytes(log: &Path, position: u64) -> Result<u64> {
    let mut end = position;
    for entry in fs::read_dir(log)? {
        let entry = entry?;
        if let Some(start) = entry
            .file_name()
            .to_str()
            .and_then(format::parse_segment_name)
        {
            let mut f = File::open(entry.path())?;
            let len = f.seek(SeekFrom::End(0))?;
            end = end.max(start + len.saturating_sub(format::SEGMENT_HEADER));
        }
    }
    Ok(end - position)
}
