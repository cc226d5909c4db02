"""What the fault tests share: sizes, event production and reading, an async signed client, DB probes."""

import asyncio
import json
import os
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from ims_shared.events import EventData, ImageRequested, make_event
from ims_shared.kafka import MAX_MESSAGE_BYTES
from ims_shared.tenants import Tenant
from ims_shared.topics import topic_for
from imsctl.client import prepare
from tests.support import signer_for

T = TypeVar("T")
FULL = os.environ.get("FAULTS_FULL", "") not in ("", "0")
CN = "cn-north-4"


def size(ci: T, full: T) -> T:
    """The CI size of a test, or its full size under FAULTS_FULL=1."""
    return full if FULL else ci


def report(name: str, **figures: Any) -> None:
    """Print a test's figures on one line (pytest -s shows them; -rA keeps them in the summary)."""
    shown = ", ".join(f"{k}={v}" for k, v in figures.items())
    print(f"\n[figures] {name}: {shown}", flush=True)


# -- events ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes | None
    value: bytes
    event_id: str = ""
    headers: tuple[tuple[str, bytes], ...] = ()


def outgoing(data: EventData, tenant: Tenant, region: str = CN, event_id: str | None = None) -> Outgoing:
    """``data`` as an event of ``tenant``'s project, signed as ``testing.signer_for`` says."""
    event = make_event(
        data, source="/tests/faults", region=region, project_id=tenant.projects[region], event_id=event_id
    )
    value = event.model_dump_json().encode()
    topic = topic_for(data.topic_kind, region)
    signed = signer_for(type(data), tenant).header(value)
    return Outgoing(topic, data.aggregate_id().encode(), value, event.id, (signed,))


def image_requested(backup_id: str, name: str = "faults-image") -> ImageRequested:
    return ImageRequested(image_id=str(uuid.uuid4()), job_id=str(uuid.uuid4()), name=name, backup_id=backup_id)


async def produce(bootstrap: str, items: Iterable[Outgoing], *, retry_s: float = 120.0) -> None:
    """Produce ``items`` in order, one producer; retried as a whole send at a time while the broker is away."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=False,
        acks="all",
        linger_ms=2,
        max_request_size=MAX_MESSAGE_BYTES,
        request_timeout_ms=10_000,
    )
    await producer.start()
    try:
        pending = []
        for item in items:
            pending.append(await producer.send(item.topic, item.value, key=item.key, headers=list(item.headers)))
            if len(pending) >= 200:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, timeout_s: float = 60.0) -> list[Any]:
    """Every record on ``topic`` up to its current end offsets."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES * 2,
        fetch_max_bytes=MAX_MESSAGE_BYTES * 8,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        await consumer.topics()  # refreshes the metadata
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            for tp, batch in (await consumer.getmany(*remaining, timeout_ms=500)).items():
                records.extend(batch)
                if batch and batch[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        if remaining:
            raise AssertionError(f"could not read {topic} to its end within {timeout_s:.0f} s")
    finally:
        await consumer.stop()
    return records


@dataclass
class EventLog:
    """The events of some topics, by (type, subject): their distinct ids and how often each id was published."""

    ids: dict[tuple[str, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    data: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    records: int = 0

    def add(self, records: Iterable[Any]) -> None:
        for record in records:
            self.records += 1
            try:
                doc = json.loads(record.value)
            except (TypeError, ValueError):
                continue
            if not isinstance(doc, dict) or "type" not in doc:
                continue
            key = (str(doc["type"]), str(doc.get("subject")))
            if doc.get("id") not in self.ids[key]:
                self.data[key].append(doc.get("data") or {})
            self.ids[key][str(doc.get("id"))] += 1

    def distinct(self, event_type: str, subject: str) -> int:
        return len(self.ids.get((event_type, subject), {}))

    def of(self, event_type: str, subject: str) -> list[dict[str, Any]]:
        return self.data.get((event_type, subject), [])

    def republished(self, subjects: Iterable[str] | None = None) -> int:
        """Records that repeat an event id already on the topic (at-least-once publishing), of ``subjects``."""
        wanted = None if subjects is None else set(subjects)
        return sum(
            n - 1
            for (_, subject), counter in self.ids.items()
            if wanted is None or subject in wanted
            for n in counter.values()
        )


async def event_log(bootstrap: str, topics: Iterable[str]) -> EventLog:
    log = EventLog()
    for topic in topics:
        log.add(await read_topic(bootstrap, topic))
    return log


# -- HTTP --------------------------------------------------------------------------------------------------------
class AsyncSignedClient:
    """The project's AK/SK signed client, asynchronous."""

    def __init__(self, base_url: str, tenant: Tenant, region: str = CN, timeout_s: float = 10) -> None:
        self.base_url = base_url.rstrip("/")
        self.tenant = tenant
        self.project_id = tenant.projects[region]
        self._http = httpx.AsyncClient(timeout=timeout_s)

    async def request(
        self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None
    ) -> httpx.Response:
        credentials = (self.tenant.access_key, self.tenant.secret_key)
        url, raw, headers = prepare(self.base_url, credentials, self.project_id, method, path, query, body)
        return await self._http.request(method, url, content=raw, headers=headers)

    async def close(self) -> None:
        await self._http.aclose()


async def until(probe: Callable[[], Awaitable[T | None]], *, timeout_s: float, what: str, every_s: float = 0.5) -> T:
    """Poll ``probe`` until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            value = await probe()
            if value:
                return value
            last = value
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, httpx.HTTPError) as exc:
            last = exc
        await asyncio.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}; last: {last!r}")


async def query(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def books_balance(billing_dsn: str) -> list[str]:
    """Accounts whose balance is not opening balance + top-ups - bill lines: money made or lost."""
    rows = await query(
        billing_dsn,
        "SELECT a.account_id, a.balance, "
        "COALESCE((SELECT sum(amount) FROM top_ups t WHERE t.account_id = a.account_id), 0) AS credited, "
        "COALESCE((SELECT sum(amount) FROM bill_lines l WHERE l.account_id = a.account_id), 0) AS debited "
        "FROM accounts a",
    )
    return [r["account_id"] for r in rows if r["balance"] - r["credited"] + r["debited"] != OPENING_BALANCE]


async def metering_gaps(billing_dsn: str, backup_ids: list[str]) -> list[str]:
    """Backups whose storage lines do not tile [started_at, rated_until] exactly once (a gap or an overlap)."""
    rows = await query(
        billing_dsn,
        "SELECT m.backup_id, m.started_at, m.rated_until, "
        "COALESCE(sum(extract(epoch FROM l.period_end - l.period_start)), 0) AS covered, "
        "count(l.id) AS lines, min(l.period_start) AS first_start, max(l.period_end) AS last_end "
        "FROM meters m LEFT JOIN bill_lines l ON l.backup_id = m.backup_id AND l.kind = 'backup_storage' "
        "WHERE m.backup_id = ANY($1::text[]) GROUP BY m.backup_id, m.started_at, m.rated_until",
        backup_ids,
    )
    bad = []
    for r in rows:
        span = (r["rated_until"] - r["started_at"]).total_seconds()
        if abs(float(r["covered"]) - span) > 1e-3 or (r["lines"] and r["first_start"] != r["started_at"]):
            bad.append(r["backup_id"])
    return bad


OPENING_BALANCE = 1_000_000
