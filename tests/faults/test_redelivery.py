"""Crashes at the two worst moments of the outbox/inbox pattern, with the real classes over real PostgreSQL and a
real broker:

* the relay dies after the broker acknowledged a batch and before it marked the rows published: the next relay
  publishes the batch again (at-least-once) and the consumer's inbox makes the copies change nothing;
* a consumer dies after its database commit and before its offset commit: the group hands the records to the
  next consumer, whose processing changes nothing.

And a service killed while it applied its migrations starts again (it used to wait for a lock row the dead
process left behind, then give up).
"""

import asyncio
import json
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from ims_shared.consumer import EventHandlers, EventProcessor, HandlerContext
from ims_shared.db import apply_migrations
from ims_shared.emitter import Emitter
from ims_shared.events import BackupCreated, BackupDeleted, ImageCreated
from ims_shared.kafka import create_topics, make_producer
from ims_shared.relay import OutboxRelay
from ims_shared.service import SHARED_MIGRATIONS
from tests.faults.tools import read_topic, report, size
from tests.support import development_authority, fresh_database, scratch_database, signer_of

pytestmark = [pytest.mark.faults, pytest.mark.integration]
NOTES = Path(__file__).resolve().parents[2] / "shared" / "tests" / "integration" / "migrations"


async def note_deletion(ctx: HandlerContext[None], event: BackupDeleted) -> None:
    """A counting effect plus an emitted event: both must happen once per event, whatever the redeliveries."""
    await ctx.conn.execute(
        "INSERT INTO notes (backup_id) VALUES ($1) "
        "ON CONFLICT (backup_id) DO UPDATE SET times_seen = notes.times_seen + 1",
        event.backup_id,
    )
    await ctx.emit(
        ImageCreated(image_id=event.backup_id, job_id="j", backup_id=event.backup_id, name="n", min_disk=1, size_gb=1)
    )


handlers = EventHandlers[None]().on(BackupDeleted, note_deletion)


class DiesAfterPublishing:
    """A producer that, once ``after`` records were acknowledged by the broker, hangs: the relay is stuck between
    publishing and marking, and the test kills it there."""

    def __init__(self, producer: AIOKafkaProducer, after: int) -> None:
        self._producer = producer
        self._after = after
        self._sent: list[asyncio.Future[Any]] = []
        self.published = asyncio.Event()

    async def send(self, *args: Any, **kwargs: Any) -> "asyncio.Future[Any]":
        future = await self._producer.send(*args, **kwargs)
        self._sent.append(future)
        if len(self._sent) == self._after:
            await asyncio.gather(*self._sent)
            self.published.set()
            await asyncio.Event().wait()  # never returns: the process is about to die
        return future


async def _stop(task: "asyncio.Task[None]") -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_relay_killed_between_publishing_and_marking_changes_nothing(kafka_bootstrap: str) -> None:
    n, batch = size(60, 600), size(20, 200)
    region = f"r{uuid.uuid4().hex[:6]}"
    topic = f"ims.{region}.backups"
    await create_topics(kafka_bootstrap, [topic, topic + ".dlt"], partitions=4)
    emitter = Emitter("/faults", region)
    async with fresh_database(NOTES, prefix="ims_faults") as (dsn, pool):
        async with pool.acquire() as conn, conn.transaction():
            for i in range(n):
                await emitter.emit(conn, BackupDeleted(backup_id=f"b{i}", reason="user"), project_id="p")
        producer = make_producer(kafka_bootstrap)
        await producer.start()
        try:
            dying = DiesAfterPublishing(producer, after=batch)
            first = asyncio.create_task(OutboxRelay(dsn, dying, signer_of("backup-service"), 0.1, batch).run())  # type: ignore[arg-type]
            await asyncio.wait_for(dying.published.wait(), 30)
            await _stop(first)  # killed: its rows are on the topic but not marked
            assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == n
            second = asyncio.create_task(OutboxRelay(dsn, producer, signer_of("backup-service"), 0.1, batch).run())
            try:
                deadline = time.monotonic() + 30
                while await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
                    assert time.monotonic() < deadline, "the restarted relay did not publish the backlog"
                    await asyncio.sleep(0.1)
            finally:
                await _stop(second)
        finally:
            await producer.stop()
        records = await read_topic(kafka_bootstrap, topic)
        copies = Counter(json.loads(r.value)["id"] for r in records)
        assert len(copies) == n, "an event was lost"
        assert sum(copies.values()) == n + batch, "the killed relay's batch is published exactly twice"

        # Everything (copies included) through a consumer: each event has its effect once.
        processor = EventProcessor(
            authority=development_authority(),
            consumer_name="faults",
            handlers=handlers,
            service=None,
            pool=pool,
            producer=producer,
            emitter=emitter,
        )
        producer = make_producer(kafka_bootstrap)
        await producer.start()
        processor._producer = producer
        try:
            await processor.process(records)
        finally:
            await producer.stop()
        assert await pool.fetchval("SELECT count(*) FROM notes WHERE times_seen = 1") == n
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'ImageCreated'") == n
        assert await pool.fetchval("SELECT count(*) FROM inbox") == n
    report("relay killed after publishing", events=n, republished=batch, effects=n, emitted=n)


