//! Chart aggregation: values computed by hand in the test, then every
//! aggregation × bucket × group-by against the reference semantics.

use hive_core::chart::{ChartQuery, Series, reference};
use serde_json::{Value, json};

use super::{P, all, enrich, event, put};
use crate::objects::{ALERT, CHART, NOTIFICATION, ObjectPut};
use crate::{Level, Store, WriteOp};

const H: i64 = 3_600_000;
/// 2024-01-01T00:00:00Z, a Monday.
const T0: i64 = 1_704_067_200_000;

fn chart(store: &dyn Store, q: Value) -> Vec<Series> {
    let q = ChartQuery::from_json(&q, 0.0).expect("chart query");
    store.chart(Some(P), &q).expect("chart")
}

fn points(s: &Series) -> Vec<(i64, f64, u64)> {
    s.points
        .iter()
        .map(|p| (p.bucket, p.value, p.count))
        .collect()
}

fn load(store: &dyn Store) {
    let mut ops = Vec::new();
    // Two sessions; events in hours 0 and 1 of 2024-01-01 and one on
    // 2024-02-01 (another month and week).
    let latencies: [(i64, &str, &str, Value); 9] = [
        (5, "a", "free", json!(100)),
        (30, "a", "pro", json!(300)),
        (59, "a", "free", json!(200)),
        (60 + 1, "a", "pro", json!(50)),
        (10, "b", "pro", json!(7.5)),
        (20, "b", "free", json!(2.5)),
        (40, "b", "pro", json!("slow")),
        (50, "c", "free", json!(true)),
        (31 * 24 * 60, "a", "pro", json!(1000)),
    ];
    for (s, sid) in ["s1", "s2"].iter().enumerate() {
        let mut session = event(sid, sid, "session", T0 + s as i64);
        session
            .metadata
            .insert("cost".into(), json!(0.25 + s as f64));
        ops.push(put(session));
    }
    for (i, (minute, variant, plan, latency)) in latencies.into_iter().enumerate() {
        let sid = if i % 2 == 0 { "s1" } else { "s2" };
        let id = format!("e{i}");
        let mut e = event(&id, sid, "model", T0 + minute * 60_000);
        e.metadata.insert("variant".into(), json!(variant));
        e.metadata.insert("cost".into(), json!(i as f64 / 100.0));
        e.metrics.insert("latency_ms".into(), latency);
        e.user_properties.insert("plan".into(), json!(plan));
        ops.push(put(e));
    }
    store.apply(&ops).unwrap();
    // An enrichment changes a value after ingest: charts see the current state.
    store
        .apply(&[enrich("e2", json!({"metrics": {"latency_ms": 400}}))])
        .unwrap();
}

