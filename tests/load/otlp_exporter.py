"""Load a running `hive serve` with the standard OpenTelemetry Python SDK and
its OTLP/HTTP exporter (BatchSpanProcessor, protobuf), as an instrumented
application would: several processes create realistic LLM spans for a
bounded time, flush, and the spans are then counted back through the export
API (which waits until everything acknowledged is applied).

    python tests/load/otlp_exporter.py --url http://127.0.0.1:8080 --key hh_... \
        --seconds 30 --processes 2

Targets 127.0.0.1 only; stops by itself.
"""

import argparse
import json
import multiprocessing as mp
import time
import urllib.request
import uuid

PROMPT = ("You are a helpful support assistant for an online store. The customer asks how to "
          "reset the password of their account after the reset email did not arrive; answer in "
          "three short steps and mention the spam folder.")
ANSWER = ("1. Check your spam or junk folder for the reset email. 2. Add no-reply@example.com to "
          "your contacts and request a new link from the sign-in page. 3. If nothing arrives "
          "within ten minutes, contact support with your order number.")


def sender(url, key, seconds, project, out):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "load-agent"}))
    exporter = OTLPSpanExporter(endpoint=url + "/v1/traces",
                                headers={"authorization": "Bearer " + key}, timeout=30)
    provider.add_span_processor(BatchSpanProcessor(
        exporter, max_queue_size=65536, max_export_batch_size=512, schedule_delay_millis=200))
    tracer = provider.get_tracer("openinference.instrumentation.openai")
    n = 0
    session = str(uuid.uuid4())
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if n % 32 == 0:
            session = str(uuid.uuid4())
        with tracer.start_as_current_span("openai.chat.completions") as span:
            span.set_attributes({
                "honeyhive.session_id": session,
                "honeyhive.project": project,
                "honeyhive_event_type": "model",
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o-mini",
                "llm.provider": "openai",
                "llm.invocation_parameters": "{\"temperature\": 0.7, \"max_tokens\": 256}",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": PROMPT,
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": ANSWER,
                "llm.token_count.prompt": 52,
                "llm.token_count.completion": 61,
                "llm.token_count.total": 113,
                "honeyhive_metadata.user_id": "user-%d" % (n % 97),
                "honeyhive_metadata.variant": "a" if n % 2 == 0 else "b",
                "honeyhive_metadata.tenant": "acme",
                "honeyhive_metrics.latency_ms": 850.0 + n,
                "honeyhive_config.temperature": 0.7,
            })
        n += 1
    provider.force_flush(120_000)
    provider.shutdown()
    out.put(n)


def count(url, key, project):
    body = json.dumps({"project": project, "filters": [
        {"field": "event_type", "operator": "is", "value": "model", "type": "string"}], "limit": 1})
    for _ in range(600):
        req = urllib.request.Request(url + "/v1/events/export", data=body.encode(), method="POST",
                                     headers={"authorization": "Bearer " + key,
                                              "content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.load(r)["totalEvents"]
        except urllib.error.HTTPError as e:
            if e.code != 503:
                raise
            time.sleep(1)
    raise SystemExit("the server did not catch up")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", default="http://127.0.0.1:8080")
    p.add_argument("--key", required=True)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--processes", type=int, default=2)
    a = p.parse_args()
    if not a.url.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]")):
        raise SystemExit("this load generator targets a server on loopback only")
    project = "otlp-load-" + uuid.uuid4().hex[:8]
    out = mp.Queue()
    started = time.monotonic()
    procs = [mp.Process(target=sender, args=(a.url, a.key, a.seconds, project, out))
             for _ in range(a.processes)]
    for pr in procs:
        pr.start()
    created = sum(out.get() for _ in procs)
    for pr in procs:
        pr.join()
    sent = time.monotonic() - started
    stored = count(a.url, a.key, project)
    applied = time.monotonic() - started
    print("otlp exporter load: %d processes, %.0f s" % (a.processes, a.seconds))
    print("  spans created and flushed  %d (%.0f spans/s until flushed)" % (created, created / sent))
    print("  stored                     %d (all applied %.1f s after the start; %.0f spans/s)"
          % (stored, applied, stored / applied))
    if stored < created:
        raise SystemExit("%d spans the exporter sent are missing (dropped by the SDK's queue or lost)"
                         % (created - stored))


if __name__ == "__main__":
    main()
