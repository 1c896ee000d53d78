"""One instrumented agent run per interpreter: ``python scenarios.py NAME``.

The agent asks the model for the weather with a ``get_weather`` tool, runs
the tool call it gets back and asks again with the result (two chat
completions through the ``openai`` client, against the stand-in at
``OPENAI_BASE_URL``), all inside one root span ``weather-agent``. Each
scenario sets up one instrumentation and its exporters towards ``hive
serve`` (``HIVE_URL``, ``HIVE_GRPC``, ``HIVE_KEY``), runs the agent, shuts
the providers down (which flushes them) and prints one JSON line: the root
span's trace id and the answer. ``SESSION_ID`` is the session for the
instrumentations that carry one.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable, Dict, List

HIVE_URL = os.environ["HIVE_URL"]
HIVE_GRPC = os.environ["HIVE_GRPC"]
HIVE_KEY = os.environ["HIVE_KEY"]
SESSION_ID = os.environ.get("SESSION_ID", "")
AUTH = {"authorization": f"Bearer {HIVE_KEY}"}

TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}]


def get_weather(city: str) -> str:
    return f"sunny, 22 degrees in {city}"


def agent(tool: Callable[[str], str] = get_weather) -> str:
    import openai

    client = openai.OpenAI(base_url=os.environ["OPENAI_BASE_URL"], api_key="sk-stand-in", max_retries=0)
    messages: List[Dict[str, Any]] = [
        {"role": "system", "content": "You answer weather questions briefly."},
        {"role": "user", "content": "What is the weather in Paris?"},
    ]
    first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]
    result = tool(**json.loads(call.function.arguments))
    messages.append({
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": call.id, "type": "function",
                        "function": {"name": call.function.name, "arguments": call.function.arguments}}],
    })
    messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
    second = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
    return second.choices[0].message.content or ""


def otel_sdk(grpc: bool, logs: bool = False, metrics: bool = False, tracer_provider: Any = None):
    """Tracer (and logger, meter) providers exporting to hive over
    OTLP/HTTP (protobuf) or OTLP/gRPC; returns a shutdown function."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    TracerProvider = tracer_provider or TracerProvider  # noqa: N806
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": "weather-agent"})
    if grpc:
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        kw: Dict[str, Any] = {"endpoint": f"http://{HIVE_GRPC}", "insecure": True, "headers": AUTH}
        spans = OTLPSpanExporter(**kw)
        log_exporter = OTLPLogExporter(**kw) if logs else None
        metric_exporter = OTLPMetricExporter(**kw) if metrics else None
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        spans = OTLPSpanExporter(endpoint=f"{HIVE_URL}/v1/traces", headers=AUTH)
        log_exporter = OTLPLogExporter(endpoint=f"{HIVE_URL}/v1/logs", headers=AUTH) if logs else None
        metric_exporter = (
            OTLPMetricExporter(endpoint=f"{HIVE_URL}/v1/metrics", headers=AUTH) if metrics else None
        )
    shutdowns = []
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(spans))
    trace.set_tracer_provider(provider)
    shutdowns.append(provider.shutdown)
    if log_exporter is not None:
        from opentelemetry._logs import set_logger_provider
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
        set_logger_provider(logger_provider)
        try:  # the Events API, where this SDK still has it
            from opentelemetry._events import set_event_logger_provider
            from opentelemetry.sdk._events import EventLoggerProvider

            set_event_logger_provider(EventLoggerProvider(logger_provider))
        except ImportError:
            pass
        shutdowns.insert(0, logger_provider.shutdown)
    if metric_exporter is not None:
        from opentelemetry import metrics as metrics_api
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        meter_provider = MeterProvider(
            resource=resource, metric_readers=[PeriodicExportingMetricReader(metric_exporter)]
        )
        metrics_api.set_meter_provider(meter_provider)
        shutdowns.insert(0, meter_provider.shutdown)

    def shutdown() -> None:
        for f in shutdowns:
            f()

    return shutdown


def run_in_root_span(run: Callable[[], str], attributes: Dict[str, Any]) -> Dict[str, Any]:
    """The agent's own span, with the attributes its convention gives an
    agent, around the run."""
    from opentelemetry import trace

    tracer = trace.get_tracer("weather-agent")
    with tracer.start_as_current_span("weather-agent", attributes=attributes) as root:
        answer = run()
        trace_id = format(root.get_span_context().trace_id, "032x")
    return {"trace_id": trace_id, "answer": answer}