pub fn charts_agree_with_reference(store: &dyn Store) {
    load(store);

    // By hand: variant a, hour 0 has 100, 300, 400 (e2 enriched); hour 1
    // has 50; 2024-02-01 has 1000. Variant b: 7.5 and 2.5 ("slow" is not a
    // number). Variant c: true is not a number.
    let s = chart(
        store,
        json!({"metric": "metrics.latency_ms", "aggregation": "avg", "bucket": "hour", "groupBy": "metadata.variant"}),
    );
    let groups: Vec<_> = s.iter().map(|s| s.group.clone()).collect();
    assert_eq!(groups, vec![Some("a".to_owned()), Some("b".to_owned())]);
    assert_eq!(
        points(&s[0]),
        vec![
            (T0, 800.0 / 3.0, 3),
            (T0 + H, 50.0, 1),
            (T0 + 31 * 24 * H, 1000.0, 1)
        ]
    );
    assert_eq!(points(&s[1]), vec![(T0, 5.0, 2)]);

    let s = chart(
        store,
        json!({"metric": "metrics.latency_ms", "aggregation": "p50", "bucket": "month", "groupBy": "metadata.variant"}),
    );
    // a in January: 50, 100, 300, 400 -> nearest rank ceil(0.5*4)=2 -> 100.
    assert_eq!(points(&s[0])[0], (T0, 100.0, 4));
    let s = chart(
        store,
        json!({"metric": "metrics.latency_ms", "aggregation": "p90", "bucket": "week"}),
    );
    // Week of 2024-01-01: 2.5, 7.5, 50, 100, 300, 400 -> rank ceil(5.4)=6 -> 400.
    assert_eq!(points(&s[0])[0], (T0, 400.0, 6));
    let s = chart(
        store,
        json!({"aggregation": "count", "bucket": "day", "groupBy": "user_properties.plan",
               "filters": [{"field": "event_type", "operator": "is", "value": "model", "type": "string"}]}),
    );
    let free: Vec<_> = points(&s[0]);
    assert_eq!(s[0].group.as_deref(), Some("free"));
    assert_eq!(free, vec![(T0, 4.0, 4)]);
    let s = chart(
        store,
        json!({"metric": "metadata.cost", "aggregation": "sum", "bucket": "day", "level": "session"}),
    );
    assert_eq!(s.len(), 1);
    assert_eq!(points(&s[0]).len(), 1);
    let (_, total, n) = points(&s[0])[0];
    assert_eq!(n, 2);
    // The session rollup's cost (the sum of its events' costs) replaces
    // what was set on the session; whatever the backend stores, the chart
    // must equal the session documents.
    let sessions = all(store, vec![], Level::SessionEvent);
    let want: f64 = sessions
        .iter()
        .filter_map(|d| d["metadata"]["cost"].as_f64())
        .sum();
    assert!((total - want).abs() < 1e-9, "{total} != {want}");

    // Every combination against the reference.
    let docs = all(store, vec![], Level::Event);
    for agg in hive_core::chart::Aggregation::NAMES {
        for bucket in hive_core::chart::Bucket::NAMES {
            for group in [
                Value::Null,
                json!("metadata.variant"),
                json!("user_properties.plan"),
                json!("event_type"),
            ] {
                for level in ["event", "session"] {
                    for metric in ["metrics.latency_ms", "metadata.cost", "duration"] {
                        let q = json!({"metric": metric, "aggregation": agg, "bucket": bucket,
                                       "groupBy": group, "level": level,
                                       "dateRange": {"$gte": T0, "$lte": T0 + 40 * 24 * H}});
                        let q = ChartQuery::from_json(&q, 0.0).unwrap();
                        let got = store.chart(Some(P), &q).unwrap();
                        let want = reference(&q, &docs);
                        assert_eq!(got.len(), want.len(), "{q:?}");
                        for (g, w) in got.iter().zip(&want) {
                            assert_eq!(g.group, w.group, "{q:?}");
                            assert_eq!(g.points.len(), w.points.len(), "{q:?}");
                            for (a, b) in g.points.iter().zip(&w.points) {
                                assert_eq!((a.bucket, a.count), (b.bucket, b.count), "{q:?}");
                                assert!((a.value - b.value).abs() < 1e-9, "{q:?}: {a:?} {b:?}");
                            }
                        }
                    }
                }
            }
        }
    }

    // Another project sees nothing.
    let q = ChartQuery::from_json(&json!({"aggregation": "count"}), 0.0).unwrap();
    assert!(store.chart(Some("proj-b"), &q).unwrap().is_empty());
}

