//! Charts and event queries answered from in-memory columns equal the
//! reference semantics over the current documents, and the SQL path,
//! through every kind of write made after the columns were loaded; with a
//! memory budget too small for them, they still answer (from the
//! documents).

use std::sync::Arc;

use hive_core::chart::{ChartQuery, Series, reference};
use hive_core::filter::{DateRange, Filter};
use hive_core::model::Event;
use hive_store::sqlite::{SqliteOptions, SqliteStore};
use hive_store::{EventQuery, Level, Order, Store, WriteOp};
use serde_json::{Value, json};

const T0: i64 = 1_704_067_200_000;
const H: i64 = 3_600_000;

fn event(project: &str, id: &str, session: &str, ty: &str, minute: i64) -> Event {
    Event {
        event_id: id.into(),
        session_id: session.into(),
        parent_id: (ty != "session").then(|| session.to_owned()),
        project_id: project.into(),
        source: "t".into(),
        event_type: ty.into(),
        event_name: id.into(),
        start_time: T0 + minute * 60_000,
        end_time: T0 + minute * 60_000 + 20,
        duration: 20.0,
        ..Event::default()
    }
}

fn put(e: Event) -> WriteOp {
    WriteOp::event(e)
}

fn enrich(project: &str, id: &str, patch: Value, floating: bool) -> WriteOp {
    WriteOp::Enrich {
        project_id: project.into(),
        floating,
        event_id: id.into(),
        patch,
        key_id: None,
        received_at_ms: T0 + 5,
    }
}

fn docs(store: &SqliteStore, project: Option<&str>) -> Vec<Value> {
    store
        .query_from_documents(&EventQuery {
            project_id: project.map(str::to_owned),
            level: Level::Event,
            limit: 7500,
            ..EventQuery::default()
        })
        .unwrap()
        .events
}

fn queries() -> Vec<ChartQuery> {
    let qs = [
        json!({"aggregation": "count", "bucket": "hour", "groupBy": "metadata.variant"}),
        json!({"metric": "metrics.latency_ms", "aggregation": "avg", "bucket": "hour", "groupBy": "metadata.variant"}),
        json!({"metric": "metrics.latency_ms", "aggregation": "p95", "bucket": "day", "groupBy": "user_properties.plan"}),
        json!({"metric": "metadata.cost", "aggregation": "sum", "bucket": "month", "groupBy": "metadata.tenant", "level": "session"}),
        json!({"metric": "duration", "aggregation": "max", "bucket": "week", "groupBy": "event_type"}),
        json!({"metric": "metrics.latency_ms", "aggregation": "min", "bucket": "total", "groupBy": "metadata.flag"}),
        json!({"aggregation": "count", "bucket": "total", "groupBy": "metadata.obj"}),
        json!({"metric": "metrics.latency_ms", "aggregation": "p50", "bucket": "minute",
               "filters": [{"field": "metadata.variant", "operator": "is", "value": "a", "type": "string"}]}),
        json!({"aggregation": "count", "bucket": "day", "groupBy": "metadata.variant",
               "filters": [{"field": "metrics.latency_ms", "operator": "greater than", "value": 150, "type": "number"},
                           {"field": "metadata.flag", "operator": "not exists"}]}),
        json!({"aggregation": "count", "bucket": "day",
               "filters": [{"field": "metadata.variant", "operator": "contains", "value": "B", "type": "string"},
                           {"field": "event_name", "operator": "is not", "value": "e3", "type": "string"}]}),
        json!({"metric": "metadata.cost", "aggregation": "avg", "bucket": "hour", "groupBy": "metadata.cost",
               "dateRange": {"$gte": T0 + H, "$lte": T0 + 30 * 24 * H}}),
    ];
    qs.iter()
        .map(|q| ChartQuery::from_json(q, 0.0).expect("query"))
        .collect()
}

fn same(got: &[Series], want: &[Series], what: &str) {
    assert_eq!(
        got.iter().map(|s| s.group.clone()).collect::<Vec<_>>(),
        want.iter().map(|s| s.group.clone()).collect::<Vec<_>>(),
        "{what}: groups"
    );
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.points.len(), w.points.len(), "{what}: {:?}", g.group);
        for (a, b) in g.points.iter().zip(&w.points) {
            assert_eq!(
                (a.bucket, a.count),
                (b.bucket, b.count),
                "{what}: {:?}",
                g.group
            );
            assert!(
                (a.value - b.value).abs() < 1e-9,
                "{what}: {:?} {a:?} != {b:?}",
                g.group
            );
        }
    }
}

fn filter(v: Value) -> Filter {
    Filter::from_json(&v).expect("filter")
}

