"""Trace context (W3C traceparent) carried in HTTP headers, in CloudEvents (the distributed-tracing extension
attributes ``traceparent``/``tracestate``) and in Kafka headers. Spans are recorded by the OpenTelemetry SDK;
exporting them is optional and off by default (TRACING_EXPORTER=none|console|otlp)."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace import Span, SpanKind

from ims_shared.logging import get_logger

log = get_logger(__name__)
tracer = trace.get_tracer("ims")
_recording = False


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
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def trace_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


@contextmanager
def span_from(carrier: Mapping[str, str], name: str, kind: SpanKind) -> Iterator[Span]:
    """A span continuing the trace found in ``carrier`` (HTTP headers or a CloudEvent's attributes). With no
    exporter, no span is made (making spans no one reads was a large part of handling an event): the caller's trace
    context becomes current as it is, so what is emitted and logged here still carries the caller's trace id."""
    if not _recording:
        token = context.attach(propagate.extract(dict(carrier)))
        try:
            yield trace.get_current_span()
        finally:
            context.detach(token)
        return
    with tracer.start_as_current_span(name, context=propagate.extract(dict(carrier)), kind=kind) as span:
        yield span
