//! The chart builder (a GET form: every chart is a link; selects re-render
//! the preview as they change) and the project's dashboard of saved charts.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use hive_core::chart::{Aggregation, ChartQuery};
use hive_store::objects::CHART;
use serde_json::{Map, Value, json};

use super::format::urlencode;
use super::{Layout, PageResult, field, html, layout, posted, svg, web};
use crate::SharedState;
use crate::body::now_ms;
use crate::charts::{chart_doc, parse_chart};
use crate::error::ApiError;

/// The builder's parameters, as in the URL.
#[derive(Debug, Clone, Default)]
pub struct ChartParams {
    pub project: Option<String>,
    pub metric: String,
    pub agg: String,
    pub bucket: String,
    pub group: String,
    pub level: String,
    pub range: String,
    /// (field, operator, value)
    pub filters: Vec<(String, String, String)>,
    /// The saved chart being edited (its id), if any.
    pub chart: String,
    /// Draw the preview in the page (`draw=now`: the link a page without
    /// scripts offers) instead of after it.
    pub draw: bool,
}

impl ChartParams {
    pub fn parse(query: Option<&str>) -> ChartParams {
        let mut p = ChartParams {
            agg: "count".into(),
            bucket: "hour".into(),
            level: "event".into(),
            range: "7d".into(),
            ..ChartParams::default()
        };
        let (mut ff, mut fo, mut fv) = (Vec::new(), Vec::new(), Vec::new());
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let v = v.trim().to_owned();
            match k.as_ref() {
                "project" => p.project = Some(v),
                "metric" => p.metric = v,
                "agg" => p.agg = v,
                "bucket" => p.bucket = v,
                "group" => p.group = v,
                "level" => p.level = v,
                "range" => p.range = v,
                "chart" => p.chart = v,
                "draw" => p.draw = v == "now",
                "ff" => ff.push(v),
                "fo" => fo.push(v),
                "fv" => fv.push(v),
                _ => {}
            }
        }
        for (i, f) in ff.into_iter().enumerate() {
            if !f.is_empty() {
                p.filters.push((
                    f,
                    fo.get(i).cloned().unwrap_or_else(|| "is".into()),
                    fv.get(i).cloned().unwrap_or_default(),
                ));
            }
        }
        p
    }

    /// The chart query as the API takes it.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if !self.metric.is_empty() {
            m.insert("metric".into(), json!(self.metric));
        }
        m.insert("aggregation".into(), json!(self.agg));
        m.insert("bucket".into(), json!(self.bucket));
        if !self.group.is_empty() {
            m.insert("groupBy".into(), json!(self.group));
        }
        m.insert("level".into(), json!(self.level));
        if self.range != "all" && !self.range.is_empty() {
            m.insert("dateRange".into(), json!({"relative": self.range}));
        }
        let filters: Vec<Value> = self
            .filters
            .iter()
            .map(|(f, o, v)| {
                if matches!(o.as_str(), "exists" | "not exists") {
                    json!({"field": f, "operator": o})
                } else if let Ok(n) = v.parse::<f64>() {
                    json!({"field": f, "operator": o, "value": n})
                } else {
                    json!({"field": f, "operator": o, "value": v})
                }
            })
            .collect();
        m.insert("filters".into(), Value::Array(filters));
        Value::Object(m)
    }

    /// The URL query (without the project).
    pub fn qs(&self) -> String {
        let mut parts = vec![
            format!("metric={}", urlencode(&self.metric)),
            format!("agg={}", urlencode(&self.agg)),
            format!("bucket={}", urlencode(&self.bucket)),
            format!("group={}", urlencode(&self.group)),
            format!("level={}", urlencode(&self.level)),
            format!("range={}", urlencode(&self.range)),
        ];
        for (f, o, v) in &self.filters {
            parts.push(format!(
                "ff={}&fo={}&fv={}",
                urlencode(f),
                urlencode(o),
                urlencode(v)
            ));
        }
        parts.join("&")
    }
}