fn event_queries(project: &str) -> Vec<EventQuery> {
    let filter_sets = vec![
        vec![],
        vec![filter(
            json!({"field": "metadata.variant", "operator": "is", "value": "a", "type": "string"}),
        )],
        vec![
            filter(
                json!({"field": "metrics.latency_ms", "operator": "greater than", "value": 150, "type": "number"}),
            ),
            filter(
                json!({"field": "user_properties.plan", "operator": "is not", "value": "pro", "type": "string"}),
            ),
        ],
        vec![filter(
            json!({"field": "metadata.flag", "operator": "exists"}),
        )],
        vec![filter(
            json!({"field": "metadata.variant", "operator": "contains", "value": "b", "type": "string"}),
        )],
        vec![filter(
            json!({"field": "metadata.tenant", "operator": "not exists"}),
        )],
        vec![
            filter(
                json!({"field": "metadata.variant", "operator": "is", "value": "a", "type": "string"}),
            ),
            filter(
                json!({"field": "event_type", "operator": "is", "value": "tool", "type": "string"}),
            ),
        ],
    ];
    let mut out = Vec::new();
    for level in [Level::Event, Level::Session, Level::SessionEvent] {
        for order in [
            Order::StartAsc,
            Order::StartDesc,
            Order::DurationDesc,
            Order::CostDesc,
            Order::TokensDesc,
            Order::EventsDesc,
        ] {
            for filters in &filter_sets {
                for (offset, limit) in [(0, 7500), (1, 3)] {
                    out.push(EventQuery {
                        project_id: Some(project.into()),
                        filters: filters.clone(),
                        date_range: if offset == 1 {
                            DateRange {
                                start_ms: Some((T0 + 60_000) as f64),
                                end_ms: None,
                            }
                        } else {
                            DateRange::default()
                        },
                        level,
                        order,
                        limit,
                        offset,
                        brief: false,
                    });
                }
            }
        }
    }
    out
}

fn ids(page: &hive_store::EventPage) -> Vec<String> {
    page.events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn check(store: &SqliteStore, project: &str, step: &str) {
    check_project(store, Some(project), step);
    // Across every project (what an admin key reads without naming one).
    check_project(store, None, step);
}

fn check_project(store: &SqliteStore, project: Option<&str>, step: &str) {
    for mut q in event_queries("") {
        q.project_id = project.map(str::to_owned);
        let got = store.query(&q).unwrap();
        let want = store.query_from_documents(&q).unwrap();
        assert_eq!(got.total, want.total, "{step}: {q:?}");
        assert_eq!(ids(&got), ids(&want), "{step}: {q:?}");
    }
    let current = docs(store, project);
    for q in queries() {
        let got = store.chart(project, &q).unwrap();
        let want = reference(&q, &current);
        same(
            &got,
            &want,
            &format!("{step}, {project:?}, {q:?} vs reference"),
        );
        let sql = store.chart_from_documents(project, &q).unwrap();
        same(&got, &sql, &format!("{step}, {project:?}, {q:?} vs SQL"));
    }
}

fn open(dir: &tempfile::TempDir, column_memory: usize) -> SqliteStore {
    SqliteStore::open(
        dir.path().join("h.db"),
        SqliteOptions {
            column_memory,
            ..SqliteOptions::default()
        },
    )
    .unwrap()
}

fn model(project: &str, i: i64, session: &str) -> Event {
    let mut e = event(project, &format!("e{i}"), session, "model", i * 7);
    e.metadata
        .insert("variant".into(), json!(["a", "b", "B c"][i as usize % 3]));
    e.metadata.insert("cost".into(), json!(i as f64 / 8.0));
    e.metrics.insert("latency_ms".into(), json!(100 + i * 13));
    e.user_properties
        .insert("plan".into(), json!(["free", "pro"][i as usize % 2]));
    e
}

fn exercise(store: &SqliteStore) {
    let mut s1 = event("p", "s1", "s1", "session", 0);
    s1.metadata.insert("tenant".into(), json!("t1"));
    store.apply(&[put(s1)]).unwrap();
    store
        .apply(
            &(0..12)
                .map(|i| put(model("p", i, "s1")))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    check(store, "p", "first load");
    check(store, "default", "first load");

    store
        .apply(&[enrich(
            "p",
            "e2",
            json!({"metrics": {"latency_ms": 999}}),
            false,
        )])
        .unwrap();
    check(store, "p", "a metric enriched");
    store
        .apply(&[enrich(
            "p",
            "e3",
            json!({"metadata": {"variant": "z", "flag": true, "obj": {"k": [1, 2]}}}),
            false,
        )])
        .unwrap();
    check(store, "p", "a group changed, a bool and an object added");
    store
        .apply(&[enrich(
            "p",
            "e4",
            json!({"metadata": {"variant": null, "cost": 2}, "metrics": {"latency_ms": "slow"}}),
            false,
        )])
        .unwrap();
    check(store, "p", "a group removed, a metric no longer a number");
    store
        .apply(&[enrich(
            "p",
            "e5",
            json!({"metadata": {"cost": 3.0, "flag": false}}),
            false,
        )])
        .unwrap();
    check(store, "p", "an integral real");

    // New events, a new session (rollup materialised) and a late start time.
    let mut s2 = event("p", "s2", "s2", "session", 3000);
    s2.metadata.insert("tenant".into(), json!("t2"));
    store
        .apply(&[
            put(s2),
            put(model("p", 40, "s2")),
            put(model("p", 41, "s2")),
        ])
        .unwrap();
    check(store, "p", "a new session");
    store
        .apply(&[enrich(
            "p",
            "s2",
            json!({"metadata": {"tenant": "t3"}}),
            false,
        )])
        .unwrap();
    check(store, "p", "a session enriched");

    // A placeholder made by an early enrichment, then its event.
    store
        .apply(&[enrich(
            "p",
            "s9",
            json!({"metadata": {"variant": "early"}}),
            false,
        )])
        .unwrap();
    check(store, "p", "a placeholder session");
    let mut s9 = event("p", "s9", "s9", "session", 100);
    s9.user_properties.insert("plan".into(), json!("team"));
    store.apply(&[put(s9)]).unwrap();
    check(store, "p", "the placeholder's event");

    // A floating enrichment waits in `default`; the event arrives in `p`
    // and the placeholder in `default` is deleted.
    store
        .apply(&[enrich(
            "default",
            "x1",
            json!({"metadata": {"variant": "floating"}, "metrics": {"latency_ms": 5}}),
            true,
        )])
        .unwrap();
    check(store, "default", "a floating placeholder");
    check(store, "p", "a floating placeholder");
    store
        .apply(&[put(event("p", "x1", "s1", "tool", 9))])
        .unwrap();
    check(store, "default", "the floating placeholder deleted");
    check(store, "p", "the floating patch adopted");
    // The last row deleted, SQLite may reuse its id.
    store.apply(&[put(model("default", 77, "d1"))]).unwrap();
    check(store, "default", "a row after a deletion");

    // A mixed batch.
    let ops: Vec<WriteOp> = (0..30)
        .map(|i| {
            if i % 3 == 0 {
                put(model("p", 100 + i, "s9"))
            } else {
                enrich(
                    "p",
                    &format!("e{}", i % 12),
                    json!({"metrics": {"latency_ms": i * 3}}),
                    false,
                )
            }
        })
        .collect();
    store.apply(&ops).unwrap();
    check(store, "p", "a mixed batch");
}

#[test]
fn columns_stay_exact_through_every_kind_of_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 64 << 20);
    exercise(&store);
    assert!(
        store.column_memory_used() > 0,
        "charts were not answered from columns"
    );
}

