//! The sessions list and the events list: one filter bar, one table.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use hive_core::filter::{Operator, TopField};
use hive_store::{FieldInfo, Level};
use serde_json::Value;

use super::filters::{FilterRow, ListParams, RANGES, SORTS};
use super::format::{self, num, short, urlencode};
use super::{Layout, PageResult, html, layout, web};
use crate::SharedState;
use crate::body::now_ms;
use crate::error::ApiError;

const PAGE_SIZE: usize = 50;

/// How long a list's count is shown again without counting (paging
/// through a list, or coming back to it).
const COUNT_FRESH: std::time::Duration = std::time::Duration::from_secs(60);
/// Counts kept at most.
const COUNTS_KEPT: usize = 256;

/// The dashboard lists' recent counts. Where a page comes without its count
/// (ClickHouse), counting is a pass over the whole project: paging through
/// a list counts it once a minute, not once a page, and a node counts one
/// list at a time (a count asked meanwhile waits, and costs nothing if its
/// page is left first).
pub struct ListCounts {
    recent: std::sync::Mutex<HashMap<String, (std::time::Instant, u64)>>,
    one_at_a_time: tokio::sync::Semaphore,
}

impl Default for ListCounts {
    fn default() -> ListCounts {
        ListCounts {
            recent: std::sync::Mutex::new(HashMap::new()),
            one_at_a_time: tokio::sync::Semaphore::new(1),
        }
    }
}

impl ListCounts {
    fn get(&self, key: &str) -> Option<u64> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent
            .get(key)
            .filter(|(at, _)| at.elapsed() < COUNT_FRESH)
            .map(|(_, n)| *n)
    }

    /// A list's recent count; else, when `count` is asked, the turn to
    /// count it. A node counts one list at a time: this waits while another
    /// is counted, then looks again (that one may have been this list).
    async fn count_or_turn(
        &self,
        key: &str,
        count: bool,
    ) -> (Option<u64>, Option<tokio::sync::SemaphorePermit<'_>>) {
        let known = self.get(key);
        if !count || known.is_some() {
            return (known, None);
        }
        let turn = self.one_at_a_time.acquire().await.ok();
        match self.get(key) {
            Some(total) => (Some(total), None),
            None => (None, turn),
        }
    }

    fn put(&self, key: String, total: u64) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= COUNTS_KEPT {
            recent.retain(|_, (at, _)| at.elapsed() < COUNT_FRESH);
            if recent.len() >= COUNTS_KEPT {
                recent.clear();
            }
        }
        recent.insert(key, (std::time::Instant::now(), total));
    }
}

/// One table row, ready to print (the template escapes every string).
pub struct Row {
    pub href: String,
    pub time: String,
    pub name: String,
    pub event_type: String,
    pub source: String,
    pub user: String,
    pub tokens: String,
    pub cost: String,
    pub duration: String,
    pub events: String,
    pub errors: i64,
    pub error: String,
    pub feedback: String,
    pub session_href: String,
    pub session_short: String,
}

#[derive(Template)]
#[template(path = "list.html")]
struct ListPage {
    l: Layout,
    sessions: bool,
    title: &'static str,
    params: ListParams,
    /// The filter rows shown: the URL's, plus one empty row to add.
    rows: Vec<FilterRow>,
    fields: Vec<FieldInfo>,
    operators: Vec<&'static str>,
    errors: Vec<String>,
    table: Vec<Row>,
    /// `None`: the page was found without counting every match.
    total: Option<u64>,
    /// This page, counting every match.
    count_href: String,
    first: u64,
    last: u64,
    prev: Option<String>,
    next: Option<String>,
    sorts: Vec<(&'static str, &'static str)>,
    ranges: Vec<(&'static str, &'static str)>,
    view_qs: String,
    took_ms: u128,
}

impl ListPage {
    fn base(&self) -> &'static str {
        if self.sessions {
            "/sessions"
        } else {
            "/events"
        }
    }

    fn sort_href(&self, key: &str) -> String {
        format!(
            "{}?{}",
            self.base(),
            self.params.qs(&[("sort", key), ("page", "1")])
        )
    }
}

