"""Enrichments overview: "Global vs Instance Methods".

The documented top-level calls run outside any span (they are no-ops there);
the same calls inside a ``@trace`` function enrich that function's span.
"""
import json
import os

from honeyhive import HoneyHiveTracer, enrich_span, trace

# Global function — works within any @trace context
enrich_span({"user_id": "user_123"})

# Instance method — recommended for production
tracer = HoneyHiveTracer.init(
    api_key=os.getenv("HH_API_KEY"),
    project=os.getenv("HH_PROJECT")
)
tracer.enrich_span({"user_id": "user_123"})
tracer.enrich_session({"tenant_id": "acme"})


@trace
def handle_request():
    enrich_span({"user_id": "user_123"})        # global function
    tracer.enrich_span({"via": "instance"})     # instance method
    return "done"


handle_request()

tracer.flush()
print("EXAMPLE_RESULT " + json.dumps({"session_ids": {"tracer": tracer.session_id}}))
