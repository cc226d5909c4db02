"""Over a real broker: a batch takes every record the consumer has already fetched of its leading topics, once."""

import uuid

import pytest
from aiokafka import AIOKafkaConsumer

from ims_shared.kafka import create_topics, make_producer
from ims_shared.leading import leading_first

pytestmark = pytest.mark.integration


async def test_a_batch_of_requests_takes_the_fetched_backups_first(kafka_bootstrap: str) -> None:
    backups, images = f"backups-{uuid.uuid4().hex[:8]}", f"images-{uuid.uuid4().hex[:8]}"
    await create_topics(kafka_bootstrap, [backups, images], partitions=2)
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    try:
        for n in range(40):
            await producer.send_and_wait(images, f"request {n}".encode(), key=f"image-{n}".encode())
            await producer.send_and_wait(backups, f"backup {n}".encode(), key=f"backup-{n}".encode())
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        backups, images, bootstrap_servers=kafka_bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        fetched: list = []
        while not fetched:
            fetched = [r for part in (await consumer.getmany(timeout_ms=5000, max_records=5)).values() for r in part]
        batch = await leading_first(consumer, fetched, {backups})
        rest = []
        while len(rest) + len(batch) < 80:
            rest += [r for part in (await consumer.getmany(timeout_ms=5000)).values() for r in part]
    finally:
        await consumer.stop()
    topics = [r.topic for r in batch]
    assert topics.count(backups) == 40  # all of them: the broker had them all when the consumer first fetched
    assert topics == sorted(topics, key=lambda t: t != backups)  # backups first
    for partition in (0, 1):
        offsets = [r.offset for r in batch if (r.topic, r.partition) == (backups, partition)]
        assert offsets == list(range(len(offsets)))
    assert {r.topic for r in rest} == {images}  # nothing handed out twice
    assert sorted(r.value for r in batch + rest if r.topic == images) == sorted(
        f"request {n}".encode() for n in range(40)
    )
