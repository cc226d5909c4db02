"""Kafka for imsctl: send one event, read whole topics up to their current end, follow topics as they grow.

Readers use no consumer group (nothing is committed, no service's group is disturbed). Idempotent producing stays
off, as in the services: Tansu rejects ``InitProducerId``.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from ims_shared.holes import OffsetHoles
from imsctl.records import Record

TOPIC_PREFIX = "ims."
REQUEST_TIMEOUT_MS = 10_000


class KafkaUnavailable(Exception):
    """The broker could not be reached (or answered with an error)."""


async def send(
    bootstrap: str, topic: str, key: str, value: bytes, headers: list[tuple[str, bytes]] | None = None
) -> tuple[int, int]:
    """Produce one record (with its signature among ``headers``); returns its (partition, offset)."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=False, acks="all", request_timeout_ms=REQUEST_TIMEOUT_MS
    )
    try:
        await producer.start()
    except (KafkaError, OSError) as exc:
        await producer.stop()
        raise KafkaUnavailable(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    try:
        metadata = await producer.send_and_wait(topic, value, key=key.encode(), headers=headers or [])
    except KafkaError as exc:
        raise KafkaUnavailable(f"Kafka at {bootstrap} refused the record: {exc}") from exc
    finally:
        await producer.stop()
    return metadata.partition, metadata.offset


def _consumer(bootstrap: str, *topics: str, earliest: bool = True) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if earliest else "latest",
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )


async def _start(consumer: AIOKafkaConsumer, bootstrap: str) -> None:
    try:
        await consumer.start()
    except (KafkaError, OSError) as exc:
        await consumer.stop()
        raise KafkaUnavailable(f"cannot reach Kafka at {bootstrap}: {exc}") from exc


async def list_topics(bootstrap: str, prefix: str = TOPIC_PREFIX) -> list[str]:
    consumer = _consumer(bootstrap)
    await _start(consumer, bootstrap)
    try:
        return sorted(t for t in await consumer.topics() if t.startswith(prefix))
    finally:
        await consumer.stop()


Progress = Callable[[int, int], None]  # (records read, records in all)


async def read_all(
    bootstrap: str,
    topics: list[str],
    *,
    progress: Progress | None = None,
    timeout_s: float = 120.0,
    idle_s: float = 5.0,
) -> list[Record]:
    """Every record of ``topics`` from the beginning up to the end each partition had when reading began."""
    consumer = _consumer(bootstrap)
    await _start(consumer, bootstrap)
    records: list[Record] = []
    try:
        partitions = [
            TopicPartition(topic, p) for topic in topics for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return records
        consumer.assign(partitions)
        begins = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        pending = {tp for tp in partitions if ends[tp] > begins[tp]}
        total = sum(ends[tp] - begins[tp] for tp in partitions)
        await consumer.seek_to_beginning(*partitions)
        if progress:
            progress(0, total)
        deadline = time.monotonic() + timeout_s
        last_record = time.monotonic()
        while pending and time.monotonic() < deadline and time.monotonic() - last_record < idle_s:
            batch = await consumer.getmany(*pending, timeout_ms=300)
            for tp, items in batch.items():
                for item in items:
                    if item.offset < ends[tp]:
                        records.append(Record.of(item))
                if items:
                    last_record = time.monotonic()
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
            if progress:
                progress(len(records), total)
        return records
    finally:
        await consumer.stop()


async def follow(
    bootstrap: str,
    topics: list[str],
    on_record: Callable[[Record], Awaitable[bool]],
    *,
    from_beginning: bool = False,
    timeout_s: float | None = None,
) -> None:
    """Call ``on_record`` for every record of ``topics`` until it returns False or ``timeout_s`` has passed."""
    consumer = _consumer(bootstrap, *topics, earliest=from_beginning)
    await _start(consumer, bootstrap)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    holes = OffsetHoles(5.0, from_first_record=True)
    try:
        while deadline is None or time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            admitted = await holes.admit(consumer, [item for items in batch.values() for item in items])
            ordered = sorted(admitted, key=lambda r: (r.timestamp or 0, r.offset))
            for item in ordered:
                if not await on_record(Record.of(item)):
                    return
    except asyncio.CancelledError:
        pass
    finally:
        await consumer.stop()
