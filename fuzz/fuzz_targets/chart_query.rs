//! The chart query parser (hive_core::chart): any JSON object never panics;
//! what parses reads back (to_json, as saved charts and alerts keep it) as
//! the same query, and the reference evaluation over a few events runs.
#![no_main]

use hive_core::chart::{ChartQuery, reference};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(q) = ChartQuery::from_json(&v, 1.7e12) else {
        return;
    };
    let saved = q.to_json();
    let again = ChartQuery::from_json(&saved, 1.7e12)
        .unwrap_or_else(|e| panic!("{saved} does not parse again: {e}"));
    assert_eq!(again.to_json(), saved);
    let events = [
        json!({"event_id": "a", "session_id": "s", "event_type": "model", "event_name": "x",
               "start_time": 1.69e12, "end_time": 1.69e12 + 5.0, "duration": 5,
               "metadata": {"a": 1, "b": "two"}, "metrics": {"score": 0.5}}),
        json!({"event_id": "s", "session_id": "s", "event_type": "session", "event_name": "s",
               "start_time": 1.6e12, "duration": 1e9, "metadata": {"a": "1", "b": null},
               "metrics": {"score": -3}}),
    ];
    let _ = reference(&q, &events);
});
