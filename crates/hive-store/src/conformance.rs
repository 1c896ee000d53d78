//! The conformance suite every [`Store`] backend passes.
//!
//! A backend's tests call [`store_conformance_suite!`] with an expression
//! that makes a fresh, empty store (anything that dereferences to a
//! [`Store`]); each case becomes its own `#[test]`.

use hive_core::filter::{DateRange, Filter};
use hive_core::model::Event;
use serde_json::{Value, json};

use crate::auth::{KeyScope, NewKey};
use crate::{EventQuery, Level, Order, Store, StoreError, WriteOp};

mod charts;
mod dashboard;
mod dated;
mod deletion;
mod newest;
pub use charts::{
    charts_agree_with_reference, charts_from_the_compacted_state, charts_together_as_apart,
    extreme_times, saved_objects, session_start_comes_from_its_events,
};
pub use dashboard::{dashboard_sessions_and_views, filters_follow_enrichment};
pub use dated::dated_reads_see_every_event_they_need;
pub use deletion::{
    deletes_sessions_and_events, deleting_an_adopted_event_forgets_its_enrichments,
    histories_and_raws_together_as_apart, retention_expires_old_sessions,
};
pub use newest::{
    brief_pages_leave_only_content_out, counted_lists_count_every_match,
    pages_after_ids_cover_every_match, pages_without_their_count,
    session_pages_read_the_shown_events_content,
};

/// A port on 127.0.0.1 free at the time of asking, for a test's own
/// server (ClickHouse, ZooKeeper) that is told its port in a configuration.
///
/// Chosen at random below Linux's ephemeral range (32768 and up), never
/// from it: a port the kernel hands out for `bind(0)` is handed out again,
/// to any test's outgoing connection, in the moment between this test
/// releasing it and its server taking it, and the server then fails with
/// "Address already in use". Below the range only another test's server
/// could take it, and no port is given twice in one process.
pub fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, RandomState};
    use std::sync::Mutex;
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let seed = RandomState::new();
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    for attempt in 0u32.. {
        let port = 20_000 + (seed.hash_one(attempt) % 12_000) as u16;
        if given.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return port;
        }
        assert!(attempt < 10_000, "no free port on 127.0.0.1 in 20000-31999");
    }
    unreachable!()
}

/// Generate one `#[test]` per conformance case for a backend.
#[macro_export]
macro_rules! store_conformance_suite {
    ($make:expr) => {
        $crate::store_conformance_suite!(@cases $make;
            merge_across_calls, nested_merge_and_null_removal, out_of_order_enrichment,
            enrichment_of_unknown_session_then_start, history_is_kept_in_order,
            session_rollups, project_isolation, filters_agree_with_reference,
            session_level_filters, paging_total_and_date_range, field_discovery,
            redelivery_is_idempotent, second_start_joins_the_session, floating_enrichment_follows_its_event, keys_and_scopes, user_properties_stay_separate,
            many_small_batches_keep_every_key, filters_follow_enrichment,
            dashboard_sessions_and_views, charts_agree_with_reference, charts_together_as_apart, charts_from_the_compacted_state, saved_objects,
            session_start_comes_from_its_events, dated_reads_see_every_event_they_need,
            pages_without_their_count, pages_after_ids_cover_every_match, brief_pages_leave_only_content_out, session_pages_read_the_shown_events_content,
            fractional_starts_order_and_range,
            deletes_sessions_and_events, retention_expires_old_sessions,
            deleting_an_adopted_event_forgets_its_enrichments,
            histories_and_raws_together_as_apart, extreme_times);
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let store = $make;
                $crate::conformance::$case(&*store);
            }
        )*
    };
}

const P: &str = "proj-a";

fn event(id: &str, session: &str, ty: &str, start: i64) -> Event {
    Event {
        event_id: id.into(),
        session_id: session.into(),
        parent_id: if ty == "session" {
            None
        } else {
            Some(session.into())
        },
        project_id: P.into(),
        source: "test".into(),
        event_type: ty.into(),
        event_name: format!("{ty}-{id}"),
        start_time: start,
        end_time: start + 10,
        duration: 10.0,
        ..Event::default()
    }
}

fn put(e: Event) -> WriteOp {
    WriteOp::event(e)
}

fn enrich(id: &str, patch: Value) -> WriteOp {
    enrich_in(P, id, patch)
}

