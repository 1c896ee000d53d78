"""Session-enrichment guide: "Enrich Active Session".

SDK 1.7.0's global ``enrich_session`` has only the legacy signature, so the
documented keyword form goes through the tracer's instance method (the
"active session" is the tracer's session).
"""
import json

from honeyhive import HoneyHiveTracer
import openai

# Initialize tracer (creates a session automatically)
tracer = HoneyHiveTracer.init(
    project="my-app",
    session_name="user-123-chat"
)

# Enrich the active session
tracer.enrich_session(
    metadata={
        "user_id": "user_123",
        "subscription_tier": "premium",
        "feature": "chat_assistant"
    }
)

# All subsequent traces in this session will be associated with this metadata
client = openai.OpenAI()
response = client.chat.completions.create(
    model="gpt-3.5-turbo",
    messages=[{"role": "user", "content": "Hello!"}]
)

tracer.flush()
print("EXAMPLE_RESULT " + json.dumps({"session_ids": {"active": tracer.session_id}}))