pub async fn sessions(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> PageResult {
    list(state, headers, query, true).await
}

pub async fn events(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> PageResult {
    list(state, headers, query, false).await
}

/// The user a session belongs to, from its user properties.
fn user_of(e: &Value) -> String {
    let Some(Value::Object(up)) = e.get("user_properties") else {
        return String::new();
    };
    for key in ["user_id", "user", "email", "id", "name", "username"] {
        if let Some(v) = up.get(key).filter(|v| !v.is_null()) {
            return short(v, 40);
        }
    }
    up.values().next().map(|v| short(v, 40)).unwrap_or_default()
}

fn feedback_of(e: &Value) -> String {
    let Some(Value::Object(fb)) = e.get("feedback") else {
        return String::new();
    };
    fb.iter()
        .take(2)
        .map(|(k, v)| format!("{k}: {}", short(v, 24)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn row(e: &Value, pq: &str, errors: &HashMap<String, i64>) -> Row {
    let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
    let md = e.get("metadata");
    let md_num = |k: &str| num(md.and_then(|m| m.get(k)));
    let event_id = s("event_id");
    let session_id = s("session_id");
    let is_session = s("event_type") == "session";
    let href = if is_session {
        format!("/sessions/{}?{pq}", urlencode(event_id))
    } else {
        format!(
            "/sessions/{}?{pq}&event={}",
            urlencode(session_id),
            urlencode(event_id)
        )
    };
    let error = e
        .get("error")
        .filter(|v| !v.is_null())
        .map(|v| short(v, 80))
        .unwrap_or_default();
    Row {
        href,
        time: format::time(e.get("start_time").and_then(Value::as_i64).unwrap_or(0)),
        name: short(e.get("event_name").unwrap_or(&Value::Null), 80),
        event_type: s("event_type").to_owned(),
        source: short(e.get("source").unwrap_or(&Value::Null), 30),
        user: user_of(e),
        tokens: md_num("total_tokens")
            .filter(|n| *n > 0.0)
            .map(format::int)
            .unwrap_or_default(),
        cost: md_num("cost")
            .filter(|n| *n > 0.0)
            .map(format::cost)
            .unwrap_or_default(),
        duration: num(e.get("duration"))
            .map(format::duration)
            .unwrap_or_default(),
        events: md_num("num_events").map(format::int).unwrap_or_default(),
        errors: errors.get(event_id).copied().unwrap_or(0),
        error,
        feedback: feedback_of(e),
        session_href: format!("/sessions/{}?{pq}", urlencode(session_id)),
        session_short: session_id.chars().take(8).collect(),
    }
}

async fn list(
    state: SharedState,
    headers: HeaderMap,
    query: Option<String>,
    sessions: bool,
) -> PageResult {
    let web = web(&state, &headers).await?;
    let mut params = ListParams::parse(query.as_deref());
    let l = layout(
        &state,
        &web,
        params.project.as_deref(),
        if sessions { "sessions" } else { "events" },
    )
    .await?;
    params.project = Some(l.project.name.clone());
    let started = std::time::Instant::now();
    let store = state.store.clone();
    let project_id = l.project.id.clone();
    let p = params.clone();
    // The list's count, whatever its page.
    let count_key = format!(
        "{}\n{sessions}\n{}",
        l.project.id,
        params.qs(&[("page", "1")])
    );
    let (known, _turn) = state
        .list_counts
        .count_or_turn(&count_key, params.count)
        .await;
    let counts = state.clone();
    // One of the node's read slots, held until the store work ends; the
    // work stops when the page's request goes away (`cancellable`).
    let slot = state.read_slots.acquire().await?;
    let (fields, page, errors, problems) =
        crate::cancellable(move || -> Result<_, super::PageError> {
            let _slot = slot;
            let fields = store.fields(&project_id)?;
            let level = if sessions {
                Level::Session
            } else {
                Level::Event
            };
            let (mut q, problems) = p.query(&project_id, &fields, level, PAGE_SIZE, now_ms());
            // The rows show no content: a backend need not read it.
            q.brief = true;
            // Counting every match can cost a pass over the whole project
            // (ClickHouse) where the page alone does not: the count is
            // then asked apart (`count=1`, which the page's script fetches).
            let count = || -> Result<_, super::PageError> {
                Ok(hive_store::Page::counted(store.query(&q)?, &q))
            };
            let mut page = if p.count && known.is_none() {
                count()?
            } else {
                store.query_page(&q)?
            };
            // A recent count, where it agrees with the page; else, when
            // asked, a new one. A count made here is remembered.
            let mut remembered = false;
            if page.total.is_none() {
                let shown = q.offset as u64 + page.events.len() as u64;
                match known {
                    Some(total) if page.more == (shown < total) && shown <= total => {
                        page.total = Some(total);
                        remembered = true;
                    }
                    _ if p.count => page = count()?,
                    _ => {}
                }
            }
            if let (Some(total), false) = (page.total, remembered) {
                counts.list_counts.put(count_key, total);
            }
            // The page's own count of its sessions' failed events, when it
            // came with one (a ClickHouse window reads them for the page's
            // rollups); else one more read.
            let errors = if let (true, Some(errors)) = (sessions, page.session_errors.take()) {
                errors
            } else if sessions {
                let ids: Vec<String> = page
                    .events
                    .iter()
                    .filter_map(|e| e.get("event_id").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect();
                store.session_errors(&project_id, &ids)?
            } else {
                Vec::new()
            };
            Ok((fields, page, errors, problems))
        })
        .await
        .map_err(ApiError::internal)??;
    let took_ms = started.elapsed().as_millis();
    let errors: HashMap<String, i64> = errors.into_iter().collect();
    let pq = l.pq();
    let table: Vec<Row> = page.events.iter().map(|e| row(e, &pq, &errors)).collect();
    let offset = ((params.page - 1) * PAGE_SIZE) as u64;
    let base = if sessions { "/sessions" } else { "/events" };
    let prev = (params.page > 1).then(|| {
        format!(
            "{base}?{}",
            params.qs(&[("page", &(params.page - 1).to_string())])
        )
    });
    let next = page.more.then(|| {
        format!(
            "{base}?{}",
            params.qs(&[("page", &(params.page + 1).to_string())])
        )
    });
    let mut rows = params.rows.clone();
    rows.push(FilterRow {
        op: "is".into(),
        ..FilterRow::default()
    });
    let mut all_fields: Vec<FieldInfo> = TopField::ALL
        .iter()
        .map(|f| FieldInfo {
            field: f.name().to_owned(),
            ty: if f.is_numeric() { "number" } else { "string" }.to_owned(),
        })
        .collect();
    all_fields.extend(fields);
    let page_view = ListPage {
        view_qs: params.view_qs(),
        sessions,
        title: if sessions { "Sessions" } else { "Events" },
        rows,
        fields: all_fields,
        operators: Operator::ALL.iter().map(|o| o.name()).collect(),
        errors: problems,
        first: if table.is_empty() { 0 } else { offset + 1 },
        last: offset + table.len() as u64,
        total: page.total,
        count_href: format!("{base}?{}&count=1", params.qs(&[])),
        table,
        prev,
        next,
        sorts: SORTS.to_vec(),
        ranges: RANGES.iter().map(|r| (r.0, r.1)).collect(),
        params,
        l,
        took_ms,
    };
    html(&page_view)
}

#[cfg(test)]
mod tests {
    use super::ListCounts;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn a_node_counts_one_list_at_a_time() {
        let counts = Arc::new(ListCounts::default());
        let (known, first) = counts.count_or_turn("a", true).await;
        assert!(known.is_none() && first.is_some());
        // A page that does not ask for its count never waits.
        assert_eq!(counts.count_or_turn("b", false).await.0, None);
        // Another list's count waits for its turn, and so does the same
        // list's.
        let turn = |key: &'static str| {
            let counts = counts.clone();
            tokio::spawn(async move {
                let (known, turn) = counts.count_or_turn(key, true).await;
                (known, turn.is_some())
            })
        };
        let other = turn("b");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let same = turn("a");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!other.is_finished() && !same.is_finished());
        counts.put("a".into(), 7);
        drop(first);
        // The other list is counted next; the same list's count is the one
        // just made, with no turn taken.
        assert_eq!(other.await.unwrap(), (None, true));
        assert_eq!(same.await.unwrap(), (Some(7), false));
        // A remembered count comes at once.
        assert_eq!(counts.count_or_turn("a", true).await.0, Some(7));
    }
}
