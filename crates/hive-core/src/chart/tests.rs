use serde_json::json;

use super::*;
use crate::time::parse_datetime_ms;

fn ms(s: &str) -> i64 {
    parse_datetime_ms(s).unwrap() as i64
}

#[test]
fn bucket_edges_in_utc() {
    // (bucket, instant, expected start, expected next start)
    let cases = [
        (
            Bucket::Minute,
            "2024-03-10T12:34:59.999Z",
            "2024-03-10T12:34:00Z",
            "2024-03-10T12:35:00Z",
        ),
        (
            Bucket::Minute,
            "2024-03-10T12:35:00Z",
            "2024-03-10T12:35:00Z",
            "2024-03-10T12:36:00Z",
        ),
        (
            Bucket::Hour,
            "2024-03-10T23:59:59.999Z",
            "2024-03-10T23:00:00Z",
            "2024-03-11T00:00:00Z",
        ),
        // An offset is converted to UTC first: 01:30+02:00 is 23:30Z the day before.
        (
            Bucket::Day,
            "2024-03-11T01:30:00+02:00",
            "2024-03-10T00:00:00Z",
            "2024-03-11T00:00:00Z",
        ),
        (
            Bucket::Day,
            "2024-02-29T00:00:00Z",
            "2024-02-29T00:00:00Z",
            "2024-03-01T00:00:00Z",
        ),
        // ISO weeks start on Monday: 2024-03-10 is a Sunday.
        (
            Bucket::Week,
            "2024-03-10T23:59:59Z",
            "2024-03-04T00:00:00Z",
            "2024-03-11T00:00:00Z",
        ),
        (
            Bucket::Week,
            "2024-03-11T00:00:00Z",
            "2024-03-11T00:00:00Z",
            "2024-03-18T00:00:00Z",
        ),
        (
            Bucket::Week,
            "1970-01-01T00:00:00Z",
            "1969-12-29T00:00:00Z",
            "1970-01-05T00:00:00Z",
        ),
        (
            Bucket::Month,
            "2024-02-29T23:59:59.999Z",
            "2024-02-01T00:00:00Z",
            "2024-03-01T00:00:00Z",
        ),
        (
            Bucket::Month,
            "2023-12-31T23:00:00Z",
            "2023-12-01T00:00:00Z",
            "2024-01-01T00:00:00Z",
        ),
        (
            Bucket::Month,
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00Z",
            "2024-02-01T00:00:00Z",
        ),
    ];
    for (b, at, start, next) in cases {
        assert_eq!(b.floor(ms(at)), ms(start), "{b:?} floor of {at}");
        assert_eq!(b.next(b.floor(ms(at))), ms(next), "{b:?} next of {at}");
        assert_eq!(
            b.floor(ms(start)),
            ms(start),
            "{b:?} start is its own floor"
        );
        assert_eq!(
            b.floor(ms(next) - 1),
            ms(start),
            "{b:?} last ms of the bucket"
        );
    }
}

/// Any time a client can send (a start time of ±1e300 is kept as the
/// nearest i64) has a bucket, in order, without overflowing.
#[test]
fn buckets_of_any_time() {
    let times = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
    for b in [
        Bucket::Minute,
        Bucket::Hour,
        Bucket::Day,
        Bucket::Week,
        Bucket::Month,
    ] {
        let mut last = i64::MIN;
        for t in times {
            let f = b.floor(t);
            assert!(f >= last, "{b:?}: floors in order ({t})");
            assert!(b.next(f) >= f, "{b:?}: next of {t}");
            assert_eq!(b.floor(f), f, "{b:?}: a start is its own floor ({t})");
            last = f;
        }
    }
}

#[test]
fn nearest_rank_percentiles() {
    let v: Vec<f64> = (1..=10).map(f64::from).collect();
    // rank = ceil(p/100 * 10)
    assert_eq!(percentile(&v, 50), Some(5.0));
    assert_eq!(percentile(&v, 75), Some(8.0));
    assert_eq!(percentile(&v, 90), Some(9.0));
    assert_eq!(percentile(&v, 95), Some(10.0));
    assert_eq!(percentile(&v, 99), Some(10.0));
    assert_eq!(percentile(&[7.0], 1), Some(7.0));
    assert_eq!(percentile(&[], 50), None);
    let mut odd = vec![3.0, 1.0, 2.0];
    assert_eq!(aggregate(Aggregation::Percentile(50), &mut odd), Some(2.0));
}

