//! An in-process server over a temporary SQLite store, called through the
//! router without a socket.

#![allow(dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use hive_server::{ApiConfig, AppState, WriteQueue, WriterConfig};
use hive_store::Store;
use hive_store::sqlite::{SqliteOptions, SqliteStore};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub struct TestServer {
    pub router: Router,
    pub admin: String,
    pub state: Arc<AppState>,
    pub store: Arc<SqliteStore>,
    _dir: tempfile::TempDir,
}

pub fn server() -> TestServer {
    server_with(WriterConfig::default(), ApiConfig::default())
}

pub fn server_with(writer: WriterConfig, api: ApiConfig) -> TestServer {
    server_with_alerts(writer, api, hive_server::alerts::AlertRuntime::default())
}

pub fn server_with_alerts(
    writer: WriterConfig,
    api: ApiConfig,
    alerts: hive_server::alerts::AlertRuntime,
) -> TestServer {
    server_configured(writer, api, |state| state.with_alerts(alerts))
}

/// A server whose state `configure` finishes.
pub fn server_configured(
    writer: WriterConfig,
    api: ApiConfig,
    configure: impl FnOnce(AppState) -> AppState,
) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        SqliteStore::open(dir.path().join("hive.db"), SqliteOptions::default()).expect("open"),
    );
    let admin = store
        .auth()
        .bootstrap()
        .expect("bootstrap")
        .expect("admin key");
    let (queue, _recovered, _threads) = WriteQueue::open(
        store.clone() as Arc<dyn Store>,
        &dir.path().join("log"),
        writer,
    )
    .expect("open the ingest log");
    let state = Arc::new(configure(
        AppState::new(store.clone() as Arc<dyn Store>, queue, api).expect("state"),
    ));
    TestServer {
        router: hive_server::router(state.clone()),
        admin,
        state,
        store,
        _dir: dir,
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub bytes: Vec<u8>,
}

impl Resp {
    /// Assert a 200, showing the body when it is not.
    #[track_caller]
    pub fn expect_ok(&self) -> &Resp {
        assert_eq!(
            self.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&self.bytes)
        );
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or_else(|e| {
            panic!(
                "response is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.bytes)
            )
        })
    }
}

impl TestServer {
    /// The data directory (the SQLite file, the ingest log in `log/`).
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub async fn raw(&self, req: Request<Body>) -> Resp {
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        Resp {
            status,
            headers,
            bytes,
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: impl Into<Body>,
        content_type: &str,
    ) -> Resp {
        let body: Body = body.into();
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", content_type);
        // As an HTTP client sends it (the write path's admission reads it).
        if let Some(n) = http_body::Body::size_hint(&body).exact() {
            req = req.header("content-length", n);
        }
        let req = req.body(body).expect("request");
        self.raw(req).await
    }

    pub async fn json(&self, method: &str, path: &str, key: &str, body: Value) -> Resp {
        self.call(method, path, key, body.to_string(), "application/json")
            .await
    }

    pub async fn get(&self, path: &str, key: &str) -> Resp {
        self.call("GET", path, key, Body::empty(), "application/json")
            .await
    }

    /// Export with filters; returns the events.
    pub async fn export(&self, key: &str, body: Value) -> Vec<Value> {
        let v = self
            .json("POST", "/v1/events/export", key, body)
            .await
            .expect_ok()
            .json();
        assert_eq!(v["totalEvents"], v["count"]);
        v["events"].as_array().cloned().unwrap_or_default()
    }

    pub async fn session_events(&self, key: &str, session_id: &str) -> Vec<Value> {
        self.export(
            key,
            serde_json::json!({"filters": [{"field": "session_id", "operator": "is", "value": session_id, "type": "string"}]}),
        )
        .await
    }

    /// A key of a scope for a project (created if missing).
    pub async fn key(&self, scope: &str, project: &str) -> String {
        let r = self
            .json(
                "POST",
                "/v1/keys",
                &self.admin.clone(),
                serde_json::json!({"name": "t", "scope": scope, "project": project}),
            )
            .await;
        r.expect_ok().json()["secret"]
            .as_str()
            .expect("secret")
            .to_owned()
    }
}

/// A dashboard session's cookie, logged in with a fresh login link.
pub async fn dashboard_cookie(s: &TestServer) -> String {
    let url = hive_server::dashboard::login_url(s.store.as_ref(), "http://x").unwrap();
    let token = url.split("token=").nth(1).unwrap().to_owned();
    let r = s
        .raw(
            Request::builder()
                .method("POST")
                .uri("/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(format!("token={token}")))
                .unwrap(),
        )
        .await;
    let set = r.headers["set-cookie"].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// `GET path` as the dashboard user of `cookie`.
pub async fn page(s: &TestServer, cookie: &str, path: &str) -> Resp {
    s.raw(
        Request::builder()
            .uri(path)
            .header("cookie", cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await
}