/// A saved chart, drawn.
pub struct SavedChart {
    pub id: String,
    pub name: String,
    pub summary: String,
    /// Where the page fetches the chart drawn (`GET /charts/{id}/draw`);
    /// empty for a chart that cannot be drawn (its summary says why).
    pub draw: String,
    /// Where the page fetches it drawn with the other saved charts over the
    /// same dates (`GET /charts/draw?id=…`), read together.
    pub group: String,
    pub href: String,
}

/// Saved charts drawn together, each in its `data-drawn` box.
#[derive(Template)]
#[template(
    source = r#"<!doctype html>{% for (id, c) in charts %}<div class="chartbody" data-drawn="{{ id }}">{% if c.error.is_empty() %}{{ c.svg|safe }}{{ c.legend|safe }}{% else %}<p class="alert" role="alert">{{ c.error }}</p>{% endif %}</div>{% endfor %}"#,
    ext = "html"
)]
pub(crate) struct DrawnCharts {
    pub charts: Vec<(String, DrawnChart)>,
}

/// Most saved charts one `GET /charts/draw` draws.
const DRAW_TOGETHER: usize = 24;

/// One saved chart drawn, for the dashboard to put in its card.
#[derive(Template)]
#[template(
    source = r#"<!doctype html><div class="chartbody" id="drawn">{% if error.is_empty() %}{{ svg|safe }}{{ legend|safe }}{% else %}<p class="alert" role="alert">{{ error }}</p>{% endif %}</div>"#,
    ext = "html"
)]
pub(crate) struct DrawnChart {
    pub svg: String,
    pub legend: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "charts.html")]
struct ChartsPage {
    l: Layout,
    p: ChartParams,
    aggs: &'static [&'static str],
    buckets: &'static [&'static str],
    ranges: &'static [&'static str],
    ops: &'static [&'static str],
    fields: Vec<(String, String)>,
    error: String,
    svg: String,
    legend: String,
    summary: String,
    /// Where the page fetches its preview drawn (`GET /charts/preview`)
    /// when it does not draw it itself (`draw=now`).
    preview: String,
    /// This page drawing its preview itself (without scripts).
    draw_here: String,
    saved: Vec<SavedChart>,
    /// The name of the saved chart being edited (`p.chart`), if it exists.
    editing: Option<String>,
}

/// "avg of metrics.latency_ms by metadata.variant per hour".
fn summary(q: &ChartQuery) -> String {
    let mut s = match (&q.metric, q.aggregation) {
        (None, Aggregation::Count) => "count of events".to_owned(),
        (Some(m), a) => format!("{} of {}", a.name(), m.dotted()),
        (None, a) => a.name(),
    };
    if q.level == hive_core::chart::ChartLevel::Session {
        s.push_str(" (sessions)");
    }
    if let Some(g) = &q.group_by {
        s.push_str(&format!(" by {}", g.dotted()));
    }
    s.push_str(&format!(" per {}", q.bucket.name()));
    if !q.filters.is_empty() {
        s.push_str(&format!(", {} filter(s)", q.filters.len()));
    }
    s
}

