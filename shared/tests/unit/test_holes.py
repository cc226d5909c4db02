"""A fetch that skips an offset is cut at the hole and read again from it; a hole that stays open is passed."""

from typing import Any

from aiokafka.structs import TopicPartition

from ims_shared.holes import OffsetHoles
from tests.support import consumer_record

T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)


class Consumer:
    def __init__(
        self, committed: dict[TopicPartition, int | None], assigned: set[TopicPartition] | None = None
    ) -> None:
        self.committed_offsets = committed
        self.assigned = assigned if assigned is not None else set(committed)
        self.seeks: list[tuple[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition, offset))

    async def committed(self, partition: TopicPartition) -> int | None:
        return self.committed_offsets.get(partition)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def records(partition: int, *offsets: int) -> list[Any]:
    return [consumer_record("t", offset, f"{partition}:{offset}".encode(), partition=partition) for offset in offsets]


def offsets(batch: list[Any]) -> list[tuple[int, int]]:
    return [(r.partition, r.offset) for r in batch]


async def test_contiguous_batches_pass_whole_and_in_order() -> None:
    holes, consumer = OffsetHoles(5), Consumer({T0: 10, T1: None})
    batch = records(1, 0, 1) + records(0, 10, 11, 12)
    assert offsets(await holes.admit(consumer, batch)) == offsets(batch)
    assert offsets(await holes.admit(consumer, records(0, 13))) == [(0, 13)]
    assert consumer.seeks == []


async def test_a_batch_past_an_offset_that_did_not_come_is_cut_there_and_read_again_from_it() -> None:
    holes, consumer = OffsetHoles(5), Consumer({T0: 10, T1: 0})
    admitted = await holes.admit(consumer, records(0, 10, 11, 13, 14) + records(1, 0, 1))
    assert offsets(admitted) == [(0, 10), (0, 11), (1, 0), (1, 1)]
    assert consumer.seeks == [(T0, 12)]
    assert offsets(await holes.admit(consumer, records(0, 12, 13, 14))) == [(0, 12), (0, 13), (0, 14)]


async def test_a_hole_before_the_first_record_after_the_committed_offset_is_found() -> None:
    holes, consumer = OffsetHoles(5), Consumer({T0: 10})
    assert await holes.admit(consumer, records(0, 11, 12)) == []
    assert consumer.seeks == [(T0, 10)]


async def test_a_rewound_batch_below_the_expected_offset_is_a_redelivery_not_a_hole() -> None:
    holes, consumer = OffsetHoles(5), Consumer({T0: 10})
    await holes.admit(consumer, records(0, 10, 11, 12))
    assert offsets(await holes.admit(consumer, records(0, 10, 11, 12, 13))) == [(0, 10), (0, 11), (0, 12), (0, 13)]
    assert consumer.seeks == []


async def test_a_hole_still_open_after_the_wait_is_passed() -> None:
    clock = Clock()
    holes, consumer = OffsetHoles(5, clock=clock), Consumer({T0: 10})
    assert offsets(await holes.admit(consumer, records(0, 10, 12))) == [(0, 10)]
    clock.now = 4.9
    assert offsets(await holes.admit(consumer, records(0, 12))) == []
    clock.now = 5.0
    assert offsets(await holes.admit(consumer, records(0, 12, 13))) == [(0, 12), (0, 13)]
    assert consumer.seeks == [(T0, 11), (T0, 11)]


async def test_a_partition_assigned_again_starts_from_its_committed_offset() -> None:
    holes, consumer = OffsetHoles(5), Consumer({T0: 10})
    await holes.admit(consumer, records(0, 10, 11))
    consumer.assigned = set()
    await holes.admit(consumer, [])
    consumer.assigned, consumer.committed_offsets = {T0}, {T0: 500}  # another member read on meanwhile
    assert offsets(await holes.admit(consumer, records(0, 500, 501))) == [(0, 500), (0, 501)]
    assert consumer.seeks == []


async def test_a_reader_without_a_group_starts_where_its_first_record_is() -> None:
    holes, consumer = OffsetHoles(5, from_first_record=True), Consumer({})
    consumer.assigned = {T0}
    assert offsets(await holes.admit(consumer, records(0, 40, 41))) == [(0, 40), (0, 41)]
    assert offsets(await holes.admit(consumer, records(0, 43))) == []
    assert consumer.seeks == [(T0, 42)]
