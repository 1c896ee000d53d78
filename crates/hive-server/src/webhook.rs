//! Webhook delivery: a JSON `POST` to an `http://` or `https://` URL (ureq
//! on a blocking thread; TLS by rustls, trusting Mozilla's roots plus an
//! optional extra CA), with retries and exponential backoff. A 2xx answer
//! is success; any other status, redirects included (they are not
//! followed), is a failure naming the status. Connections go straight to
//! the webhook's host, or through the HTTP proxy given by
//! `--webhook-proxy` (a `CONNECT` tunnel); proxy environment variables
//! are not used, so a proxy meant for other traffic never sees alerts.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use ureq::Agent;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::alerts::AlertConfig;

/// What a delivery came to.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub ok: bool,
    pub attempts: u32,
    pub error: Option<String>,
}

/// Extra CA certificates that webhook TLS trusts besides Mozilla's roots
/// (`hive serve --webhook-ca FILE`).
#[derive(Clone)]
pub struct WebhookCa {
    certs: Arc<Vec<Certificate<'static>>>,
    /// Where they came from, for messages.
    pub source: String,
}

impl std::fmt::Debug for WebhookCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WebhookCa({} certificate(s) from {})",
            self.certs.len(),
            self.source
        )
    }
}

impl WebhookCa {
    /// The certificates of a PEM text (other PEM items are skipped); an
    /// error when there is none.
    pub fn from_pem(pem: &[u8], source: &str) -> Result<WebhookCa, String> {
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(pem) {
            match item {
                Ok(PemItem::Certificate(c)) => certs.push(c),
                Ok(_) => {}
                Err(e) => return Err(format!("{source}: not a valid PEM file: {e}")),
            }
        }
        if certs.is_empty() {
            return Err(format!(
                "{source}: no certificate found (expected PEM, -----BEGIN CERTIFICATE-----)"
            ));
        }
        Ok(WebhookCa {
            certs: Arc::new(certs),
            source: source.to_owned(),
        })
    }

    /// [`WebhookCa::from_pem`] of a file.
    pub fn from_file(path: &Path) -> Result<WebhookCa, String> {
        let pem =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        WebhookCa::from_pem(&pem, &path.display().to_string())
    }

    pub fn len(&self) -> usize {
        self.certs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

/// The HTTP proxy webhooks go through (`hive serve --webhook-proxy URL`).
#[derive(Clone)]
pub struct WebhookProxy {
    proxy: ureq::Proxy,
    /// `scheme://host:port`, without credentials, for messages.
    pub shown: String,
}

impl std::fmt::Debug for WebhookProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookProxy({})", self.shown)
    }
}

impl WebhookProxy {
    /// `http://[user:password@]host:port` (or `https://`, TLS to the
    /// proxy). Requests are tunnelled with `CONNECT`.
    pub fn parse(url: &str) -> Result<WebhookProxy, String> {
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        if !matches!(scheme.as_deref(), Some("http" | "https")) {
            return Err(format!(
                "{}: a proxy URL is http://host:port or https://host:port",
                redact(url)
            ));
        }
        let proxy = ureq::Proxy::new(url)
            .map_err(|e| format!("{}: not a valid proxy URL ({e})", redact(url)))?;
        let shown = format!(
            "{}://{}:{}",
            scheme.unwrap_or_default(),
            proxy.host(),
            proxy.port()
        );
        Ok(WebhookProxy { proxy, shown })
    }
}

/// Sends webhooks. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    /// Trusts Mozilla's roots.
    public: Agent,
    /// Trusts the extra CA, when there is one.
    private: Option<Agent>,
    retries: u32,
    backoff: Duration,
    timeout: Duration,
    /// Where connections go through, if not straight to the host.
    proxy: Option<String>,
    /// Whether loopback, private and other non-public destinations are
    /// allowed.
    allow_private: bool,
}

/// Resolves hosts for webhook connections and refuses, unless private
/// destinations are allowed, any host with a non-public address (see
/// [`crate::destination`]). The proxy, an operator's choice, is resolved
/// without the check.
#[derive(Debug)]
struct GuardedResolver {
    allow_private: bool,
    /// The proxy's host and port.
    proxy: Option<(String, u16)>,
}

/// The error a refused destination becomes inside ureq.
#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(crate::destination::REFUSED)
    }
}

impl std::error::Error for Refused {}

impl Resolver for GuardedResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addrs = DefaultResolver::default().resolve(uri, config, timeout)?;
        let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
        let port = uri.port_u16();
        let is_proxy = self
            .proxy
            .as_ref()
            .is_some_and(|(h, p)| h.eq_ignore_ascii_case(host) && port.is_none_or(|x| x == *p));
        if !self.allow_private
            && !is_proxy
            && addrs.iter().any(|a| !crate::destination::is_public(a.ip()))
        {
            return Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                Refused,
            )));
        }
        Ok(addrs)
    }
}

