"""Consuming events with exactly-once effects.

Every record is authenticated first (``ims_shared.event_auth``: its ``ims-authorization`` signature, then whether
its principal may produce its type, on its topic, for its project): one that is not goes to ``<topic>.dlt`` with the
reason ``unauthenticated`` or ``forbidden`` and changes nothing. A batch of records is parsed; a record that breaks
the contract goes to ``<topic>.dlt`` with the reason in its headers. Every valid event is handled in ONE PostgreSQL
transaction together with its inbox row and the outbox rows it writes (the inbox rows of the whole batch in one
statement). The offsets are committed only after the handler returns (``ims_shared.offsets``; never FastStream's
``ACK_FIRST``). A handler that fails on one event rolls the attempt back; the batch is handled again with a
savepoint per event, and only the failing event is dead-lettered. A transient failure (database gone) retries the
whole batch with backoff and, past the limit, rewinds the partition so the batch is delivered again.

A type registered with ``EventHandlers.on_runs`` is handled a run at a time: consecutive new events of that type in
a batch go to its handler together, so that it can write them with set-based statements (one round trip for the run
instead of one or more per event). Such a handler must leave what handling the run's events one by one, in order,
would leave; when events are isolated it is called with one event at a time.
"""

import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.structs import ConsumerRecord
from opentelemetry.trace import SpanKind
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

from ims_shared.emitter import Emitter, Pending, deferred_outbox, flush_outbox
from ims_shared.event_auth import FORBIDDEN, EventAuthority, Rejected
from ims_shared.events import EVENT_TYPES, CloudEvent, ContractError, EventData, parse_event
from ims_shared.events.registry import MAX_EVENT_BYTES, UnwantedEvent
from ims_shared.inbox import claim, claim_batch
from ims_shared.kafka import MAX_MESSAGE_BYTES
from ims_shared.logging import get_logger, log_fields
from ims_shared.metrics import DEAD_LETTERED, EVENTS_CONSUMED, EVENTS_REJECTED, HANDLER_SECONDS
from ims_shared.topics import dead_letter_topic
from ims_shared.tracing import span_from, trace_id

log = get_logger(__name__)
Accepted = tuple[ConsumerRecord[Any, Any], CloudEvent, EventData]
S = TypeVar("S")
"""A service's typed context, as its handlers see it."""
E = TypeVar("E", bound=EventData)


def _relayed_type(record: ConsumerRecord[Any, Any]) -> str | None:
    for key, value in record.headers or ():
        if key == "ce-type" and isinstance(value, bytes):
            return value.decode(errors="replace")
    return None


class _IsolateEvents(Exception):
    """A handler failed in a batch handled without savepoints: handle it again with one per event."""


@dataclass
class _Handled:
    outcomes: list[tuple[str, str]] = field(default_factory=list)
    handled: list[tuple[ConsumerRecord[Any, Any], CloudEvent]] = field(default_factory=list)


@dataclass
class HandlerContext(Generic[S]):
    """What a handler gets: the transaction's connection, the incoming event, a way to emit events, and its service's
    typed context (``service``: what the service's ``app.bootstrap`` built from its settings)."""

    conn: asyncpg.Connection
    event: CloudEvent
    emitter: Emitter
    service: S

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

    @contextmanager
    def activated(self) -> Iterator[None]:
        """This event's trace context and log fields, current: what is emitted or logged within carries them. A
        handler of a run uses it for each event's own work (the consumer does it for a handler of one event)."""
        with (
            span_from(self.event.trace_carrier(), f"handle {self.event.type}", SpanKind.CONSUMER),
            log_fields(
                event_id=self.event.id,
                event_type=self.event.type,
                aggregate_id=self.event.subject,
                correlation_id=self.event.correlationid,
                trace_id=trace_id(),
            ),
        ):
            yield


Handler = Callable[[HandlerContext[S], E], Awaitable[None]]
"""Handles one event of type ``E``."""
RunHandler = Callable[[list[tuple[HandlerContext[S], E]]], Awaitable[None]]
"""Handles a run of consecutive new events of type ``E`` (see the module's docstring)."""


