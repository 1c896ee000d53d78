//! What the ClickHouse end-to-end tests share: ClickHouse servers they
//! start on 127.0.0.1 (Debian's `clickhouse-server`, 18.16; the
//! `CLICKHOUSE_SERVER` variable names another binary) and can kill, pause
//! and restart on the same data, `hive serve` processes, and a small
//! HTTP/1.1 client.
//!
//! Without a ClickHouse binary the tests pass with a message saying they
//! were skipped, unless `HIVE_E2E_REQUIRED` is set: then they fail.

#![allow(dead_code)]

pub mod two_nodes;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub use hive_store::conformance::free_port;

fn binary() -> PathBuf {
    std::env::var_os("CLICKHOUSE_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/clickhouse-server"))
}

/// The user hive connects as, and its password.
pub const USER: &str = "hive";
pub const PASSWORD: &str = "hive-test";

/// A ClickHouse server of the test's own, with its data in `root`.
pub struct ClickHouse {
    pub root: PathBuf,
    pub http: u16,
    pub tcp: u16,
    /// Extra configuration (inside `<yandex>`), e.g. `remote_servers`.
    extra: String,
    pid: Option<u32>,
}

impl ClickHouse {
    /// Whether the ClickHouse binary is there (`false`: skip the test;
    /// panics under `HIVE_E2E_REQUIRED`).
    pub fn available() -> bool {
        let bin = binary();
        if bin.exists() {
            return true;
        }
        let why = format!(
            "{} is absent (scripts/clickhouse-test installs it)",
            bin.display()
        );
        if std::env::var_os("HIVE_E2E_REQUIRED").is_some() {
            panic!("ClickHouse is required (HIVE_E2E_REQUIRED): {why}");
        }
        eprintln!("skipped: no ClickHouse server: {why}");
        false
    }

    /// Start a server on fresh ports with its data under `root`.
    pub fn start_new(root: &Path) -> ClickHouse {
        let mut ch = ClickHouse::configure(root, free_port(), free_port(), "");
        ch.start();
        ch
    }

    /// A server not yet started. Ports are chosen by the caller, so
    /// servers that name each other (a cluster) can be configured
    /// together; `extra` goes inside `<yandex>` (e.g. `remote_servers`).
    pub fn configure(root: &Path, http: u16, tcp: u16, extra: &str) -> ClickHouse {
        let ch = ClickHouse {
            root: root.to_owned(),
            http,
            tcp,
            extra: extra.to_owned(),
            pid: None,
        };
        ch.write_config();
        ch
    }

    /// Give the user hive connects as another password (the server reads
    /// its users' file again within about 2 s).
    pub fn set_password(&self, password: &str) {
        self.write_users(password);
    }

    /// Run a statement as hive's user with `password`: whether it is
    /// accepted.
    pub fn accepts_password(&self, password: &str) -> bool {
        matches!(
            request(
                &format!("127.0.0.1:{}", self.http),
                "POST",
                &format!("/?user={USER}&password={password}"),
                &[],
                b"SELECT 1",
                Duration::from_secs(10),
            ),
            Some((200, _))
        )
    }

    fn write_users(&self, password: &str) {
        // Whole (renamed into place): the server may read it at any time.
        let tmp = self.root.join("users.xml.tmp");
        std::fs::write(
            &tmp,
            format!(
                r#"<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default>
    <{USER}><password>{password}</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></{USER}>
  </users>
  <quotas><default></default></quotas>
</yandex>"#
            ),
        )
        .unwrap();
        // ClickHouse notices a changed file by its modification time, in
        // whole seconds: a rewrite within the second of the last write
        // would go unseen, so the new file is dated past the old one.
        let path = self.root.join("users.xml");
        if let Ok(old) = std::fs::metadata(&path).and_then(|m| m.modified()) {
            let later = std::time::SystemTime::now().max(old + Duration::from_secs(2));
            std::fs::File::options()
                .write(true)
                .open(&tmp)
                .and_then(|f| f.set_modified(later))
                .unwrap();
        }
        std::fs::rename(&tmp, path).unwrap();
    }

