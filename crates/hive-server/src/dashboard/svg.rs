//! Charts drawn as SVG on the server: axes with ticks, one line per
//! series with a point per bucket (each with a `<title>` for its value on
//! hover) and a legend. Every text is escaped.

use hive_core::chart::{Aggregation, Bucket, ChartQuery, Point, Series};
use hive_core::time::format_rfc3339_ms;

use super::format::escape;

const W: f64 = 760.0;
const H: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 44.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 30.0;
pub const COLORS: [&str; 8] = [
    "#3563b8", "#e0883a", "#2f9e6e", "#c2414b", "#7d5bbe", "#1f9bb5", "#b58a1f", "#6b7280",
];

/// A compact number for labels.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}B", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// Round y-axis bounds and a step of 1, 2 or 5 × 10^k that gives about
/// four intervals: `(low, high, step)` with `low <= lo` and `high >= hi`.
pub fn nice_axis(lo: f64, hi: f64) -> (f64, f64, f64) {
    let raw = ((hi - lo) / 4.0).abs();
    if !raw.is_finite() || raw == 0.0 {
        return (lo, lo + 1.0, 0.25);
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let low = (lo / step).floor() * step;
    let high = (hi / step).ceil() * step;
    (low, high.max(low + step), step)
}

/// A tick label: as many decimals as the step needs.
pub fn tick_label(v: f64, step: f64) -> String {
    if v.abs() >= 1e4 {
        return num(v);
    }
    let decimals = (-step.log10().floor()).max(0.0) as usize
        + usize::from((step / 10f64.powf(step.log10().floor()) - 2.5).abs() < 1e-9);
    let v = if v.abs() < step / 1e6 { 0.0 } else { v };
    format!("{v:.decimals$}")
}

fn time_label(ms: i64, bucket: Bucket) -> String {
    let t = format_rfc3339_ms(ms);
    match bucket {
        Bucket::Minute | Bucket::Hour => format!("{} {}", &t[5..10], &t[11..16]),
        Bucket::Day | Bucket::Week => t[..10].to_owned(),
        Bucket::Month => t[..7].to_owned(),
        Bucket::Total => "total".to_owned(),
    }
}

/// The series' label in legends and titles.
pub fn label(s: &Series) -> String {
    s.group.clone().unwrap_or_else(|| "(none)".into())
}

/// The times a chart draws: the years 0 to 9999, which dates can spell. A
/// value outside (a start time of 1e300) is drawn at the nearest end.
const FIRST_MS: i64 = -62_167_219_200_000; // 0000-01-01
const LAST_MS: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999

/// What a chart's x axis spans and how it treats a bucket with no values.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    pub bucket: Bucket,
    /// The start of the asked range; `None` for all time, where the axis
    /// starts at the first value.
    pub from: Option<i64>,
    /// The end of the asked range, or now.
    pub to: i64,
    /// A bucket without values counts zero (`count`), so the line drops to
    /// zero there; for every other aggregation it has no value, and the
    /// line breaks there instead of joining its neighbours.
    pub zero_when_empty: bool,
}

impl Frame {
    /// The frame of a chart query answered at `now_ms` (its bounds as the
    /// nearest i64; [`chart_with`] draws them within the years 0 to 9999).
    pub fn of(q: &ChartQuery, now_ms: i64) -> Frame {
        let ms = |v: f64| v as i64;
        Frame {
            bucket: q.bucket,
            from: q.date_range.start_ms.map(ms),
            to: q.date_range.end_ms.map_or(now_ms, ms),
            zero_when_empty: q.aggregation == Aggregation::Count,
        }
    }
}

/// An SVG chart (markup ready to embed; all text escaped).
pub fn chart(series: &[Series], frame: &Frame, title: &str) -> String {
    chart_with(series, frame, title, None)
}

