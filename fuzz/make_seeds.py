"""Writes the fuzz targets' seed inputs into fuzz/seeds/<target>/: OTLP
requests the official HoneyHive SDK sent (crates/hive-server/tests/golden/
captures), as OTLP/JSON and re-encoded as protobuf (with the .venv's
opentelemetry-proto), gzipped and gRPC-framed; filters, chart queries,
merge inputs and HTTP requests of each kind. Run with the project's .venv:

    .venv/bin/python fuzz/make_seeds.py
"""

import glob
import gzip
import json
import os
import struct

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

ROOT = os.path.dirname(os.path.abspath(__file__))
CAPTURES = os.path.join(ROOT, "..", "crates", "hive-server", "tests", "golden", "captures")


def write(target, name, data):
    d = os.path.join(ROOT, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def to_protobuf(body):
    """The SDK's JSON dialect (hex ids) as a protobuf message."""
    def fix(span):
        for k in ("traceId", "spanId", "parentSpanId"):
            v = span.get(k)
            if v is None:
                span.pop(k, None)
            else:
                span[k] = __import__("base64").b64encode(bytes.fromhex(v)).decode()
    for rs in body.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for sp in ss.get("spans", []):
                fix(sp)
    msg = trace_service_pb2.ExportTraceServiceRequest()
    json_format.Parse(json.dumps(body), msg, ignore_unknown_fields=True)
    return msg.SerializeToString()


n = 0
for path in sorted(glob.glob(os.path.join(CAPTURES, "*.jsonl"))):
    for line in open(path):
        rec = json.loads(line)
        if rec.get("path") != "/opentelemetry/v1/traces" or not isinstance(rec.get("body"), dict):
            continue
        body = rec["body"]
        text = json.dumps(body).encode()
        write("otlp_decode", f"json_{n}", b"\x01" + text)
        write("otlp_decode", f"gzip_{n}", b"\x07" + gzip.compress(text))
        try:
            pb = to_protobuf(json.loads(json.dumps(body)))
        except Exception:  # noqa: BLE001: a capture the dialect fix does not cover
            pb = None
        if pb:
            write("otlp_decode", f"pb_{n}", b"\x00" + pb)
            write("otlp_decode", f"grpc_{n}", b"\x06" + b"\x00" + struct.pack(">I", len(pb)) + pb)
        n += 1
        if n >= 4:
            break
    if n >= 4:
        break

filters = [
    {"field": "metadata.tier", "operator": "is", "value": "gold", "type": "string"},
    {"field": "metrics.score", "operator": "greater than", "value": 0.5, "type": "number"},
    {"field": "feedback.rating", "operator": "exists"},
    {"field": "start_time", "operator": "after", "value": "2024-01-01T00:00:00Z", "type": "datetime"},
    {"field": "event_name", "operator": "contains", "value": "llm"},
    {"field": "user_properties.plan", "operator": "not exists"},
    {"$gte": 1700000000000, "$lte": 1800000000000},
    {"relative": "7d"},
]
for i, f in enumerate(filters):
    write("filter_parse", f"f{i}", json.dumps(f).encode())
write("filter_parse", "field", b"metadata.user.tier")

charts = [
    {"metric": "metrics.latency", "aggregation": "p95", "bucket": "hour", "groupBy": "metadata.model"},
    {"aggregation": "count", "bucket": "day", "filters": filters[:2], "dateRange": {"relative": "30d"}},
    {"metric": "duration", "func": "avg", "bucketing": "total", "level": "session"},
]
for i, c in enumerate(charts):
    write("chart_query", f"c{i}", json.dumps(c).encode())

for i in range(4):
    write("merge_fold", f"m{i}", bytes(range(i * 37, i * 37 + 64)))

write("http_requests", "export", b"\x00" + json.dumps({"filters": filters[:1], "limit": 5}).encode())
write("http_requests", "search", b"\x02" + json.dumps({"level": "session"}).encode())
write("http_requests", "chart_post", b"\x04" + json.dumps(charts[0]).encode())
write("http_requests", "charts", b"\x06" + json.dumps({"name": "c", **charts[1]}).encode())
write("http_requests", "chart_get", b"\x01metric=metrics.latency&aggregation=avg&bucket=hour")
write("http_requests", "sessions", b"\x03f=metadata.a&op=is&v=1&page=2&sort=start_time")
write("http_requests", "events", b"\x05f=metrics.latency&op=greater than&v=3&t=number")
write("http_requests", "charts_page", b"\x07metric=metrics.latency&agg=p95&bucket=day&gb=metadata.t")
print(f"seeds written to {os.path.join(ROOT, 'seeds')}")