fn enrich_in(project: &str, id: &str, patch: Value) -> WriteOp {
    WriteOp::Enrich {
        project_id: project.into(),
        floating: false,
        event_id: id.into(),
        patch,
        key_id: Some("key-1".into()),
        received_at_ms: 1_000,
    }
}

fn get(store: &dyn Store, id: &str) -> Value {
    store
        .get_event(Some(P), id)
        .expect("get_event")
        .unwrap_or_else(|| panic!("event {id} missing"))
}

fn all(store: &dyn Store, filters: Vec<Filter>, level: Level) -> Vec<Value> {
    store
        .query(&EventQuery {
            project_id: Some(P.into()),
            filters,
            level,
            limit: 7500,
            ..EventQuery::default()
        })
        .expect("query")
        .events
}

pub fn merge_across_calls(store: &dyn Store) {
    store
        .apply(&[put(event("s1", "s1", "session", 100))])
        .unwrap();
    store
        .apply(&[enrich(
            "s1",
            json!({"metadata": {"user_id": "u1", "workflow": "reset"}}),
        )])
        .unwrap();
    store
        .apply(&[enrich("s1", json!({"metadata": {"step": "initial"}}))])
        .unwrap();
    store
        .apply(&[enrich(
            "s1",
            json!({"metadata": {"step": "done"}, "metrics": {"total": 2}}),
        )])
        .unwrap();
    let s = get(store, "s1");
    assert_eq!(s["metadata"]["user_id"], "u1");
    assert_eq!(s["metadata"]["workflow"], "reset");
    assert_eq!(s["metadata"]["step"], "done");
    assert_eq!(s["metrics"]["total"], 2);
    assert_eq!(s["event_type"], "session");
}

pub fn nested_merge_and_null_removal(store: &dyn Store) {
    store
        .apply(&[put(event("s1", "s1", "session", 100))])
        .unwrap();
    store
        .apply(&[enrich(
            "s1",
            json!({"metadata": {"user": {"id": "u", "profile": {"tier": "free", "features": ["a"]}}}}),
        )])
        .unwrap();
    store
        .apply(&[enrich(
            "s1",
            json!({"metadata": {"user": {"profile": {"tier": "pro", "features": ["b", "c"]}, "id": null}}}),
        )])
        .unwrap();
    let s = get(store, "s1");
    assert_eq!(
        s["metadata"]["user"],
        json!({"profile": {"tier": "pro", "features": ["b", "c"]}})
    );
}

pub fn out_of_order_enrichment(store: &dyn Store) {
    store
        .apply(&[put(event("s1", "s1", "session", 100))])
        .unwrap();
    // The enrichment of a span arrives before the span.
    store
        .apply(&[enrich(
            "e1",
            json!({"metadata": {"late": true}, "feedback": {"rating": 4}}),
        )])
        .unwrap();
    let mut e = event("e1", "s1", "tool", 110);
    e.metadata.insert("from_span".into(), json!(1));
    store.apply(&[put(e)]).unwrap();
    let got = get(store, "e1");
    assert_eq!(got["event_type"], "tool");
    assert_eq!(got["session_id"], "s1");
    assert_eq!(got["metadata"], json!({"from_span": 1, "late": true}));
    assert_eq!(got["feedback"]["rating"], 4);
    let s = get(store, "s1");
    assert_eq!(s["metadata"]["num_events"], 1);
    assert_eq!(s["metadata"]["has_feedback"], true);
}

pub fn enrichment_of_unknown_session_then_start(store: &dyn Store) {
    store
        .apply(&[enrich("sx", json!({"metadata": {"experiment": "b"}}))])
        .unwrap();
    let placeholder = get(store, "sx");
    assert_eq!(placeholder["event_type"], "session");
    assert_eq!(placeholder["metadata"]["experiment"], "b");
    let mut start = event("sx", "sx", "session", 50);
    start.event_name = "real name".into();
    start.metadata.insert("run".into(), json!("r1"));
    store.apply(&[put(start)]).unwrap();
    let s = get(store, "sx");
    assert_eq!(s["event_name"], "real name");
    assert_eq!(s["metadata"]["experiment"], "b");
    assert_eq!(s["metadata"]["run"], "r1");
    assert_eq!(s["start_time"], 50);
}

