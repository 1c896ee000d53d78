//! The conformance suite on the ClickHouse backend, against a real
//! ClickHouse server this test starts (`/usr/sbin/clickhouse-server`,
//! Debian's 18.16; `CLICKHOUSE_SERVER` names another binary), listening on
//! 127.0.0.1 only, with its data in a temporary directory. Each case gets
//! its own database. `HIVE_CLICKHOUSE_TEST_URL` uses a running server
//! instead.
//!
//! Without a server the cases pass with a message saying they were skipped,
//! unless `HIVE_E2E_REQUIRED` is set: then they fail.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hive_store::clickhouse::ClickHouseStore;

struct Server {
    url: String,
    _dir: Option<tempfile::TempDir>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn binary() -> PathBuf {
    std::env::var_os("CLICKHOUSE_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/clickhouse-server"))
}

fn start() -> Result<Server, String> {
    if let Ok(url) = std::env::var("HIVE_CLICKHOUSE_TEST_URL") {
        return Ok(Server { url, _dir: None });
    }
    let bin = binary();
    if !bin.exists() {
        return Err(format!(
            "{} is absent (scripts/clickhouse-test installs it)",
            bin.display()
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (http, tcp) = (free_port(), free_port());
    let root = dir.path();
    std::fs::write(
        root.join("users.xml"),
        r#"<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default>
    <hive><password>hive-test</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></hive>
  </users>
  <quotas><default></default></quotas>
</yandex>"#,
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(
        root.join("config.xml"),
        format!(
            r#"<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><console>1</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <path>{data}/</path>
  <tmp_path>{data}/tmp/</tmp_path>
  <mark_cache_size>67108864</mark_cache_size>
  <users_config>{users}</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
</yandex>"#,
            data = root.join("data").display(),
            users = root.join("users.xml").display(),
        ),
    )
    .map_err(|e| e.to_string())?;
    // A watchdog shell stops the server when this test process ends.
    let script = format!(
        "'{bin}' --config-file='{cfg}' >'{log}' 2>&1 & s=$!; \
         while kill -0 {me} 2>/dev/null && kill -0 $s 2>/dev/null; do sleep 0.5; done; kill $s",
        bin = bin.display(),
        cfg = root.join("config.xml").display(),
        log = root.join("server.log").display(),
        me = std::process::id(),
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", http)).is_err() {
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
            return Err(format!("clickhouse-server did not start: {log}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Server {
        url: format!("http://hive:hive-test@127.0.0.1:{http}"),
        _dir: Some(dir),
    })
}

fn server() -> Option<&'static Server> {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    match SERVER.get_or_init(start) {
        Ok(s) => Some(s),
        Err(e) if std::env::var_os("HIVE_E2E_REQUIRED").is_some() => {
            panic!("ClickHouse is required (HIVE_E2E_REQUIRED): {e}")
        }
        Err(e) => {
            eprintln!("skipped: no ClickHouse server: {e}");
            None
        }
    }
}

/// A store on a new, empty database.
fn fresh() -> Option<ClickHouseStore> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let s = server()?;
    let db = format!(
        "hive_test_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    Some(ClickHouseStore::open(&format!("{}/{db}", s.url), "test-node").expect("open"))
}

mod clickhouse {
    use super::*;
    hive_store::store_conformance_suite!(match fresh() {
        Some(s) => Box::new(s),
        None => return,
    });
}
