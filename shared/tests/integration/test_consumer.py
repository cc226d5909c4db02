"""The consumer's exactly-once path and dead-lettering, over real PostgreSQL and a real broker."""

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer

from ims_shared.consumer import EventHandlers, EventProcessor, HandlerContext
from ims_shared.emitter import Emitter
from ims_shared.events import BackupCreated, BackupDeleted, make_event
from ims_shared.kafka import create_topics, make_producer
from ims_shared.topics import dead_letter_topic
from tests.support import consumer_record, development_authority, fresh_database

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).parent / "migrations"


async def count_backup(ctx: HandlerContext[None], event: BackupCreated) -> None:
    await ctx.conn.execute(
        "INSERT INTO notes (backup_id) VALUES ($1) "
        "ON CONFLICT (backup_id) DO UPDATE SET times_seen = notes.times_seen + 1",
        event.backup_id,
    )
    await ctx.emit(BackupDeleted(backup_id=event.backup_id, reason="user"))
    if event.name == "explode":
        raise RuntimeError("handler bug")


handlers = EventHandlers[None]().on(BackupCreated, count_backup)
_record = consumer_record


def _backup_event(backup_id: str, name: str = "nightly", *, region: str) -> bytes:
    data = BackupCreated(
        backup_id=backup_id,
        vault_id="v",
        name=name,
        resource_id="ecs",
        created_at=datetime.now(UTC),
        size_gb=10,
    )
    return make_event(data, source="/t", region=region, project_id="p").model_dump_json().encode()


async def _dead_letters(bootstrap: str, topic: str, expected: int) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    found: list[Any] = []
    try:
        for _ in range(50):
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found += records
            if len(found) >= expected:
                break
    finally:
        await consumer.stop()
    return found


@asynccontextmanager
async def _processing(
    pool: asyncpg.Pool, bootstrap: str, consumer_handlers: EventHandlers[None] = handlers
) -> AsyncIterator[EventProcessor[None]]:
    """A consumer's EventProcessor over ``pool``, its producer (for dead letters) started for the block."""
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        yield EventProcessor(
            authority=development_authority(),
            consumer_name="test-consumer",
            handlers=consumer_handlers,
            pool=pool,
            producer=producer,
            emitter=Emitter("/test", "r1"),
            service=None,
        )
    finally:
        await producer.stop()


async def test_a_redelivered_event_changes_nothing(kafka_bootstrap: str) -> None:
    region = f"r{uuid.uuid4().hex[:8]}"
    topic = f"ims.{region}.backups"
    value = _backup_event("b-1", region=region)
    async with fresh_database(MIGRATIONS) as (_, pool):
        async with _processing(pool, kafka_bootstrap) as processor:
            await processor.process([_record(topic, 0, value)])
            await processor.process([_record(topic, 0, value), _record(topic, 1, value)])
        assert await pool.fetchval("SELECT times_seen FROM notes WHERE backup_id = 'b-1'") == 1
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 1
        assert await pool.fetchval("SELECT count(*) FROM inbox") == 1


async def test_the_events_a_batch_emits_enter_the_outbox_in_emission_order(kafka_bootstrap: str) -> None:
    region = f"r{uuid.uuid4().hex[:8]}"
    topic = f"ims.{region}.backups"
    ids = [f"b-{n}" for n in range(30)]
    async with fresh_database(MIGRATIONS) as (_, pool):
        async with _processing(pool, kafka_bootstrap) as processor:
            await processor.process([_record(topic, n, _backup_event(b, region=region)) for n, b in enumerate(ids)])
        assert [r["key"] for r in await pool.fetch("SELECT key FROM outbox ORDER BY id")] == ids


async def test_two_copies_in_one_batch_are_handled_once(kafka_bootstrap: str) -> None:
    region = f"r{uuid.uuid4().hex[:8]}"
    topic = f"ims.{region}.backups"
    value = _backup_event("b-twice", region=region)
    async with fresh_database(MIGRATIONS) as (_, pool):
        async with _processing(pool, kafka_bootstrap) as processor:
            await processor.process([_record(topic, 0, value), _record(topic, 1, value)])
        assert await pool.fetchval("SELECT times_seen FROM notes WHERE backup_id = 'b-twice'") == 1
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 1


