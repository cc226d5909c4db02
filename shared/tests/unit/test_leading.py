"""A batch takes what the consumer has already fetched of its leading topics, and handles those records first,
each partition in its order."""

from typing import Any

from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition

from ims_shared.leading import leading_first
from tests.support import consumer_record

BACKUPS, IMAGES = "ims.cn-north-4.backups", "ims.cn-north-4.images"


def _records(topic: str, partition: int, offsets: range) -> list[ConsumerRecord[Any, Any]]:
    return [consumer_record(topic, n, b"{}", partition=partition) for n in offsets]


class Consumer:
    """aiokafka's buffer of fetched records: ``getmany`` hands out, and forgets, what it holds of the partitions asked
    for."""

    def __init__(self, fetched: dict[TopicPartition, list[ConsumerRecord[Any, Any]]]) -> None:
        self.fetched = fetched
        self.assigned = {TopicPartition(t, p) for t in (BACKUPS, IMAGES) for p in range(2)}
        self.asked: list[tuple[TopicPartition, ...]] = []
        self.fails = False

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]:
        assert timeout_ms == 0 and max_records is None  # what is there already, all of it
        self.asked.append(partitions)
        if self.fails:
            raise KafkaError("corrupt record")
        return {p: self.fetched.pop(p) for p in partitions if p in self.fetched}


def _where(records: list[ConsumerRecord[Any, Any]]) -> list[tuple[str, int, int]]:
    return [(r.topic, r.partition, r.offset) for r in records]


async def test_fetched_backups_come_first_with_each_partition_in_order() -> None:
    batch = _records(IMAGES, 0, range(3)) + _records(BACKUPS, 1, range(2))
    consumer = Consumer(
        {
            TopicPartition(BACKUPS, 0): _records(BACKUPS, 0, range(4)),
            TopicPartition(BACKUPS, 1): _records(BACKUPS, 1, range(2, 5)),
            TopicPartition(IMAGES, 1): _records(IMAGES, 1, range(6)),
        }
    )
    taken = await leading_first(consumer, batch, {BACKUPS})
    assert _where(taken) == [
        *((BACKUPS, 1, n) for n in range(2)),
        *((BACKUPS, 0, n) for n in range(4)),
        *((BACKUPS, 1, n) for n in range(2, 5)),
        *((IMAGES, 0, n) for n in range(3)),
    ]
    assert consumer.asked == [(TopicPartition(BACKUPS, 0), TopicPartition(BACKUPS, 1))]
    assert list(consumer.fetched) == [TopicPartition(IMAGES, 1)]  # another topic's records wait for their batch


async def test_a_batch_stays_as_it_is_without_leading_topics_or_fetched_records() -> None:
    batch = _records(IMAGES, 0, range(3))
    consumer = Consumer({TopicPartition(IMAGES, 1): _records(IMAGES, 1, range(2))})
    assert await leading_first(consumer, batch, set()) is batch
    assert await leading_first(consumer, batch, {BACKUPS}) is batch
    assert consumer.asked == [(TopicPartition(BACKUPS, 0), TopicPartition(BACKUPS, 1))]


async def test_a_failed_fetch_leaves_the_batch_to_be_handled() -> None:
    batch = _records(IMAGES, 0, range(3))
    consumer = Consumer({TopicPartition(BACKUPS, 0): _records(BACKUPS, 0, range(2))})
    consumer.fails = True
    assert _where(await leading_first(consumer, batch, {BACKUPS})) == _where(batch)
