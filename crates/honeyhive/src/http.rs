//! The blocking HTTP client used by the background worker and the span
//! exporter. Never used on the caller's thread.

use std::time::Duration;

/// What came of one request.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// 2xx, with the response body.
    Ok(String),
    /// Worth retrying: connection trouble, timeouts, 408/425/429/5xx.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Will not get better by retrying (4xx other than the above, bad URL).
    Permanent { reason: String },
}

#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    agent: ureq::Agent,
    authorization: Option<String>,
    source: String,
}

pub(crate) const USER_AGENT: &str = concat!("honeyhive-rust/", env!("CARGO_PKG_VERSION"));

impl HttpClient {
    pub(crate) fn new(api_key: Option<&str>, source: &str, timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(5))))
            .user_agent(USER_AGENT)
            .build();
        HttpClient {
            agent: config.into(),
            authorization: api_key.map(|key| format!("Bearer {key}")),
            source: source.to_owned(),
        }
    }

    pub(crate) fn send(
        &self,
        method: Method,
        url: &str,
        content_type: &str,
        body: &[u8],
    ) -> Outcome {
        let builder = match method {
            Method::Post => self.agent.post(url),
            Method::Put => self.agent.put(url),
        };
        let mut builder = builder
            .header("Content-Type", content_type)
            .header("Accept", "application/json")
            .header("X-Source", self.source.as_str())
            .header("hh-client-language", "rust")
            .header("hh-client-package", "honeyhive")
            .header("hh-client-version", env!("CARGO_PKG_VERSION"));
        if let Some(auth) = &self.authorization {
            builder = builder.header("Authorization", auth.as_str());
        }
        match builder.send(body) {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                let text = response
                    .body_mut()
                    .with_config()
                    .limit(1024 * 1024)
                    .read_to_string()
                    .unwrap_or_default();
                classify(status, text, retry_after)
            }
            Err(err) => classify_error(err),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Method {
    Post,
    Put,
}

fn classify(status: u16, body: String, retry_after: Option<Duration>) -> Outcome {
    match status {
        200..=299 => Outcome::Ok(body),
        408 | 425 | 429 | 500 | 502..=599 => Outcome::Transient {
            reason: format!("status {status}: {}", snippet(&body)),
            retry_after,
        },
        _ => Outcome::Permanent {
            reason: format!("status {status}: {}", snippet(&body)),
        },
    }
}

fn classify_error(err: ureq::Error) -> Outcome {
    match err {
        ureq::Error::BadUri(_)
        | ureq::Error::Http(_)
        | ureq::Error::InvalidProxyUrl
        | ureq::Error::RequireHttpsOnly(_)
        | ureq::Error::TlsRequired => Outcome::Permanent {
            reason: err.to_string(),
        },
        other => Outcome::Transient {
            reason: other.to_string(),
            retry_after: None,
        },
    }
}

fn snippet(body: &str) -> &str {
    let end = body
        .char_indices()
        .nth(200)
        .map(|(i, _)| i)
        .unwrap_or(body.len());
    &body[..end]
}

/// `Retry-After` in seconds (the HTTP-date form is ignored), capped at 5 minutes.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    if secs.is_finite() && secs >= 0.0 {
        Some(Duration::from_secs_f64(secs.min(300.0)))
    } else {
        None
    }
}

/// Exponential backoff with jitter: `base * 2^attempt`, capped, +-25 %.
pub(crate) fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(16));
    let d = exp.min(cap);
    let jitter = (uuid::Uuid::new_v4().as_u128() % 500) as f64 / 1000.0 + 0.75; // 0.75..1.25
    d.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        assert!(matches!(classify(200, String::new(), None), Outcome::Ok(_)));
        assert!(matches!(
            classify(503, String::new(), None),
            Outcome::Transient { .. }
        ));
        assert!(matches!(
            classify(429, String::new(), None),
            Outcome::Transient { .. }
        ));
        assert!(matches!(
            classify(400, String::new(), None),
            Outcome::Permanent { .. }
        ));
        assert!(matches!(
            classify(401, String::new(), None),
            Outcome::Permanent { .. }
        ));
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("99999"), Some(Duration::from_secs(300)));
    }

    #[test]
    fn backoff_grows_and_caps() {
        let cap = Duration::from_secs(5);
        let base = Duration::from_millis(100);
        assert!(backoff(0, base, cap) <= Duration::from_millis(125));
        assert!(backoff(10, base, cap) <= Duration::from_millis(6250));
        assert!(backoff(10, base, cap) >= Duration::from_millis(3750));
    }
}
