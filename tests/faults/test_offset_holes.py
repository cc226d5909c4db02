"""Live readers of a partition that several producers write at once miss no record (ims_shared.holes).

Tansu can answer a fetch with records past one it has acknowledged but not yet made readable; a reader that takes
what it got never reads that one. Here four producers write one topic at once (one paced, three in pipelined
bursts, as the outbox relays and the load generator do) while three live readers follow it through
``OffsetHoles``. Every record acknowledged must reach every reader. A reader that takes fetches as they come runs
beside them: what it missed is reported, not asserted (the race does not strike every run).
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Iterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from ims_devstack import free_port, start_tansu
from ims_shared.holes import OffsetHoles
from ims_shared.metrics import OFFSET_HOLES
from tests.faults.tools import report, size

pytestmark = pytest.mark.faults
TOPIC, PARTITIONS = "holes", 4


async def _reader(bootstrap: str, guarded: bool, got: set[bytes], done: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=5
    )
    await consumer.start()
    parts = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
    consumer.assign(parts)
    await consumer.seek_to_end(*parts)
    holes = OffsetHoles(5.0)
    for part in parts:
        holes.start(part, await consumer.position(part))
    try:
        while not done.is_set():
            batch = await consumer.getmany(timeout_ms=100, max_records=10_000)
            records = [r for rs in batch.values() for r in rs]
            got.update(r.value for r in (await holes.admit(consumer, records) if guarded else records))
    finally:
        await consumer.stop()


async def _write(bootstrap: str, sent: set[bytes], count: int) -> None:
    def producer(linger_ms: int) -> AIOKafkaProducer:
        return AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=linger_ms)

    async def paced(kafka: AIOKafkaProducer, rate: float, n: int) -> None:
        futures, start = [], time.perf_counter()
        for i in range(n):
            value = f"paced-{i}".encode()
            sent.add(value)
            futures.append(await kafka.send(TOPIC, value, key=uuid.uuid4().bytes))
            delay = start + (i + 1) / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.gather(*futures)

    async def bursts(kafka: AIOKafkaProducer, n: int, burst: int, tag: str) -> None:
        for j in range(n // burst):
            futures = []
            for i in range(burst):
                value = f"{tag}-{j}-{i}".encode()
                sent.add(value)
                futures.append(await kafka.send(TOPIC, value, key=uuid.uuid4().bytes))
            await asyncio.gather(*futures)
            await asyncio.sleep(0.005)

    kafkas = [producer(0), producer(1), producer(1), producer(1)]
    for kafka in kafkas:
        await kafka.start()
    try:
        writers: list[Awaitable[None]] = [
            paced(kafkas[0], 1000, count),
            bursts(kafkas[1], count, 100, "relay-a"),
            bursts(kafkas[2], count, 300, "relay-b"),
            bursts(kafkas[3], count, 50, "relay-c"),
        ]
        await asyncio.gather(*writers)
    finally:
        for kafka in kafkas:
            await kafka.stop()


@pytest.fixture
def broker() -> Iterator[str]:
    """A Tansu broker of its own (in-memory storage), for this test only."""
    port = free_port()
    process = start_tansu(port)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


async def test_live_readers_miss_no_record_of_producers_writing_at_once(broker: str) -> None:
    bootstrap = broker
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])
    await admin.close()
    sent: set[bytes] = set()
    done = asyncio.Event()
    guarded: list[set[bytes]] = [set() for _ in range(3)]
    naive: set[bytes] = set()
    before = sum(s.value for m in OFFSET_HOLES.collect() for s in m.samples if s.name.endswith("_total"))
    readers = [asyncio.create_task(_reader(bootstrap, True, got, done)) for got in guarded]
    readers.append(asyncio.create_task(_reader(bootstrap, False, naive, done)))
    await asyncio.sleep(1.0)
    count = size(6_000, 30_000)
    await _write(bootstrap, sent, count)
    await asyncio.sleep(5)  # a hole is read again within the readers' next fetches
    done.set()
    await asyncio.gather(*readers)
    holes = sum(s.value for m in OFFSET_HOLES.collect() for s in m.samples if s.name.endswith("_total")) - before
    report(
        "offset holes",
        records=len(sent),
        holes_read_again=int(holes),
        missed_by_guarded_readers=[len(sent - got) for got in guarded],
        missed_by_naive_reader=len(sent - naive),
    )
    assert [sorted(sent - got)[:5] for got in guarded] == [[], [], []]
