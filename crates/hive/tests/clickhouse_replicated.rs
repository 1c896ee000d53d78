//! Two ClickHouse 18.16 servers on 127.0.0.1 as one shard of two replicas
//! (`ReplicatedMergeTree` through a ZooKeeper on 127.0.0.1, the
//! configuration of `deploy/clickhouse/replicated/`), and two `hive serve
//! --clickhouse '...?cluster=hive&replicated=true'` nodes, one on each
//! (issue 10):
//!
//! - spans and enrichments sent through both nodes are all there once, read
//!   through either node, and both replicas hold every write;
//! - retention's mutations (the writes, then the lookups they leave, by
//!   the month they were received in, a condition on each row alone, as
//!   current releases require of replicated tables) run on replicated
//!   tables;
//! - the two-node scenario of `support::two_nodes`: alerts evaluated and
//!   notified once, though each node talks to its own replica; 60 enrichers;
//!   a node killed mid-ingest and restarted;
//! - a replica more than a second behind (its fetches stopped) is not read:
//!   a write only the other replica holds is found;
//! - with the first replica killed, the node on the second goes on writing
//!   and reading; the node on the dead one acknowledges into its log and
//!   answers reads 503; once the replica is back, every write is applied
//!   once and both replicas hold the same rows.

mod support;

use std::time::{Duration, Instant};

use hive_store::Store;
use hive_store::clickhouse::ClickHouseStore;
use support::{
    ClickHouse, Hive, ZooKeeper, api, free_port, replica_config, run_hive, start_pair, two_nodes,
    verify_session, write_through,
};

fn as_strs(a: &[String]) -> Vec<&str> {
    a.iter().map(String::as_str).collect()
}

/// How many rows `table` holds on `server`'s own replica.
fn local_rows(server: &ClickHouse, table: &str, cond: &str) -> u64 {
    server
        .query(&format!(
            "SELECT count() FROM hive.{table}_local WHERE {cond}"
        ))
        .unwrap_or_else(|e| panic!("count {table}: {e}"))
        .trim()
        .parse()
        .unwrap()
}

