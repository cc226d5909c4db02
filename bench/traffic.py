"""Producing load and observing outcomes on Kafka, with one clock (``time.perf_counter``) for both."""

import asyncio
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from bench.events import Record
from ims_shared.holes import OffsetHoles

KeyOf = Callable[[ConsumerRecord[Any, Any]], str]


def record_key(record: ConsumerRecord[Any, Any]) -> str:
    return bytes(record.key or b"").decode()


def data_field(name: str) -> KeyOf:
    """The key of a record by a field of its CloudEvent's data (parsed only for the types observed)."""

    def key_of(record: ConsumerRecord[Any, Any]) -> str:
        return str(json.loads(record.value)["data"][name])

    return key_of


def header(record: ConsumerRecord[Any, Any], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return bytes(value).decode()
    return None


@dataclass
class Observer:
    """Reads ``topic`` from its end and notes, for each record of the ``types`` wanted (by its ``ce-type``
    header, which the outbox relay sets), when it was published and when it was seen.

    ``published_at`` is the record's timestamp, which the producing service's Kafka client sets as it hands the
    record over: the moment the outcome exists, whoever reads it. Timings are taken from it, so that the
    observer's own fetch wait and its turn on the CPU are not counted as the system's, and the observer can read
    the broker gently: by default a fetch waits for ``fetch_min_bytes`` or ``fetch_wait_ms``, so that at a paced
    rate it takes one batch per wait instead of a record or two per fetch, on the cores the system shares with it.
    ``seen_at`` is when the observer got the record: reading as a service does (a short wait, any record at once),
    it is when a consumer could read the outcome."""

    bootstrap: str
    topic: str | tuple[str, ...]  # one topic, or several read as one
    partitions: int
    key_of: KeyOf = record_key
    fetch_wait_ms: int = 100
    fetch_min_bytes: int = 1_000_000
    seen: dict[str, tuple[str, float]] = field(default_factory=dict)
    published: dict[str, float] = field(default_factory=dict)
    _types: set[str] = field(default_factory=set)
    _pending: set[str] = field(default_factory=set)
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task[None] | None = None
    _done: asyncio.Event = field(default_factory=asyncio.Event)
    _holes: OffsetHoles = field(default_factory=lambda: OffsetHoles(5.0))

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=self.fetch_wait_ms,
            fetch_min_bytes=self.fetch_min_bytes,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await self._consumer.start()
        topics = (self.topic,) if isinstance(self.topic, str) else self.topic
        parts = [TopicPartition(topic, p) for topic in topics for p in range(self.partitions)]
        self._consumer.assign(parts)
        await self._consumer.seek_to_end(*parts)
        for part in parts:
            self._holes.start(part, await self._consumer.position(part))
        self._task = asyncio.create_task(self._run())

    def expect(self, keys: Iterable[str], types: set[str], *, keep: bool = False) -> None:
        """Wait (with :meth:`wait`) for one record of ``types`` for each of ``keys``; what was seen before is
        forgotten unless ``keep``."""
        if not keep:
            self.seen = {}
            self.published = {}
        self._types = types
        self._pending = {k for k in keys if k not in self.seen}
        self._done = asyncio.Event()
        if not self._pending:
            self._done.set()

    def published_at(self, key: str) -> float:
        return self.published[key]

    def seen_at(self, key: str) -> float:
        return self.seen[key][1]

    async def wait(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._done.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def missing(self) -> list[str]:
        """The keys still awaited, for a report of what became of them."""
        return sorted(self._pending)

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=100, max_records=10_000)
            now = time.perf_counter()
            wall_minus_perf = time.time() - now
            # The broker can show records past one it has not made readable yet (ims_shared.holes).
            for record in await self._holes.admit(self._consumer, [r for rs in batch.values() for r in rs]):
                kind = header(record, "ce-type")
                if kind is None or kind not in self._types:
                    continue
                key = self.key_of(record)
                if key not in self.seen:
                    self.seen[key] = (kind, now)
                    # Kafka timestamps are whole milliseconds of the wall clock; moved onto this clock. A record
                    # without one (-1) counts as published when seen.
                    stamped = record.timestamp / 1000 - wall_minus_perf if record.timestamp >= 0 else now
                    self.published[key] = min(stamped, now)
                self._pending.discard(key)
            if not self._pending:
                self._done.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()


def producer(bootstrap: str, *, burst: bool) -> AIOKafkaProducer:
    """The load generator's producer: batched for bursts, unlingered for paced (latency) runs."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,
        linger_ms=5 if burst else 0,
        max_batch_size=256 * 1024 if burst else 16 * 1024,
        max_request_size=4 * 1024 * 1024,
    )


async def produce_burst(kafka: AIOKafkaProducer, records: list[Record]) -> tuple[float, float]:
    """Produce ``records`` as fast as the broker takes them; returns (start, end of the last acknowledgement)."""
    started = time.perf_counter()
    futures = [await kafka.send(r.topic, r.value, key=r.key, headers=list(r.headers)) for r in records]
    await asyncio.gather(*futures)
    return started, time.perf_counter()


async def produce_paced(
    kafka: AIOKafkaProducer,
    records: list[tuple[str, Record]],
    rate: float,
    produced: dict[str, float] | None = None,
) -> dict[str, float]:
    """Produce ``records`` at ``rate`` per second (open loop). Returns each key's scheduled send time: latency is
    measured from the schedule, so a producer that falls behind does not hide a slow system. ``produced``, when
    given, gets the time each record was handed to the Kafka client."""
    scheduled: dict[str, float] = {}
    futures = []
    start = time.perf_counter() + 0.05
    for i, (key, record) in enumerate(records):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        scheduled[key] = due
        if produced is not None:
            produced[key] = time.perf_counter()
        futures.append(await kafka.send(record.topic, record.value, key=record.key, headers=list(record.headers)))
    await asyncio.gather(*futures)
    return scheduled


def by_window(scheduled: dict[str, float], latency: dict[str, float], windows: int = 5) -> list[dict[str, float]]:
    """``percentiles`` of ``latency`` (seconds, by key) in ``windows`` equal slices of the run by scheduled time,
    with each slice's start and end in seconds from the first send: how latency moved during the run."""
    first, last = min(scheduled.values()), max(scheduled.values())
    width = (last - first) / windows or 1.0
    slices: list[list[float]] = [[] for _ in range(windows)]
    for key, due in scheduled.items():
        slices[min(windows - 1, int((due - first) / width))].append(latency[key])
    return [
        {"from_s": round(i * width, 1), "to_s": round((i + 1) * width, 1), **percentiles(s)}
        for i, s in enumerate(slices)
    ]


def windows_text(windows: list[dict[str, float]]) -> str:
    return "p50/p99 by slice of the run: " + ", ".join(
        f"{w['from_s']:g}-{w['to_s']:g} s {w['p50_ms']:.0f}/{w['p99_ms']:.0f} ms" for w in windows if w.get("n")
    )


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99/max (nearest rank) and the mean, in milliseconds, of ``samples`` in seconds."""
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)

    def rank(p: float) -> float:
        index = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
        return ordered[index] * 1000

    return {
        "n": len(ordered),
        "mean_ms": sum(ordered) / len(ordered) * 1000,
        "p50_ms": rank(50),
        "p95_ms": rank(95),
        "p99_ms": rank(99),
        "max_ms": ordered[-1] * 1000,
    }
