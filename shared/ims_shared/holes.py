"""Reading a partition without a hole.

Tansu (0.6, in-memory storage) can answer a fetch with records beyond one it has already acknowledged to its
producer but not yet made visible: with several producers writing to one partition, a consumer at offset 100 may
get 101, 102, ... while 100 appears a moment later. A consumer that takes what it got moves past 100 and never
reads it (measured: 120,000 records from four producers at once, three live readers, two of them missed two
records each; read again from the start, all 120,000 are there). Apache Kafka never shows a record past one that
is not readable yet, and the project's topics are neither compacted nor transactional, so on them an offset is
never skipped legitimately.

``OffsetHoles.admit`` keeps, per partition, the offset that must come next. A batch that skips it is cut at the
hole and the consumer is sent back to the hole (``seek``): the records after it come again with it in a later
fetch, and the offsets committed after the batch stop at the hole. A hole still open after ``wait_s`` (something
other than this race: a transactional producer's control records, a compacted topic) is passed, with a warning
and the ``ims_offset_holes_total`` outcome ``passed``.
"""

import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from aiokafka.structs import ConsumerRecord, TopicPartition

from ims_shared.logging import get_logger
from ims_shared.metrics import OFFSET_HOLES

log = get_logger(__name__)


class Seekable(Protocol):
    def assignment(self) -> set[TopicPartition]: ...

    def seek(self, partition: TopicPartition, offset: int) -> None: ...

    async def committed(self, partition: TopicPartition) -> int | None: ...


class OffsetHoles:
    def __init__(
        self, wait_s: float, clock: Callable[[], float] = time.monotonic, *, from_first_record: bool = False
    ) -> None:
        """``from_first_record``: a reader without a group (nothing committed) starts each partition where its
        first record is, unless ``start`` said where."""
        self._wait_s = wait_s
        self._from_first_record = from_first_record
        self._clock = clock
        self._next: dict[TopicPartition, int] = {}
        self._open: dict[TopicPartition, tuple[int, float]] = {}  # a hole's offset and when it was first seen

    def start(self, partition: TopicPartition, offset: int) -> None:
        """Read ``partition`` from ``offset`` (a reader without a consumer group, which has no committed offset)."""
        self._next[partition] = offset

    async def admit(
        self, consumer: Seekable, records: Iterable[ConsumerRecord[Any, Any]]
    ) -> list[ConsumerRecord[Any, Any]]:
        """The records to handle now, in their order: each partition's up to its first hole, if any."""
        self._forget_revoked(consumer.assignment())
        records = list(records)
        by_partition: dict[TopicPartition, list[ConsumerRecord[Any, Any]]] = {}
        for record in records:
            by_partition.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
        admitted: set[int] = set()
        for partition, batch in by_partition.items():
            expected = self._next.get(partition)
            if expected is None and not self._from_first_record:
                expected = await consumer.committed(partition)
            kept = _up_to_hole(batch, expected)
            if len(kept) < len(batch):
                hole = kept[-1].offset + 1 if kept else expected
                assert hole is not None
                if self._still_waiting(partition, hole):
                    consumer.seek(partition, hole)
                    batch = kept
                else:
                    log.warning("offset hole passed", topic=partition.topic, partition=partition.partition, offset=hole)
                    OFFSET_HOLES.labels(partition.topic, "passed").inc()
            else:
                self._open.pop(partition, None)
            if batch:
                self._next[partition] = max(self._next.get(partition, 0), batch[-1].offset + 1)
            admitted.update(id(r) for r in batch)
        return [r for r in records if id(r) in admitted]

    def _still_waiting(self, partition: TopicPartition, hole: int) -> bool:
        now = self._clock()
        offset, since = self._open.get(partition, (None, now))
        if offset != hole:
            since = now
            OFFSET_HOLES.labels(partition.topic, "waited").inc()
            log.info(
                "offset hole: reading again from it", topic=partition.topic, partition=partition.partition, offset=hole
            )
        self._open[partition] = (hole, since)
        if now - since < self._wait_s:
            return True
        del self._open[partition]
        return False

    def _forget_revoked(self, assigned: set[TopicPartition]) -> None:
        # A partition handed back and assigned again may have moved on under another member: start from its
        # committed offset then, not from what this process last read.
        for partition in [p for p in self._next if p not in assigned]:
            del self._next[partition]
            self._open.pop(partition, None)


def _up_to_hole(batch: list[ConsumerRecord[Any, Any]], expected: int | None) -> list[ConsumerRecord[Any, Any]]:
    """``batch`` up to (not including) the first record past an offset that did not come. A record below
    ``expected`` is a redelivery (a rewound batch) and is kept."""
    kept: list[ConsumerRecord[Any, Any]] = []
    for record in batch:
        if expected is not None and record.offset > expected:
            break
        kept.append(record)
        expected = max(expected if expected is not None else 0, record.offset + 1)
    return kept