pub fn history_is_kept_in_order(store: &dyn Store) {
    store
        .apply(&[put(event("s1", "s1", "session", 100))])
        .unwrap();
    let patches = [
        json!({"metadata": {"a": 1}}),
        json!({"metadata": {"a": 2}}),
        json!({"metadata": {"a": null}}),
    ];
    for p in &patches {
        store.apply(&[enrich("s1", p.clone())]).unwrap();
    }
    let h = store.history(Some(P), "s1").unwrap();
    assert_eq!(
        h.iter().map(|e| e.patch.clone()).collect::<Vec<_>>(),
        patches.to_vec()
    );
    assert!(h.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(h[0].key_id.as_deref(), Some("key-1"));
    assert!(get(store, "s1")["metadata"].get("a").is_none());
}

pub fn session_rollups(store: &dyn Store) {
    let mut model = event("m1", "s1", "model", 120);
    model.metadata.insert("total_tokens".into(), json!(30));
    model.metadata.insert("prompt_tokens".into(), json!(20));
    model.metadata.insert("completion_tokens".into(), json!(10));
    model.metadata.insert("cost".into(), json!(0.25));
    let mut tool = event("t1", "s1", "tool", 130);
    tool.error = Some("boom".into());
    store
        .apply(&[
            put(event("s1", "s1", "session", 100)),
            put(model),
            put(tool),
        ])
        .unwrap();
    let s = get(store, "s1");
    assert_eq!(s["metadata"]["num_events"], 2);
    assert_eq!(s["metadata"]["num_model_events"], 1);
    assert_eq!(s["metadata"]["total_tokens"], 30);
    assert_eq!(s["metadata"]["cost"], 0.25);
    assert_eq!(s["metadata"]["has_feedback"], false);
    assert_eq!(s["start_time"], 100);
    assert_eq!(s["end_time"], 140);
    assert_eq!(s["duration"], 40.0);
    // Enriching a child later updates the totals.
    store
        .apply(&[enrich(
            "m1",
            json!({"metadata": {"cost": 0.5}, "feedback": {"thumbs": "up"}}),
        )])
        .unwrap();
    let s = get(store, "s1");
    assert_eq!(s["metadata"]["cost"], 0.5);
    assert_eq!(s["metadata"]["has_feedback"], true);
    // An explicit duration wins over the computed one.
    store
        .apply(&[enrich("s1", json!({"duration": 12.5}))])
        .unwrap();
    store.apply(&[put(event("t2", "s1", "tool", 500))]).unwrap();
    let s = get(store, "s1");
    assert_eq!(s["duration"], 12.5);
    assert_eq!(s["metadata"]["num_events"], 3);

    // The lists' count of failed events per session: an event's error as
    // its enrichments leave it, the session's own not counted, sessions
    // without one (or unknown) left out.
    let errors = |ids: &[&str]| {
        let ids: Vec<String> = ids.iter().map(|s| (*s).to_owned()).collect();
        let mut e = store.session_errors(P, &ids).unwrap();
        e.sort();
        e
    };
    assert_eq!(errors(&["s1", "nope"]), vec![("s1".to_owned(), 1)]);
    let mut other = event("o1", "s9", "tool", 600);
    other.error = Some("elsewhere".into());
    store
        .apply(&[
            put(event("s9", "s9", "session", 600)),
            put(other),
            enrich("m1", json!({"error": {"code": 7}})),
            enrich("s1", json!({"error": "the session's own"})),
            enrich("t2", json!({"error": "late"})),
        ])
        .unwrap();
    assert_eq!(
        errors(&["s9", "s1"]),
        vec![("s1".to_owned(), 3), ("s9".to_owned(), 1)]
    );
    store
        .apply(&[
            enrich("t1", json!({"error": null})),
            enrich("m1", json!({"error": null})),
        ])
        .unwrap();
    assert_eq!(errors(&["s1"]), vec![("s1".to_owned(), 1)]);
    assert!(errors(&[]).is_empty());
}

pub fn project_isolation(store: &dyn Store) {
    let mut other = event("s1", "s1", "session", 100);
    other.project_id = "proj-b".into();
    other.metadata.insert("secret".into(), json!("b-only"));
    store
        .apply(&[put(event("s1", "s1", "session", 100)), put(other)])
        .unwrap();
    store
        .apply(&[enrich_in("proj-b", "s1", json!({"metadata": {"b": 1}}))])
        .unwrap();
    let a = get(store, "s1");
    assert!(a["metadata"].get("secret").is_none());
    assert!(a["metadata"].get("b").is_none());
    let b = store.get_event(Some("proj-b"), "s1").unwrap().unwrap();
    assert_eq!(b["metadata"]["b"], 1);
    assert_eq!(all(store, vec![], Level::Event).len(), 1);
    assert!(store.history(Some(P), "s1").unwrap().is_empty());
    assert_eq!(
        store
            .session_events(Some("proj-b"), "s1", usize::MAX)
            .unwrap()
            .len(),
        1
    );

    // The dashboard opens on the most recently active project (judged to
    // the minute at least).
    let newest = || store.active_projects().unwrap().first().cloned();
    let mut b = event("s2", "s2", "session", 120_000);
    b.project_id = "proj-b".into();
    store.apply(&[put(b)]).unwrap();
    assert_eq!(newest().as_deref(), Some("proj-b"));
    store
        .apply(&[put(event("s3", "s3", "session", 240_000))])
        .unwrap();
    assert_eq!(newest().as_deref(), Some(P));
    // A start far ahead of now (a client's wrong clock) is not activity;
    // one within the day ahead is.
    let now = crate::now_ms();
    let mut future = event("s4", "s4", "session", now + 30 * 86_400_000);
    future.project_id = "proj-b".into();
    store.apply(&[put(future)]).unwrap();
    assert_eq!(newest().as_deref(), Some(P));
    let mut soon = event("s5", "s5", "session", now + 3_600_000);
    soon.project_id = "proj-b".into();
    store.apply(&[put(soon)]).unwrap();
    assert_eq!(newest().as_deref(), Some("proj-b"));
}

/// Deterministic pseudo-random events, then every filter in a table is run
/// by the store and by the reference [`Filter::matches`]; both must agree.
pub fn filters_agree_with_reference(store: &dyn Store) {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let tiers = ["free", "pro", "Premium", "enterprise"];
    let mut ops = vec![put(event("s1", "s1", "session", 0))];
    for i in 0..60 {
        let mut e = event(
            &format!("e{i}"),
            "s1",
            ["tool", "model", "chain"][i % 3],
            1000 + i as i64,
        );
        let r = next();
        if r % 5 != 0 {
            e.metadata
                .insert("tier".into(), json!(tiers[(r % 4) as usize]));
        }
        if r % 3 == 0 {
            e.metadata
                .insert("cost".into(), json!((r % 100) as f64 / 10.0));
        }
        if r % 7 == 0 {
            e.metadata.insert("cost".into(), json!("n/a"));
        }
        e.metadata.insert("ok".into(), json!(r % 2 == 0));
        e.metadata.insert(
            "user".into(),
            json!({"id": format!("u{}", r % 6), "tags": ["x", format!("t{}", r % 3)]}),
        );
        if r % 4 == 1 {
            e.error = Some(format!("E{}: failure", r % 3));
        }
        if r % 6 == 2 {
            e.metadata.insert(
                "when".into(),
                json!(format!("2024-01-{:02}T10:00:00Z", 1 + r % 28)),
            );
        }
        e.feedback.insert("rating".into(), json!((r % 5) as i64));
        ops.push(put(e));
    }
    store.apply(&ops).unwrap();
    let docs = all(store, vec![], Level::Event);
    assert_eq!(docs.len(), 61);
    let table = [
        json!({"field": "metadata.tier", "operator": "is", "value": "pro", "type": "string"}),
        json!({"field": "metadata.tier", "operator": "is not", "value": "pro", "type": "string"}),
        json!({"field": "metadata.tier", "operator": "contains", "value": "PREM", "type": "string"}),
        json!({"field": "metadata.tier", "operator": "not contains", "value": "e", "type": "string"}),
        json!({"field": "metadata.tier", "operator": "exists", "value": null, "type": "string"}),
        json!({"field": "metadata.tier", "operator": "not exists", "value": null, "type": "string"}),
        json!({"field": "metadata.cost", "operator": "greater than", "value": "4.5", "type": "number"}),
        json!({"field": "metadata.cost", "operator": "less than", "value": 2, "type": "number"}),
        json!({"field": "metadata.cost", "operator": "is", "value": 3, "type": "number"}),
        json!({"field": "metadata.ok", "operator": "is", "value": "true", "type": "boolean"}),
        json!({"field": "metadata.ok", "operator": "is not", "value": true, "type": "boolean"}),
        json!({"field": "metadata.user.id", "operator": "is", "value": "u3", "type": "string"}),
        json!({"field": "metadata.user.tags", "operator": "contains", "value": "t2", "type": "string"}),
        json!({"field": "metadata.user.tags.1", "operator": "is", "value": "t1", "type": "string"}),
        json!({"field": "error", "operator": "exists", "value": null, "type": "string"}),
        json!({"field": "error", "operator": "contains", "value": "e1:", "type": "string"}),
        json!({"field": "event_type", "operator": "is", "value": "model", "type": "string"}),
        json!({"field": "event_name", "operator": "contains", "value": "chain-e1", "type": "string"}),
        json!({"field": "start_time", "operator": "greater than", "value": 1030, "type": "number"}),
        json!({"field": "start_time", "operator": "after", "value": 1040, "type": "datetime"}),
        json!({"field": "duration", "operator": "less than", "value": 11, "type": "number"}),
        json!({"field": "feedback.rating", "operator": "greater than", "value": 2, "type": "number"}),
        json!({"field": "metadata.when", "operator": "after", "value": "2024-01-15T00:00:00Z", "type": "datetime"}),
        json!({"field": "metadata.when", "operator": "before", "value": "2024-01-10", "type": "datetime"}),
        json!({"field": "metadata.missing.path", "operator": "is not", "value": "x", "type": "string"}),
    ];
    for spec in table {
        let f = Filter::from_json(&spec).unwrap();
        let mut want: Vec<String> = docs
            .iter()
            .filter(|d| f.matches(d))
            .map(|d| d["event_id"].as_str().unwrap_or_default().to_owned())
            .collect();
        let mut got: Vec<String> = all(store, vec![f], Level::Event)
            .iter()
            .map(|d| d["event_id"].as_str().unwrap_or_default().to_owned())
            .collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "filter {spec}");
    }
}