    fn write_config(&self) {
        std::fs::create_dir_all(&self.root).unwrap();
        self.write_users(PASSWORD);
        std::fs::write(
            self.root.join("config.xml"),
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
  <!-- As deploy/clickhouse/ recommends (ADR 0015). -->
  <compression><case><min_part_size>0</min_part_size><min_part_size_ratio>0</min_part_size_ratio><method>zstd</method></case></compression>
  <users_config>{users}</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  {extra}
</yandex>"#,
                http = self.http,
                tcp = self.tcp,
                data = self.root.join("data").display(),
                users = self.root.join("users.xml").display(),
                extra = self.extra,
            ),
        )
        .unwrap();
    }

    /// Start the server (again, on the same data and ports) and wait until
    /// it answers. A watchdog shell stops it when this test process ends.
    pub fn start(&mut self) {
        let pid_file = self.root.join("server.pid");
        let _ = std::fs::remove_file(&pid_file);
        let script = format!(
            "'{bin}' --config-file='{cfg}' >>'{log}' 2>&1 & s=$!; echo $s >'{pid}'; \
             while kill -0 {me} 2>/dev/null && kill -0 $s 2>/dev/null; do sleep 0.5; done; kill -9 $s 2>/dev/null",
            bin = binary().display(),
            cfg = self.root.join("config.xml").display(),
            log = self.root.join("server.log").display(),
            pid = pid_file.display(),
            me = std::process::id(),
        );
        // (Its output goes to the log: a watchdog holding the test's own
        // stdout would outlive the test, which nextest reports as a leak.)
        let mut shell = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start clickhouse-server");
        std::thread::spawn(move || shell.wait());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.pid.is_none() {
                self.pid = std::fs::read_to_string(&pid_file)
                    .ok()
                    .and_then(|p| p.trim().parse().ok());
            }
            if self.pid.is_some() && self.query("SELECT 1").is_ok() {
                return;
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default();
                panic!("clickhouse-server did not start: {log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, sig: &str) {
        let pid = self.pid.expect("the server runs");
        let ok = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {pid}");
    }

    /// `kill -9` the server and wait until its port is closed.
    pub fn kill(&mut self) {
        self.signal("-KILL");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.http)).is_ok() {
            assert!(Instant::now() < deadline, "clickhouse-server does not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
        self.pid = None;
    }

    /// Freeze the server (SIGSTOP): connections are accepted by the kernel
    /// and never answered, as with a server stuck or far too slow.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// The URL hive connects with, for `database`.
    pub fn url(&self, database: &str) -> String {
        format!(
            "http://{USER}:{PASSWORD}@127.0.0.1:{}/{database}",
            self.http
        )
    }

    /// Run a statement as the default user; the body of the answer.
    pub fn query(&self, sql: &str) -> Result<String, String> {
        match request(
            &format!("127.0.0.1:{}", self.http),
            "POST",
            "/",
            &[],
            sql.as_bytes(),
            Duration::from_secs(30),
        ) {
            Some((200, body)) => Ok(body),
            Some((status, body)) => Err(format!("{status}: {body}")),
            None => Err("no answer".into()),
        }
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        // SIGKILL stops a paused server too.
        if let Some(pid) = self.pid {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

/// A ZooKeeper server (Debian's `zookeeper` package) on 127.0.0.1, for
/// ClickHouse's distributed DDL and replication. Stops with the test.
pub struct ZooKeeper {
    pub port: u16,
    child: Child,
}

impl ZooKeeper {
    /// The jar of Debian's package (`ZOOKEEPER_JAR` names another).
    fn jar() -> PathBuf {
        std::env::var_os("ZOOKEEPER_JAR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/share/java/zookeeper.jar"))
    }

    /// Whether ZooKeeper and java are there (`false`: skip; panics under
    /// `HIVE_E2E_REQUIRED`).
    pub fn available() -> bool {
        let java = Command::new("java")
            .arg("-version")
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if java && Self::jar().exists() {
            return true;
        }
        let why = format!(
            "java or {} is absent (scripts/clickhouse-test installs zookeeper)",
            Self::jar().display()
        );
        if std::env::var_os("HIVE_E2E_REQUIRED").is_some() {
            panic!("ZooKeeper is required (HIVE_E2E_REQUIRED): {why}");
        }
        eprintln!("skipped: no ZooKeeper: {why}");
        false
    }

    pub fn start(root: &Path) -> ZooKeeper {
        std::fs::create_dir_all(root.join("data")).unwrap();
        let port = free_port();
        let cfg = root.join("zoo.cfg");
        std::fs::write(
            &cfg,
            format!(
                "tickTime=500\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                 admin.enableServer=false\n4lw.commands.whitelist=srvr,ruok\n",
                root.join("data").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(root.join("zookeeper.log")).unwrap();
        let child = Command::new("java")
            .args(["-Xmx128m", "-cp"])
            .arg(Self::jar())
            .arg("org.apache.zookeeper.server.ZooKeeperServerMain")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start zookeeper");
        // Serving sessions, not only answering: ClickHouse 18.16 whose
        // first connection to a ZooKeeper still loading fails may crash on
        // its distributed DDL. `srvr` says "Mode:" once it serves.
        let serving = || -> Option<bool> {
            let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            s.write_all(b"srvr").ok()?;
            let mut out = String::new();
            s.read_to_string(&mut out).ok()?;
            Some(out.contains("Mode:"))
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while serving() != Some(true) {
            assert!(Instant::now() < deadline, "zookeeper did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        ZooKeeper { port, child }
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The configuration (inside `<yandex>`) of one server of a cluster named
/// `hive` whose shards are the servers at `shards` (TCP ports on
/// 127.0.0.1), with distributed DDL through ZooKeeper at `zk`. The same as
/// `deploy/clickhouse/cluster/` but for the ports.
pub fn cluster_config(shards: &[u16], zk: u16, shard: usize) -> String {
    let shards: String = shards
        .iter()
        .map(|p| {
            format!("<shard><replica><host>127.0.0.1</host><port>{p}</port></replica></shard>")
        })
        .collect();
    format!(
        "<zookeeper><node><host>127.0.0.1</host><port>{zk}</port></node></zookeeper>\n\
         <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>\n\
         <remote_servers><hive>{shards}</hive></remote_servers>\n\
         <macros><shard>{shard}</shard><replica>r1</replica></macros>"
    )
}

/// Two ClickHouse servers of one cluster under `root` (`{name}1`,
/// `{name}2`), started: `config(tcp_ports, n)` is server `n`'s (1-based)
/// configuration, given both servers' TCP ports.
pub fn start_pair(
    root: &Path,
    name: &str,
    config: impl Fn(&[u16], usize) -> String,
) -> Vec<ClickHouse> {
    let tcp = [free_port(), free_port()];
    let mut servers: Vec<ClickHouse> = (0..2)
        .map(|i| {
            ClickHouse::configure(
                &root.join(format!("{name}{}", i + 1)),
                free_port(),
                tcp[i],
                &config(&tcp, i + 1),
            )
        })
        .collect();
    for s in &mut servers {
        s.start();
    }
    servers
}

/// The configuration (inside `<yandex>`) of replica `replica` (1-based) of
/// a cluster named `hive` of one shard whose replicas are the servers at
/// `replicas` (TCP ports on 127.0.0.1), as `deploy/clickhouse/replicated/`
/// has it: replicas fetch parts from each other at `interserver`, and
/// ZooKeeper at `zk` gives up on a dead replica's session after 4 s. The
/// same replicas are also a cluster `hive_no_database` that does not give
/// them hive's database as their default, as hive requires.
pub fn replica_config(replicas: &[u16], zk: u16, replica: usize, interserver: u16) -> String {
    let list = |database: &str| -> String {
        replicas
            .iter()
            .map(|p| format!("<replica><host>127.0.0.1</host><port>{p}</port>{database}</replica>"))
            .collect()
    };
    let (replicas, bare) = (list("<default_database>hive</default_database>"), list(""));
    format!(
        "<zookeeper><node><host>127.0.0.1</host><port>{zk}</port></node>\
         <session_timeout_ms>4000</session_timeout_ms></zookeeper>\n\
         <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>\n\
         <interserver_http_port>{interserver}</interserver_http_port>\n\
         <interserver_http_host>127.0.0.1</interserver_http_host>\n\
         <remote_servers><hive><shard><internal_replication>true</internal_replication>\
         {replicas}</shard></hive><hive_no_database><shard>\
         <internal_replication>true</internal_replication>{bare}</shard></hive_no_database>\
         </remote_servers>\n\
         <macros><shard>1</shard><replica>r{replica}</replica></macros>"
    )
}

/// Start `sessions`, then send them spans and session enrichments from
/// the clients numbered `clients` (a span's id is made of its client's
/// number and its place: calls that must not write the same spans take
/// other numbers), `ops` requests each, spread over `nodes`; what was
/// acknowledged, per session.
pub fn write_through(
    nodes: &[String],
    key: &str,
    sessions: &[String],
    clients: std::ops::Range<usize>,
    ops: usize,
) -> Vec<Acked> {
    for (i, session) in sessions.iter().enumerate() {
        let body = serde_json::json!({"session": {"session_id": session}}).to_string();
        let (status, body) = api(
            &nodes[i % nodes.len()],
            "POST",
            "/session/start",
            key,
            &body,
        )
        .unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let threads: Vec<_> = clients
        .map(|c| {
            let (nodes, key, sessions) = (nodes.to_vec(), key.to_owned(), sessions.to_vec());
            std::thread::spawn(move || {
                let mut acked = vec![Acked::default(); sessions.len()];
                for seq in 1..=ops {
                    let s = (seq + c) % sessions.len();
                    let addr = &nodes[(seq + c) % nodes.len()];
                    if seq % 2 == 0 {
                        let (status, body) = api(
                            addr,
                            "POST",
                            "/opentelemetry/v1/traces",
                            &key,
                            &span_json(&sessions[s], c, seq),
                        )
                        .unwrap();
                        assert_eq!(status, 200, "{body}");
                        acked[s].spans.insert((c, seq));
                    } else {
                        let k = format!("c{c}_{seq}");
                        let body =
                            serde_json::json!({"event_id": sessions[s], "metadata": {&k: seq}});
                        let (status, body) =
                            api(addr, "PUT", "/events", &key, &body.to_string()).unwrap();
                        assert_eq!(status, 200, "{body}");
                        acked[s].keys.insert(k);
                    }
                }
                acked
            })
        })
        .collect();
    let mut acked = vec![Acked::default(); sessions.len()];
    for t in threads {
        for (i, a) in t.join().unwrap().into_iter().enumerate() {
            acked[i].spans.extend(a.spans);
            acked[i].keys.extend(a.keys);
        }
    }
    acked
}

/// Run `hive ARGS` and wait (at most 20 s) for it to end: (exit code,
/// stderr, how long it ran).
pub fn run_hive(args: &[&str], data_dir: &std::path::Path) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hive"))
        .args(args)
        .env_remove("HIVE_CLICKHOUSE_URL")
        .env("HIVE_DATA_DIR", data_dir)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hive");
    let deadline = started + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hive {args:?} still runs after 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code(), stderr, started.elapsed())
}

/// A `hive serve` process.
pub struct Hive {
    pub child: Child,
    pub addr: String,
    /// The admin key, printed on the first start of a data directory.
    pub key: Option<String>,
    /// Every line it wrote to stderr so far.
    pub output: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Hive {
    /// Start `hive serve` on `data_dir` with `extra` arguments; wait until
    /// it listens.
    /// `HIVE_TEST_SERVER_LOG=LEVEL` shows its log at that level.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Hive {
        let level = std::env::var("HIVE_TEST_SERVER_LOG").unwrap_or_else(|_| "warn".into());
        let mut child = Command::new(env!("CARGO_BIN_EXE_hive"))
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--grpc-addr",
                "off",
                "--log",
                &level,
            ])
            .args(extra)
            .arg("--data-dir")
            .arg(data_dir)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start hive serve");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let (mut key, mut addr) = (None, None);
        let mut seen = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(k) = line.trim().strip_prefix("HH_API_KEY=") {
                key = Some(k.to_owned());
            }
            if let Some(rest) = line.strip_prefix("listening on http://") {
                addr = rest.split_whitespace().next().map(str::to_owned);
                break;
            }
            seen.push(line);
        }
        let verbose = std::env::var_os("HIVE_TEST_SERVER_LOG").is_some();
        let addr = addr.unwrap_or_else(|| panic!("hive serve did not start: {}", seen.join("\n")));
        let output = std::sync::Arc::new(std::sync::Mutex::new(seen));
        let sink = output.clone();
        std::thread::spawn(move || {
            for l in lines.map_while(Result::ok) {
                if verbose {
                    eprintln!("hive: {l}");
                }
                sink.lock().unwrap().push(l);
            }
        });
        Hive {
            child,
            addr,
            key,
            output,
        }
    }

    /// The admin key of a first start. It is printed before the node
    /// listens, or, when its ClickHouse was not ready at start (a
    /// cluster's distributed DDL still queued, under load), once the
    /// schema is in place and the first key made: waited for at most
    /// `timeout`.
    pub fn admin_key(&self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(k) = &self.key {
                return Some(k.clone());
            }
            let printed = self
                .output
                .lock()
                .unwrap()
                .iter()
                .find_map(|l| l.trim().strip_prefix("HH_API_KEY=").map(str::to_owned));
            if printed.is_some() || Instant::now() > deadline {
                return printed;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether a line of its stderr so far contains `text`.
    pub fn said(&self, text: &str) -> bool {
        self.output.lock().unwrap().iter().any(|l| l.contains(text))
    }

    /// Stop it as an operator does (SIGTERM): it applies its ingest log
    /// and exits.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the server did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Hive {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One HTTP/1.1 request on its own connection: (status, body); `None` on
/// a transport error.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Option<(u16, String)> {
    request_with_head(addr, method, path, headers, body, timeout).map(|(s, _, b)| (s, b))
}

/// [`request`], with the response's head too: (status, head, body).
pub fn request_with_head(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out);
    let status: u16 = text.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Some((status, head.to_owned(), body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A JSON request to hive with a bearer key: (status, JSON body).
pub fn api(addr: &str, method: &str, path: &str, key: &str, body: &str) -> Option<(u16, Value)> {
    let auth = format!("Bearer {key}");
    let (status, text) = request(
        addr,
        method,
        path,
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
        Duration::from_secs(30),
    )?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// GET until it answers 200 (the server starts or catches up), at most
/// `within`.
pub fn get_ready(addr: &str, key: &str, path: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let last = match api(addr, "GET", path, key, "") {
            Some((200, v)) => return v,
            other => other,
        };
        assert!(
            Instant::now() < deadline,
            "{path} does not answer 200 within {within:?}: {last:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An OTLP/JSON export of one span of `session`, carrying
/// `metadata.client` and `metadata.seq`.
pub fn span_json(session: &str, client: usize, seq: usize) -> String {
    let trace = format!("{:016x}{:016x}", client as u64 + 1, seq as u64);
    let span = format!("{:016x}", ((client as u64) << 32) | seq as u64);
    serde_json::json!({"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {"name": "e2e"}, "spans": [{
        "traceId": trace, "spanId": span, "parentSpanId": null, "name": "work", "kind": "SPAN_KIND_INTERNAL",
        "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000000001000000",
        "attributes": [
            {"key": "honeyhive.session_id", "value": {"stringValue": session}},
            {"key": "honeyhive_metadata.client", "value": {"intValue": client.to_string()}},
            {"key": "honeyhive_metadata.seq", "value": {"intValue": seq.to_string()}}
        ], "events": [], "status": {"code": "STATUS_CODE_UNSET"}}]}]}]})
    .to_string()
}

/// Writes acknowledged by hive: spans by (client, seq), enrichment keys.
#[derive(Default, Debug, Clone)]
pub struct Acked {
    pub spans: std::collections::BTreeSet<(usize, usize)>,
    pub keys: std::collections::BTreeSet<String>,
}

/// Check that `session` on the hive at `addr` has every acknowledged span
/// once, every acknowledged enrichment key in its metadata and once in its
/// history. Returns how many spans it has.
pub fn verify_session(addr: &str, key: &str, session: &str, acked: &Acked) -> usize {
    use std::collections::BTreeSet;
    let v = get_ready(
        addr,
        key,
        &format!("/v1/sessions/{session}"),
        Duration::from_secs(60),
    );
    let metadata = &v["session"]["metadata"];
    let missing: Vec<&String> = acked
        .keys
        .iter()
        .filter(|k| metadata.get(k.as_str()).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged enrichments lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let stored: Vec<(usize, usize)> = v["session"]["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["metadata"]["client"].as_u64().unwrap() as usize,
                e["metadata"]["seq"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    let distinct: BTreeSet<(usize, usize)> = stored.iter().copied().collect();
    assert_eq!(distinct.len(), stored.len(), "a span is stored twice");
    let lost: Vec<_> = acked.spans.difference(&distinct).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged spans lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert_eq!(
        metadata["num_events"].as_u64().unwrap() as usize,
        stored.len()
    );
    // Every enrichment is in the history exactly once: none was applied
    // twice by a retry or a replay.
    let history = get_ready(
        addr,
        key,
        &format!("/v1/events/{session}/history"),
        Duration::from_secs(30),
    );
    let entries = history["history"]
        .as_array()
        .or_else(|| history.as_array())
        .unwrap_or_else(|| panic!("history: {history}"));
    let mut seen = BTreeSet::new();
    for e in entries {
        if let Some(m) = e["patch"]["metadata"].as_object() {
            for k in m.keys() {
                assert!(
                    seen.insert(k.clone()),
                    "enrichment {k} is in the history twice"
                );
            }
        }
    }
    let unrecorded: Vec<&String> = acked.keys.iter().filter(|k| !seen.contains(*k)).collect();
    assert!(
        unrecorded.is_empty(),
        "acknowledged enrichments missing from the history: {unrecorded:?}"
    );
    stored.len()
}
