"""Session-enrichment guide: "Legacy Signature" with a positional session id.

Uses SDK 1.7.0's real global ``enrich_session`` (legacy signature
``enrich_session(session_id, metadata=None, ...)``), which sends with the first
tracer initialised in the process.
"""
import json

from honeyhive import HoneyHiveTracer, enrich_session

tracer = HoneyHiveTracer.init(project="my-app", session_name="legacy-positional-demo")

# Old style: positional session_id
enrich_session(
    "sess_abc123",  # session_id as first positional arg
    metadata={"user_id": "user_456"}
)

# The same legacy call for the tracer's own session
enrich_session(
    tracer.session_id,
    metadata={"user_id": "user_456"}
)

print("EXAMPLE_RESULT " + json.dumps({"session_ids": {
    "positional": "sess_abc123",
    "tracer": tracer.session_id,
}}))
