"""Session-enrichment guide: "Modern Signature (Recommended)".

Through ``tracer.enrich_session`` (keyword-only form).
"""
import json

from honeyhive import HoneyHiveTracer

tracer = HoneyHiveTracer.init(project="my-app", session_name="modern-signature-demo")

# New style: keyword-only arguments
tracer.enrich_session(
    session_id="sess_abc123",  # Optional, defaults to active session
    metadata={
        "user_id": "user_456",
        "tier": "premium",
        "region": "us-east"
    },
    metrics={
        "total_cost": 0.045
    }
)

print("EXAMPLE_RESULT " + json.dumps({"session_ids": {
    "specific": "sess_abc123",
    "tracer": tracer.session_id,
}}))