/// The params that rebuild a saved chart in the builder.
fn params_of(doc: &Value) -> ChartParams {
    let text = |k: &str| doc.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    ChartParams {
        project: None,
        metric: if text("metric") == "count" {
            String::new()
        } else {
            text("metric")
        },
        agg: text("func"),
        bucket: text("bucketing"),
        group: text("groupBy"),
        level: text("level"),
        range: doc
            .get("dateRange")
            .and_then(|d| d.get("relative"))
            .and_then(Value::as_str)
            .unwrap_or("all")
            .to_owned(),
        draw: false,
        filters: doc
            .get("query")
            .and_then(Value::as_array)
            .map(|fs| {
                fs.iter()
                    .map(|f| {
                        let s = |k: &str| match f.get(k) {
                            Some(Value::String(s)) => s.clone(),
                            Some(Value::Null) | None => String::new(),
                            Some(v) => v.to_string(),
                        };
                        (s("field"), s("operator"), s("value"))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        chart: String::new(),
    }
}

/// A chart's legend, when its series are groups (one series without a
/// group-by needs no key).
pub fn legend(series: &[hive_core::chart::Series]) -> String {
    if series.iter().any(|s| s.group.is_some()) {
        svg::legend(series)
    } else {
        String::new()
    }
}

async fn draw(
    state: &SharedState,
    project_id: &str,
    q: ChartQuery,
    title: &str,
) -> Result<(String, String), ApiError> {
    let pid = project_id.to_owned();
    let frame = svg::Frame::of(&q, now_ms());
    let series = state.read(move |store| store.chart(Some(&pid), &q)).await?;
    Ok((svg::chart(&series, &frame, title), legend(&series)))
}

/// A chart drawn alone, for a page to put in its place, or why it cannot
/// be drawn.
async fn drawn(
    state: &SharedState,
    project_id: &str,
    q: crate::error::ApiResult<ChartQuery>,
    title: &str,
) -> Result<DrawnChart, ApiError> {
    Ok(match q {
        Ok(q) => {
            let (svg, legend) = draw(state, project_id, q, title).await?;
            DrawnChart {
                svg,
                legend,
                error: String::new(),
            }
        }
        Err(e) => DrawnChart {
            svg: String::new(),
            legend: String::new(),
            error: e.to_string(),
        },
    })
}

/// `GET /charts`: the builder with its preview, then the saved charts.
///
/// The page answers at once and the preview is drawn after it, as the saved
/// charts are (`GET /charts/preview`, fetched by hive.js): over ten million
/// events on ClickHouse a chart of the builder's default 7 days takes
/// seconds, and the form, the saved charts and the page's links waited for
/// it. Without scripts, the preview's place links to the page with
/// `draw=now`, which draws it in the page.
pub async fn page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> PageResult {
    let web = web(&state, &headers).await?;
    let p = ChartParams::parse(query.as_deref());
    let l = layout(&state, &web, p.project.as_deref(), "charts").await?;
    let (mut svg, mut legend, mut error, mut summary_text, mut preview) = (
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
    );
    match parse_chart(&p.to_json()) {
        Ok(q) if p.draw => {
            summary_text = summary(&q);
            (svg, legend) = draw(&state, &l.project.id, q, &summary_text).await?;
        }
        Ok(q) => {
            summary_text = summary(&q);
            preview = format!("/charts/preview?{}&{}", l.pq(), p.qs());
        }
        Err(e) => error = e.to_string(),
    }
    let pid = l.project.id.clone();
    let (objects, fields) = state
        .blocking(move |store| -> hive_store::Result<_> {
            Ok((
                store.objects().list(CHART, Some(&pid))?,
                store.fields(&pid)?,
            ))
        })
        .await?;
    let mut saved = Vec::new();
    for o in objects {
        let name = o
            .doc
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let href = format!(
            "/charts?{}&{}&chart={}",
            l.pq(),
            params_of(&o.doc).qs(),
            urlencode(&o.id)
        );
        // Drawn apart from the page, when it asks: a page of saved charts
        // answers at once however long they take.
        let (summary_text, draw) = match parse_chart(&o.doc) {
            Ok(q) => (
                summary(&q),
                format!("/charts/{}/draw?{}", urlencode(&o.id), l.pq()),
            ),
            Err(e) => (e.to_string(), String::new()),
        };
        let dates = o
            .doc
            .get("dateRange")
            .map(Value::to_string)
            .unwrap_or_default();
        saved.push((
            dates,
            SavedChart {
                draw,
                group: String::new(),
                id: o.id,
                name,
                summary: summary_text,
                href,
            },
        ));
    }
    // Charts over the same dates are drawn together (one read of their
    // events for all, `Store::charts`), in groups of at most
    // `DRAW_TOGETHER`, in page order.
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, (dates, c)) in saved.iter().enumerate() {
        if c.draw.is_empty() {
            continue;
        }
        match groups
            .iter_mut()
            .find(|(d, members)| d == dates && members.len() < DRAW_TOGETHER)
        {
            Some((_, members)) => members.push(i),
            None => groups.push((dates.clone(), vec![i])),
        }
    }
    for (_, members) in &groups {
        let ids: String = members
            .iter()
            .map(|&i| format!("&id={}", urlencode(&saved[i].1.id)))
            .collect();
        let url = format!("/charts/draw?{}{ids}", l.pq());
        for &i in members {
            saved[i].1.group.clone_from(&url);
        }
    }
    let saved: Vec<SavedChart> = saved.into_iter().map(|(_, c)| c).collect();
    let mut fields: Vec<(String, String)> = fields.into_iter().map(|f| (f.field, f.ty)).collect();
    for top in ["duration", "event_type", "event_name", "source"] {
        fields.push((
            top.into(),
            if top == "duration" {
                "number"
            } else {
                "string"
            }
            .into(),
        ));
    }
    let editing = saved
        .iter()
        .find(|c| !p.chart.is_empty() && c.id == p.chart)
        .map(|c| c.name.clone());
    let draw_here = format!(
        "/charts?{}&{}{}&draw=now",
        l.pq(),
        p.qs(),
        if p.chart.is_empty() {
            String::new()
        } else {
            format!("&chart={}", urlencode(&p.chart))
        }
    );
    html(&ChartsPage {
        editing,
        l,
        p,
        aggs: &Aggregation::NAMES,
        buckets: &["minute", "hour", "day", "week", "month"],
        ranges: &["1h", "24h", "7d", "30d", "all"],
        ops: &[
            "is",
            "is not",
            "contains",
            "not contains",
            "exists",
            "not exists",
            "greater than",
            "less than",
        ],
        fields,
        error,
        svg,
        legend,
        summary: summary_text,
        draw_here,
        preview,
        saved,
    })
}

/// `GET /charts/preview?project=NAME&…`: the builder's chart drawn (its SVG
/// and legend) from the builder's parameters, for its page to put in its
/// preview; a chart that cannot be drawn says why in its place.
pub async fn preview(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> PageResult {
    let web = web(&state, &headers).await?;
    let p = ChartParams::parse(query.as_deref());
    let l = layout(&state, &web, p.project.as_deref(), "charts").await?;
    let q = parse_chart(&p.to_json());
    let title = q.as_ref().map(summary).unwrap_or_default();
    html(&drawn(&state, &l.project.id, q, &title).await?)
}

/// `GET /charts/{id}/draw?project=NAME`: a saved chart drawn (its SVG and
/// legend), for the dashboard page to put in its card; a chart that cannot
/// be drawn says why in its place.
pub async fn draw_saved(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> PageResult {
    let web = web(&state, &headers).await?;
    let p = ChartParams::parse(query.as_deref());
    let l = layout(&state, &web, p.project.as_deref(), "charts").await?;
    let pid = l.project.id.clone();
    let Some(o) = state
        .blocking(move |store| store.objects().get(CHART, Some(&pid), &id))
        .await?
    else {
        return Err(ApiError::NotFound("no such chart in this project".into()).into());
    };
    let name = o.doc.get("name").and_then(Value::as_str).unwrap_or("");
    html(&drawn(&state, &l.project.id, parse_chart(&o.doc), name).await?)
}

/// `GET /charts/draw?project=NAME&id=A&id=B…`: saved charts drawn together,
/// each as `GET /charts/{id}/draw` draws it, in a box named by its id
/// (`data-drawn`). The store reads them together (`Store::charts`: on
/// ClickHouse one pass over their events where each alone would read them
/// again). A chart of another project, or unknown, says so in its box.
pub async fn draw_together(
    State(state): State<SharedState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> PageResult {
    let web = web(&state, &headers).await?;
    let p = ChartParams::parse(query.as_deref());
    let ids: Vec<String> = form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "id")
        .map(|(_, v)| v.into_owned())
        .collect();
    if ids.is_empty() || ids.len() > DRAW_TOGETHER {
        return Err(ApiError::bad(format!(
            "id: name from 1 to {DRAW_TOGETHER} saved charts to draw"
        ))
        .into());
    }
    let l = layout(&state, &web, p.project.as_deref(), "charts").await?;
    let pid = l.project.id.clone();
    let objects = state
        .blocking(move |store| store.objects().list(CHART, Some(&pid)))
        .await?;
    // Each chart's query, or why it cannot be drawn.
    let mut queries: Vec<ChartQuery> = Vec::new();
    let mut slots: Vec<Result<(usize, String), String>> = Vec::new();
    for id in &ids {
        slots.push(match objects.iter().find(|o| &o.id == id) {
            None => Err("no such chart in this project".into()),
            Some(o) => match parse_chart(&o.doc) {
                Ok(q) => {
                    let name = o.doc.get("name").and_then(Value::as_str).unwrap_or("");
                    queries.push(q);
                    Ok((queries.len() - 1, name.to_owned()))
                }
                Err(e) => Err(e.to_string()),
            },
        });
    }
    let pid = l.project.id.clone();
    let asked = queries.clone();
    let now = now_ms();
    let series = state
        .read(move |store| store.charts(Some(&pid), &asked))
        .await?;
    let charts = ids
        .into_iter()
        .zip(slots)
        .map(|(id, slot)| {
            let drawn = match slot.and_then(|(i, name)| {
                let s = series.get(i).ok_or("this chart could not be drawn")?;
                Ok((s, svg::Frame::of(&queries[i], now), name))
            }) {
                Ok((s, frame, name)) => DrawnChart {
                    svg: svg::chart(s, &frame, &name),
                    legend: legend(s),
                    error: String::new(),
                },
                Err(error) => DrawnChart {
                    svg: String::new(),
                    legend: String::new(),
                    error,
                },
            };
            (id, drawn)
        })
        .collect();
    html(&DrawnCharts { charts })
}

/// `POST /charts`: save the builder's chart to the project dashboard.
pub async fn save(
    State(state): State<SharedState>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> PageResult {
    let (web, fields) = posted(&state, &headers, &body).await?;
    let l = layout(&state, &web, field(&fields, "project"), "charts").await?;
    let p = ChartParams::parse(field(&fields, "query"));
    let mut body = p.to_json().as_object().cloned().unwrap_or_default();
    body.insert("name".into(), json!(field(&fields, "name").unwrap_or("")));
    let doc = chart_doc(&body, None)?;
    let pid = l.project.id.clone();
    state
        .blocking(move |store| {
            store
                .objects()
                .put(CHART, &pid, &crate::body::new_id(), &doc)
        })
        .await?;
    Ok(Redirect::to(&format!("/charts?{}&{}", l.pq(), p.qs())).into_response())
}

/// `POST /charts/{id}/update`: replace a saved chart's query and name with
/// the builder's.
pub async fn update(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: bytes::Bytes,
) -> PageResult {
    let (web, fields) = posted(&state, &headers, &body).await?;
    let l = layout(&state, &web, field(&fields, "project"), "charts").await?;
    let p = ChartParams::parse(field(&fields, "query"));
    let mut body = p.to_json().as_object().cloned().unwrap_or_default();
    body.insert("name".into(), json!(field(&fields, "name").unwrap_or("")));
    // The whole chart is the form's: nothing of the old query is kept.
    let doc = chart_doc(&body, None)?;
    let (pid, key) = (l.project.id.clone(), id.clone());
    let found = state
        .blocking(move |store| -> hive_store::Result<bool> {
            if store.objects().get(CHART, Some(&pid), &key)?.is_none() {
                return Ok(false);
            }
            store.objects().put(CHART, &pid, &key, &doc)?;
            Ok(true)
        })
        .await?;
    if !found {
        return Err(ApiError::NotFound("no such chart in this project".into()).into());
    }
    Ok(Redirect::to(&format!(
        "/charts?{}&{}&chart={}",
        l.pq(),
        p.qs(),
        urlencode(&id)
    ))
    .into_response())
}

/// `POST /charts/{id}/delete`
pub async fn delete(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: bytes::Bytes,
) -> PageResult {
    let (web, fields) = posted(&state, &headers, &body).await?;
    let l = layout(&state, &web, field(&fields, "project"), "charts").await?;
    let pid = l.project.id.clone();
    state
        .blocking(move |store| store.objects().delete(CHART, Some(&pid), &id))
        .await?;
    Ok(Redirect::to(&format!("/charts?{}", l.pq())).into_response())
}
