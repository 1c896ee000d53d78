"""Session-enrichment guide: "Pattern 1: User Workflow Tracking".

``enrich_session(...)`` → ``tracer.enrich_session(...)`` (active session).
"""
import json

from honeyhive import HoneyHiveTracer
from datetime import datetime
import openai

SESSIONS = {}


def handle_user_workflow(user_id: str, workflow_name: str):
    """Handle a multi-step user workflow."""

    # Initialize session for this workflow
    tracer = HoneyHiveTracer.init(
        project="customer-support",
        session_name=f"{workflow_name}-{user_id}"
    )
    SESSIONS["workflow"] = tracer.session_id

    # Enrich with user context
    tracer.enrich_session(
        metadata={
            "user_id": user_id,
            "workflow": workflow_name,
            "started_at": datetime.now().isoformat()
        }
    )

    # Step 1: Initial query
    client = openai.OpenAI()
    response1 = client.chat.completions.create(
        model="gpt-3.5-turbo",
        messages=[{"role": "user", "content": "How do I reset my password?"}]
    )

    # Update session with progress
    tracer.enrich_session(
        metadata={
            "step": "initial_query_complete"
        }
    )

    # Step 2: Follow-up
    response2 = client.chat.completions.create(
        model="gpt-3.5-turbo",
        messages=[
            {"role": "user", "content": "How do I reset my password?"},
            {"role": "assistant", "content": response1.choices[0].message.content},
            {"role": "user", "content": "I didn't receive the email"}
        ]
    )

    # Final session enrichment
    tracer.enrich_session(
        metadata={
            "step": "workflow_complete",
            "completed_at": datetime.now().isoformat()
        },
        metrics={
            "total_interactions": 2,
            "resolution": "success"
        }
    )

    tracer.flush()
    return response2.choices[0].message.content


answer = handle_user_workflow("user-789", "password-reset")
print("EXAMPLE_RESULT " + json.dumps({"session_ids": SESSIONS}))