/// Steps between x labels, as a number of buckets' widths, in ms (fixed
/// buckets) or months: the first that gives at most [`MAX_LABELS`] is used.
const STEPS_MS: [i64; 22] = [
    MINUTE,
    2 * MINUTE,
    5 * MINUTE,
    10 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    2 * DAY,
    7 * DAY,
    14 * DAY,
    28 * DAY,
    56 * DAY,
    91 * DAY,
    182 * DAY,
    364 * DAY,
    728 * DAY,
    1820 * DAY,
];
const STEPS_MONTHS: [i64; 7] = [1, 2, 3, 6, 12, 24, 60];
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const MAX_LABELS: i64 = 8;

/// Months since 1970-01 of the month starting at `ms`.
fn month_index(ms: i64) -> i64 {
    let (y, m, _) = hive_core::time::civil_from_days(ms.div_euclid(DAY));
    (y - 1970) * 12 + i64::from(m) - 1
}

fn month_start(index: i64) -> i64 {
    let (y, m) = (1970 + index.div_euclid(12), index.rem_euclid(12) + 1);
    hive_core::time::days_from_civil(y, m as u32, 1) * DAY
}

/// The x labels' bucket starts: round times (whole hours, days, Mondays,
/// months) evenly spaced over `[d0, d1]`, at most [`MAX_LABELS`].
fn x_ticks(bucket: Bucket, d0: i64, d1: i64) -> Vec<i64> {
    if d0 >= d1 {
        return vec![d0];
    }
    match bucket.fixed() {
        Some((width, _)) => {
            let step = STEPS_MS
                .into_iter()
                .filter(|s| s % width == 0)
                // (d1 - d0) / s + 1 labels
                .find(|s| (d1 - d0) / s < MAX_LABELS)
                .unwrap_or_else(|| ((d1 - d0) / (MAX_LABELS - 1) / width + 1) * width);
            // Weeks and their multiples start on Mondays; the rest on the
            // epoch's round times.
            // (1970-01-05 was the first Monday after the epoch.)
            let offset = if step % (7 * DAY) == 0 { 4 * DAY } else { 0 };
            let first = offset + (d0 - offset).div_euclid(step) * step;
            let first = if first < d0 { first + step } else { first };
            (0..)
                .map(|k| first + k * step)
                .take_while(|t| *t <= d1)
                .collect()
        }
        None => {
            let (m0, m1) = (month_index(d0), month_index(d1));
            let step = STEPS_MONTHS
                .into_iter()
                .find(|s| (m1 - m0) / s < MAX_LABELS)
                .unwrap_or((m1 - m0) / (MAX_LABELS - 1) + 1);
            let first = m0 + (step - m0.rem_euclid(step)) % step;
            (0..)
                .map(|k| first + k * step)
                .take_while(|m| *m <= m1)
                .map(month_start)
                .collect()
        }
    }
}

/// The runs a series is drawn as, each a list of (bucket, value): breaks
/// where buckets are missing, or zeros there when the frame says so (two
/// vertices a gap, whatever its length).
fn runs(points: &[Point], frame: &Frame, d0: i64, d1: i64) -> Vec<Vec<(i64, f64)>> {
    let bucket = frame.bucket;
    let mut out: Vec<Vec<(i64, f64)>> = Vec::new();
    let mut run: Vec<(i64, f64)> = Vec::new();
    // The bucket the line expects next.
    let mut expected = if frame.zero_when_empty {
        Some(d0)
    } else {
        None
    };
    for p in points {
        if let Some(e) = expected
            && p.bucket > e
        {
            if frame.zero_when_empty {
                let before = bucket.floor(p.bucket - 1);
                run.push((e, 0.0));
                if before > e {
                    run.push((before, 0.0));
                }
            } else if !run.is_empty() {
                out.push(std::mem::take(&mut run));
            }
        }
        run.push((p.bucket, p.value));
        expected = Some(bucket.next(p.bucket));
    }
    if frame.zero_when_empty
        && let Some(e) = expected
        && e <= d1
        && !run.is_empty()
    {
        run.push((e, 0.0));
        if d1 > e {
            run.push((d1, 0.0));
        }
    }
    if !run.is_empty() {
        out.push(run);
    }
    out
}

