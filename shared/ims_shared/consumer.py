"""Consuming events with exactly-once effects.

A batch of records is parsed; a record that breaks the contract goes to ``<topic>.dlt`` with the reason in
its headers. Every valid event is handled in ONE PostgreSQL transaction together with its inbox row and the
outbox rows it writes (a savepoint per event). The offsets are committed by FastStream only after the handler
returns (``AckPolicy.NACK_ON_ERROR``, never ``ACK_FIRST``). A handler that fails on one event dead-letters that
event and lets the rest of the batch through; a transient failure (database gone) retries the whole batch with
backoff and, past the limit, rewinds the partition so the batch is delivered again.
"""

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord
from opentelemetry.trace import SpanKind
from structlog.contextvars import bound_contextvars
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

from ims_shared.emitter import Emitter
from ims_shared.events import CloudEvent, ContractError, EventData, parse_event
from ims_shared.inbox import claim
from ims_shared.logging import get_logger
from ims_shared.metrics import DEAD_LETTERED, EVENTS_CONSUMED, HANDLER_SECONDS
from ims_shared.topics import dead_letter_topic
from ims_shared.tracing import span_from, trace_id

log = get_logger(__name__)


@dataclass
class HandlerContext:
    """What a handler gets: the transaction's connection, the incoming event and a way to emit events."""

    conn: asyncpg.Connection
    event: CloudEvent
    emitter: Emitter
    services: Any = None

    @property
    def for_this_region(self) -> bool:
        """Whether the event concerns this service's region (topics like ims.billing carry every region's)."""
        return self.event.region == self.emitter.region

    async def emit(self, data: EventData, *, project_id: str | None = None, region: str | None = None) -> CloudEvent:
        return await self.emitter.emit(
            self.conn,
            data,
            project_id=self.event.projectid if project_id is None else project_id,
            region=region,
            correlation_id=self.event.correlationid or self.event.id,
        )


Handler = Callable[[HandlerContext, Any], Awaitable[None]]


@dataclass
class EventHandlers:
    """The events a service consumes, by CloudEvent ``type``."""

    handlers: dict[str, Handler] = field(default_factory=dict)

    def on(self, event_type: type[EventData]) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.handlers[event_type.__name__] = fn
            return fn

        return register


def is_transient(exc: BaseException) -> bool:
    """Failures that a retry can cure: connection loss, deadlocks, serialization failures, timeouts."""
    return isinstance(
        exc,
        (
            OSError,
            TimeoutError,
            asyncpg.exceptions.ConnectionDoesNotExistError,
            asyncpg.exceptions.InterfaceError,
            asyncpg.exceptions.CannotConnectNowError,
            asyncpg.exceptions.DeadlockDetectedError,
            asyncpg.exceptions.SerializationError,
            asyncpg.exceptions.AdminShutdownError,
            asyncpg.exceptions.TooManyConnectionsError,
            asyncpg.exceptions.InternalClientError,
        ),
    )


class EventProcessor:
    def __init__(
        self,
        *,
        consumer_name: str,
        handlers: EventHandlers,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        emitter: Emitter,
        services: Any = None,
        retry_limit_s: float = 60.0,
    ) -> None:
        self.consumer_name = consumer_name
        self._handlers = handlers.handlers
        self._pool = pool
        self._producer = producer
        self._emitter = emitter
        self._services = services
        self._retry_limit_s = retry_limit_s
        self.last_batch_at = time.monotonic()

    async def process(self, records: Iterable[ConsumerRecord[Any, Any]]) -> None:
        started = time.perf_counter()
        accepted: list[tuple[ConsumerRecord[Any, Any], CloudEvent, EventData]] = []
        for record in records:
            try:
                envelope, data = parse_event(record.value)
            except ContractError as exc:
                await self.dead_letter(record, str(exc))
                continue
            if envelope.type in self._handlers:
                accepted.append((record, envelope, data))
            else:
                EVENTS_CONSUMED.labels(envelope.type, "ignored").inc()
        if accepted:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception(is_transient),
                wait=wait_exponential(multiplier=0.1, max=5),
                stop=stop_after_delay(self._retry_limit_s),
                reraise=True,
            ):
                with attempt:
                    await self._handle_in_one_transaction(accepted)
        self.last_batch_at = time.monotonic()
        HANDLER_SECONDS.observe(time.perf_counter() - started)

    async def _handle_in_one_transaction(
        self, accepted: list[tuple[ConsumerRecord[Any, Any], CloudEvent, EventData]]
    ) -> None:
        failed: list[tuple[ConsumerRecord[Any, Any], str]] = []
        outcomes: list[tuple[str, str]] = []
        handled: list[tuple[ConsumerRecord[Any, Any], CloudEvent, str | None]] = []
        async with self._pool.acquire() as conn, conn.transaction():
            for record, envelope, data in accepted:
                handler = self._handlers[envelope.type]
                try:
                    with (
                        span_from(envelope.trace_carrier(), f"handle {envelope.type}", SpanKind.CONSUMER),
                        bound_contextvars(
                            event_id=envelope.id,
                            event_type=envelope.type,
                            aggregate_id=envelope.subject,
                            correlation_id=envelope.correlationid,
                            trace_id=trace_id(),
                        ),
                    ):
                        async with conn.transaction():
                            if not await claim(conn, self.consumer_name, envelope.id, envelope.type):
                                outcomes.append((envelope.type, "duplicate"))
                                log.debug("duplicate event ignored")
                                continue
                            ctx = HandlerContext(conn, envelope, self._emitter, self._services)
                            await handler(ctx, data)
                            outcomes.append((envelope.type, "handled"))
                            handled.append((record, envelope, trace_id()))
                except ContractError as exc:
                    failed.append((record, str(exc)))
                except Exception as exc:
                    if is_transient(exc):
                        raise
                    log.exception("handler failed; event goes to the dead-letter topic", event_id=envelope.id)
                    failed.append((record, f"handler error: {type(exc).__name__}: {exc}"))
            for record, reason in failed:
                await self.dead_letter(record, reason)
        for event_type, outcome in outcomes:
            EVENTS_CONSUMED.labels(event_type, outcome).inc()
        for record, envelope, trace in handled:
            log.info(
                "event handled",
                event_id=envelope.id,
                event_type=envelope.type,
                aggregate_id=envelope.subject,
                correlation_id=envelope.correlationid,
                trace_id=trace,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            )

    async def dead_letter(self, record: ConsumerRecord[Any, Any], reason: str) -> None:
        topic = dead_letter_topic(record.topic)
        headers = [
            *(record.headers or ()),
            ("dlt-reason", reason[:2000].encode()),
            ("dlt-original-topic", record.topic.encode()),
            ("dlt-original-partition", str(record.partition).encode()),
            ("dlt-original-offset", str(record.offset).encode()),
            ("dlt-consumer", self.consumer_name.encode()),
        ]
        key = record.key if isinstance(record.key, bytes | None) else str(record.key).encode()
        value = record.value if isinstance(record.value, bytes | None) else str(record.value).encode()
        await (await self._producer.send(topic, value, key=key, headers=headers))
        DEAD_LETTERED.labels(record.topic).inc()
        EVENTS_CONSUMED.labels("unknown", "dead_lettered").inc()
        log.warning("dead-lettered", topic=record.topic, offset=record.offset, reason=reason[:300])