class EventHandlers(Generic[S]):
    """The events a service consumes, by CloudEvent ``type``, each with its handler. Built by the service's
    ``handlers.event_handlers()`` (``.on`` and ``.on_runs`` chained) and given to the runtime by its ``app``;
    ``+`` joins the handlers of two modules (a type may be handled by one of them only)."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler[S, EventData]] = {}
        self.run_handlers: dict[str, RunHandler[S, EventData]] = {}

    def on(self, event_type: type[E], handler: Handler[S, E]) -> "EventHandlers[S]":
        """Handle each event of ``event_type`` with ``handler``."""

        async def one(ctx: HandlerContext[S], data: EventData) -> None:
            assert isinstance(data, event_type)
            await handler(ctx, data)

        self._add(event_type, one)
        return self

    def on_runs(self, event_type: type[E], handler: RunHandler[S, E]) -> "EventHandlers[S]":
        """Handle runs of consecutive new events of ``event_type`` with ``handler`` (one event at a time when the
        consumer isolates events); it must leave what handling them one by one, in order, leaves."""

        async def run(events: list[tuple[HandlerContext[S], EventData]]) -> None:
            typed: list[tuple[HandlerContext[S], E]] = []
            for ctx, data in events:
                assert isinstance(data, event_type)
                typed.append((ctx, data))
            await handler(typed)

        async def one(ctx: HandlerContext[S], data: EventData) -> None:
            await run([(ctx, data)])

        self._add(event_type, one)
        self.run_handlers[event_type.__name__] = run
        return self

    def _add(self, event_type: type[EventData], handler: Handler[S, EventData]) -> None:
        name = event_type.__name__
        if name in self.handlers:
            raise ValueError(f"{name} has a handler already")
        self.handlers[name] = handler

    def __add__(self, other: "EventHandlers[S]") -> "EventHandlers[S]":
        joined: EventHandlers[S] = EventHandlers()
        for part in (self, other):
            for name, handler in part.handlers.items():
                if name in joined.handlers:
                    raise ValueError(f"{name} has a handler in both")
                joined.handlers[name] = handler
            joined.run_handlers.update(part.run_handlers)
        return joined


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


class EventProcessor(Generic[S]):
    def __init__(
        self,
        *,
        consumer_name: str,
        handlers: EventHandlers[S],
        service: S,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        emitter: Emitter,
        authority: EventAuthority,
        retry_limit_s: float = 60.0,
    ) -> None:
        self.consumer_name = consumer_name
        self._authority = authority
        self._handlers = handlers.handlers
        self._run_handlers = handlers.run_handlers
        self._pool = pool
        self._producer = producer
        self._emitter = emitter
        self._service = service
        self._retry_limit_s = retry_limit_s
        self.last_batch_at = time.monotonic()

    async def process(self, records: Iterable[ConsumerRecord[Any, Any]]) -> None:
        started = time.perf_counter()
        accepted: list[Accepted] = []
        ignored: Counter[str] = Counter()  # counted once per batch: a labelled metric's look-up costs per call
        for record in records:
            try:
                principal = self._authority.authenticate(record.value, record.headers)
            except Rejected as rejected:
                await self.reject(record, rejected)
                continue
            unhandled = _relayed_type(record) if principal.kind == "service" else None
            if unhandled in EVENT_TYPES and unhandled not in self._handlers:
                # A service's relay names the record's type in its ce-type header, a type of the contract this service
                # does not consume: whatever the value holds, this service would change nothing for it, and parsing
                # it would be wasted. The header is not signed: another principal's record is read, so that one no
                # consumer can read is dead-lettered whatever type its headers name.
                ignored[unhandled] += 1
                continue
            try:
                envelope, data = parse_event(record.value, wanted=self._handlers)
                self._authority.authorize(principal, record.topic, envelope)
            except UnwantedEvent as unwanted:
                ignored[unwanted.event_type] += 1
                continue
            except Rejected as rejected:
                await self.reject(record, rejected)
                continue
            except ContractError as exc:
                await self.dead_letter(record, str(exc))
                continue
            except Exception as exc:  # whatever a hostile record makes a parser raise is the record's fault
                await self.dead_letter(record, f"undecodable record: {type(exc).__name__}")
                continue
            accepted.append((record, envelope, data))
        for event_type, count in ignored.items():
            EVENTS_CONSUMED.labels(event_type, "ignored").inc(count)
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

    async def _handle_in_one_transaction(self, accepted: list[Accepted]) -> None:
        """Handle the batch in one transaction with one inbox statement. A handler that fails on an event rolls the
        whole attempt back; the batch is then handled again with a savepoint per event, so that only the failing
        events are dead-lettered (savepoints for every event would cost a round trip each, on every batch)."""
        try:
            handled = await self._handle(accepted, isolated=False)
        except _IsolateEvents:
            handled = await self._handle(accepted, isolated=True)
        for (envelope_type, outcome), count in Counter(handled.outcomes).items():
            EVENTS_CONSUMED.labels(envelope_type, outcome).inc(count)
        if handled.handled:
            first, last = handled.handled[0], handled.handled[-1]
            log.info(
                "events handled",
                count=len(handled.handled),
                event_ids=[envelope.id for _, envelope in handled.handled],
                topic=first[0].topic,
                first_offset=first[0].offset,
                last_offset=last[0].offset,
            )

    async def _handle(self, accepted: list[Accepted], *, isolated: bool) -> _Handled:
        result = _Handled()
        with deferred_outbox() as emitted:
            async with self._pool.acquire() as conn, conn.transaction():
                await self._handle_batch(conn, accepted, emitted, result, isolated=isolated)
        return result

    async def _handle_batch(
        self, conn: asyncpg.Connection, accepted: list[Accepted], emitted: Pending, result: _Handled, *, isolated: bool
    ) -> None:
        failed: list[tuple[ConsumerRecord[Any, Any], str]] = []
        fresh: set[str] = set()
        if not isolated:
            try:
                fresh = await claim_batch(conn, self.consumer_name, [(e.id, e.type) for _, e, _ in accepted])
            except Exception as exc:
                if is_transient(exc):
                    raise
                raise _IsolateEvents from exc  # one event id the database refuses must not hold up the rest
        run: list[Accepted] = []
        for record, envelope, data in accepted:
            if not isolated:
                if envelope.id not in fresh:
                    result.outcomes.append((envelope.type, "duplicate"))
                    continue
                fresh.discard(envelope.id)  # a second copy in the same batch is a duplicate
                if envelope.type in self._run_handlers:
                    if run and run[0][1].type != envelope.type:
                        await self._handle_run(conn, run, result)
                    run.append((record, envelope, data))
                    continue
                if run:
                    await self._handle_run(conn, run, result)
            emitted_before = len(emitted)
            try:
                if isolated:
                    async with conn.transaction():
                        if not await claim(conn, self.consumer_name, envelope.id, envelope.type):
                            result.outcomes.append((envelope.type, "duplicate"))
                            continue
                        await self._handle_one(conn, envelope, data)
                else:
                    await self._handle_one(conn, envelope, data)
            except Exception as exc:
                if is_transient(exc):
                    raise
                if not isolated:
                    raise _IsolateEvents from exc
                del emitted[emitted_before:]  # its savepoint is rolled back: so are the events it emitted
                if isinstance(exc, ContractError):
                    failed.append((record, str(exc)))
                else:
                    log.exception("handler failed; event goes to the dead-letter topic", event_id=envelope.id)
                    failed.append((record, f"handler error: {type(exc).__name__}: {exc}"))
                # Its claim went with its savepoint: once the cause is fixed, the dead letter can be produced again.
                continue
            result.outcomes.append((envelope.type, "handled"))
            result.handled.append((record, envelope))
        if run:
            await self._handle_run(conn, run, result)
        await flush_outbox(conn, emitted)
        for record, reason in failed:
            if reason.startswith(FORBIDDEN):
                # A handler found the event's resources outside the project it names: who sent it is counted too.
                principal = self._authority.authenticate(record.value, record.headers).label
                EVENTS_REJECTED.labels("forbidden", principal).inc()
                await self.dead_letter(record, reason, principal=principal)
                continue
            await self.dead_letter(record, reason)

    async def _handle_one(self, conn: asyncpg.Connection, envelope: CloudEvent, data: EventData) -> None:
        ctx = HandlerContext(conn, envelope, self._emitter, self._service)
        with ctx.activated():
            await self._handlers[envelope.type](ctx, data)
            log.debug("event handled")

    async def _handle_run(self, conn: asyncpg.Connection, run: list[Accepted], result: _Handled) -> None:
        """Hand a run of new events of one type to its batch handler (not isolated: a failure isolates them)."""
        try:
            await self._run_handlers[run[0][1].type](
                [(HandlerContext(conn, envelope, self._emitter, self._service), data) for _, envelope, data in run]
            )
        except Exception as exc:
            if is_transient(exc):
                raise
            raise _IsolateEvents from exc
        for record, envelope, _ in run:
            result.outcomes.append((envelope.type, "handled"))
            result.handled.append((record, envelope))
        log.debug("events handled as a run", event_type=run[0][1].type, count=len(run))
        run.clear()

    async def reject(self, record: ConsumerRecord[Any, Any], rejected: Rejected) -> None:
        """Dead-letter a record that is not authenticated or not allowed; it changes nothing."""
        EVENTS_REJECTED.labels(rejected.reason, rejected.principal).inc()
        await self.dead_letter(record, str(rejected), principal=rejected.principal)

    async def dead_letter(self, record: ConsumerRecord[Any, Any], reason: str, *, principal: str | None = None) -> None:
        topic = dead_letter_topic(record.topic)
        ours = [
            ("dlt-reason", reason[:2000].encode(errors="replace")),
            *((("dlt-principal", principal.encode()),) if principal else ()),
            ("dlt-original-topic", record.topic.encode()),
            ("dlt-original-partition", str(record.partition).encode()),
            ("dlt-original-offset", str(record.offset).encode()),
            ("dlt-consumer", self.consumer_name.encode()),
        ]
        key = record.key if isinstance(record.key, bytes | None) else str(record.key).encode()
        value = record.value if isinstance(record.value, bytes | None) else str(record.value).encode()
        key, value, headers = dead_letter_record(key, value, record.headers or (), ours)
        await (await self._producer.send(topic, value, key=key, headers=headers))
        DEAD_LETTERED.labels(record.topic).inc()
        EVENTS_CONSUMED.labels("unknown", "dead_lettered").inc()
        log.warning("dead-lettered", topic=record.topic, offset=record.offset, reason=reason[:300])


DEAD_LETTER_HEADER_BYTES = 64 * 1024
"""How much of a record's own headers its dead letter copies."""


