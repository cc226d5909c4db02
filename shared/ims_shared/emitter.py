"""Writing events to the outbox, in the caller's transaction."""

from dataclasses import dataclass

import asyncpg

from ims_shared.events import CloudEvent, EventData, make_event
from ims_shared.metrics import EVENTS_EMITTED
from ims_shared.topics import topic_for


async def enqueue(conn: asyncpg.Connection, event: CloudEvent, topic: str, key: str) -> None:
    await conn.execute(
        "INSERT INTO outbox (event_id, event_type, topic, key, payload, traceparent) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (event_id) DO NOTHING",
        event.id,
        event.type,
        topic,
        key,
        event.model_dump_json(exclude_none=True),
        event.traceparent,
    )
    EVENTS_EMITTED.labels(event.type).inc()


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
