//! The schema, as numbered migrations applied once each at start
//! (`hive_migrations` records them). Every statement is idempotent, so
//! nodes starting together may run the same migration twice harmlessly.
//! Only what ClickHouse 18.16 has is used (no Map, JSON functions, skip
//! indexes, TTL or DateTime64). See ADR 0008.

use super::http::Client;
use crate::Result;

/// The migrations, in order; a migration is its statements.
pub const MIGRATIONS: &[&[&str]] = &[
    // 1: events as writes (bases, placeholders and patches), the lookups
    // materialised from them, metadata, alert evaluations, log positions.
    &[
        // One row per write: a version of an event's base (kind 1), a
        // placeholder base (kind 0) or an enrichment patch (kind 2). The
        // leaves (paths/types/strs/nums) are the row's leaf writes; `doc` is
        // its JSON (the base or the patch) for reading back exactly.
        // (project_id, event_id, kind, node, seq, idx) identifies a write, so
        // a write applied twice (a replay of the ingest log) collapses.
        "CREATE TABLE IF NOT EXISTS hive_writes (
            project_id String,
            event_id String,
            kind UInt8,
            ts Int64,
            node String,
            seq UInt64,
            idx UInt32,
            received Int64,
            floating UInt8,
            session_id String,
            key_id Nullable(String),
            doc String,
            raw String,
            paths Array(String),
            types Array(UInt8),
            strs Array(String),
            nums Array(Float64),
            lossy UInt8
        ) ENGINE = ReplacingMergeTree(received)
        PARTITION BY toYYYYMM(toDate(toDateTime(intDiv(received, 1000))))
        ORDER BY (project_id, event_id, kind, node, seq, idx)",
        // Where events live (real bases only), by id across projects.
        "CREATE TABLE IF NOT EXISTS hive_locations (
            event_id String, project_id String
        ) ENGINE = ReplacingMergeTree ORDER BY (event_id, project_id)",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS hive_locations_mv TO hive_locations AS
            SELECT event_id, project_id FROM hive_writes WHERE kind = 1",
        // Which events ever named a session (bases and patches that set
        // session_id): a superset of a session's events, checked on read.
        "CREATE TABLE IF NOT EXISTS hive_members (
            project_id String, session_id String, event_id String
        ) ENGINE = ReplacingMergeTree ORDER BY (project_id, session_id, event_id)",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS hive_members_mv TO hive_members AS
            SELECT project_id, session_id, event_id FROM hive_writes WHERE session_id != ''",
        // Enrichments waiting for an event no project has yet.
        "CREATE TABLE IF NOT EXISTS hive_floating (
            event_id String, project_id String
        ) ENGINE = ReplacingMergeTree ORDER BY (event_id, project_id)",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS hive_floating_mv TO hive_floating AS
            SELECT event_id, project_id FROM hive_writes WHERE floating = 1",
        // Floating writes copied into the project of their event: the
        // originals are hidden from then on.
        "CREATE TABLE IF NOT EXISTS hive_adopted (
            project_id String, event_id String, at Int64
        ) ENGINE = ReplacingMergeTree ORDER BY (project_id, event_id)",
        // Field discovery: every leaf path and type per project.
        "CREATE TABLE IF NOT EXISTS hive_fields (
            project_id String, path String, type UInt8
        ) ENGINE = ReplacingMergeTree ORDER BY (project_id, path, type)",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS hive_fields_mv TO hive_fields AS
            SELECT project_id, path, type FROM hive_writes
            ARRAY JOIN paths AS path, types AS type WHERE type < 16 AND kind > 0",
        // Projects, keys, logins, saved views and objects: versions of small
        // documents, the highest version of a (kind, id) wins.
        "CREATE TABLE IF NOT EXISTS hive_meta (
            kind String,
            id String,
            project_id String,
            doc String,
            created_at Int64,
            updated_at Int64,
            version UInt64,
            deleted UInt8
        ) ENGINE = ReplacingMergeTree(version) ORDER BY (kind, id)",
        "CREATE TABLE IF NOT EXISTS hive_evaluations (
            alert_id String, seq Int64, at Int64, doc String
        ) ENGINE = MergeTree ORDER BY (alert_id, seq)",
        // How far each node's ingest log is applied.
        "CREATE TABLE IF NOT EXISTS hive_log_positions (
            node String, position UInt64
        ) ENGINE = ReplacingMergeTree(position) ORDER BY node",
    ],
    // 2: claims of alert evaluations by nodes (the smallest node name among
    // a key's claims wins it; see `Meta::claim`).
    &["CREATE TABLE IF NOT EXISTS hive_claims (
            key String, round UInt32, node String, at Int64
        ) ENGINE = MergeTree ORDER BY (key, round, node)"],
];

/// Create the database and apply the migrations it lacks.
pub fn migrate(client: &Client) -> Result<u32> {
    let db = &client.endpoint().database;
    client.exec_in_default(&format!("CREATE DATABASE IF NOT EXISTS {db}"))?;
    client.exec(
        "CREATE TABLE IF NOT EXISTS hive_migrations (version UInt32, applied_at Int64) \
         ENGINE = ReplacingMergeTree ORDER BY version",
    )?;
    let applied = client
        .rows("SELECT max(version) AS v FROM hive_migrations")?
        .first()
        .and_then(|r| r["v"].as_u64())
        .unwrap_or(0) as usize;
    for (i, statements) in MIGRATIONS.iter().enumerate().skip(applied) {
        for s in *statements {
            client.exec(s)?;
        }
        client.exec(&format!(
            "INSERT INTO hive_migrations (version, applied_at) VALUES ({}, {})",
            i + 1,
            super::now_ms()
        ))?;
        tracing::info!(version = i + 1, "clickhouse schema migrated");
    }
    Ok(MIGRATIONS.len() as u32)
}
