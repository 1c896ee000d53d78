use serde_json::json;

use super::*;

#[test]
fn state_machine_table() {
    use AlertState::*;
    let obs = |crossed| Input::Observed { crossed };
    let act = Input::Act;
    // (state, input, Ok((next, notify)) or Err)
    type Row = (AlertState, Input, Option<(AlertState, Notify)>);
    let table: Vec<Row> = vec![
        (Active, obs(false), Some((Active, Notify::Nothing))),
        (Active, obs(true), Some((Triggered, Notify::Fired))),
        (Triggered, obs(true), Some((Triggered, Notify::Nothing))),
        (Triggered, obs(false), Some((Resolved, Notify::Resolved))),
        (Resolved, obs(false), Some((Resolved, Notify::Nothing))),
        (Resolved, obs(true), Some((Triggered, Notify::Fired))),
        (Paused, obs(true), Some((Paused, Notify::Nothing))),
        (Paused, obs(false), Some((Paused, Notify::Nothing))),
        (Muted, obs(true), Some((Muted, Notify::Nothing))),
        (Muted, obs(false), Some((Muted, Notify::Nothing))),
        (Active, act(Action::Pause), Some((Paused, Notify::Nothing))),
        (
            Triggered,
            act(Action::Pause),
            Some((Paused, Notify::Nothing)),
        ),
        (
            Resolved,
            act(Action::Pause),
            Some((Paused, Notify::Nothing)),
        ),
        (Muted, act(Action::Pause), Some((Paused, Notify::Nothing))),
        (Paused, act(Action::Pause), None),
        (Paused, act(Action::Resume), Some((Active, Notify::Nothing))),
        (Active, act(Action::Resume), None),
        (Muted, act(Action::Resume), None),
        (Active, act(Action::Mute), Some((Muted, Notify::Nothing))),
        (Triggered, act(Action::Mute), Some((Muted, Notify::Nothing))),
        (Resolved, act(Action::Mute), Some((Muted, Notify::Nothing))),
        (Muted, act(Action::Mute), None),
        (Paused, act(Action::Mute), None),
        (Muted, act(Action::Unmute), Some((Active, Notify::Nothing))),
        (Active, act(Action::Unmute), None),
        (Paused, act(Action::Unmute), None),
    ];
    for (state, input, want) in table {
        let got = next(state, input).ok();
        assert_eq!(got, want, "{state:?} + {input:?}");
    }
    // Every (state, input) pair is covered by the rules above.
    for s in AlertState::ALL {
        assert_eq!(AlertState::parse(s.name()), Some(s));
    }
}

#[test]
fn a_sequence_fires_once_and_resolves_once() {
    let mut state = AlertState::Active;
    let mut sent = Vec::new();
    for crossed in [false, true, true, true, false, false, true] {
        let (s, n) = next(state, Input::Observed { crossed }).unwrap();
        state = s;
        sent.push(n);
    }
    use Notify::*;
    assert_eq!(
        sent,
        vec![Nothing, Fired, Nothing, Nothing, Resolved, Nothing, Fired]
    );
}

