use serde_json::json;

use super::*;
use crate::span::SpanEvent;

fn defaults() -> Redactor {
    RedactionSettings::default_set().compile().unwrap()
}

fn text(r: &Redactor, s: &str) -> (String, Counts) {
    let mut s = s.to_owned();
    let mut counts = Counts::default();
    r.redact_text(&mut s, &mut counts);
    (s, counts)
}

#[test]
fn default_patterns_replace_what_they_match_and_nothing_else() {
    let r = defaults();
    let table: &[(&str, &str)] = &[
        (
            "write to ada@example.com today",
            "write to [REDACTED:email] today",
        ),
        ("a.b+c@mail.co.uk", "[REDACTED:email]"),
        // Visa test number (Luhn valid), with spaces and with dashes.
        (
            "card 4111 1111 1111 1111 ok",
            "card [REDACTED:credit_card] ok",
        ),
        ("4111-1111-1111-1111", "[REDACTED:credit_card]"),
        ("5500005555555559", "[REDACTED:credit_card]"),
        ("378282246310005", "[REDACTED:credit_card]"),
        // Luhn invalid: kept.
        ("4111 1111 1111 1112", "4111 1111 1111 1112"),
        // Timestamps (ms, ns) start with 1: never cards.
        ("1700000000000", "1700000000000"),
        ("1700000000000000000", "1700000000000000000"),
        (
            "Authorization: Bearer abc.DEF-123_xyz=",
            "Authorization: [REDACTED:bearer_token]",
        ),
        ("bearer eyJhbGciOiJIUzI1NiJ9", "[REDACTED:bearer_token]"),
        (
            "key sk-proj-AbCdEf0123456789xyz used",
            "key [REDACTED:secret_token] used",
        ),
        ("sk-ant-api03-abcdefghijklmnop", "[REDACTED:secret_token]"),
        (
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "[REDACTED:secret_token]",
        ),
        (
            "hh_q3C1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "[REDACTED:secret_token]",
        ),
        ("AKIAIOSFODNN7EXAMPLE", "[REDACTED:aws_access_key]"),
        (
            "tok eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "tok [REDACTED:jwt]",
        ),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
            "[REDACTED:private_key]",
        ),
        // Look-alikes that are not secrets.
        (
            "the task-list is long and skinny",
            "the task-list is long and skinny",
        ),
        ("scikit sk-learn", "scikit sk-learn"),
        ("bearer of news", "bearer of news"),
        ("user@localhost", "user@localhost"),
    ];
    for (input, want) in table {
        assert_eq!(text(&r, input).0, *want, "input {input:?}");
    }
}

#[test]
fn key_rules_match_names_in_any_spelling_and_leave_near_misses() {
    let r = defaults();
    let mut v = json!({
        "password": "hunter2",
        "db": {"Password": 1234, "passwordHint": "pet's name"},
        "X-Api-Key": "abc",
        "openai_api_key": "abc",
        "apiKey": {"nested": "abc"},
        "access_token": "t",
        "total_tokens": 42,
        "token_count": 7,
        "max_tokens": 100,
        "Authorization": "Basic dXNlcjpwYXNz",
        "set-cookie": "sid=1",
        "client_secret": "s",
        "secret_name": "kept",
        "removed_password": null,
    });
    let mut counts = Counts::default();
    assert!(r.redact_value(&mut v, &mut counts));
    assert_eq!(
        v,
        json!({
            "password": "[REDACTED:password]",
            "db": {"Password": "[REDACTED:password]", "passwordHint": "pet's name"},
            "X-Api-Key": "[REDACTED:api_key]",
            "openai_api_key": "[REDACTED:api_key]",
            "apiKey": "[REDACTED:api_key]",
            "access_token": "[REDACTED:token]",
            "total_tokens": 42,
            "token_count": 7,
            "max_tokens": 100,
            "Authorization": "[REDACTED:authorization]",
            "set-cookie": "[REDACTED:cookie]",
            "client_secret": "[REDACTED:secret]",
            "secret_name": "kept",
            // null removes a key in a patch: it stays null.
            "removed_password": null,
        })
    );
    assert_eq!(counts.get("password"), 2);
    assert_eq!(counts.get("api_key"), 3);
    assert_eq!(counts.total(), 9);
    // Redacting again changes nothing and counts nothing.
    let mut again = Counts::default();
    assert!(!r.redact_value(&mut v, &mut again));
    assert!(again.is_empty());
}

