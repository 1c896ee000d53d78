//! Two ClickHouse 18.16 servers on 127.0.0.1 as a two-shard cluster
//! (`remote_servers`, distributed DDL through a ZooKeeper on 127.0.0.1),
//! and two `hive serve --clickhouse '...?cluster=hive'` nodes writing and
//! reading through it (issue 10): hive creates every table on both servers
//! (`ON CLUSTER`) behind `Distributed` tables sharded so a session's events
//! stay together; spans and enrichments sent to both nodes are all there,
//! read through either node, spread over both shards, each session on one.
//! Every migration then runs again on the cluster, indexing the starts
//! and the sessions' events already written, each on its writes' shard. Then the two-node scenario of `support::two_nodes` over
//! the cluster: 60 enrichers across both nodes, alerts evaluated and
//! notified once, a node killed mid-ingest and restarted. Last, a server
//! on SQLite moved onto the cluster with `hive migrate`.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use support::{
    ClickHouse, Hive, ZooKeeper, cluster_config, start_pair, two_nodes, verify_session,
    write_through,
};

#[test]
fn two_nodes_on_a_two_shard_cluster() {
    if !ClickHouse::available() || !ZooKeeper::available() {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let zk = ZooKeeper::start(&tmp.path().join("zookeeper"));
    let shards = start_pair(tmp.path(), "shard", |tcp, n| {
        cluster_config(tcp, zk.port, n)
    });
    let url = format!("{}?cluster=hive", shards[0].url("hive"));
    let mut args1 = vec!["--clickhouse", &url];
    args1.extend(two_nodes::ARGS);
    let node1 = Hive::start(&tmp.path().join("node1"), &args1);
    let key = node1
        .admin_key(Duration::from_secs(60))
        .expect("the first node prints the admin key");
    // The second node talks to the other server.
    let url2 = format!("{}?cluster=hive", shards[1].url("hive"));
    let mut args2 = vec!["--clickhouse", &url2];
    args2.extend(two_nodes::ARGS);
    let node2 = Hive::start(&tmp.path().join("node2"), &args2);
    assert!(node2.key.is_none(), "one admin key for the cluster");
    let nodes = [node1.addr.clone(), node2.addr.clone()];
    eprintln!("{:.1} s: cluster up", started.elapsed().as_secs_f64());

    // 8 sessions, each written through both nodes: spans and enrichments.
    let sessions: Vec<String> = (0..8)
        .map(|i| format!("eeeeeeee-0000-4000-8000-{i:012}"))
        .collect();
    let acked = write_through(&nodes, &key, &sessions, 0..4, 40);
    for addr in &nodes {
        two_nodes::wait_applied(addr, &key, Duration::from_secs(60));
    }
    for (i, session) in sessions.iter().enumerate() {
        for addr in &nodes {
            verify_session(addr, &key, session, &acked[i]);
        }
    }
    eprintln!("{:.1} s: sessions checked", started.elapsed().as_secs_f64());

    // The writes are spread over both shards, and a session's spans (its
    // bases) all live on one.
    let mut on_shard: Vec<BTreeSet<String>> = Vec::new();
    for s in &shards {
        let text = s
            .query(
                "SELECT DISTINCT session_id FROM hive.hive_writes_local \
                 WHERE kind = 1 AND session_id LIKE 'eeeeeeee-%' FORMAT TSV",
            )
            .unwrap();
        on_shard.push(text.lines().map(str::to_owned).collect());
    }
    assert!(
        !on_shard[0].is_empty() && !on_shard[1].is_empty(),
        "one shard holds every session: {on_shard:?}"
    );
    assert!(
        on_shard[0].is_disjoint(&on_shard[1]),
        "a session's events are split over shards: {on_shard:?}"
    );
    assert_eq!(on_shard[0].len() + on_shard[1].len(), sessions.len());
    eprintln!("{:.1} s: shards checked", started.elapsed().as_secs_f64());

    // A cluster upgraded to schema 5 indexes the starts already written
    // (through the `Distributed` tables) as the view indexes new ones: the
    // database rebuilt from schema 0 on every server (each migration again,
    // the writes kept) selects the same events for a dated read.
    // (Dated reads by name whatever they hold: the selections are compared.)
    let store = hive_store::clickhouse::ClickHouseStore::open(&url, "upgrader")
        .unwrap()
        .with_dated_share(0, 0);
    let project = hive_store::clickhouse::ClickHouseStore::project_named("default").id;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as f64;
    let day = 86_400_000.0;
    let dated = |store: &hive_store::clickhouse::ClickHouseStore| {
        store
            .dated_events(Some(&project), Some(now - day), Some(now + day))
            .unwrap()
    };
    let before = dated(&store);
    assert!(before.is_some_and(|n| n >= sessions.len()), "{before:?}");
    // A dated read names its events in a table sent beside its statements
    // (ADR 0014), which the initiating server passes on to the shards: over
    // a range that holds every event (the spans start in 2023), read by
    // name all the same, it counts what the whole project's read counts.
    let counted = |range: Option<serde_json::Value>| -> u64 {
        use hive_store::Store as _;
        let mut q = serde_json::json!({"aggregation": "count", "bucket": "total"});
        if let Some(range) = range {
            q["dateRange"] = range;
        }
        let q = hive_core::chart::ChartQuery::from_json(&q, now).unwrap();
        store
            .chart(Some(&project), &q)
            .unwrap()
            .iter()
            .flat_map(|s| &s.points)
            .map(|p| p.count)
            .sum()
    };
    let whole = counted(None);
    assert!(whole > 0);
    assert!(
        store
            .dated_events(Some(&project), Some(1.6e12), Some(now + day))
            .unwrap()
            .is_some(),
        "read by name"
    );
    assert_eq!(
        counted(Some(
            serde_json::json!({"$gte": 1_600_000_000_000i64, "$lte": now + day})
        )),
        whole
    );
    // Charts whose events written once ClickHouse adds up (grouped on the
    // shards, the rest streamed) answer as the stream alone does, dated
    // and over the whole project.
    let adding = hive_store::clickhouse::ClickHouseStore::open(&url, "adder")
        .unwrap()
        .with_dated_share(0, 0)
        .with_singles_from(0);
    for q in [
        serde_json::json!({"aggregation": "count", "bucket": "hour", "groupBy": "event_type"}),
        serde_json::json!({"metric": "duration", "aggregation": "avg", "bucket": "day",
                           "groupBy": "event_name"}),
        serde_json::json!({"aggregation": "count", "bucket": "total", "level": "session"}),
    ] {
        for range in [
            None,
            Some(serde_json::json!({"$gte": 1_600_000_000_000i64})),
        ] {
            use hive_store::Store as _;
            let mut q = q.clone();
            if let Some(range) = range {
                q["dateRange"] = range;
            }
            let q = hive_core::chart::ChartQuery::from_json(&q, now).unwrap();
            assert_eq!(
                format!("{:?}", adding.chart(Some(&project), &q).unwrap()),
                format!("{:?}", store.chart(Some(&project), &q).unwrap()),
                "{q:?}"
            );
        }
    }
    assert!(adding.singles_added() > 0);
    for t in [
        "hive_starts_2_mv",
        "hive_starts_local",
        "hive_starts",
        "hive_session_events_mv",
        "hive_session_events_local",
        "hive_session_events",
        "hive_migrations_local",
        "hive_migrations",
    ] {
        store
            .sql_exec(&format!("DROP TABLE hive.{t} ON CLUSTER hive"))
            .unwrap();
    }
    // The locations schema 1 to 8 kept on every server, which schema 9
    // drops.
    for statement in [
        "CREATE TABLE hive.hive_locations_local ON CLUSTER hive \
         (event_id String, project_id String) \
         ENGINE = ReplacingMergeTree ORDER BY (event_id, project_id)",
        "CREATE TABLE hive.hive_locations ON CLUSTER hive AS hive.hive_locations_local \
         ENGINE = Distributed(hive, hive, hive_locations_local, rand())",
        "CREATE MATERIALIZED VIEW hive.hive_locations_mv ON CLUSTER hive \
         TO hive.hive_locations_local AS \
         SELECT event_id, project_id FROM hive.hive_writes_local WHERE kind = 1",
    ] {
        store.sql_exec(statement).unwrap();
    }
    let locations = || -> Vec<usize> {
        shards
            .iter()
            .map(|s| {
                s.query(
                    "SELECT name FROM system.tables WHERE database = 'hive' \
                     AND name LIKE 'hive_locations%' FORMAT TSV",
                )
                .unwrap()
                .lines()
                .count()
            })
            .collect()
    };
    assert_eq!(locations(), [3, 3]);
    // (Dated reads by name whatever they hold: the selections are compared.)
    let store = hive_store::clickhouse::ClickHouseStore::open(&url, "upgrader")
        .unwrap()
        .with_dated_share(0, 0);
    assert_eq!(
        locations(),
        [0, 0],
        "schema 9 drops the locations everywhere"
    );
    assert_eq!(dated(&store), before);
    // The lookups indexed again lie on the shard of the writes they stand
    // for (the view would have put them there), or a shard's retention
    // would take them for lookups of events it no longer has.
    for shard in &shards {
        let local = |sql: &str| -> u64 {
            shard
                .query(&format!("{sql} FORMAT TSV"))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        let members = local("SELECT count() FROM hive.hive_session_events_local");
        assert!(members > 0, "no lookups of sessions on a shard");
        let astray = |table: &str, column: &str| {
            local(&format!(
                "SELECT count() FROM hive.{table}_local WHERE ({column}) NOT IN \
                 (SELECT project_id, if(session_id = '', event_id, session_id) \
                 FROM hive.hive_writes_local)"
            ))
        };
        assert_eq!(astray("hive_session_events", "project_id, session_id"), 0);
        assert_eq!(astray("hive_starts", "project_id, key"), 0);
    }
    eprintln!(
        "{:.1} s: migrations run again",
        started.elapsed().as_secs_f64()
    );

    floating_on_the_cluster(&store);
    eprintln!(
        "{:.1} s: floating enrichments checked",
        started.elapsed().as_secs_f64()
    );

    two_nodes::exercise(
        started,
        &key,
        &node1,
        node2,
        &tmp.path().join("node2"),
        &args2,
    );
    eprintln!(
        "two nodes on a two-shard cluster: {:.1} s",
        started.elapsed().as_secs_f64()
    );

    migrate_onto_the_cluster(&tmp.path().join("sqlite"), &shards);
    eprintln!(
        "{:.1} s: a SQLite server moved onto the cluster",
        started.elapsed().as_secs_f64()
    );
}

/// `hive migrate` of a stopped SQLite server into a new database on the
/// cluster: its sessions land on both shards, each whole on one, and a node
/// on the cluster answers its key with every event and enrichment.
fn migrate_onto_the_cluster(data: &std::path::Path, shards: &[ClickHouse]) {
    let source = Hive::start(data, &[]);
    let key = source.key.clone().unwrap();
    let sessions: Vec<String> = (0..8)
        .map(|i| format!("ffffffff-0000-4000-8000-{i:012}"))
        .collect();
    let acked = write_through(std::slice::from_ref(&source.addr), &key, &sessions, 0..2, 5);
    two_nodes::wait_applied(&source.addr, &key, Duration::from_secs(60));
    source.stop();
    let url = format!("{}?cluster=hive", shards[0].url("moved"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hive"))
        .args(["migrate", "--data-dir", data.to_str().unwrap()])
        .args(["--to-clickhouse", &url])
        .output()
        .expect("run hive migrate");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    for s in shards {
        let by_session = s
            .query(
                "SELECT count(DISTINCT session_id) FROM moved.hive_writes_local \
                 WHERE session_id != ''",
            )
            .unwrap();
        assert_ne!(by_session.trim(), "0", "every session on one shard: {said}");
    }
    let a = shards[0]
        .query("SELECT DISTINCT session_id FROM moved.hive_writes_local ORDER BY session_id")
        .unwrap();
    let b = shards[1]
        .query("SELECT DISTINCT session_id FROM moved.hive_writes_local ORDER BY session_id")
        .unwrap();
    let a: BTreeSet<&str> = a.lines().filter(|l| !l.is_empty()).collect();
    let b: BTreeSet<&str> = b.lines().filter(|l| !l.is_empty()).collect();
    assert!(a.is_disjoint(&b), "a session on two shards: {a:?} {b:?}");
    let node = Hive::start(&data.with_extension("node"), &["--clickhouse", &url]);
    assert!(node.key.is_none(), "the moved admin key, no new one");
    for (i, session) in sessions.iter().enumerate() {
        verify_session(&node.addr, &key, session, &acked[i]);
    }
}

/// Enrichments sent before their events (by a key of no project) on the
/// cluster: adopted where the events arrive, on either shard; deleting an
/// event removes its hidden originals, their markers and lookups, and the
/// adopting project's retention and sweep remove the rest.
fn floating_on_the_cluster(store: &hive_store::clickhouse::ClickHouseStore) {
    use hive_store::clickhouse::ClickHouseStore;
    use hive_store::{DeleteTarget, Store, WriteOp};
    let p = ClickHouseStore::project_named("floaters").id;
    let fallback = ClickHouseStore::project_named("floaters-fallback").id;
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let ids: Vec<String> = (0..6)
        .map(|i| format!("ffffffff-0000-4000-8000-{i:012}"))
        .collect();
    let floating: Vec<WriteOp> = ids
        .iter()
        .map(|id| WriteOp::Enrich {
            project_id: fallback.clone(),
            event_id: id.clone(),
            patch: serde_json::json!({"metadata": {"early": id}}),
            key_id: None,
            received_at_ms: now(),
            floating: true,
        })
        .collect();
    store.apply(&floating).unwrap();
    let bases: Vec<WriteOp> = ids
        .iter()
        .map(|id| {
            WriteOp::event(hive_core::model::Event {
                event_id: id.clone(),
                session_id: id.clone(),
                project_id: p.clone(),
                event_type: "session".into(),
                event_name: "s".into(),
                start_time: now(),
                ..hive_core::model::Event::default()
            })
        })
        .collect();
    store.apply(&bases).unwrap();
    for id in &ids {
        let e = store.get_event(Some(&p), id).unwrap().expect("adopted");
        assert_eq!(e["metadata"]["early"], id.as_str());
    }
    let count = |table: &str, which: &[String]| -> u64 {
        let list: Vec<String> = which.iter().map(|id| format!("'{id}'")).collect();
        let rows = store
            .sql_rows(&format!(
                "SELECT count() AS n FROM hive.{table} WHERE event_id IN ({})",
                list.join(", ")
            ))
            .unwrap();
        rows[0]["n"]
            .as_u64()
            .or_else(|| rows[0]["n"].as_str()?.parse().ok())
            .unwrap()
    };
    assert_eq!(count("hive_adopted", &ids), ids.len() as u64);
    let (gone, kept) = ids.split_at(3);
    let deletes: Vec<WriteOp> = gone
        .iter()
        .map(|id| WriteOp::Delete {
            project_id: p.clone(),
            target: DeleteTarget::Session(id.clone()),
        })
        .collect();
    store.apply(&deletes).unwrap();
    for table in ["hive_writes", "hive_adopted", "hive_floating"] {
        assert_eq!(count(table, gone), 0, "{table} after the deletes");
    }
    assert!(count("hive_writes", kept) > 0);
    std::thread::sleep(Duration::from_millis(20));
    assert!(store.expire(&p, now(), 500).unwrap() > 0);
    for table in ["hive_writes", "hive_adopted", "hive_floating"] {
        assert_eq!(count(table, kept), 0, "{table} after retention");
    }
}
