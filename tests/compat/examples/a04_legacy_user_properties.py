"""Session-enrichment guide: "Legacy Signature" with ``user_properties``.

Through ``tracer.enrich_session`` (the global function of SDK 1.7.0 has no
``user_properties`` parameter).
"""
import json

from honeyhive import HoneyHiveTracer

tracer = HoneyHiveTracer.init(project="my-app", session_name="legacy-user-properties-demo")

# Old style: user_properties parameter
tracer.enrich_session(
    session_id="sess_abc123",
    user_properties={
        "tier": "premium",
        "region": "us-east"
    }
)
# Result: user_properties stored as a separate field in the backend

print("EXAMPLE_RESULT " + json.dumps({"session_ids": {
    "specific": "sess_abc123",
    "tracer": tracer.session_id,
}}))
