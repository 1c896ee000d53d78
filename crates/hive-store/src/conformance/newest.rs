//! A list's page without its count (`Store::query_page`, what the
//! dashboard's lists show first): the same events in the same order as
//! `query`, and whether a match follows, however the events came to start
//! where they do.

use hive_core::filter::{DateRange, Filter};
use serde_json::{Value, json};

use super::{P, enrich_in, event, put};
use crate::{EventQuery, Level, Order, Store, WriteOp};

const H: i64 = 3_600_000;
/// Hours of sessions, one an hour.
const HOURS: i64 = 240;

/// The first session's hour: twelve days ago, so the last five days of
/// sessions lie in the last week, which a backend may look at first
/// (ClickHouse's newest pages do).
/// (Taken once: the case is the same however long the suite runs.)
fn t0() -> i64 {
    static T0: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *T0.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        (now - 12 * 24 * H).div_euclid(H) * H
    })
}

fn at(hours: f64) -> i64 {
    t0() + (hours * H as f64) as i64
}

/// An enrichment received after every start here (an enrichment is
/// indexed at the time it arrived, as the start of an event it makes).
fn enrich_later(id: &str, patch: Value) -> WriteOp {
    WriteOp::Enrich {
        project_id: P.into(),
        floating: false,
        event_id: id.into(),
        patch,
        key_id: None,
        received_at_ms: at(HOURS as f64 + 10.0),
    }
}

fn load(store: &dyn Store) {
    let mut ops: Vec<WriteOp> = Vec::new();
    for n in 0..HOURS {
        let s = format!("s{n}");
        let mut e = event(&s, &s, "session", at(n as f64));
        e.metadata
            .insert("tenant".into(), json!(format!("t{}", n % 10)));
        ops.push(put(e));
        for k in 1..=3 {
            let mut e = event(
                &format!("s{n}-{k}"),
                &s,
                "model",
                at(n as f64 + 0.1 * k as f64),
            );
            // One event in 40 is rare: windows of the newest hours find
            // too few of them, and grow.
            if (n * 3 + k) % 40 == 0 {
                e.metadata.insert("k".into(), json!("rare"));
            }
            // Some fail (the sessions list counts them).
            if (n + k) % 3 == 0 {
                e.error = Some(format!("failed {n}"));
            }
            ops.push(put(e));
        }
    }
    store.apply(&ops).expect("apply");
    store
        .apply(&[
            // An old event moved to be the newest of all, and a new one
            // moved among the oldest.
            enrich_later("s5-1", json!({"start_time": at(500.0)})),
            enrich_later("s238-2", json!({"start_time": at(1.5)})),
            // A session whose own start is late, but whose event is old.
            put(event("late", "late", "session", at(400.0))),
            put(event("late-1", "late", "model", at(100.05))),
            // An event that moves to another session.
            enrich_later("s230-3", json!({"session_id": "s12"})),
            // Failures set and cleared later.
            enrich_later("s239-3", json!({"error": {"code": 500}})),
            enrich_later("s238-1", json!({"error": null})),
            // A session made by an enrichment alone (it starts when that
            // arrived, before every other start here).
            WriteOp::Enrich {
                project_id: P.into(),
                floating: false,
                event_id: "lonely".into(),
                patch: json!({"metadata": {"k": "rare"}}),
                key_id: None,
                received_at_ms: at(-5.0),
            },
            // A session within another session: its own start is the
            // newest of all, but an old event of its own makes it start
            // early.
            put(event("nested", "s100", "session", at(450.0))),
            put(event("nested-1", "nested", "model", at(2.5))),
        ])
        .expect("enrich");
}

fn filter(v: Value) -> Filter {
    Filter::from_json(&v).expect("filter")
}

/// One event in 40 of [`load`]'s, and the session made by an enrichment.
fn rare() -> Filter {
    filter(json!({"field": "metadata.k", "operator": "is", "value": "rare"}))
}

/// One session in ten of [`load`]'s.
fn tenant() -> Filter {
    filter(json!({"field": "metadata.tenant", "operator": "is", "value": "t3"}))
}

