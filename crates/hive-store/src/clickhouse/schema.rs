//! The schema, as numbered migrations applied once each at start
//! (`hive_migrations` records them). Every statement is idempotent, so
//! nodes starting together may run the same migration twice harmlessly.
//! Only what ClickHouse 18.16 has is used (no Map, JSON functions, skip
//! indexes, TTL or DateTime64). See ADR 0008.

use super::http::{Client, Endpoint, lit};
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
        // Partitioned by the day a write was received, so a read that knows
        // since when its events were written reads only those days (ADR
        // 0024); databases made before 2026-12-05 keep the month this
        // statement then named (a partition key cannot be altered), which
        // every part of the code also reads.
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
        PARTITION BY toYYYYMMDD(toDate(toDateTime(intDiv(received, 1000))))
        ORDER BY (project_id, event_id, kind, node, seq, idx)",
        // (Where events live across projects, `hive_locations` and its
        // view, came here until migration 9 dropped them: a fresh database
        // never makes them.)
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
    // 3: a base whose leaves spell its document to the byte is stored as
    // its leaves only (`doc` left empty) and rebuilt on read. No table
    // changes; the version tells nodes that predate it (which would read
    // such a base as empty) to stay off this database.
    &["SELECT 1"],
    // 4: field discovery keeps each block's distinct fields only. The view
    // of migration 1 wrote a row per leaf (about 30 an event) for the
    // table's merges to collapse, which tripled what an insert cost the
    // server (50 000 events: 2.6–3.2 s with it, 1.5 s with this one). The
    // new view is created before the old one goes, so no insert between
    // the two statements misses its fields.
    &[
        "CREATE MATERIALIZED VIEW IF NOT EXISTS hive_fields_distinct_mv TO hive_fields AS
            SELECT DISTINCT project_id, path, type FROM hive_writes
            ARRAY JOIN paths AS path, types AS type WHERE type < 16 AND kind > 0",
        "DROP TABLE IF EXISTS hive_fields_mv",
    ],
    // 5: when events start, by minute, so a read bounded by dates finds
    // the events it can need without reading every write (ADR 0014). A
    // row per minute a write can start its event in (the `start_time` it
    // sets; a patch's time, as an event only patches made starts then),
    // keyed by the session the write names, else by its event (`by_patch`
    // when a patch's): a session's events that start in one minute share a
    // row. A patch that names a session (none made through the API does)
    // makes its session read by every dated read (`ALWAYS`). Partitioned
    // by the month received, as the writes, so their partitions go
    // together. Writes from before are indexed once the view is in place
    // (`backfill_starts`).
    &[
        "CREATE TABLE IF NOT EXISTS hive_starts (
            project_id String,
            minute Int64,
            key String,
            by_patch UInt8,
            month UInt32
        ) ENGINE = ReplacingMergeTree PARTITION BY month
        ORDER BY (project_id, minute, key, by_patch)",
        STARTS_VIEW_5,
    ],
    // 6: a base's own ids (its `event_id` and `session_id` leaves) are
    // its columns', and are left out of its `strs` (written empty, read
    // back from the columns): random ids are most of what does not
    // compress, and each was stored twice. No table changes; the version
    // tells nodes that predate it (which would read those ids as empty) to
    // stay off this database.
    &["SELECT 1"],
    // 7: each leaf's path also as its 64-bit hash (`hashes`), which the
    // streamed reads look up instead of the path's text: the text
    // decompresses to about 15 bytes a leaf, and was the largest column
    // a read decompresses (ADR 0017). A column `ALTER … ADD`s
    // (`add_columns`; ClickHouse 18.16 has no `ADD COLUMN IF NOT
    // EXISTS`). `MATERIALIZED`, so every insert computes it whatever its
    // format (18.16 fills a `DEFAULT` column left out of `JSONEachRow` with
    // an empty array), and parts written before compute it on read until
    // they merge.
    &[],
    // 8: an event's content (the leaves at and below `inputs` and
    // `outputs`) in columns of its own, `io_*`, with each leaf's place
    // among the row's leaves (`io_at`), so lists and charts that need no
    // content (nearly all) never decompress it (ADR 0018). The columns are
    // added first (`add_columns`); field discovery then also reads them.
    // Writes from before keep their content among the other leaves, where
    // every read still finds it.
    &[
        "CREATE MATERIALIZED VIEW IF NOT EXISTS hive_fields_io_mv TO hive_fields AS
            SELECT DISTINCT project_id, path, type FROM hive_writes
            ARRAY JOIN io_paths AS path, io_types AS type WHERE type < 16 AND kind > 0",
    ],
    // 9: two things every event stored twice, each about 10 % of what an
    // event with content costs on disk:
    // - where events live across projects is read from the writes' own
    //   key (`project_id, event_id`, with `kind = 1`), which ClickHouse
    //   searches project by project as fast as it searched
    //   `hive_locations`. That table held every event's id a third time
    //   (about 20 of the 425 bytes an event with 2 KB of content took),
    //   and its view cost every insert;
    // - a base's integer leaves (timestamps, durations, token counts) are
    //   written without their text, which their number spells
    //   (`write::integer_text`; about 10 bytes an event).
    // Nodes that predate the migration would look the table up and read
    // those texts as empty, so they stay off this database (its version is
    // newer than they know). Writes from before keep their texts.
    &[
        "DROP TABLE IF EXISTS hive_locations_mv",
        "DROP TABLE IF EXISTS hive_locations",
    ],
    // 10: which events named a session, partitioned by the month their
    // write was received, as the writes are (`hive_members_by_month`, in
    // place of migration 1's `hive_members`). Retention on a replicated
    // cluster then removes a project's lookups by their own month, a
    // condition every replica evaluates alike; the sweep that finds them
    // by the writes left (a subquery) is refused by current releases on
    // replicated tables, and could differ between replicas on 18.16 (ADR
    // 0009). The month's partitions also go with the writes' when those
    // are dropped whole. The new view is created before the old one goes,
    // and the writes from before are indexed (`backfill`), so no insert
    // meanwhile misses its row. Nodes that predate it would read the old
    // table, so they stay off this database.
    &[
        "CREATE TABLE IF NOT EXISTS hive_members_by_month (
            project_id String, session_id String, event_id String, month UInt32
        ) ENGINE = ReplacingMergeTree PARTITION BY month
        ORDER BY (project_id, session_id, event_id)",
        MEMBERS_VIEW,
        "DROP TABLE IF EXISTS hive_members_mv",
        "DROP TABLE IF EXISTS hive_members",
    ],
    // 11: the index of starts tells a row keyed at a patch's time from one
    // keyed at the start a patch sets (`STARTS_VIEW`). A dated read looked
    // up the sessions of both kinds' events, which reads every row of
    // `hive_members_by_month` (ordered by session, not by event): about
    // 2 s at ten million events, in every dated read of a project whose
    // sessions are enriched. Only the second kind needs it. The new view
    // is made before the old one goes, so no insert misses its rows (the
    // rows of both are kept; the old ones only look up more). Earlier
    // rows keep `by_patch = 1` for both kinds, which looks up more, never
    // less. Views live in the server, so every node's inserts get the new
    // rows from the migration on.
    &[STARTS_VIEW, "DROP TABLE IF EXISTS hive_starts_mv"],
    // 12: which events named a session, in granules of 1 024 rows
    // (`hive_session_members`, in place of migration 10's
    // `hive_members_by_month`, whose granules held 8 192). A dated read
    // looks up the events of its range's sessions, which are spread over
    // the whole table by their random ids: the last hour's 1 500 sessions
    // at ten million events read 5.7 million of its rows in granules of
    // 8 192, and about 1.4 million in granules of 1 024 (0.22 s to 0.12 s
    // for the read's selection; ADR 0025). The index is eight times
    // larger, about 50 KiB a million events. As migration 10: the new
    // view first, then the old table goes, and the writes from before are
    // indexed (`backfill`).
    &[
        "CREATE TABLE IF NOT EXISTS hive_session_members (
            project_id String, session_id String, event_id String, month UInt32
        ) ENGINE = ReplacingMergeTree PARTITION BY month
        ORDER BY (project_id, session_id, event_id) SETTINGS index_granularity = 1024",
        SESSION_MEMBERS_VIEW,
        "DROP TABLE IF EXISTS hive_members_by_month_mv",
        "DROP TABLE IF EXISTS hive_members_by_month",
    ],
    // 13: each write's event id hashed (`id_hash`, added by
    // `add_columns`). Reads that name their events by id look the hashes
    // up first (`PREWHERE`), and the ids only in the granules that hold
    // one: ids are random, so a read of many events found them in every
    // granule of every partition, and decompressed 41 bytes of id a row
    // where the hash takes 8 (ADR 0025). `MATERIALIZED`, as migration 7's
    // column: parts written before compute it on read until they merge.
    &[],
    // 14: which events named a session, by their ids' hashes
    // (`hive_session_hashes`, in place of migration 12's
    // `hive_session_members`): the ids were the largest column after the
    // content (about 20 bytes an event, random), the hashes take 8. Every
    // read that looks up a session's events names them by the hashes
    // (`id_hash` of the writes, migration 13), which is all a read needs
    // of them: a read checks each event it finds (a hash shared with an
    // event of another session only adds an event the read then
    // discards), and what deletes events resolves the hashes to the ids
    // of the events that named the sessions (ADR 0026). As migration 12:
    // the new view first, then the old table goes, and the writes from
    // before are indexed (`backfill`; since migration 24, by that one).
    &[
        "CREATE TABLE IF NOT EXISTS hive_session_hashes (
            project_id String, session_id String, id_hash UInt64, month UInt32
        ) ENGINE = ReplacingMergeTree PARTITION BY month
        ORDER BY (project_id, session_id, id_hash) SETTINGS index_granularity = 1024",
        SESSION_HASHES_VIEW,
        "DROP TABLE IF EXISTS hive_session_members_mv",
        "DROP TABLE IF EXISTS hive_session_members",
    ],
    // 15: each session of `hive_session_hashes` also as its hash
    // (`session_hash`, added by `add_columns`). A dated read of many
    // sessions looks their events up by the sessions' hashes, and hashed
    // every row's `session_id` to do it: about 36 bytes a row to
    // decompress where the hash takes 8 (a day at ten million events,
    // 0.25 → 0.13 s for the read's selection). Parts written before
    // compute it on read (its `DEFAULT`) until they merge (`OPTIMIZE TABLE
    // hive_session_hashes FINAL` merges them at once). A `DEFAULT`, not a
    // `MATERIALIZED` column as migration 13's: ClickHouse 18.16 refuses to
    // fill a table from a view that lacks one of its columns, even a
    // computed one ("Expected column"), and current releases refuse a view
    // that names a column no insert can name. 18.16 also refuses a view
    // that names a column the table lacks: so the column comes first, then
    // the view that fills it, then the old view goes. Between the first
    // and the last, an insert another node makes is refused and tried
    // again (a write inserted twice collapses).
    &[
        SESSION_HASHES_VIEW_15,
        "DROP TABLE IF EXISTS hive_session_hashes_mv",
    ],
    // 16: every event's current state, a row each, ordered by the hour it
    // starts in (ADR 0028, `state.rs`). Written only by compactions, each
    // into partitions of its own generation (`gen`) and day, never
    // rewritten: a compaction copies the days it changes into a new
    // generation, and `hive_state_cuts` says which generation of each day
    // is current as of which applied positions. Rows arrive through
    // `hive_state_in` (a `Null` table), whose view hashes their ids and
    // paths. `hive_state_marks` records what changes events without a
    // write (deletions, retention, adoptions), by position as writes are;
    // `hive_direct_positions` how far each node's writes made outside its
    // ingest log are applied. (Not made on a cluster: `state.rs`.)
    &[
        "CREATE TABLE IF NOT EXISTS hive_state (
            gen UInt64,
            day UInt32,
            project_id String,
            hour Int64,
            session_hash UInt64,
            id_hash UInt64,
            hashes Array(UInt64),
            types Array(UInt8),
            strs Array(String),
            nums Array(Float64)
        ) ENGINE = MergeTree PARTITION BY (gen, day)
        ORDER BY (project_id, hour, session_hash, id_hash)",
        "CREATE TABLE IF NOT EXISTS hive_state_in (
            gen UInt64,
            day UInt32,
            project_id String,
            hour Int64,
            session_id String,
            event_id String,
            paths Array(String),
            types Array(UInt8),
            strs Array(String),
            nums Array(Float64)
        ) ENGINE = Null",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS hive_state_in_mv TO hive_state AS
        SELECT gen, day, project_id, hour, cityHash64(session_id) AS session_hash,
            cityHash64(event_id) AS id_hash, arrayMap(p -> cityHash64(p), paths) AS hashes,
            types, strs, nums
        FROM hive_state_in",
        "CREATE TABLE IF NOT EXISTS hive_state_cuts (
            cut UInt64,
            at Int64,
            format UInt32,
            log_nodes Array(String),
            log_seqs Array(UInt64),
            direct_nodes Array(String),
            direct_seqs Array(UInt64),
            days Array(UInt32),
            gens Array(UInt64)
        ) ENGINE = MergeTree ORDER BY cut",
        "CREATE TABLE IF NOT EXISTS hive_state_marks (
            project_id String,
            event_id String,
            node String,
            seq UInt64,
            at Int64,
            id_hash UInt64 MATERIALIZED cityHash64(event_id)
        ) ENGINE = MergeTree PARTITION BY toYYYYMM(toDate(toDateTime(intDiv(at, 1000))))
        ORDER BY (project_id, node, seq)",
        "CREATE TABLE IF NOT EXISTS hive_direct_positions (
            node String, seq UInt64
        ) ENGINE = ReplacingMergeTree(seq) ORDER BY node",
        // The writes made outside the log before, as applied (those made
        // since by a node record their own).
        "INSERT INTO hive_direct_positions (node, seq) SELECT node, max(seq) FROM hive_writes
        WHERE seq >= 4611686018427387904 GROUP BY node",
    ],
    // 17: a project's charted paths in typed columns of the state (ADR
    // 0029, `slots.rs`): `slotN_t`, `slotN_s` and `slotN_n` in
    // `hive_state` and `hive_state_in` (whose view is made again to fill
    // them), and each cut's map of them. Made by `state_in` (the
    // columns are named by `slots`). The state's format changes with
    // them: the next compaction builds it again.
    &[],
    // 18: leases on the state's generations (`state.rs`): a compaction
    // under way names the cut it copies from, whose generations no node's
    // collection drops until it is done (or six hours have passed).
    &["CREATE TABLE IF NOT EXISTS hive_state_leases (
        node String, cut UInt64, started Int64, done UInt8
    ) ENGINE = MergeTree ORDER BY (node, started)"],
    // 19: when charts last read each slot, recorded in each cut
    // (`slot_reads`, parallel to `slot_paths`), so that a slot no chart
    // read for a day goes to a path charts ask for (`slots.rs`). Made by
    // `add_columns`.
    &[],
    // 20: the groups charts made of whole days of the state (ADR 0030,
    // `partial/from_state.rs`), by project, the charts' shape, and the
    // generation and day they were read from, as read (hexadecimal): a
    // generation's rows never change, so neither do its groups, which go
    // with its partition (`state.rs`).
    &["CREATE TABLE IF NOT EXISTS hive_state_sums (
        gen UInt64, day UInt32, project_id String, shape UInt64, groups String
    ) ENGINE = MergeTree PARTITION BY (gen, day) ORDER BY (project_id, shape)"],
    // 21: the day each state row's event was first received (its earliest
    // write's), `received_day` in `hive_state` and `hive_state_in` (whose
    // view is made again to fill it), so that a read streaming events of
    // the state reads only the writes' partitions from then on (ADR 0031);
    // and in `hive_state_marks`, when the writes a mark stands for were
    // received (`received`: an adoption's copies keep their originals'
    // positions and times). Made by `add_columns` and `state_in`; the
    // state's format changes with it.
    &[],
    // 22: a row per batch of writes a node applies (`hive_applied`): the
    // node, its position of that kind (log or outside it) before the batch
    // (`prev`), the batch's greatest write id (`seq`), and when the
    // earliest of its writes was received (`least`), inserted before the
    // writes. The writes above a cut were received from the least of the
    // rows above it on, so a read finds them in those days' partitions
    // alone (ADR 0031). Rows no cut in use has above it go, as marks do.
    &["CREATE TABLE IF NOT EXISTS hive_applied (
        node String, prev UInt64, seq UInt64, least Int64, at Int64
    ) ENGINE = MergeTree ORDER BY (node, seq)"],
    // 23: the day each session's events were first received, by the hash
    // of its project and its own hash (an event of no session: its own
    // id's; a project's sessions are looked up together, and the project's
    // id took more than the rest to read), the least
    // `received_day` of the state's rows that name it (`hive_session_first`,
    // ADR 0032), filled from every insert into the state by two views, and
    // from the rows before it. A list's dated read then reads the writes'
    // partitions from that day on (with those above the cut), where it
    // read every partition to find its events' writes. A row only lowers a
    // session's day, and rows of events since deleted stay: a day is never
    // later than the first receipt of an event the state holds.
    &[
        "CREATE TABLE IF NOT EXISTS hive_session_first (
            key UInt64, first AggregateFunction(min, UInt32)
        ) ENGINE = AggregatingMergeTree ORDER BY key",
        FIRST_VIEW,
        FIRST_IN_VIEW,
        "INSERT INTO hive_session_first (key, first)
        SELECT cityHash64(project_id, if(session_hash = cityHash64(''), id_hash, session_hash))
            AS k, minState(received_day) FROM hive_state GROUP BY k",
    ],
    // 24: which events named a session, ordered by the hashes of the
    // project and the session (`hive_session_events`, in place of
    // migration 14's `hive_session_hashes`, ordered by their texts). A
    // dated read looks up a range's sessions by their hashes, and read
    // 41 bytes of project id and as many of session id a row to do it
    // (1.5 million rows for the last hour's 1 500 sessions at ten million
    // events, 160 MB): it now reads the three hashes, 24 bytes a row
    // (ADR 0033). The texts stay, for what deletes rows by them and for
    // the reverse lookup of the sessions some events named. As migration
    // 14: the new table and its view first, then the old ones go, and the
    // writes from before are indexed (`backfill`).
    &[
        "CREATE TABLE IF NOT EXISTS hive_session_events (
            project_hash UInt64, session_hash UInt64, id_hash UInt64,
            project_id String, session_id String, month UInt32
        ) ENGINE = ReplacingMergeTree PARTITION BY month
        ORDER BY (project_hash, session_hash, id_hash) SETTINGS index_granularity = 1024",
        SESSION_EVENTS_VIEW,
        "DROP TABLE IF EXISTS hive_session_hashes_2_mv",
        "DROP TABLE IF EXISTS hive_session_hashes",
    ],
    // 25: how long each compaction took (`took`, ms, in
    // `hive_state_cuts`): the next waits four times that before it
    // starts, on whichever node (ADR 0035). Made by `add_columns`; cuts
    // recorded before say 0.
    &[],
    // 26: layers of the state's days (ADR 0036): a compaction that adds a
    // layer to a day writes the day's rows it replaces here, by the
    // generation that holds them (`of_gen`), in the partition of its own
    // generation and the day, which goes with that generation. A cut's
    // rows are those of its days' generations less those its layers
    // replace. The state's format changes with it (5).
    &["CREATE TABLE IF NOT EXISTS hive_state_dead (
        gen UInt64, day UInt32, project_id String, of_gen UInt64, id_hash UInt64
    ) ENGINE = MergeTree PARTITION BY (gen, day) ORDER BY (project_id, of_gen, id_hash)"],
];

