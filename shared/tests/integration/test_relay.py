"""The outbox relay over real PostgreSQL and a real Kafka-protocol broker."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaTimeoutError
from prometheus_client import REGISTRY

from ims_shared.emitter import Emitter
from ims_shared.events import BackupDeleted
from ims_shared.kafka import create_topics, make_producer
from ims_shared.relay import OutboxRelay
from tests.support import fresh_database, signer_of

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).parent / "migrations"


async def _read(bootstrap: str, topic: str, expected: int, timeout_s: float = 15) -> list[dict[str, object]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    found: list[dict[str, object]] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(found) < expected:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    found += [json.loads(r.value) | {"_key": r.key.decode()} for r in records]
    finally:
        await consumer.stop()
    return found


async def test_relay_publishes_a_row_that_commits_after_a_higher_id(kafka_bootstrap: str) -> None:
    region = f"r{uuid.uuid4().hex[:6]}"
    topic = f"ims.{region}.backups"
    await create_topics(kafka_bootstrap, [topic], partitions=1)
    emitter = Emitter("/test", region)
    async with fresh_database(MIGRATIONS) as (dsn, pool):
        producer = make_producer(kafka_bootstrap)
        await producer.start()
        relay = OutboxRelay(dsn, producer, signer_of("image-service"), poll_interval_s=0.1)
        relay_task = asyncio.create_task(relay.run())
        try:
            slow = await pool.acquire()
            tx = slow.transaction()
            await tx.start()
            # The slow transaction takes the lower outbox id but commits last.
            await emitter.emit(slow, BackupDeleted(backup_id="early-id", reason="user"), project_id="p")
            async with pool.acquire() as fast, fast.transaction():
                await emitter.emit(fast, BackupDeleted(backup_id="late-id", reason="user"), project_id="p")
            first = await _read(kafka_bootstrap, topic, 1)
            assert [e["subject"] for e in first] == ["late-id"]
            await tx.commit()
            await pool.release(slow)
            both = await _read(kafka_bootstrap, topic, 2)
            assert sorted(e["subject"] for e in both) == ["early-id", "late-id"]
            assert {e["_key"] for e in both} == {"early-id", "late-id"}
            # The relay marks a row published after the broker's acknowledgement: a reader may see it before that.
            for _ in range(300):
                if not await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("a row was sent but never marked published")
        finally:
            relay_task.cancel()
            await asyncio.gather(relay_task, return_exceptions=True)
            await producer.stop()


async def test_relay_keeps_order_per_aggregate(kafka_bootstrap: str) -> None:
    region = f"r{uuid.uuid4().hex[:6]}"
    topic = f"ims.{region}.backups"
    await create_topics(kafka_bootstrap, [topic], partitions=4)
    emitter = Emitter("/test", region)
    async with fresh_database(MIGRATIONS) as (dsn, pool):
        async with pool.acquire() as conn, conn.transaction():
            for i in range(50):
                await emitter.emit(
                    conn,
                    BackupDeleted(backup_id=f"b{i % 5}", reason="user", image_id=str(i)),
                    project_id="p",
                )
        producer = make_producer(kafka_bootstrap)
        await producer.start()
        relay = OutboxRelay(dsn, producer, signer_of("image-service"), poll_interval_s=0.1, batch_size=7)
        relay_task = asyncio.create_task(relay.run())
        try:
            events = await _read(kafka_bootstrap, topic, 50)
        finally:
            relay_task.cancel()
            await asyncio.gather(relay_task, return_exceptions=True)
            await producer.stop()
    for key in {f"b{i}" for i in range(5)}:
        sequence = [int(e["data"]["image_id"]) for e in events if e["_key"] == key]  # type: ignore[index]
        assert sequence == sorted(sequence) and len(sequence) == 10


class HeldProducer:
    """Records each send and acknowledges it only when the test says so (or fails it)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []  # (key, image_id) in send order
        self.acks: list[asyncio.Future[None]] = []

    async def send(self, topic: str, value: bytes, *, key: bytes, headers: object) -> asyncio.Future[None]:
        self.sent.append((key.decode(), json.loads(value)["data"]["image_id"]))
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack


