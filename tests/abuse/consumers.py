"""A service's real consumer, in the test process: its ``EventProcessor`` with all its handlers, its context as its
``app.bootstrap`` builds it, over a fresh database of its own; dead letters are kept instead of produced."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from ims_shared.consumer import EventHandlers, EventProcessor
from ims_shared.kafka import MAX_MESSAGE_BYTES
from tests.support import development_authority, fresh_database

CN = "cn-north-4"
SERVICES = ("image-service", "backup-service", "billing-service", "replication-service")


class DeadLetters:
    """Stands in for the producer: keeps what the processor dead-letters (``sent``: topic, value and headers;
    ``records``: key, value and every header, in order), and refuses a record larger than the services' producers
    send, as they do."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, dict[str, bytes]]] = []
        self.records: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]] = []

    async def send(self, topic: str, value: bytes | None, key: bytes | None = None, headers: Any = None) -> Any:
        headers = list(headers or ())
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)
        if size > MAX_MESSAGE_BYTES:
            raise MessageSizeTooLargeError(f"a dead letter of {size} bytes")
        self.sent.append((topic, value, dict(headers)))
        self.records.append((key, value, headers))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def service_under_test(name: str) -> tuple[EventHandlers[Any], Any, Path]:
    """A service's handlers (all of them registered), its context as its ``app.bootstrap`` builds it, and its
    migrations."""
    if name == "image-service":
        from image_service import app as image_app
        from image_service.settings import ImageSettings

        return image_app.event_handlers(), image_app.bootstrap(ImageSettings(region=CN)), image_app.MIGRATIONS
    if name == "backup-service":
        from backup_service import app as backup_app
        from backup_service.settings import BackupSettings

        return backup_app.event_handlers(), backup_app.bootstrap(BackupSettings(region=CN)), backup_app.MIGRATIONS
    if name == "billing-service":
        from billing_service import app as billing_app
        from billing_service.settings import BillingSettings

        return billing_app.event_handlers(), billing_app.bootstrap(BillingSettings(region=CN)), billing_app.MIGRATIONS
    from replication_service import app
    from replication_service.settings import ReplicationSettings

    return app.event_handlers(), app.bootstrap(ReplicationSettings(region=CN)), app.MIGRATIONS


@asynccontextmanager
async def consumer_of(
    name: str, prefix: str
) -> AsyncIterator[tuple[EventProcessor[Any], DeadLetters, asyncpg.Pool, EventHandlers[Any]]]:
    """Service ``name``'s processor over a fresh database, what it dead-letters, its pool and its handlers."""
    handlers, context, migrations = service_under_test(name)
    async with fresh_database(migrations, prefix=prefix) as (_, pool):
        dead = DeadLetters()
        processor = EventProcessor(
            authority=development_authority(),
            consumer_name=prefix,
            handlers=handlers,
            pool=pool,
            producer=dead,  # type: ignore[arg-type]
            emitter=context.emitter,
            service=context,
            retry_limit_s=2,
        )
        yield processor, dead, pool, handlers