def dead_letter_record(
    key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, Any]], ours: list[tuple[str, bytes]]
) -> tuple[bytes | None, bytes | None, list[tuple[str, Any]]]:
    """The key, value and headers of a record's dead letter: its own, and ``ours`` (the reason and where it came from)
    after them, within what a producer of the project sends (``MAX_MESSAGE_BYTES``). A record the broker took can be
    that large already: its dead letter, larger, would be refused by the producer, the batch handled again, and the
    record dead-lettered again, for ever. So the record's headers are copied only up to ``DEAD_LETTER_HEADER_BYTES``
    (those named ``dlt-*`` never: they would pass for ours), and a value that does not fit then is cut to the
    contract's limit, ``dlt-value-bytes`` saying how long it was."""
    own = [(k, v) for k, v in headers if not k.startswith("dlt-")]
    if sum(len(k) + len(v or b"") + 8 for k, v in own) > DEAD_LETTER_HEADER_BYTES:  # 8: what each costs besides
        ours = [*ours, ("dlt-headers-dropped", str(len(own)).encode())]
        own = []
    if key is not None and len(key) > DEAD_LETTER_HEADER_BYTES:
        ours = [*ours, ("dlt-key-bytes", str(len(key)).encode())]
        key = key[:DEAD_LETTER_HEADER_BYTES]
    letter = [*own, *ours]
    if value is not None and DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, letter) > MAX_MESSAGE_BYTES:
        letter.append(("dlt-value-bytes", str(len(value)).encode()))
        value = value[:MAX_EVENT_BYTES]
    return key, value, letter