async def _until(condition: Callable[[], bool], timeout_s: float = 5) -> None:
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the relay did not get there in time")


async def _emit(emitter: Emitter, pool: asyncpg.Pool, key: str, image_id: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await emitter.emit(conn, BackupDeleted(backup_id=key, reason="user", image_id=image_id), project_id="p")


@asynccontextmanager
async def _held_relay() -> AsyncIterator[tuple[HeldProducer, OutboxRelay, asyncpg.Pool]]:
    """A relay over a new database whose producer's acknowledgements the test gives."""
    async with fresh_database(MIGRATIONS) as (dsn, pool):
        producer = HeldProducer()
        relay = OutboxRelay(dsn, producer, signer_of("image-service"), poll_interval_s=0.05)  # type: ignore[arg-type]
        relay_task = asyncio.create_task(relay.run())
        try:
            yield producer, relay, pool
        finally:
            relay_task.cancel()
            await asyncio.gather(relay_task, return_exceptions=True)


async def test_relay_sends_while_earlier_rows_await_the_broker_but_holds_back_their_aggregates() -> None:
    emitter = Emitter("/test", "r1")
    async with _held_relay() as (producer, relay, pool):
        await _emit(emitter, pool, "b1", "1")
        await _until(lambda: len(producer.sent) == 1)
        await _emit(emitter, pool, "b2", "2")  # another aggregate: goes while 1 awaits its acknowledgement
        await _emit(emitter, pool, "b1", "3")  # the same aggregate as 1: waits for it
        await _until(lambda: len(producer.sent) == 2)
        await asyncio.sleep(0.2)
        assert producer.sent == [("b1", "1"), ("b2", "2")]
        assert REGISTRY.get_sample_value("ims_outbox_backlog") == 3  # two in flight, one held back: none published
        producer.acks[0].set_result(None)
        await _until(lambda: len(producer.sent) == 3)
        assert producer.sent[2] == ("b1", "3")
        for ack in producer.acks[1:]:
            ack.set_result(None)
        await _until(lambda: relay.is_leader and not relay._in_flight)
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


async def test_a_failed_send_is_sent_again_before_any_later_row_of_its_aggregate() -> None:
    emitter = Emitter("/test", "r1")
    async with _held_relay() as (producer, relay, pool):
        await _emit(emitter, pool, "b1", "1")
        await _until(lambda: len(producer.sent) == 1)
        await _emit(emitter, pool, "b1", "2")
        await _emit(emitter, pool, "b2", "3")
        await _until(lambda: len(producer.sent) == 2)
        producer.acks[0].set_exception(KafkaTimeoutError())  # 1 never reached the broker
        await _until(lambda: ("b1", "2") in producer.sent)
        assert [image for key, image in producer.sent if key == "b1"] == ["1", "1", "2"]
        for ack in producer.acks:
            if not ack.done():
                ack.set_result(None)
        await _until(lambda: all(a.done() for a in producer.acks) and not relay._in_flight, 10)
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


async def test_the_marking_records_when_the_row_was_written_read_by_the_relay_and_acknowledged() -> None:
    emitter = Emitter("/test", "r1")
    async with _held_relay() as (producer, relay, pool):
        await _emit(emitter, pool, "b1", "1")
        await _until(lambda: len(producer.sent) == 1)
        await asyncio.sleep(0.3)  # the broker takes its time to acknowledge
        producer.acks[0].set_result(None)
        await _until(lambda: relay.is_leader and not relay._in_flight)
        row = await pool.fetchrow(
            "SELECT created_at, written_at, relay_read_at, acked_at, published_at FROM outbox WHERE key = 'b1'"
        )
        assert row["created_at"] <= row["written_at"] <= row["relay_read_at"] <= row["acked_at"]
        assert row["acked_at"] <= row["published_at"]
        assert (row["acked_at"] - row["relay_read_at"]).total_seconds() >= 0.3