/// Several charts asked together ([`Store::charts`], as alert rules are
/// evaluated) answer each as it answers alone and as the reference does,
/// whatever their ranges (disjoint, nested, open), levels, filters and
/// groups.
pub fn charts_together_as_apart(store: &dyn Store) {
    load(store);
    assert!(store.charts(Some(P), &[]).unwrap().is_empty());
    let docs = all(store, vec![], Level::Event);
    let range = |from: i64, to: i64| json!({"$gte": T0 + from, "$lte": T0 + to});
    let qs: Vec<ChartQuery> = [
        json!({"aggregation": "count", "bucket": "total", "dateRange": range(0, H - 1)}),
        json!({"aggregation": "count", "bucket": "total", "dateRange": range(H, 2 * H - 1)}),
        json!({"metric": "metrics.latency_ms", "aggregation": "avg", "bucket": "hour",
               "groupBy": "metadata.variant"}),
        json!({"metric": "metrics.latency_ms", "aggregation": "p90", "bucket": "total",
               "groupBy": "user_properties.plan", "dateRange": range(0, 40 * 24 * H)}),
        json!({"metric": "metadata.cost", "aggregation": "sum", "bucket": "day",
               "level": "session", "dateRange": range(0, 2 * H)}),
        json!({"aggregation": "count", "bucket": "total",
               "filters": [{"field": "metadata.variant", "operator": "is", "value": "b",
                            "type": "string"}],
               "dateRange": range(30 * 60_000, 31 * 24 * H)}),
        json!({"aggregation": "count", "bucket": "total", "dateRange": range(-10 * H, -H)}),
    ]
    .iter()
    .map(|q| ChartQuery::from_json(q, 0.0).expect("chart query"))
    .collect();
    let close = |got: &[Series], want: &[Series], q: &ChartQuery| {
        assert_eq!(got.len(), want.len(), "{q:?}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.group, w.group, "{q:?}");
            assert_eq!(g.points.len(), w.points.len(), "{q:?}");
            for (a, b) in g.points.iter().zip(&w.points) {
                assert_eq!((a.bucket, a.count), (b.bucket, b.count), "{q:?}");
                assert!((a.value - b.value).abs() < 1e-9, "{q:?}: {a:?} {b:?}");
            }
        }
    };
    // All together, and each subset of two (a ranged chart with an open
    // one reads everything; two ranged ones their union).
    let together = store.charts(Some(P), &qs).unwrap();
    assert_eq!(together.len(), qs.len());
    for (q, got) in qs.iter().zip(&together) {
        close(got, &store.chart(Some(P), q).unwrap(), q);
        close(got, &reference(q, &docs), q);
    }
    assert_eq!(
        together[0][0].points[0].count, 9,
        "hour 0: s1, s2 and seven events"
    );
    assert!(together[6].is_empty(), "a range before every event");
    for i in 0..qs.len() {
        for j in i + 1..qs.len() {
            let pair = [qs[i].clone(), qs[j].clone()];
            let got = store.charts(Some(P), &pair).unwrap();
            close(&got[0], &together[i], &qs[i]);
            close(&got[1], &together[j], &qs[j]);
        }
    }
    // Another project's charts are its own.
    assert!(
        store
            .charts(Some("proj-b"), &qs)
            .unwrap()
            .iter()
            .all(Vec::is_empty)
    );
}

