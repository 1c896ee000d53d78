"""Session-enrichment guide: "Enrich Specific Session".

The documented keyword form goes through ``tracer.enrich_session`` (SDK 1.7.0's
global function has only the legacy signature). The target session was never
started: the id comes from elsewhere, as in the guide.
"""
import json

from honeyhive import HoneyHiveTracer

tracer = HoneyHiveTracer.init(project="my-app", session_name="specific-session-demo")

# Enrich a specific session (not necessarily the active one)
tracer.enrich_session(
    session_id="sess_abc123xyz",
    metadata={
        "experiment": "variant_b",
        "completed": True
    },
    metrics={
        "total_tokens": 1500,
        "total_cost": 0.045,
        "duration_seconds": 12.5
    }
)

print("EXAMPLE_RESULT " + json.dumps({"session_ids": {
    "specific": "sess_abc123xyz",
    "tracer": tracer.session_id,
}}))
