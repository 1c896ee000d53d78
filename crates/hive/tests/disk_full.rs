//! Disk full: on a small tmpfs (root only; elsewhere the test says it was
//! skipped), a write that cannot be logged gets 507 with a JSON message,
//! reads go on, writes resume by themselves once space is freed, and
//! nothing acknowledged is lost.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Hive, api};

fn http(addr: &str, method: &str, path: &str, key: &str, body: &str) -> (u16, Value) {
    api(addr, method, path, key, body).expect("the server answers")
}

/// A tmpfs of `mb` MiB mounted on a fresh directory, unmounted on drop.
struct Tmpfs(PathBuf, #[allow(dead_code)] tempfile::TempDir);

impl Tmpfs {
    fn mount(mb: u32) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.path().to_path_buf(), dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fill the file system with one file until it is full.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    // The last bytes: smaller writes until none fits.
    let small = vec![0u8; 512];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
}

#[test]
fn a_full_disk_answers_507_and_writes_resume_once_space_is_freed() {
    let Some(fs) = Tmpfs::mount(48) else {
        eprintln!("skipped: mounting a tmpfs needs root");
        if std::env::var_os("HIVE_E2E_REQUIRED").is_some() && is_root() {
            panic!("running as root, yet a tmpfs could not be mounted");
        }
        return;
    };
    let data = fs.0.join("data");
    let server = Hive::start(
        &data,
        &["--read-wait-ms", "3000", "--column-memory-mb", "0"],
    );
    let (addr, key) = (server.addr.clone(), server.key.clone().expect("admin key"));
    let session = "d15cf011-0000-4000-8000-000000000001";
    let (status, v) = http(
        &addr,
        "POST",
        "/session/start",
        &key,
        &json!({"session": {"session_id": session}}).to_string(),
    );
    assert_eq!(status, 200, "{v}");
    let mut acked = Vec::new();
    for i in 0..20 {
        let k = format!("before_{i}");
        let (status, v) = http(
            &addr,
            "PUT",
            "/events",
            &key,
            &json!({"event_id": session, "metadata": {&k: i}}).to_string(),
        );
        assert_eq!(status, 200, "{v}");
        acked.push(k);
    }
    // Let the applier catch up, then fill the disk.
    let (status, _) = http(&addr, "GET", &format!("/v1/sessions/{session}"), &key, "");
    assert_eq!(status, 200);
    let filler = fs.0.join("filler");
    fill(&filler);

    // Writes cannot be logged: 507, with a JSON message saying so.
    let big = "x".repeat(64 * 1024);
    let mut full = 0;
    for i in 0..40 {
        let k = format!("during_{i}");
        let body = json!({"event_id": session, "metadata": {&k: i, "pad": big}}).to_string();
        let (status, v) = http(&addr, "PUT", "/events", &key, &body);
        match status {
            200 => acked.push(k),
            507 => {
                full += 1;
                assert_eq!(v["error"]["code"], "disk_full", "{v}");
                let msg = v["message"].as_str().unwrap();
                assert!(msg.contains("disk is full"), "{msg}");
            }
            other => panic!("a write on a full disk got {other}: {v}"),
        }
    }
    assert!(full > 0, "no write was refused on a full disk");
    // Reads go on.
    let (status, v) = http(&addr, "GET", &format!("/v1/sessions/{session}"), &key, "");
    assert_eq!(status, 200, "a read on a full disk: {v}");

    // Space comes back: writes resume without a restart.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let k = format!("after_{}", acked.len());
        let (status, v) = http(
            &addr,
            "PUT",
            "/events",
            &key,
            &json!({"event_id": session, "metadata": {&k: 1}}).to_string(),
        );
        if status == 200 {
            acked.push(k);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writes did not resume: {status} {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Nothing acknowledged is lost, and the server still answers reads.
    let deadline = Instant::now() + Duration::from_secs(20);
    let metadata = loop {
        let (status, v) = http(&addr, "GET", &format!("/v1/sessions/{session}"), &key, "");
        if status == 200 {
            break v["session"]["metadata"].clone();
        }
        assert!(
            Instant::now() < deadline,
            "reads did not recover: {status} {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let lost: Vec<&String> = acked
        .iter()
        .filter(|k| metadata.get(k.as_str()).is_none())
        .collect();
    assert!(lost.is_empty(), "acknowledged enrichments lost: {lost:?}");
    drop(server);
    drop(fs);
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
