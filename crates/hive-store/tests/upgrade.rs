//! A SQLite database made by an earlier version opens in this one: columns
//! added since (keys' expiry and permissions) are added to it, and what it
//! held still works.

use hive_store::auth::hash_secret;
use hive_store::sqlite::{SqliteOptions, SqliteStore};
use hive_store::{KeyScope, NewKey, Store};

#[test]
fn keys_made_before_expiry_still_work_and_new_ones_can_expire() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hive.db");
    let old_secret = "hh_q3C1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    {
        // The keys table as versions before expiry made it, with a key.
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE api_keys (
                id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL,
                name TEXT NOT NULL, scope TEXT NOT NULL, project_id TEXT,
                created_at INTEGER NOT NULL, revoked_at INTEGER);",
        )
        .unwrap();
        c.execute(
            "INSERT INTO api_keys VALUES ('k1', ?1, 'hh_q3C1aaa', 'old', 'admin', NULL, 1, NULL)",
            [hash_secret(old_secret)],
        )
        .unwrap();
    }
    for _ in 0..2 {
        // Twice: the second open finds the column there.
        let store = SqliteStore::open(&path, SqliteOptions::default()).unwrap();
        let auth = store.auth();
        let old = auth.authenticate(old_secret).unwrap().expect("the old key");
        assert_eq!((old.id.as_str(), old.expires_at), ("k1", None));
        let (_, secret) = auth
            .create_key(&NewKey {
                name: "brief".into(),
                scope: KeyScope::Admin,
                project_id: None,
                expires_at: Some(1),
                permissions: Vec::new(),
            })
            .unwrap();
        assert!(auth.authenticate(&secret).unwrap().is_none(), "expired");
    }
}
