//! `POST /v1/import` (admin keys): events exported from a Hive server
//! (`hive export`), recreated in a project with their enrichment history
//! as it was (when, by which key, what). See ADR 0011.
//!
//! An imported event is written as it was exported (its current state) and
//! each history entry is replayed on it as an enrichment with its original
//! time and key. Replaying a document's own patches on it changes nothing
//! (an RFC 7396 fold is idempotent under replay), so the event ends as it
//! was and its history holds the same entries, on either store. Like every
//! write, the ops go through the ingest log.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use bytes::Bytes;
use hive_core::model::{Event, EventDefaults, enrichment_from_history, event_from_json};
use hive_store::WriteOp;
use serde_json::{Map, Value, json};

use crate::SharedState;
use crate::auth::project_for_write;
use crate::body::{caller_and_body, text, type_name};
use crate::error::{ApiError, ApiResult};

/// Records taken in one request at most.
pub const MAX_RECORDS: usize = 10_000;

/// One exported event: its state, its raw span and its history.
#[derive(Debug, Clone)]
pub struct ImportRecord {
    pub event: Event,
    pub span: Option<Value>,
    pub history: Vec<HistoryItem>,
}

/// One enrichment of the history, as it was received.
#[derive(Debug, Clone)]
pub struct HistoryItem {
    pub received_at: i64,
    pub key_id: Option<String>,
    pub patch: Value,
}

fn type_error(field: &str, expected: &str, got: &Value) -> String {
    format!("{field} must be {expected}, got {}", type_name(got))
}

impl ImportRecord {
    /// Read and check one record (a line of `hive export`'s file) for
    /// `project_id`. The error names the field at fault.
    pub fn parse(record: &Value, project_id: &str) -> Result<ImportRecord, String> {
        let Value::Object(obj) = record else {
            return Err(type_error("the record", "an object", record));
        };
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "event" | "history" | "span"))
        {
            return Err(format!(
                "unknown field {k:?} (a record has event, history and span)"
            ));
        }
        let event_obj = match obj.get("event") {
            Some(Value::Object(m)) => m,
            None | Some(Value::Null) => return Err("event is required".into()),
            Some(other) => return Err(type_error("event", "an object", other)),
        };
        for field in ["event_id", "session_id", "event_type"] {
            match event_obj.get(field) {
                Some(Value::String(s)) if !s.is_empty() => {}
                None | Some(Value::Null) => return Err(format!("event.{field} is required")),
                Some(other) => {
                    return Err(type_error(
                        &format!("event.{field}"),
                        "a non-empty string",
                        other,
                    ));
                }
            }
        }
        for field in ["start_time", "end_time"] {
            match event_obj.get(field) {
                Some(Value::Number(_)) => {}
                None | Some(Value::Null) => return Err(format!("event.{field} is required")),
                Some(other) => {
                    return Err(type_error(
                        &format!("event.{field}"),
                        "a number (epoch milliseconds)",
                        other,
                    ));
                }
            }
        }
        let defaults = EventDefaults {
            project_id: project_id.to_owned(),
            source: "unknown".to_owned(),
            now_ms: 0,
        };
        let mut no_new_id = || String::new();
        let event = event_from_json(event_obj, &defaults, None, &mut no_new_id)
            .map_err(|e| format!("event: {e}"))?;
        let span = match obj.get("span") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(other) => return Err(type_error("span", "an object or null", other)),
        };
        let items: &[Value] = match obj.get("history") {
            None | Some(Value::Null) => &[],
            Some(Value::Array(a)) => a,
            Some(other) => return Err(type_error("history", "an array", other)),
        };
        let mut history = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Value::Object(h) = item else {
                return Err(type_error(&format!("history[{i}]"), "an object", item));
            };
            let received_at = match h.get("received_at") {
                Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64().unwrap_or(0),
                None | Some(Value::Null) => {
                    return Err(format!("history[{i}].received_at is required"));
                }
                Some(other) => {
                    return Err(type_error(
                        &format!("history[{i}].received_at"),
                        "a whole number (epoch milliseconds)",
                        other,
                    ));
                }
            };
            let key_id = match h.get("key_id") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => {
                    return Err(type_error(
                        &format!("history[{i}].key_id"),
                        "a string or null",
                        other,
                    ));
                }
            };
            let patch = match h.get("patch") {
                Some(Value::Object(p)) => p,
                None | Some(Value::Null) => return Err(format!("history[{i}].patch is required")),
                Some(other) => {
                    return Err(type_error(
                        &format!("history[{i}].patch"),
                        "an object",
                        other,
                    ));
                }
            };
            // The same checks as an enrichment sent by a client; a patch
            // the server stored comes out unchanged.
            let patch = enrichment_from_history(patch, Some(&event.event_id))
                .map_err(|e| format!("history[{i}].patch: {e}"))?
                .patch;
            history.push(HistoryItem {
                received_at,
                key_id,
                patch,
            });
        }
        Ok(ImportRecord {
            event,
            span,
            history,
        })
    }

    /// The writes that recreate the event and its history.
    pub fn into_ops(self, out: &mut Vec<WriteOp>) {
        let project_id = self.event.project_id.clone();
        let event_id = self.event.event_id.clone();
        out.push(WriteOp::Event {
            event: self.event,
            raw: self.span,
            session_name: None,
            join: false,
            floating: false,
        });
        for h in self.history {
            out.push(WriteOp::Enrich {
                project_id: project_id.clone(),
                floating: false,
                event_id: event_id.clone(),
                patch: h.patch,
                key_id: h.key_id,
                received_at_ms: h.received_at,
            });
        }
    }
}

