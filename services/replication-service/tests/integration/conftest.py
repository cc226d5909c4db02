"""Two regions in one process: image-service, backup-service and replication-service of cn-north-4 and
ap-southeast-1, each with its own fresh database and the real consumer path (``EventProcessor``: inbox, handler,
outbox in one transaction). A bus stands in for Kafka: it moves committed outbox rows to the consumers of their
topic, in order, and can hold a consumer's topic back to stage a slow or cut-off region."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import asyncpg
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

import backup_service.app
import image_service.app
import replication_service.app
from backup_service.settings import BackupSettings
from image_service.settings import ImageSettings
from ims_shared.consumer import EventHandlers, EventProcessor
from ims_shared.emitter import Emitter
from ims_shared.events import EventData, make_event
from ims_shared.tenants import load_tenants
from ims_shared.topics import TopicKind, topic_for
from replication_service.app import MIGRATIONS as REPLICATION_MIGRATIONS
from replication_service.settings import ReplicationSettings
from tests.support import consumer_record, development_authority, fresh_database

CN, AP = "cn-north-4", "ap-southeast-1"
REGIONS = [CN, AP]
TENANTS = load_tenants(None)
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


class ManualClock:
    def __init__(self, start: datetime) -> None:
        self.now_ = start

    def now(self) -> datetime:
        return self.now_

    def advance(self, delta: timedelta) -> None:
        self.now_ += delta


@dataclass
class DeadLetters:
    """Stands in for the Kafka producer, which the consumer uses only to dead-letter a record."""

    reasons: list[str] = field(default_factory=list)

    async def send(self, topic: str, value: bytes | None, key: bytes | None = None, headers: Any = None) -> Any:
        self.reasons.append(dict(headers or []).get("dlt-reason", b"").decode())
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@dataclass
class Node:
    service: str
    region: str
    pool: asyncpg.Pool
    topics: list[str]
    context: Any
    handlers: EventHandlers
    dead: DeadLetters = field(default_factory=DeadLetters)
    processor: EventProcessor = field(init=False)

    def __post_init__(self) -> None:
        self.emitter = emitter_of(self.service, self.region)
        self.processor = EventProcessor(
            authority=development_authority(),
            consumer_name=f"{self.service}.{self.region}",
            handlers=self.handlers,
            pool=self.pool,
            producer=cast(AIOKafkaProducer, self.dead),
            emitter=self.emitter,
            service=self.context,
            retry_limit_s=5,
        )

    @property
    def name(self) -> str:
        return f"{self.service}[{self.region}]"


def emitter_of(service: str, region: str) -> Emitter:
    return Emitter(f"/{region}/{service}", region)


Hold = Callable[[Node, str], bool]


@dataclass
class World:
    nodes: dict[str, Node]
    clock: ManualClock
    queues: dict[str, list[ConsumerRecord[bytes, bytes]]] = field(default_factory=dict)
    _offset: int = 0

    def node(self, service: str, region: str) -> Node:
        return self.nodes[f"{service}[{region}]"]

    def _record(self, topic: str, key: str, payload: str) -> ConsumerRecord[bytes, bytes]:
        self._offset += 1
        value, key_bytes = payload.encode(), key.encode()
        return consumer_record(topic, self._offset, value, key_bytes)

    def _publish(self, topic: str, key: str, payload: str) -> None:
        for node in self.nodes.values():
            if topic in node.topics:
                self.queues.setdefault(node.name, []).append(self._record(topic, key, payload))

    def produce(self, data: EventData, *, project_id: str, region: str) -> str:
        """An event from an outside system (or from the API of a service), straight onto its topic."""
        event = make_event(data, source="/tests/outside", region=region, project_id=project_id)
        self._publish(topic_for(data.topic_kind, region), data.aggregate_id(), event.model_dump_json(exclude_none=True))
        return event.id

    async def _collect(self) -> int:
        moved = 0
        for node in self.nodes.values():
            async with node.pool.acquire() as conn, conn.transaction():
                rows = await conn.fetch(
                    "SELECT id, topic, key, payload FROM outbox WHERE published_at IS NULL ORDER BY id FOR UPDATE"
                )
                await conn.execute(
                    "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
                )
            for row in rows:
                self._publish(row["topic"], row["key"], row["payload"])
            moved += len(rows)
        return moved

    async def settle(self, hold: Hold = lambda node, topic: False) -> None:
        """Deliver until nothing moves; records of a held (consumer, topic) wait, in order, for a later call."""
        for _ in range(50):
            await self._collect()
            delivered = 0
            for node in self.nodes.values():
                queue = self.queues.get(node.name, [])
                now = [r for r in queue if not hold(node, r.topic)]
                self.queues[node.name] = [r for r in queue if hold(node, r.topic)]
                if now:
                    await node.processor.process(now)
                    assert not node.dead.reasons, f"{node.name} dead-lettered: {node.dead.reasons}"
                    delivered += len(now)
            if not delivered and not await self._collect():
                return
        raise AssertionError("the bus did not settle")

    async def redeliver_everything(self) -> None:
        """Kafka delivers every record once more (a consumer restarted before committing its offsets)."""
        for node in self.nodes.values():
            for row in await node.pool.fetch("SELECT topic, key, payload FROM outbox ORDER BY id"):
                self._publish(row["topic"], row["key"], row["payload"])

    async def emitted(self, node: Node, event_type: str) -> list[dict[str, Any]]:
        rows = await node.pool.fetch("SELECT topic, payload FROM outbox WHERE event_type = $1 ORDER BY id", event_type)
        return [{"topic": r["topic"], **json.loads(r["payload"])} for r in rows]


def _migrations(module: Any) -> Path:
    path: Path = module.MIGRATIONS
    return path


@pytest_asyncio.fixture
async def world() -> AsyncIterator[World]:
    clock = ManualClock(T0)
    async with AsyncExitStack() as stack:

        async def database(migrations: Path, prefix: str) -> asyncpg.Pool:
            _, pool = await stack.enter_async_context(fresh_database(migrations, prefix))
            return pool

        migrations = {
            "image-service": _migrations(image_service.app),
            "backup-service": _migrations(backup_service.app),
            "replication-service": REPLICATION_MIGRATIONS,
        }
        wanted = [(service, region) for region in REGIONS for service in migrations]
        pools = dict(
            zip(
                wanted,
                await asyncio.gather(*(database(migrations[s], f"repl_{s[:3]}") for s, _ in wanted)),
                strict=True,
            )
        )
        nodes: dict[str, Node] = {}
        for region in REGIONS:
            own = [topic_for(kind, region) for kind in TopicKind if kind is not TopicKind.BILLING] + ["ims.billing"]
            image_settings = ImageSettings(region=region, image_build_s=0)
            replication_settings = ReplicationSettings(region=region, replication_timeout_s=60)
            for node in (
                Node(
                    "image-service",
                    region,
                    pools["image-service", region],
                    own,
                    image_service.app.bootstrap(image_settings),
                    image_service.app.event_handlers(),
                ),
                Node(
                    "backup-service",
                    region,
                    pools["backup-service", region],
                    own,
                    backup_service.app.bootstrap(BackupSettings(region=region)),
                    backup_service.app.event_handlers(),
                ),
                Node(
                    "replication-service",
                    region,
                    pools["replication-service", region],
                    [topic_for(TopicKind.REPLICATION, r) for r in REGIONS],
                    replace(replication_service.app.bootstrap(replication_settings), clock=clock.now),
                    replication_service.app.event_handlers(),
                ),
            ):
                nodes[node.name] = node
        yield World(nodes, clock)
