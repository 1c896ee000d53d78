//! `ExportMetricsServiceRequest` (protobuf and OTLP/JSON): the number of
//! data points, for an OTLP answer that says how many were not stored.

use prost::Message;
use serde_json::Value;

use crate::OtlpError;
use crate::json::{object, take, take_array};
use crate::path::Path;
use crate::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::proto::metrics::v1::metric::Data;
use crate::protobuf::decode_error;

type Result<T> = std::result::Result<T, OtlpError>;

pub(crate) fn count_protobuf(body: &[u8]) -> Result<u64> {
    let request = ExportMetricsServiceRequest::decode(body).map_err(decode_error)?;
    let mut n = 0u64;
    for rm in &request.resource_metrics {
        for sm in &rm.scope_metrics {
            for metric in &sm.metrics {
                n += match &metric.data {
                    Some(
                        Data::Gauge(d)
                        | Data::Sum(d)
                        | Data::Histogram(d)
                        | Data::ExponentialHistogram(d)
                        | Data::Summary(d),
                    ) => d.data_points.len() as u64,
                    None => 0,
                };
            }
        }
    }
    Ok(n)
}

/// The kinds of metric data (camelCase, snake_case), each holding
/// `dataPoints`.
const KINDS: [(&str, &str); 5] = [
    ("gauge", "gauge"),
    ("sum", "sum"),
    ("histogram", "histogram"),
    ("exponentialHistogram", "exponential_histogram"),
    ("summary", "summary"),
];

pub(crate) fn count_json(body: &[u8]) -> Result<u64> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let root: Value = serde_json::from_slice(body).map_err(|e| OtlpError::Json(e.to_string()))?;
    let path = Path::ROOT;
    let mut root = object(root, &path)?;
    let (resource_metrics, key) =
        take_array(&mut root, "resourceMetrics", "resource_metrics", &path)?;
    let rm_path = path.key(key);
    let mut n = 0u64;
    for (ri, rm) in resource_metrics.into_iter().enumerate() {
        let rm_i = rm_path.index(ri);
        let mut rm = object(rm, &rm_i)?;
        let (scope_metrics, key) = take_array(&mut rm, "scopeMetrics", "scope_metrics", &rm_i)?;
        let sm_path = rm_i.key(key);
        for (si, sm) in scope_metrics.into_iter().enumerate() {
            let sm_i = sm_path.index(si);
            let mut sm = object(sm, &sm_i)?;
            let (metrics, key) = take_array(&mut sm, "metrics", "metrics", &sm_i)?;
            let metrics_path = sm_i.key(key);
            for (mi, metric) in metrics.into_iter().enumerate() {
                let m_i = metrics_path.index(mi);
                let mut metric = object(metric, &m_i)?;
                for (camel, snake) in KINDS {
                    if let Some(data) = take(&mut metric, camel, snake) {
                        let data_path = m_i.key(camel);
                        let mut data = object(data, &data_path)?;
                        let (points, _) =
                            take_array(&mut data, "dataPoints", "data_points", &data_path)?;
                        n += points.len() as u64;
                        break;
                    }
                }
            }
        }
    }
    Ok(n)
}
