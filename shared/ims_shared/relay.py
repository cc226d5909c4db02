"""The outbox relay: publishes committed outbox rows to Kafka in id order, then marks them.

It selects every unpublished row on each pass (never "rows after the last id"), so a row whose transaction
committed after a row with a higher id is still published. One relay per database publishes at a time
(a session advisory lock), which keeps per-aggregate order when a service runs several processes.
"""

import asyncio
import time

import asyncpg
from aiokafka import AIOKafkaProducer

from ims_shared.logging import get_logger
from ims_shared.metrics import EVENTS_PUBLISHED, OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE

log = get_logger(__name__)

RELAY_LOCK_KEY = 0x1A5_0B0C
PUBLISHED_RETENTION = "1 hour"


class OutboxRelay:
    def __init__(
        self,
        dsn: str,
        producer: AIOKafkaProducer,
        poll_interval_s: float = 0.5,
        batch_size: int = 500,
    ) -> None:
        self._dsn = dsn
        self._producer = producer
        self._poll_interval_s = poll_interval_s
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self.last_tick = time.monotonic()
        self.is_leader = False

    async def run(self) -> None:
        backoff = 0.2
        while True:
            try:
                await self._run_connected()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.is_leader = False
                log.warning("outbox relay interrupted, retrying", error=str(exc), backoff_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            else:
                backoff = 0.2

    async def _run_connected(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=10)
        try:
            await conn.add_listener("outbox", self._on_notify)
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_KEY):
                self.last_tick = time.monotonic()
                await asyncio.sleep(self._poll_interval_s)
            self.is_leader = True
            passes = 0
            while True:
                self.last_tick = time.monotonic()
                self._wake.clear()
                published = await self._publish_pass(conn)
                passes += 1
                if passes % 200 == 0:
                    await conn.execute(
                        f"DELETE FROM outbox WHERE published_at < now() - interval '{PUBLISHED_RETENTION}'"
                    )
                if published < self._batch_size:
                    try:
                        await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)
                    except TimeoutError:
                        pass
        finally:
            self.is_leader = False
            await conn.close(timeout=2)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _publish_pass(self, conn: asyncpg.Connection) -> int:
        rows = await conn.fetch(
            "SELECT id, event_id, event_type, topic, key, payload, created_at, traceparent FROM outbox "
            "WHERE published_at IS NULL ORDER BY id LIMIT $1",
            self._batch_size,
        )
        if not rows:
            OUTBOX_BACKLOG.set(0)
            OUTBOX_OLDEST_AGE.set(0)
            return 0
        OUTBOX_BACKLOG.set(len(rows))
        OUTBOX_OLDEST_AGE.set(max(0.0, time.time() - rows[0]["created_at"].timestamp()))
        sends = []
        for row in rows:
            headers = [
                ("content-type", b"application/cloudevents+json"),
                ("ce-id", row["event_id"].encode()),
                ("ce-type", row["event_type"].encode()),
            ]
            if row["traceparent"]:
                headers.append(("traceparent", row["traceparent"].encode()))
            sends.append(
                await self._producer.send(
                    row["topic"], row["payload"].encode(), key=row["key"].encode(), headers=headers
                )
            )
        await asyncio.gather(*sends)
        await conn.execute(
            "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
        )
        for row in rows:
            EVENTS_PUBLISHED.labels(row["topic"]).inc()
        return len(rows)