/// The starts between these hours of [`load`]'s (open where `None`).
fn range(from: Option<f64>, to: Option<f64>) -> DateRange {
    DateRange {
        start_ms: from.map(|h| at(h) as f64),
        end_ms: to.map(|h| at(h) as f64),
    }
}

/// SQLite's order of two values: none, then numbers, then text.
fn sql_order(a: &Value, b: &Value) -> std::cmp::Ordering {
    let class = |v: &Value| match v {
        Value::Null => (0, 0.0, String::new()),
        Value::Number(n) => (1, n.as_f64().unwrap_or(0.0), String::new()),
        Value::Bool(b) => (1, f64::from(u8::from(*b)), String::new()),
        Value::String(s) => (2, 0.0, s.clone()),
        other => (2, 0.0, other.to_string()),
    };
    let ((ca, na, sa), (cb, nb, sb)) = (class(a), class(b));
    ca.cmp(&cb).then(na.total_cmp(&nb)).then(sa.cmp(&sb))
}

/// `n` sessions of `project`, one an hour from [`load`]'s first.
fn sessions_of(project: &str, n: i64) -> Vec<WriteOp> {
    (0..n)
        .map(|n| {
            let mut e = event(&format!("o{n}"), &format!("o{n}"), "session", at(n as f64));
            e.project_id = project.into();
            put(e)
        })
        .collect()
}

/// Compare `query_page` with `query` for `q`; whether the page came
/// without its count.
fn same_page(store: &dyn Store, q: &EventQuery) -> bool {
    let counted = store.query(q).expect("query");
    let page = store.query_page(q).expect("query_page");
    let ids = |docs: &[Value]| -> Vec<String> {
        docs.iter().map(|d| d["event_id"].to_string()).collect()
    };
    assert_eq!(ids(&page.events), ids(&counted.events), "{q:?}");
    assert_eq!(page.events, counted.events, "{q:?}");
    let shown = q.offset as u64 + counted.events.len() as u64;
    assert_eq!(page.more, shown < counted.total, "{q:?}");
    if let Some(total) = page.total {
        assert_eq!(total, counted.total, "{q:?}");
    }
    // The failed events of the page's sessions, when they came with it,
    // are those the store counts apart.
    if let Some(mut errors) = page.session_errors.clone() {
        let project = q.project_id.as_deref().expect("a project");
        let sessions: Vec<String> = page
            .events
            .iter()
            .filter(|d| d["event_type"] == "session")
            .filter_map(|d| d["event_id"].as_str().map(str::to_owned))
            .collect();
        let mut want = store
            .session_errors(project, &sessions)
            .expect("session_errors");
        errors.sort();
        want.sort();
        assert_eq!(errors, want, "{q:?}");
        FAILED_SEEN.with(|n| n.set(n.get() + errors.len()));
    }
    page.total.is_none()
}

