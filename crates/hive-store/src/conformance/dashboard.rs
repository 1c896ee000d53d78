//! Cases for what the dashboard relies on: filters that stay exact while
//! enrichments change and remove values (whatever index a backend keeps),
//! at event and session level; dashboard logins; saved views.

use hive_core::filter::Filter;
use serde_json::{Value, json};

use super::{P, all, enrich, event, put};
use crate::{Level, Store};

fn ids(docs: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = docs
        .iter()
        .map(|d| d["event_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    v.sort();
    v
}

pub fn filters_follow_enrichment(store: &dyn Store) {
    let mut ops = Vec::new();
    for s in 0..4 {
        let sid = format!("s{s}");
        let mut session = event(&sid, &sid, "session", s * 100);
        session
            .metadata
            .insert("user_id".into(), json!(format!("u{}", s % 3)));
        session.metadata.insert("a-b".into(), json!(s));
        session.metadata.insert("é".into(), json!(s % 2 == 0));
        session.metadata.insert(
            "nested".into(),
            json!({"deep": {"k": format!("v{s}")}, "n": s}),
        );
        session.feedback.insert(
            "when".into(),
            json!(format!("2024-02-0{}T00:00:00Z", s + 1)),
        );
        session
            .user_properties
            .insert("plan".into(), json!(["free", "pro"][s as usize % 2]));
        ops.push(put(session));
        for i in 0..5 {
            let mut e = event(&format!("e{s}-{i}"), &sid, "model", s * 100 + i + 1);
            e.metadata
                .insert("user_id".into(), json!(format!("u{}", (s + i) % 3)));
            e.metadata.insert("a-b".into(), json!(i));
            e.metadata.insert("é".into(), json!(i % 2 == 0));
            e.metadata.insert(
                "nested".into(),
                json!({"deep": {"k": format!("v{i}")}, "n": i}),
            );
            e.metrics.insert("score".into(), json!(i as f64 / 4.0));
            e.config.insert("model".into(), json!("gpt-4o"));
            e.feedback.insert(
                "when".into(),
                json!(format!("2024-02-0{}T00:00:00Z", i + 1)),
            );
            ops.push(put(e));
        }
    }
    store.apply(&ops).unwrap();
    // Change, add and remove values after the fact, and move an event to
    // another session.
    store
        .apply(&[
            enrich("e0-1", json!({"metadata": {"user_id": "u9", "a-b": null}})),
            enrich("e1-2", json!({"metadata": {"nested": {"deep": null}}})),
            enrich(
                "s2",
                json!({"metadata": {"tenant": "acme"}, "user_properties": {"plan": null}}),
            ),
            enrich(
                "e3-0",
                json!({"metadata": {"user_id": null}, "metrics": {"score": "high"}}),
            ),
            enrich("e3-4", json!({"session_id": "s1"})),
            enrich(
                "s1",
                json!({"metadata": {"user_id": "u9", "nested": {"deep": null}}}),
            ),
            enrich(
                "s3",
                json!({"metadata": {"a-b": null, "é": "yes"}, "metrics": {"score": 0.9}}),
            ),
            // An enrichment of an unknown id makes a placeholder session
            // that the real (non-session) event then replaces.
            enrich("late", json!({"metadata": {"user_id": "u9"}})),
            put(event("late", "s0", "tool", 7)),
        ])
        .unwrap();
    let docs = all(store, vec![], Level::Event);
    let table = [
        json!({"field": "metadata.user_id", "operator": "is", "value": "u9"}),
        json!({"field": "metadata.user_id", "operator": "is", "value": "u0"}),
        json!({"field": "metadata.user_id", "operator": "exists"}),
        json!({"field": "metadata.user_id", "operator": "contains", "value": "U1"}),
        json!({"field": "metadata.user_id", "operator": "is not", "value": "u1"}),
        json!({"field": "metadata.a-b", "operator": "is", "value": 2, "type": "number"}),
        json!({"field": "metadata.a-b", "operator": "is", "value": "3", "type": "string"}),
        json!({"field": "metadata.a-b", "operator": "greater than", "value": 1, "type": "number"}),
        json!({"field": "metadata.a-b", "operator": "exists"}),
        json!({"field": "metadata.é", "operator": "is", "value": true, "type": "boolean"}),
        json!({"field": "metadata.é", "operator": "is", "value": "false", "type": "boolean"}),
        json!({"field": "metadata.nested", "operator": "exists"}),
        json!({"field": "metadata.nested", "operator": "contains", "value": "v3"}),
        json!({"field": "metadata.nested", "operator": "is", "value": "x"}),
        json!({"field": "metadata.nested.deep.k", "operator": "is", "value": "v2"}),
        json!({"field": "metadata.nested.deep", "operator": "exists"}),
        json!({"field": "metadata.nested.n", "operator": "less than", "value": 2, "type": "number"}),
        json!({"field": "metadata.tenant", "operator": "is", "value": "acme"}),
        json!({"field": "metrics.score", "operator": "greater than", "value": 0.4, "type": "number"}),
        json!({"field": "metrics.score", "operator": "is", "value": "high"}),
        json!({"field": "metrics.score", "operator": "is", "value": "0.5"}),
        json!({"field": "config.model", "operator": "is", "value": "gpt-4o"}),
        json!({"field": "feedback.when", "operator": "after", "value": "2024-02-03", "type": "datetime"}),
        json!({"field": "feedback.when", "operator": "before", "value": "2024-02-03", "type": "datetime"}),
        json!({"field": "user_properties.plan", "operator": "is", "value": "pro"}),
        json!({"field": "user_properties.plan", "operator": "not exists"}),
    ];
    for spec in table {
        let f = Filter::from_json(&spec).unwrap();
        let want: Vec<Value> = docs.iter().filter(|d| f.matches(d)).cloned().collect();
        assert_eq!(
            ids(&all(store, vec![f.clone()], Level::Event)),
            ids(&want),
            "event level: {spec}"
        );
        // A session matches when any of its events (itself included) does.
        let sessions: std::collections::BTreeSet<String> = want
            .iter()
            .map(|d| d["session_id"].as_str().unwrap_or_default().to_owned())
            .collect();
        let got = ids(&all(store, vec![f.clone()], Level::Session));
        assert_eq!(
            got,
            sessions.into_iter().collect::<Vec<_>>(),
            "session level: {spec}"
        );
        // Only the session event's own fields.
        let own: Vec<Value> = want
            .iter()
            .filter(|d| d["event_type"] == "session" && d["event_id"] == d["session_id"])
            .cloned()
            .collect();
        assert_eq!(
            ids(&all(store, vec![f], Level::SessionEvent)),
            ids(&own),
            "session event level: {spec}"
        );
    }
}

pub fn dashboard_sessions_and_views(store: &dyn Store) {
    let auth = store.auth();
    let (token, session) = auth.create_web_session(60_000).unwrap();
    assert!(token.len() >= 40 && session.csrf.len() >= 40);
    assert_ne!(token, session.csrf);
    assert_eq!(auth.web_session(&token).unwrap(), Some(session.clone()));
    assert_eq!(auth.web_session("not-a-token").unwrap(), None);
    auth.delete_web_session(&token).unwrap();
    assert_eq!(auth.web_session(&token).unwrap(), None);
    let (expired, _) = auth.create_web_session(-1).unwrap();
    assert_eq!(auth.web_session(&expired).unwrap(), None);

    let v = auth
        .save_view(P, "acme only", "sessions", "f=metadata.tenant~is~acme")
        .unwrap();
    auth.save_view("other", "theirs", "events", "").unwrap();
    let views = auth.views(P).unwrap();
    assert_eq!(views, vec![v.clone()]);
    assert!(auth.save_view(P, "  ", "sessions", "").is_err());
    assert!(!auth.delete_view("other", &v.id).unwrap());
    assert!(auth.delete_view(P, &v.id).unwrap());
    assert!(auth.views(P).unwrap().is_empty());
}
