//! Reads bounded by dates (the dashboard's time range, an alert's window):
//! every event and session whose current start lies in the range, however
//! it came to start there.

use hive_core::chart::{ChartQuery, reference};
use hive_core::filter::{DateRange, Filter};
use serde_json::{Value, json};

use super::{P, all, enrich, event, put};
use crate::{EventQuery, Level, Order, Store, WriteOp};

const H: i64 = 3_600_000;
/// 2024-01-01T00:00:00Z.
const T0: i64 = 1_704_067_200_000;

fn at(hours: f64) -> i64 {
    T0 + (hours * H as f64) as i64
}

fn member(id: &str, session: &str, hours: f64, k: &str) -> WriteOp {
    let mut e = event(id, session, "model", at(hours));
    e.metadata.insert("k".into(), json!(k));
    e.metadata.insert("cost".into(), json!(0.25));
    put(e)
}

fn session(id: &str, hours: f64) -> WriteOp {
    put(event(id, id, "session", at(hours)))
}

fn load(store: &dyn Store) {
    let ops = vec![
        // a starts before the window, by an event before it; a2 is in it.
        session("a", 1.0),
        member("a1", "a", 0.5, "x"),
        member("a2", "a", 1.5, "y"),
        // b is sent starting late, but its event b1 starts in the window.
        session("b", 5.0),
        member("b1", "b", 1.2, "x"),
        // c starts in the window; its event long after.
        session("c", 1.1),
        member("c1", "c", 9.0, "z"),
        // f and f1 start late, until f1 is moved into the window.
        session("f", 20.0),
        member("f1", "f", 20.0, "x"),
        // g1 starts in the window until it is moved out.
        session("g", 30.0),
        member("g1", "g", 1.6, "y"),
        // h1 is moved into the window too (its session stays out).
        session("h", 50.0),
        member("h1", "h", 50.0, "z"),
        // m1 starts in the window and moves from session i to j.
        session("i", 60.0),
        member("m1", "i", 1.8, "x"),
        session("j", 70.0),
        // k is a session within session c that starts in the window, but
        // its own event k1 starts before it, and so does k.
        put(event("k", "c", "session", at(1.9))),
        member("k1", "k", 0.1, "x"),
    ];
    store.apply(&ops).expect("apply");
    // Events far from the window.
    let far: Vec<WriteOp> = (0..30)
        .map(|n| member(&format!("n{n}"), "a", 100.0 + f64::from(n), "w"))
        .collect();
    store.apply(&far).expect("apply");
    let mut d = enrich("d", json!({"metadata": {"k": "d"}}));
    // d exists only by an enrichment received in the window: it starts
    // when that arrived.
    if let WriteOp::Enrich { received_at_ms, .. } = &mut d {
        *received_at_ms = at(1.3);
    }
    store
        .apply(&[
            d,
            enrich("f1", json!({"start_time": at(1.4)})),
            enrich("g1", json!({"start_time": at(40.0)})),
            enrich("h1", json!({"start_time": at(1.7)})),
            enrich("m1", json!({"session_id": "j"})),
        ])
        .expect("enrich");
    // d gets an event that starts before the window, and so does it.
    store.apply(&[member("d1", "d", 0.2, "x")]).expect("apply");
}

fn in_range(d: &Value, r: &DateRange) -> bool {
    let Some(s) = d["start_time"].as_f64() else {
        return r.start_ms.is_none() && r.end_ms.is_none();
    };
    r.start_ms.is_none_or(|x| s >= x) && r.end_ms.is_none_or(|x| s <= x)
}

fn is_session(d: &Value) -> bool {
    d["event_type"] == "session" && d["event_id"] == d["session_id"]
}

fn ids<'a>(docs: impl Iterator<Item = &'a Value>) -> Vec<String> {
    let mut ids: Vec<String> = docs.map(|d| d["event_id"].to_string()).collect();
    ids.sort();
    ids
}

