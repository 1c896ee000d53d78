"""OTLP/gRPC with an independent client: the OpenTelemetry Python SDK's gRPC
exporter sends spans to ``hive serve``'s gRPC port; they are read back
through the export API."""

from __future__ import annotations

import uuid

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.resources import Resource

from conftest import sid_filter


def _provider(hive, key: str):
    exporter = OTLPSpanExporter(endpoint=f"http://{hive.grpc_addr}", insecure=True,
                                headers={"authorization": f"Bearer {key}"}, timeout=10)
    provider = TracerProvider(resource=Resource.create({"service.name": "grpc-compat"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_spans_over_grpc_become_events(hive):
    assert hive.grpc_addr, "hive serve did not report its OTLP/gRPC address"
    session_id = str(uuid.uuid4())
    provider, _ = _provider(hive, hive.admin_key)
    tracer = provider.get_tracer("compat.grpc")
    with tracer.start_as_current_span("agent.run") as root:
        root.set_attribute("honeyhive.session_id", session_id)
        root.set_attribute("honeyhive.project", "grpc-project")
        root.set_attribute("honeyhive_event_type", "chain")
        root.set_attribute("honeyhive_metadata.tenant", "acme")
        with tracer.start_as_current_span("llm.call") as child:
            child.set_attribute("honeyhive.session_id", session_id)
            child.set_attribute("honeyhive.project", "grpc-project")
            child.set_attribute("openinference.span.kind", "LLM")
            child.set_attribute("llm.model_name", "gpt-4o-mini")
            child.set_attribute("llm.token_count.total", 42)
            child.set_attribute("honeyhive_metrics.score", 0.75)
    provider.shutdown()

    events = hive.export([sid_filter(session_id)], project="grpc-project")
    by_name = {e["event_name"]: e for e in events}
    assert set(by_name) == {"session", "agent.run", "llm.call"}, sorted(by_name)
    root, child, session = by_name["agent.run"], by_name["llm.call"], by_name["session"]
    assert root["event_type"] == "chain"
    assert root["metadata"]["tenant"] == "acme"
    assert root["parent_id"] == session_id
    assert child["event_type"] == "model"
    assert child["parent_id"] == root["event_id"]
    assert child["config"]["model"] == "gpt-4o-mini"
    assert child["metadata"]["total_tokens"] == 42
    assert child["metrics"]["score"] == 0.75 and isinstance(child["metrics"]["score"], float)
    assert session["metadata"]["num_events"] == 2
    assert session["metadata"]["total_tokens"] == 42


def test_grpc_rejects_a_bad_key(hive):
    provider, exporter = _provider(hive, "hh_not_a_key")
    tracer = provider.get_tracer("compat.grpc")
    results = []
    original = exporter.export

    def recording_export(spans):
        result = original(spans)
        results.append(result)
        return result

    exporter.export = recording_export
    with tracer.start_as_current_span("rejected") as span:
        span.set_attribute("honeyhive.session_id", str(uuid.uuid4()))
    provider.shutdown()
    assert results == [SpanExportResult.FAILURE]
    assert hive.export([{"field": "event_name", "operator": "is", "value": "rejected", "type": "string"}]) == []
