//! The chart API over HTTP: aggregation, validation, project isolation and
//! saved charts.

mod common;

use axum::http::StatusCode;
use common::server;
use serde_json::{Value, json};

/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000;
const H: i64 = 3_600_000;

async fn post_event(s: &common::TestServer, key: &str, i: usize, at: i64, variant: &str, lat: f64) {
    let r = s
        .json(
            "POST",
            "/v1/events",
            key,
            json!({"event": {"event_id": format!("00000000-0000-4000-8000-{i:012}"),
                   "session_id": "00000000-0000-4000-8000-999999999999",
                   "event_type": "model", "event_name": "llm", "source": "test",
                   "start_time": at, "end_time": at + 10,
                   "metadata": {"variant": variant}, "metrics": {"latency_ms": lat}}}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
}

type Points = Vec<(i64, f64)>;

fn series(v: &Value) -> Vec<(Option<String>, Points)> {
    v["data"]["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["group"].as_str().map(str::to_owned),
                s["points"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        (
                            p["timestamp"].as_i64().unwrap(),
                            p["value"].as_f64().unwrap(),
                        )
                    })
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn chart_aggregates_by_group_and_bucket() {
    let s = server();
    let a = s.key("read_write", "team-a").await;
    let b = s.key("read_write", "team-b").await;
    let ingest = s.key("ingest", "team-a").await;
    let data = [
        (0, "a", 10.0),
        (H / 2, "a", 30.0),
        (H + 5, "a", 5.0),
        (60_000, "b", 8.0),
    ];
    for (i, (dt, v, lat)) in data.into_iter().enumerate() {
        post_event(&s, &a, i, T0 + dt, v, lat).await;
    }
    let url = "/v1/events/chart?metric=metrics.latency_ms&aggregation=avg&bucket=hour&groupBy=metadata.variant";
    let r = s.get(url, &a).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    let v = r.json();
    assert_eq!(v["success"], true);
    assert_eq!(
        series(&v),
        vec![
            (Some("a".into()), vec![(T0, 20.0), (T0 + H, 5.0)]),
            (Some("b".into()), vec![(T0, 8.0)]),
        ]
    );
    assert_eq!(
        v["data"]["series"][0]["points"][0]["bucket"],
        "2024-01-01T00:00:00.000Z"
    );

    // Filters and a date range as JSON text; max per day.
    let filters =
        urlencode(r#"[{"field":"metadata.variant","operator":"is","value":"a","type":"string"}]"#);
    let range = urlencode(&format!(r#"{{"$gte":{},"$lte":{}}}"#, T0 + 1, T0 + 2 * H));
    let r = s
        .get(
            &format!("/v1/events/chart?metric=metrics.latency_ms&aggregation=max&bucket=day&filters={filters}&dateRange={range}"),
            &a,
        )
        .await;
    assert_eq!(series(&r.json()), vec![(None, vec![(T0, 30.0)])]);

    // The same as a POST body.
    let r = s
        .json(
            "POST",
            "/v1/events/chart",
            &a,
            json!({"metric": "metrics.latency_ms", "func": "p75", "bucketing": "day"}),
        )
        .await;
    // 5, 8, 10, 30: nearest rank ceil(3) = 3 -> 10.
    assert_eq!(series(&r.json()), vec![(None, vec![(T0, 10.0)])]);

    // Another project sees nothing; an ingest key cannot read.
    assert!(series(&s.get(url, &b).await.json()).is_empty());
    assert_eq!(s.get(url, &ingest).await.status, StatusCode::FORBIDDEN);
    for bad in [
        "/v1/events/chart?metric=metrics.latency_ms&aggregation=p42",
        "/v1/events/chart?metric=metrics.latency_ms&bucket=year",
        "/v1/events/chart?aggregation=avg",
        "/v1/events/chart?metric=nowhere.x",
        "/v1/events/chart?filters=notjson",
    ] {
        let r = s.get(bad, &a).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.json()["error"]["message"].as_str().is_some());
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn saved_charts_crud_per_project() {
    let s = server();
    let a = s.key("read_write", "team-a").await;
    let b = s.key("read_write", "team-b").await;
    let r = s
        .json(
            "POST",
            "/v1/charts",
            &a,
            json!({"name": "cost per plan", "metric": "metadata.cost", "func": "sum",
                   "groupBy": "user_properties.plan", "bucketing": "day",
                   "dateRange": {"relative": "7d"},
                   "query": [{"field": "event_type", "operator": "is", "value": "model", "type": "string"}]}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    let created = r.json()["data"].clone();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["func"], "sum");
    assert_eq!(created["dateRange"], json!({"relative": "7d"}));
    let list = s.get("/v1/charts", &a).await.json();
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert!(
        s.get("/v1/charts", &b).await.json()["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.get(&format!("/v1/charts/{id}"), &b).await.status,
        StatusCode::NOT_FOUND
    );
    let r = s
        .json(
            "PATCH",
            &format!("/v1/charts/{id}"),
            &a,
            json!({"func": "avg", "name": "avg cost"}),
        )
        .await;
    assert_eq!(r.json()["data"]["func"], "avg");
    assert_eq!(r.json()["data"]["groupBy"], "user_properties.plan");
    let r = s
        .json(
            "PATCH",
            &format!("/v1/charts/{id}"),
            &a,
            json!({"func": "nope"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = s
        .json("POST", "/v1/charts", &a, json!({"metric": "metadata.cost"}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a chart needs a name");
    assert_eq!(
        s.call(
            "DELETE",
            &format!("/v1/charts/{id}"),
            &b,
            "",
            "application/json"
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let r = s
        .call(
            "DELETE",
            &format!("/v1/charts/{id}"),
            &a,
            "",
            "application/json",
        )
        .await;
    assert_eq!(r.json()["success"], true);
    assert_eq!(
        s.get(&format!("/v1/charts/{id}"), &a).await.status,
        StatusCode::NOT_FOUND
    );
}

/// HoneyHive's routes under a project named in the path, which its SDK
/// calls with its data-plane key (a read-write key) when given a
/// `project_id`: the project by id or by name, its own alone for a project
/// key, any that exists for an admin key.
#[tokio::test]
async fn charts_of_a_project_named_in_the_path() {
    let s = server();
    let a = s.key("read_write", "team-a").await;
    let b = s.key("read_write", "team-b").await;
    let ingest = s.key("ingest", "team-a").await;
    assert!(
        a.starts_with("hh_fgdp_"),
        "a read-write key is a data-plane key: {a}"
    );
    assert!(ingest.starts_with("hh_ingst_"), "{ingest}");
    let projects = s.get("/v1/projects", &s.admin).await.json();
    let id_of = |name: &str| {
        projects["projects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (a_id, b_id) = (id_of("team-a"), id_of("team-b"));
    let chart = json!({"name": "latency", "metric": "metrics.latency_ms", "func": "avg",
                       "groupBy": "metadata.variant", "bucketing": "hour",
                       "dateRange": {"relative": "7d"}, "project": "team-b"});
    // Created by id; the path names the project, not the body.
    let r = s
        .json(
            "POST",
            &format!("/v1/projects/{a_id}/charts"),
            &a,
            chart.clone(),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    let created = r.json()["data"].clone();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["project_id"], a_id);
    // Listed by id and by name, and by the legacy route.
    for path in [
        format!("/v1/projects/{a_id}/charts"),
        "/v1/projects/team-a/charts".into(),
        "/v1/charts".into(),
    ] {
        let list = s.get(&path, &a).await.expect_ok().json();
        let ids: Vec<_> = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect();
        assert_eq!(ids, vec![json!(id)], "{path}");
    }
    assert!(
        s.get("/v1/charts", &b).await.json()["data"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let one = format!("/v1/projects/team-a/charts/{id}");
    assert_eq!(
        s.get(&one, &a).await.expect_ok().json()["data"]["func"],
        "avg"
    );
    let r = s.json("PATCH", &one, &a, json!({"func": "p95"})).await;
    assert_eq!(r.expect_ok().json()["data"]["func"], "p95");
    assert_eq!(r.json()["data"]["groupBy"], "metadata.variant");
    let r = s.json("PUT", &one, &a, json!({"func": "nope"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&r.bytes).contains("nope"));
    let r = s
        .json(
            "POST",
            "/v1/projects/team-a/charts",
            &a,
            json!({"metric": "metrics.latency_ms"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a chart needs a name");

    // Another project's key is refused whatever it names, existing or
    // not, so it learns nothing of the projects it cannot read.
    for path in [
        format!("/v1/projects/{a_id}/charts"),
        "/v1/projects/team-a/charts".into(),
        format!("/v1/projects/team-a/charts/{id}"),
        "/v1/projects/no-such-project/charts".into(),
    ] {
        let r = s.get(&path, &b).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            r.json()["message"].is_string() || r.json()["error"].is_string(),
            "{}",
            r.json()
        );
    }
    let r = s
        .json("POST", "/v1/projects/team-a/charts", &b, chart.clone())
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A chart of another project is not found under this one.
    let b_chart = s
        .json(
            "POST",
            &format!("/v1/projects/{b_id}/charts"),
            &b,
            chart.clone(),
        )
        .await
        .expect_ok()
        .json()["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        s.get(&format!("/v1/projects/team-a/charts/{b_chart}"), &a)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.call(
            "DELETE",
            &format!("/v1/projects/team-a/charts/{b_chart}"),
            &a,
            "",
            "application/json"
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    // An ingest key reads nothing; no key is 401.
    assert_eq!(
        s.get("/v1/projects/team-a/charts", &ingest).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.get("/v1/projects/team-a/charts", "").await.status,
        StatusCode::UNAUTHORIZED
    );
    // An admin key names any project that exists.
    let r = s
        .get(&format!("/v1/projects/{b_id}/charts"), &s.admin)
        .await;
    assert_eq!(r.expect_ok().json()["data"][0]["id"], b_chart);
    let r = s.get("/v1/projects/no-such-project/charts", &s.admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(String::from_utf8_lossy(&r.bytes).contains("no-such-project"));

    let r = s.call("DELETE", &one, &a, "", "application/json").await;
    assert_eq!(r.expect_ok().json()["success"], true);
    assert_eq!(s.get(&one, &a).await.status, StatusCode::NOT_FOUND);
}

/// HoneyHive's `POST /v1/projects/{project_id}/ingestion_api_keys`: an
/// admin makes an ingest key of the project in the path, in the shape the
/// SDK takes as `HH_INGESTION_API_KEY`; it writes there and reads nothing.
#[tokio::test]
async fn ingestion_keys_of_a_project_named_in_the_path() {
    let s = server();
    let rw = s.key("read_write", "team-a").await;
    let r = s
        .json(
            "POST",
            "/v1/projects/team-a/ingestion_api_keys",
            &s.admin,
            json!({"name": "collector", "description": "the fleet's"}),
        )
        .await;
    let data = r.expect_ok().json()["data"].clone();
    let secret = data["key_value"].as_str().unwrap().to_owned();
    assert!(
        secret.starts_with("hh_ingst_") && secret.len() == 9 + 24 + 1 + 64,
        "{secret}"
    );
    assert_eq!(data["name"], "collector");
    assert_eq!(data["description"], "the fleet's");
    assert_eq!(data["root_scope_type"], "project");
    let keys = s.get("/v1/keys", &s.admin).await.json();
    let key = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == data["key_id"])
        .unwrap()
        .clone();
    assert_eq!(key["scope"], "ingest");
    assert_eq!(key["project_id"], data["root_scope_id"]);
    assert_eq!(key["prefix"], secret[..17]);
    post_event(&s, &secret, 1, T0, "a", 10.0).await;
    let events = s
        .export(
            &rw,
            json!({"filters": [{"field": "event_type", "operator": "is", "value": "model", "type": "string"}]}),
        )
        .await;
    assert_eq!(events.len(), 1, "the ingest key wrote to its project");
    assert_eq!(
        s.get("/v1/projects/team-a/charts", &secret).await.status,
        StatusCode::FORBIDDEN
    );
    // Only an admin makes keys; a name is required; the project must exist.
    let r = s
        .json(
            "POST",
            "/v1/projects/team-a/ingestion_api_keys",
            &rw,
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = s
        .json(
            "POST",
            "/v1/projects/team-a/ingestion_api_keys",
            &s.admin,
            json!({"name": " "}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&r.bytes).contains("name"));
    let r = s
        .json(
            "POST",
            "/v1/projects/team-a/ingestion_api_keys",
            &s.admin,
            json!({"name": 3}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = s
        .json(
            "POST",
            "/v1/projects/nowhere/ingestion_api_keys",
            &s.admin,
            json!({"name": "x"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Revoked by the prefix the list shows.
    let r = s
        .call(
            "DELETE",
            &format!("/v1/keys/{}", &secret[..17]),
            &s.admin,
            "",
            "application/json",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = s
        .json(
            "POST",
            "/v1/events",
            &secret,
            json!({"event": {"event_type": "tool", "inputs": {}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

/// HoneyHive's fine-grained data-plane keys
/// (`POST /v1/projects/{project_id}/fine_grained_api_keys`, admin): such a
/// key does what its permissions name on its project's charts, until it
/// expires, and nothing anywhere else.
#[tokio::test]
async fn fine_grained_keys_do_what_their_permissions_name() {
    let s = server();
    let rw = s.key("read_write", "team-a").await;
    s.key("read_write", "team-b").await;
    let expires = hive_core::time::format_rfc3339_ms(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
            + 86_400_000,
    );
    let make = |permissions: Value| {
        json!({"name": "reader", "description": "dashboards", "permissions": permissions,
               "expires_at": expires})
    };
    let r = s
        .json(
            "POST",
            "/v1/projects/team-a/fine_grained_api_keys",
            &s.admin,
            make(json!(["project.chart.list", "project.chart.get"])),
        )
        .await;
    let data = r.expect_ok().json()["data"].clone();
    let reader = data["key_value"].as_str().unwrap().to_owned();
    assert!(
        reader.starts_with("hh_fgdp_") && reader.len() == 8 + 24 + 1 + 64,
        "{reader}"
    );
    assert_eq!(
        data["permissions"],
        json!(["project.chart.list", "project.chart.get"])
    );
    assert_eq!(data["root_scope_type"], "project");
    assert_eq!(data["expires_at"].as_str().unwrap()[..16], expires[..16]);
    let listed = s.get("/v1/keys", &s.admin).await.json();
    let k = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == data["key_id"])
        .unwrap()
        .clone();
    assert_eq!(k["scope"], "data_plane");
    assert_eq!(k["project_id"], data["root_scope_id"]);
    // The dashboard's list says what it may do.
    let cookie = common::dashboard_cookie(&s).await;
    let keys_page = common::page(&s, &cookie, "/keys?project=team-a").await;
    let html = String::from_utf8_lossy(&keys_page.bytes).to_string();
    assert!(
        html.contains(
            "data_plane<div class=\"muted small\">project.chart.list, project.chart.get</div>"
        ),
        "{html}"
    );

    let chart = json!({"name": "n", "metric": "metrics.latency_ms", "func": "avg"});
    let id = s
        .json("POST", "/v1/projects/team-a/charts", &rw, chart.clone())
        .await
        .expect_ok()
        .json()["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // What it carries, it may do.
    let list = s.get("/v1/projects/team-a/charts", &reader).await;
    assert_eq!(list.expect_ok().json()["data"][0]["id"], id);
    let one = format!("/v1/projects/team-a/charts/{id}");
    assert_eq!(s.get(&one, &reader).await.status, StatusCode::OK);
    // What it does not, it may not, naming the permission.
    for (method, path, body, permission) in [
        (
            "POST",
            "/v1/projects/team-a/charts".to_owned(),
            chart.clone(),
            "project.chart.post",
        ),
        (
            "PATCH",
            one.clone(),
            json!({"func": "p95"}),
            "project.chart.put or project.chart.patch",
        ),
        ("DELETE", one.clone(), json!({}), "project.chart.delete"),
    ] {
        let r = s.json(method, &path, &reader, body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert!(
            r.json()["message"].as_str().unwrap().contains(permission),
            "{}",
            r.json()
        );
    }
    // Nor anything off its project's data-plane routes.
    assert_eq!(
        s.get("/v1/projects/team-b/charts", &reader).await.status,
        StatusCode::FORBIDDEN
    );
    for (method, path) in [
        ("GET", "/v1/charts"),
        ("POST", "/v1/events/export"),
        ("POST", "/v1/events"),
        ("GET", "/v1/projects"),
        ("GET", "/v1/keys"),
        ("POST", "/v1/projects/team-a/ingestion_api_keys"),
        ("POST", "/v1/projects/team-a/fine_grained_api_keys"),
    ] {
        let r = s.json(method, path, &reader, json!({"name": "x"})).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
    }
    let otlp = s
        .call(
            "POST",
            "/opentelemetry/v1/traces",
            &reader,
            "{}",
            "application/json",
        )
        .await;
    assert_eq!(otlp.status, StatusCode::FORBIDDEN);
    // A writer of charts.
    let writer = s
        .json(
            "POST",
            "/v1/projects/team-a/fine_grained_api_keys",
            &s.admin,
            make(json!(["project.chart.patch", "project.chart.delete"])),
        )
        .await
        .expect_ok()
        .json()["data"]["key_value"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s.json("PATCH", &one, &writer, json!({"func": "p95"})).await;
    assert_eq!(r.expect_ok().json()["data"]["func"], "p95");
    assert_eq!(s.get(&one, &writer).await.status, StatusCode::FORBIDDEN);
    let r = s
        .call("DELETE", &one, &writer, "", "application/json")
        .await;
    assert_eq!(r.status, StatusCode::OK);

    // What the route refuses, naming the field; only an admin makes keys.
    for (body, field) in [
        (make(json!([])), "permission"),
        (make(json!(["project.alert.list"])), "permissions[0]"),
        (make(json!(["project.chart.get", 3])), "permissions[1]"),
        (make(json!("project.chart.get")), "permissions"),
        (
            json!({"name": "x", "permissions": ["project.chart.get"]}),
            "expires_at",
        ),
        (
            json!({"name": "x", "permissions": ["project.chart.get"], "expires_at": "2020-01-01"}),
            "expires_at",
        ),
        (
            json!({"permissions": ["project.chart.get"], "expires_at": expires}),
            "name",
        ),
    ] {
        let r = s
            .json(
                "POST",
                "/v1/projects/team-a/fine_grained_api_keys",
                &s.admin,
                body.clone(),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            r.json()["message"].as_str().unwrap().contains(field),
            "{body}: {}",
            r.json()
        );
    }
    let r = s
        .json(
            "POST",
            "/v1/projects/team-a/fine_grained_api_keys",
            &rw,
            make(json!(["project.chart.get"])),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A data-plane scope cannot be asked for by name elsewhere.
    let r = s
        .json(
            "POST",
            "/v1/keys",
            &s.admin,
            json!({"name": "x", "scope": "data_plane", "project": "team-a"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn saved_charts_and_alerts_warm_up_their_columns() {
    let s = server();
    let a = s.key("read_write", "team-a").await;
    for i in 0..4 {
        post_event(
            &s,
            &a,
            i,
            T0 + i as i64 * H,
            ["x", "y"][i % 2],
            10.0 * i as f64,
        )
        .await;
    }
    let r = s
        .json(
            "POST",
            "/v1/charts",
            &a,
            json!({"name": "latency", "metric": "metrics.latency_ms", "func": "avg",
                   "groupBy": "metadata.variant", "bucketing": "hour"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(s.store.column_memory_used(), 0);
    let store = s.store.clone();
    let ran = tokio::task::spawn_blocking(move || hive_server::charts::warm_up(store.as_ref()))
        .await
        .unwrap();
    assert_eq!(ran, 1);
    assert!(s.store.column_memory_used() > 0, "no columns loaded");
}

/// Three model events of the last minutes, costing 1.5 each, on the plans
/// free, pro and free: what the drawn-chart tests draw.
async fn three_model_events(s: &common::TestServer, key: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for (i, plan) in ["free", "pro", "free"].iter().enumerate() {
        s.json(
            "POST",
            "/events",
            key,
            json!({"event": {"event_type": "model", "event_name": "m",
                "start_time": now - 60_000 * i as i64, "end_time": now,
                "metadata": {"cost": 1.5}, "user_properties": {"plan": plan}}}),
        )
        .await
        .expect_ok();
    }
}

/// The dashboard page of saved charts answers without drawing them: each
/// card names where its chart is drawn (`GET /charts/{id}/draw`), which
/// answers the chart's SVG and legend, in its project only.
#[tokio::test]
async fn saved_charts_are_drawn_apart_from_their_page() {
    let s = server();
    let a = s.key("read_write", "team-a").await;
    s.key("read_write", "team-b").await;
    three_model_events(&s, &a).await;
    let r = s
        .json(
            "POST",
            "/v1/charts",
            &a,
            json!({"name": "cost <per> plan", "metric": "metadata.cost", "func": "sum",
                   "groupBy": "user_properties.plan", "bucketing": "hour",
                   "dateRange": {"relative": "24h"}}),
        )
        .await;
    r.expect_ok();
    let id = r.json()["data"]["id"].as_str().unwrap().to_owned();
    let cookie = common::dashboard_cookie(&s).await;
    let body = |r: &common::Resp| String::from_utf8_lossy(&r.bytes).into_owned();

    let r = common::page(&s, &cookie, "/charts?project=team-a").await;
    let html = body(r.expect_ok());
    let draw = format!("/charts/{id}/draw?project=team-a");
    assert!(html.contains(&format!("data-draw=\"{draw}\"")), "{html}");
    assert!(
        html.contains("cost &#60;per&#62; plan") && !html.contains("<per>"),
        "the name is escaped"
    );
    let card = &html[html.find("chartcard saved").unwrap()..];
    assert!(
        !card.contains("<svg"),
        "the page draws no saved chart itself"
    );

    let r = common::page(&s, &cookie, &draw).await;
    r.expect_ok();
    let drawn = body(&r);
    assert!(drawn.contains("id=\"drawn\""), "{drawn}");
    assert!(drawn.contains("<svg"), "{drawn}");
    assert!(
        drawn.contains("free") && drawn.contains("pro"),
        "the legend: {drawn}"
    );

    // Another project, an unknown chart, no login.
    let r = common::page(&s, &cookie, &format!("/charts/{id}/draw?project=team-b")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", body(&r));
    let r = common::page(&s, &cookie, "/charts/nope/draw?project=team-a").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", body(&r));
    let r = common::page(&s, "hive_session=nope", &draw).await;
    assert_ne!(r.status, StatusCode::OK, "{}", body(&r));
    assert!(!body(&r).contains("<svg"));
}

/// The builder's page answers before its chart is drawn: it names where
/// the preview is drawn (`GET /charts/preview`, which hive.js fetches), and
/// without scripts links to itself with `draw=now`, which draws it in the
/// page.
#[tokio::test]
async fn the_builders_preview_is_drawn_apart_from_its_page() {
    let s = server();
    let a = s.key("read_write", "team-a").await;
    s.key("read_write", "team-b").await;
    three_model_events(&s, &a).await;
    let cookie = common::dashboard_cookie(&s).await;
    let body = |r: &common::Resp| String::from_utf8_lossy(&r.bytes).into_owned();
    let qs = "metric=metadata.cost&agg=sum&bucket=hour&group=user_properties.plan&level=event\
              &range=24h&ff=event_type&fo=is&fv=model";

    let r = common::page(&s, &cookie, &format!("/charts?project=team-a&{qs}")).await;
    let html = body(r.expect_ok());
    let preview = &html[html.find("id=\"preview\"").expect("a preview")..];
    assert!(
        preview.contains("sum of metadata.cost by user_properties.plan per hour"),
        "{preview}"
    );
    assert!(
        !html.contains("<svg"),
        "the page draws nothing itself: {html}"
    );
    let at = preview.find("data-draw=\"").unwrap() + "data-draw=\"".len();
    let url = preview[at..at + preview[at..].find('"').unwrap()].replace("&#38;", "&");
    assert!(url.starts_with("/charts/preview?project=team-a&"), "{url}");
    assert!(
        preview.contains("draw=now"),
        "a link for pages without scripts: {preview}"
    );

    let r = common::page(&s, &cookie, &url).await;
    let drawn = body(r.expect_ok());
    assert!(
        drawn.contains("id=\"drawn\"") && drawn.contains("<svg"),
        "{drawn}"
    );
    assert!(
        drawn.contains("free") && drawn.contains("pro"),
        "the legend: {drawn}"
    );

    let r = common::page(
        &s,
        &cookie,
        &format!("/charts?project=team-a&{qs}&draw=now"),
    )
    .await;
    let inline = body(r.expect_ok());
    let svg = |h: &str| h[h.find("<svg").unwrap()..h.find("</svg>").unwrap()].to_owned();
    assert_eq!(
        svg(&inline),
        svg(&drawn),
        "drawn in the page, the same chart"
    );
    assert!(!inline.contains("data-draw=\"/charts/preview"), "{inline}");

    // A chart that cannot be drawn says why (in the page, drawing nothing).
    let r = common::page(
        &s,
        &cookie,
        "/charts?project=team-a&agg=p42&metric=metadata.cost",
    )
    .await;
    let html = body(r.expect_ok());
    assert!(
        html.contains("unknown aggregation") && !html.contains("/charts/preview"),
        "{html}"
    );
    let r = common::page(&s, &cookie, "/charts/preview?project=team-a&agg=p42").await;
    assert!(body(r.expect_ok()).contains("unknown aggregation"));
    // Another project's data is not drawn; no login, nothing.
    let r = common::page(&s, &cookie, &url.replace("team-a", "team-b")).await;
    let other = body(r.expect_ok());
    assert!(
        other.contains("No data in this range") && !other.contains("<circle"),
        "{other}"
    );
    let r = common::page(&s, "hive_session=nope", &url).await;
    assert_ne!(r.status, StatusCode::OK, "{}", body(&r));
    assert!(!body(&r).contains("<svg"));
}

/// Saved charts over the same dates are drawn together: the page names one
/// request for them (`GET /charts/draw?id=…`), which answers each chart in
/// a box of its own, as it is drawn alone; a chart of another project, or
/// unknown, says so in its box.
#[tokio::test]
async fn saved_charts_over_the_same_dates_are_drawn_together() {
    let s = server();
    let a = s.key("read_write", "team-a").await;
    let b = s.key("read_write", "team-b").await;
    three_model_events(&s, &a).await;
    let save = async |key: &str, name: &str, range: &str| -> String {
        let r = s
            .json(
                "POST",
                "/v1/charts",
                key,
                json!({"name": name, "metric": "metadata.cost", "func": "sum",
                       "groupBy": "user_properties.plan", "bucketing": "hour",
                       "dateRange": {"relative": range}}),
            )
            .await;
        r.expect_ok();
        r.json()["data"]["id"].as_str().unwrap().to_owned()
    };
    let day1 = save(&a, "one day", "24h").await;
    let week = save(&a, "a week", "7d").await;
    let day2 = save(&a, "another day", "24h").await;
    let elsewhere = save(&b, "team b's", "24h").await;
    let cookie = common::dashboard_cookie(&s).await;
    let body = |r: &common::Resp| String::from_utf8_lossy(&r.bytes).into_owned();

    let html = body(
        common::page(&s, &cookie, "/charts?project=team-a")
            .await
            .expect_ok(),
    );
    // Each card's group (`&` escaped as `&#38;`): the two one-day charts
    // share one, the week has its own.
    let groups: Vec<String> = html
        .split("data-draw-group=\"")
        .skip(1)
        .map(|g| g[..g.find('"').unwrap()].replace("&#38;", "&"))
        .collect();
    assert_eq!(groups.len(), 3, "{html}");
    let of = |id: &str| {
        groups
            .iter()
            .filter(|g| g.contains(id))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(of(&day1).len(), 2, "{groups:?}");
    assert_eq!(of(&day1), of(&day2));
    assert!(of(&day1)[0].starts_with("/charts/draw?project=team-a&id="));
    assert_eq!(
        of(&week),
        [format!("/charts/draw?project=team-a&id={week}")]
    );

    let url = format!("/charts/draw?project=team-a&id={day1}&id={day2}&id={elsewhere}&id=nope");
    let drawn = body(common::page(&s, &cookie, &url).await.expect_ok());
    for id in [&day1, &day2] {
        let start = drawn.find(&format!("data-drawn=\"{id}\"")).expect(id);
        let chart = &drawn[start..];
        let chart = &chart[..chart[1..].find("data-drawn").map_or(chart.len(), |e| e + 1)];
        assert!(chart.contains("<svg") && chart.contains("pro"), "{chart}");
    }
    // The same chart drawn alone draws the same.
    let alone = body(
        common::page(&s, &cookie, &format!("/charts/{day1}/draw?project=team-a"))
            .await
            .expect_ok(),
    );
    let svg = |h: &str| h[h.find("<svg").unwrap()..h.find("</svg>").unwrap()].to_owned();
    assert_eq!(svg(&drawn), svg(&alone));
    assert_eq!(
        drawn.matches("no such chart in this project").count(),
        2,
        "{drawn}"
    );
    assert!(
        !drawn.contains("team b&#39;s"),
        "another project's chart stays its own"
    );

    // No chart named, too many, no login.
    let r = common::page(&s, &cookie, "/charts/draw?project=team-a").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", body(&r));
    let many: String = (0..25).map(|i| format!("&id=c{i}")).collect();
    let r = common::page(&s, &cookie, &format!("/charts/draw?project=team-a{many}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", body(&r));
    let r = common::page(&s, "hive_session=nope", &url).await;
    assert_ne!(r.status, StatusCode::OK);
    assert!(!body(&r).contains("<svg"));
}

/// An alert rule's page answers without reading its recent values: they
/// are drawn apart (`GET /alerts/{id}/recent`), in its project only.
#[tokio::test]
async fn an_alerts_recent_values_are_drawn_apart_from_its_page() {
    let s = server();
    let a = s.key("read_write", "team-a").await;
    s.key("read_write", "team-b").await;
    let r = s
        .json(
            "POST",
            "/events",
            &a,
            json!({"event": {"event_type": "model", "event_name": "m",
                "metrics": {"latency_ms": 250}}}),
        )
        .await;
    r.expect_ok();
    let r = s
        .json(
            "POST",
            "/v1/alerts",
            &a,
            json!({"name": "slow", "type": "aggregate", "comparison": "above", "threshold": 100,
                   "frequency": "hourly",
                   "query": {"aggregation": "avg", "metric": "metrics.latency_ms"}}),
        )
        .await;
    r.expect_ok();
    let v = r.json();
    let id = v["data"]["id"]
        .as_str()
        .or_else(|| v["id"].as_str())
        .unwrap()
        .to_owned();
    let cookie = common::dashboard_cookie(&s).await;
    let body = |r: &common::Resp| String::from_utf8_lossy(&r.bytes).into_owned();

    let r = common::page(&s, &cookie, &format!("/alerts/{id}?project=team-a")).await;
    r.expect_ok();
    let html = body(&r);
    let recent = format!("/alerts/{id}/recent?project=team-a");
    assert!(html.contains(&format!("data-draw=\"{recent}\"")), "{html}");
    assert!(!html.contains("<svg"), "the page reads no values itself");

    let r = common::page(&s, &cookie, &recent).await;
    r.expect_ok();
    let drawn = body(&r);
    assert!(
        drawn.contains("id=\"drawn\"") && drawn.contains("<svg"),
        "{drawn}"
    );
    assert!(drawn.contains("threshold 100"), "{drawn}");

    let r = common::page(&s, &cookie, &format!("/alerts/{id}/recent?project=team-b")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", body(&r));
    let r = common::page(&s, &cookie, "/alerts/nope/recent?project=team-a").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", body(&r));
}
