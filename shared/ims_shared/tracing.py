"""Trace context (W3C traceparent) carried in HTTP headers, in CloudEvents (the distributed-tracing extension
attributes ``traceparent``/``tracestate``) and in Kafka headers. Spans are recorded by the OpenTelemetry SDK;
exporting them is optional and off by default (TRACING_EXPORTER=none|console|otlp)."""

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace import Span, SpanKind

from ims_shared.logging import get_logger

log = get_logger(__name__)
tracer = trace.get_tracer("ims")
_recording = False
_carried: ContextVar[Mapping[str, str] | None] = ContextVar("ims_carried_trace", default=None)
"""Without an exporter, the trace context ``span_from`` carries on, as W3C headers (None outside it)."""
_TRACEPARENT = re.compile(r"[ \t]*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:(-.*)|[ \t]*)")


def configure_tracing(service: str, region: str, exporter: str = "none") -> None:
    """Record spans only when they are exported; otherwise ``span_from`` just carries the caller's trace on."""
    global _recording
    provider = TracerProvider(resource=Resource.create({"service.name": service, "cloud.region": region}))
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        _recording = True
    elif exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.warning("TRACING_EXPORTER=otlp needs opentelemetry-exporter-otlp-proto-http; spans are not exported")
        else:
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            _recording = True
    trace.set_tracer_provider(provider)


def trace_context() -> dict[str, str]:
    """The current trace context as W3C headers (empty when no span is active)."""
    carried = _carried.get()
    if carried is not None:
        return dict(carried)
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def trace_id() -> str | None:
    carried = _carried.get()
    if carried is not None:
        return carried["traceparent"][3:35] if carried else None
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


def _carried_on(carrier: Mapping[str, str]) -> Mapping[str, str]:
    """The W3C headers OpenTelemetry would inject after extracting ``carrier``: read here for a lone ``traceparent``
    (every event the services emit), by OpenTelemetry's propagators for anything else. Extracting and injecting
    through OpenTelemetry's context for every event was a large part of handling one."""
    parent = carrier.get("traceparent")
    if isinstance(parent, str) and "tracestate" not in carrier and "baggage" not in carrier and len(parent) <= 512:
        found = _TRACEPARENT.fullmatch(parent)
        if found is None:
            return {}
        version, trace_hex, span_hex, flags, rest = found.groups()
        if trace_hex == "0" * 32 or span_hex == "0" * 16 or version == "ff" or (version == "00" and rest):
            return {}
        return {"traceparent": f"00-{trace_hex}-{span_hex}-{flags}"}
    injected: dict[str, str] = {}
    propagate.inject(injected, context=propagate.extract(dict(carrier)))
    return injected


@contextmanager
def span_from(carrier: Mapping[str, str], name: str, kind: SpanKind) -> Iterator[Span]:
    """A span continuing the trace found in ``carrier`` (HTTP headers or a CloudEvent's attributes). With no
    exporter, no span is made (making spans no one reads was a large part of handling an event): the caller's trace
    context becomes current as it is, so what is emitted and logged here still carries the caller's trace id."""
    if not _recording:
        token = _carried.set(_carried_on(carrier))
        try:
            yield trace.INVALID_SPAN
        finally:
            _carried.reset(token)
        return
    with tracer.start_as_current_span(name, context=propagate.extract(dict(carrier)), kind=kind) as span:
        yield span
