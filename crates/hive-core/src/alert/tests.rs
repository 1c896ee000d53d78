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
    assert_eq!(rule.query.group_by, None);
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