pub fn saved_objects(store: &dyn Store) {
    let o = store.objects();
    let a = o.put(CHART, P, "c1", &json!({"name": "latency"})).unwrap();
    o.put(CHART, "proj-b", "c2", &json!({"name": "other"}))
        .unwrap();
    let b = o
        .put(CHART, P, "c1", &json!({"name": "latency 2"}))
        .unwrap();
    assert_eq!(a.created_at, b.created_at);
    assert_eq!(o.list(CHART, Some(P)).unwrap().len(), 1);
    assert_eq!(o.list(CHART, None).unwrap().len(), 2);
    assert!(o.get(CHART, Some("proj-b"), "c1").unwrap().is_none());
    assert_eq!(
        o.get(CHART, Some(P), "c1").unwrap().unwrap().doc["name"],
        "latency 2"
    );
    assert!(o.list(ALERT, Some(P)).unwrap().is_empty());
    o.put(ALERT, P, "a1", &json!({"name": "x"})).unwrap();
    for i in 0..3 {
        o.add_evaluation("a1", i, &json!({"i": i})).unwrap();
    }
    let ev = o.evaluations("a1", 2).unwrap();
    assert_eq!(ev.iter().map(|e| e.at).collect::<Vec<_>>(), vec![2, 1]);
    assert!(!o.delete(ALERT, Some("proj-b"), "a1").unwrap());
    assert!(o.delete(ALERT, Some(P), "a1").unwrap());
    assert!(o.evaluations("a1", 10).unwrap().is_empty());

    // Several objects in one write: a rule's new state and its pending
    // notification; a replaced object keeps its creation time.
    let rule = o.put(ALERT, P, "a2", &json!({"name": "y"})).unwrap();
    let (state, pending) = (json!({"name": "y", "state": "triggered"}), json!({"at": 5}));
    o.put_all(&[
        ObjectPut {
            kind: ALERT,
            project_id: P,
            id: "a2",
            doc: &state,
        },
        ObjectPut {
            kind: NOTIFICATION,
            project_id: P,
            id: "a2:5",
            doc: &pending,
        },
    ])
    .unwrap();
    let now = o.get(ALERT, Some(P), "a2").unwrap().unwrap();
    assert_eq!((now.doc, now.created_at), (state, rule.created_at));
    let waiting = o.list(NOTIFICATION, None).unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!((&*waiting[0].id, &waiting[0].doc), ("a2:5", &pending));
    assert_eq!(waiting[0].project_id, P);
    assert!(o.delete(NOTIFICATION, Some(P), "a2:5").unwrap());
    assert!(o.list(NOTIFICATION, None).unwrap().is_empty());
    assert!(o.get(ALERT, Some(P), "a2").unwrap().is_some());
}

/// A session sent as starting after its events starts, in every read, at
/// its events' first start (as its folded document says): charts at both
/// levels, lists at each level and date ranges. Reads of what else a
/// rollup writes (cost, counts, duration) see that too. (The ClickHouse
/// store reads only the starts for a read that touches nothing else a
/// rollup writes.)
pub fn session_start_comes_from_its_events(store: &dyn Store) {
    let mut ops = vec![];
    for s in 0..3_i64 {
        let sid = format!("s{s}");
        let mut session = event(&sid, &sid, "session", T0 + 10 * H + s);
        session
            .metadata
            .insert("tier".into(), json!(format!("t{s}")));
        ops.push(put(session));
        for i in 0..3_i64 {
            let mut e = event(&format!("s{s}-e{i}"), &sid, "model", T0 + (s + i) * H + 5);
            e.end_time = e.start_time + 495;
            e.duration = 495.0;
            e.metadata.insert("tier".into(), json!(format!("t{i}")));
            e.metadata.insert("cost".into(), json!(0.5 + i as f64));
            ops.push(put(e));
        }
    }
    store.apply(&ops).expect("apply");
    let docs = all(store, vec![], Level::Event);
    let s0 = docs.iter().find(|d| d["event_id"] == "s0").expect("s0");
    assert_eq!(
        s0["start_time"],
        T0 + 5,
        "the folded session starts with its events"
    );
    for q in [
        json!({"aggregation": "count", "bucket": "hour", "groupBy": "metadata.tier", "level": "session"}),
        json!({"aggregation": "count", "bucket": "hour", "groupBy": "metadata.tier"}),
        json!({"metric": "metadata.cost", "aggregation": "sum", "bucket": "hour", "groupBy": "metadata.tier", "level": "session"}),
        json!({"metric": "duration", "aggregation": "max", "bucket": "hour", "level": "session"}),
        json!({"metric": "metadata.num_events", "aggregation": "sum", "bucket": "day"}),
    ] {
        let want = reference(&ChartQuery::from_json(&q, 0.0).expect("chart query"), &docs);
        assert_eq!(
            format!("{:?}", chart(store, q.clone())),
            format!("{want:?}"),
            "{q}"
        );
    }
    // The first two hours: s0 and s1 by their events' starts (none by the
    // start they were sent with).
    let end = T0 + 2 * H;
    for level in [Level::Session, Level::SessionEvent, Level::Event] {
        let page = store
            .query(&crate::EventQuery {
                project_id: Some(P.into()),
                date_range: hive_core::filter::DateRange {
                    start_ms: Some(T0 as f64),
                    end_ms: Some(end as f64),
                },
                level,
                limit: 100,
                ..crate::EventQuery::default()
            })
            .expect("query");
        let ids = |docs: &mut dyn Iterator<Item = &Value>| {
            let mut ids: Vec<String> = docs.map(|d| d["event_id"].to_string()).collect();
            ids.sort();
            ids
        };
        let mut want = docs.iter().filter(|d| {
            d["start_time"].as_i64().expect("start") <= end
                && (level == Level::Event || d["event_type"] == "session")
        });
        let want = ids(&mut want);
        assert_eq!(page.total as usize, want.len(), "{level:?}");
        assert_eq!(ids(&mut page.events.iter()), want, "{level:?}");
    }
}

