#!/usr/bin/env python3
"""An OpenTelemetry Python SDK application for tests/it/receive.rs: exports, over OTLP/HTTP
(protobuf, gzip) to URL with the agent TOKEN, one gauge, one counter and one histogram with
known values, then exits. Usage: otlp_sender.py URL TOKEN HOST"""

import sys

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

url, token, host = sys.argv[1], sys.argv[2], sys.argv[3]
exporter = OTLPMetricExporter(
    endpoint=url,
    headers={"Authorization": f"Bearer {token}"},
    compression=Compression.Gzip,
    timeout=10,
)
# Exported only when flushed below (the period is far longer than the script runs).
reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
provider = MeterProvider(
    resource=Resource.create({"host.name": host, "service.name": "shop"}),
    metric_readers=[reader],
)
meter = provider.get_meter("lookout-tests")

meter.create_gauge("queue.depth").set(42.5, {"queue": "mail"})
jobs = meter.create_counter("jobs")
jobs.add(5, {"kind": "email"})
jobs.add(2, {"kind": "email"})
latency = meter.create_histogram("request.latency", unit="s")
for value in (0.3, 3.0, 7.0):
    latency.record(value, {"route": "/cart"})

ok = provider.force_flush(timeout_millis=15_000)
provider.shutdown()
sys.exit(0 if ok else 1)
