"""compute-service over a fresh PostgreSQL database: events fed through the real consumer path (``EventProcessor``:
inbox, handler, outbox in one transaction), the API's operations called in transactions, a clock moved by hand."""

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import pytest_asyncio
from aiokafka import AIOKafkaProducer

from compute_service.app import MIGRATIONS, bootstrap, event_handlers
from compute_service.context import ComputeService
from compute_service.settings import ComputeSettings
from ims_shared.consumer import EventProcessor
from ims_shared.events import EventData, make_event
from ims_shared.topics import topic_for
from tests.support import consumer_record, development_authority, fresh_database

REGION = "cn-north-4"
ALPHA = "a0000000000000000000000000000001"
BETA = "b0000000000000000000000000000001"
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


class NoProducer:
    """The consumer uses its producer only to dead-letter a record: none may be."""

    async def send(self, topic: str, value: bytes | None, key: bytes | None = None, headers: Any = None) -> Any:
        raise AssertionError(f"dead-lettered: {dict(headers or [])}")


@dataclass
class Compute:
    service: ComputeService
    pool: asyncpg.Pool
    processor: EventProcessor[ComputeService]
    now: list[datetime]
    offset: int = 0

    async def feed(self, *events: tuple[EventData, str]) -> None:
        """Deliver ``events`` (data, project) as one batch, in order, each on its own topic."""
        records = []
        for data, project in events:
            self.offset += 1
            event = make_event(data, source="/tests", region=REGION, project_id=project)
            value = event.model_dump_json(exclude_none=True).encode()
            records.append(consumer_record(topic_for(data.topic_kind, REGION), self.offset, value))
        await self.processor.process(records)

    def advance(self, seconds: float) -> None:
        self.now[0] += timedelta(seconds=seconds)

    async def emitted(self, event_type: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch("SELECT payload FROM outbox WHERE event_type = $1 ORDER BY id", event_type)
        return [json.loads(r["payload"]) for r in rows]


@pytest_asyncio.fixture
async def compute() -> AsyncIterator[Compute]:
    async with fresh_database(MIGRATIONS, "compute_test") as (_, pool):
        now = [T0]
        service = replace(bootstrap(ComputeSettings(region=REGION, server_build_s=5)), clock=lambda: now[0])
        service.database.attach(pool)
        processor = EventProcessor(
            consumer_name="compute-service.test",
            handlers=event_handlers(),
            service=service,
            pool=pool,
            producer=cast(AIOKafkaProducer, NoProducer()),
            emitter=service.emitter,
            retry_limit_s=5,
            authority=development_authority(),
        )
        yield Compute(service, pool, processor, now)
