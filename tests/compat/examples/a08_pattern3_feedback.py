"""Session-enrichment guide: "Pattern 3: Session Feedback Collection".

A traced call runs in the session and its span is exported (flush) first; the
feedback arrives afterwards, for the then-completed session, through
``tracer.enrich_session(session_id=...)``.
"""
import json

from honeyhive import HoneyHiveTracer, trace
from datetime import datetime

tracer = HoneyHiveTracer.init(project="my-app", session_name="feedback-demo")


@trace
def answer(question: str) -> str:
    return "42"


def collect_session_feedback(session_id: str, rating: int, comments: str):
    """Add user feedback to a completed session."""

    # Enrich the session with feedback (can be called after session ends)
    tracer.enrich_session(
        session_id=session_id,
        feedback={
            "user_rating": rating,
            "user_comments": comments,
            "feedback_timestamp": datetime.now().isoformat(),
            "helpful": rating >= 4
        },
        metadata={
            "feedback_collected": True
        }
    )


answer("meaning of life?")
tracer.flush()  # the session's spans reach the server before the feedback

collect_session_feedback(tracer.session_id, 5, "Clear and correct answer")
print("EXAMPLE_RESULT " + json.dumps({"session_ids": {"feedback": tracer.session_id}}))