async def test_a_relayed_event_of_a_type_the_service_does_not_consume_is_not_parsed(kafka_bootstrap: str) -> None:
    """The relay names each record's type in its ``ce-type`` header; a type of the contract this consumer has no
    handler for is skipped unread. Without the header the record is read, and an unreadable one dead-lettered."""
    region = f"r{uuid.uuid4().hex[:8]}"
    topic = f"ims.{region}.backups"
    await create_topics(kafka_bootstrap, [topic, dead_letter_topic(topic)], partitions=1)
    skipped = _record(topic, 0, b"never read", headers=[("ce-type", b"ImageDeleted")])
    handled = _record(topic, 1, _backup_event("b-typed", region=region), headers=[("ce-type", b"BackupCreated")])
    unread = _record(topic, 2, b"not json either")
    async with fresh_database(MIGRATIONS) as (_, pool):
        async with _processing(pool, kafka_bootstrap) as processor:
            await processor.process([skipped, handled, unread])
        assert await pool.fetchval("SELECT count(*) FROM notes") == 1
    dead = await _dead_letters(kafka_bootstrap, dead_letter_topic(topic), 1)
    assert [d.offset for d in dead] == [0] and dict(dead[0].headers)["dlt-original-offset"] == b"2"


async def test_an_event_id_the_inbox_refuses_is_dead_lettered_and_the_rest_of_its_batch_handled(
    kafka_bootstrap: str,
) -> None:
    """The batch's inbox statement failing for one event (here a constraint the test adds) must not hold up the
    batch for ever: it is handled again with a claim per event, and only that event is dead-lettered."""
    region = f"r{uuid.uuid4().hex[:8]}"
    topic = f"ims.{region}.backups"
    await create_topics(kafka_bootstrap, [topic, dead_letter_topic(topic)], partitions=1)
    refused = make_event(
        BackupCreated(
            backup_id="b-refused", vault_id="v", name="n", resource_id="e", created_at=datetime.now(UTC), size_gb=1
        ),
        source="/t",
        region=region,
        project_id="p",
        event_id="refused-1",
    )
    records = [
        _record(topic, 0, _backup_event("b-before", region=region)),
        _record(topic, 1, refused.model_dump_json().encode()),
        _record(topic, 2, _backup_event("b-after", region=region)),
    ]
    async with fresh_database(MIGRATIONS) as (_, pool):
        await pool.execute("ALTER TABLE inbox ADD CONSTRAINT refuse CHECK (event_id NOT LIKE 'refused-%')")
        async with _processing(pool, kafka_bootstrap) as processor:
            await processor.process(records)
        handled = {r["backup_id"] for r in await pool.fetch("SELECT backup_id FROM notes")}
        assert handled == {"b-before", "b-after"}
    dead = await _dead_letters(kafka_bootstrap, dead_letter_topic(topic), 1)
    assert [dict(d.headers)["dlt-original-offset"] for d in dead] == [b"1"]
    assert "CheckViolation" in dict(dead[0].headers)["dlt-reason"].decode()


async def test_poison_messages_go_to_the_dead_letter_topic_and_valid_ones_are_handled(kafka_bootstrap: str) -> None:
    region = f"r{uuid.uuid4().hex[:8]}"
    topic = f"ims.{region}.backups"
    await create_topics(kafka_bootstrap, [topic, dead_letter_topic(topic)], partitions=1)
    poison = [
        b"not json",
        json.dumps({"specversion": "1.0", "type": "Nope"}).encode(),
        json.dumps(
            {
                "specversion": "1.0",
                "id": "x",
                "source": "s",
                "type": "BackupCreated",
                "time": "2026-01-01T00:00:00Z",
                "region": region,
                "data": {"backup_id": 5},
            }
        ).encode(),
        _backup_event("b-bug", name="explode", region=region),
    ]
    records = [_record(topic, i, v) for i, v in enumerate(poison)]
    records.insert(2, _record(topic, 10, _backup_event("b-good-1", region=region)))
    records.append(_record(topic, 11, _backup_event("b-good-2", region=region)))
    async with fresh_database(MIGRATIONS) as (_, pool):
        async with _processing(pool, kafka_bootstrap) as processor:
            await processor.process(records)
        seen = {r["backup_id"]: r["times_seen"] for r in await pool.fetch("SELECT backup_id, times_seen FROM notes")}
        assert seen == {"b-good-1": 1, "b-good-2": 1}
        # The failing handler's partial work (its row and its outbox event) was rolled back with its savepoint.
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 2
        # The dead-lettered event is not in the inbox: produced again once its cause is fixed, it is handled.
        assert await pool.fetchval("SELECT count(*) FROM inbox") == 2
    dead = await _dead_letters(kafka_bootstrap, dead_letter_topic(topic), 4)
    assert len(dead) == 4
    reasons = [dict(d.headers)["dlt-reason"].decode() for d in dead]
    assert "not JSON" in reasons[0]
    assert "unknown event type" in reasons[1] or "envelope" in reasons[1]
    assert "invalid BackupCreated data" in reasons[2]
    assert "handler error: RuntimeError: handler bug" in reasons[3]
    assert all(dict(d.headers)["dlt-original-topic"].decode() == topic for d in dead)


