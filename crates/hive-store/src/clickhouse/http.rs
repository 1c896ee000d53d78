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
}

impl Endpoint {
    /// Parse `http://[user[:password]@]host:port[/database]`; the database
    /// defaults to `hive`. `?database=` and `?user=`/`?password=` are also
    /// understood.
    pub fn parse(url: &str) -> Result<Endpoint> {
        let bad = |m: &str| StoreError::Invalid(format!("clickhouse url {url:?}: {m}"));
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
        Ok(ep)
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

/// The HTTP client.
pub struct Client {
    agent: ureq::Agent,
    endpoint: Endpoint,
    auth: Option<String>,
}

impl Client {
    pub fn new(endpoint: Endpoint) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .max_idle_connections_per_host(8)
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
            endpoint,
            auth,
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn post(&self, params: &str, body: Vec<u8>) -> Result<String> {
        let url = format!(
            "{}/?database={}&output_format_json_quote_64bit_integers=0{params}",
            self.endpoint.base, self.endpoint.database
        );
        let mut req = self.agent.post(&url);
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        let mut resp = req.send(&body[..]).map_err(|e| {
            StoreError::Unavailable(format!("clickhouse at {}: {e}", self.endpoint.base))
        })?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(4 << 30)
            .read_to_string()
            .map_err(|e| StoreError::Unavailable(format!("clickhouse response: {e}")))?;
        if status != 200 {
            let msg = text.trim().to_owned();
            // Authentication, a missing database and server overload are the
            // environment's; anything else is about the statement.
            return Err(
                if status >= 500 && !msg.contains("Code: 62") && !msg.contains("Code: 47") {
                    StoreError::Unavailable(format!("clickhouse ({status}): {msg}"))
                } else {
                    StoreError::Invalid(format!("clickhouse ({status}): {msg}"))
                },
            );
        }
        Ok(text)
    }

    /// Run a statement without a result.
    pub fn exec(&self, sql: &str) -> Result<()> {
        self.post("", sql.as_bytes().to_vec()).map(|_| ())
    }

    /// Run a statement in the server's default database (to create ours).
    pub fn exec_in_default(&self, sql: &str) -> Result<()> {
        let url = format!("{}/", self.endpoint.base);
        let mut req = self.agent.post(&url);
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        let mut resp = req.send(sql.as_bytes()).map_err(|e| {
            StoreError::Unavailable(format!("clickhouse at {}: {e}", self.endpoint.base))
        })?;
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        if status != 200 {
            return Err(StoreError::Unavailable(format!(
                "clickhouse ({status}): {}",
                text.trim()
            )));
        }
        Ok(())
    }

    /// Rows of a query, each a JSON object.
    pub fn rows(&self, sql: &str) -> Result<Vec<Value>> {
        let text = self.post("", format!("{sql} FORMAT JSONEachRow").into_bytes())?;
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .map_err(|e| StoreError::Corrupt(format!("clickhouse row: {e}: {l}")))
            })
            .collect()
    }

    /// Insert rows (JSON objects) into a table in one statement.
    pub fn insert(&self, table: &str, rows: &[Value]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut body = Vec::with_capacity(rows.len() * 256);
        for r in rows {
            serde_json::to_writer(&mut body, r).map_err(|e| StoreError::Invalid(e.to_string()))?;
            body.push(b'\n');
        }
        let q = format!("INSERT INTO {table} FORMAT JSONEachRow");
        let params = format!("&query={}", url_encode(&q));
        self.post(&params, body).map(|_| ())
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(
            !Endpoint::parse("http://u:secret@h:1/d")
                .unwrap()
                .display()
                .contains("secret")
        );
    }

    #[test]
    fn literals() {
        assert_eq!(lit("a'b\\c"), "'a\\'b\\\\c'");
    }
}
