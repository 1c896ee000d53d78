"""Enrichments overview: session enrichment with the tracer's instance method."""
import json
import os

from honeyhive import HoneyHiveTracer

tracer = HoneyHiveTracer.init(
    api_key=os.getenv("HH_API_KEY"),
    project=os.getenv("HH_PROJECT")
)

tracer.enrich_session({
    "tenant_id": "acme_corp",
    "user_tier": "premium",
    "app_version": "2.1.0"
})

# You can enrich a specific session by ID, which is useful in distributed systems:
tracer.enrich_session(
    session_id="sess_abc123",
    metadata={"completed": True}
)

print("EXAMPLE_RESULT " + json.dumps({"session_ids": {
    "tracer": tracer.session_id,
    "specific": "sess_abc123",
}}))