/// [`chart`] with a dashed horizontal line at `threshold` (an alert's),
/// kept inside the y axis.
pub fn chart_with(series: &[Series], frame: &Frame, title: &str, threshold: Option<f64>) -> String {
    let bucket = frame.bucket;
    let at = |p: &Point| p.bucket.clamp(FIRST_MS, LAST_MS);
    let points = series.iter().flat_map(|s| s.points.iter());
    let (mut t0, mut t1, mut lo, mut hi) = (i64::MAX, i64::MIN, 0.0f64, 0.0f64);
    for p in points {
        t0 = t0.min(at(p));
        t1 = t1.max(at(p));
        lo = lo.min(p.value);
        hi = hi.max(p.value);
    }
    let threshold = threshold.filter(|t| t.is_finite());
    if let Some(t) = threshold {
        lo = lo.min(t);
        hi = hi.max(t);
    }
    let mut out = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape(title)
    );
    if t0 > t1 {
        out.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" class=\"empty\">No data in this range</text></svg>",
            W / 2.0,
            H / 2.0
        ));
        return out;
    }
    if hi == lo {
        hi = lo + 1.0;
    }
    let (lo, hi, step) = nice_axis(lo, hi);
    // The x axis spans the asked range (from its first bucket, or the
    // first value for all time, to the bucket of its end or now), and the
    // values wherever a wrong clock put them.
    let (d0, d1) = if bucket == Bucket::Total {
        (t0, t1)
    } else {
        (
            frame
                .from
                .map_or(t0, |f| bucket.floor(f.clamp(FIRST_MS, LAST_MS)).min(t0)),
            bucket.floor(frame.to.clamp(FIRST_MS, LAST_MS)).max(t1),
        )
    };
    let span = (d1 - d0).max(1) as f64;
    let x = |t: i64| {
        if d1 == d0 {
            LEFT + (W - LEFT - RIGHT) / 2.0
        } else {
            LEFT + (t - d0) as f64 / span * (W - LEFT - RIGHT)
        }
    };
    let y = |v: f64| TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM);
    // Axes and y ticks.
    out.push_str(&format!(
        "<g class=\"axis\"><line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{}\"/><line x1=\"{LEFT}\" y1=\"{0}\" x2=\"{}\" y2=\"{0}\"/>",
        H - BOTTOM,
        W - RIGHT
    ));
    let ticks = ((hi - lo) / step).round() as i64;
    for i in 0..=ticks.clamp(1, 12) {
        let v = lo + step * i as f64;
        let yy = y(v);
        out.push_str(&format!(
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{yy:.1}\" x2=\"{}\" y2=\"{yy:.1}\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            yy + 4.0,
            escape(&tick_label(v, step))
        ));
    }
    let labels = if bucket == Bucket::Total {
        vec![t0]
    } else {
        x_ticks(bucket, d0, d1)
    };
    for b in labels {
        out.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            x(b),
            H - BOTTOM + 18.0,
            escape(&time_label(b, bucket))
        ));
    }
    out.push_str("</g>");
    if let Some(t) = threshold {
        let yy = y(t);
        out.push_str(&format!(
            "<g class=\"threshold\"><line x1=\"{LEFT}\" y1=\"{yy:.1}\" x2=\"{}\" y2=\"{yy:.1}\" stroke=\"#c0392b\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"><title>threshold {}</title></line><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">threshold {}</text></g>",
            W - RIGHT,
            escape(&num(t)),
            W - RIGHT,
            yy - 5.0,
            escape(&num(t))
        ));
    }
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let name = label(s);
        let mut points = s.points.clone();
        points.sort_by_key(|p| p.bucket);
        let placed: Vec<Point> = points
            .iter()
            .map(|p| Point {
                bucket: at(p),
                ..p.clone()
            })
            .collect();
        let mut d = String::new();
        for run in runs(&placed, frame, d0, d1) {
            for (k, (b, v)) in run.iter().enumerate() {
                let cmd = if k == 0 { 'M' } else { 'L' };
                d.push_str(&format!("{cmd}{:.1},{:.1}", x(*b), y(*v)));
            }
        }
        out.push_str(&format!(
            "<g class=\"series\"><path fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" d=\"{d}\"/>"
        ));
        for p in &points {
            out.push_str(&format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{color}\"><title>{} · {} · {} ({} values)</title></circle>",
                x(at(p)),
                y(p.value),
                escape(&name),
                escape(&format_rfc3339_ms(p.bucket)),
                escape(&num(p.value)),
                p.count
            ));
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// A legend (HTML, escaped): colour and name per series.
pub fn legend(series: &[Series]) -> String {
    let mut out = String::from("<ul class=\"legend\">");
    for (i, s) in series.iter().enumerate() {
        out.push_str(&format!(
            "<li><span class=\"swatch c{}\"></span>{}</li>",
            i % COLORS.len(),
            escape(&label(s))
        ));
    }
    out.push_str("</ul>");
    out
}