def genai_tool(city: str) -> str:
    """The tool call as a GenAI `execute_tool` span."""
    from opentelemetry import trace

    tracer = trace.get_tracer("weather-agent")
    with tracer.start_as_current_span("execute_tool get_weather", attributes={
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.id": "call_weather_1",
        "gen_ai.tool.call.arguments": json.dumps({"city": city}),
    }) as span:
        result = get_weather(city)
        span.set_attribute("gen_ai.tool.call.result", result)
        return result


def openinference_tool(city: str) -> str:
    """The tool call as an OpenInference TOOL span."""
    from opentelemetry import trace

    tracer = trace.get_tracer("weather-agent")
    with tracer.start_as_current_span("get_weather", attributes={
        "openinference.span.kind": "TOOL",
        "tool.name": "get_weather",
        "input.value": json.dumps({"city": city}),
        "input.mime_type": "application/json",
    }) as span:
        result = get_weather(city)
        span.set_attribute("output.value", result)
        return result


def openai_v2(grpc: bool) -> Dict[str, Any]:
    # This release only follows the latest GenAI conventions. Over HTTP the
    # content goes as log events alone (gen_ai.client.inference.operation.details),
    # over gRPC as span attributes and log events both.
    os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
    os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = (
        "span_and_event" if grpc else "event_only"
    )
    shutdown = otel_sdk(grpc, logs=True, metrics=True)
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    OpenAIInstrumentor().instrument()
    out = run_in_root_span(
        lambda: agent(genai_tool),
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather-agent"},
    )
    shutdown()
    return out


def openinference(grpc: bool) -> Dict[str, Any]:
    # OpenInference's tracer provider gives the application's own spans the
    # context's session, user and metadata too.
    from openinference.instrumentation import TracerProvider

    shutdown = otel_sdk(grpc, tracer_provider=TracerProvider)
    from openinference.instrumentation import using_attributes
    from openinference.instrumentation.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument()
    with using_attributes(session_id=SESSION_ID, user_id="user-7", metadata={"tenant": "acme"}):
        out = run_in_root_span(
            lambda: agent(openinference_tool), {"openinference.span.kind": "AGENT"}
        )
    shutdown()
    return out


def traceloop(events: bool = False) -> Dict[str, Any]:
    """Traceloop's SDK. By default the conversation goes as span attributes
    and Python `logging` records as OTLP logs; with `events` the
    conversation goes as GenAI log events (gen_ai.user.message,
    gen_ai.choice, ...) through the application's logger provider."""
    os.environ["TRACELOOP_TELEMETRY"] = "false"
    logger_provider = None
    if events:
        from opentelemetry._logs import set_logger_provider
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

        logger_provider = LoggerProvider()
        logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{HIVE_URL}/v1/logs", headers=AUTH))
        )
        set_logger_provider(logger_provider)
    else:
        # Python `logging` records as OTLP logs to /v1/logs (flushed at exit).
        os.environ["TRACELOOP_LOGGING_ENABLED"] = "true"
    from traceloop.sdk import Traceloop
    from traceloop.sdk.decorators import tool, workflow

    Traceloop.init(
        app_name="weather-agent",
        api_endpoint=HIVE_URL,
        api_key=HIVE_KEY,
        disable_batch=True,
        telemetry_enabled=False,
        use_attributes=not events,
    )
    Traceloop.set_association_properties({"session_id": SESSION_ID, "user_id": "user-7"})

    @tool(name="get_weather")
    def weather_tool(city: str) -> str:
        import logging

        logging.getLogger("weather").warning("weather service slow for %s", city)
        return get_weather(city)

    @workflow(name="weather-agent")
    def run() -> Dict[str, Any]:
        from opentelemetry import trace

        trace_id = format(trace.get_current_span().get_span_context().trace_id, "032x")
        return {"trace_id": trace_id, "answer": agent(weather_tool)}

    out = run()
    from opentelemetry import trace

    trace.get_tracer_provider().shutdown()  # type: ignore[attr-defined]
    if logger_provider is not None:
        logger_provider.shutdown()
    return out


SCENARIOS: Dict[str, Callable[[], Dict[str, Any]]] = {
    "openai_v2_http": lambda: openai_v2(grpc=False),
    "openai_v2_grpc": lambda: openai_v2(grpc=True),
    "openinference_http": lambda: openinference(grpc=False),
    "openinference_grpc": lambda: openinference(grpc=True),
    "traceloop": traceloop,
    "traceloop_events": lambda: traceloop(events=True),
}

if __name__ == "__main__":
    result = SCENARIOS[sys.argv[1]]()
    print(json.dumps(result), flush=True)
