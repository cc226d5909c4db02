"""The outbox relay over real PostgreSQL and a real Kafka-protocol broker."""

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from ims_shared.emitter import Emitter
from ims_shared.events import BackupDeleted
from ims_shared.kafka import create_topics, make_producer
from ims_shared.relay import OutboxRelay
from ims_shared.testing import fresh_database

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
        relay = OutboxRelay(dsn, producer, poll_interval_s=0.1)
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
            assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
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
        relay = OutboxRelay(dsn, producer, poll_interval_s=0.1, batch_size=7)
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