fn agent(
    timeout: Duration,
    roots: RootCerts,
    proxy: Option<&WebhookProxy>,
    allow_private: bool,
) -> Agent {
    let config = Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(proxy.map(|p| p.proxy.clone()))
        .user_agent("hive-alerts")
        .timeout_global(Some(timeout))
        .tls_config(
            TlsConfig::builder()
                .provider(TlsProvider::Rustls)
                .root_certs(roots)
                .build(),
        )
        .build();
    let resolver = GuardedResolver {
        allow_private,
        proxy: proxy.map(|p| (p.proxy.host().to_owned(), p.proxy.port())),
    };
    Agent::with_parts(config, DefaultConnector::default(), resolver)
}

impl Client {
    pub fn new(config: &AlertConfig) -> Client {
        let proxy = config.webhook_proxy.as_ref();
        Client {
            public: agent(
                config.timeout,
                RootCerts::WebPki,
                proxy,
                config.webhook_allow_private,
            ),
            private: config.webhook_ca.as_ref().map(|ca| {
                agent(
                    config.timeout,
                    RootCerts::Specific(ca.certs.clone()),
                    proxy,
                    config.webhook_allow_private,
                )
            }),
            allow_private: config.webhook_allow_private,
            retries: config.retries,
            backoff: config.backoff,
            timeout: config.timeout,
            proxy: proxy.map(|p| p.shown.clone()),
        }
    }

    /// POST `body` to `url`, retrying `retries` times after failures with
    /// a backoff of `backoff`, doubled each time. An attempt takes at most
    /// `timeout`. Every attempt carries `key` as its `Idempotency-Key`, so
    /// a receiver can tell a notification it already has (an attempt that
    /// timed out may have arrived; a notification its node died delivering
    /// is delivered again, with the same key).
    pub async fn deliver(&self, url: &str, body: &Value, key: &str) -> Delivery {
        let payload: Arc<[u8]> = body.to_string().into_bytes().into();
        let mut wait = self.backoff;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let (client, target, payload) = (self.clone(), url.to_owned(), payload.clone());
            let key = key.to_owned();
            let result = tokio::task::spawn_blocking(move || client.post(&target, &payload, &key))
                .await
                .unwrap_or_else(|e| Err(format!("webhook delivery crashed: {e}")));
            let error = match result {
                Ok(()) => {
                    crate::metrics::webhook_delivery("delivered", attempts);
                    return Delivery {
                        ok: true,
                        attempts,
                        error: None,
                    };
                }
                Err(e) => e,
            };
            // A refused destination stays refused: no retries.
            if attempts > self.retries || error == crate::destination::REFUSED {
                tracing::warn!(host = %host_of(url), attempts, %error, "webhook delivery failed");
                let result = if error == crate::destination::REFUSED {
                    "refused"
                } else {
                    "failed"
                };
                crate::metrics::webhook_delivery(result, attempts);
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

    /// One attempt (blocking). With an extra CA, a certificate that
    /// Mozilla's roots do not know is checked against it: the server is
    /// trusted when either set of roots vouches for it.
    fn post(&self, url: &str, payload: &[u8], key: &str) -> Result<(), String> {
        hive_core::alert::check_webhook_url(url).map_err(|e| e.to_string())?;
        // Through a proxy, ureq resolves only the proxy: check the webhook's
        // own host here, as far as it resolves (without a proxy the
        // resolver checks the addresses it connects to).
        if self.proxy.is_some()
            && crate::destination::check(url, self.allow_private)
                == crate::destination::Check::Refused
        {
            return Err(crate::destination::REFUSED.to_owned());
        }
        let deadline = Instant::now() + self.timeout;
        let result = match (
            send(&self.public, url, payload, key, self.timeout),
            &self.private,
        ) {
            (Err(e), Some(private)) if unknown_issuer(&e) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    Err(ureq::Error::Timeout(ureq::Timeout::Global))
                } else {
                    send(private, url, payload, key, left)
                }
            }
            (r, _) => r,
        };
        match result {
            Ok((status, _)) if (200..300).contains(&status) => Ok(()),
            Ok((status, text)) => Err(status_error(status, &text)),
            Err(e) => Err(self.describe(url, e)),
        }
    }