/// Times at the ends of what a client can send (a start of ±1e300 ms is
/// kept as the nearest i64, a duration as large as an f64 goes): read
/// back as sent, listed in every order, charted in every bucket and level
/// as the reference semantics chart them, and found by a date range.
pub fn extreme_times(store: &dyn Store) {
    use crate::{EventQuery, Order};
    let times = [i64::MIN, -1, 0, T0, i64::MAX];
    let mut ops = vec![put(event("x", "x", "session", T0))];
    for (i, t) in times.into_iter().enumerate() {
        let mut e = event(&format!("x{i}"), "x", "model", 0);
        e.start_time = t;
        e.end_time = if i % 2 == 0 { t } else { i64::MAX };
        e.duration = if i == 1 { f64::MAX } else { 0.0 };
        e.metrics.insert("v".into(), json!(i));
        ops.push(put(e));
    }
    store.apply(&ops).expect("apply");
    let docs = all(store, vec![], Level::Event);
    assert_eq!(docs.len(), 6, "{docs:?}");
    for (i, t) in times.into_iter().enumerate() {
        let doc = docs
            .iter()
            .find(|d| d["event_id"] == format!("x{i}"))
            .expect("listed");
        assert_eq!(doc["start_time"], json!(t), "x{i}");
    }
    for order in [
        Order::StartAsc,
        Order::StartDesc,
        Order::DurationDesc,
        Order::CostDesc,
        Order::EventsDesc,
    ] {
        for level in [Level::Event, Level::Session] {
            let page = store
                .query(&EventQuery {
                    project_id: Some(P.into()),
                    level,
                    order,
                    limit: 100,
                    ..EventQuery::default()
                })
                .expect("query");
            let want = if level == Level::Event { 6 } else { 1 };
            assert_eq!(page.events.len(), want, "{order:?} {level:?}");
        }
    }
    let starts = |page: &[Value]| -> Vec<i64> {
        page.iter()
            .map(|d| d["start_time"].as_i64().expect("start"))
            .collect()
    };
    let oldest = store
        .query(&EventQuery {
            project_id: Some(P.into()),
            order: Order::StartAsc,
            limit: 100,
            ..EventQuery::default()
        })
        .expect("query");
    assert_eq!(
        starts(&oldest.events),
        [i64::MIN, i64::MIN, -1, 0, T0, i64::MAX],
        "oldest first (the session starts with its first event)"
    );
    for bucket in ["minute", "hour", "day", "week", "month", "total"] {
        for level in ["event", "session"] {
            for (aggregation, metric) in [
                ("count", Value::Null),
                ("max", json!("duration")),
                ("p50", json!("metrics.v")),
            ] {
                let q = json!({"aggregation": aggregation, "metric": metric, "bucket": bucket, "level": level});
                let want = reference(&ChartQuery::from_json(&q, 0.0).expect("chart query"), &docs);
                assert_eq!(
                    format!("{:?}", chart(store, q.clone())),
                    format!("{want:?}"),
                    "{q}"
                );
            }
        }
    }
    // The events that start within a range around the epoch.
    let near = store
        .query(&EventQuery {
            project_id: Some(P.into()),
            date_range: hive_core::filter::DateRange {
                start_ms: Some(-1.0),
                end_ms: Some(0.0),
            },
            order: Order::StartAsc,
            limit: 100,
            ..EventQuery::default()
        })
        .expect("query");
    assert_eq!(starts(&near.events), [-1, 0]);
}

