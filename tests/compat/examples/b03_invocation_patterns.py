"""Enrichments overview: "Invocation Patterns" (each form in its own span)."""
import json
import os

from honeyhive import HoneyHiveTracer, enrich_span, trace

tracer = HoneyHiveTracer.init(
    api_key=os.getenv("HH_API_KEY"),
    project=os.getenv("HH_PROJECT")
)


@trace
def pattern_simple_dict():
    enrich_span({
        "user_id": "user_12345",
        "feature": "chat"
    })


@trace
def pattern_kwargs():
    enrich_span(
        user_id="user_12345",
        feature="chat"
    )


@trace
def pattern_namespaces():
    # Organize data by type using named parameters
    enrich_span(
        metadata={"user_id": "user_12345", "feature": "chat"},
        metrics={"latency_ms": 150, "score": 0.95},
        user_properties={"plan": "premium"},
        feedback={"rating": 5}
    )


@trace
def pattern_extra_kwargs():
    # Extra keyword arguments are added to metadata automatically
    enrich_span(
        metadata={"user_id": "user_12345"},
        metrics={"score": 0.95},
        feature="chat",      # → metadata.feature
        priority="high"      # → metadata.priority
    )


pattern_simple_dict()
pattern_kwargs()
pattern_namespaces()
pattern_extra_kwargs()

tracer.flush()
print("EXAMPLE_RESULT " + json.dumps({"session_ids": {"tracer": tracer.session_id}}))