    fn describe(&self, url: &str, e: ureq::Error) -> String {
        if let ureq::Error::Io(io) = &e
            && io.get_ref().is_some_and(|inner| inner.is::<Refused>())
        {
            return crate::destination::REFUSED.to_owned();
        }
        let host = host_of(url);
        if let Some(tls) = rustls_error(&e) {
            return match tls {
                rustls::Error::InvalidCertificate(c) => {
                    let why = match c {
                        rustls::CertificateError::UnknownIssuer => {
                            "it is not signed by a trusted CA".to_owned()
                        }
                        rustls::CertificateError::Expired
                        | rustls::CertificateError::ExpiredContext { .. } => {
                            "it has expired".into()
                        }
                        rustls::CertificateError::NotValidForName
                        | rustls::CertificateError::NotValidForNameContext { .. } => {
                            format!("it is not valid for {host}")
                        }
                        other => format!("{other:?}"),
                    };
                    let trusted = match &self.private {
                        Some(_) => {
                            "trusted are Mozilla's root CAs and the --webhook-ca certificates"
                        }
                        None => {
                            "trusted are Mozilla's root CAs only (for a private CA, start the \
                             server with --webhook-ca FILE)"
                        }
                    };
                    format!("TLS certificate of {host} rejected: {why}; {trusted}")
                }
                other => format!("TLS with {host} failed: {other}"),
            };
        }
        // What failed: the proxy itself, or the host through it.
        let proxy = self.proxy.as_deref();
        let via = proxy
            .map(|p| format!(" through the proxy {p}"))
            .unwrap_or_default();
        let (target, what) = match proxy {
            Some(p) => (p, "the proxy "),
            None => (host, ""),
        };
        match e {
            ureq::Error::Timeout(_) => {
                format!("webhook did not answer within {:?}{via}", self.timeout)
            }
            ureq::Error::ConnectProxyFailed(why) => {
                format!("the proxy {target} did not open a tunnel to {host}: {why}")
            }
            ureq::Error::HostNotFound => format!("cannot resolve {what}{target}"),
            ureq::Error::ConnectionFailed => format!("cannot connect to {what}{target}"),
            ureq::Error::Io(io) => format!("cannot reach {host}{via}: {io}"),
            ureq::Error::BadUri(u) => format!("bad webhook url: {u}"),
            other => format!("webhook request to {host}{via} failed: {other}"),
        }
    }
}

/// The status and the start of the answer's body.
fn send(
    agent: &Agent,
    url: &str,
    payload: &[u8],
    key: &str,
    timeout: Duration,
) -> Result<(u16, String), ureq::Error> {
    let mut response = agent
        .post(url)
        .config()
        .timeout_global(Some(timeout))
        .build()
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", key)
        .send(payload)?;
    let status = response.status().as_u16();
    let text = if (200..300).contains(&status) {
        String::new()
    } else {
        response
            .body_mut()
            .with_config()
            .limit(4096)
            .read_to_string()
            .unwrap_or_default()
    };
    Ok((status, text))
}

fn status_error(status: u16, text: &str) -> String {
    let mut msg = format!("webhook answered HTTP {status}");
    if (300..400).contains(&status) {
        msg.push_str(" (redirects are not followed)");
    }
    let snippet: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
    if !snippet.trim().is_empty() {
        msg.push_str(": ");
        msg.push_str(snippet.trim());
    }
    msg
}

/// The rustls error inside a ureq error (handshake errors arrive as I/O
/// errors wrapping it).
fn rustls_error(e: &ureq::Error) -> Option<&rustls::Error> {
    match e {
        ureq::Error::Rustls(r) => Some(r),
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>(),
        _ => None,
    }
}

fn unknown_issuer(e: &ureq::Error) -> bool {
    matches!(
        rustls_error(e),
        Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer
        ))
    )
}

/// The `host[:port]` of a URL (never its path or query, which may hold a
/// secret, as Slack's do).
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    // Credentials (`user:password@`) are no more shown than the path.
    authority.rsplit('@').next().unwrap_or(authority)
}