#[test]
fn parse_and_round_trip() {
    let q = ChartQuery::from_json(
        &json!({"metric": "metadata.cost", "aggregation": "sum", "bucket": "day",
                "groupBy": "user_properties.plan",
                "filters": "[{\"field\":\"event_type\",\"operator\":\"is\",\"value\":\"model\",\"type\":\"string\"}]",
                "dateRange": {"$gte": "2024-01-01T00:00:00Z"}, "level": "session"}),
        0.0,
    )
    .unwrap();
    assert_eq!(q.aggregation, Aggregation::Sum);
    assert_eq!(q.bucket, Bucket::Day);
    assert_eq!(q.level, ChartLevel::Session);
    assert_eq!(q.filters.len(), 1);
    assert_eq!(ChartQuery::from_json(&q.to_json(), 0.0).unwrap(), q);

    for bad in [
        json!({"aggregation": "avg"}),
        json!({"metric": "metrics.x", "aggregation": "p42"}),
        json!({"metric": "metrics.x", "bucket": "year"}),
        json!({"metric": "nope.x"}),
        json!({"groupBy": "metadata"}),
    ] {
        assert!(ChartQuery::from_json(&bad, 0.0).is_err(), "{bad}");
    }
}

#[test]
fn errors_name_the_field_and_the_place_as_sent() {
    let message = |v: Value| ChartQuery::from_json(&v, 0.0).unwrap_err().to_string();
    // Null items are skipped, but do not shift the place of the bad one.
    let m = message(json!({"query": [null, 1]}));
    assert!(m.contains("query[1]:"), "{m}");
    let m =
        message(json!({"filters": [{"field": "event_type", "operator": "is", "value": "x"}, "y"]}));
    assert!(m.contains("filters[1]:"), "{m}");
    let m = message(json!({"query": "x"}));
    assert!(m.contains("query: a string that is not JSON"), "{m}");
    let m = message(json!({"dateRange": "{"}));
    assert!(m.contains("dateRange: a string that is not JSON"), "{m}");
    let m = message(json!({"query": {"a": 1}}));
    assert!(m.contains("query must be an array"), "{m}");
    // Nulls alone: no filter.
    let q = ChartQuery::from_json(&json!({"filters": [null]}), 0.0).unwrap();
    assert!(q.filters.is_empty());
}

#[test]
fn reference_groups_and_skips_non_numbers() {
    let ev = |t: &str, variant: Value, lat: Value| {
        json!({"event_id": "x", "session_id": "s", "event_type": "model",
               "start_time": ms(t), "metadata": {"variant": variant}, "metrics": {"latency_ms": lat}})
    };
    let events = vec![
        ev("2024-01-01T10:05:00Z", json!("a"), json!(100)),
        ev("2024-01-01T10:55:00Z", json!("a"), json!(300)),
        ev("2024-01-01T11:00:00Z", json!("a"), json!(50)),
        ev("2024-01-01T10:10:00Z", json!("b"), json!(7.5)),
        ev("2024-01-01T10:20:00Z", json!("b"), json!("slow")),
        ev("2024-01-01T10:30:00Z", Value::Null, json!(1)),
    ];
    let q = ChartQuery::from_json(
        &json!({"metric": "metrics.latency_ms", "aggregation": "avg", "bucket": "hour", "groupBy": "metadata.variant"}),
        0.0,
    )
    .unwrap();
    let s = reference(&q, &events);
    let h10 = ms("2024-01-01T10:00:00Z");
    let h11 = ms("2024-01-01T11:00:00Z");
    assert_eq!(s.len(), 3);
    assert_eq!(s[0].group.as_deref(), Some("a"));
    assert_eq!(
        s[0].points,
        vec![
            Point {
                bucket: h10,
                value: 200.0,
                count: 2
            },
            Point {
                bucket: h11,
                value: 50.0,
                count: 1
            }
        ]
    );
    assert_eq!(
        s[1].points,
        vec![Point {
            bucket: h10,
            value: 7.5,
            count: 1
        }]
    );
    assert_eq!(s[2].group, None);
}

