from datetime import UTC, datetime

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from ims_shared.consumer import HandlerContext
from ims_shared.events import BackupDeleted, make_event
from ims_shared.logging import _merge_fields
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


def test_a_consumer_without_an_exporter_carries_a_tracestate_on_and_drops_an_invalid_traceparent() -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with span_from({"traceparent": parent, "tracestate": "vendor=abc"}, "handle", SpanKind.CONSUMER):
        emitted = make_event(BackupDeleted(backup_id="b", reason="user"), source="/t", region="r", project_id="p")
        assert trace_id() == "0af7651916cd43dd8448eb211c80319c"
    assert (emitted.traceparent, emitted.tracestate) == (parent, "vendor=abc")
    for invalid in (f"00-{'0' * 32}-b7ad6b7169203331-01", "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"):
        with span_from({"traceparent": invalid}, "handle", SpanKind.CONSUMER):
            emitted = make_event(BackupDeleted(backup_id="b", reason="user"), source="/t", region="r", project_id="p")
            assert trace_id() is None
        assert emitted.traceparent is None


def test_what_is_logged_while_an_event_is_handled_carries_the_event_and_its_trace() -> None:
    event = make_event(BackupDeleted(backup_id="b7", reason="user"), source="/t", region="r", project_id="p")
    event = event.model_copy(update={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    with HandlerContext(None, event, None, None).activated():  # type: ignore[arg-type]
        fields = dict(_merge_fields(None, "info", {"event": "handled"}))
    assert fields == {
        "event": "handled",
        "event_id": event.id,
        "event_type": "BackupDeleted",
        "aggregate_id": "b7",
        "correlation_id": event.correlationid,
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
    }
    assert dict(_merge_fields(None, "info", {})) == {}