#[test]
fn json_in_strings_and_object_keys_are_redacted() {
    let r = defaults();
    let mut v = json!({
        "entity_input": "{\"args\": [], \"kwargs\": {\"password\": \"hunter2\", \"to\": \"ada@example.com\"}}",
        "messages": "[{\"role\": \"user\", \"content\": \"my card is 4111111111111111\"}]",
        "by_user": {"ada@example.com": 3},
        "plain": "[not json ada@example.com",
    });
    let mut counts = Counts::default();
    r.redact_value(&mut v, &mut counts);
    let s = v.to_string();
    assert!(
        !s.contains("hunter2") && !s.contains("ada@example.com") && !s.contains("4111111111111111"),
        "{s}"
    );
    let inner: Value = serde_json::from_str(v["entity_input"].as_str().unwrap()).unwrap();
    assert_eq!(inner["kwargs"]["password"], "[REDACTED:password]");
    assert_eq!(inner["kwargs"]["to"], "[REDACTED:email]");
    assert_eq!(v["by_user"], json!({"[REDACTED:email]": 3}));
    assert_eq!(v["plain"], "[not json [REDACTED:email]");
}

#[test]
fn events_patches_and_spans() {
    let r = defaults();
    let mut e = Event {
        event_id: "ada@example.com".into(),
        event_name: "mail ada@example.com".into(),
        error: Some("auth failed for Bearer abcdefghijkl".into()),
        inputs: json!({"q": "hi", "api_key": "sk-abc"})
            .as_object()
            .unwrap()
            .clone(),
        user_properties: json!({"email": "ada@example.com"})
            .as_object()
            .unwrap()
            .clone(),
        ..Event::default()
    };
    let mut counts = Counts::default();
    r.redact_event(&mut e, &mut counts);
    assert_eq!(e.event_id, "ada@example.com", "ids are left alone");
    assert_eq!(e.event_name, "mail [REDACTED:email]");
    assert_eq!(
        e.error.as_deref(),
        Some("auth failed for [REDACTED:bearer_token]")
    );
    assert_eq!(e.inputs["api_key"], "[REDACTED:api_key]");
    assert_eq!(e.user_properties["email"], "[REDACTED:email]");

    let mut patch = json!({"feedback": {"comment": "call 4111 1111 1111 1111"}, "error": "x ada@example.com", "source": "ada@example.com"});
    r.redact_patch(&mut patch, &mut counts);
    assert_eq!(patch["feedback"]["comment"], "call [REDACTED:credit_card]");
    assert_eq!(patch["error"], "x [REDACTED:email]");
    assert_eq!(patch["source"], "ada@example.com");

    let mut span = Span {
        name: "login ada@example.com".into(),
        attributes: vec![
            KeyValue::new(
                "honeyhive.session_id",
                AttrValue::Str("ada@example.com".into()),
            ),
            KeyValue::new(
                "honeyhive_inputs.password",
                AttrValue::Str("hunter2".into()),
            ),
            KeyValue::new("honeyhive_metrics.token", AttrValue::Int(5)),
            KeyValue::new(
                "http.request.header",
                AttrValue::KvList(vec![KeyValue::new(
                    "authorization",
                    AttrValue::Array(vec![AttrValue::Str("Basic x".into())]),
                )]),
            ),
            KeyValue::new("gen_ai.usage.input_tokens", AttrValue::Int(12)),
        ],
        events: vec![SpanEvent {
            name: "exception".into(),
            attributes: vec![KeyValue::new(
                "exception.message",
                AttrValue::Str("no user ada@example.com".into()),
            )],
            ..SpanEvent::default()
        }],
        status_message: "AKIAIOSFODNN7EXAMPLE".into(),
        ..Span::default()
    };
    r.redact_span(&mut span, &mut counts);
    assert_eq!(span.name, "login [REDACTED:email]");
    assert_eq!(
        span.attr_str("honeyhive.session_id").as_deref(),
        Some("ada@example.com")
    );
    assert_eq!(
        span.attr_str("honeyhive_inputs.password").as_deref(),
        Some("[REDACTED:password]")
    );
    assert_eq!(
        span.attr_str("honeyhive_metrics.token").as_deref(),
        Some("[REDACTED:token]")
    );
    assert_eq!(
        span.attr("http.request.header"),
        Some(&AttrValue::KvList(vec![KeyValue::new(
            "authorization",
            AttrValue::Str("[REDACTED:authorization]".into())
        )]))
    );
    assert_eq!(
        span.attr("gen_ai.usage.input_tokens"),
        Some(&AttrValue::Int(12))
    );
    assert_eq!(
        span.events[0].attributes[0].value,
        AttrValue::Str("no user [REDACTED:email]".into())
    );
    assert_eq!(span.status_message, "[REDACTED:aws_access_key]");
}