async def note_deleted_run(run: list[tuple[HandlerContext[None], BackupDeleted]]) -> None:
    """Notes each run with its size, in one statement; a run naming "explode" fails as a whole."""
    conn = run[0][0].conn
    await conn.execute(
        "INSERT INTO seen (backup_id, run_size) SELECT unnest($1::text[]), $2", [e.backup_id for _, e in run], len(run)
    )
    for ctx, event in run:
        with ctx.activated():
            await ctx.emit(
                BackupCreated(
                    backup_id=event.backup_id,
                    vault_id="v",
                    name="n",
                    resource_id="e",
                    created_at=datetime.now(UTC),
                    size_gb=1,
                )
            )
    if any(e.backup_id == "explode" for _, e in run):
        raise RuntimeError("run handler bug")


async def note_created(ctx: HandlerContext[None], event: BackupCreated) -> None:
    await ctx.conn.execute("INSERT INTO seen (backup_id, run_size) VALUES ($1, 0)", event.backup_id)


runs = EventHandlers[None]().on_runs(BackupDeleted, note_deleted_run).on(BackupCreated, note_created)


def _deleted_event(backup_id: str, event_id: str | None = None, *, region: str) -> bytes:
    event = make_event(
        BackupDeleted(backup_id=backup_id, reason="user"), source="/t", region=region, project_id="p", event_id=event_id
    )
    return event.model_dump_json().encode()


SEEN_TABLE = "CREATE TABLE seen (n serial PRIMARY KEY, backup_id text NOT NULL, run_size int NOT NULL)"


async def test_consecutive_new_events_of_a_batch_handled_type_go_to_its_handler_as_runs(kafka_bootstrap: str) -> None:
    """Runs end where another type comes between; a duplicate neither joins nor splits a run; the effects and the
    emitted events keep the order of the records."""
    region = f"r{uuid.uuid4().hex[:8]}"
    topic = f"ims.{region}.backups"
    first = _deleted_event("a", event_id="del-a", region=region)
    records = [
        _record(topic, 0, first),
        _record(topic, 1, _deleted_event("b", region=region)),
        _record(topic, 2, _backup_event("c", region=region)),
        _record(topic, 3, _deleted_event("d", region=region)),
        _record(topic, 4, first),
        _record(topic, 5, _deleted_event("e", region=region)),
    ]
    async with fresh_database(MIGRATIONS) as (_, pool):
        await pool.execute(SEEN_TABLE)
        async with _processing(pool, kafka_bootstrap, runs) as processor:
            await processor.process(records)
        seen = [(r["backup_id"], r["run_size"]) for r in await pool.fetch("SELECT * FROM seen ORDER BY n")]
        assert seen == [("a", 2), ("b", 2), ("c", 0), ("d", 2), ("e", 2)]
        assert [r["key"] for r in await pool.fetch("SELECT key FROM outbox ORDER BY id")] == ["a", "b", "d", "e"]
        assert await pool.fetchval("SELECT count(*) FROM inbox") == 5


async def test_a_run_whose_handler_fails_is_handled_event_by_event_and_only_the_failing_one_dead_lettered(
    kafka_bootstrap: str,
) -> None:
    region = f"r{uuid.uuid4().hex[:8]}"
    topic = f"ims.{region}.backups"
    await create_topics(kafka_bootstrap, [topic, dead_letter_topic(topic)], partitions=1)
    records = [_record(topic, n, _deleted_event(b, region=region)) for n, b in enumerate(["a", "explode", "b"])]
    async with fresh_database(MIGRATIONS) as (_, pool):
        await pool.execute(SEEN_TABLE)
        async with _processing(pool, kafka_bootstrap, runs) as processor:
            await processor.process(records)
        seen = [(r["backup_id"], r["run_size"]) for r in await pool.fetch("SELECT * FROM seen ORDER BY n")]
        assert seen == [("a", 1), ("b", 1)]
        assert [r["key"] for r in await pool.fetch("SELECT key FROM outbox ORDER BY id")] == ["a", "b"]
    dead = await _dead_letters(kafka_bootstrap, dead_letter_topic(topic), 1)
    assert [dict(d.headers)["dlt-original-offset"] for d in dead] == [b"1"]
    assert "RuntimeError: run handler bug" in dict(dead[0].headers)["dlt-reason"].decode()
