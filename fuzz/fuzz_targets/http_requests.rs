//! The HTTP API's request decoding and the dashboard's URL parameters,
//! through the real router over a real SQLite store (in process): the
//! export and search bodies, chart queries (body and query string), and
//! the query strings of the dashboard's pages. Never a 5xx; an API error
//! is the JSON error shape.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use hive_server::{ApiConfig, AppState, WriteQueue, WriterConfig};
use hive_store::Store;
use hive_store::sqlite::{SqliteOptions, SqliteStore};
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Fixture {
    rt: tokio::runtime::Runtime,
    router: Router,
    key: String,
    cookie: String,
    _dir: tempfile::TempDir,
}

async fn send(router: &Router, req: Request<Body>) -> (u16, Vec<u8>, axum::http::HeaderMap) {
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, bytes.to_vec(), headers)
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteStore::open(dir.path().join("hive.db"), SqliteOptions::default()).unwrap(),
        );
        let key = store.auth().bootstrap().unwrap().unwrap();
        let (queue, _, threads) = WriteQueue::open(
            store.clone() as Arc<dyn Store>,
            &dir.path().join("log"),
            WriterConfig::default(),
        )
        .unwrap();
        std::mem::forget(threads);
        let state = Arc::new(
            AppState::new(store.clone() as Arc<dyn Store>, queue, ApiConfig::default()).unwrap(),
        );
        let router = hive_server::router(state);
        let cookie = rt.block_on(async {
            for i in 0..3 {
                let body = json!({"session": {"session_id": format!("s{i}"),
                    "metadata": {"a": i, "t": format!("x{i}"), "n": {"deep": [1, "2"]}},
                    "metrics": {"latency": 10.5 * i as f64},
                    "feedback": {"rating": i}}})
                .to_string();
                let req = Request::post("/session/start")
                    .header("authorization", format!("Bearer {key}"))
                    .header("content-type", "application/json")
                    .header("content-length", body.len())
                    .body(Body::from(body))
                    .unwrap();
                let (status, _, _) = send(&router, req).await;
                assert_eq!(status, 200);
            }
            let url = hive_server::dashboard::login_url(store.as_ref(), "http://x").unwrap();
            let token = url.split("token=").nth(1).unwrap().to_owned();
            let req = Request::post("/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(format!("token={token}")))
                .unwrap();
            let (_, _, headers) = send(&router, req).await;
            let set = headers["set-cookie"].to_str().unwrap();
            set.split(';').next().unwrap().to_owned()
        });
        Fixture {
            rt,
            router,
            key,
            cookie,
            _dir: dir,
        }
    })
}

/// The fuzzer's bytes as a query string: `&` and `=` kept, everything else
/// percent-encoded, so any text reaches the parameters' parsers.
fn query_string(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 3);
    for &b in data {
        if b.is_ascii_alphanumeric() || matches!(b, b'&' | b'=' | b'.' | b'_' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const API_POSTS: [&str; 4] = [
    "/v1/events/export",
    "/v1/events/search",
    "/v1/events/chart",
    "/v1/charts",
];
const PAGES: [&str; 7] = [
    "/sessions",
    "/events",
    "/charts",
    "/alerts",
    "/views",
    "/keys",
    "/sessions/s1",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let selector = usize::from(selector);
    let (req, api) = if selector % 2 == 0 {
        let path = API_POSTS[(selector / 2) % API_POSTS.len()];
        let req = Request::post(path)
            .header("authorization", format!("Bearer {}", f.key))
            .header("content-type", "application/json")
            .header("content-length", rest.len())
            .body(Body::from(rest.to_vec()))
            .unwrap();
        (req, true)
    } else if selector % 5 == 1 {
        let uri = format!("/v1/events/chart?{}", query_string(rest));
        let req = Request::get(uri)
            .header("authorization", format!("Bearer {}", f.key))
            .body(Body::empty())
            .unwrap();
        (req, true)
    } else {
        let path = PAGES[(selector / 2) % PAGES.len()];
        let uri = format!("{path}?{}", query_string(rest));
        let req = Request::get(uri)
            .header("cookie", &f.cookie)
            .body(Body::empty())
            .unwrap();
        (req, false)
    };
    let (status, body, _) = f.rt.block_on(send(&f.router, req));
    assert!(
        status < 500,
        "{status}: {}",
        String::from_utf8_lossy(&body[..body.len().min(2000)])
    );
    if api && status >= 400 {
        let v: Value = serde_json::from_slice(&body).expect("an API error is JSON");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
});
