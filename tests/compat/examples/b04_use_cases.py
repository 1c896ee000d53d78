"""Enrichments overview: "Common Use Cases", each one called once.

The Flask example runs without a web server: ``request`` and ``app`` are small
stand-ins (the request carries an ``X-Request-ID`` header).
"""
import json
import os
import time

from honeyhive import HoneyHiveTracer, enrich_span, trace

tracer = HoneyHiveTracer.init(
    api_key=os.getenv("HH_API_KEY"),
    project=os.getenv("HH_PROJECT")
)


class _App:  # stand-in for flask.Flask
    def route(self, rule, methods=None):
        return lambda f: f


class _Request:  # stand-in for flask.request inside a request context
    headers = {"X-Request-ID": "req-abc-123"}


app = _App()
request = _Request()


def process_data(data_size):
    time.sleep(0.01)
    return list(range(data_size))


def process(data):
    if data.get("fail"):
        raise ValueError("processing failed: bad input")
    return {"processed": True}


# User and session tracking
@trace
def generate_response(user_id: str, message: str):
    enrich_span(
        user_properties={"user_id": user_id},
        metadata={"message_length": len(message)}
    )
    # LLM call...


# Feature tracking
@trace
def summarize_document(document: str, feature: str):
    enrich_span({
        "feature": feature,
        "document_length": len(document)
    })
    # LLM call...


# Request context
@app.route("/api/chat", methods=["POST"])
@trace
def chat_endpoint():
    enrich_span({
        "request_id": request.headers.get("X-Request-ID"),
        "endpoint": "/api/chat"
    })
    # Process request...
    return "ok"


# Scores and experiment variants
@trace
def generate_recommendation(product_id: str, user_id: str):
    enrich_span(
        user_properties={"user_id": user_id},
        metadata={"product_id": product_id, "ab_variant": "B"},
        metrics={"recommendation_score": 0.92}
    )
    # LLM call...


# Custom timing
@trace
def expensive_operation(data_size: int):
    start_time = time.perf_counter()

    result = process_data(data_size)

    duration_ms = (time.perf_counter() - start_time) * 1000
    enrich_span(metrics={
        "duration_ms": duration_ms,
        "data_size": data_size,
        "throughput": data_size / (duration_ms / 1000)
    })
    return result


# Success / failure
@trace
def risky_operation(operation_id: str, data: dict):
    enrich_span(metadata={"operation_id": operation_id})

    try:
        result = process(data)
        enrich_span(metadata={"success": True})
        return result
    except Exception as e:
        enrich_span(
            metadata={"success": False},
            error=str(e)
        )
        raise


generate_response("user_123", "Hello there, how are you?")
summarize_document("A long document " * 10, "summarizer")
chat_endpoint()
generate_recommendation("prod_987", "user_123")
expensive_operation(1000)
risky_operation("op_ok", {"x": 1})
try:
    risky_operation("op_fail", {"fail": True})
except ValueError:
    pass

tracer.flush()
print("EXAMPLE_RESULT " + json.dumps({"session_ids": {"tracer": tracer.session_id}}))