#[test]
fn rules_parse_and_decide() {
    let rule = AlertRule::from_json(
        &json!({"name": "slow", "query": {"metric": "metrics.latency_ms", "aggregation": "p95", "groupBy": "metadata.variant"},
                "type": "aggregate", "comparison": "above", "threshold": 500, "frequency": "15m",
                "webhook": {"url": "http://127.0.0.1:9/hook", "slack": true}}),
        0.0,
    )
    .unwrap();
    assert_eq!(rule.frequency, Frequency::Every(900_000));
    assert_eq!(rule.query.bucket, Bucket::Total);
    assert_eq!(
        rule.query.group_by.as_ref().map(|g| g.dotted()),
        Some("metadata.variant".into())
    );
    assert!(rule.slack);
    assert_eq!(rule.crossed(Some(501.0), None), (true, None));
    assert_eq!(rule.crossed(Some(500.0), None), (false, None));
    assert_eq!(rule.crossed(None, None), (false, None));
    assert_eq!(AlertRule::from_json(&rule.to_json(), 0.0).unwrap(), rule);
    assert_eq!(
        rule.windows(1_000_000),
        ((100_000, 999_999), (-800_000, 99_999))
    );

    let drift = AlertRule::from_json(
        &json!({"name": "cost", "query": {"metric": "metadata.cost", "aggregation": "sum"},
                "type": "drift", "comparison": "below", "threshold": 50, "frequency": "daily"}),
        0.0,
    )
    .unwrap();
    assert_eq!(drift.crossed(Some(40.0), Some(100.0)), (true, Some(-60.0)));
    assert_eq!(drift.crossed(Some(60.0), Some(100.0)), (false, Some(-40.0)));
    assert_eq!(drift.crossed(Some(60.0), None), (false, None));

    for bad in [
        json!({"query": {}, "threshold": 1}),
        json!({"name": "x", "threshold": "high"}),
        json!({"name": "x", "threshold": 1, "frequency": "10s"}),
        json!({"name": "x", "threshold": 1, "type": "magic"}),
        json!({"name": "x", "threshold": 1, "webhook": {"url": "ftp://x"}}),
        json!({"name": "x", "threshold": 1, "webhook": {"url": "http:///nohost"}}),
        json!({"name": "x", "threshold": 1, "webhook": {"url": "hooks.slack.com/services/x"}}),
        json!({"name": "x", "threshold": 1, "webhook": {"url": "https://host:99999/x"}}),
        json!({"name": "x", "threshold": 1, "webhook": {"url": "https://user@host/x"}}),
        json!({"name": "x", "threshold": 1, "query": {"aggregation": "avg"}}),
    ] {
        assert!(AlertRule::from_json(&bad, 0.0).is_err(), "{bad}");
    }
}

