//! The state of a list page as it lives in the URL: filters (`ff`, `fo`,
//! `fv` repeated, one triple per row), where they match (`match`), the
//! time range (`range`), the sort (`sort`) and the page (`page`).

use hive_core::filter::{DateRange, Filter, FilterType, Operator, TopField};
use hive_store::{EventQuery, FieldInfo, Level, Order};
use serde_json::json;

use super::format::urlencode;

/// One filter row as typed by the user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterRow {
    pub field: String,
    pub op: String,
    pub value: String,
}

impl FilterRow {
    pub fn takes_value(&self) -> bool {
        !matches!(self.op.as_str(), "exists" | "not exists")
    }
}

/// Time ranges offered, with their length in milliseconds.
pub const RANGES: [(&str, &str, i64); 5] = [
    ("1h", "Last hour", 3_600_000),
    ("24h", "Last 24 hours", 86_400_000),
    ("7d", "Last 7 days", 7 * 86_400_000),
    ("30d", "Last 30 days", 30 * 86_400_000),
    ("all", "All time", 0),
];

/// Sorts offered: (key, label).
pub const SORTS: [(&str, &str); 6] = [
    ("newest", "Newest first"),
    ("oldest", "Oldest first"),
    ("duration", "Longest first"),
    ("cost", "Highest cost"),
    ("tokens", "Most tokens"),
    ("events", "Most events"),
];

/// A list page's parameters.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub project: Option<String>,
    pub rows: Vec<FilterRow>,
    /// `session` (the default): the session event's own fields are tested
    /// (what `enrich_session` set; indexed); `any`: a session matches when
    /// it or any of its events matches.
    pub matching: String,
    pub range: String,
    pub sort: String,
    pub page: usize,
    /// `count=1`: count every match, even where the page alone is found
    /// faster (never carried into links).
    pub count: bool,
}

impl ListParams {
    pub fn parse(query: Option<&str>) -> ListParams {
        let mut p = ListParams {
            matching: "session".into(),
            range: "all".into(),
            sort: "newest".into(),
            page: 1,
            ..ListParams::default()
        };
        let (mut ff, mut fo, mut fv) = (Vec::new(), Vec::new(), Vec::new());
        for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match k.as_ref() {
                "project" => p.project = Some(v.into_owned()),
                "ff" => ff.push(v.trim().to_owned()),
                "fo" => fo.push(v.into_owned()),
                "fv" => fv.push(v.into_owned()),
                "match" if v == "session" || v == "any" => p.matching = v.into_owned(),
                "range" if RANGES.iter().any(|r| r.0 == v) => p.range = v.into_owned(),
                "sort" if SORTS.iter().any(|s| s.0 == v) => p.sort = v.into_owned(),
                "page" => p.page = v.parse().unwrap_or(1).clamp(1, 1_000_000),
                "count" => p.count = v == "1",
                _ => {}
            }
        }
        for (i, field) in ff.into_iter().enumerate() {
            if field.is_empty() || p.rows.len() >= 20 {
                continue;
            }
            p.rows.push(FilterRow {
                field,
                op: fo.get(i).cloned().unwrap_or_else(|| "is".into()),
                value: fv.get(i).cloned().unwrap_or_default(),
            });
        }
        p
    }

    /// The query string of these parameters with some replaced
    /// (`("page", "2")`), for links. `page` is dropped when 1.
    pub fn qs(&self, overrides: &[(&str, &str)]) -> String {
        let get = |k: &str, own: &str| -> String {
            overrides
                .iter()
                .find(|(o, _)| *o == k)
                .map(|(_, v)| (*v).to_owned())
                .unwrap_or_else(|| own.to_owned())
        };
        let mut parts = Vec::new();
        if let Some(p) = &self.project {
            parts.push(format!("project={}", urlencode(p)));
        }
        for r in &self.rows {
            parts.push(format!(
                "ff={}&fo={}&fv={}",
                urlencode(&r.field),
                urlencode(&r.op),
                urlencode(&r.value)
            ));
        }
        for (k, own, default) in [
            ("match", self.matching.as_str(), "session"),
            ("range", self.range.as_str(), "all"),
            ("sort", self.sort.as_str(), "newest"),
        ] {
            let v = get(k, own);
            if v != default {
                parts.push(format!("{k}={}", urlencode(&v)));
            }
        }
        let page = get("page", &self.page.to_string());
        if page != "1" {
            parts.push(format!("page={page}"));
        }
        parts.join("&")
    }

    /// The query string without the project (what a saved view keeps).
    pub fn view_qs(&self) -> String {
        let mut p = self.clone();
        p.project = None;
        p.page = 1;
        p.qs(&[])
    }

    pub fn order(&self) -> Order {
        match self.sort.as_str() {
            "oldest" => Order::StartAsc,
            "duration" => Order::DurationDesc,
            "cost" => Order::CostDesc,
            "tokens" => Order::TokensDesc,
            "events" => Order::EventsDesc,
            _ => Order::StartDesc,
        }
    }

    /// The store query for a page of `limit` rows, and the problems with
    /// filter rows that could not be used (they are left out).
    pub fn query(
        &self,
        project_id: &str,
        fields: &[FieldInfo],
        level: Level,
        limit: usize,
        now_ms: i64,
    ) -> (EventQuery, Vec<String>) {
        let mut errors = Vec::new();
        let mut filters = Vec::new();
        for r in &self.rows {
            match build_filter(r, fields) {
                Ok(f) => filters.push(f),
                Err(e) => errors.push(format!("{}: {e}", r.field)),
            }
        }
        let level = if level == Level::Session && self.matching == "session" {
            Level::SessionEvent
        } else {
            level
        };
        let span = RANGES.iter().find(|r| r.0 == self.range).map_or(0, |r| r.2);
        let date_range = if span > 0 {
            DateRange {
                start_ms: Some((now_ms - span) as f64),
                end_ms: None,
            }
        } else {
            DateRange::default()
        };
        (
            EventQuery {
                project_id: Some(project_id.to_owned()),
                filters,
                date_range,
                level,
                order: self.order(),
                limit,
                offset: (self.page - 1).saturating_mul(limit),
                brief: false,
            },
            errors,
        )
    }
}

