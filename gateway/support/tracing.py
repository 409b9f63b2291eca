"""OpenTelemetry set-up: the SDK with the OTLP exporter, only when asked for.

`OTEL_EXPORTER_OTLP_ENDPOINT` (and the exporter's other standard `OTEL_*` variables)
switches tracing on. The provider belongs to the app (not the process-global provider),
so several apps in one process keep their spans apart; the app shuts it down on exit.
"""

from __future__ import annotations

import os

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

SERVICE_NAME = "invoice-gateway"


def tracer_provider_from_env() -> TracerProvider | None:
    """A provider exporting over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set."""
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    service = os.environ.get("OTEL_SERVICE_NAME", SERVICE_NAME)
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider
