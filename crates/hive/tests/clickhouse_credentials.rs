//! Credentials ClickHouse refuses (ADR 0008, "Faults"), on one ClickHouse
//! 18.16 server on 127.0.0.1 whose user `hive` has a password:
//!
//! - at start (first contact), a wrong password or an unknown user makes
//!   `hive serve --clickhouse` and the CLI (`hive keys`, `hive login`,
//!   `hive projects`) exit non-zero at once, with a message naming
//!   ClickHouse, the user and the password, and never the password;
//! - once a node has started, the same refusal (a password rotated under
//!   it) is a fault of the environment like any other: the node keeps
//!   running and acknowledging writes into its ingest log, reads answer
//!   503 saying why, and once the password is accepted again everything
//!   acknowledged is applied, once;
//! - the user and password may be given apart from the URL
//!   (`--clickhouse-user`, `--clickhouse-password`), but not twice.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{Acked, ClickHouse, Hive, PASSWORD, USER, api, get_ready, run_hive, span_json};

#[test]
fn refused_credentials_stop_a_start_but_not_a_running_node() {
    if !ClickHouse::available() {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let ch = ClickHouse::start_new(&tmp.path().join("clickhouse"));
    let good = ch.url("hive");
    let wrong_password = "not-the-password-7d1e";
    let wrong = good.replace(PASSWORD, wrong_password);
    let stranger = good.replace(&format!("{USER}:{PASSWORD}"), "stranger:stranger-pw-51f0");
    assert_ne!(wrong, good);
    let data = tmp.path().join("node");

    // First contact refused: every command stops at once, saying why.
    for (url, user, secret) in [
        (&wrong, USER, wrong_password),
        (&stranger, "stranger", "stranger-pw-51f0"),
    ] {
        for args in [
            vec!["serve", "--addr", "127.0.0.1:0", "--grpc-addr", "off"],
            vec!["keys", "list"],
            vec!["login"],
            vec!["projects", "list"],
        ] {
            let mut args = args.clone();
            args.extend(["--clickhouse", url.as_str()]);
            let (code, stderr, took) = run_hive(&args, &data);
            assert!(
                code.is_some_and(|c| c != 0),
                "hive {args:?} exited {code:?}: {stderr}"
            );
            assert!(
                took < Duration::from_secs(5),
                "hive {args:?} took {took:?}: {stderr}"
            );
            assert!(
                stderr.contains("ClickHouse at http://127.0.0.1:")
                    && stderr.contains(&format!("user \"{user}\""))
                    && stderr.contains("password"),
                "hive {args:?}: {stderr}"
            );
            assert!(
                !stderr.contains(secret),
                "hive {args:?} printed the password: {stderr}"
            );
        }
    }
    eprintln!(
        "{:.1} s: refused credentials stop every command",
        started.elapsed().as_secs_f64()
    );

    // The user and password given apart from the URL (flags, or their
    // environment variables), each once.
    let bare = good.replace(&format!("{USER}:{PASSWORD}@"), "");
    assert_ne!(bare, good);
    let (code, stderr, _) = run_hive(
        &[
            "keys",
            "list",
            "--clickhouse",
            &good,
            "--clickhouse-password",
            "another-password-0b7e",
        ],
        &data,
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("given twice") && stderr.contains("--clickhouse-password"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(PASSWORD) && !stderr.contains("another-password-0b7e"),
        "{stderr}"
    );

    // A node that started is not stopped by a refusal: the password is
    // rotated under it (ClickHouse reads its users' file again). It is
    // given its password apart from the URL.
    let apart = [
        "--clickhouse",
        &bare,
        "--clickhouse-user",
        USER,
        "--clickhouse-password",
        PASSWORD,
    ];
    let node = Hive::start(&data, &apart);
    let admin = node.key.clone().expect("the admin key");
    let (code, stderr, _) = run_hive(&[&["projects", "list"][..], &apart].concat(), &data);
    assert_eq!(code, Some(0), "{stderr}");
    let session = "dddddddd-0000-4000-8000-000000000001";
    let mut acked = Acked::default();
    let (status, body) = api(
        &node.addr,
        "POST",
        "/opentelemetry/v1/traces",
        &admin,
        &span_json(session, 0, 0),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    acked.spans.insert((0, 0));
    get_ready(
        &node.addr,
        &admin,
        &format!("/v1/sessions/{session}"),
        Duration::from_secs(30),
    );
    ch.set_password("rotated-password-2c9a");
    let deadline = Instant::now() + Duration::from_secs(15);
    while ch.accepts_password(PASSWORD) {
        assert!(
            Instant::now() < deadline,
            "ClickHouse keeps the old password"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let rotated = Instant::now();
    // Writes are acknowledged meanwhile (the key was checked before).
    for seq in 1..=10 {
        let (status, body) = if seq % 2 == 0 {
            acked.spans.insert((1, seq));
            api(
                &node.addr,
                "POST",
                "/opentelemetry/v1/traces",
                &admin,
                &span_json(session, 1, seq),
            )
        } else {
            let k = format!("rotated_{seq}");
            acked.keys.insert(k.clone());
            let body = json!({"event_id": session, "metadata": {k: seq}});
            api(&node.addr, "PUT", "/events", &admin, &body.to_string())
        }
        .unwrap();
        assert_eq!(status, 200, "write {seq} with the password refused: {body}");
    }
    // Reads say why they cannot answer.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, v) = api(
            &node.addr,
            "GET",
            &format!("/v1/sessions/{session}"),
            &admin,
            "",
        )
        .unwrap();
        if status == 503 {
            let message = v["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("ClickHouse")
                    && message.contains(&format!("user \"{USER}\""))
                    && message.contains("password")
                    && !message.contains(PASSWORD),
                "{v}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "reads still answer {status} with the password refused: {v}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The node runs on past the applier's retries.
    std::thread::sleep(Duration::from_secs(1));
    let mut node = node;
    assert!(
        node.child.try_wait().unwrap().is_none(),
        "the node stopped when its password was refused: {:?}",
        node.output.lock().unwrap()
    );
    eprintln!(
        "{:.1} s: the running node kept acknowledging with its password refused for {:.1} s",
        started.elapsed().as_secs_f64(),
        rotated.elapsed().as_secs_f64()
    );

    // The old password again (as a node given the new one would be): every
    // acknowledged write is applied, once, without a restart.
    ch.set_password(PASSWORD);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = get_ready(&node.addr, &admin, "/v1/stats", Duration::from_secs(60));
        let log = &s["ingest_log"];
        if log["applied_position"] == log["durable_position"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the applier does not catch up: {s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    support::verify_session(&node.addr, &admin, session, &acked);
    assert!(
        !node
            .output
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(PASSWORD) || l.contains("rotated-password-2c9a")),
        "the node printed a password: {:?}",
        node.output.lock().unwrap()
    );
    node.kill();
    eprintln!(
        "refused credentials: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