/// The view of migration 24: a row per write that names a session.
const SESSION_EVENTS_VIEW: &str = "CREATE MATERIALIZED VIEW IF NOT EXISTS hive_session_events_mv \
    TO hive_session_events AS
    SELECT cityHash64(project_id) AS project_hash, cityHash64(session_id) AS session_hash,
        cityHash64(event_id) AS id_hash, project_id, session_id,
        toYYYYMM(toDate(toDateTime(intDiv(received, 1000)))) AS month
    FROM hive_writes WHERE session_id != ''";

/// The columns of migration 24's table, in its view's order.
const SESSION_EVENTS_COLUMNS: &str =
    "project_hash, session_hash, id_hash, project_id, session_id, month";

/// The views of migration 23: a session's first day from each insert into
/// the state by a compaction, whether straight into it (single writes
/// copied, days copied) or through `hive_state_in` (rows resolved on the
/// node): ClickHouse 18.16 does not pass a view's inserts on to the views
/// of its table. (Current releases do: those rows then come twice, and
/// count once.) A migration that makes `hive_state_in` again makes its
/// view again.
const FIRST_VIEW: &str = "CREATE MATERIALIZED VIEW IF NOT EXISTS hive_session_first_mv \
    TO hive_session_first AS
    SELECT cityHash64(project_id, if(session_hash = cityHash64(''), id_hash, session_hash))
        AS key, minState(received_day) AS first
    FROM hive_state GROUP BY key";

