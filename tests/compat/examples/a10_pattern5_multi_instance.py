"""Session-enrichment guide: "Pattern 5: Multi-Instance Session Enrichment".

``enrich_session(..., tracer_instance=t)`` → ``t.enrich_session(...)``: in SDK
1.7.0 the global function only logs ``tracer_instance`` and would send with the
first tracer.
"""
import json

from honeyhive import HoneyHiveTracer

# Create multiple tracers for different workflows
prod_tracer = HoneyHiveTracer.init(
    project="production",
    session_name="prod-session-1",
    source="production"
)

test_tracer = HoneyHiveTracer.init(
    project="testing",
    session_name="test-session-1",
    source="testing"
)

# Enrich production session
prod_tracer.enrich_session(
    metadata={
        "environment": "production",
        "user_id": "user_123"
    }
)

# Enrich test session
test_tracer.enrich_session(
    metadata={
        "environment": "testing",
        "test_case": "scenario_1"
    }
)

print("EXAMPLE_RESULT " + json.dumps({"session_ids": {
    "production": prod_tracer.session_id,
    "testing": test_tracer.session_id,
}}))
