//! The OpenAPI document (`/openapi.json`) covers every route of the API
//! with every method it answers, and nothing else. The routes come from
//! the router's own registration (`hive_server::api_routes`), and each
//! route is asked which methods it answers (its `405` lists them in
//! `Allow`), so neither side is a hand-kept list.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

/// A concrete URI for a route template (`{id}` becomes `id`).
fn concrete(template: &str) -> String {
    template.replace(['{', '}'], "")
}

/// Methods the route answers, from its `Allow` header (HEAD left out: it
/// comes with GET and is not documented apart).
async fn methods_of(router: &axum::Router, template: &str) -> BTreeSet<String> {
    let req = Request::builder()
        .method(Method::TRACE)
        .uri(concrete(template))
        .body(Body::empty())
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::METHOD_NOT_ALLOWED,
        "{template}: TRACE is expected to be refused with 405"
    );
    let allow = resp
        .headers()
        .get("allow")
        .unwrap_or_else(|| panic!("{template}: 405 without Allow"))
        .to_str()
        .unwrap()
        .to_owned();
    allow
        .split(',')
        .map(|m| m.trim().to_ascii_lowercase())
        .filter(|m| !m.is_empty() && m != "head")
        .collect()
}

fn documented(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(path, item)| {
            let methods = ["get", "put", "post", "delete", "patch", "options", "trace"]
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| m.to_string())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

#[tokio::test]
async fn every_route_with_each_of_its_methods_is_documented_and_nothing_else() {
    let s = common::server();
    let routes = hive_server::api_routes();
    let paths: Vec<&'static str> = routes.paths().to_vec();
    assert!(paths.len() > 30, "the registry lists the API's routes");
    let router = routes.into_router().with_state(s.state.clone());
    let mut served = BTreeMap::new();
    for p in &paths {
        served.insert(p.to_string(), methods_of(&router, p).await);
    }

    // Served by the real router, as a client gets it.
    let resp = s.get("/openapi.json", "").await;
    assert_eq!(resp.status, StatusCode::OK, "no key needed");
    assert!(
        resp.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc = resp.json();
    let docd = documented(&doc);

    let missing: Vec<String> = served
        .iter()
        .flat_map(|(p, ms)| {
            ms.iter()
                .filter(|m| !docd.get(p).is_some_and(|d| d.contains(*m)))
                .map(move |m| format!("{} {p}", m.to_uppercase()))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "routes not in /openapi.json: {missing:?}"
    );
    let extra: Vec<String> = docd
        .iter()
        .flat_map(|(p, ms)| {
            ms.iter()
                .filter(|m| !served.get(p).is_some_and(|s| s.contains(*m)))
                .map(move |m| format!("{} {p}", m.to_uppercase()))
        })
        .collect();
    assert!(extra.is_empty(), "documented but not served: {extra:?}");
}

#[tokio::test]
async fn the_document_is_openapi_3_with_unique_operations_and_error_shapes() {
    let s = common::server();
    let doc = s.get("/openapi.json", "").await.json();
    let version = doc["openapi"].as_str().expect("openapi");
    assert!(version.starts_with("3."), "{version}");
    assert_eq!(doc["info"]["title"], "Hive");
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    for name in ["Event", "ErrorBody", "ApiKey", "Project", "ExportBody"] {
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "schema {name} is in the document"
        );
    }
    // The event's namespaces, from hive_core's Event itself.
    let event = &doc["components"]["schemas"]["Event"]["properties"];
    for field in [
        "event_id",
        "session_id",
        "metadata",
        "user_properties",
        "duration",
    ] {
        assert!(event[field].is_object(), "Event.{field}");
    }
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                continue;
            }
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: operationId"));
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.contains_key("200"), "{method} {path}: 200");
            // Every operation that needs a key says what an error looks like.
            if op.get("security") != Some(&serde_json::json!([{}])) {
                assert!(
                    responses.contains_key("401"),
                    "{method} {path}: documents 401"
                );
            }
        }
    }
    // The health checks and this document need no key.
    for p in ["/healthz", "/readyz", "/openapi.json"] {
        assert_eq!(
            doc["paths"][p]["get"]["security"],
            serde_json::json!([{}]),
            "{p} needs no key"
        );
    }
}
