//! Charts drawn as SVG on the server: axes with ticks, one line per
//! series with a point per bucket (each with a `<title>` for its value on
//! hover) and a legend. Every text is escaped.

use hive_core::chart::{Bucket, Series};
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

/// An SVG chart (markup ready to embed; all text escaped).
pub fn chart(series: &[Series], bucket: Bucket, title: &str) -> String {
    chart_with(series, bucket, title, None)
}

/// [`chart`] with a dashed horizontal line at `threshold` (an alert's),
/// kept inside the y axis.
pub fn chart_with(
    series: &[Series],
    bucket: Bucket,
    title: &str,
    threshold: Option<f64>,
) -> String {
    let points = series.iter().flat_map(|s| s.points.iter());
    let (mut t0, mut t1, mut lo, mut hi) = (i64::MAX, i64::MIN, 0.0f64, 0.0f64);
    for p in points {
        t0 = t0.min(p.bucket);
        t1 = t1.max(p.bucket);
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
    let span = (t1 - t0).max(1) as f64;
    let x = |t: i64| {
        if t1 == t0 {
            LEFT + (W - LEFT - RIGHT) / 2.0
        } else {
            LEFT + (t - t0) as f64 / span * (W - LEFT - RIGHT)
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
    // x ticks: up to 6 labels.
    let mut buckets: Vec<i64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.bucket))
        .collect();
    buckets.sort_unstable();
    buckets.dedup();
    let step = buckets.len().div_ceil(6).max(1);
    for (i, b) in buckets.iter().enumerate() {
        if i % step == 0 {
            out.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                x(*b),
                H - BOTTOM + 18.0,
                escape(&time_label(*b, bucket))
            ));
        }
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
        let path: Vec<String> = s
            .points
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.bucket), y(p.value)))
            .collect();
        out.push_str(&format!(
            "<g class=\"series\"><polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            path.join(" ")
        ));
        for p in &s.points {
            out.push_str(&format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{color}\"><title>{} · {} · {} ({} values)</title></circle>",
                x(p.bucket),
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
        let svg = chart(&s, Bucket::Hour, "a \"title\" <b>");
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("<title>"));
        assert!(!legend(&s).contains("<script>"));
        assert!(chart(&[], Bucket::Day, "x").contains("No data"));
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
        let svg = chart_with(&s, Bucket::Hour, "t", Some(250.0));
        assert!(svg.contains("class=\"threshold\""));
        assert!(svg.contains("stroke-dasharray"));
        assert!(svg.contains(">threshold 250<"), "{svg}");
        assert!(svg.contains(">300<"), "the y axis reaches past it: {svg}");
        // None, or not a number: no line.
        assert!(!chart_with(&s, Bucket::Hour, "t", None).contains("threshold"));
        assert!(!chart_with(&s, Bucket::Hour, "t", Some(f64::NAN)).contains("threshold"));
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