const FIRST_IN_VIEW: &str = "CREATE MATERIALIZED VIEW IF NOT EXISTS hive_session_first_in_mv \
    TO hive_session_first AS
    SELECT cityHash64(project_id, cityHash64(if(session_id = '', event_id, session_id)))
        AS key, minState(received_day) AS first
    FROM hive_state_in GROUP BY key";

/// The view of migration 15: [`SESSION_HASHES_VIEW`] with each row's
/// session hashed.
const SESSION_HASHES_VIEW_15: &str =
    "CREATE MATERIALIZED VIEW IF NOT EXISTS hive_session_hashes_2_mv \
    TO hive_session_hashes AS
    SELECT project_id, session_id, cityHash64(event_id) AS id_hash,
        toYYYYMM(toDate(toDateTime(intDiv(received, 1000)))) AS month,
        cityHash64(session_id) AS session_hash
    FROM hive_writes WHERE session_id != ''";

/// How migration 1 partitions the writes: by the day received (ADR 0024),
/// or with `?partition=month` by the month, as databases made before
/// 2026-12-05 do.
const BY_DAY: &str = "PARTITION BY toYYYYMMDD(toDate(toDateTime(intDiv(received, 1000))))";
const BY_MONTH: &str = "PARTITION BY toYYYYMM(toDate(toDateTime(intDiv(received, 1000))))";

