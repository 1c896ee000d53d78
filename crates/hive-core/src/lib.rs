//! Hive's pure core: the event model, enrichment patches and their fold,
//! the span-to-event mapping and the filter model. Nothing here does IO.
//!
//! ```
//! use hive_core::merge::merge_patch;
//! use serde_json::json;
//!
//! let mut session = json!({"metadata": {"user_id": "u1", "step": "start"}});
//! merge_patch(&mut session, &json!({"metadata": {"step": "done", "user_id": null}}));
//! assert_eq!(session, json!({"metadata": {"step": "done"}}));
//! ```

pub mod alert;
pub mod chart;
pub mod fields;
pub mod filter;
pub mod log;
pub mod mapping;
pub mod merge;
pub mod model;
pub mod redact;
pub mod rollup;
pub mod span;
pub mod time;
