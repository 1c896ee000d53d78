//! Filters compiled to ClickHouse SQL over the leaf writes: the events
//! that may match (a superset; the folded documents decide).

use hive_core::filter::Filter;

use super::ClickHouseStore;

impl ClickHouseStore {
    /// A condition on `hive_writes` selecting every row of every event that
    /// may match.
    pub(super) fn candidate_sql(
        &self,
        project_id: Option<&str>,
        _filters: &[Filter],
        _sessions_only: bool,
    ) -> String {
        Self::project_cond(project_id)
    }
}