#[test]
fn columns_loaded_by_two_threads_are_the_same() {
    // Every load splits the table in two halves scanned on two connections
    // (dictionaries merged), however small the table.
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(
        dir.path().join("h.db"),
        SqliteOptions {
            split_scans_from: 2,
            ..SqliteOptions::default()
        },
    )
    .unwrap();
    exercise(&store);
    assert!(store.column_memory_used() > 0);
}

#[test]
fn a_budget_too_small_for_the_columns_falls_back_to_documents() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 1);
    exercise(&store);
    assert_eq!(store.column_memory_used(), 0);
}

#[test]
fn columns_grown_by_writes_past_the_budget_are_trimmed() {
    // Loaded while the project was empty (they fit), then grown by writes
    // to more than the budget: the next read or the background catch-up
    // brings them back within it, and the answers stay exact.
    let dir = tempfile::tempdir().unwrap();
    let budget = 2000;
    let store = open(&dir, budget);
    let qs = queries();
    let q = &qs[0];
    assert!(store.chart(Some("p"), q).unwrap().is_empty());
    let writes: Vec<WriteOp> = (0..300).map(|i| put(model("p", i, "s1"))).collect();
    store.apply(&writes).unwrap();
    // The background catch-up (every 500 ms) trims what it grows.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert!(
        store.column_memory_used() <= budget,
        "{} bytes held",
        store.column_memory_used()
    );
    check(&store, "p", "grown past the budget");
    assert!(store.column_memory_used() <= budget);
}

#[test]
fn a_budget_for_a_few_columns_evicts_and_reloads() {
    // Room for the base and about three columns of ~60 rows: every query
    // loads what it lacks and evicts the least recently used.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir, 60 * (17 + 3 * 16) + 2000);
    exercise(&store);
}

