//! Two `hive serve --clickhouse` nodes (separate data directories, so
//! separate ingest logs) on one ClickHouse server (issue 10): 60
//! enrichers across both nodes, alerts evaluated and notified once, a node
//! killed mid-ingest (`support::two_nodes`). The same scenario runs over a
//! two-shard cluster in `clickhouse_cluster.rs`.
//!
//! One ClickHouse server (Debian's 18.16) for the test.

mod support;

use std::time::Instant;

use support::{ClickHouse, Hive, two_nodes};

#[test]
fn two_nodes_share_one_clickhouse() {
    if !ClickHouse::available() {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let ch = ClickHouse::start_new(&tmp.path().join("clickhouse"));
    let url = ch.url("hive");
    let mut args = vec!["--clickhouse", &url];
    args.extend(two_nodes::ARGS);
    let node1 = Hive::start(&tmp.path().join("node1"), &args);
    let key = node1
        .key
        .clone()
        .expect("the first node prints the admin key");
    let node2 = Hive::start(&tmp.path().join("node2"), &args);
    assert!(
        node2.key.is_none(),
        "the second node must not make another admin key"
    );
    two_nodes::exercise(
        started,
        &key,
        &node1,
        node2,
        &tmp.path().join("node2"),
        &args,
    );
    eprintln!(
        "two nodes on one clickhouse: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