#[cfg(test)]
mod tests {
    use hive_core::chart::{Point, Series};

    use super::*;

    fn frame(bucket: Bucket, from: Option<i64>, to: i64, zero_when_empty: bool) -> Frame {
        Frame {
            bucket,
            from,
            to,
            zero_when_empty,
        }
    }

    fn series(points: &[(i64, f64)]) -> Vec<Series> {
        vec![Series {
            group: None,
            points: points
                .iter()
                .map(|&(bucket, value)| Point {
                    bucket,
                    value,
                    count: 1,
                })
                .collect(),
        }]
    }

    /// The drawn path's vertices, in the chart's own coordinates, and
    /// where each run starts (`M`).
    fn path(svg: &str) -> Vec<(char, f64, f64)> {
        let d = svg
            .split(" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let mut out = Vec::new();
        let mut cmd = ' ';
        let mut text = String::new();
        for c in d.chars().chain(std::iter::once('M')) {
            if c == 'M' || c == 'L' {
                if let Some((x, y)) = text.split_once(',') {
                    out.push((cmd, x.parse().unwrap(), y.parse().unwrap()));
                }
                cmd = c;
                text.clear();
            } else {
                text.push(c);
            }
        }
        out
    }

    /// The x axis's labels.
    fn x_labels(svg: &str) -> Vec<String> {
        svg.split("<text ")
            .filter(|t| t.contains(&format!("y=\"{}\"", H - BOTTOM + 18.0)))
            .map(|t| {
                t.split('>')
                    .nth(1)
                    .unwrap()
                    .split('<')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    const X0: f64 = LEFT;
    const X1: f64 = W - RIGHT;

    #[test]
    fn the_x_axis_spans_the_asked_range() {
        // Seven days asked per day, one value on the fourth: the axis runs
        // from the first day to the last, not around the one value.
        let day = DAY;
        let f = frame(Bucket::Day, Some(10 * day + 5), 16 * day + 7, false);
        let svg = chart(&series(&[(13 * day, 4.0)]), &f, "t");
        let p = path(&svg);
        assert_eq!(p.len(), 1);
        assert!((p[0].1 - (X0 + (X1 - X0) * 3.0 / 6.0)).abs() < 0.1, "{p:?}");
        assert_eq!(
            x_labels(&svg),
            [
                "1970-01-11",
                "1970-01-12",
                "1970-01-13",
                "1970-01-14",
                "1970-01-15",
                "1970-01-16",
                "1970-01-17"
            ]
        );
        // All time: from the first value to now.
        let f = frame(Bucket::Day, None, 16 * day, false);
        let p = path(&chart(&series(&[(13 * day, 4.0)]), &f, "t"));
        assert!((p[0].1 - X0).abs() < 0.1, "{p:?}");
        // A value past the range's end (a wrong clock) still shows.
        let f = frame(Bucket::Day, Some(10 * day), 12 * day, false);
        let p = path(&chart(&series(&[(13 * day, 4.0)]), &f, "t"));
        assert!((p[0].1 - X1).abs() < 0.1, "{p:?}");
    }

    #[test]
    fn any_range_a_query_can_name_is_drawn() {
        use serde_json::json;
        let s = series(&[(3 * DAY, 4.0)]);
        for range in [
            json!({"$gte": -1e300, "$lte": 1e300}),
            json!({"$gte": f64::MAX, "$lte": -f64::MAX}),
            json!({"$gte": 5 * DAY, "$lte": DAY}),
        ] {
            for (bucket, agg) in [("minute", "count"), ("month", "count"), ("week", "avg")] {
                let q = ChartQuery::from_json(
                    &json!({"aggregation": agg, "metric": "metrics.x", "bucket": bucket, "dateRange": range}),
                    0.0,
                )
                .unwrap();
                let svg = chart(&s, &Frame::of(&q, 0), "t");
                assert!(svg.contains("<circle"), "{range} {bucket}: {svg}");
                assert!(
                    x_labels(&svg).len() <= MAX_LABELS as usize,
                    "{range} {bucket}"
                );
            }
        }
    }

    #[test]
    fn values_at_any_time_are_drawn() {
        for (bucket, zero) in [
            (Bucket::Week, true),
            (Bucket::Month, false),
            (Bucket::Minute, true),
        ] {
            let s = series(&[(i64::MIN + 5, 1.0), (0, 2.0), (i64::MAX - 5, 3.0)]);
            let svg = chart(&s, &frame(bucket, Some(i64::MIN), i64::MAX, zero), "t");
            assert_eq!(svg.matches("<circle").count(), 3, "{svg}");
            let p = path(&svg);
            assert!(
                p.iter().all(|v| (X0 - 0.1..=X1 + 0.1).contains(&v.1)),
                "{p:?}"
            );
        }
    }

    #[test]
    fn labels_are_round_times_and_few() {
        // A week per hour: a label a day, at midnight.
        let labels = x_ticks(Bucket::Hour, 5 * HOUR, 7 * DAY + 5 * HOUR);
        assert_eq!(labels.len(), 7, "{labels:?}");
        assert!(labels.iter().all(|t| t % DAY == 0), "{labels:?}");
        // A year per day: labels on Mondays, weeks apart.
        let labels = x_ticks(Bucket::Day, 0, 365 * DAY);
        assert!(
            labels.len() <= MAX_LABELS as usize && labels.len() >= 4,
            "{labels:?}"
        );
        assert!(
            labels.iter().all(|t| Bucket::Week.floor(*t) == *t),
            "{labels:?}"
        );
        // Months: on the first of a month, a quarter apart over two years.
        let labels = x_ticks(Bucket::Month, 0, month_start(23));
        assert!(labels.len() <= MAX_LABELS as usize, "{labels:?}");
        assert!(
            labels.iter().all(|t| Bucket::Month.floor(*t) == *t),
            "{labels:?}"
        );
        assert_eq!(labels[0], 0);
        // Minutes over thirty years stay a handful of labels.
        let labels = x_ticks(Bucket::Minute, 0, 30 * 365 * DAY);
        assert!(
            labels.len() <= MAX_LABELS as usize && labels.len() >= 2,
            "{labels:?}"
        );
        // One bucket: one label.
        assert_eq!(x_ticks(Bucket::Hour, HOUR, HOUR), [HOUR]);
    }

    #[test]
    fn a_count_drops_to_zero_where_nothing_happened() {
        // Hours 0..=10 asked; counts at 2, 3 and 7.
        let f = frame(Bucket::Hour, Some(0), 10 * HOUR, true);
        let s = series(&[(2 * HOUR, 5.0), (3 * HOUR, 6.0), (7 * HOUR, 2.0)]);
        let p = path(&chart(&s, &f, "t"));
        let at = |h: f64| X0 + (X1 - X0) * h / 10.0;
        let xs: Vec<f64> = p.iter().map(|v| v.1).collect();
        let want = [0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 7.0, 8.0, 10.0].map(at);
        assert_eq!(xs.len(), want.len(), "{p:?}");
        for (x, w) in xs.iter().zip(want) {
            assert!((x - w).abs() < 0.1, "{p:?}");
        }
        // One run, and the zeros sit on the axis's floor.
        assert_eq!(p.iter().filter(|v| v.0 == 'M').count(), 1);
        let floor = H - BOTTOM;
        for i in [0, 1, 4, 5, 7, 8] {
            assert!((p[i].2 - floor).abs() < 0.1, "{i}: {p:?}");
        }
        // Circles only for the values themselves.
        assert_eq!(chart(&s, &f, "t").matches("<circle").count(), 3);
    }

    #[test]
    fn an_average_breaks_where_it_has_no_value() {
        let f = frame(Bucket::Hour, Some(0), 10 * HOUR, false);
        let s = series(&[
            (2 * HOUR, 5.0),
            (3 * HOUR, 6.0),
            (7 * HOUR, 2.0),
            (8 * HOUR, 1.0),
        ]);
        let p = path(&chart(&s, &f, "t"));
        let cmds: String = p.iter().map(|v| v.0).collect();
        assert_eq!(cmds, "MLML", "two runs, nothing drawn between them: {p:?}");
        // Months are uneven but consecutive: no break.
        let f = frame(Bucket::Month, None, month_start(2), false);
        let s = series(&[
            (month_start(0), 1.0),
            (month_start(1), 2.0),
            (month_start(2), 3.0),
        ]);
        let cmds: String = path(&chart(&s, &f, "t")).iter().map(|v| v.0).collect();
        assert_eq!(cmds, "MLL");
    }

    #[test]
    fn escapes_group_names_and_titles() {
        let s = vec![Series {
            group: Some("<script>alert(1)</script>".into()),
            points: vec![Point {
                bucket: 0,
                value: 1.5,
                count: 2,
            }],
        }];
        let svg = chart(&s, &frame(Bucket::Hour, None, 0, false), "a \"title\" <b>");
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("<title>"));
        assert!(!legend(&s).contains("<script>"));
        assert!(chart(&[], &frame(Bucket::Day, None, 0, true), "x").contains("No data"));
    }

    #[test]
    fn a_threshold_is_a_dashed_line_inside_the_axis() {
        let s = vec![Series {
            group: None,
            points: (0..3)
                .map(|i| Point {
                    bucket: i * 3_600_000,
                    value: 10.0 + i as f64,
                    count: 1,
                })
                .collect(),
        }];
        // Above every value: the axis grows to show it.
        let f = frame(Bucket::Hour, None, 0, false);
        let svg = chart_with(&s, &f, "t", Some(250.0));
        assert!(svg.contains("class=\"threshold\""));
        assert!(svg.contains("stroke-dasharray"));
        assert!(svg.contains(">threshold 250<"), "{svg}");
        assert!(svg.contains(">300<"), "the y axis reaches past it: {svg}");
        // None, or not a number: no line.
        assert!(!chart_with(&s, &f, "t", None).contains("threshold"));
        assert!(!chart_with(&s, &f, "t", Some(f64::NAN)).contains("threshold"));
    }

    #[test]
    fn axes_use_round_steps() {
        let ticks = |lo: f64, hi: f64| {
            let (low, high, step) = nice_axis(lo, hi);
            let n = ((high - low) / step).round() as i64;
            (0..=n)
                .map(|i| tick_label(low + step * i as f64, step))
                .collect::<Vec<_>>()
        };
        assert_eq!(ticks(0.0, 242.0), ["0", "100", "200", "300"]);
        assert_eq!(
            ticks(0.0, 0.0070),
            ["0.000", "0.002", "0.004", "0.006", "0.008"]
        );
        assert_eq!(ticks(0.0, 1.0), ["0.00", "0.25", "0.50", "0.75", "1.00"]);
        assert_eq!(
            ticks(-3.0, 7.0),
            ["-5.0", "-2.5", "0.0", "2.5", "5.0", "7.5"]
        );
        assert_eq!(ticks(0.0, 45_000.0), ["0", "20.0k", "40.0k", "60.0k"]);
        let (low, high, step) = nice_axis(850.0, 1_850.0);
        assert!(
            low <= 850.0 && high >= 1_850.0 && step == 250.0,
            "{low} {high} {step}"
        );
    }
}
