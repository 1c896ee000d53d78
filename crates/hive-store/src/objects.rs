//! Saved charts, alert rules and redaction settings (JSON documents per
//! project) and the history of alert evaluations.

use serde_json::Value;

use crate::Result;

/// Kinds of saved objects.
pub const CHART: &str = "chart";
pub const ALERT: &str = "alert";
/// A project's redaction settings (one per project, its id the project's).
pub const REDACTION: &str = "redaction";
/// An alert notification decided and not yet delivered: stored with the
/// rule's new state in one write ([`ObjectStore::put_all`]) and deleted
/// once delivered, so a node that dies in between leaves it for another
/// (or for itself, restarted) to deliver.
pub const NOTIFICATION: &str = "notification";

/// One object of [`ObjectStore::put_all`].
#[derive(Debug, Clone, Copy)]
pub struct ObjectPut<'a> {
    pub kind: &'a str,
    pub project_id: &'a str,
    pub id: &'a str,
    pub doc: &'a Value,
}

/// A saved object.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredObject {
    pub id: String,
    pub project_id: String,
    pub doc: Value,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One alert evaluation as kept in the history.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub seq: i64,
    pub alert_id: String,
    pub at: i64,
    pub doc: Value,
}

/// Saved charts, alert rules and evaluations.
pub trait ObjectStore: Send + Sync {
    /// Insert or replace (the creation time of a replaced object is kept).
    fn put(&self, kind: &str, project_id: &str, id: &str, doc: &Value) -> Result<StoredObject>;
    /// [`ObjectStore::put`] of several objects in one write: all of them
    /// are stored, or none. (A store whose objects live on several
    /// servers, a ClickHouse cluster, stores them one after another in
    /// the order given instead, so an object is stored only once those
    /// before it are.)
    fn put_all(&self, objects: &[ObjectPut<'_>]) -> Result<()>;
    /// One object; `project_id` `None` looks in every project.
    fn get(&self, kind: &str, project_id: Option<&str>, id: &str) -> Result<Option<StoredObject>>;
    /// Objects of a kind, oldest first; `None`: every project.
    fn list(&self, kind: &str, project_id: Option<&str>) -> Result<Vec<StoredObject>>;
    /// Delete (with an alert's evaluations); whether it existed.
    fn delete(&self, kind: &str, project_id: Option<&str>, id: &str) -> Result<bool>;
    /// Record an evaluation of an alert.
    fn add_evaluation(&self, alert_id: &str, at: i64, doc: &Value) -> Result<()>;
    /// The latest evaluations of an alert, newest first.
    fn evaluations(&self, alert_id: &str, limit: usize) -> Result<Vec<Evaluation>>;
    /// Forget the evaluations of these alerts made before `before_ms`
    /// (retention); how many went. All at once: on ClickHouse one deletion
    /// rewrites the table whatever it removes.
    fn delete_evaluations_before(&self, alert_ids: &[String], before_ms: i64) -> Result<u64>;
    /// Claim each of `keys` (an alert evaluation: the rule and the
    /// evaluation it follows) for this node; which claims it won. Of all the
    /// nodes sharing the store that claim a key, at most one wins it, ever.
    /// A store only one server uses wins every claim.
    fn claim(&self, keys: &[String]) -> Result<Vec<bool>> {
        Ok(vec![true; keys.len()])
    }
    /// Forget the claims made before `before_ms`; how many went. A claim
    /// counts for a few minutes (its round's grace time): older ones only
    /// take room. A store that keeps no claims has none to forget.
    fn forget_claims_before(&self, _before_ms: i64) -> Result<u64> {
        Ok(0)
    }
}
