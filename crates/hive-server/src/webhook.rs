//! Webhook delivery: a minimal HTTP/1.1 POST over a TCP connection, to
//! `http://` URLs only (for https, point the rule at a local forwarding
//! proxy), with retries and exponential backoff. A 2xx answer is success.

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::alerts::AlertConfig;

/// What a delivery came to.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub ok: bool,
    pub attempts: u32,
    pub error: Option<String>,
}

/// POST `body` to `url`, retrying `config.retries` times after failures
/// with a backoff of `config.backoff`, doubled each time.
pub async fn deliver(url: &str, body: &Value, config: &AlertConfig) -> Delivery {
    let payload = body.to_string();
    let mut wait = config.backoff;
    let mut attempts = 0;
    loop {
        attempts += 1;
        let result = tokio::time::timeout(config.timeout, post(url, &payload)).await;
        let error = match result {
            Ok(Ok(status)) if (200..300).contains(&status) => {
                return Delivery {
                    ok: true,
                    attempts,
                    error: None,
                };
            }
            Ok(Ok(status)) => format!("webhook answered HTTP {status}"),
            Ok(Err(e)) => e,
            Err(_) => format!("webhook did not answer within {:?}", config.timeout),
        };
        if attempts > config.retries {
            tracing::warn!(%url, attempts, %error, "webhook delivery failed");
            return Delivery {
                ok: false,
                attempts,
                error: Some(error),
            };
        }
        tokio::time::sleep(wait).await;
        wait = wait.saturating_mul(2);
    }
}

/// Split `http://host[:port]/path` into (host:port, host, path).
fn split(url: &str) -> Result<(String, String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?} is not an http:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    let has_port = match authority.rfind(':') {
        Some(i) => {
            !authority.ends_with(']') && authority[i + 1..].bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    };
    let addr = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok((addr, authority.to_owned(), path.to_owned()))
}

async fn post(url: &str, payload: &str) -> Result<u16, String> {
    let (addr, host, path) = split(url)?;
    let mut stream = TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         User-Agent: hive-alerts\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("cannot send to {addr}: {e}"))?;
    // The status line is all that is needed.
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < 8192 {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("cannot read the answer of {addr}: {e}"))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{addr} did not answer with HTTP"))?;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn splits_urls() {
        assert_eq!(
            split("http://127.0.0.1:9000/hook?a=1").unwrap(),
            (
                "127.0.0.1:9000".into(),
                "127.0.0.1:9000".into(),
                "/hook?a=1".into()
            )
        );
        assert_eq!(
            split("http://example.com").unwrap(),
            ("example.com:80".into(), "example.com".into(), "/".into())
        );
        assert!(split("https://example.com").is_err());
        assert!(split("http:///x").is_err());
    }
}
