"""Session-enrichment guide: "Pattern 4: Cost and Performance Tracking".

``enrich_session(...)`` → ``self.tracer.enrich_session(...)``.
"""
import json

from honeyhive import HoneyHiveTracer
import openai


class SessionCostTracker:
    """Track costs across a session."""

    def __init__(self, project: str, session_name: str):
        self.tracer = HoneyHiveTracer.init(
            project=project,
            session_name=session_name
        )
        self.total_tokens = 0
        self.total_cost = 0.0
        self.call_count = 0

    def make_llm_call(self, messages: list, model: str = "gpt-3.5-turbo"):
        """Make an LLM call and track costs."""
        client = openai.OpenAI()
        response = client.chat.completions.create(
            model=model,
            messages=messages
        )

        # Update tracking
        self.call_count += 1
        self.total_tokens += response.usage.total_tokens
        self.total_cost += self.calculate_cost(response.usage, model)

        # Enrich session with updated metrics
        self.tracer.enrich_session(
            metrics={
                "total_tokens": self.total_tokens,
                "total_cost": self.total_cost,
                "call_count": self.call_count,
                "avg_tokens_per_call": self.total_tokens / self.call_count
            }
        )

        return response.choices[0].message.content

    def calculate_cost(self, usage, model):
        """Calculate cost based on token usage and model."""
        # Simplified cost calculation
        if "gpt-4" in model:
            return (usage.prompt_tokens * 0.00003 +
                    usage.completion_tokens * 0.00006)
        else:
            return (usage.prompt_tokens * 0.000001 +
                    usage.completion_tokens * 0.000002)


# Usage
tracker = SessionCostTracker("my-app", "cost-tracking-session")
tracker.make_llm_call([{"role": "user", "content": "Hello!"}])
tracker.make_llm_call([{"role": "user", "content": "Tell me more"}])

tracker.tracer.flush()
print("EXAMPLE_RESULT " + json.dumps({"session_ids": {"cost": tracker.tracer.session_id}}))