/// The view of migration 10: a row per write that names a session.
const MEMBERS_VIEW: &str = "CREATE MATERIALIZED VIEW IF NOT EXISTS hive_members_by_month_mv \
    TO hive_members_by_month AS
    SELECT project_id, session_id, event_id,
        toYYYYMM(toDate(toDateTime(intDiv(received, 1000)))) AS month
    FROM hive_writes WHERE session_id != ''";

/// The view of migration 12: [`MEMBERS_VIEW`] into the table of finer
/// granules.
const SESSION_MEMBERS_VIEW: &str =
    "CREATE MATERIALIZED VIEW IF NOT EXISTS hive_session_members_mv \
    TO hive_session_members AS
    SELECT project_id, session_id, event_id,
        toYYYYMM(toDate(toDateTime(intDiv(received, 1000)))) AS month
    FROM hive_writes WHERE session_id != ''";

/// The view of migration 14: [`SESSION_MEMBERS_VIEW`] with the events'
/// ids as their hashes.
const SESSION_HASHES_VIEW: &str = "CREATE MATERIALIZED VIEW IF NOT EXISTS hive_session_hashes_mv \
    TO hive_session_hashes AS
    SELECT project_id, session_id, cityHash64(event_id) AS id_hash,
        toYYYYMM(toDate(toDateTime(intDiv(received, 1000)))) AS month
    FROM hive_writes WHERE session_id != ''";

/// Migration 7's column.
pub(super) const HASHES_COLUMN: &str =
    "hashes Array(UInt64) MATERIALIZED arrayMap(p -> cityHash64(p), paths)";

/// Migration 13's column.
pub(super) const ID_HASH_COLUMN: &str = "id_hash UInt64 MATERIALIZED cityHash64(event_id)";

/// Migration 15's column (of `hive_session_hashes`).
pub(super) const SESSION_HASH_COLUMN: &str = "session_hash UInt64 DEFAULT cityHash64(session_id)";

/// Migration 8's columns: content's leaves, their places, and their paths'
/// hashes.
pub(super) const CONTENT_COLUMNS: [&str; 6] = [
    "io_paths Array(String)",
    "io_types Array(UInt8)",
    "io_strs Array(String)",
    "io_nums Array(Float64)",
    "io_at Array(UInt32)",
    "io_hashes Array(UInt64) MATERIALIZED arrayMap(p -> cityHash64(p), io_paths)",
];

/// The minute of migration 5's index that every dated read reads.
pub(super) const ALWAYS: i64 = -(1 << 62);

/// The minute of a start in milliseconds, as migration 5 indexes it
/// (monotonic, so a range of starts lies in the range of their minutes).
pub(super) fn minute_sql(ms: &str) -> String {
    format!("toInt64(floor(greatest(-1e15, least(1e15, {ms})) / 60000))")
}

/// The view of migration 5: the minutes each write can start its event in.
/// (Migration 11 replaces it with [`STARTS_VIEW`].)
const STARTS_VIEW_5: &str =
    "CREATE MATERIALIZED VIEW IF NOT EXISTS hive_starts_mv TO hive_starts AS
    SELECT DISTINCT project_id, e.2 AS minute, e.3 AS key,
        toUInt8(kind = 2 AND session_id = '') AS by_patch,
        toYYYYMM(toDate(toDateTime(intDiv(received, 1000)))) AS month
    FROM hive_writes ARRAY JOIN arrayFilter(x -> x.1 = 1, [
        (toUInt8(indexOf(paths, 'start_time') > 0 AND types[indexOf(paths, 'start_time')] = 2),
         toInt64(floor(greatest(-1e15, least(1e15, nums[indexOf(paths, 'start_time')])) / 60000)),
         if(session_id = '', event_id, session_id)),
        (toUInt8(kind = 2),
         toInt64(floor(greatest(-1e15, least(1e15, toFloat64(ts))) / 60000)),
         if(session_id = '', event_id, session_id)),
        (toUInt8(kind = 2 AND session_id != ''), toInt64(-4611686018427387904), session_id)]) AS e";

/// The view of migration 11: as migration 5's, but a row keyed at a
/// patch's time (by an event) says so (`by_patch = 2`), so a dated read
/// looks up the sessions of the events patches start (`by_patch = 1`)
/// only. The time of a patch that names no session starts its event only
/// when no base or placeholder does (`write::placeholder_row`): such an
/// event is a session of its own and names no other.
const STARTS_VIEW: &str =
    "CREATE MATERIALIZED VIEW IF NOT EXISTS hive_starts_2_mv TO hive_starts AS
    SELECT DISTINCT project_id, e.2 AS minute, e.3 AS key, e.4 AS by_patch,
        toYYYYMM(toDate(toDateTime(intDiv(received, 1000)))) AS month
    FROM hive_writes ARRAY JOIN arrayFilter(x -> x.1 = 1, [
        (toUInt8(indexOf(paths, 'start_time') > 0 AND types[indexOf(paths, 'start_time')] = 2),
         toInt64(floor(greatest(-1e15, least(1e15, nums[indexOf(paths, 'start_time')])) / 60000)),
         if(session_id = '', event_id, session_id),
         toUInt8(kind = 2 AND session_id = '')),
        (toUInt8(kind = 2),
         toInt64(floor(greatest(-1e15, least(1e15, toFloat64(ts))) / 60000)),
         if(session_id = '', event_id, session_id),
         toUInt8(if(session_id = '', 2, 0))),
        (toUInt8(kind = 2 AND session_id != ''), toInt64(-4611686018427387904), session_id,
         toUInt8(0))]) AS e";

