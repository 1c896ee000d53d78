//! OTLP/HTTP protobuf span exporter to `{server_url}/opentelemetry/v1/traces`.
//!
//! Runs on the batch span processor's own thread, so its blocking HTTP calls
//! never touch the caller. Transient failures (connection errors, 429, 5xx)
//! are retried with backoff, honouring `Retry-After`, within a time budget.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use prost::Message;

use crate::http::{HttpClient, Method, Outcome, backoff};
use crate::stats::{Counters, bump_and_should_log};

/// Exports spans as OTLP/HTTP protobuf to a HoneyHive-compatible server.
#[derive(Debug)]
pub struct OtlpExporter {
    client: HttpClient,
    url: String,
    resource: ResourceAttributesWithSchema,
    retry_budget: Duration,
    counters: Arc<Counters>,
}

impl OtlpExporter {
    pub(crate) fn new(
        client: HttpClient,
        server_url: &str,
        retry_budget: Duration,
        counters: Arc<Counters>,
    ) -> Self {
        OtlpExporter {
            client,
            url: format!("{server_url}/opentelemetry/v1/traces"),
            resource: ResourceAttributesWithSchema::default(),
            retry_budget,
            counters,
        }
    }

    fn export_blocking(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let count = batch.len() as u64;
        let request = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(batch, &self.resource),
        };
        let body = request.encode_to_vec();
        let deadline = Instant::now() + self.retry_budget;
        let mut attempt = 0;
        loop {
            match self
                .client
                .send(Method::Post, &self.url, "application/x-protobuf", &body)
            {
                Outcome::Ok(_) => {
                    self.counters.spans_exported.fetch_add(count, Relaxed);
                    return Ok(());
                }
                Outcome::Transient {
                    reason,
                    retry_after,
                } => {
                    let wait = retry_after.unwrap_or_else(|| {
                        backoff(attempt, Duration::from_millis(200), Duration::from_secs(5))
                    });
                    if Instant::now() + wait > deadline {
                        return self.fail(count, reason);
                    }
                    self.counters.retried.fetch_add(1, Relaxed);
                    tracing::debug!(%reason, "honeyhive: span export failed; retrying");
                    attempt += 1;
                    std::thread::sleep(wait);
                }
                Outcome::Permanent { reason } => return self.fail(count, reason),
            }
        }
    }

    fn fail(&self, count: u64, reason: String) -> OTelSdkResult {
        if bump_and_should_log(&self.counters.spans_dropped, count) {
            tracing::warn!(
                %reason,
                spans = count,
                url = %self.url,
                "honeyhive: span export failed; spans dropped"
            );
        }
        Err(OTelSdkError::InternalFailure(reason))
    }
}

impl SpanExporter for OtlpExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let result = self.export_blocking(batch);
        std::future::ready(result)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.into();
    }
}