proptest::proptest! {
    /// Cells that keep only totals give every aggregation but a percentile
    /// exactly as cells that keep every number do (the same bits: sums in
    /// the same order, negative zeros and all), counts included.
    #[test]
    fn totals_only_cells_equal_every_number(
        pushes in proptest::collection::vec(
            (0u8..3, 0i64..4, proptest::prop_oneof![
                proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL
                    | proptest::num::f64::ZERO | proptest::num::f64::NEGATIVE,
                proptest::strategy::Just(-0.0),
                proptest::strategy::Just(0.1),
            ]),
            0..60,
        ),
    ) {
        for agg in ["count", "sum", "avg", "min", "max", "p90"] {
            let q = ChartQuery::from_json(
                &json!({"metric": "metrics.latency_ms", "aggregation": agg, "bucket": "hour",
                        "groupBy": "metadata.variant"}),
                0.0,
            )
            .unwrap();
            let (mut every, mut totals) = (Cells::default(), Cells::for_query(&q));
            for &(group, bucket, value) in &pushes {
                let key = ((group > 0).then(|| group.to_string()), bucket * 3_600_000);
                every.push((key.clone(), value));
                totals.push((key, value));
            }
            let bits = |s: Vec<Series>| -> Vec<(Option<String>, i64, u64, u64)> {
                s.into_iter()
                    .flat_map(|s| {
                        let g = s.group;
                        s.points
                            .into_iter()
                            .map(move |p| (g.clone(), p.bucket, p.value.to_bits(), p.count))
                    })
                    .collect()
            };
            proptest::prop_assert_eq!(bits(every.finish(&q)), bits(totals.finish(&q)), "{}", agg);
        }
    }

    /// A store that adds alike events at once (`push_times`), or a group's
    /// numbers as their totals (`push_totals`), gets what pushing every
    /// number gives (integers, so the sums do not depend on their order).
    #[test]
    fn cells_pushed_in_groups_equal_every_number(
        groups in proptest::collection::vec(
            (0u8..3, 0i64..4, proptest::collection::vec((-1000i32..1000, 1u64..5), 1..6)),
            0..30,
        ),
    ) {
        for agg in ["count", "sum", "avg", "min", "max", "p90"] {
            let q = ChartQuery::from_json(
                &json!({"metric": "metrics.latency_ms", "aggregation": agg, "bucket": "hour"}),
                0.0,
            )
            .unwrap();
            let mut each = Cells::for_query(&q);
            let mut times = Cells::for_query(&q);
            let mut totals = Cells::for_query(&q);
            for (group, bucket, values) in &groups {
                let key = ((*group > 0).then(|| group.to_string()), bucket * 3_600_000);
                let (mut n, mut sum, mut min, mut max) = (0, 0.0, f64::INFINITY, f64::NEG_INFINITY);
                for &(v, copies) in values {
                    let v = f64::from(v);
                    for _ in 0..copies {
                        each.push((key.clone(), v));
                    }
                    times.push_times((key.clone(), v), copies);
                    n += copies;
                    sum += v * copies as f64;
                    min = min.min(v);
                    max = max.max(v);
                }
                totals.push_totals(key, n, sum, min, max);
            }
            let shown = |c: Cells| format!("{:?}", c.finish(&q));
            let want = shown(each);
            proptest::prop_assert_eq!(&shown(times), &want, "{}", agg);
            if agg != "p90" {
                proptest::prop_assert_eq!(&shown(totals), &want, "{}", agg);
            }
        }
    }

    /// Where an event counts, found in two steps (its cell without the
    /// metric, then the metric's number) as a store that totals metrics
    /// finds it, is where it counts in one.
    #[test]
    fn a_cell_is_its_key_and_its_number(
        variant in proptest::option::of(0u8..3),
        latency in proptest::option::of(-5i32..5),
        start in 0i64..10_000_000,
    ) {
        let mut e = json!({"event_type": "tool", "event_id": "e", "session_id": "s",
                           "start_time": start, "metadata": {}, "metrics": {}});
        if let Some(v) = variant {
            e["metadata"]["variant"] = json!(format!("v{v}"));
        }
        if let Some(l) = latency {
            e["metrics"]["latency_ms"] = json!(l);
        }
        let q = ChartQuery::from_json(
            &json!({"metric": "metrics.latency_ms", "aggregation": "sum", "bucket": "minute",
                    "groupBy": "metadata.variant",
                    "filters": [{"field": "metadata.variant", "operator": "is not", "value": "v0"}]}),
            0.0,
        )
        .unwrap();
        let two = Cells::cell_key(&q, &e, start).and_then(|k| Some((k, f64::from(latency?))));
        proptest::prop_assert_eq!(Cells::cell(&q, &e), two);
        proptest::prop_assert_eq!(Cells::cell(&q, &e), Cells::cell_starting(&q, &e, start));
    }
}
