"""Wiring of one service process: migrations, pool, producer, relay, consumer and background loops,
behind a FastAPI app that also serves health, readiness and metrics."""

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Generic, Protocol, TypedDict, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry.trace import SpanKind
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ims_shared import health
from ims_shared.auth import MAX_BODY_BYTES
from ims_shared.background import PeriodicTask
from ims_shared.consumer import EventHandlers, EventProcessor
from ims_shared.credentials import service_signer
from ims_shared.db import Database
from ims_shared.emitter import Emitter
from ims_shared.errors import ErrorStyle, error_body, install_error_handlers
from ims_shared.event_auth import EventAuthority
from ims_shared.heap import freeze_start_up_objects
from ims_shared.holes import OffsetHoles
from ims_shared.kafka import KafkaSecurity, create_topics, make_producer, start_with_retry
from ims_shared.leading import leading_first
from ims_shared.logging import configure_logging, get_logger, log_fields
from ims_shared.metrics import CONSUMER_LAG, HTTP_REQUESTS
from ims_shared.offsets import OffsetCommitter
from ims_shared.outbox_retention import prune_published
from ims_shared.relay import OutboxRelay
from ims_shared.settings import ServiceSettings
from ims_shared.tenants import TenantCatalog
from ims_shared.topics import all_topics
from ims_shared.tracing import configure_tracing, span_from, trace_context, trace_id

log = get_logger(__name__)
BODY_TOO_LARGE = "APIGW.0201"

SHARED_MIGRATIONS = Path(str(resources.files("ims_shared").joinpath("migrations")))


class ServiceContext(Protocol):
    """What every service's typed context (the dataclass its ``app.bootstrap`` builds from its settings) has, and
    what the runtime takes from it."""

    @property
    def settings(self) -> ServiceSettings: ...

    @property
    def database(self) -> Database: ...

    @property
    def emitter(self) -> Emitter: ...

    @property
    def tenants(self) -> TenantCatalog: ...


S = TypeVar("S", bound=ServiceContext)
C = TypeVar("C")


async def _raw_body(_: Any) -> None:
    # The processor parses and validates the raw bytes itself, so a bad record can be dead-lettered. Async, since
    # FastStream runs a plain function in a worker thread: a thread hand-off for every batch.
    return None


class ConsumerOptions(TypedDict):
    max_records: int
    batch_timeout_ms: int
    fetch_max_wait_ms: int
    fetch_min_bytes: int
    session_timeout_ms: int
    heartbeat_interval_ms: int


def service_dependency(kind: type[C]) -> Callable[[Request], C]:
    """The FastAPI dependency that hands a route its service's typed context, the one ``build_app`` was given: a
    service declares ``Annotated[ItsContext, Depends(service_dependency(ItsContext))]`` once and its routes take it
    as a parameter."""

    def provide(request: Request) -> C:
        service = request.app.state.service
        if not isinstance(service, kind):
            raise TypeError(f"this app serves a {type(service).__name__}, not a {kind.__name__}")
        return service

    return provide


def consumer_options(s: ServiceSettings) -> ConsumerOptions:
    """How a service's Kafka consumer fetches and batches, from its settings."""
    return {
        "max_records": s.kafka_max_batch,
        "batch_timeout_ms": s.kafka_batch_timeout_ms,
        "fetch_max_wait_ms": s.kafka_fetch_max_wait_ms,
        "fetch_min_bytes": s.kafka_fetch_min_bytes,
        "session_timeout_ms": s.kafka_session_timeout_ms,
        "heartbeat_interval_ms": s.kafka_heartbeat_interval_ms,
    }


