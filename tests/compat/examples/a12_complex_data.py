"""Session-enrichment guide: "Complex Data Structures".

Through ``tracer.enrich_session`` (active session): nested dicts and lists.
"""
import json

from honeyhive import HoneyHiveTracer

tracer = HoneyHiveTracer.init(project="my-app", session_name="complex-data-demo")

# Complex nested structures
tracer.enrich_session(
    metadata={
        "user": {
            "id": "user_123",
            "profile": {
                "tier": "premium",
                "features": ["chat", "analytics", "export"],
                "settings": {
                    "notifications": True,
                    "language": "en"
                }
            }
        }
    },
    config={
        "model_pipeline": [
            {"step": 1, "model": "gpt-4", "temperature": 0.7},
            {"step": 2, "model": "gpt-3.5-turbo", "temperature": 0.5}
        ],
        "fallback_strategy": {
            "enabled": True,
            "models": ["gpt-4", "gpt-3.5-turbo", "claude-2"]
        }
    }
)

print("EXAMPLE_RESULT " + json.dumps({"session_ids": {"complex": tracer.session_id}}))