/// Create the database and apply the migrations it lacks.
pub fn migrate(client: &Client) -> Result<u32> {
    let ep = client.endpoint();
    let db = &ep.database;
    match &ep.cluster {
        Some(c) => client.exec_in_default(&format!(
            "CREATE DATABASE IF NOT EXISTS {db} ON CLUSTER {c}"
        ))?,
        None => client.exec_in_default(&format!("CREATE DATABASE IF NOT EXISTS {db}"))?,
    }
    if let Some(c) = &ep.cluster {
        check_cluster(client, c)?;
    }
    for s in expand(
        "CREATE TABLE IF NOT EXISTS hive_migrations (version UInt32, applied_at Int64) \
         ENGINE = ReplacingMergeTree ORDER BY version",
        ep,
    ) {
        client.exec(&s)?;
    }
    let applied = version(client)?.unwrap_or(0);
    if applied > MIGRATIONS.len() {
        return Err(crate::StoreError::Invalid(format!(
            "the ClickHouse database {db} has schema version {applied}, newer than this hive \
             knows ({}): it was migrated by a newer hive; run that version (or newer) on every node",
            MIGRATIONS.len()
        )));
    }
    for (i, statements) in MIGRATIONS.iter().enumerate().skip(applied) {
        match i + 1 {
            7 => add_columns(client, "hive_writes", &[HASHES_COLUMN])?,
            8 => add_columns(client, "hive_writes", &CONTENT_COLUMNS)?,
            13 => add_columns(client, "hive_writes", &[ID_HASH_COLUMN])?,
            15 => add_columns(client, "hive_session_hashes", &[SESSION_HASH_COLUMN])?,
            _ => {}
        }
        // (The state is kept on a single server only: `state.rs`.)
        if matches!(i + 1, 16..=23 | 25 | 26) && ep.cluster.is_some() {
            client.exec(&format!(
                "INSERT INTO hive_migrations (version, applied_at) VALUES ({}, {})",
                i + 1,
                super::now_ms()
            ))?;
            continue;
        }
        match i + 1 {
            17 => state_in(client, false)?,
            21 => {
                add_columns(client, "hive_state", &["received_day UInt32"])?;
                add_columns(
                    client,
                    "hive_state_marks",
                    &["received Int64 DEFAULT 9223372036854775807"],
                )?;
                state_in(client, true)?;
            }
            19 => add_columns(
                client,
                "hive_state_cuts",
                &["slot_reads Array(Array(Int64))"],
            )?,
            25 => add_columns(client, "hive_state_cuts", &["took Int64 DEFAULT 0"])?,
            _ => {}
        }
        for s in *statements {
            // `?partition=month` (a new database only: migration 1 made
            // the writes).
            let s = if ep.partition_by_month {
                s.replace(BY_DAY, BY_MONTH)
            } else {
                (*s).to_owned()
            };
            for s in expand(&s, ep) {
                client.exec(&s)?;
            }
        }
        match i + 1 {
            5 => backfill(
                client,
                STARTS_VIEW_5,
                "project_id, minute, key, by_patch, month",
                "the starts of earlier events",
                5,
            )?,
            // (The tables of migrations 10, 12 and 14 are indexed no
            // more: migration 24 makes theirs again, and indexes the writes
            // from before then.)
            24 => backfill(
                client,
                SESSION_EVENTS_VIEW,
                SESSION_EVENTS_COLUMNS,
                "the sessions earlier events named",
                24,
            )?,
            _ => {}
        }
        client.exec(&format!(
            "INSERT INTO hive_migrations (version, applied_at) VALUES ({}, {})",
            i + 1,
            super::now_ms()
        ))?;
        tracing::info!(version = i + 1, "clickhouse schema migrated");
    }
    if let Err(e) = compress_on_current_servers(client) {
        // Storage is no reason to stop: the server's own compression
        // applies meanwhile, and the next start tries again.
        tracing::warn!(error = %e, "cannot set the tables' compression");
    }
    Ok(MIGRATIONS.len() as u32)
}

/// Migration 17: the state's slot columns (`slots.rs`), in the table and
/// in the `Null` table it is inserted through, whose view is made again to
/// fill them (18.16 refuses a view naming a column its table lacks, so the
/// table's come first); and the cuts' maps of them.
///
/// Migration 21 makes the table and its view again with `received_day`
/// (`received`: the table has the column; ADR 0031).
fn state_in(client: &Client, received: bool) -> Result<()> {
    let defs = super::slots::column_definitions();
    if !received {
        let refs: Vec<&str> = defs.iter().map(String::as_str).collect();
        add_columns(client, "hive_state", &refs)?;
        add_columns(
            client,
            "hive_state_cuts",
            &[
                "slot_projects Array(String)",
                "slot_paths Array(Array(String))",
            ],
        )?;
    }
    let (def, column) = match received {
        true => ("received_day UInt32, ", "received_day, "),
        false => ("", ""),
    };
    client.exec("DROP TABLE IF EXISTS hive_state_in_mv")?;
    client.exec("DROP TABLE IF EXISTS hive_state_in")?;
    client.exec(&format!(
        "CREATE TABLE hive_state_in (
            gen UInt64, day UInt32, project_id String, hour Int64, session_id String,
            event_id String, paths Array(String), types Array(UInt8), strs Array(String),
            nums Array(Float64), {def}{}
        ) ENGINE = Null",
        defs.join(", ")
    ))?;
    client.exec(&format!(
        "CREATE MATERIALIZED VIEW hive_state_in_mv TO hive_state AS
        SELECT gen, day, project_id, hour, cityHash64(session_id) AS session_hash,
            cityHash64(event_id) AS id_hash, arrayMap(p -> cityHash64(p), paths) AS hashes,
            types, strs, nums, {column}{}
        FROM hive_state_in",
        super::slots::columns(super::slots::SLOTS)
    ))
}

/// The large tables (their local tables on a cluster).
const COMPRESSED: [&str; 4] = [
    "hive_writes",
    "hive_session_events",
    "hive_starts",
    "hive_state",
];

/// The codec every column of [`COMPRESSED`] gets where the server has
/// codecs: zstd at its own default level, as `deploy/clickhouse/` sets
/// server-wide (ADR 0015). A server whose configuration the operator does not
/// control (a managed service) compresses with LZ4 otherwise: 676 bytes an
/// event with 2 KB of content against about 400 (ADR 0020).
const CODEC: &str = "ZSTD(3)";

/// The settings of the large tables on servers that have them:
/// - strings in one stream: recent servers keep a string column's sizes
///   apart, and the leaves' paths, the same few dozen for every event, then
///   compress about a hundred times worse;
/// - compressed blocks of at least 256 KiB: current servers cut a column's
///   blocks at granules of about 10 MiB of rows (adaptive granularity),
///   which with 2 KB of content an event are 3 000 rows, and a small
///   column's blocks then hold too few rows for zstd to find a session's id
///   again (`session_id` took 17.4 bytes an event instead of 14.3). 18.16's
///   granules of 8 192 rows make blocks of about that size.
const TABLE_SETTINGS: [(&str, &str); 2] = [
    ("string_serialization_version", "'single_stream'"),
    ("min_compress_block_size", "262144"),
];

