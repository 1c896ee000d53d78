"""Session-enrichment guide: "Pattern 2: Experiment Tracking".

``enrich_session(...)`` → ``tracer.enrich_session(...)``; ``calculate_cost`` is
not defined by the guide, a simple per-token price is used.
"""
import json

from honeyhive import HoneyHiveTracer
import openai
import random
import time

SESSIONS = {}


def calculate_cost(usage):
    """Simplified cost: a flat price per token."""
    return usage.total_tokens * 0.0000015


def run_ab_test_experiment(query: str, user_id: str):
    """Run A/B test with different model configurations."""

    # Determine variant
    variant = "variant_a" if random.random() < 0.5 else "variant_b"

    # Initialize session
    tracer = HoneyHiveTracer.init(
        project="ab-testing",
        session_name=f"experiment-{user_id}"
    )
    SESSIONS["experiment"] = tracer.session_id

    # Enrich with experiment metadata
    tracer.enrich_session(
        metadata={
            "experiment": "prompt_optimization_v2",
            "variant": variant,
            "user_id": user_id
        },
        config={
            "model": "gpt-4" if variant == "variant_a" else "gpt-3.5-turbo",
            "temperature": 0.7 if variant == "variant_a" else 0.9
        }
    )

    # Run the experiment
    start_time = time.time()
    client = openai.OpenAI()
    response = client.chat.completions.create(
        model="gpt-4" if variant == "variant_a" else "gpt-3.5-turbo",
        messages=[{"role": "user", "content": query}],
        temperature=0.7 if variant == "variant_a" else 0.9
    )
    duration = time.time() - start_time

    # Enrich with results
    tracer.enrich_session(
        metrics={
            "response_time": duration,
            "token_count": response.usage.total_tokens,
            "cost": calculate_cost(response.usage)
        },
        outputs={
            "response": response.choices[0].message.content
        }
    )

    tracer.flush()
    return response.choices[0].message.content


answer = run_ab_test_experiment("What is the capital of France?", "user-42")
print("EXAMPLE_RESULT " + json.dumps({"session_ids": SESSIONS}))