pub fn dated_reads_see_every_event_they_need(store: &dyn Store) {
    load(store);
    let docs = all(store, vec![], Level::Event);
    let start = |id: &str| {
        docs.iter()
            .find(|d| d["event_id"] == id)
            .unwrap_or_else(|| panic!("{id} missing"))["start_time"]
            .as_f64()
            .expect("a start")
    };
    // What the scenario sets up, as the folded documents say.
    assert_eq!(start("a"), at(0.5) as f64);
    assert_eq!(start("b"), at(1.2) as f64);
    assert_eq!(start("d"), at(0.2) as f64);
    assert_eq!(start("f"), at(1.4) as f64);
    assert_eq!(start("j"), at(1.8) as f64);
    assert_eq!(start("h1"), at(1.7) as f64);
    assert_eq!(start("h"), at(1.7) as f64);
    assert_eq!(start("k"), at(0.1) as f64);
    let range = |from: Option<f64>, to: Option<f64>| DateRange {
        start_ms: from.map(|h| at(h) as f64),
        end_ms: to.map(|h| at(h) as f64),
    };
    let is_x = Filter::from_json(&json!({"field": "metadata.k", "operator": "is", "value": "x"}))
        .expect("filter");
    for r in [
        range(Some(1.0), Some(2.0)),
        range(Some(1.2), None),
        range(Some(1.3), Some(1.3)),
        range(Some(0.2), Some(0.2)),
        range(Some(0.0), Some(1.0)),
        range(Some(1.75), Some(1.8)),
        range(Some(200.0), Some(300.0)),
        range(None, Some(1.5)),
        range(Some(1.7), Some(1.7)),
    ] {
        for q in [
            json!({"aggregation": "count", "bucket": "hour", "groupBy": "metadata.k"}),
            json!({"aggregation": "count", "bucket": "minute", "level": "session"}),
            json!({"metric": "metadata.num_events", "aggregation": "sum", "bucket": "day",
                   "level": "session", "filters": [{"field": "metadata.k", "operator": "not exists"}]}),
            json!({"metric": "duration", "aggregation": "max", "bucket": "total", "level": "session"}),
            json!({"metric": "metadata.cost", "aggregation": "sum", "bucket": "hour",
                   "groupBy": "session_id"}),
        ] {
            let mut q = ChartQuery::from_json(&q, 0.0).expect("chart query");
            q.date_range = r;
            let got = store.chart(Some(P), &q).expect("chart");
            let want = reference(&q, &docs);
            assert_eq!(format!("{got:?}"), format!("{want:?}"), "{r:?} {q:?}");
        }
        for (level, filters) in [
            (Level::Event, vec![]),
            (Level::SessionEvent, vec![]),
            (Level::Session, vec![]),
            (Level::Event, vec![is_x.clone()]),
            (Level::Session, vec![is_x.clone()]),
        ] {
            for order in [Order::StartAsc, Order::StartDesc] {
                let page = store
                    .query(&EventQuery {
                        project_id: Some(P.into()),
                        filters: filters.clone(),
                        level,
                        order,
                        date_range: r,
                        limit: 1000,
                        ..EventQuery::default()
                    })
                    .expect("query");
                let want: Vec<&Value> = docs
                    .iter()
                    .filter(|d| in_range(d, &r))
                    .filter(|d| match level {
                        Level::Event => filters.iter().all(|f| f.matches(d)),
                        Level::SessionEvent => {
                            is_session(d) && filters.iter().all(|f| f.matches(d))
                        }
                        Level::Session => {
                            is_session(d)
                                && filters.iter().all(|f| {
                                    f.matches(d)
                                        || docs.iter().any(|e| {
                                            e["session_id"] == d["event_id"]
                                                && e["event_id"] != d["event_id"]
                                                && f.matches(e)
                                        })
                                })
                        }
                    })
                    .collect();
                let label = format!("{r:?} {level:?} {filters:?} {order:?}");
                assert_eq!(
                    ids(page.events.iter()),
                    ids(want.iter().copied()),
                    "{label}"
                );
                assert_eq!(page.total as usize, want.len(), "{label}");
                // In order of their starts.
                let starts: Vec<f64> = page
                    .events
                    .iter()
                    .map(|d| d["start_time"].as_f64().expect("a start"))
                    .collect();
                let mut sorted = starts.clone();
                sorted.sort_by(f64::total_cmp);
                if order == Order::StartDesc {
                    sorted.reverse();
                }
                assert_eq!(starts, sorted, "{label}");
            }
        }
    }
}