/// Give the large tables, on servers that have them, per-column codecs
/// ([`CODEC`]) and [`TABLE_SETTINGS`]. Run at every start, after the
/// migrations, and only for what is not set yet: a server upgraded under a
/// database gets them then. Parts written before are recompressed as they
/// merge. ClickHouse 18.16 has neither, and its servers rely on their
/// configuration's `<compression>`.
fn compress_on_current_servers(client: &Client) -> Result<()> {
    let version = client
        .rows("SELECT version() AS v")?
        .first()
        .and_then(|r| r["v"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    // Codecs came in 19; 20.1 and later change a column's codec alone.
    if major < 20 {
        return Ok(());
    }
    let ep = client.endpoint();
    let db = &ep.database;
    let (suffix, on) = match &ep.cluster {
        None => ("", String::new()),
        Some(c) => ("_local", format!(" ON CLUSTER {c}")),
    };
    let names: Vec<String> = TABLE_SETTINGS.iter().map(|(n, _)| lit(n)).collect();
    let known: Vec<String> = client
        .rows(&format!(
            "SELECT name FROM system.merge_tree_settings WHERE name IN ({})",
            names.join(", ")
        ))?
        .iter()
        .filter_map(|r| r["name"].as_str().map(str::to_owned))
        .collect();
    for table in COMPRESSED {
        // (Migration 16 makes no state on a cluster.)
        if table == "hive_state" && ep.cluster.is_some() {
            continue;
        }
        let table = format!("{table}{suffix}");
        let bare: Vec<String> = client
            .rows(&format!(
                "SELECT name FROM system.columns WHERE database = {} AND table = {} \
                 AND compression_codec = '' ORDER BY position",
                lit(db),
                lit(&table)
            ))?
            .iter()
            .filter_map(|r| r["name"].as_str().map(str::to_owned))
            .collect();
        if !bare.is_empty() {
            let modify: Vec<String> = bare
                .iter()
                .map(|c| format!("MODIFY COLUMN `{c}` CODEC({CODEC})"))
                .collect();
            client.exec(&format!(
                "ALTER TABLE {db}.{table}{on} {}",
                modify.join(", ")
            ))?;
            tracing::info!(
                table,
                columns = bare.len(),
                codec = CODEC,
                "compression set"
            );
        }
        let engine = client
            .rows(&format!(
                "SELECT engine_full FROM system.tables WHERE database = {} AND name = {}",
                lit(db),
                lit(&table)
            ))?
            .first()
            .and_then(|r| r["engine_full"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let unset: Vec<String> = TABLE_SETTINGS
            .iter()
            .filter(|(name, _)| known.iter().any(|k| k == name))
            .map(|(name, value)| format!("{name} = {value}"))
            .filter(|setting| !engine.contains(setting.as_str()))
            .collect();
        if !unset.is_empty() {
            client.exec(&format!(
                "ALTER TABLE {db}.{table}{on} MODIFY SETTING {}",
                unset.join(", ")
            ))?;
        }
    }
    Ok(())
}

/// The database's schema version: the last migration applied, `None`
/// before any.
pub(super) fn version(client: &Client) -> Result<Option<usize>> {
    Ok(client
        .rows("SELECT max(version) AS v FROM hive_migrations")?
        .first()
        .and_then(|r| r["v"].as_u64())
        .filter(|v| *v > 0)
        .map(|v| v as usize))
}

/// Add `columns` (definitions) to `table` where it lacks them (on a
/// cluster, to every server's local table and to the distributed one). A
/// column added meanwhile by a node migrating at the same time is as good.
/// ClickHouse 18.16 has no `ADD COLUMN IF NOT EXISTS`.
///
/// A table's missing columns are added by one `ALTER` (a fresh database's
/// migrations add about sixty: each a statement of its own took 0.4 s of a
/// new database's schema on the current engine). When it fails (a node
/// added one of them meanwhile), they are added one by one, as before.
fn add_columns(client: &Client, table: &str, columns: &[&str]) -> Result<()> {
    let ep = client.endpoint();
    let db = &ep.database;
    let local = format!("{table}_local");
    let (tables, on) = match &ep.cluster {
        None => (vec![table], String::new()),
        Some(c) => (vec![local.as_str(), table], format!(" ON CLUSTER {c}")),
    };
    let distributed = table;
    let name_of = |c: &str| c.split_whitespace().next().unwrap_or_default().to_owned();
    let missing = |table: &str| -> Result<Vec<String>> {
        let names: Vec<String> = columns.iter().map(|c| lit(&name_of(c))).collect();
        let has: Vec<String> = client
            .rows(&format!(
                "SELECT name FROM system.columns WHERE database = {} AND table = {} \
                 AND name IN ({})",
                lit(db),
                lit(table),
                names.join(", ")
            ))?
            .iter()
            .filter_map(|r| r["name"].as_str().map(str::to_owned))
            .collect();
        Ok(columns
            .iter()
            .filter(|c| !has.contains(&name_of(c)))
            .map(|c| (*c).to_owned())
            .collect())
    };
    for table in tables {
        let lacks = missing(table)?;
        if lacks.is_empty() {
            continue;
        }
        if ep.cluster.is_some() && table == distributed && ep.replicated {
            // ClickHouse 18.16 refuses an `ALTER … ON CLUSTER` of a
            // distributed table when the cluster's shards are replicated
            // ("isn't replicated, but shard #1 is replicated"): it is made
            // again from the local table's columns instead.
            rebuild_distributed(client, distributed)?;
            continue;
        }
        // A distributed table computes nothing itself: it forwards
        // inserts with their columns (which a local table refuses for a
        // materialised one) and reads by name (each server reads its own).
        let definition = |column: &str| {
            if table != distributed || ep.cluster.is_none() {
                column.to_owned()
            } else {
                column.replace(" MATERIALIZED ", " ALIAS ")
            }
        };
        let adds: Vec<String> = lacks
            .iter()
            .map(|c| format!("ADD COLUMN {}", definition(c)))
            .collect();
        if client
            .exec(&format!("ALTER TABLE {db}.{table}{on} {}", adds.join(", ")))
            .is_ok()
        {
            continue;
        }
        for column in missing(table)? {
            if let Err(e) = client.exec(&format!(
                "ALTER TABLE {db}.{table}{on} ADD COLUMN {}",
                definition(&column)
            )) && missing(table)?.contains(&column)
            {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Refuse a replicated cluster whose statements would read the wrong
/// database: a statement through a `Distributed` table names other tables
/// in its subqueries without their database, and ClickHouse rewrites them
/// to run on this server (`GLOBAL IN`) only when the cluster has several
/// shards; with one shard the statement goes as it is to the replica every
/// node reads through (the first, `prefer_localhost_replica=0`), which
/// reads them in its connection's default database. So each replica of a
/// replicated cluster must name hive's database as that. (A cluster without
/// replicas reads its one shard on the server a node talks to.)
fn check_cluster(client: &Client, cluster: &str) -> Result<()> {
    let ep = client.endpoint();
    let db = &ep.database;
    let replicas = client.rows(&format!(
        "SELECT host_name, port, default_database FROM system.clusters \
         WHERE cluster = {}",
        lit(cluster)
    ))?;
    if replicas.is_empty() {
        return Err(crate::StoreError::Invalid(format!(
            "{} has no cluster named {cluster} in its remote_servers",
            client.at()
        )));
    }
    if !ep.replicated {
        return Ok(());
    }
    // Writes that must outlive a replica count once a majority of their
    // shard's replicas hold them (`Client::insert_in_quorum`).
    let most = client
        .rows(&format!(
            "SELECT count() AS n FROM system.clusters WHERE cluster = {} GROUP BY shard_num",
            lit(cluster)
        ))?
        .iter()
        .filter_map(|r| r["n"].as_u64())
        .max()
        .unwrap_or(1);
    client.set_quorum(u32::try_from(most / 2 + 1).unwrap_or(u32::MAX));
    let wrong: Vec<String> = replicas
        .iter()
        .filter(|r| r["default_database"].as_str() != Some(db.as_str()))
        .map(|r| {
            format!(
                "{}:{}",
                r["host_name"].as_str().unwrap_or_default(),
                r["port"]
            )
        })
        .collect();
    if wrong.is_empty() {
        return Ok(());
    }
    Err(crate::StoreError::Invalid(format!(
        "cluster {cluster} on {}: give each replica <default_database>{db}</default_database> \
         in remote_servers (missing for {}): statements reach the replicas over ClickHouse's \
         own connections, which must read hive's tables by their names alone \
         (deploy/clickhouse/replicated/)",
        client.at(),
        wrong.join(", ")
    )))
}

/// Make the distributed table `table` again over `{table}_local` on every
/// server of the cluster, with the local table's columns, where a
/// materialised one is an alias (a distributed table computes nothing
/// itself: it forwards inserts with their columns, which a local table
/// refuses for a materialised one, and reads by name). It holds no rows
/// (inserts are synchronous): statements that meet it gone meanwhile fail
/// as ClickHouse being unavailable, and are tried again.
fn rebuild_distributed(client: &Client, table: &str) -> Result<()> {
    let ep = client.endpoint();
    let (db, Some(c)) = (&ep.database, &ep.cluster) else {
        return Ok(());
    };
    let columns: Vec<String> = client
        .rows(&format!("DESCRIBE TABLE {db}.{table}_local"))?
        .iter()
        .map(|r| {
            let field = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            let (name, ty, kind) = (field("name"), field("type"), field("default_type"));
            match kind.as_str() {
                "MATERIALIZED" | "ALIAS" => {
                    format!("{name} {ty} ALIAS {}", field("default_expression"))
                }
                _ => format!("{name} {ty}"),
            }
        })
        .collect();
    if columns.is_empty() {
        return Err(crate::StoreError::Unavailable(format!(
            "{db}.{table}_local has no columns on {}",
            client.at()
        )));
    }
    client.exec(&format!("DROP TABLE IF EXISTS {db}.{table} ON CLUSTER {c}"))?;
    client.exec(&format!(
        "CREATE TABLE IF NOT EXISTS {db}.{table} ON CLUSTER {c} ({}) \
         ENGINE = Distributed({c}, {db}, {table}_local, {})",
        columns.join(", "),
        sharding_key(table)
    ))
}

/// Index the writes made before migration `version` in the table its
/// `view` fills (the view sees only later ones), as its `columns`, a range
/// of streamed reads' size (about 524 000 events) per statement, so no statement takes
/// long however large the database. A write made meanwhile may be indexed
/// twice: the same row, which merges collapse. On a cluster the rows go
/// through the distributed table, whose sharding key puts them with their
/// writes ([`sharding_key`]), where the view would have.
fn backfill(client: &Client, view: &str, columns: &str, what: &str, version: usize) -> Result<()> {
    let (head, select) = view.split_once(" AS\n").unwrap_or_default();
    let table = head
        .split_whitespace()
        .skip_while(|w| *w != "TO")
        .nth(1)
        .unwrap_or_default();
    let select = select.trim_start();
    let joiner = if select.contains(" WHERE ") {
        " AND"
    } else {
        " WHERE"
    };
    let started = std::time::Instant::now();
    let mut reported = started;
    let bounds = super::partial::id_bounds(client, "1", super::partial::Ranges::default())?;
    for i in 0..=bounds.len() {
        let cond = super::partial::range_cond(&bounds, i);
        // The columns named: a later migration may add one the view then
        // lacks (15), which computes its default.
        client.exec(&format!(
            "INSERT INTO {table} ({columns}) {select}{joiner} {cond}"
        ))?;
        // A large database takes minutes (about 1.5 s per million events
        // on two cores): say how far it is.
        if reported.elapsed() >= std::time::Duration::from_secs(10) {
            reported = std::time::Instant::now();
            tracing::info!(
                done = i + 1,
                of = bounds.len() + 1,
                "indexing {what} (schema {version})"
            );
        }
    }
    tracing::info!(
        statements = bounds.len() + 1,
        seconds = started.elapsed().as_secs_f64(),
        "{what} are indexed (schema {version})"
    );
    Ok(())
}

/// How each table is sharded on a cluster: the rows that must meet on one
/// shard (the versions of one key, the writes of one session) hash alike.
fn sharding_key(table: &str) -> &'static str {
    match table {
        // A session's bases, placeholders and session-level patches
        // together; a patch that names no session goes with its event.
        "hive_writes" => "cityHash64(project_id, if(session_id = '', event_id, session_id))",
        "hive_meta" => "cityHash64(kind, id)",
        "hive_log_positions" => "cityHash64(node)",
        "hive_claims" => "cityHash64(key)",
        "hive_evaluations" => "cityHash64(alert_id)",
        "hive_adopted" => "cityHash64(project_id, event_id)",
        // Filled by materialised views on the shard of their writes, and
        // through the distributed table only by a migration's backfill:
        // the same hash as their writes' (a member names its session; a
        // start's key is its write's session, else its event).
        "hive_members_by_month"
        | "hive_session_members"
        | "hive_session_hashes"
        | "hive_session_events" => "cityHash64(project_id, session_id)",
        "hive_starts" => "cityHash64(project_id, key)",
        // Filled on each shard by materialised views, or tiny.
        _ => "rand()",
    }
}

/// A migration statement as run on the endpoint: as written for one
/// server; on a cluster, a table becomes `<name>_local` on every server
/// (`ON CLUSTER`, replicated if asked) plus `<name>`, a `Distributed` table
/// over them, and a materialised view reads and fills the local tables.
pub(crate) fn expand(statement: &str, ep: &Endpoint) -> Vec<String> {
    let Some(c) = &ep.cluster else {
        return vec![statement.to_owned()];
    };
    let db = &ep.database;
    // One space between words (no literal of the schema holds two).
    let s = statement.split_whitespace().collect::<Vec<_>>().join(" ");
    let s = s.as_str();
    let name_and_rest = |prefix: &str| {
        let rest = s[prefix.len()..].trim_start();
        let end = rest
            .find(|ch: char| ch.is_whitespace() || ch == '(')
            .unwrap_or(rest.len());
        (rest[..end].to_owned(), rest[end..].to_owned())
    };
    const TABLE: &str = "CREATE TABLE IF NOT EXISTS ";
    const VIEW: &str = "CREATE MATERIALIZED VIEW IF NOT EXISTS ";
    if s.starts_with(TABLE) {
        let (name, rest) = name_and_rest(TABLE);
        let rest = if ep.replicated {
            replicated_engine(&rest, &format!("/clickhouse/tables/{{shard}}/{db}/{name}"))
        } else {
            rest
        };
        vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {db}.{name}_local ON CLUSTER {c} {}",
                rest.trim_start()
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {db}.{name} ON CLUSTER {c} AS {db}.{name}_local \
                 ENGINE = Distributed({c}, {db}, {name}_local, {})",
                sharding_key(&name)
            ),
        ]
    } else if s.starts_with(VIEW) {
        let (name, rest) = name_and_rest(VIEW);
        let rest = rest.trim_start();
        let (target, select) = rest
            .strip_prefix("TO ")
            .and_then(|r| r.split_once(" AS "))
            .unwrap_or(("", rest));
        let select = select.replace("FROM hive_writes", &format!("FROM {db}.hive_writes_local"));
        vec![format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{name} ON CLUSTER {c} \
             TO {db}.{}_local AS {select}",
            target.trim()
        )]
    } else if let Some(name) = s.strip_prefix("DROP TABLE IF EXISTS ") {
        // A table is its distributed table and the local ones under it (a
        // view has no local table: dropping none is harmless).
        let name = name.trim();
        vec![
            format!("DROP TABLE IF EXISTS {db}.{name} ON CLUSTER {c}"),
            format!("DROP TABLE IF EXISTS {db}.{name}_local ON CLUSTER {c}"),
        ]
    } else {
        vec![statement.to_owned()]
    }
}

/// `ENGINE = [Replacing]MergeTree[(version)]` made replicated at `path`.
fn replicated_engine(rest: &str, path: &str) -> String {
    let Some(at) = rest.find("ENGINE = ") else {
        return rest.to_owned();
    };
    let (head, engine) = rest.split_at(at + "ENGINE = ".len());
    let end = engine
        .find(|ch: char| ch.is_whitespace())
        .unwrap_or(engine.len());
    let (name, tail) = engine.split_at(end);
    let args = format!("'{path}', '{{replica}}'");
    let replaced = match name.split_once('(') {
        Some((base, version)) => format!("Replicated{base}({args}, {version}"),
        None => format!("Replicated{name}({args})"),
    };
    format!("{head}{replaced}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `?partition=month` finds the day's partition in migration 1, which
    /// makes the writes, and nowhere else.
    #[test]
    fn writes_are_partitioned_by_day_or_month() {
        let made: Vec<usize> = MIGRATIONS
            .iter()
            .enumerate()
            .filter(|(_, m)| m.iter().any(|s| s.contains(BY_DAY)))
            .map(|(i, _)| i + 1)
            .collect();
        assert_eq!(made, [1]);
        assert!(MIGRATIONS[0][0].contains("CREATE TABLE IF NOT EXISTS hive_writes"));
        assert!(MIGRATIONS[0][0].contains(BY_DAY));
    }

    #[test]
    fn cluster_statements() {
        let ep = Endpoint::parse("http://h:1/obs?cluster=c&replicated=true").unwrap();
        let t = expand(
            "CREATE TABLE IF NOT EXISTS hive_meta (kind String) \
             ENGINE = ReplacingMergeTree(version) ORDER BY (kind, id)",
            &ep,
        );
        assert_eq!(
            t[0],
            "CREATE TABLE IF NOT EXISTS obs.hive_meta_local ON CLUSTER c (kind String) \
             ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/obs/hive_meta', \
             '{replica}', version) ORDER BY (kind, id)"
        );
        assert_eq!(
            t[1],
            "CREATE TABLE IF NOT EXISTS obs.hive_meta ON CLUSTER c AS obs.hive_meta_local \
             ENGINE = Distributed(c, obs, hive_meta_local, cityHash64(kind, id))"
        );
        let t = expand(
            "CREATE TABLE IF NOT EXISTS hive_claims (key String) ENGINE = MergeTree ORDER BY key",
            &ep,
        );
        assert!(t[0].contains("ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/obs/hive_claims', '{replica}') ORDER BY key"), "{}", t[0]);
        let v = expand(MIGRATIONS[0][2], &ep);
        assert_eq!(
            v[0],
            "CREATE MATERIALIZED VIEW IF NOT EXISTS obs.hive_members_mv ON CLUSTER c \
             TO obs.hive_members_local AS SELECT project_id, session_id, event_id \
             FROM obs.hive_writes_local WHERE session_id != ''"
        );
        assert_eq!(
            expand("DROP TABLE IF EXISTS hive_locations", &ep),
            vec![
                "DROP TABLE IF EXISTS obs.hive_locations ON CLUSTER c".to_owned(),
                "DROP TABLE IF EXISTS obs.hive_locations_local ON CLUSTER c".to_owned()
            ]
        );
        let v = expand(MIGRATIONS[3][0], &ep);
        assert!(
            v[0].starts_with(
                "CREATE MATERIALIZED VIEW IF NOT EXISTS obs.hive_fields_distinct_mv ON CLUSTER c \
                 TO obs.hive_fields_local AS SELECT DISTINCT project_id, path, type \
                 FROM obs.hive_writes_local ARRAY JOIN"
            ),
            "{}",
            v[0]
        );
        assert_eq!(ALWAYS, -4611686018427387904, "as the view writes it");
        for view in [STARTS_VIEW_5, STARTS_VIEW] {
            assert!(view.contains(&minute_sql("nums[indexOf(paths, 'start_time')]")));
            assert!(view.contains(&minute_sql("toFloat64(ts)")));
        }
        let v = expand(MIGRATIONS[10][0], &ep);
        assert!(
            v[0].starts_with(
                "CREATE MATERIALIZED VIEW IF NOT EXISTS obs.hive_starts_2_mv ON CLUSTER c \
                 TO obs.hive_starts_local AS SELECT DISTINCT project_id, e.2 AS minute"
            ),
            "{}",
            v[0]
        );
        let v = expand(MIGRATIONS[4][1], &ep);
        assert!(
            v[0].starts_with(
                "CREATE MATERIALIZED VIEW IF NOT EXISTS obs.hive_starts_mv ON CLUSTER c \
                 TO obs.hive_starts_local AS SELECT DISTINCT project_id, e.2 AS minute"
            ),
            "{}",
            v[0]
        );
        // One server: as written.
        let one = Endpoint::parse("http://h:1/obs").unwrap();
        assert_eq!(
            expand(MIGRATIONS[8][1], &one),
            vec![MIGRATIONS[8][1].to_owned()]
        );
    }
}
