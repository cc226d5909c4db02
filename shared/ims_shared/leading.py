"""Facts first: a batch also takes what the consumer has already fetched of the topics whose events others name.

aiokafka hands records out partition by partition: ``getmany`` drains one partition's fetched records before it
looks at the next, so a batch can be all image requests while the BackupCreated events they name lie fetched and
unhandled in the consumer's buffer. Each such job then waits for its backup, and is written a second and a third
time when the backup's turn comes (in the benchmark's burst many jobs did, and creation's throughput moved with
their share: bench/README.md). A service names its leading topics (image-service: its region's backups); each
batch takes every record already fetched of them, without waiting for more, and puts them first.

Order within a partition is kept: the records of a leading topic come before the others, which are of other
partitions, and the batch's own records of a partition come before those fetched after them. Events of different
topics have no order between them to keep.
"""

from collections.abc import Collection
from typing import Any, Protocol

from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord, TopicPartition

from ims_shared.logging import get_logger

log = get_logger(__name__)


class Draining(Protocol):
    def assignment(self) -> set[TopicPartition]: ...

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[ConsumerRecord[Any, Any]]]: ...


async def leading_first(
    consumer: Draining, batch: list[ConsumerRecord[Any, Any]], leading: Collection[str]
) -> list[ConsumerRecord[Any, Any]]:
    """``batch`` with every record already fetched of the ``leading`` topics added, those topics' records first."""
    partitions = sorted((p for p in consumer.assignment() if p.topic in leading), key=lambda p: (p.topic, p.partition))
    if not partitions:
        return batch
    try:
        fetched = await consumer.getmany(*partitions, timeout_ms=0)
    except KafkaError as exc:
        # What failed is fetched again, and reported again, by the consumer's own next batch.
        log.warning("could not take the leading topics' fetched records", error=str(exc))
        fetched = {}
    more = [record for partition in partitions for record in fetched.get(partition, [])]
    if not more:
        return batch
    first = [record for record in batch if record.topic in leading]
    return first + more + [record for record in batch if record.topic not in leading]