/// `POST /v1/import`: `{"project": NAME, "records": [{"event", "history",
/// "span"}, ...]}` (admin keys: a history names other keys and past times).
/// All records are checked before any is written; they are logged as one
/// write. Answers `{"success", "project_id", "events", "history"}`.
#[utoipa::path(
    post,
    path = "/v1/import",
    tag = "admin",
    request_body(content = crate::openapi::ImportBody, description = "`{\"project\": NAME, \"records\": [{\"event\", \"history\", \"span\"}]}`, as `hive export` writes them (one record per JSONL line)", content_type = "application/json"),
    responses((status = 200, description = "`{\"success\", \"project_id\", \"events\", \"history\"}`", body = Object), (status = 400, description = "A malformed record; the message names the record and the field, and nothing is written", body = crate::openapi::ErrorBody), (status = 401, description = "Missing or unknown API key", body = crate::openapi::ErrorBody), (status = 403, description = "Not an admin key", body = crate::openapi::ErrorBody), (status = 503, description = "Busy (backlog over its bound, `Retry-After`) or the store unavailable", body = crate::openapi::ErrorBody))
)]
pub async fn import(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (caller, root) = caller_and_body(&state, &headers, &body)?;
    caller.require_admin()?;
    let project = text(&root, "project")?
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| ApiError::bad("project is required (the name to import into)"))?;
    let records = match root.get("records") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => return Err(ApiError::bad("records is required (an array)")),
        Some(other) => {
            return Err(ApiError::bad(format!(
                "records must be an array, got {}",
                type_name(other)
            )));
        }
    };
    if records.len() > MAX_RECORDS {
        return Err(ApiError::bad(format!(
            "records holds {} records; send at most {MAX_RECORDS} per request",
            records.len()
        )));
    }
    let project_id = project_for_write(&state, &caller, Some(&project))?;
    let mut seen: Map<String, Value> = Map::new();
    let mut ops = Vec::with_capacity(records.len() * 2);
    let mut history = 0usize;
    for (i, r) in records.iter().enumerate() {
        let record = ImportRecord::parse(r, &project_id)
            .map_err(|e| ApiError::bad(format!("records[{i}]: {e}")))?;
        if let Some(first) = seen.insert(record.event.event_id.clone(), json!(i)) {
            return Err(ApiError::bad(format!(
                "records[{i}]: event {:?} is also records[{first}]",
                record.event.event_id
            )));
        }
        history += record.history.len();
        record.into_ops(&mut ops);
    }
    // Imported events get their project's redaction rules like any write.
    state.submit(ops).await?;
    Ok(Json(json!({
        "success": true,
        "project_id": project_id,
        "events": records.len(),
        "history": history,
    })))
}

#[cfg(test)]
mod tests;