/// The type a field is compared as: from the operator when it says
/// (`after` is a datetime), else from key discovery.
pub fn field_type(field: &str, op: Operator, fields: &[FieldInfo]) -> FilterType {
    match op {
        Operator::After | Operator::Before => return FilterType::Datetime,
        Operator::GreaterThan | Operator::LessThan => return FilterType::Number,
        _ => {}
    }
    if let Some(top) = TopField::from_name(field) {
        return if top.is_numeric() {
            FilterType::Number
        } else {
            FilterType::String
        };
    }
    let types: Vec<&str> = fields
        .iter()
        .filter(|f| f.field == field)
        .map(|f| f.ty.as_str())
        .collect();
    if types.len() == 1 {
        match types[0] {
            "number" => return FilterType::Number,
            "boolean" => return FilterType::Boolean,
            _ => {}
        }
    }
    FilterType::String
}

fn build_filter(r: &FilterRow, fields: &[FieldInfo]) -> Result<Filter, String> {
    let op = Operator::parse(&r.op).map_err(|e| e.to_string())?;
    let ty = field_type(&r.field, op, fields);
    let value = if r.takes_value() {
        json!(r.value)
    } else {
        serde_json::Value::Null
    };
    Filter::from_json(&json!({
        "field": r.field,
        "operator": op.name(),
        "value": value,
        "type": ty.name(),
    }))
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_url() {
        let p = ListParams::parse(Some(
            "project=my+app&ff=metadata.tenant&fo=is&fv=acme+%26+co&ff=&fo=is&fv=&range=24h&page=3",
        ));
        assert_eq!(p.project.as_deref(), Some("my app"));
        assert_eq!(
            p.rows,
            vec![FilterRow {
                field: "metadata.tenant".into(),
                op: "is".into(),
                value: "acme & co".into()
            }]
        );
        assert_eq!(p.range, "24h");
        assert_eq!(p.page, 3);
        let again = ListParams::parse(Some(&p.qs(&[])));
        assert_eq!(again.rows, p.rows);
        assert_eq!(again.page, 3);
        assert!(!p.qs(&[("page", "1")]).contains("page="));
    }

    #[test]
    fn types_come_from_the_operator_then_discovery() {
        let fields = vec![
            FieldInfo {
                field: "metrics.score".into(),
                ty: "number".into(),
            },
            FieldInfo {
                field: "metadata.ok".into(),
                ty: "boolean".into(),
            },
        ];
        assert_eq!(
            field_type("metrics.score", Operator::Is, &fields),
            FilterType::Number
        );
        assert_eq!(
            field_type("metadata.ok", Operator::Is, &fields),
            FilterType::Boolean
        );
        assert_eq!(
            field_type("metadata.when", Operator::After, &fields),
            FilterType::Datetime
        );
        assert_eq!(
            field_type("metadata.x", Operator::Is, &fields),
            FilterType::String
        );
    }
}