thread_local! {
    /// Sessions with failed events among pages whose count of them came
    /// with the page.
    static FAILED_SEEN: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Every case agrees; how many pages came without their count (backends
/// that always count: none).
pub fn pages_without_their_count(store: &dyn Store) -> usize {
    load(store);
    let mut uncounted = 0;
    for level in [Level::Event, Level::Session, Level::SessionEvent] {
        for filters in [vec![], vec![rare()], vec![rare(), tenant()]] {
            for date_range in [
                range(None, None),
                range(None, Some(150.0)),
                range(Some(20.0), Some(120.0)),
            ] {
                for (limit, offset) in [(1, 0), (5, 3), (20, 40)] {
                    for order in [Order::StartDesc, Order::StartAsc] {
                        let q = EventQuery {
                            project_id: Some(P.into()),
                            filters: filters.clone(),
                            date_range,
                            level,
                            order,
                            limit,
                            offset,
                            brief: false,
                        };
                        if same_page(store, &q) {
                            uncounted += 1;
                        }
                    }
                }
            }
        }
    }
    // Another order: counted, and the same.
    let q = EventQuery {
        project_id: Some(P.into()),
        order: Order::DurationDesc,
        limit: 5,
        ..EventQuery::default()
    };
    assert!(!same_page(store, &q));
    // A start written as text sorts before every number newest first: the
    // page of its project holds it, as `query`'s does.
    let other = "proj-text-start";
    let mut ops = sessions_of(other, 50);
    ops.push(enrich_in(other, "o3", json!({"start_time": "soon"})));
    store.apply(&ops).expect("apply");
    let q = EventQuery {
        project_id: Some(other.into()),
        order: Order::StartDesc,
        limit: 2,
        ..EventQuery::default()
    };
    assert!(!same_page(store, &q), "a text start: counted");
    // Oldest first it sorts after every number, where no page reaches.
    same_page(
        store,
        &EventQuery {
            order: Order::StartAsc,
            ..q.clone()
        },
    );
    // A start removed sorts before every number oldest first: counted.
    store
        .apply(&[enrich_in(other, "o40", json!({"start_time": null}))])
        .expect("apply");
    let q = EventQuery {
        order: Order::StartAsc,
        ..q
    };
    assert!(!same_page(store, &q), "a start removed: counted");

    // Every event of a project over all time, unfiltered, newest or oldest
    // first (the dashboard's events list and its count, the export API's
    // default), counted as a filter that
    // every event matches counts them: a backend may count the ids alone.
    // Here with an event deleted, another project's events with the same
    // ids, an event made by an enrichment alone and events moved between
    // sessions (`load`).
    store
        .apply(&[WriteOp::Delete {
            project_id: P.into(),
            target: crate::DeleteTarget::Event("s7-1".into()),
        }])
        .expect("delete");
    let mut ops = Vec::new();
    for id in ["s7-2", "s8-1", "lonely"] {
        let mut e = event(id, "s8", "model", at(3.0));
        e.project_id = "proj-same-ids".into();
        ops.push(put(e));
    }
    store.apply(&ops).expect("apply");
    let cases = [(P, 5, 0), (P, 20, 40), ("proj-same-ids", 2, 1)];
    for ((project, limit, offset), order) in cases
        .into_iter()
        .flat_map(|c| [(c, Order::StartDesc), (c, Order::StartAsc)])
    {
        let every = EventQuery {
            project_id: Some(project.into()),
            level: Level::Event,
            order,
            limit,
            offset,
            ..EventQuery::default()
        };
        let all_match = EventQuery {
            filters: vec![filter(json!({"field": "event_id", "operator": "exists"}))],
            ..every.clone()
        };
        let (fast, streamed) = (
            store.query(&every).expect("query"),
            store.query(&all_match).expect("query"),
        );
        assert_eq!(fast.total, streamed.total, "{every:?}");
        assert_eq!(fast.events, streamed.events, "{every:?}");
    }
    // A backend whose pages count their sessions' failures counted some.
    if uncounted > 0 {
        assert!(FAILED_SEEN.with(std::cell::Cell::get) > 0);
    }
    uncounted
}

/// Pages by id (`Store::events_after`), each from the last id of the one
/// before, hold every event-level match of the query once, in id order:
/// the same documents `query` gives, whatever the filters, the date range
/// and the page size, and nothing of another project.
pub fn pages_after_ids_cover_every_match(store: &dyn Store) {
    load(store);
    let mut other = event("s3-1", "s3", "model", at(3.0));
    other.project_id = "proj-after".into();
    store.apply(&[put(other)]).expect("apply");
    for (filters, date_range) in [
        (vec![], DateRange::default()),
        (vec![rare()], DateRange::default()),
        (
            vec![],
            DateRange {
                start_ms: Some(at(20.0) as f64),
                end_ms: Some(at(120.0) as f64),
            },
        ),
    ] {
        let all = EventQuery {
            project_id: Some(P.into()),
            filters: filters.clone(),
            date_range,
            level: Level::Event,
            order: Order::StartAsc,
            limit: crate::query::MAX_LIMIT,
            offset: 0,
            brief: false,
        };
        let mut want = store.query(&all).expect("query").events;
        want.sort_by(|a, b| a["event_id"].as_str().cmp(&b["event_id"].as_str()));
        // Small pages where matches are few (each page is a statement or
        // more on some backends).
        let limits: &[usize] = if filters.is_empty() {
            &[40, 5000]
        } else {
            &[1, 7, 5000]
        };
        for &limit in limits {
            let q = EventQuery {
                limit,
                ..all.clone()
            };
            let mut got: Vec<Value> = Vec::new();
            let mut after = String::new();
            loop {
                let page = store.events_after(P, &q, &after).expect("events_after");
                assert!(page.len() <= limit);
                let Some(last) = page.last() else { break };
                after = last["event_id"].as_str().expect("an id").to_owned();
                let full = page.len() == limit;
                got.extend(page);
                if !full {
                    break;
                }
            }
            assert_eq!(got.len(), want.len(), "{filters:?} {date_range:?} {limit}");
            assert_eq!(got, want, "{filters:?} {date_range:?} {limit}");
        }
    }
    assert!(
        store
            .events_after("proj-none", &EventQuery::default(), "")
            .expect("events_after")
            .is_empty()
    );
}

/// A brief page ([`EventQuery::brief`], the dashboard's lists): the same
/// events in the same order, each as without it but for its content
/// (`inputs`, `outputs`), which it may lack; an enrichment of content is
/// content too. How many of the events had content the brief page left
/// out (a backend that reads it anyway leaves none out).
pub fn brief_pages_leave_only_content_out(store: &dyn Store) -> usize {
    const B: &str = "proj-brief";
    let mut ops = Vec::new();
    for n in 0..30 {
        let s = format!("b{n}");
        let mut e = event(&s, &s, "session", at(n as f64));
        e.project_id = B.into();
        e.inputs
            .insert("query".into(), json!(format!("question {n}")));
        ops.push(put(e));
        let mut e = event(&format!("b{n}-1"), &s, "model", at(n as f64 + 0.5));
        e.project_id = B.into();
        e.inputs.insert(
            "chat_history".into(),
            json!([{"role": "user", "content": "hi"}]),
        );
        e.outputs
            .insert("content".into(), json!(format!("answer {n}")));
        e.metadata.insert("k".into(), json!(n % 3));
        ops.push(put(e));
    }
    ops.push(enrich_in(
        B,
        "b3-1",
        json!({"outputs": {"score": 1}, "metrics": {"m": 2}}),
    ));
    store.apply(&ops).expect("apply");
    let without = |mut e: Value| {
        if let Some(o) = e.as_object_mut() {
            o.remove("inputs");
            o.remove("outputs");
        }
        e
    };
    let mut left_out = 0;
    for level in [Level::Event, Level::Session] {
        for order in [Order::StartDesc, Order::StartAsc] {
            let k =
                Filter::from_json(&json!({"field": "metadata.k", "operator": "is", "value": 1}))
                    .expect("filter");
            for filters in [vec![], vec![k]] {
                let q = EventQuery {
                    project_id: Some(B.into()),
                    filters,
                    level,
                    order,
                    limit: 20,
                    ..EventQuery::default()
                };
                let brief = EventQuery {
                    brief: true,
                    ..q.clone()
                };
                for (full, short) in [
                    (
                        store.query(&q).expect("query").events,
                        store.query(&brief).expect("query").events,
                    ),
                    (
                        store.query_page(&q).expect("query_page").events,
                        store.query_page(&brief).expect("query_page").events,
                    ),
                ] {
                    assert!(!full.is_empty(), "{q:?}");
                    assert_eq!(full.len(), short.len(), "{q:?}");
                    for (f, s) in full.into_iter().zip(short) {
                        for ns in ["inputs", "outputs"] {
                            let (fv, sv) = (&f[ns], &s[ns]);
                            let empty =
                                sv.is_null() || sv.as_object().is_some_and(|o| o.is_empty());
                            assert!(
                                sv == fv || empty,
                                "{ns} of {}: {sv} against {fv}",
                                f["event_id"]
                            );
                            if sv != fv {
                                left_out += 1;
                            }
                        }
                        assert_eq!(without(s), without(f), "{q:?}");
                    }
                }
            }
        }
    }
    left_out
}

/// A session's events for its page ([`Store::session_events_showing`]):
/// the same events in the same order as [`Store::session_events`], each
/// the same but for its content, which only the shown event must keep. How
/// many events' content was left out (a backend that reads it anyway
/// leaves none out).
pub fn session_pages_read_the_shown_events_content(store: &dyn Store) -> usize {
    const B: &str = "proj-shown";
    let mut ops = Vec::new();
    let mut e = event("c0", "c0", "session", at(1.0));
    e.project_id = B.into();
    e.inputs.insert("query".into(), json!("the question"));
    ops.push(put(e));
    for k in 1..=4 {
        let mut e = event(&format!("c0-{k}"), "c0", "model", at(1.0 + k as f64 / 10.0));
        e.project_id = B.into();
        e.inputs.insert(
            "chat_history".into(),
            json!([{"role": "user", "content": format!("turn {k}")}]),
        );
        e.outputs
            .insert("content".into(), json!(format!("answer {k}")));
        e.metrics.insert("cost".into(), json!(0.5));
        ops.push(put(e));
    }
    ops.push(enrich_in(B, "c0-2", json!({"outputs": {"score": 1}})));
    store.apply(&ops).expect("apply");
    let full = store
        .session_events(Some(B), "c0", 100)
        .expect("session_events");
    assert_eq!(full.len(), 5);
    let mut left_out = 0;
    for shown in ["c0", "c0-2", "c0-3", "nowhere"] {
        let page = store
            .session_events_showing(Some(B), "c0", 100, shown)
            .expect("session_events_showing");
        assert_eq!(page.len(), full.len(), "{shown}");
        for (f, p) in full.iter().zip(&page) {
            assert_eq!(f["event_id"], p["event_id"], "{shown}");
            for ns in ["inputs", "outputs"] {
                if f["event_id"] == shown {
                    assert_eq!(p[ns], f[ns], "{ns} of the shown {shown}");
                } else if p[ns] != f[ns] {
                    assert_eq!(
                        p[ns],
                        json!({}),
                        "{ns} of {} (shown {shown})",
                        f["event_id"]
                    );
                    left_out += 1;
                }
            }
            let mut a = f.clone();
            let mut b = p.clone();
            for d in [&mut a, &mut b] {
                if let Some(o) = d.as_object_mut() {
                    o.remove("inputs");
                    o.remove("outputs");
                }
            }
            assert_eq!(a, b, "{shown}");
        }
    }
    left_out
}

/// A counted list newest or oldest first gives the count of every match,
/// whatever a backend counts it from: on ClickHouse, once the events'
/// state is compacted, the count of an event or session-event list is
/// taken as a chart counts (ADR 0037). Checked against the matches among
/// every event's document, compacted, with writes since the cut (a new session, a session enriched into the filter, an
/// event moved to be the newest, deletions), and compacted again; and a
/// project whose start was once written as text, whose list over all time
/// counts that event too.
pub fn counted_lists_count_every_match(store: &dyn Store) {
    load(store);
    let failed = || filter(json!({"field": "error", "operator": "exists"}));
    // (Every event: a session-event list counts the sessions alone.)
    let tested = || filter(json!({"field": "source", "operator": "is", "value": "test"}));
    let check = |store: &dyn Store, step: &str| {
        let docs = store
            .query(&EventQuery {
                project_id: Some(P.into()),
                limit: crate::query::MAX_LIMIT,
                ..EventQuery::default()
            })
            .expect("query")
            .events;
        for level in [Level::Event, Level::SessionEvent] {
            for filters in [
                vec![rare()],
                vec![tenant()],
                vec![tested()],
                vec![failed(), rare()],
            ] {
                for date_range in [range(None, None), range(Some(20.0), Some(120.0))] {
                    for order in [
                        Order::StartDesc,
                        Order::StartAsc,
                        Order::DurationDesc,
                        Order::EventsDesc,
                    ] {
                        let q = EventQuery {
                            project_id: Some(P.into()),
                            filters: filters.clone(),
                            date_range,
                            level,
                            order,
                            limit: 5,
                            offset: 3,
                            brief: true,
                        };
                        // The matches in the list's order: by its
                        // value (none, numbers, then text, as SQLite
                        // orders), then by id, each way.
                        let mut want: Vec<(Value, String)> = docs
                            .iter()
                            .filter(|d| {
                                level == Level::Event
                                    || (d["event_type"] == "session"
                                        && d["event_id"] == d["session_id"])
                            })
                            .filter(|d| crate::query::matches_event(&q, d))
                            .map(|d| {
                                let key = match order {
                                    Order::DurationDesc => d["duration"].clone(),
                                    Order::EventsDesc => d["metadata"]["num_events"].clone(),
                                    _ => d["start_time"].clone(),
                                };
                                (key, d["event_id"].as_str().expect("an id").to_owned())
                            })
                            .collect();
                        want.sort_by(|a, b| sql_order(&a.0, &b.0).then_with(|| a.1.cmp(&b.1)));
                        if order != Order::StartAsc {
                            want.reverse();
                        }
                        let got = store.query(&q).expect("query");
                        assert_eq!(got.total, want.len() as u64, "{step}: {q:?}");
                        // By start, the ids (no two starts are equal);
                        // by another value, the values (a backend may
                        // order equal ones its own way: SQLite by row).
                        let by_start = matches!(order, Order::StartDesc | Order::StartAsc);
                        let shown = |d: &Value| match order {
                            _ if by_start => d["event_id"].clone(),
                            Order::DurationDesc => d["duration"].clone(),
                            _ => d["metadata"]["num_events"].clone(),
                        };
                        let page: Vec<Value> = want
                            .iter()
                            .skip(3)
                            .take(5)
                            .map(|w| match by_start {
                                true => Value::from(w.1.as_str()),
                                false => w.0.clone(),
                            })
                            .collect();
                        let seen: Vec<Value> = got.events.iter().map(shown).collect();
                        assert_eq!(seen, page, "{step}: {q:?}");
                        // And the page without its count.
                        let uncounted = store.query_page(&q).expect("query_page");
                        assert_eq!(uncounted.events, got.events, "{step}: {q:?}");
                        assert_eq!(uncounted.more, want.len() > 8, "{step}: {q:?}");
                    }
                }
            }
        }
    };
    store.compact().expect("compact");
    // (Twice: the paths read are given columns of their own by the next.)
    store.compact().expect("compact");
    check(store, "compacted");
    store
        .apply(&[
            put({
                let mut e = event("fresh", "fresh", "session", at(241.0));
                e.metadata.insert("tenant".into(), json!("t3"));
                e
            }),
            put({
                let mut e = event("fresh-1", "fresh", "model", at(241.1));
                e.metadata.insert("k".into(), json!("rare"));
                e.error = Some("failed fresh".into());
                e
            }),
            enrich_later("s21", json!({"metadata": {"tenant": "t3"}})),
            enrich_later(
                "s40-1",
                json!({"metadata": {"k": "rare"}, "start_time": at(600.0)}),
            ),
            // Matches among the newest no longer ones (their rows at the
            // cut still are): more than the new ones above.
            enrich_later("s226-2", json!({"metadata": {"k": "common"}})),
            enrich_later("s213-1", json!({"metadata": {"k": "common"}})),
            enrich_later("s199-3", json!({"metadata": {"k": "common"}})),
            WriteOp::Delete {
                project_id: P.into(),
                target: crate::DeleteTarget::Event("s33-3".into()),
            },
            WriteOp::Delete {
                project_id: P.into(),
                target: crate::DeleteTarget::Session("s53".into()),
            },
        ])
        .expect("apply");
    check(store, "written since the cut");
    store.compact().expect("compact");
    check(store, "compacted again");
    // A start written as text: a list over all time counts its event,
    // which no chart counts (its start is not a number).
    let other = "proj-text-start";
    let mut ops = sessions_of(other, 50);
    ops.push(WriteOp::Enrich {
        project_id: other.into(),
        floating: false,
        event_id: "o3".into(),
        patch: json!({"start_time": "soon"}),
        key_id: None,
        received_at_ms: at(HOURS as f64 + 10.0),
    });
    store.apply(&ops).expect("apply");
    store.compact().expect("compact");
    for order in [Order::StartDesc, Order::StartAsc] {
        let q = EventQuery {
            project_id: Some(other.into()),
            filters: vec![filter(
                json!({"field": "event_type", "operator": "is", "value": "session"}),
            )],
            order,
            limit: 2,
            ..EventQuery::default()
        };
        assert_eq!(store.query(&q).expect("query").total, 50, "{q:?}");
    }
}