#[test]
fn webhook_urls() {
    for ok in [
        "http://127.0.0.1:9000/hook?a=1",
        "https://hooks.slack.com/services/T0/B0/XYZ",
        "HTTPS://example.com",
        "https://[::1]:8443/hook",
        "http://localhost",
    ] {
        assert_eq!(check_webhook_url(ok), Ok(()), "{ok}");
    }
    for (bad, says) in [
        (
            "ftp://example.com/x",
            "\"ftp\" is not supported, use http:// or https://",
        ),
        ("file:///etc/passwd", "\"file\" is not supported"),
        ("example.com/hook", "is not a URL"),
        ("https://", "no valid host"),
        ("https://:443/x", "no valid host"),
        ("http://a b/x", "no valid host"),
        ("https://host:0/x", "no valid host"),
    ] {
        let e = check_webhook_url(bad).unwrap_err().to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
}

fn rule(v: serde_json::Value) -> AlertRule {
    AlertRule::from_json(&v, 0.0).unwrap()
}

fn g(group: Option<&str>, value: f64) -> GroupValue {
    GroupValue::new(group, value)
}

/// The crossing groups, worst first, as (group, value).
fn crossing(e: &Evaluation) -> Vec<(Option<&str>, f64)> {
    e.crossing
        .iter()
        .map(|o| (o.group.as_deref(), o.value))
        .collect()
}

#[test]
fn grouped_threshold_table() {
    let above = rule(
        json!({"name": "slow", "threshold": 2000, "comparison": "above",
        "query": {"metric": "metrics.latency_ms", "aggregation": "p95", "groupBy": "metadata.variant"}}),
    );
    let below = rule(
        json!({"name": "cheap", "threshold": 10, "comparison": "below",
        "query": {"metric": "metadata.cost", "aggregation": "sum", "groupBy": "metadata.variant"}}),
    );
    type Row = (
        &'static str,
        Vec<GroupValue>,
        bool,
        Option<(Option<&'static str>, f64)>,
        Vec<(Option<&'static str>, f64)>,
    );
    // (case, groups, crossed, headline (group, value), crossing worst first)
    let above_rows: Vec<Row> = vec![
        ("no groups", vec![], false, None, vec![]),
        (
            "none crosses: the highest is the headline",
            vec![g(Some("a"), 1500.0), g(Some("b"), 1900.0), g(None, 100.0)],
            false,
            Some((Some("b"), 1900.0)),
            vec![],
        ),
        (
            "one crosses",
            vec![g(Some("a"), 1500.0), g(Some("b"), 2500.0)],
            true,
            Some((Some("b"), 2500.0)),
            vec![(Some("b"), 2500.0)],
        ),
        (
            "several cross: worst first",
            vec![
                g(Some("a"), 2100.0),
                g(Some("b"), 3000.0),
                g(Some("c"), 10.0),
                g(None, 2500.0),
            ],
            true,
            Some((Some("b"), 3000.0)),
            vec![(Some("b"), 3000.0), (None, 2500.0), (Some("a"), 2100.0)],
        ),
        (
            "the null group crosses",
            vec![g(None, 2001.0), g(Some("a"), 5.0)],
            true,
            Some((None, 2001.0)),
            vec![(None, 2001.0)],
        ),
        (
            "equal to the threshold does not cross",
            vec![g(Some("a"), 2000.0)],
            false,
            Some((Some("a"), 2000.0)),
            vec![],
        ),
        (
            "ties go to the first group by name",
            vec![g(Some("z"), 2500.0), g(Some("m"), 2500.0)],
            true,
            Some((Some("m"), 2500.0)),
            vec![(Some("m"), 2500.0), (Some("z"), 2500.0)],
        ),
    ];
    let below_rows: Vec<Row> = vec![
        (
            "below: the lowest is worst",
            vec![g(Some("a"), 4.0), g(Some("b"), 1.0), g(Some("c"), 50.0)],
            true,
            Some((Some("b"), 1.0)),
            vec![(Some("b"), 1.0), (Some("a"), 4.0)],
        ),
        (
            "below: none crosses, the lowest is the headline",
            vec![g(Some("a"), 40.0), g(Some("b"), 11.0)],
            false,
            Some((Some("b"), 11.0)),
            vec![],
        ),
    ];
    for (r, rows) in [(&above, above_rows), (&below, below_rows)] {
        for (case, groups, crossed, headline, want) in rows {
            let e = r.evaluate(&groups, &[]);
            assert_eq!(e.crossed, crossed, "{case}");
            assert_eq!(
                e.headline.as_ref().map(|h| (h.group.as_deref(), h.value)),
                headline,
                "{case}"
            );
            assert_eq!(crossing(&e), want, "{case}");
            assert_eq!(e.groups, groups.len(), "{case}");
            assert_eq!(e.previous(), None, "{case}");
        }
    }
}

#[test]
fn grouped_drift_table() {
    let up = rule(
        json!({"name": "more", "type": "drift", "threshold": 50, "comparison": "above",
        "query": {"aggregation": "count", "groupBy": "metadata.variant"}}),
    );
    let down = rule(
        json!({"name": "fewer", "type": "drift", "threshold": 50, "comparison": "below",
        "query": {"aggregation": "count", "groupBy": "metadata.variant"}}),
    );
    let previous = [
        g(Some("a"), 10.0),
        g(Some("b"), 10.0),
        g(Some("gone"), 10.0),
        g(None, 4.0),
        g(Some("zero"), 0.0),
    ];
    let current = [
        g(Some("a"), 30.0),    // +200%
        g(Some("b"), 16.0),    // +60%
        g(Some("new"), 500.0), // no previous value: cannot drift-cross
        g(None, 1.0),          // -75%
        g(Some("zero"), 9.0),  // previous 0: no change
    ];
    let e = up.evaluate(&current, &previous);
    assert!(e.crossed);
    assert_eq!(crossing(&e), vec![(Some("a"), 30.0), (Some("b"), 16.0)]);
    let h = e.headline.clone().unwrap();
    assert_eq!(
        (h.group.as_deref(), h.previous, h.change),
        (Some("a"), Some(10.0), Some(200.0))
    );
    // "gone" had events before and none now: a count evaluates it at 0.
    assert_eq!(e.groups, 6);
    let new = e
        .crossing
        .iter()
        .chain(std::iter::once(&h))
        .find(|o| o.group.as_deref() == Some("new"));
    assert!(
        new.is_none(),
        "a group without a previous value never crosses"
    );

    let e = down.evaluate(&current, &previous);
    assert_eq!(crossing(&e), vec![(Some("gone"), 0.0), (None, 1.0)]);
    assert_eq!(e.change(), Some(-100.0));
    assert_eq!(e.previous(), Some(10.0));

    // None crosses: the headline is the group with the largest change.
    let e = up.evaluate(&[g(Some("a"), 11.0), g(Some("b"), 14.0)], &previous);
    assert!(!e.crossed);
    assert_eq!(e.headline.unwrap().group.as_deref(), Some("b"));
    // No previous window at all: nothing crosses, the headline is the
    // highest value, without a change.
    let e = up.evaluate(&[g(Some("a"), 11.0), g(Some("b"), 14.0)], &[]);
    assert!(!e.crossed);
    let h = e.headline.unwrap();
    assert_eq!((h.group.as_deref(), h.change), (Some("b"), None));
    // Every group gone: each is evaluated at 0 (those that had 0 before
    // do not change).
    let e = down.evaluate(&[], &previous);
    assert_eq!(e.groups, 5);
    assert_eq!(
        crossing(&e),
        vec![
            (Some("a"), 0.0),
            (Some("b"), 0.0),
            (Some("gone"), 0.0),
            (None, 0.0)
        ]
    );
}

#[test]
fn a_grouped_count_catches_groups_that_vanished() {
    let few = rule(json!({"name": "few", "threshold": 5, "comparison": "below",
        "query": {"aggregation": "count", "groupBy": "metadata.tenant"}}));
    assert!(few.needs_previous());
    let previous = [g(Some("t1"), 50.0), g(Some("t2"), 40.0)];
    let e = few.evaluate(&[g(Some("t1"), 45.0)], &previous);
    assert!(e.crossed, "t2 stopped sending");
    assert_eq!(crossing(&e), vec![(Some("t2"), 0.0)]);
    assert_eq!(e.groups, 2);
    // Not for other aggregations: an average of nothing is no value.
    let slow = rule(
        json!({"name": "slow", "threshold": 5, "comparison": "below",
        "query": {"metric": "metrics.latency_ms", "aggregation": "avg", "groupBy": "metadata.tenant"}}),
    );
    assert!(!slow.needs_previous());
    let e = slow.evaluate(&[g(Some("t1"), 45.0)], &previous);
    assert!(!e.crossed);
    assert_eq!(e.groups, 1);
    // Nor without a group-by (the count of an empty window is already 0).
    let total = rule(
        json!({"name": "total", "threshold": 5, "comparison": "below", "query": {"aggregation": "count"}}),
    );
    assert!(!total.needs_previous());
}

#[test]
fn ungrouped_evaluation_is_the_one_value() {
    let r = rule(json!({"name": "slow", "threshold": 100,
        "query": {"metric": "metrics.latency_ms", "aggregation": "avg"}}));
    let e = r.evaluate(&[g(None, 150.0)], &[]);
    assert!(e.crossed);
    assert_eq!(e.value(), Some(150.0));
    assert_eq!(crossing(&e), vec![(None, 150.0)]);
    assert_eq!(r.evaluate(&[], &[]), Evaluation::default());
    let d = rule(
        json!({"name": "cost", "type": "drift", "comparison": "below", "threshold": 50,
        "query": {"metric": "metadata.cost", "aggregation": "sum"}}),
    );
    let e = d.evaluate(&[g(None, 40.0)], &[g(None, 100.0)]);
    assert_eq!((e.crossed, e.change()), (true, Some(-60.0)));
    assert_eq!(e.value(), Some(40.0));
}

#[test]
fn crossing_lists_are_capped() {
    let r = rule(json!({"name": "slow", "threshold": 0,
        "query": {"metric": "metrics.latency_ms", "aggregation": "max", "groupBy": "metadata.user"}}));
    let groups: Vec<GroupValue> = (0..45)
        .map(|i| GroupValue::new(Some(&format!("u{i:02}")), f64::from(i + 1)))
        .collect();
    let e = r.evaluate(&groups, &[]);
    assert_eq!(e.crossing.len(), 45);
    let (listed, more) = e.listed_json();
    assert_eq!((listed.len(), more), (MAX_LISTED_GROUPS, 25));
    assert_eq!(
        listed[0],
        json!({"group": "u44", "value": 45.0, "previous": null, "change_percent": null})
    );
}
