//! Overload, bounded in time: 32 senders of 2 000-span OTLP batches, far
//! above what the server applies, for a few seconds (`hive bench overload`
//! against a server of its own on loopback). The run fails when the
//! server's peak RSS passes 300 MiB, when a refusal takes long to decide,
//! or when an acknowledged span is missing afterwards.

use std::process::Command;

#[test]
fn overload_keeps_memory_bounded_refuses_fast_and_loses_nothing() {
    let out = Command::new(env!("CARGO_BIN_EXE_hive"))
        .args([
            "bench",
            "overload",
            "--seconds",
            "5",
            "--senders",
            "32",
            "--batch",
            "2000",
            "--max-rss-mb",
            "300",
            // Measured by the senders, which share two cores with a debug
            // build of the server: the release figure is in BENCHMARKS.md.
            "--max-refusal-p99-ms",
            "500",
            // A smaller backlog than the default keeps the time to apply
            // what was accepted (by a debug build) short.
            "--serve-args",
            "--max-backlog-mb 32",
        ])
        .output()
        .expect("run hive bench overload");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "overload run failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("refused (503)"), "{stdout}");
}
