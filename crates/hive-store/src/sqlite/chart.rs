//! Chart aggregation on SQLite: count/sum/avg/min/max in SQL, percentiles
//! from the values streamed in order, one (group, bucket) cell in memory
//! at a time.

use std::collections::BTreeMap;

use hive_core::chart::{ChartQuery, Point, Series, aggregate, finish};
use rusqlite::Connection;

use crate::Result;
use crate::query::compile_chart;

pub(super) fn run(c: &Connection, project_id: Option<&str>, q: &ChartQuery) -> Result<Vec<Series>> {
    let compiled = compile_chart(project_id, q);
    let mut stmt = c.prepare(&compiled.sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(compiled.params.iter()))?;
    let mut by_group: BTreeMap<Option<String>, Vec<Point>> = BTreeMap::new();
    if compiled.sorted_values {
        let mut cell: Option<(Option<String>, i64)> = None;
        let mut values: Vec<f64> = Vec::new();
        let mut flush = |cell: &Option<(Option<String>, i64)>, values: &mut Vec<f64>| {
            if let Some((g, b)) = cell {
                let count = values.len() as u64;
                if let Some(value) = aggregate(q.aggregation, values) {
                    by_group.entry(g.clone()).or_default().push(Point {
                        bucket: *b,
                        value,
                        count,
                    });
                }
            }
            values.clear();
        };
        while let Some(r) = rows.next()? {
            let key = (r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)?);
            if cell.as_ref() != Some(&key) {
                flush(&cell, &mut values);
                cell = Some(key);
            }
            values.push(r.get::<_, f64>(2)?);
        }
        flush(&cell, &mut values);
    } else {
        while let Some(r) = rows.next()? {
            let group: Option<String> = r.get(0)?;
            let value: Option<f64> = r.get(2)?;
            let Some(value) = value else { continue };
            by_group.entry(group).or_default().push(Point {
                bucket: r.get(1)?,
                value,
                count: r.get::<_, i64>(3)?.max(0) as u64,
            });
        }
    }
    Ok(finish(
        by_group
            .into_iter()
            .map(|(group, points)| Series { group, points })
            .collect(),
    ))
}