class ServiceRuntime(Generic[S]):
    """One service process's plumbing around its typed context ``service``: the database's migrations and pool, the
    producer, the outbox relay, the consumer of ``topics`` that hands events to ``handlers``, and the background
    ``periodic`` tasks. Built once by the service's ``app.create_app`` from what its ``bootstrap`` made."""

    def __init__(
        self,
        service: S,
        *,
        migrations: Path,
        handlers: EventHandlers[S],
        topics: list[str],
        periodic: Sequence[PeriodicTask] = (),
        leading_topics: Collection[str] = (),
        on_started: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        settings = service.settings
        self.settings = settings
        self.service = service
        self.database = service.database
        self.emitter = service.emitter
        self.migrations = migrations
        self.handlers = handlers
        self.topics = topics
        self.leading_topics = frozenset(leading_topics)
        self._on_started = on_started
        self.producer: AIOKafkaProducer | None = None
        self.broker: KafkaBroker | None = None
        self.relay: OutboxRelay | None = None
        self.processor: EventProcessor[S] | None = None
        self.authority = EventAuthority(service.tenants)
        self.signer = service_signer(settings, service.tenants)
        self.offsets = OffsetCommitter(settings.kafka_commit_interval_ms / 1000)
        self.periodic: list[PeriodicTask] = [
            *periodic,
            PeriodicTask("consumer lag", settings.lag_interval_s, self._measure_lag),
            PeriodicTask("outbox retention", settings.outbox_prune_interval_s, self._prune_outbox),
        ]
        self.tasks: list[asyncio.Task[None]] = []
        self._subscriber: Any = None

    @property
    def db(self) -> asyncpg.Pool:
        return self.database.pool

    @property
    def migrations_applied(self) -> bool:
        return self.database.migrations_applied

    def heartbeats(self) -> dict[str, tuple[float, float]]:
        """Last tick and expected interval of every background loop."""
        beats = {task.name: (task.last_tick, task.interval_s) for task in self.periodic}
        if self.relay is not None:
            beats["outbox relay"] = (self.relay.last_tick, self.settings.relay_poll_interval_s)
        return beats

    def subscriber_stopped(self) -> bool:
        return self._subscriber is not None and self._subscriber.consumer is None

    def assigned(self) -> bool:
        consumer = getattr(self._subscriber, "consumer", None)
        return consumer is not None and bool(consumer.assignment())

    async def start(self) -> None:
        s = self.settings
        configure_logging(s.service_name, s.region, s.log_format, s.log_level)
        configure_tracing(s.service_name, s.region, s.tracing_exporter)
        applied = await self.database.open(self.migrations, SHARED_MIGRATIONS)
        log.info("migrations applied", new=applied)
        security = KafkaSecurity.of(s)
        self.producer = make_producer(s.kafka_bootstrap_servers, s.kafka_request_timeout_ms, security)
        await start_with_retry(self.producer)
        await create_topics(s.kafka_bootstrap_servers, all_topics(s.regions), security=security)
        self.relay = OutboxRelay(
            s.database_url, self.producer, self.signer, s.relay_poll_interval_s, s.relay_batch_size
        )
        self.processor = EventProcessor(
            consumer_name=s.consumer_group,
            handlers=self.handlers,
            service=self.service,
            pool=self.db,
            producer=self.producer,
            emitter=self.emitter,
            authority=self.authority,
            retry_limit_s=s.handler_retry_limit_s,
        )
        self.broker = KafkaBroker(
            s.kafka_bootstrap_servers,
            logger=None,
            request_timeout_ms=s.kafka_request_timeout_ms,
            security=security.faststream(),
        )
        processor = self.processor
        holes = OffsetHoles(s.kafka_offset_hole_wait_ms / 1000)
        self._subscriber = self.broker.subscriber(
            *self.topics,
            group_id=s.consumer_group,
            auto_offset_reset="earliest",
            batch=True,
            # Offsets are committed by ``self.offsets`` once a batch's transaction has committed (never before, as
            # ACK_FIRST would), without waiting for the broker's answer; a failed batch is read again.
            ack_policy=AckPolicy.MANUAL,
            decoder=_raw_body,
            **consumer_options(s),
        )

        context = self.broker.context

        @self._subscriber
        async def on_records(_: Any = None) -> None:
            # The message is read from FastStream's context here, not through a `KafkaMessage` parameter: FastDepends
            # resolves such a context parameter with a plain function in a worker thread, a hand-off per batch.
            msg: KafkaMessage = context.get_local("message")
            consumer: AIOKafkaConsumer = self._subscriber.consumer  # the aiokafka consumer that fetched the batch
            batch = await leading_first(consumer, list(msg.raw_message), self.leading_topics)
            await self.offsets.handle(consumer, batch, await holes.admit(consumer, batch), processor.process)

        await self.broker.start()
        if self._on_started is not None:
            await self._on_started()
        self.tasks = [asyncio.create_task(self.relay.run(), name="outbox-relay")]
        self.tasks += [asyncio.create_task(t.run(), name=t.name) for t in self.periodic]
        log.info("service started", http_port=s.http_port, topics=self.topics)

    async def _measure_lag(self) -> None:
        consumer = getattr(self._subscriber, "consumer", None)
        if consumer is None:
            return
        for partition in consumer.assignment():
            high = consumer.highwater(partition)
            if high is None:
                continue
            position = await asyncio.wait_for(consumer.position(partition), 2)
            CONSUMER_LAG.labels(partition.topic, str(partition.partition)).set(max(0, high - position))

    async def _prune_outbox(self) -> None:
        await prune_published(self.db, self.settings.outbox_retention_s)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.offsets.flush()
        if self.broker is not None:
            await self.broker.stop()
        await self.offsets.stop()
        if self.producer is not None:
            await self.producer.stop()
        await self.database.close()
        log.info("service stopped")


MAX_BODY_DEPTH = 32
"""How deeply a request body may nest arrays and objects. The deepest body an API takes nests a few levels (CBR's
CreateCheckpoint: checkpoint, parameters, resource_details, an item, its extra_info); the JSON parsers give up with
a ``RecursionError`` near a thousand."""

# A JSON string: what its quotes enclose, escapes included. One left open runs to the end of the body (whose parser
# refuses it anyway), so that every quote starts a match and the scan stays linear.
_JSON_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = frozenset(b"[{")


def nested_deeper_than(body: bytes, depth: int) -> bool:
    """Whether the arrays and objects of ``body`` (JSON) nest deeper than ``depth``: its brackets outside strings are
    counted, so the answer comes before any parser recurses. Strings and everything but brackets are dropped at C
    speed, and only the brackets left are counted one by one, stopping at the first too deep. A body in UTF-16 or
    UTF-32 (which the parsers read too) is scanned as the UTF-8 it decodes to."""
    encoding = json.detect_encoding(body)
    if not encoding.startswith("utf-8"):
        body = body.decode(encoding, errors="replace").encode("utf-8", errors="replace")
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if len(brackets) <= depth:
        return False
    level = 0
    for byte in brackets:
        if byte in _OPENERS:
            level += 1
            if level > depth:
                return True
        else:
            level -= 1
    return False


class BodyLimit:
    """Refuses a request body over ``limit`` bytes with 413 before anything reads it: FastAPI parses and validates
    a body before the endpoint authenticates the caller, so the limit cannot wait for the endpoint. A body nested
    deeper than ``max_depth`` is refused with 400 and ``bad_request_code`` before any parser (FastAPI's or a
    route's) reads it, on every route: the parsers recurse, and a body of a few thousand levels made them raise
    ``RecursionError``, a 500. The body is buffered here anyway, and the scan costs less than parsing it."""

    def __init__(
        self, app: ASGIApp, limit: int, style: ErrorStyle, bad_request_code: str, max_depth: int = MAX_BODY_DEPTH
    ) -> None:
        self.app = app
        self.limit = limit
        self.style = style
        self.bad_request_code = bad_request_code
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await self._refuse(scope, receive, send)
                return
        if body and nested_deeper_than(body, self.max_depth):
            await self._refuse_depth(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse_depth(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"invalid request: the body nests arrays or objects deeper than {self.max_depth} levels"
        answer = JSONResponse(error_body(self.style, self.bad_request_code, message), status_code=400)
        await answer(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"request body larger than {self.limit} bytes"
        answer = JSONResponse(error_body(self.style, BODY_TOO_LARGE, message), status_code=413)
        answer.headers["Connection"] = "close"
        await answer(scope, receive, send)


def build_app(
    runtime: ServiceRuntime[S],
    *,
    title: str,
    error_style: ErrorStyle,
    bad_request_code: str,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The service's FastAPI app: ``runtime`` started and stopped with it, health, readiness and metrics, the one
    error mapping, and ``routers``, whose routes receive the service's context through ``service_dependency``."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            freeze_start_up_objects()
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, lifespan=lifespan)
    app.state.service = runtime.service
    # What the app runs (its topics, its consumer group), for tools that read a deployment off its services.
    app.state.runtime = runtime
    install_error_handlers(app, error_style, bad_request_code)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES, style=error_style, bad_request_code=bad_request_code)
    app.include_router(health.router(runtime))
    for router in routers:
        app.include_router(router)

    @app.middleware("http")
    async def observe_requests(request: Request, call_next: Callable[[Request], Any]) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        with (
            span_from(request.headers, f"{request.method} {request.url.path}", SpanKind.SERVER),
            log_fields(request_id=request_id, trace_id=trace_id()),
        ):
            response: Response = await call_next(request)
            response.headers["X-Request-Id"] = request_id
            for name, value in trace_context().items():
                response.headers[name] = value
        route = request.scope.get("route")
        HTTP_REQUESTS.labels(request.method, getattr(route, "path", "unmatched"), str(response.status_code)).inc()
        return response

    return app
