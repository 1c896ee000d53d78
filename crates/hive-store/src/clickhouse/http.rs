//! ClickHouse's HTTP interface: statements in the body, rows in and out as
//! `JSONEachRow`, credentials by HTTP basic authentication.

use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use crate::{Result, StoreError};

/// Where the server is and who we are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http://host:port` (no credentials, no path).
    pub base: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub database: String,
    /// How long one statement may take (`?timeout=SECONDS`, 60 by
    /// default); connecting may take at most 5 s of it.
    pub timeout: Duration,
    /// The cluster of `remote_servers` to shard over (`?cluster=NAME`):
    /// tables are created on every server with `ON CLUSTER` (distributed
    /// DDL needs ZooKeeper) and read and written through `Distributed`
    /// tables.
    pub cluster: Option<String>,
    /// With a cluster, replicate every shard's tables
    /// (`?replicated=true`: `Replicated*MergeTree`, the `{shard}` and
    /// `{replica}` macros of each server).
    pub replicated: bool,
    /// A database made with `?partition=month` partitions its writes by
    /// the month received instead of the day (ADR 0024): lookups by id
    /// read a granule per partition, so a project kept for years looks
    /// events up twelve partitions a year instead of 365, for reads
    /// bounded by dates about three times slower. Read when the database
    /// is made; an existing one keeps its partitions.
    pub partition_by_month: bool,
    /// With https, the certificates (DER) a server's certificate must
    /// chain to, read from the PEM file `?ca=PATH` names when the URL is
    /// parsed; without it, the web's public roots (Mozilla's, built in).
    /// For a ClickHouse whose certificate a private CA signed.
    pub ca: Option<Vec<Vec<u8>>>,
}

/// How long a statement may take unless the URL says (`?timeout=`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

impl Endpoint {
    /// Parse `http://[user[:password]@]host:port[/database]`; the database
    /// defaults to `hive`. `?database=` and `?user=`/`?password=` are also
    /// understood, `?timeout=SECONDS` bounds each statement, and with https
    /// `?ca=PATH` names the certificates (PEM) the server's must chain to.
    pub fn parse(url: &str) -> Result<Endpoint> {
        let bad = |m: &str| {
            StoreError::Invalid(format!("clickhouse url {:?}: {m}", without_password(url)))
        };
        if url.trim().is_empty() {
            // (An environment variable set to nothing, as a compose file's
            // `${VAR:-}` leaves it.)
            return Err(StoreError::Invalid(
                "the ClickHouse URL is empty (--clickhouse or HIVE_CLICKHOUSE_URL): give \
                 http[s]://host:port[/database], or leave it unset for the embedded SQLite store"
                    .to_owned(),
            ));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected http://host:port"))?;
        if scheme != "http" && scheme != "https" {
            return Err(bad("the scheme must be http or https"));
        }
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, p),
            None => (rest, ""),
        };
        let (creds, host) = match authority.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let mut ep = Endpoint {
            base: format!("{scheme}://{host}"),
            user: None,
            password: None,
            database: "hive".to_owned(),
            timeout: DEFAULT_TIMEOUT,
            cluster: None,
            replicated: false,
            partition_by_month: false,
            ca: None,
        };
        if let Some(c) = creds {
            let (u, p) = match c.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (c, None),
            };
            ep.user = Some(percent_decode(u));
            ep.password = p.map(percent_decode);
        }
        let path = path.trim_matches('/');
        if !path.is_empty() {
            ep.database = percent_decode(path);
        }
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "database" => ep.database = percent_decode(v),
                "user" => ep.user = Some(percent_decode(v)),
                "password" => ep.password = Some(percent_decode(v)),
                "cluster" => {
                    let c = percent_decode(v);
                    if c.is_empty() || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                        return Err(bad("the cluster name must be letters, digits and _"));
                    }
                    ep.cluster = Some(c);
                }
                "replicated" => {
                    ep.replicated = match v {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(bad("replicated must be true or false")),
                    }
                }
                "partition" => {
                    ep.partition_by_month = match v {
                        "month" => true,
                        "day" => false,
                        _ => return Err(bad("partition must be day or month")),
                    }
                }
                "ca" => {
                    if scheme != "https" {
                        return Err(bad(
                            "ca names the certificates of an https server: use https://",
                        ));
                    }
                    let path = percent_decode(v);
                    ep.ca = Some(read_ca(&path).map_err(|m| bad(&format!("ca {path:?}: {m}")))?);
                }
                "timeout" => {
                    let secs: f64 = v
                        .parse()
                        .ok()
                        .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
                        .ok_or_else(|| bad("timeout must be seconds, more than 0"))?;
                    ep.timeout = Duration::from_secs_f64(secs);
                }
                _ => return Err(bad(&format!("unknown parameter {k:?}"))),
            }
        }
        if ep.database.is_empty()
            || !ep
                .database
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(bad("the database name must be letters, digits and _"));
        }
        if ep.replicated && ep.cluster.is_none() {
            return Err(bad("replicated=true needs cluster=NAME"));
        }
        Ok(ep)
    }

    /// `url` with a user and a password given apart from it (the flags
    /// `--clickhouse-user` and `--clickhouse-password`, or their
    /// environment variables), as its `?user=` and `?password=`. A URL that
    /// names its own user, or gives its own password, as well is refused:
    /// which of the two was meant cannot be told.
    pub fn with_credentials(
        url: &str,
        user: Option<&str>,
        password: Option<&str>,
    ) -> Result<String> {
        let ep = Endpoint::parse(url)?;
        let bad = |what: &str, flag: &str| {
            StoreError::Invalid(format!(
                "the ClickHouse {what} is given twice: in the URL {} and by {flag} \
                 (or its environment variable); give it once",
                ep.display()
            ))
        };
        if user.is_some() && ep.user.is_some() {
            return Err(bad("user", "--clickhouse-user"));
        }
        if password.is_some() && ep.password.is_some() {
            return Err(bad("password", "--clickhouse-password"));
        }
        let mut url = url.to_owned();
        for (k, v) in [("user", user), ("password", password)] {
            if let Some(v) = v {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(&format!("{k}={}", url_encode(v)));
            }
        }
        Ok(url)
    }

    /// The URL without the password (for logs).
    pub fn display(&self) -> String {
        match &self.user {
            Some(u) => format!(
                "{}://{u}@{}/{}",
                self.base.split("://").next().unwrap_or("http"),
                self.base.split("://").nth(1).unwrap_or(""),
                self.database
            ),
            None => format!("{}/{}", self.base, self.database),
        }
    }
}