/// Wait until both replicas hold the same rows of `table` that match
/// `cond`, and that many are at least `at_least`; how many.
fn converge(replicas: &[ClickHouse], table: &str, cond: &str, at_least: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: Vec<u64> = replicas
            .iter()
            .map(|r| local_rows(r, table, cond))
            .collect();
        if n[0] == n[1] && n[0] >= at_least {
            return n[0];
        }
        assert!(
            Instant::now() < deadline,
            "the replicas of {table} do not converge: {n:?} rows where {cond}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn two_nodes_on_two_replicas() {
    if !ClickHouse::available() || !ZooKeeper::available() {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let zk = ZooKeeper::start(&tmp.path().join("zookeeper"));
    let mut replicas = start_pair(tmp.path(), "replica", |tcp, n| {
        replica_config(tcp, zk.port, n, free_port())
    });
    // Replicas that read hive's tables in another database are refused at
    // start, with what to configure.
    let bare = format!(
        "{}?cluster=hive_no_database&replicated=true",
        replicas[0].url("hive")
    );
    let (code, stderr, _) = run_hive(
        &[
            "serve",
            "--clickhouse",
            &bare,
            "--addr",
            "127.0.0.1:0",
            "--grpc-addr",
            "off",
        ],
        &tmp.path().join("refused"),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("<default_database>hive</default_database>"),
        "{stderr}"
    );
    let urls: Vec<String> = replicas
        .iter()
        .map(|r| format!("{}?cluster=hive&replicated=true", r.url("hive")))
        .collect();
    let args = |url: &str| {
        let mut a = vec!["--clickhouse".to_owned(), url.to_owned()];
        a.extend(two_nodes::ARGS.iter().map(|s| (*s).to_owned()));
        a
    };
    let (args1, args2) = (args(&urls[0]), args(&urls[1]));
    let node1 = Hive::start(&tmp.path().join("node1"), &as_strs(&args1));
    let key = node1.admin_key(Duration::from_secs(60)).unwrap_or_else(|| {
        panic!(
            "the first node prints the admin key: {:?}",
            node1.output.lock().unwrap()
        )
    });
    let node2 = Hive::start(&tmp.path().join("node2"), &as_strs(&args2));
    assert!(node2.key.is_none(), "one admin key for the cluster");
    let nodes = [node1.addr.clone(), node2.addr.clone()];
    eprintln!("{:.1} s: replicas up", started.elapsed().as_secs_f64());

    // Writes through both nodes: all there, through either, on both replicas.
    let sessions: Vec<String> = (0..6)
        .map(|i| format!("cccccccc-0000-4000-8000-{i:012}"))
        .collect();
    let acked = write_through(&nodes, &key, &sessions, 0..4, 30);
    for addr in &nodes {
        two_nodes::wait_applied(addr, &key, Duration::from_secs(60));
    }
    for (i, session) in sessions.iter().enumerate() {
        for addr in &nodes {
            verify_session(addr, &key, session, &acked[i]);
        }
    }
    let writes = converge(&replicas, "hive_writes", "1", 6 * 30 / 2);
    eprintln!(
        "{:.1} s: sessions checked, {writes} writes on each replica",
        started.elapsed().as_secs_f64()
    );

    // Retention on replicated tables: a project's writes go, then the
    // lookups they leave, by the month they were received in (each
    // replica carries out a mutation itself, so its condition reads the
    // row alone).
    let store = ClickHouseStore::open(&urls[1], "retention").unwrap();
    let old = "project-retired";
    let events: Vec<hive_store::WriteOp> = (0..3)
        .map(|i| {
            let mut e = hive_core::model::Event {
                event_id: format!("bbbbbbbb-0000-4000-8000-{i:012}"),
                session_id: "bbbbbbbb-0000-4000-8000-000000000000".into(),
                project_id: old.into(),
                event_type: if i == 0 { "session" } else { "model" }.into(),
                event_name: "retired".into(),
                start_time: 1_000 + i,
                ..hive_core::model::Event::default()
            };
            e.end_time = e.start_time + 1;
            hive_store::WriteOp::event(e)
        })
        .collect();
    store.apply(&events).unwrap();
    let this = format!("project_id = '{old}'");
    converge(&replicas, "hive_session_events", &this, 3);
    let kept = converge(&replicas, "hive_session_events", "1", 3 + 6);
    let removed = store.expire(old, i64::MAX / 2, 0).unwrap();
    assert_eq!(removed, 3, "the retired project's writes");
    for table in ["hive_writes", "hive_session_events", "hive_starts"] {
        assert_eq!(
            converge(&replicas, table, &this, 0),
            0,
            "{table} keeps {old}"
        );
    }
    assert_eq!(
        converge(&replicas, "hive_session_events", "1", 0),
        kept - 3,
        "another project's lookups were swept"
    );
    let commands = replicas[1]
        .query(
            "SELECT command FROM system.mutations WHERE database = 'hive' \
             AND table IN ('hive_session_events_local', 'hive_starts_local')",
        )
        .unwrap();
    assert!(
        commands.contains("month <") && !commands.to_uppercase().contains("SELECT"),
        "{commands}"
    );
    eprintln!(
        "{:.1} s: retention checked",
        started.elapsed().as_secs_f64()
    );

    // Alerts once, 60 enrichers, a node killed mid-ingest: each node talks
    // to its own replica, and both read and write the first one.
    two_nodes::exercise(
        started,
        &key,
        &node1,
        node2,
        &tmp.path().join("node2"),
        &as_strs(&args2),
    );
    eprintln!(
        "{:.1} s: two-node scenario",
        started.elapsed().as_secs_f64()
    );

    // A replica behind the other (here: it fetches nothing) is not read
    // once it is more than a second behind: a write only the second
    // replica holds is found through either node. Reads went to the first
    // replica however far behind it was (ClickHouse's default bound is
    // 300 s), so after a failover they missed what the other took
    // meanwhile until it caught up.
    replicas[0].query("SYSTEM STOP FETCHES").unwrap();
    let lagging = "99999999-0000-4000-8000-000000000001";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let row = serde_json::json!({
        "project_id": ClickHouseStore::project_named("default").id,
        "event_id": lagging, "kind": 1, "ts": now, "node": "elsewhere", "seq": 1,
        "idx": 0, "received": now, "floating": 0, "session_id": lagging,
        "key_id": null, "doc": "", "raw": "",
        "paths": ["event_id", "event_name", "event_type", "session_id", "start_time"],
        "types": [1, 1, 1, 1, 2],
        "strs": [lagging, "behind", "session", lagging, now.to_string()],
        "nums": [0.0, 0.0, 0.0, 0.0, now as f64],
        "lossy": 0
    });
    replicas[1]
        .query(&format!(
            "INSERT INTO hive.hive_writes_local FORMAT JSONEachRow {row}"
        ))
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        local_rows(
            &replicas[0],
            "hive_writes",
            &format!("event_id = '{lagging}'")
        ),
        0
    );
    {
        let (status, body) = api(
            &node1.addr,
            "GET",
            &format!("/v1/events/{lagging}"),
            &key,
            "",
        )
        .unwrap();
        assert_eq!(status, 200, "a write on the second replica alone: {body}");
        assert_eq!(body["event"]["event_name"], "behind", "{body}");
        assert_eq!(body["event"]["event_id"], lagging, "{body}");
    }
    replicas[0].query("SYSTEM START FETCHES").unwrap();
    converge(
        &replicas,
        "hive_writes",
        &format!("event_id = '{lagging}'"),
        1,
    );

    // An alert evaluation's claim, and the rule's state its winner stores,
    // are written to a majority of the shard's replicas (here both) before
    // they count. The second replica fetches nothing: a claim on the first
    // cannot count, nor can a rule's new state; then the first dies, and a
    // claim through the second cannot count either. Written to the first
    // alone, the first claim won; the second replica, not having it, let
    // the second claim win too: evaluated, and notified, twice.
    replicas[1].query("SYSTEM STOP FETCHES").unwrap();
    let claimer = |url: &str, node: &str| ClickHouseStore::open(url, node).unwrap();
    let (first, second) = (
        claimer(&urls[0], "claimer-a"),
        claimer(&urls[1], "claimer-b"),
    );
    let failover_key = vec!["alert:failover:first".to_owned()];
    let won = first.objects().claim(&failover_key);
    assert!(
        !matches!(won, Ok(ref w) if w[0]),
        "a claim one replica holds wins: {won:?}"
    );
    let put = first.objects().put(
        "alert",
        &ClickHouseStore::project_named("default").id,
        "failover",
        &serde_json::json!({"state": "triggered", "last_evaluated_at": 1}),
    );
    let refused = put.expect_err("a rule's state one replica holds counts");
    assert!(refused.to_string().contains("ClickHouse"), "{refused}");
    // Other metadata does not wait for a quorum.
    first
        .objects()
        .put("view", "p", "failover-view", &serde_json::json!({}))
        .unwrap();

    // The first replica dies: the node on the second goes on; the node on
    // the first acknowledges into its log, and its reads answer 503.
    let node2 = Hive::start(&tmp.path().join("node2"), &as_strs(&args2));
    replicas[0].kill();
    let won = second.objects().claim(&failover_key);
    assert!(
        !matches!(won, Ok(ref w) if w[0]),
        "the first replica's claim unseen, a second wins: {won:?}"
    );
    replicas[1].query("SYSTEM START FETCHES").unwrap();
    let more: Vec<String> = vec!["cccccccc-0000-4000-8000-0000000000aa".into()];
    let through2 = write_through(std::slice::from_ref(&node2.addr), &key, &more, 100..102, 10);
    two_nodes::wait_applied(&node2.addr, &key, Duration::from_secs(60));
    verify_session(&node2.addr, &key, &more[0], &through2[0]);
    let waiting: Vec<String> = vec!["cccccccc-0000-4000-8000-0000000000bb".into()];
    let through1 = write_through(
        std::slice::from_ref(&node1.addr),
        &key,
        &waiting,
        200..201,
        6,
    );
    let (status, body) = api(
        &node1.addr,
        "GET",
        &format!("/v1/sessions/{}", more[0]),
        &key,
        "",
    )
    .unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.to_string().contains("ClickHouse"), "{body}");
    eprintln!(
        "{:.1} s: first replica down",
        started.elapsed().as_secs_f64()
    );

    replicas[0].start();
    two_nodes::wait_applied(&node1.addr, &key, Duration::from_secs(90));
    // Replication is asynchronous: the first replica catches up with what
    // the second took meanwhile, then either node reads everything.
    let all = converge(&replicas, "hive_writes", "1", writes);
    converge(&replicas, "hive_session_events", "1", 0);
    for addr in [&node1.addr, &node2.addr] {
        verify_session(addr, &key, &more[0], &through2[0]);
        verify_session(addr, &key, &waiting[0], &through1[0]);
    }
    // With both replicas back, claims count again: one of two wins.
    let fresh = vec!["alert:failover:after:1".to_owned()];
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| first.objects().claim(&fresh));
        let b = s.spawn(|| second.objects().claim(&fresh));
        (a.join().unwrap(), b.join().unwrap())
    });
    let wins = [&a, &b]
        .iter()
        .filter(|w| matches!(w, Ok(w) if w[0]))
        .count();
    assert!(wins <= 1, "{a:?} {b:?}");
    let again = first
        .objects()
        .claim(&["alert:failover:after:2".to_owned()]);
    assert!(matches!(again, Ok(ref w) if w[0]), "{again:?}");
    first
        .objects()
        .put(
            "alert",
            &ClickHouseStore::project_named("default").id,
            "failover",
            &serde_json::json!({"state": "ok"}),
        )
        .unwrap();
    eprintln!(
        "two nodes on two replicas: {:.1} s, {all} writes on each replica",
        started.elapsed().as_secs_f64()
    );
}