#[test]
fn custom_rules_and_disabled_defaults() {
    let settings = RedactionSettings::from_json(&json!({
        "enabled": true,
        "disabled_defaults": ["email", "token"],
        "keys": ["ssn"],
        "patterns": [{"name": "order_ref", "regex": "ORD-[0-9]{6}"}],
    }))
    .unwrap();
    let r = settings.compile().unwrap();
    let mut v = json!({"ssn": "078-05-1120", "note": "ORD-123456 for ada@example.com", "access_token": "kept"});
    let mut counts = Counts::default();
    r.redact_value(&mut v, &mut counts);
    assert_eq!(
        v,
        json!({"ssn": "[REDACTED:ssn]", "note": "[REDACTED:order_ref] for ada@example.com", "access_token": "kept"})
    );
    assert_eq!(
        counts.0,
        BTreeMap::from([("order_ref".into(), 1), ("ssn".into(), 1)])
    );

    // Without defaults, only the project's own rules.
    let r = RedactionSettings {
        enabled: true,
        defaults: false,
        keys: vec!["pin".into()],
        ..RedactionSettings::default()
    }
    .compile()
    .unwrap();
    let mut v = json!({"pin": 1234, "password": "kept", "mail": "ada@example.com"});
    r.redact_value(&mut v, &mut Counts::default());
    assert_eq!(
        v,
        json!({"pin": "[REDACTED:pin]", "password": "kept", "mail": "ada@example.com"})
    );
}

#[test]
fn invalid_settings_are_refused_naming_the_field() {
    let table: &[(Value, &str)] = &[
        (
            json!({"patterns": [{"name": "x", "regex": "("}]}),
            "patterns[0].regex:",
        ),
        (
            json!({"patterns": [{"name": "x", "regex": "a*"}]}),
            "patterns[0].regex: matches the empty string",
        ),
        (
            json!({"patterns": [{"name": "x", "regex": "a{1000}{1000}"}]}),
            "patterns[0].regex:",
        ),
        (
            json!({"patterns": [{"name": "x", "regex": "a".repeat(1001)}]}),
            "patterns[0].regex: longer than",
        ),
        (
            json!({"patterns": [{"name": "a b", "regex": "x"}]}),
            "patterns[0].name:",
        ),
        (
            json!({"patterns": [{"name": "a", "regex": "x"}, {"name": "a", "regex": "y"}]}),
            "patterns[1].name:",
        ),
        (
            json!({"patterns": [{"name": "a"}]}),
            "patterns[0]: missing field `regex`",
        ),
        (json!({"keys": ["ok", ""]}), "keys[1]:"),
        (json!({"keys": "password"}), "keys: invalid type"),
        (json!({"enabled": "yes"}), "enabled: invalid type"),
        (
            json!({"disabled_defaults": ["nope"]}),
            "disabled_defaults[0]:",
        ),
        (json!({"colour": 1}), "unknown field `colour`"),
    ];
    for (doc, want) in table {
        let e = RedactionSettings::from_json(doc).unwrap_err().to_string();
        assert!(e.contains(want), "{doc}: got {e:?}, want {want:?}");
    }
    let many: Vec<Value> = (0..=MAX_PATTERNS)
        .map(|i| json!({"name": format!("p{i}"), "regex": "x"}))
        .collect();
    assert!(
        RedactionSettings::from_json(&json!({"patterns": many}))
            .unwrap_err()
            .0
            .starts_with("patterns: at most")
    );
}

#[test]
fn nothing_changes_without_a_match_and_pathological_text_is_linear() {
    let r = defaults();
    let mut v = json!({"q": "what is the weather in Paris?", "n": [1, 2.5, true, null]});
    let before = v.clone();
    assert!(!r.redact_value(&mut v, &mut Counts::default()));
    assert_eq!(v, before);
    // A custom pattern that backtracks exponentially elsewhere is linear here.
    let r = RedactionSettings::from_json(
        &json!({"enabled": true, "patterns": [{"name": "evil", "regex": "(a+)+$"}]}),
    )
    .unwrap()
    .compile()
    .unwrap();
    let mut s = format!("{}!", "a".repeat(100_000));
    let started = std::time::Instant::now();
    r.redact_text(&mut s, &mut Counts::default());
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
}
