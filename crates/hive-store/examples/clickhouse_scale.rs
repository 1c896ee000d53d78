//! Load a ClickHouse store with sessions of LLM-like events and time a few
//! reads: `cargo run --release -p hive-store --example clickhouse_scale --
//! URL [SESSIONS]` (10 events per session; URL as for `hive serve
//! --clickhouse`, a fresh database).

use std::time::Instant;

use hive_core::chart::ChartQuery;
use hive_core::filter::Filter;
use hive_core::model::Event;
use hive_store::clickhouse::ClickHouseStore;
use hive_store::{EventQuery, Level, Store, WriteOp};
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: clickhouse_scale URL [SESSIONS]")?;
    let sessions: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(10_000);
    let store = ClickHouseStore::open(&url, "scale")?;
    println!("server {}", store.server_version()?);
    let t0 = 1_704_067_200_000i64;
    let started = Instant::now();
    let mut ops = Vec::new();
    let mut events = 0usize;
    for s in 0..sessions {
        let sid = format!("{s:08x}-session");
        let start = t0 + s as i64 * 1000;
        let mut session = Event {
            event_id: sid.clone(),
            session_id: sid.clone(),
            project_id: "bench".into(),
            source: "bench".into(),
            event_type: "session".into(),
            event_name: "chat".into(),
            start_time: start,
            end_time: start + 900,
            ..Event::default()
        };
        session
            .metadata
            .insert("tenant".into(), json!(format!("t{}", s % 50)));
        session
            .user_properties
            .insert("plan".into(), json!(["free", "pro"][s % 2]));
        ops.push(WriteOp::Event {
            event: session,
            raw: None,
            session_name: None,
            join: false,
            floating: false,
        });
        for i in 0..9 {
            let mut e = Event {
                event_id: format!("{sid}-{i}"),
                session_id: sid.clone(),
                parent_id: Some(sid.clone()),
                project_id: "bench".into(),
                source: "bench".into(),
                event_type: if i % 3 == 0 { "model" } else { "tool" }.into(),
                event_name: format!("step-{i}"),
                start_time: start + i * 50,
                end_time: start + i * 50 + 40,
                duration: 40.0,
                ..Event::default()
            };
            e.inputs.insert(
                "chat_history".into(),
                json!([{"role": "system", "content": "You are a helpful assistant."},
                       {"role": "user", "content": format!("Question {s}/{i}: how do I reset my password?")}]),
            );
            e.outputs.insert(
                "content".into(),
                json!(format!("Answer to {s}/{i}: open settings, then security.")),
            );
            e.config.insert("model".into(), json!("gpt-4o"));
            e.metadata
                .insert("cost".into(), json!((s * 9 + i as usize) % 100));
            e.metadata.insert("total_tokens".into(), json!(100 + i));
            e.metrics
                .insert("latency_ms".into(), json!(200 + (s % 37) * 10));
            ops.push(WriteOp::Event {
                event: e,
                raw: None,
                session_name: None,
                join: false,
                floating: false,
            });
        }
        if s % 10 == 0 {
            ops.push(WriteOp::Enrich {
                project_id: "bench".into(),
                floating: false,
                event_id: sid.clone(),
                patch: json!({"feedback": {"rating": s % 5}, "metadata": {"experiment": "b"}}),
                key_id: None,
                received_at_ms: start + 5000,
            });
        }
        events += 10;
        if ops.len() >= 5000 {
            store.apply(&ops)?;
            ops.clear();
        }
    }
    store.apply(&ops)?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{events} events in {secs:.1} s ({:.0} events/s)",
        events as f64 / secs
    );
    let (bytes, rows) = store.disk_usage()?;
    println!(
        "hive_writes: {rows} rows, {bytes} bytes on disk: {:.0} bytes per event",
        bytes as f64 / events as f64
    );
    let time = |name: &str, f: &dyn Fn() -> usize| {
        let t = Instant::now();
        let n = f();
        println!("{name}: {n} rows in {} ms", t.elapsed().as_millis());
    };
    let f =
        Filter::from_json(&json!({"field": "metadata.tenant", "operator": "is", "value": "t7"}))?;
    time("sessions of tenant t7 (session level, page of 50)", &|| {
        store
            .query(&EventQuery {
                project_id: Some("bench".into()),
                filters: vec![f.clone()],
                level: Level::Session,
                limit: 50,
                ..EventQuery::default()
            })
            .map(|p| p.total as usize)
            .unwrap_or(0)
    });
    let g = Filter::from_json(
        &json!({"field": "metrics.latency_ms", "operator": "greater than", "value": 550}),
    )?;
    time("events with metrics.latency_ms > 550 (page of 50)", &|| {
        store
            .query(&EventQuery {
                project_id: Some("bench".into()),
                filters: vec![g.clone()],
                limit: 50,
                ..EventQuery::default()
            })
            .map(|p| p.total as usize)
            .unwrap_or(0)
    });
    let q = ChartQuery::from_json(
        &json!({"metric": "metrics.latency_ms", "aggregation": "p95", "bucket": "hour",
                "filters": [{"field": "config.model", "operator": "is", "value": "gpt-4o"}],
                "dateRange": {"$gte": t0, "$lte": t0 + 3_600_000}}),
        0.0,
    )?;
    time("chart p95 latency per hour, first hour", &|| {
        store.chart(Some("bench"), &q).map(|s| s.len()).unwrap_or(0)
    });
    time("one session's events", &|| {
        store
            .session_events(Some("bench"), "00000007-session", 100)
            .map(|v| v.len())
            .unwrap_or(0)
    });
    Ok(())
}