/// Charts read from what a store derives from its writes for wide reads
/// (on ClickHouse, every event's state, ADR 0028) agree with the
/// reference at every step: before any compaction, compacted, and with
/// writes since the last compaction (new events and sessions, starts
/// moved to other days, sessions enriched, deletions, an enrichment
/// adopted from the project it floated in, a start no hour holds, a metric
/// inside an array).
pub fn charts_from_the_compacted_state(store: &dyn Store) {
    load(store);
    let range = |from: i64, to: i64| json!({"$gte": T0 + from, "$lte": T0 + to});
    let qs: Vec<ChartQuery> = [
        json!({"aggregation": "count", "bucket": "total", "dateRange": range(0, H - 1)}),
        json!({"aggregation": "count", "bucket": "hour", "groupBy": "metadata.variant"}),
        json!({"metric": "metrics.latency_ms", "aggregation": "avg", "bucket": "day",
               "groupBy": "metadata.variant", "dateRange": range(0, 40 * 24 * H)}),
        json!({"metric": "metadata.cost", "aggregation": "sum", "bucket": "day",
               "level": "session", "dateRange": range(0, 10 * 24 * H)}),
        json!({"aggregation": "count", "bucket": "hour", "level": "session",
               "groupBy": "event_type"}),
        json!({"metric": "duration", "aggregation": "max", "bucket": "total",
               "level": "session"}),
        json!({"aggregation": "count", "bucket": "minute",
               "filters": [{"field": "metadata.variant", "operator": "is", "value": "b",
                            "type": "string"}],
               "dateRange": range(0, 4 * 24 * H)}),
        json!({"metric": "metrics.latency_ms", "aggregation": "sum", "bucket": "total",
               "groupBy": "user_properties.plan"}),
        json!({"metric": "metrics.latency_ms", "aggregation": "p90", "bucket": "total"}),
        json!({"aggregation": "count", "bucket": "total", "dateRange": range(-10 * H, -H)}),
        // (A session's duration is its events' span: its rollup.)
        json!({"metric": "duration", "aggregation": "sum", "bucket": "total"}),
    ]
    .iter()
    .map(|q| ChartQuery::from_json(q, 0.0).expect("chart query"))
    .collect();
    let check = |store: &dyn Store, step: &str| {
        for project in [P, "default"] {
            let docs: Vec<Value> = store
                .query(&crate::EventQuery {
                    project_id: Some(project.into()),
                    limit: 1000,
                    ..Default::default()
                })
                .expect("query")
                .events;
            let together = store.charts(Some(project), &qs).expect("charts");
            for (q, got) in qs.iter().zip(&together) {
                let want = reference(q, &docs);
                for got in [got.clone(), store.chart(Some(project), q).expect("chart")] {
                    assert_eq!(got.len(), want.len(), "{step}, {project}: {q:?}: {got:?}");
                    for (g, w) in got.iter().zip(&want) {
                        assert_eq!(g.group, w.group, "{step}, {project}: {q:?}");
                        assert_eq!(
                            points(g).iter().map(|p| (p.0, p.2)).collect::<Vec<_>>(),
                            points(w).iter().map(|p| (p.0, p.2)).collect::<Vec<_>>(),
                            "{step}, {project}: {q:?}"
                        );
                        for (a, b) in g.points.iter().zip(&w.points) {
                            assert!(
                                (a.value - b.value).abs() < 1e-9,
                                "{step}, {project}: {q:?}: {a:?} {b:?}"
                            );
                        }
                    }
                }
            }
        }
    };
    // Each step checked with what was written since the last compaction,
    // then compacted and checked again.
    let step = |store: &dyn Store, name: &str, ops: Vec<WriteOp>| {
        for op in ops {
            store.apply(&[op]).unwrap();
        }
        check(store, &format!("{name}, written since"));
        store.compact().unwrap();
        check(store, &format!("{name}, compacted"));
    };
    check(store, "before any compaction");
    store.compact().unwrap();
    check(store, "compacted");
    // The paths those charts read, given columns of their own by the next
    // compaction (on ClickHouse, ADR 0029), read from them.
    store.compact().unwrap();
    check(store, "compacted, the paths read given slots");
    // Nothing since: nothing to do.
    assert!(store.compact().unwrap().is_none());
    // A new event in an earlier session, alone there: the session's
    // rollup, in the session's row, changes though no write of the
    // session's own or of its other events came. And a session inside
    // another (its session the outer one), whose events roll up into its
    // row.
    let mut e12 = event("e12", "s1", "model", T0 + 2 * H + 30_000);
    e12.metadata.insert("cost".into(), json!(0.125));
    let day4 = T0 + 4 * 24 * H;
    step(
        store,
        "a new event in an earlier session, a session inside another",
        vec![
            put(e12),
            put(event("s4", "s4", "session", day4)),
            put(event("s5", "s4", "session", day4 + 60_000)),
            put(event("e13", "s5", "model", day4 + 600_000)),
        ],
    );
    // A new event of the outer session makes the inner session's row
    // unsettled, and so its events too.
    step(
        store,
        "a new event of the outer session",
        vec![put(event("e14", "s4", "model", day4 + 120_000))],
    );
    let mut e9 = event("e9", "s1", "model", T0 + 2 * H);
    e9.metadata.insert("variant".into(), json!("b"));
    e9.metrics.insert("latency_ms".into(), json!(9));
    let s3 = event("s3", "s3", "session", T0 + 3 * 24 * H);
    let mut e10 = event("e10", "s3", "tool", T0 + 3 * 24 * H + 60_000);
    e10.metadata.insert("variant".into(), json!("c"));
    e10.metadata.insert("cost".into(), json!(0.5));
    step(
        store,
        "new events, a start moved, a session enriched",
        vec![
            put(e9),
            put(s3),
            put(e10),
            enrich(
                "e4",
                json!({"start_time": T0 + 3 * 24 * H + 5 * 60_000, "metadata": {"variant": "c"}}),
            ),
            enrich("s2", json!({"metadata": {"cost": 5, "variant": "b"}})),
            super::floating("e11", json!({"metadata": {"variant": "f"}})),
        ],
    );
    let mut e11 = event("e11", "s3", "model", T0 + 3 * 24 * H + 2 * 60_000);
    e11.metrics.insert("latency_ms".into(), json!(11));
    step(store, "an enrichment adopted", vec![put(e11)]);
    step(
        store,
        "deleted",
        vec![
            WriteOp::Delete {
                project_id: P.into(),
                target: crate::DeleteTarget::Event("e0".into()),
            },
            WriteOp::Delete {
                project_id: P.into(),
                target: crate::DeleteTarget::Session("s2".into()),
            },
        ],
    );
    step(
        store,
        "a start no hour holds, a metric in an array",
        vec![
            enrich("e3", json!({"metrics": {"latency_ms": [1, 2]}})),
            // (Past 2^53 ms: no hour ClickHouse's statements tell holds
            // it exactly.)
            enrich("e8", json!({"start_time": 9.1e15})),
            enrich("s1", json!({"metadata": {"variant": "a"}})),
        ],
    );
}
