//! The conformance suite on the SQLite backend.

use hive_store::sqlite::{SqliteOptions, SqliteStore};

struct TempStore {
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for TempStore {
    type Target = SqliteStore;
    fn deref(&self) -> &SqliteStore {
        &self.store
    }
}

fn fresh() -> TempStore {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        SqliteStore::open(dir.path().join("hive.db"), SqliteOptions::default()).expect("open");
    TempStore { store, _dir: dir }
}

mod sqlite {
    use super::*;
    hive_store::store_conformance_suite!(fresh());
}

/// (On ClickHouse with a check that the counts came from the state:
/// `clickhouse_conformance.rs`.)
#[test]
fn counted_lists_count_every_match() {
    hive_store::conformance::counted_lists_count_every_match(&*fresh());
}
