"""Writing events to the outbox, in the caller's transaction.

The consumer defers the outbox rows of a batch (``deferred_outbox``) and writes them with one statement before it
commits (``flush_outbox``): the same rows in the same transaction, in emission order, one round trip."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import asyncpg

from ims_shared.events import CloudEvent, EventData, make_event
from ims_shared.metrics import EVENTS_EMITTED
from ims_shared.topics import topic_for

Pending = list[tuple[CloudEvent, str, str]]
_deferred: ContextVar[Pending | None] = ContextVar("deferred_outbox", default=None)


@contextmanager
def deferred_outbox() -> Iterator[Pending]:
    """Within this block (in this task), emitted events are collected instead of written: ``flush_outbox`` them."""
    pending: Pending = []
    token = _deferred.set(pending)
    try:
        yield pending
    finally:
        _deferred.reset(token)


async def flush_outbox(conn: asyncpg.Connection, pending: Pending) -> None:
    if not pending:
        return
    await conn.execute(
        "INSERT INTO outbox (event_id, event_type, topic, key, payload, traceparent) "
        "SELECT e.id, e.type, e.topic, e.key, e.payload, e.traceparent FROM unnest($1::text[], $2::text[], "
        "$3::text[], $4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS e(id, type, topic, key, payload, "
        "traceparent, n) ORDER BY e.n ON CONFLICT (event_id) DO NOTHING",
        [event.id for event, _, _ in pending],
        [event.type for event, _, _ in pending],
        [topic for _, topic, _ in pending],
        [key for _, _, key in pending],
        [event.model_dump_json(exclude_none=True) for event, _, _ in pending],
        [event.traceparent for event, _, _ in pending],
    )
    for event, _, _ in pending:
        EVENTS_EMITTED.labels(event.type).inc()
    pending.clear()


async def enqueue(conn: asyncpg.Connection, event: CloudEvent, topic: str, key: str) -> None:
    """Put ``event`` in the outbox of this transaction (at once, or with the batch when deferred)."""
    pending = _deferred.get()
    if pending is not None:
        pending.append((event, topic, key))
        return
    await flush_outbox(conn, [(event, topic, key)])


@dataclass(frozen=True)
class Emitter:
    """Makes CloudEvents of this service and puts them in the outbox of the current transaction."""

    source: str
    region: str

    async def emit(
        self,
        conn: asyncpg.Connection,
        data: EventData,
        *,
        project_id: str,
        region: str | None = None,
        correlation_id: str | None = None,
        event_id: str | None = None,
    ) -> CloudEvent:
        region = region or self.region
        event = make_event(
            data,
            source=self.source,
            region=region,
            project_id=project_id,
            correlation_id=correlation_id,
            event_id=event_id,
        )
        await enqueue(conn, event, topic_for(data.topic_kind, region), data.aggregate_id())
        return event