#[test]
fn concurrent_writes_are_all_seen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir, 64 << 20));
    store
        .apply(&[put(event("p", "s1", "s1", "session", 0))])
        .unwrap();
    let q = &queries()[1];
    store.chart(Some("p"), q).unwrap();
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            for i in 0..300 {
                let op = if i % 2 == 0 {
                    put(model("p", i, "s1"))
                } else {
                    enrich(
                        "p",
                        &format!("e{}", i - 1),
                        json!({"metrics": {"latency_ms": i}, "metadata": {"variant": format!("v{}", i % 5)}}),
                        false,
                    )
                };
                store.apply(&[op]).unwrap();
            }
        })
    };
    let mut charts = 0;
    while !writer.is_finished() {
        store.chart(Some("p"), q).unwrap();
        charts += 1;
    }
    writer.join().unwrap();
    assert!(charts > 0);
    check(&store, "p", "after concurrent writes");
}

#[test]
fn a_reopened_store_loads_the_columns_used_before() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir, 64 << 20);
        exercise(&store);
        assert!(store.column_memory_used() > 0);
    }
    let store = open(&dir, 64 << 20);
    assert_eq!(store.column_memory_used(), 0);
    let loaded = store.warm_columns().unwrap();
    assert!(loaded >= 5, "{loaded} fields loaded");
    let warm = store.column_memory_used();
    assert!(warm > 0);
    // The charts and queries need nothing more, and agree.
    check(&store, "p", "after a restart");
    assert_eq!(store.column_memory_used(), warm, "a column was missing");
    // Columns off: nothing is loaded.
    drop(store);
    assert_eq!(open(&dir, 0).warm_columns().unwrap(), 0);
}

#[test]
fn loads_racing_with_writes_miss_nothing() {
    for split_scans_from in [2, hive_store::sqlite::SPLIT_SCANS_FROM] {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteStore::open(
                dir.path().join("h.db"),
                SqliteOptions {
                    split_scans_from,
                    ..SqliteOptions::default()
                },
            )
            .unwrap(),
        );
        store
            .apply(
                &(0..200)
                    .map(|i| put(model("p", i, "s1")))
                    .collect::<Vec<_>>(),
            )
            .unwrap();
        let writer = {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..400 {
                    let op = if i % 2 == 0 {
                        put(model("p", 1000 + i, "s2"))
                    } else {
                        enrich(
                            "p",
                            &format!("e{}", i % 200),
                            json!({"metrics": {"latency_ms": i}, "user_properties": {"plan": format!("p{}", i % 3)}}),
                            false,
                        )
                    };
                    store.apply(&[op]).unwrap();
                }
            })
        };
        // Each query loads new fields while the writes go on.
        let qs = queries();
        let mut k = 0;
        while !writer.is_finished() {
            store.chart(Some("p"), &qs[k % qs.len()]).unwrap();
            k += 1;
        }
        writer.join().unwrap();
        check(
            &store,
            "p",
            &format!("after loads racing writes (split from {split_scans_from})"),
        );
    }
}

#[test]
fn loads_evictions_and_reads_on_several_threads_miss_nothing() {
    // A budget of a few columns keeps loads and evictions going while two
    // readers and a writer run: a load scans without holding up the other
    // reader, and whatever interleaving results, the columns end exact.
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir, 420 * (17 + 3 * 16) + 4000));
    store
        .apply(
            &(0..200)
                .map(|i| put(model("p", i, "s1")))
                .chain((0..20).map(|i| put(model("q", 500 + i, "s3"))))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            for i in 0..400 {
                let op = if i % 2 == 0 {
                    put(model(if i % 10 == 0 { "q" } else { "p" }, 1000 + i, "s2"))
                } else {
                    enrich(
                        "p",
                        &format!("e{}", i % 200),
                        json!({"metrics": {"latency_ms": i}, "metadata": {"variant": format!("v{}", i % 4)}}),
                        false,
                    )
                };
                store.apply(&[op]).unwrap();
            }
        })
    };
    let reader = |project: Option<&'static str>, offset: usize| {
        let store = store.clone();
        std::thread::spawn(move || {
            let qs = queries();
            let eqs = event_queries("");
            let mut k = offset;
            while k < offset + 60 {
                store.chart(project, &qs[k % qs.len()]).unwrap();
                let mut q = eqs[k % eqs.len()].clone();
                q.project_id = project.map(str::to_owned);
                store.query(&q).unwrap();
                k += 1;
            }
        })
    };
    let readers = [reader(Some("p"), 0), reader(None, 5), reader(Some("q"), 3)];
    writer.join().unwrap();
    for r in readers {
        r.join().unwrap();
    }
    check(
        &store,
        "p",
        "after loads, evictions and reads racing writes",
    );
    check(
        &store,
        "q",
        "after loads, evictions and reads racing writes",
    );
}