/// A URL as it may be shown and recorded: its scheme and host, the rest
/// (which may hold a secret, as Slack's do) elided.
pub fn redact(url: &str) -> String {
    let scheme = url.split_once("://").map_or("", |(s, _)| s);
    let host = host_of(url);
    let elided = url.len() > scheme.len() + 3 + host.len();
    format!("{scheme}://{host}{}", if elided { "/…" } else { "" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::REFUSED;

    #[test]
    fn proxy_urls_are_http_or_https_and_never_shown_with_credentials() {
        let p = WebhookProxy::parse("http://user:secret@proxy.internal:3128").unwrap();
        assert_eq!(p.shown, "http://proxy.internal:3128");
        assert!(!format!("{p:?}").contains("secret"));
        assert_eq!(
            WebhookProxy::parse("https://proxy.internal").unwrap().shown,
            "https://proxy.internal:443"
        );
        for bad in [
            "proxy.internal:3128",
            "socks5://u:secret@h:1080",
            "ftp://h",
            "",
        ] {
            let e = WebhookProxy::parse(bad).unwrap_err();
            assert!(e.contains("http://host:port"), "{bad}: {e}");
            assert!(!e.contains("secret"), "{e}");
        }
    }

    #[test]
    fn redacted_urls_keep_only_scheme_and_host() {
        assert_eq!(
            redact("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            redact("http://u:pw@127.0.0.1:9/x?y"),
            "http://127.0.0.1:9/…"
        );
        assert_eq!(redact("http://127.0.0.1:9"), "http://127.0.0.1:9");
    }

    #[test]
    fn hosts_and_statuses() {
        assert_eq!(
            host_of("https://hooks.slack.com/services/T/B/secret"),
            "hooks.slack.com"
        );
        assert_eq!(host_of("http://127.0.0.1:9000?x=1"), "127.0.0.1:9000");
        assert_eq!(status_error(500, ""), "webhook answered HTTP 500");
        assert_eq!(
            status_error(302, "moved\n"),
            "webhook answered HTTP 302 (redirects are not followed): moved"
        );
        assert_eq!(
            status_error(404, "no_service"),
            "webhook answered HTTP 404: no_service"
        );
    }

    #[test]
    fn ca_files() {
        let pem = include_bytes!("../tests/fixtures/ca.pem");
        assert_eq!(WebhookCa::from_pem(pem, "ca.pem").unwrap().len(), 1);
        let e = WebhookCa::from_pem(b"hello", "x.pem").unwrap_err();
        assert!(e.contains("no certificate found"), "{e}");
        let e = WebhookCa::from_file(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(e.contains("cannot read /nonexistent/ca.pem"), "{e}");
    }

    /// A server on 127.0.0.1 that answers every request with `answer`.
    fn answering(answer: &'static str) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut sock in listener.incoming().flatten() {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf);
                let _ = sock.write_all(answer.as_bytes());
            }
        });
        format!("http://{addr}/hook")
    }

    #[tokio::test]
    async fn redirects_are_failures_not_followed() {
        let url = answering(
            "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:1/elsewhere\r\n\
             Content-Length: 5\r\nConnection: close\r\n\r\nmoved",
        );
        let client = Client::new(&AlertConfig {
            retries: 0,
            webhook_allow_private: true,
            ..AlertConfig::default()
        });
        let d = client.deliver(&url, &serde_json::json!({}), "k").await;
        assert!(!d.ok);
        assert_eq!(d.attempts, 1);
        assert_eq!(
            d.error.as_deref(),
            Some("webhook answered HTTP 302 (redirects are not followed): moved")
        );
    }

    /// Without --webhook-allow-private, a receiver on loopback gets
    /// nothing, and the outcome says only that the address was refused
    /// (not whether anything listens there).
    #[tokio::test]
    async fn private_destinations_are_refused_at_connect_time() {
        let (url, hits) = counting();
        let client = Client::new(&AlertConfig {
            retries: 2,
            backoff: Duration::from_millis(1),
            ..AlertConfig::default()
        });
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/hook", l.local_addr().unwrap())
        };
        for target in [url.clone(), closed, url.replace("127.0.0.1", "localhost")] {
            let d = client.deliver(&target, &serde_json::json!({}), "k").await;
            assert!(!d.ok);
            assert_eq!(d.attempts, 1, "{target}: refusals are not retried");
            assert_eq!(d.error.as_deref(), Some(REFUSED), "{target}");
        }
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
        // The same receiver is reached when private destinations are allowed.
        let allowed = Client::new(&AlertConfig {
            retries: 0,
            webhook_allow_private: true,
            ..AlertConfig::default()
        });
        let d = allowed.deliver(&url, &serde_json::json!({}), "k").await;
        assert!(d.ok, "{:?}", d.error);
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    /// A receiver on 127.0.0.1 answering 200 and counting requests.
    fn counting() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = hits.clone();
        std::thread::spawn(move || {
            for mut sock in listener.incoming().flatten() {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf);
                let _ = sock.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        (format!("http://{addr}/hook"), hits)
    }

    #[tokio::test]
    async fn other_schemes_fail_at_delivery() {
        let client = Client::new(&AlertConfig {
            retries: 0,
            ..AlertConfig::default()
        });
        let d = client
            .deliver("ftp://127.0.0.1/x", &serde_json::json!({}), "k")
            .await;
        assert!(!d.ok);
        let e = d.error.unwrap();
        assert!(e.contains("\"ftp\" is not supported"), "{e}");
    }
}