async def test_consumer_killed_between_db_commit_and_offset_commit_changes_nothing(kafka_bootstrap: str) -> None:
    n = size(80, 800)
    region = f"r{uuid.uuid4().hex[:8]}"
    topic = f"ims.{region}.backups"
    group = f"g-{uuid.uuid4().hex[:6]}"
    await create_topics(kafka_bootstrap, [topic, topic + ".dlt"], partitions=2)
    emitter = Emitter("/faults", region)
    from ims_shared.events import make_event

    producer = make_producer(kafka_bootstrap)
    await producer.start()
    signer = signer_of("backup-service")
    try:
        for i in range(n):
            event = make_event(
                BackupDeleted(backup_id=f"c{i}", reason="user"), source="/t", region=region, project_id="p"
            )
            value = event.model_dump_json().encode()
            await producer.send(topic, value, key=f"c{i}".encode(), headers=[signer.header(value)])
        await producer.flush()

        async def one_consumer_life(commit: bool) -> int:
            consumer = AIOKafkaConsumer(
                topic,
                bootstrap_servers=kafka_bootstrap,
                group_id=group,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=6000,
                heartbeat_interval_ms=500,
            )
            await consumer.start()
            seen = 0
            try:
                deadline = time.monotonic() + 60
                while seen < n and time.monotonic() < deadline:
                    for records in (await consumer.getmany(timeout_ms=500, max_records=50)).values():
                        await processor.process(records)  # database committed here
                        seen += len(records)
                        if commit:
                            await consumer.commit()
            finally:
                await consumer.stop()  # without commit: the offsets stay where they were, as in a crash
            return seen

        async with fresh_database(NOTES, prefix="ims_faults") as (_, pool):
            processor = EventProcessor(
                authority=development_authority(),
                consumer_name="faults",
                handlers=handlers,
                service=None,
                pool=pool,
                producer=producer,
                emitter=emitter,
            )
            first = await one_consumer_life(commit=False)
            effects = await pool.fetchval("SELECT count(*) FROM notes")
            outbox = await pool.fetchval("SELECT count(*) FROM outbox")
            processor = EventProcessor(
                authority=development_authority(),
                consumer_name="faults",
                handlers=handlers,
                service=None,
                pool=pool,
                producer=producer,
                emitter=emitter,
            )
            again = await one_consumer_life(commit=True)
            assert (first, again) == (n, n), "the group redelivers every uncommitted record"
            assert await pool.fetchval("SELECT count(*) FROM notes") == effects == n
            assert await pool.fetchval("SELECT max(times_seen) FROM notes") == 1
            assert await pool.fetchval("SELECT count(*) FROM outbox") == outbox == n
            assert await pool.fetchval("SELECT count(*) FROM inbox") == n
    finally:
        await producer.stop()
    report("consumer killed before offset commit", events=n, redelivered=again, effects=n, emitted=n)


async def test_a_service_killed_while_migrating_starts_again() -> None:
    """What a process killed inside its migrations leaves: yoyo's lock row. The next start must not wait on it."""
    async with scratch_database("ims_faults") as dsn:
        await apply_migrations(dsn, SHARED_MIGRATIONS)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, now(), 2147483)")
        finally:
            await conn.close()
        started = time.monotonic()
        await asyncio.wait_for(apply_migrations(dsn, SHARED_MIGRATIONS, NOTES), 8)
        elapsed = time.monotonic() - started
    report("restart after a kill during migrations", seconds=round(elapsed, 2))


async def test_concurrent_migrations_still_serialise() -> None:
    """Three processes starting at once on a new database: one applies, none fails."""
    async with scratch_database("ims_faults") as dsn:
        applied = await asyncio.gather(*(apply_migrations(dsn, SHARED_MIGRATIONS, NOTES) for _ in range(3)))
        every = len([*SHARED_MIGRATIONS.glob("*.sql"), *NOTES.glob("*.sql")])
        assert sorted(applied) == [0, 0, every]


_ = BackupCreated