pub fn session_level_filters(store: &dyn Store) {
    let mut child = event("c1", "s2", "model", 10);
    child.metadata.insert("variant".into(), json!("b"));
    let mut s3 = event("s3", "s3", "session", 30);
    s3.metadata.insert("variant".into(), json!("b"));
    store
        .apply(&[
            put(event("s1", "s1", "session", 0)),
            put(event("e1", "s1", "tool", 1)),
            put(event("s2", "s2", "session", 5)),
            put(child),
            put(s3),
        ])
        .unwrap();
    let f =
        Filter::from_json(&json!({"field": "metadata.variant", "operator": "is", "value": "b"}))
            .unwrap();
    let ids: Vec<Value> = all(store, vec![f.clone()], Level::Session)
        .iter()
        .map(|d| d["event_id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("s2"), json!("s3")]);
    let events = all(store, vec![f], Level::Event);
    assert_eq!(events.len(), 2);
}

pub fn paging_total_and_date_range(store: &dyn Store) {
    let ops: Vec<WriteOp> = (0..25)
        .map(|i| {
            put(event(
                &format!("s{i}"),
                &format!("s{i}"),
                "session",
                i * 100,
            ))
        })
        .collect();
    store.apply(&ops).unwrap();
    let q = |offset, order, range: DateRange| {
        store
            .query(&EventQuery {
                project_id: Some(P.into()),
                limit: 10,
                offset,
                order,
                date_range: range,
                ..EventQuery::default()
            })
            .unwrap()
    };
    let page = q(20, Order::StartAsc, DateRange::default());
    assert_eq!(page.total, 25);
    assert_eq!(page.events.len(), 5);
    assert_eq!(page.events[0]["event_id"], "s20");
    let page = q(0, Order::StartDesc, DateRange::default());
    assert_eq!(page.events[0]["event_id"], "s24");
    let page = q(
        0,
        Order::StartAsc,
        DateRange {
            start_ms: Some(500.0),
            end_ms: Some(900.0),
        },
    );
    assert_eq!(page.total, 5);
}

/// A start an enrichment sets to a fraction of a millisecond (or that makes
/// a session of an enrichment alone) orders and bounds its event as that
/// time, as the reference does.
pub fn fractional_starts_order_and_range(store: &dyn Store) {
    let ops: Vec<WriteOp> = [("s1", 100), ("s2", 200), ("s3", 300)]
        .into_iter()
        .map(|(id, start)| put(event(id, id, "session", start)))
        .collect();
    store.apply(&ops).unwrap();
    store
        .apply(&[
            enrich("s2", json!({"start_time": 350.5})),
            enrich("s4", json!({"start_time": 120.25})),
        ])
        .unwrap();
    let ids = |range: DateRange| -> Vec<Value> {
        store
            .query(&EventQuery {
                project_id: Some(P.into()),
                limit: 10,
                order: Order::StartDesc,
                date_range: range,
                ..EventQuery::default()
            })
            .unwrap()
            .events
            .iter()
            .map(|e| e["event_id"].clone())
            .collect()
    };
    let range = |from: f64, to: f64| DateRange {
        start_ms: Some(from),
        end_ms: Some(to),
    };
    assert_eq!(
        ids(DateRange::default()),
        vec![json!("s2"), json!("s3"), json!("s4"), json!("s1")]
    );
    assert_eq!(ids(range(350.0, 400.0)), vec![json!("s2")]);
    assert_eq!(ids(range(120.0, 121.0)), vec![json!("s4")]);
    assert_eq!(
        ids(range(100.0, 300.0)),
        vec![json!("s3"), json!("s4"), json!("s1")]
    );
    assert_eq!(get(store, "s2")["start_time"], json!(350.5));
}

pub fn field_discovery(store: &dyn Store) {
    let mut e = event("s1", "s1", "session", 0);
    e.metadata
        .insert("user".into(), json!({"tier": "pro", "age": 3}));
    e.config.insert("models".into(), json!(["a", "b"]));
    store.apply(&[put(e)]).unwrap();
    store
        .apply(&[enrich("s1", json!({"feedback": {"ok": true}}))])
        .unwrap();
    let fields: Vec<(String, String)> = store
        .fields(P)
        .unwrap()
        .into_iter()
        .map(|f| (f.field, f.ty))
        .collect();
    for want in [
        ("metadata.user.tier", "string"),
        ("metadata.user.age", "number"),
        ("config.models", "array"),
        ("feedback.ok", "boolean"),
    ] {
        assert!(
            fields.contains(&(want.0.to_owned(), want.1.to_owned())),
            "{want:?} not in {fields:?}"
        );
    }
    assert!(store.fields("proj-b").unwrap().is_empty());

    // Entries keyed per record (OTLP log records) are one field, their
    // container, whether they came with the event or in enrichments.
    let mut e = event("s2", "s2", "session", 0);
    e.metadata.insert(
        "otel_logs".into(),
        json!({"01_a": {"body": "one", "attributes": {"k": 1}}}),
    );
    store.apply(&[put(e)]).unwrap();
    store
        .apply(&[enrich(
            "s2",
            json!({"metadata": {"otel_logs": {"02_b": {"body": "two", "severity": "WARN"}}}}),
        )])
        .unwrap();
    let logs: Vec<(String, String)> = store
        .fields(P)
        .unwrap()
        .into_iter()
        .filter(|f| f.field.contains("otel_logs"))
        .map(|f| (f.field, f.ty))
        .collect();
    assert_eq!(
        logs,
        [("metadata.otel_logs".to_owned(), "object".to_owned())]
    );
}

pub fn redelivery_is_idempotent(store: &dyn Store) {
    let e = event("e1", "s1", "tool", 10);
    store
        .apply(&[put(event("s1", "s1", "session", 0)), put(e.clone())])
        .unwrap();
    store
        .apply(&[enrich("e1", json!({"metadata": {"x": 1}}))])
        .unwrap();
    store.apply(&[put(e)]).unwrap();
    let s = get(store, "s1");
    assert_eq!(s["metadata"]["num_events"], 1);
    assert_eq!(get(store, "e1")["metadata"]["x"], 1);
}

pub fn keys_and_scopes(store: &dyn Store) {
    let auth = store.auth();
    let admin = auth
        .bootstrap()
        .unwrap()
        .expect("first bootstrap makes a key");
    assert!(admin.starts_with("hh_"));
    assert!(auth.bootstrap().unwrap().is_none());
    let key = auth.authenticate(&admin).unwrap().unwrap();
    assert_eq!(key.scope, KeyScope::Admin);
    let project = auth.ensure_project("team-a").unwrap();
    assert_eq!(auth.ensure_project("team-a").unwrap(), project);
    assert_eq!(auth.ensure_project(" team-a ").unwrap(), project);
    // Regression (reliability suite): a name with a NUL was created.
    for bad in [
        "",
        "  ",
        "p\u{0}q",
        "line\nbreak",
        "tab\there",
        &"x".repeat(201),
        &"\u{65e5}".repeat(201),
        "c1\u{85}control",
    ] {
        assert!(
            matches!(auth.ensure_project(bad), Err(StoreError::Invalid(_))),
            "{bad:?}"
        );
    }
    // Two hundred characters, whatever their bytes.
    for good in ["x".repeat(200), "\u{65e5}".repeat(200)] {
        let p = auth.ensure_project(&good).unwrap();
        assert_eq!(p.name, good);
    }
    let (k, secret) = auth
        .create_key(&NewKey {
            name: "ingest".into(),
            scope: KeyScope::Ingest,
            project_id: Some(project.id.clone()),
            expires_at: None,
            permissions: Vec::new(),
        })
        .unwrap();
    assert!(secret.starts_with("hh_ingst_"), "{secret}");
    assert_eq!(k.prefix, secret[..17]);
    assert_eq!(
        auth.authenticate(&secret).unwrap().unwrap().project_id,
        Some(project.id.clone())
    );
    assert!(auth.authenticate("hh_wrong").unwrap().is_none());
    assert!(auth.revoke_key(&k.id).unwrap());
    assert!(auth.authenticate(&secret).unwrap().is_none());
    assert!(
        auth.create_key(&NewKey {
            name: "x".into(),
            scope: KeyScope::ReadWrite,
            project_id: None,
            expires_at: None,
            permissions: Vec::new(),
        })
        .is_err()
    );
    // Keys that expire: one live until its time, listed with it; one past
    // it, refused (and listed, so it can be seen and revoked).
    let now = crate::now_ms();
    let mut made = Vec::new();
    for (name, expires_at) in [("later", now + 3_600_000), ("gone", now - 1)] {
        let (k, secret) = auth
            .create_key(&NewKey {
                name: name.into(),
                scope: KeyScope::ReadWrite,
                project_id: Some(project.id.clone()),
                expires_at: Some(expires_at),
                permissions: Vec::new(),
            })
            .unwrap();
        assert!(secret.starts_with("hh_fgdp_"), "{secret}");
        assert_eq!(k.expires_at, Some(expires_at));
        made.push((k, secret));
    }
    let live = auth
        .authenticate(&made[0].1)
        .unwrap()
        .expect("live until it expires");
    assert_eq!(live.expires_at, Some(now + 3_600_000));
    assert!(
        auth.authenticate(&made[1].1).unwrap().is_none(),
        "an expired key"
    );
    let listed = auth.keys().unwrap();
    for (k, _) in &made {
        let l = listed.iter().find(|l| l.id == k.id).expect("listed");
        assert_eq!(l.expires_at, k.expires_at);
    }
    assert!(auth.revoke_key(&made[1].0.id).unwrap());
    // A data-plane key carries its permissions, and only such a key does.
    let data_plane = |permissions: &[&str], scope| NewKey {
        name: "dp".into(),
        scope,
        project_id: Some(project.id.clone()),
        expires_at: Some(now + 3_600_000),
        permissions: permissions.iter().map(|p| p.to_string()).collect(),
    };
    let (k, secret) = auth
        .create_key(&data_plane(
            &["project.chart.list", "project.chart.get"],
            KeyScope::DataPlane,
        ))
        .unwrap();
    assert!(secret.starts_with("hh_fgdp_"), "{secret}");
    let got = auth.authenticate(&secret).unwrap().unwrap();
    assert_eq!(got.scope, KeyScope::DataPlane);
    assert_eq!(got.permissions, ["project.chart.list", "project.chart.get"]);
    let listed = auth.keys().unwrap();
    assert_eq!(listed.iter().find(|l| l.id == k.id).unwrap(), &got);
    for (permissions, scope) in [
        (&[][..], KeyScope::DataPlane),
        (&["project.alert.list"][..], KeyScope::DataPlane),
        (&["project.chart.list"][..], KeyScope::ReadWrite),
    ] {
        assert!(
            matches!(
                auth.create_key(&data_plane(permissions, scope)),
                Err(StoreError::Invalid(_))
            ),
            "{permissions:?} {scope:?}"
        );
    }
    let token = auth.create_login_token(60_000).unwrap();
    assert!(auth.consume_login_token(&token).unwrap());
    assert!(!auth.consume_login_token(&token).unwrap());
}

pub fn user_properties_stay_separate(store: &dyn Store) {
    store
        .apply(&[put(event("s1", "s1", "session", 0))])
        .unwrap();
    store
        .apply(&[enrich(
            "s1",
            json!({"user_properties": {"tier": "premium"}, "metadata": {"m": 1}}),
        )])
        .unwrap();
    let s = get(store, "s1");
    assert_eq!(s["user_properties"], json!({"tier": "premium"}));
    assert!(s["metadata"].get("tier").is_none());
}

pub fn many_small_batches_keep_every_key(store: &dyn Store) {
    store
        .apply(&[put(event("s1", "s1", "session", 0))])
        .unwrap();
    let ops: Vec<WriteOp> = (0..200)
        .map(|i| enrich("s1", json!({"metadata": {format!("k{i}"): i}})))
        .collect();
    for chunk in ops.chunks(7) {
        store.apply(chunk).unwrap();
    }
    let s = get(store, "s1");
    for i in 0..200 {
        assert_eq!(s["metadata"][format!("k{i}")], i);
    }
    assert_eq!(store.history(Some(P), "s1").unwrap().len(), 200);
}

pub fn second_start_joins_the_session(store: &dyn Store) {
    let mut first = event("s1", "s1", "session", 100);
    first.event_name = "checkout".into();
    first.metadata.insert("a".into(), json!(1));
    store.apply(&[put(first)]).unwrap();
    let mut second = event("s1", "s1", "session", 900);
    second.event_name = "other-service".into();
    second.metadata.insert("b".into(), json!(2));
    store
        .apply(&[WriteOp::Event {
            event: second,
            raw: None,
            session_name: None,
            join: true,
            floating: false,
        }])
        .unwrap();
    let s = get(store, "s1");
    assert_eq!(s["event_name"], "checkout");
    assert_eq!(s["start_time"], 100);
    assert_eq!(s["metadata"]["a"], 1);
    assert_eq!(s["metadata"]["b"], 2);
    // Joining a session that does not exist yet starts it.
    let mut fresh = event("s2", "s2", "session", 5);
    fresh.event_name = "new".into();
    store
        .apply(&[WriteOp::Event {
            event: fresh,
            raw: None,
            session_name: None,
            join: true,
            floating: false,
        }])
        .unwrap();
    assert_eq!(get(store, "s2")["event_name"], "new");
}

fn floating(id: &str, patch: Value) -> WriteOp {
    WriteOp::Enrich {
        project_id: "default".into(),
        floating: true,
        event_id: id.into(),
        patch,
        key_id: None,
        received_at_ms: 7,
    }
}

/// An enrichment that names no project applies wherever its event is,
/// before or after the event arrives.
pub fn floating_enrichment_follows_its_event(store: &dyn Store) {
    // The event exists in proj-a: the patch goes there.
    store
        .apply(&[put(event("s1", "s1", "session", 0))])
        .unwrap();
    store
        .apply(&[floating("s1", json!({"metadata": {"a": 1}}))])
        .unwrap();
    assert_eq!(get(store, "s1")["metadata"]["a"], 1);
    assert!(store.get_event(Some("default"), "s1").unwrap().is_none());
    // The event does not exist yet: it waits (visible) in the fallback
    // project, then moves with its history when the event arrives.
    store
        .apply(&[floating("s2", json!({"metadata": {"b": 2}}))])
        .unwrap();
    store
        .apply(&[floating("s2", json!({"metadata": {"c": 3}}))])
        .unwrap();
    assert_eq!(
        store.get_event(Some("default"), "s2").unwrap().unwrap()["metadata"]["b"],
        2
    );
    store
        .apply(&[put(event("s2", "s2", "session", 0))])
        .unwrap();
    let s2 = get(store, "s2");
    assert_eq!(
        (s2["metadata"]["b"].clone(), s2["metadata"]["c"].clone()),
        (json!(2), json!(3))
    );
    assert!(store.get_event(Some("default"), "s2").unwrap().is_none());
    assert_eq!(store.history(Some(P), "s2").unwrap().len(), 2);
    // A span of a session whose enrichment floats.
    store
        .apply(&[floating("e9", json!({"feedback": {"ok": true}}))])
        .unwrap();
    store.apply(&[put(event("e9", "s1", "tool", 5))]).unwrap();
    assert_eq!(get(store, "e9")["feedback"]["ok"], true);
    assert_eq!(get(store, "s1")["metadata"]["has_feedback"], true);
    // An event that names no project follows its session.
    let mut e = event("e10", "s1", "tool", 6);
    e.project_id = "default".into();
    store
        .apply(&[WriteOp::Event {
            event: e,
            raw: None,
            session_name: None,
            join: false,
            floating: true,
        }])
        .unwrap();
    assert_eq!(get(store, "e10")["project_id"], P);
    assert!(
        store.get_event(Some("default"), "s1").unwrap().is_none(),
        "no placeholder session elsewhere"
    );
    // s1 itself, e9 and e10.
    assert_eq!(
        store.session_events(None, "s1", usize::MAX).unwrap().len(),
        3
    );
    // A limit keeps the session event and the earliest events.
    let first = store.session_events(None, "s1", 2).unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(first[0]["event_id"], "s1");
}
