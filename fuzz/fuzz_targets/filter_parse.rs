//! The filter parser (hive_core::filter): any JSON as a filter, a field
//! name or a date range never panics; what parses carries no control
//! character in its field, reads back (through the form charts and alerts
//! save it in) as the same filter, and can be matched.
#![no_main]

use hive_core::chart::filter_json;
use hive_core::filter::{DateRange, FieldRef, Filter};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(f) = FieldRef::parse(text) {
        assert_eq!(f.dotted(), text);
        assert!(!text.chars().any(char::is_control));
    }
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let _ = DateRange::from_json(&v, 1.7e12);
    if let Ok(f) = Filter::from_json(&v) {
        assert!(!f.field.dotted().chars().any(char::is_control));
        let saved = filter_json(&f);
        let again = Filter::from_json(&saved)
            .unwrap_or_else(|e| panic!("{saved} does not parse again: {e}"));
        assert_eq!(filter_json(&again), saved);
        let event = json!({"event_name": "x", "start_time": 1.7e12, "duration": 3,
                           "metadata": {"a": 1, "b": "two", "c": [1, "2"], "d": {"e": null}},
                           "metrics": {"score": 0.5}});
        let _ = f.matches(&event);
        let _ = f.matches(&v);
    }
});
