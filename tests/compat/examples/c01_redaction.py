"""Redaction: secrets the SDK sends (the session's name, ``enrich_session``,
a traced function's arguments and result, ``enrich_span``, an instrumented
OpenAI call) to a project that redacts them at ingest."""
import json
import os

from honeyhive import HoneyHiveTracer, enrich_span, trace
from openinference.instrumentation.openai import OpenAIInstrumentor
import openai

tracer = HoneyHiveTracer.init(
    api_key=os.getenv("HH_API_KEY"),
    project=os.getenv("HH_PROJECT"),
    session_name="support for ada.lovelace.7f3@example.com",
)
OpenAIInstrumentor().instrument(tracer_provider=tracer.provider)

tracer.enrich_session(
    metadata={"customer_email": "ada.lovelace.7f3@example.com", "db_password": "hunter2-pw-9c1e"},
    user_properties={"ssn": "078-05-1120", "plan": "pro"},
    feedback={"comment": "card 4111 1111 1111 1111 was charged twice"},
)

client = openai.OpenAI()


@trace
def lookup(order: str, api_key: str) -> dict:
    enrich_span(metadata={"authorization": "Bearer tok9Zq7Xw2Lp4Vn8Rb3", "region": "eu"})
    return {"status": "ok", "note": f"key AKIAREDACTTEST000001 used for {order}"}


@trace
def chat(message: str) -> str:
    response = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": message}],
    )
    return response.choices[0].message.content


lookup("ORD-482913", api_key="sk-proj-R3dact3dS3cr3tK3yValue01")
chat("my email is ada.lovelace.7f3@example.com, call me")

tracer.flush()
print("EXAMPLE_RESULT " + json.dumps({"session_ids": {"tracer": tracer.session_id}}))