/// The certificates of the PEM file at `path`, as DER, or what is wrong
/// with it.
fn read_ca(path: &str) -> std::result::Result<Vec<Vec<u8>>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c.der().to_vec()),
            Ok(_) => {}
            Err(e) => return Err(format!("is not PEM: {e}")),
        }
    }
    match certs.is_empty() {
        true => Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned()),
        false => Ok(certs),
    }
}

/// `url` with its password (`user:password@`, `password=`) shown as
/// `***`, for messages.
fn without_password(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let mut out = match head.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(end);
            let authority = match authority.rsplit_once('@') {
                Some((creds, host)) => match creds.split_once(':') {
                    Some((user, _)) => format!("{user}:***@{host}"),
                    None => authority.to_owned(),
                },
                None => authority.to_owned(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => head.to_owned(),
    };
    if let Some(q) = query {
        let pairs: Vec<String> = q
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some(("password", _)) => "password=***".to_owned(),
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A string literal for ClickHouse SQL.
pub fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// What must hold before a statement is sent (the schema is in place); its
/// error is the statement's.
pub type Gate = Box<dyn Fn() -> Result<()> + Send + Sync>;

/// The HTTP client.
pub struct Client {
    agent: ureq::Agent,
    endpoint: Endpoint,
    auth: Option<String>,
    gate: Option<Gate>,
    /// The body of the last insert, kept for the next: an apply batch's
    /// rows are megabytes of JSON, and a body made afresh for each was
    /// copied as it grew and paged in anew (about a tenth of the
    /// applier's CPU under sustained ingest). One at a time: an insert
    /// that finds it taken makes its own.
    insert_body: std::sync::Mutex<Vec<u8>>,
    /// The settings an insert carries, found once (see
    /// [`Client::insert_settings`]).
    insert_settings: std::sync::OnceLock<&'static str>,
    /// How many replicas of a shard must hold a write that must outlive a
    /// replica (alert claims and states); 0 without replicas. Set from
    /// `system.clusters` when the schema is checked (by the schema's own
    /// client, whose value the store's shares: [`Client::sharing_quorum`]).
    quorum: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl Client {
    pub fn new(endpoint: Endpoint) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(endpoint.timeout))
            .timeout_connect(Some(endpoint.timeout.min(Duration::from_secs(5))))
            .max_idle_connections_per_host(8);
        let config = match &endpoint.ca {
            Some(ca) => {
                let roots: Vec<_> = ca
                    .iter()
                    .map(|der| ureq::tls::Certificate::from_der(der).to_owned())
                    .collect();
                config.tls_config(
                    ureq::tls::TlsConfig::builder()
                        .root_certs(ureq::tls::RootCerts::from(roots))
                        .build(),
                )
            }
            None => config,
        }
        .build();
        let auth = endpoint.user.as_ref().map(|u| {
            let pair = format!("{u}:{}", endpoint.password.as_deref().unwrap_or(""));
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        });
        Client {
            agent: ureq::Agent::new_with_config(config),
            insert_body: std::sync::Mutex::new(Vec::new()),
            insert_settings: std::sync::OnceLock::new(),
            quorum: std::sync::Arc::default(),
            endpoint,
            auth,
            gate: None,
        }
    }

    /// Use the quorum `other` is told ([`Client::set_quorum`]).
    pub fn sharing_quorum(mut self, other: &Client) -> Client {
        self.quorum = other.quorum.clone();
        self
    }

    /// Check `gate` before every statement.
    pub fn with_gate(mut self, gate: Gate) -> Client {
        self.gate = Some(gate);
        self
    }

    fn pass_gate(&self) -> Result<()> {
        match &self.gate {
            Some(g) => g(),
            None => Ok(()),
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Writes made with [`Client::insert_in_quorum`] count once `n`
    /// replicas of their shard hold them (below 2: once one does).
    pub(crate) fn set_quorum(&self, n: u32) {
        self.quorum.store(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// See [`Client::set_quorum`].
    pub(crate) fn quorum(&self) -> u32 {
        self.quorum.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// "ClickHouse at http://host:port", for messages.
    pub(crate) fn at(&self) -> String {
        format!("ClickHouse at {}", self.endpoint.base)
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> StoreError {
        let e = e.to_string();
        // A TLS handshake answered in plain HTTP: a setting to change, not
        // an outage to wait out, so the message says which.
        let https = self.endpoint.base.starts_with("https://");
        let hint = if https && (e.contains("InvalidContentType") || e.contains("corrupt message")) {
            " (the URL says https, and the port answered in plain HTTP: use http://, \
             or the port of ClickHouse's https_port)"
        } else if https && e.contains("UnknownIssuer") && self.endpoint.ca.is_none() {
            " (a certificate a private CA signed: name that CA's certificate with ?ca=PATH)"
        } else if !https && e.contains("Connection reset by peer") {
            // What a TLS port does with plain HTTP (among other causes of
            // a reset, so the hint says "if").
            " (if that is ClickHouse's https_port, the URL must say https://)"
        } else {
            ""
        };
        StoreError::Unavailable(format!("{} cannot be reached: {e}{hint}", self.at()))
    }

    /// A failed answer (`status`, `body`) as an error. Refused credentials
    /// say so, naming the user (never the password): still the
    /// environment's, as a password being rotated is, but
    /// [`ClickHouseStore::connect`](super::ClickHouseStore::connect) stops
    /// on them at first contact.
    fn failed(&self, status: u16, body: &str) -> StoreError {
        let msg = body.trim();
        if error_code(msg).is_some_and(|c| AUTHENTICATION_CODES.contains(&c)) {
            let mut msg = msg.to_owned();
            if let Some(p) = self.endpoint.password.as_deref().filter(|p| !p.is_empty()) {
                // ClickHouse does not repeat the password; should one ever
                // do, it is not shown.
                msg = msg.replace(p, "***");
            }
            return StoreError::Unavailable(format!(
                "{} refuses user {:?}: {REFUSED_CREDENTIALS} ({status}: {msg})",
                self.at(),
                self.endpoint.user.as_deref().unwrap_or("default"),
            ));
        }
        match fault(msg) {
            Fault::Environment => {
                StoreError::Unavailable(format!("{} fails ({status}): {msg}", self.at()))
            }
            Fault::Statement => StoreError::Invalid(format!(
                "{} refused the statement ({status}): {msg}",
                self.at()
            )),
        }
    }

    /// POST `body` to `url` with the credentials; no answer is an error.
    fn send(&self, url: &str, body: &[u8]) -> Result<ureq::http::Response<ureq::Body>> {
        self.send_as(url, None, body)
    }

    /// [`Client::send`] with a content type.
    fn send_as(
        &self,
        url: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let mut req = self.agent.post(url);
        if let Some(t) = content_type {
            req = req.header("Content-Type", t);
        }
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        req.send(body).map_err(|e| self.unreachable(e))
    }

    /// The URL of a statement, with the settings every statement gets.
    fn url(&self) -> String {
        // On a cluster, inserts return once every shard has its rows (a
        // write is applied when its position is recorded), and subqueries
        // over Distributed tables run once, on this server (GLOBAL IN).
        // With replicas, every node reads and writes the first healthy
        // replica of a shard, so what one node inserted the others read
        // (alert claims rely on it) while replication catches up: not the
        // replica on the server it talks to, which ClickHouse prefers
        // otherwise (`prefer_localhost_replica`). A replica more than a
        // second behind in fetching what the others took is passed over
        // for reads (ClickHouse's default bound is 300 s): one back from
        // an outage would otherwise be read, first in order, without what
        // the others took meanwhile, until it caught up. (It is read still
        // when every replica is behind. Alert claims wait 2 s before they
        // read theirs, longer than a healthy replica takes to fetch them.)
        let cluster = match (&self.endpoint.cluster, self.endpoint.replicated) {
            (None, _) => "",
            (Some(_), false) => "&insert_distributed_sync=1&distributed_product_mode=global",
            (Some(_), true) => {
                "&insert_distributed_sync=1&distributed_product_mode=global&load_balancing=in_order\
                 &prefer_localhost_replica=0&max_replica_delay_for_distributed_queries=1"
            }
        };
        format!(
            "{}/?database={}&output_format_json_quote_64bit_integers=0{cluster}",
            self.endpoint.base, self.endpoint.database
        )
    }

    fn post(&self, params: &str, body: &[u8]) -> Result<String> {
        self.pass_gate()?;
        let url = format!("{}{params}", self.url());
        let resp = self.send(&url, body)?;
        self.answer(resp)
    }

    /// An answer's text, or its failure as an error.
    fn answer(&self, mut resp: ureq::http::Response<ureq::Body>) -> Result<String> {
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(4 << 30)
            .read_to_string()
            .map_err(|e| self.unreachable(format!("reading the response: {e}")))?;
        if status != 200 {
            return Err(self.failed(status, &text));
        }
        Ok(text)
    }

    /// The rows of a query (`sql` starts with `SELECT `) in ClickHouse's
    /// `RowBinary` format, each handed to `decode` as it arrives, which
    /// reads exactly that row's columns ([`binary`]). Each row is preceded
    /// by a marker column, so an error ClickHouse writes mid-answer (text,
    /// in place of the next row) ends the stream with that error rather
    /// than being read as data.
    pub fn each_binary_row(
        &self,
        sql: &str,
        decode: impl FnMut(&mut dyn std::io::BufRead) -> Result<()>,
    ) -> Result<()> {
        self.each_binary_row_naming(sql, None, decode)
    }

    /// [`Client::each_binary_row`], with `hashes` (when given: events'
    /// ids' hashes) sent beside the statement as the external table
    /// [`NAMED`] of one column `h UInt64`, which the statement reads as
    /// `id_hash IN named`. ClickHouse parses a statement's literals one at
    /// a time (40 000 ids named in a statement took 0.48 s to parse here);
    /// an external table arrives as data (0.11 s for the same ids).
    pub fn each_binary_row_naming(
        &self,
        sql: &str,
        hashes: Option<&[u64]>,
        mut decode: impl FnMut(&mut dyn std::io::BufRead) -> Result<()>,
    ) -> Result<()> {
        use std::io::BufRead;
        let columns = sql
            .strip_prefix("SELECT ")
            .ok_or_else(|| StoreError::Invalid("a binary read must be a SELECT".into()))?;
        self.pass_gate()?;
        crate::cancel::check()?;
        // Streamed reads may name a read's events (ADR 0014): up to a few
        // MiB of them.
        let url = format!("{}&max_query_size={}", self.url(), 64 << 20);
        let statement = format!("SELECT toUInt32({ROW_MARK}), {columns} FORMAT RowBinary");
        let mut resp = match hashes {
            None => self.send(&url, statement.as_bytes())?,
            Some(hashes) => {
                let (boundary, body) = multipart(&statement, hashes);
                let url = format!("{url}&{NAMED}_structure=h%20UInt64&{NAMED}_format=RowBinary");
                self.send_as(
                    &url,
                    Some(&format!("multipart/form-data; boundary={boundary}")),
                    &body,
                )?
            }
        };
        let status = resp.status().as_u16();
        if status != 200 {
            let text = resp.body_mut().read_to_string().unwrap_or_default();
            return Err(self.failed(status, &text));
        }
        let reader = resp.body_mut().with_config().limit(u64::MAX).reader();
        let mut reader = std::io::BufReader::with_capacity(1 << 16, reader);
        let reading = |e: std::io::Error| self.unreachable(format!("reading the response: {e}"));
        // A read its caller abandoned stops here (only streamed reads are
        // cut short, never work that writes). Dropping the answer unread
        // closes the connection, which stops the statement in ClickHouse.
        let token = crate::cancel::current();
        loop {
            if token
                .as_ref()
                .is_some_and(crate::cancel::Cancel::is_cancelled)
            {
                return Err(StoreError::Cancelled);
            }
            if reader.fill_buf().map_err(reading)?.is_empty() {
                return Ok(());
            }
            let mut mark = [0u8; 4];
            let got = read_up_to(&mut reader, &mut mark).map_err(reading)?;
            if got < 4 || u32::from_le_bytes(mark) != ROW_MARK {
                let mut rest = Vec::new();
                let _ = std::io::Read::read_to_end(&mut reader, &mut rest);
                let mut text = mark[..got].to_vec();
                text.extend(rest);
                return Err(self.failed(500, &String::from_utf8_lossy(&text)));
            }
            // A row cut short is an answer that ended early (the server
            // or the connection went away), not bad data.
            decode(&mut reader).map_err(|e| match e {
                StoreError::Corrupt(m) => self.unreachable(format!("reading the response: {m}")),
                other => other,
            })?;
        }
    }

    /// Run a statement without a result.
    pub fn exec(&self, sql: &str) -> Result<()> {
        self.post("", sql.as_bytes()).map(|_| ())
    }

    /// [`Client::exec`] with `hashes` sent beside the statement as the
    /// external table [`NAMED`], as [`Client::each_binary_row_naming`]
    /// sends them.
    pub fn exec_naming(&self, sql: &str, hashes: &[u64]) -> Result<()> {
        self.pass_gate()?;
        let url = format!(
            "{}&{NAMED}_structure=h%20UInt64&{NAMED}_format=RowBinary",
            self.url()
        );
        let (boundary, body) = multipart(sql, hashes);
        let mut resp = self.send_as(
            &url,
            Some(&format!("multipart/form-data; boundary={boundary}")),
            &body,
        )?;
        let status = resp.status().as_u16();
        if status != 200 {
            let text = resp.body_mut().read_to_string().unwrap_or_default();
            return Err(self.failed(status, &text));
        }
        Ok(())
    }

    /// Run a statement in the server's default database (to create ours).
    pub fn exec_in_default(&self, sql: &str) -> Result<()> {
        self.answer_in_default(sql).map(|_| ())
    }

    /// A statement's answer (text) in the server's default database: for
    /// what must work before this database exists.
    pub fn answer_in_default(&self, sql: &str) -> Result<String> {
        self.pass_gate()?;
        let url = format!("{}/", self.endpoint.base);
        let mut resp = self.send(&url, sql.as_bytes())?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        if status != 200 {
            // Whatever the code, creating the database is retried.
            return Err(match self.failed(status, &text) {
                StoreError::Invalid(m) => StoreError::Unavailable(m),
                e => e,
            });
        }
        Ok(text)
    }

    /// `db.table` as a statement run on each server names it: the server's
    /// own `<table>_local` on a cluster (where a mutation runs).
    pub fn local_table(&self, table: &str) -> String {
        let db = &self.endpoint.database;
        match &self.endpoint.cluster {
            Some(_) => format!("{db}.{table}_local"),
            None => format!("{db}.{table}"),
        }
    }

    /// How many rows of `table` match `condition`.
    pub fn count(&self, table: &str, condition: &str) -> Result<u64> {
        Ok(self
            .rows(&format!(
                "SELECT count() AS n FROM {table} WHERE {condition}"
            ))?
            .first()
            .and_then(|r| r["n"].as_u64())
            .unwrap_or(0))
    }

    /// How many distinct values of `column` the rows of `table` that match
    /// `condition` hold (exactly).
    pub fn count_distinct(&self, table: &str, column: &str, condition: &str) -> Result<u64> {
        Ok(self
            .rows(&format!(
                "SELECT uniqExact({column}) AS n FROM {table} WHERE {condition}"
            ))?
            .first()
            .and_then(|r| r["n"].as_u64())
            .unwrap_or(0))
    }

    /// [`Client::mutate_delete`] when some row matches (a mutation rewrites
    /// the parts it touches even to remove nothing); how many matched.
    pub fn delete_any(&self, table: &str, condition: &str) -> Result<u64> {
        let n = self.count(table, condition)?;
        if n > 0 {
            self.mutate_delete(table, condition)?;
        }
        Ok(n)
    }

    /// Delete the rows of `table` that match `condition` (an `ALTER TABLE
    /// … DELETE` mutation, on every server of a cluster) and wait until the
    /// server has carried it out, at most the statement timeout. Rows
    /// inserted after the mutation was made are never touched by it.
    pub fn mutate_delete(&self, table: &str, condition: &str) -> Result<()> {
        let (target, on_cluster) = match &self.endpoint.cluster {
            Some(c) => (format!("{table}_local"), format!(" ON CLUSTER {c}")),
            None => (table.to_owned(), String::new()),
        };
        let db = &self.endpoint.database;
        self.exec(&format!(
            "ALTER TABLE {db}.{target}{on_cluster} DELETE WHERE {condition}"
        ))?;
        let started = std::time::Instant::now();
        loop {
            let pending = self
                .rows(&format!(
                    "SELECT count() AS n FROM system.mutations WHERE database = {} \
                     AND table = {} AND is_done = 0",
                    lit(db),
                    lit(&target)
                ))?
                .first()
                .and_then(|r| r["n"].as_u64())
                .unwrap_or(0);
            if pending == 0 {
                return Ok(());
            }
            if started.elapsed() > self.endpoint.timeout {
                return Err(StoreError::Unavailable(format!(
                    "{} has not finished deleting from {table} after {} s",
                    self.at(),
                    self.endpoint.timeout.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Rows of a query, each a JSON object.
    pub fn rows(&self, sql: &str) -> Result<Vec<Value>> {
        self.rows_with("", sql)
    }

    /// [`Client::rows`], with `ids` sent beside the statement as the
    /// external table [`NAMED`] of one column `id String`, which the
    /// statement reads as `event_id IN named`. The applier looks up each
    /// batch's thousands of events this way: named in the statement, 5 000
    /// ids took ClickHouse 18.16 29–67 ms to parse, and as data the whole
    /// lookup took 3–9 ms.
    pub fn rows_naming_ids(&self, sql: &str, ids: &[&str]) -> Result<Vec<Value>> {
        self.pass_gate()?;
        let mut data = Vec::with_capacity(ids.iter().map(|i| i.len() + 2).sum());
        for id in ids {
            binary::put_string(&mut data, id);
        }
        let statement = format!("{sql} FORMAT JSONEachRow");
        let (boundary, body) = multipart_data(&statement, &data);
        let url = format!(
            "{}&{NAMED}_structure=id%20String&{NAMED}_format=RowBinary",
            self.url()
        );
        let resp = self.send_as(
            &url,
            Some(&format!("multipart/form-data; boundary={boundary}")),
            &body,
        )?;
        parse_rows(&self.answer(resp)?)
    }

    /// [`Client::rows`] with settings added to the URL.
    fn rows_with(&self, params: &str, sql: &str) -> Result<Vec<Value>> {
        let text = self.post(params, format!("{sql} FORMAT JSONEachRow").as_bytes())?;
        parse_rows(&text)
    }

    /// Insert rows (each serialised as a JSON object) into a table in one
    /// statement.
    pub fn insert<R: serde::Serialize>(&self, table: &str, rows: &[R]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut kept = self.insert_body.try_lock().ok();
        let mut own = Vec::new();
        let body = match kept.as_deref_mut() {
            Some(body) => {
                body.clear();
                body
            }
            None => &mut own,
        };
        let sent = self.send_rows(table, rows, body);
        // Not kept past what an apply batch makes.
        if body.capacity() > MAX_KEPT_BODY {
            *body = Vec::new();
        }
        sent
    }

    /// [`Client::insert`] for rows that must outlive the replica they are
    /// written to: on a replicated cluster the insert returns once a
    /// majority of the shard's replicas hold them ([`Client::set_quorum`];
    /// ClickHouse's `insert_quorum`), or fails (no such majority alive, or
    /// none reached within `within`). ClickHouse 18.16 takes one such
    /// insert into a table at a time and refuses the next until the last
    /// one reached its quorum: that refusal is tried again until `within`
    /// has passed.
    pub fn insert_in_quorum<R: serde::Serialize>(
        &self,
        table: &str,
        rows: &[R],
        within: Duration,
    ) -> Result<()> {
        let quorum = self.quorum();
        if quorum < 2 || rows.is_empty() {
            return self.insert(table, rows);
        }
        let started = std::time::Instant::now();
        let timeout = within.as_millis().max(1);
        loop {
            let extra = format!("&insert_quorum={quorum}&insert_quorum_timeout={timeout}");
            match self.send_rows_with(table, rows, &mut Vec::new(), &extra) {
                Err(e)
                    if PREVIOUS_QUORUM.iter().any(|m| e.to_string().contains(m))
                        && started.elapsed() + QUORUM_RETRY < within =>
                {
                    std::thread::sleep(QUORUM_RETRY);
                }
                other => return other,
            }
        }
    }

    /// Rows of a query that sees every write made with
    /// [`Client::insert_in_quorum`] that returned (ClickHouse's
    /// `select_sequential_consistency`): a replica lacking one refuses the
    /// query rather than answer without it.
    pub fn rows_in_quorum(&self, sql: &str) -> Result<Vec<Value>> {
        if self.quorum() < 2 {
            return self.rows(sql);
        }
        self.rows_with("&select_sequential_consistency=1", sql)
    }

    fn send_rows<R: serde::Serialize>(
        &self,
        table: &str,
        rows: &[R],
        body: &mut Vec<u8>,
    ) -> Result<()> {
        self.send_rows_with(table, rows, body, "")
    }

    fn send_rows_with<R: serde::Serialize>(
        &self,
        table: &str,
        rows: &[R],
        body: &mut Vec<u8>,
        extra: &str,
    ) -> Result<()> {
        for r in rows {
            serde_json::to_writer(&mut *body, r).map_err(|e| StoreError::Invalid(e.to_string()))?;
            body.push(b'\n');
        }
        let q = format!("INSERT INTO {table} FORMAT JSONEachRow");
        let params = format!(
            "&query={}{}{extra}",
            url_encode(&q),
            self.insert_settings()?
        );
        match self.post(&params, body) {
            // A refusal counts as the rows' own only while the server
            // answers otherwise: a server failing in a way that looks like
            // a refusal must not get writes set aside.
            Err(StoreError::Invalid(m)) => match self.post("", b"SELECT 1") {
                Ok(_) => Err(StoreError::Invalid(m)),
                Err(e) => Err(e),
            },
            other => other.map(|_| ()),
        }
    }
}

impl Client {
    /// What every insert adds to its URL. The writes are partitioned by the
    /// day received (ADR 0024), and a batch may span more days than the
    /// hundred partitions current servers allow an insert by default
    /// (`max_partitions_per_insert_block`): a moved server's history, or a
    /// log replayed after a long outage. Servers that have that limit get
    /// it lifted; 18.16 has none (and refuses a setting it does not know).
    fn insert_settings(&self) -> Result<&'static str> {
        if let Some(s) = self.insert_settings.get() {
            return Ok(s);
        }
        let limited = !self
            .rows(
                "SELECT name FROM system.settings \
                 WHERE name = 'max_partitions_per_insert_block'",
            )?
            .is_empty();
        Ok(self.insert_settings.get_or_init(|| {
            if limited {
                "&max_partitions_per_insert_block=0"
            } else {
                ""
            }
        }))
    }
}

/// ClickHouse 18.16's refusal of a quorum insert while the last one has not
/// reached its quorum (`UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE`), by its code
/// or, relayed by a `Distributed` table under another code, its message.
const PREVIOUS_QUORUM: [&str; 2] = [
    "Code: 286",
    "Quorum for previous write has not been satisfied yet",
];

/// How long a quorum insert refused for the last one waits to try again.
const QUORUM_RETRY: Duration = Duration::from_millis(25);

/// The largest insert body a client keeps for its next insert.
const MAX_KEPT_BODY: usize = 64 << 20;

/// What precedes every row of [`Client::each_binary_row`]: no error text
/// ClickHouse writes starts with these bytes.
const ROW_MARK: u32 = 0x5EED_F00D;

/// Read into `buf` until it is full or the stream ends; how much was read.
fn read_up_to(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Decoding `RowBinary` columns (strings and arrays carry a LEB128 length).
pub mod binary {
    use std::io::Read;

    use crate::{Result, StoreError};

    fn cut(e: std::io::Error) -> StoreError {
        StoreError::Corrupt(format!("a ClickHouse row is cut short: {e}"))
    }

    fn bytes<const N: usize, R: Read + ?Sized>(r: &mut R) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        r.read_exact(&mut b).map_err(cut)?;
        Ok(b)
    }

    pub fn u8<R: Read + ?Sized>(r: &mut R) -> Result<u8> {
        Ok(bytes::<1, R>(r)?[0])
    }

    pub fn u32<R: Read + ?Sized>(r: &mut R) -> Result<u32> {
        Ok(u32::from_le_bytes(bytes(r)?))
    }

    pub fn u64<R: Read + ?Sized>(r: &mut R) -> Result<u64> {
        Ok(u64::from_le_bytes(bytes(r)?))
    }

    pub fn i64<R: Read + ?Sized>(r: &mut R) -> Result<i64> {
        Ok(i64::from_le_bytes(bytes(r)?))
    }

    pub fn f64<R: Read + ?Sized>(r: &mut R) -> Result<f64> {
        Ok(f64::from_le_bytes(bytes(r)?))
    }

    /// A length (of a string or an array).
    pub fn len<R: Read + ?Sized>(r: &mut R) -> Result<usize> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = u8(r)?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return usize::try_from(n)
                    .map_err(|_| StoreError::Corrupt("a ClickHouse length is too large".into()));
            }
        }
        Err(StoreError::Corrupt(
            "a ClickHouse length does not end".into(),
        ))
    }

    pub fn string<R: Read + ?Sized>(r: &mut R) -> Result<String> {
        let n = len(r)?;
        if n > 1 << 30 {
            return Err(StoreError::Corrupt(format!(
                "a ClickHouse string of {n} bytes (past 1 GiB)"
            )));
        }
        let mut v = vec![0u8; n];
        r.read_exact(&mut v).map_err(cut)?;
        String::from_utf8(v)
            .map_err(|_| StoreError::Corrupt("a ClickHouse string is not UTF-8".into()))
    }

    /// Append a length (of a string or an array) as `RowBinary` spells
    /// it: LEB128, low seven bits first.
    pub fn put_len(out: &mut Vec<u8>, n: usize) {
        let mut n = n as u64;
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    /// Append `text` as a `RowBinary` string: its length, then its bytes.
    pub fn put_string(out: &mut Vec<u8>, text: &str) {
        put_len(out, text.len());
        out.extend_from_slice(text.as_bytes());
    }

    /// An array, each element read by `item`.
    pub fn array<T, R: Read + ?Sized>(
        r: &mut R,
        item: impl Fn(&mut R) -> Result<T>,
    ) -> Result<Vec<T>> {
        let n = len(r)?;
        // The length is the server's; the vector grows as elements arrive.
        let mut out = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            out.push(item(r)?);
        }
        Ok(out)
    }
}

/// The rows of a `JSONEachRow` answer.
fn parse_rows(text: &str) -> Result<Vec<Value>> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| StoreError::Corrupt(format!("clickhouse row: {e}: {l}")))
        })
        .collect()
}

/// Whose fault a failed statement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The server's or the network's (down, overloaded, out of disk or
    /// memory, a missing table, wrong credentials): the same statement may
    /// succeed later, so writes are retried, never set aside.
    Environment,
    /// The statement's or its data's: it fails the same way every time
    /// (a value the server cannot parse or refuses, a statement too large
    /// for the per-query memory limit), so a batch is split to find the
    /// record at fault.
    Statement,
}

/// ClickHouse's error codes that blame the statement or its rows.
const STATEMENT_CODES: &[u32] = &[
    1,   // UNSUPPORTED_METHOD
    6,   // CANNOT_PARSE_TEXT
    8,   // THERE_IS_NO_COLUMN
    10,  // NOT_FOUND_COLUMN_IN_BLOCK
    16,  // NO_SUCH_COLUMN_IN_TABLE
    20,  // NUMBER_OF_COLUMNS_DOESNT_MATCH
    25,  // CANNOT_PARSE_ESCAPE_SEQUENCE
    26,  // CANNOT_PARSE_QUOTED_STRING
    27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    36,  // BAD_ARGUMENTS
    38,  // CANNOT_PARSE_DATE
    41,  // CANNOT_PARSE_DATETIME
    43,  // ILLEGAL_TYPE_OF_ARGUMENT
    44,  // ILLEGAL_COLUMN
    46,  // UNKNOWN_FUNCTION
    47,  // UNKNOWN_IDENTIFIER
    48,  // NOT_IMPLEMENTED
    53,  // TYPE_MISMATCH
    62,  // SYNTAX_ERROR
    69,  // ARGUMENT_OUT_OF_BOUND
    70,  // CANNOT_CONVERT_TYPE
    72,  // CANNOT_PARSE_NUMBER
    117, // INCORRECT_DATA
    128, // TOO_LARGE_ARRAY_SIZE
    131, // TOO_LARGE_STRING_SIZE
    190, // SIZES_OF_ARRAYS_DOESNT_MATCH
    349, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
    395, // FUNCTION_THROW_IF_VALUE_IS_NON_ZERO (a check written as throwIf)
    469, // VIOLATED_CONSTRAINT
];

/// ClickHouse's codes for credentials it refuses: UNKNOWN_USER (192),
/// WRONG_PASSWORD (193) and REQUIRED_PASSWORD (194) on 18.16 (HTTP 401),
/// AUTHENTICATION_FAILED (516) on newer servers.
const AUTHENTICATION_CODES: &[u32] = &[192, 193, 194, 516];

/// What an error for refused credentials says (and how it is told apart).
const REFUSED_CREDENTIALS: &str =
    "a wrong password, or no such user (check the user and password in the ClickHouse URL)";

/// Whether `message` (a store error's) says ClickHouse refused the
/// credentials.
pub(crate) fn refused_credentials(message: &str) -> bool {
    message.contains(REFUSED_CREDENTIALS)
}

/// ClickHouse's error code in a failed answer (`Code: N`).
fn error_code(body: &str) -> Option<u32> {
    body.find("Code: ")
        .map(|i| &body[i + 6..])
        .map(|r| {
            r.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|d| d.parse::<u32>().ok())
}

/// Classify a failed answer by ClickHouse's error code (`Code: N` in the
/// body); anything without a code the list knows is the environment's.
pub(crate) fn fault(body: &str) -> Fault {
    let Some(code) = error_code(body) else {
        return Fault::Environment;
    };
    // MEMORY_LIMIT_EXCEEDED for this query alone: the statement is too
    // large (a smaller batch may pass); for the user or the server it is
    // the load's.
    if code == 241 {
        return if body.contains("(for query)") {
            Fault::Statement
        } else {
            Fault::Environment
        };
    }
    if STATEMENT_CODES.contains(&code) {
        Fault::Statement
    } else {
        Fault::Environment
    }
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The name of the external table of hashes
/// [`Client::each_binary_row_naming`] sends.
pub(crate) const NAMED: &str = "named";

/// A `multipart/form-data` body of the statement (the field `query`, which
/// ClickHouse takes from the form as from the URL, so a statement of any
/// length fits) and `hashes` as the file [`NAMED`] in `RowBinary` (8 bytes
/// a hash, little-endian, which ClickHouse reads without parsing: the 2.3
/// million hashes of 7 days at ten million events took 46 MB as text, and
/// each statement that names them 0.5–0.6 s of ClickHouse's CPU to read
/// them and look the granules' hashes up, 0.4–0.5 s as `RowBinary`); with
/// its boundary, which occurs in neither.
fn multipart(statement: &str, hashes: &[u64]) -> (String, Vec<u8>) {
    let data: Vec<u8> = hashes.iter().flat_map(|h| h.to_le_bytes()).collect();
    multipart_data(statement, &data)
}

/// [`multipart`] of `data` already in `RowBinary`.
fn multipart_data(statement: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = loop {
        let b = format!("hive-{}", uuid::Uuid::new_v4().simple());
        if !statement.contains(&b) && !contains(data, b.as_bytes()) {
            break b;
        }
    };
    let mut body = Vec::with_capacity(statement.len() + data.len() + 256);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\n{statement}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"{NAMED}\"; \
             filename=\"{NAMED}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

/// Whether `needle` (not empty) occurs in `hay`: its first byte looked for,
/// then the rest compared (random bytes hold the first byte of a boundary
/// once in 256).
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    hay.iter().enumerate().any(|(i, &b)| {
        b == first
            && hay
                .get(i + 1..i + 1 + rest.len())
                .is_some_and(|w| w == rest)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_written_as_row_binary_read_back() {
        let texts: Vec<String> = [0usize, 1, 127, 128, 300, 16_383, 16_384, 70_000]
            .iter()
            .map(|&n| "é".repeat(n / 2) + &"x".repeat(n % 2))
            .chain(["a\tb\n'c\\".to_owned()])
            .collect();
        let mut data = Vec::new();
        for t in &texts {
            binary::put_string(&mut data, t);
        }
        let mut r = data.as_slice();
        for t in &texts {
            assert_eq!(&binary::string(&mut r).unwrap(), t);
        }
        assert!(r.is_empty());
        // A length of 300 is two bytes, low seven bits first.
        let mut out = Vec::new();
        binary::put_string(&mut out, &"x".repeat(300));
        assert_eq!(&out[..2], &[0xac, 0x02]);
    }

    #[test]
    fn named_hashes_travel_as_a_form() {
        let (boundary, body) = multipart("SELECT 1", &[0, 42, u64::MAX]);
        let mut want = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\n\
             SELECT 1\r\n--{boundary}\r\nContent-Disposition: form-data; \
             name=\"named\"; filename=\"named\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        for h in [0u64, 42, u64::MAX] {
            want.extend(h.to_le_bytes());
        }
        want.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
        assert_eq!(body, want);
        // The boundary is in neither the statement nor the hashes.
        let at = |hay: &[u8]| {
            hay.windows(boundary.len())
                .filter(|w| *w == boundary.as_bytes())
                .count()
        };
        assert_eq!(at(&body), 3);
        assert!(contains(b"xxhive-1yy", b"hive-1") && contains(b"hive-1", b"hive-1"));
        assert!(!contains(b"xxhive-", b"hive-1") && !contains(b"", b"h"));
    }

    #[test]
    fn urls() {
        let e = Endpoint::parse("http://hive:p%40ss@127.0.0.1:8123/obs").unwrap();
        assert_eq!(e.base, "http://127.0.0.1:8123");
        assert_eq!(e.user.as_deref(), Some("hive"));
        assert_eq!(e.password.as_deref(), Some("p@ss"));
        assert_eq!(e.database, "obs");
        let e = Endpoint::parse("http://127.0.0.1:8123").unwrap();
        assert_eq!((e.user, e.database.as_str()), (None, "hive"));
        let e = Endpoint::parse("http://127.0.0.1:8123/?database=x&user=u&password=p").unwrap();
        assert_eq!(
            (e.database.as_str(), e.password.as_deref()),
            ("x", Some("p"))
        );
        assert!(Endpoint::parse("127.0.0.1:8123").is_err());
        assert!(Endpoint::parse("http://127.0.0.1:8123/a;b").is_err());
        for empty in ["", "  "] {
            let e = Endpoint::parse(empty).unwrap_err().to_string();
            assert!(e.contains("URL is empty") && e.contains("SQLite"), "{e}");
        }
        assert!(
            !Endpoint::parse("http://u:secret@h:1/d")
                .unwrap()
                .display()
                .contains("secret")
        );
    }

    #[test]
    fn credentials_given_apart_from_the_url() {
        let odd = "p@ss:w/o rd?&=%é";
        let url =
            Endpoint::with_credentials("http://h:1/obs", Some("ops user"), Some(odd)).unwrap();
        let e = Endpoint::parse(&url).unwrap();
        assert_eq!(
            (
                e.user.as_deref(),
                e.password.as_deref(),
                e.database.as_str()
            ),
            (Some("ops user"), Some(odd), "obs")
        );
        let url = Endpoint::with_credentials("http://u@h:1/?timeout=5", None, Some("x")).unwrap();
        let e = Endpoint::parse(&url).unwrap();
        assert_eq!(
            (e.user.as_deref(), e.password.as_deref()),
            (Some("u"), Some("x"))
        );
        assert_eq!(e.timeout, Duration::from_secs(5));
        assert_eq!(
            Endpoint::with_credentials("http://h:1", None, None).unwrap(),
            "http://h:1"
        );
        let twice = Endpoint::with_credentials("http://u:secret@h:1", None, Some("other"))
            .unwrap_err()
            .to_string();
        assert!(twice.contains("--clickhouse-password"), "{twice}");
        assert!(
            !twice.contains("secret") && !twice.contains("other"),
            "{twice}"
        );
        let twice = Endpoint::with_credentials("http://h:1/?user=a", Some("b"), None)
            .unwrap_err()
            .to_string();
        assert!(twice.contains("--clickhouse-user"), "{twice}");
    }

    #[test]
    fn faults_are_classified_by_code() {
        let cases = [
            (
                500,
                "Code: 27, e.displayText() = DB::Exception: Cannot parse input: expected \" before: zz",
                Fault::Statement,
            ),
            (
                400,
                "Code: 26, e.displayText() = DB::Exception: Cannot parse JSON string",
                Fault::Statement,
            ),
            (
                500,
                "Code: 395, e.displayText() = DB::Exception: Value passed to 'throwIf' function is non zero",
                Fault::Statement,
            ),
            (
                400,
                "Code: 469. DB::Exception: Constraint `c` for table t is violated. (VIOLATED_CONSTRAINT)",
                Fault::Statement,
            ),
            (
                400,
                "Code: 62, e.displayText() = DB::Exception: Syntax error",
                Fault::Statement,
            ),
            (
                500,
                "Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded",
                Fault::Statement,
            ),
            (
                500,
                "Code: 241, e.displayText() = DB::Exception: Memory limit (total) exceeded",
                Fault::Environment,
            ),
            (
                401,
                "Code: 192, e.displayText() = DB::Exception: Unknown user nobody",
                Fault::Environment,
            ),
            (
                516,
                "Code: 516. DB::Exception: hive: Authentication failed",
                Fault::Environment,
            ),
            (
                404,
                "Code: 60, e.displayText() = DB::Exception: Table hive.hive_writes doesn't exist.",
                Fault::Environment,
            ),
            (
                404,
                "Code: 81, e.displayText() = DB::Exception: Database nodb doesn't exist",
                Fault::Environment,
            ),
            (
                500,
                "Code: 252, e.displayText() = DB::Exception: Too many parts (300)",
                Fault::Environment,
            ),
            (
                500,
                "Code: 243, e.displayText() = DB::Exception: Cannot reserve 1.00 MiB, not enough space",
                Fault::Environment,
            ),
            (
                503,
                "Code: 202, e.displayText() = DB::Exception: Too many simultaneous queries",
                Fault::Environment,
            ),
            (502, "<html>Bad Gateway</html>", Fault::Environment),
            (500, "", Fault::Environment),
        ];
        for (status, body, want) in cases {
            assert_eq!(fault(body), want, "{status} {body}");
        }
    }

    #[test]
    fn passwords_stay_out_of_messages() {
        for url in [
            "http://hive:s3cret@127.0.0.1:8123/a;b",
            "http://hive:s3cret@127.0.0.1:8123/db?user=u&password=s3cret&nope=1",
            "ftp://hive:s3cret@h/db",
        ] {
            let e = Endpoint::parse(url).unwrap_err().to_string();
            assert!(!e.contains("s3cret") && e.contains("hive:***@"), "{e}");
        }
        let client = Client::new(Endpoint::parse("http://hive:s3cret@127.0.0.1:1/db").unwrap());
        for (status, body) in [
            (
                401,
                "Code: 193, e.displayText() = DB::Exception: Wrong password for user hive, e.what() = DB::Exception",
            ),
            (
                401,
                "Code: 192, e.displayText() = DB::Exception: Unknown user hive, e.what() = DB::Exception",
            ),
            (
                401,
                "Code: 194, e.displayText() = DB::Exception: Password required for user hive",
            ),
            (
                516,
                "Code: 516. DB::Exception: hive: Authentication failed: password s3cret is incorrect",
            ),
        ] {
            let e = client.failed(status, body);
            assert!(e.is_transient(), "{e}");
            let m = e.to_string();
            assert!(refused_credentials(&m), "{m}");
            assert!(
                m.contains("ClickHouse at http://127.0.0.1:1")
                    && m.contains("user \"hive\"")
                    && m.contains("password")
                    && !m.contains("s3cret"),
                "{m}"
            );
        }
        let m = client.failed(
            404,
            "Code: 60, e.displayText() = DB::Exception: Table hive.x doesn't exist.",
        );
        assert!(!refused_credentials(&m.to_string()), "{m}");
    }

    #[test]
    fn timeouts() {
        assert_eq!(
            Endpoint::parse("http://h:1").unwrap().timeout,
            DEFAULT_TIMEOUT
        );
        let e = Endpoint::parse("http://h:1/db?timeout=2.5").unwrap();
        assert_eq!(e.timeout, Duration::from_millis(2500));
        assert!(Endpoint::parse("http://h:1/db?timeout=0").is_err());
        assert!(Endpoint::parse("http://h:1/db?timeout=x").is_err());
        assert!(
            Endpoint::parse("http://h:1/db?partition=month")
                .unwrap()
                .partition_by_month
        );
        assert!(!Endpoint::parse("http://h:1/db").unwrap().partition_by_month);
        assert!(Endpoint::parse("http://h:1/db?partition=week").is_err());
        let e = Endpoint::parse("http://h:1/db?cluster=hive&replicated=true").unwrap();
        assert_eq!((e.cluster.as_deref(), e.replicated), (Some("hive"), true));
        assert!(Endpoint::parse("http://h:1/db?replicated=true").is_err());
        assert!(Endpoint::parse("http://h:1/db?cluster=a;b").is_err());
    }

    #[test]
    fn https_to_a_plain_port_says_so() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            // Whatever arrives (a TLS hello), a plain HTTP answer.
            let (mut s, _) = listener.accept().unwrap();
            let _ = s.read(&mut [0u8; 1024]);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        });
        let client = Client::new(Endpoint::parse(&format!("https://127.0.0.1:{port}/db")).unwrap());
        let e = client.exec("SELECT 1").unwrap_err();
        server.join().unwrap();
        let m = e.to_string();
        assert!(e.is_transient(), "{m}");
        assert!(
            m.contains("cannot be reached") && m.contains("plain HTTP: use http://"),
            "{m}"
        );
    }

    #[test]
    fn a_private_ca_named_in_the_url() {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../hive/tests/fixtures/tls");
        let ep = Endpoint::parse(&format!("https://h:1/db?ca={fixtures}/ca.pem")).unwrap();
        let ca = ep.ca.as_ref().expect("the CA's certificates");
        assert_eq!(ca.len(), 1);
        // A chain: every certificate of the file.
        let dir = tempfile::tempdir().unwrap();
        let two = dir.path().join("two.pem");
        let mut both = std::fs::read(format!("{fixtures}/ca.pem")).unwrap();
        both.extend(std::fs::read(format!("{fixtures}/server.pem")).unwrap());
        std::fs::write(&two, both).unwrap();
        let ep = Endpoint::parse(&format!("https://h:1/db?ca={}", two.display())).unwrap();
        assert_eq!(ep.ca.map(|c| c.len()), Some(2));
        assert_eq!(Endpoint::parse("https://h:1/db").unwrap().ca, None);
        for (url, says) in [
            (
                format!("http://h:1/db?ca={fixtures}/ca.pem"),
                "use https://",
            ),
            (
                "https://h:1/db?ca=/no/such/file.pem".to_owned(),
                "cannot be read",
            ),
            (
                format!("https://h:1/db?ca={fixtures}/server.key"),
                "holds no PEM certificate",
            ),
            (
                format!("https://h:1/db?ca={fixtures}/README.md"),
                "holds no PEM certificate",
            ),
        ] {
            let e = Endpoint::parse(&url).unwrap_err().to_string();
            assert!(e.contains("ca") && e.contains(says), "{url}: {e}");
        }
    }

    #[test]
    fn literals() {
        assert_eq!(lit("a'b\\c"), "'a\\'b\\\\c'");
    }
}
