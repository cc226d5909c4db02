"""Committing a consumer's offsets in the background, after its batches are handled.

A batch's offsets are committed only once the transaction that handled it has committed (``handle`` runs
``EventProcessor.process``, then ``handled``), as FastStream's ``AckPolicy.NACK_ON_ERROR`` did. The
difference is that the consumer does not wait for the broker's answer before it takes the next batch: the
commit round trip was a large part of each cycle (bench/README.md has the measurements).
One request is in flight at a time, with the newest handled offset of each partition, so a commit never moves a
partition back and the offsets of several batches handled meanwhile go out as one request; and one starts at most
every ``min_interval_s`` (``KAFKA_COMMIT_INTERVAL_MS``): at a steady trickle each batch was a commit request, for
the broker and for the consumer, where a crash only redelivers, to the inbox, what was handled in that interval.

A commit that fails (the partition was given to another member by a rebalance, the broker is away) is dropped:
the records after the last committed offset are delivered again, and the inbox makes them harmless.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition

from ims_shared.logging import get_logger

log = get_logger(__name__)


class Committing(Protocol):
    def assignment(self) -> set[TopicPartition]: ...

    async def commit(self, offsets: dict[TopicPartition, int]) -> None: ...

    def seek(self, partition: TopicPartition, offset: int) -> None: ...


def next_offsets(records: list[ConsumerRecord[Any, Any]]) -> dict[TopicPartition, int]:
    """The offset to commit for each partition of ``records``: the one after its last record."""
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        partition = TopicPartition(record.topic, record.partition)
        offsets[partition] = max(offsets.get(partition, 0), record.offset + 1)
    return offsets


def earliest_offsets(records: list[ConsumerRecord[Any, Any]]) -> dict[TopicPartition, int]:
    """Each partition's first offset in ``records``: where to read again so that none of them is lost."""
    offsets: dict[TopicPartition, int] = {}
    for record in records:
        partition = TopicPartition(record.topic, record.partition)
        offsets[partition] = min(offsets.get(partition, record.offset), record.offset)
    return offsets


class OffsetCommitter:
    def __init__(self, min_interval_s: float = 0.0) -> None:
        self._min_interval_s = min_interval_s
        self._pending: dict[TopicPartition, int] = {}
        self._consumer: Committing | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None

    async def handle(
        self,
        consumer: Committing,
        batch: list[ConsumerRecord[Any, Any]],
        admitted: list[ConsumerRecord[Any, Any]],
        process: Callable[[list[ConsumerRecord[Any, Any]]], Awaitable[None]],
    ) -> None:
        """``process`` the ``admitted`` records of a fetched ``batch``, then commit their offsets; if it raises, the
        consumer goes back to each partition's first record of the batch, so the batch comes again."""
        try:
            await process(admitted)
        except Exception as exc:
            rewound = earliest_offsets(batch)
            for partition, offset in rewound.items():
                consumer.seek(partition, offset)
            # Said here, or nowhere: the subscriber logs nothing. A batch that fails each time is read again for ever.
            log.warning(
                "batch failed; it will be read again",
                error=f"{type(exc).__name__}: {exc}"[:300],
                partitions={f"{p.topic}[{p.partition}]": offset for p, offset in rewound.items()},
            )
            raise
        self.handled(consumer, next_offsets(admitted))

    def handled(self, consumer: Committing, offsets: dict[TopicPartition, int]) -> None:
        """Commit ``offsets`` (the next offset to read, by partition) of batches whose transaction committed."""
        if consumer is not self._consumer:
            self._pending.clear()  # a new consumer (the subscriber was restarted): the old one's offsets are moot
            self._consumer = consumer
        for partition, offset in offsets.items():
            self._pending[partition] = max(self._pending.get(partition, offset), offset)
        if self._pending:
            self._idle.clear()
            self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="offset-committer")

    async def flush(self, timeout_s: float = 5.0) -> None:
        """Wait until what was handled so far is committed (or failed), at most ``timeout_s``."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            log.warning("offsets not committed before stopping; those records will be delivered again")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            consumer, pending = self._consumer, self._pending
            self._pending = {}
            if consumer is not None and pending:
                assigned = consumer.assignment()
                offsets = {p: o for p, o in pending.items() if p in assigned}
                try:
                    if offsets:
                        await consumer.commit(offsets)
                except (KafkaError, OSError) as exc:
                    log.warning("offset commit failed; the records after it will be delivered again", error=str(exc))
                except Exception:
                    log.exception("offset commit failed; the records after it will be delivered again")
                if self._min_interval_s:
                    await asyncio.sleep(self._min_interval_s)  # what is handled meanwhile goes in the next one
            if not self._pending:
                self._idle.set()
