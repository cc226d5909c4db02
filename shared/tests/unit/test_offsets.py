"""Handled offsets are committed in the background: the newest per partition, one request at a time, never for a
partition no longer assigned; a failed commit is dropped and the next one goes out."""

import asyncio
from typing import Any

import pytest
from aiokafka.errors import CommitFailedError
from aiokafka.structs import TopicPartition

from ims_shared.offsets import OffsetCommitter, earliest_offsets, next_offsets
from tests.support import consumer_record

T0, T1 = TopicPartition("t", 0), TopicPartition("t", 1)


class Consumer:
    """Records each commit; ``gate`` (when set) holds a commit until the test opens it."""

    def __init__(self, assigned: set[TopicPartition] | None = None) -> None:
        self.assigned = assigned if assigned is not None else {T0, T1}
        self.commits: list[dict[TopicPartition, int]] = []
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.gate: asyncio.Event | None = None
        self.fail_next = False

    def assignment(self) -> set[TopicPartition]:
        return self.assigned

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise CommitFailedError("rebalanced")
        self.commits.append(dict(offsets))

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition, offset))


def records(partition: int, *offsets: int) -> list[Any]:
    return [consumer_record("t", offset, b"{}", partition=partition) for offset in offsets]


def test_a_batch_commits_the_offset_after_each_partitions_last_record() -> None:
    batch = records(0, 10, 11) + records(1, 3)
    assert next_offsets(batch) == {T0: 12, T1: 4}


def test_a_failed_batch_is_read_again_from_each_partitions_first_record() -> None:
    batch = records(1, 3, 4) + records(0, 10, 11)
    assert earliest_offsets(batch) == {T0: 10, T1: 3}


async def test_handled_offsets_are_committed() -> None:
    committer, consumer = OffsetCommitter(), Consumer()
    committer.handled(consumer, {T0: 12, T1: 4})
    await committer.flush(1)
    assert consumer.commits == [{T0: 12, T1: 4}]
    await committer.stop()


async def test_batches_handled_while_a_commit_is_in_flight_go_out_as_one_request_with_the_newest_offsets() -> None:
    committer, consumer = OffsetCommitter(), Consumer()
    consumer.gate = asyncio.Event()
    committer.handled(consumer, {T0: 12})
    await asyncio.sleep(0)  # the first commit is now waiting for the broker
    committer.handled(consumer, {T0: 15, T1: 2})
    committer.handled(consumer, {T0: 14, T1: 5})  # an older offset never moves a partition back
    consumer.gate.set()
    await committer.flush(1)
    assert consumer.commits == [{T0: 12}, {T0: 15, T1: 5}]
    await committer.stop()


async def test_a_partition_no_longer_assigned_is_not_committed() -> None:
    committer, consumer = OffsetCommitter(), Consumer(assigned={T1})
    committer.handled(consumer, {T0: 12, T1: 4})
    await committer.flush(1)
    assert consumer.commits == [{T1: 4}]
    await committer.stop()


async def test_a_failed_commit_is_dropped_and_the_next_one_goes_out() -> None:
    committer, consumer = OffsetCommitter(), Consumer()
    consumer.fail_next = True
    committer.handled(consumer, {T0: 12})
    await asyncio.wait_for(committer.flush(5), 1)  # the committer goes on after the failure
    assert consumer.commits == []
    committer.handled(consumer, {T0: 13})
    await committer.flush(1)
    assert consumer.commits == [{T0: 13}]
    await committer.stop()


async def test_a_new_consumer_does_not_commit_what_the_old_one_handled() -> None:
    committer, old, new = OffsetCommitter(), Consumer(), Consumer()
    old.gate = asyncio.Event()
    committer.handled(old, {T0: 12})
    await asyncio.sleep(0)
    committer.handled(old, {T1: 7})  # waits behind the first commit
    committer.handled(new, {T0: 20})
    old.gate.set()
    await committer.flush(1)
    assert old.commits == [{T0: 12}]
    assert new.commits == [{T0: 20}]
    await committer.stop()


async def test_a_handled_batch_commits_the_admitted_records_and_a_failed_one_is_read_again() -> None:
    committer, consumer = OffsetCommitter(), Consumer()
    handled: list[list[Any]] = []

    async def process(admitted: list[Any]) -> None:
        handled.append(admitted)

    batch = records(0, 10, 11, 13) + records(1, 3)
    await committer.handle(consumer, batch, batch[:2] + batch[3:], process)  # 12 is a hole: 13 comes again
    await committer.flush(1)
    assert handled == [batch[:2] + batch[3:]]
    assert consumer.commits == [{T0: 12, T1: 4}]

    async def fail(admitted: list[Any]) -> None:
        raise RuntimeError("database gone")

    batch = records(0, 12, 13) + records(1, 4, 5)
    with pytest.raises(RuntimeError):
        await committer.handle(consumer, batch, batch, fail)
    await committer.flush(1)
    assert sorted(consumer.seeks) == [(T0, 12), (T1, 4)]
    assert consumer.commits == [{T0: 12, T1: 4}]  # nothing more
    await committer.stop()


async def test_commits_are_spaced_by_the_interval_and_carry_what_was_handled_meanwhile() -> None:
    committer, consumer = OffsetCommitter(min_interval_s=0.2), Consumer()
    committer.handled(consumer, {T0: 1})
    await asyncio.sleep(0.02)
    assert consumer.commits == [{T0: 1}]
    for offset in (2, 3, 4):
        committer.handled(consumer, {T0: offset})
        await asyncio.sleep(0.02)
    assert consumer.commits == [{T0: 1}]  # within the interval: nothing more yet
    await committer.flush(1)
    assert consumer.commits == [{T0: 1}, {T0: 4}]
    await committer.stop()
