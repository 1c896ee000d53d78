"""Session-enrichment guide: "Session Lifecycle Management".

``enrich_session(...)`` → ``tracer.enrich_session(...)`` (active session).
"""
import json

from honeyhive import HoneyHiveTracer
from datetime import datetime
import openai

SESSIONS = {}


def managed_session_workflow(user_id: str, task: str):
    """Demonstrate session enrichment across lifecycle."""

    # Initialize session
    tracer = HoneyHiveTracer.init(
        project="managed-workflows",
        session_name=f"{task}-{user_id}"
    )
    SESSIONS["lifecycle"] = tracer.session_id

    # Start: Add initial metadata
    tracer.enrich_session(
        metadata={
            "user_id": user_id,
            "task": task,
            "status": "started",
            "started_at": datetime.now().isoformat()
        }
    )

    try:
        # In Progress: Update status
        tracer.enrich_session(
            metadata={
                "status": "in_progress"
            }
        )

        # Do work
        client = openai.OpenAI()
        response = client.chat.completions.create(
            model="gpt-3.5-turbo",
            messages=[{"role": "user", "content": f"Help me with: {task}"}]
        )

        # Success: Add final metadata
        tracer.enrich_session(
            metadata={
                "status": "completed",
                "completed_at": datetime.now().isoformat()
            },
            outputs={
                "result": response.choices[0].message.content
            },
            metrics={
                "success": True
            }
        )

        return response.choices[0].message.content

    except Exception as e:
        # Error: Add error metadata
        tracer.enrich_session(
            metadata={
                "status": "failed",
                "failed_at": datetime.now().isoformat(),
                "error_type": type(e).__name__,
                "error_message": str(e)
            },
            metrics={
                "success": False
            }
        )
        raise
    finally:
        tracer.flush()


answer = managed_session_workflow("user-321", "write-a-haiku")
print("EXAMPLE_RESULT " + json.dumps({"session_ids": SESSIONS}))
