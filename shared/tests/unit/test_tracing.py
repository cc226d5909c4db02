from datetime import UTC, datetime

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from ims_shared.events import BackupDeleted, make_event
from ims_shared.tracing import span_from, trace_id

provider = TracerProvider()
tracer = provider.get_tracer("test")


def test_an_event_made_inside_a_span_carries_its_trace_and_a_consumer_continues_it() -> None:
    with tracer.start_as_current_span("request") as span:
        event = make_event(BackupDeleted(backup_id="b", reason="user"), source="/t", region="r", project_id="p")
        expected = format(span.get_span_context().trace_id, "032x")
    assert event.traceparent is not None and expected in event.traceparent
    with span_from(event.trace_carrier(), "handle", SpanKind.CONSUMER):
        assert trace_id() == expected
    assert event.time <= datetime.now(UTC)


def test_an_event_made_outside_any_span_has_no_trace() -> None:
    event = make_event(BackupDeleted(backup_id="b", reason="user"), source="/t", region="r", project_id="p")
    assert event.traceparent is None and event.trace_carrier() == {}


def test_without_an_exporter_a_consumer_carries_the_trace_on_without_a_span_of_its_own() -> None:
    with tracer.start_as_current_span("request") as span:
        event = make_event(BackupDeleted(backup_id="b", reason="user"), source="/t", region="r", project_id="p")
        caller = span.get_span_context()
    with span_from(event.trace_carrier(), "handle", SpanKind.CONSUMER):
        emitted = make_event(BackupDeleted(backup_id="b", reason="user"), source="/t", region="r", project_id="p")
    assert emitted.traceparent is not None
    assert emitted.traceparent.startswith(f"00-{caller.trace_id:032x}-{caller.span_id:016x}-")
