"""The outbox relay: publishes committed outbox rows to Kafka in id order, then marks them.

It selects every unpublished row on each pass (never "rows after the last id"), so a row whose transaction
committed after a row with a higher id is still published. One relay per database publishes at a time
(a session advisory lock), which keeps per-aggregate order when a service runs several processes.

A pass hands its rows to the producer and goes on: their marking waits for the broker's acknowledgements in the
background, and the next pass leaves out the rows still in flight, and holds back the rows of an aggregate (a key)
that has one in flight: waiting for every acknowledgement before the next pass would hold each row committed
meanwhile for the broker's answer. Each record is signed with the service's key (``ims_shared.event_auth``), so
that consumers know it came from this service. A send that fails ends
the relay's connection: every row not marked yet is selected again and sent again, in id order (at least once;
consumers keep an inbox), and no later row of its aggregate has been sent before it. Marked rows stay until
``ims_shared.outbox_retention`` prunes them, on a connection of its own.

The marking also records when the pass had read the rows (``relay_read_at``) and when the broker had acknowledged
them (``acked_at``): with the row's ``written_at``, they break an event's time after its transaction into the
relay's steps (the benchmark reports them; bench/README.md).
"""

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from ims_shared.event_auth import EventSigner
from ims_shared.logging import get_logger
from ims_shared.metrics import EVENTS_PUBLISHED, OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE

log = get_logger(__name__)

RELAY_LOCK_KEY = 0x1A5_0B0C


class OutboxRelay:
    def __init__(
        self,
        dsn: str,
        producer: AIOKafkaProducer,
        signer: EventSigner,
        poll_interval_s: float = 0.5,
        batch_size: int = 500,
    ) -> None:
        self._dsn = dsn
        self._producer = producer
        self._signer = signer
        self._poll_interval_s = poll_interval_s
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self.last_tick = time.monotonic()
        self.is_leader = False
        self._in_flight: dict[int, asyncpg.Record] = {}  # rows sent whose acknowledgement is awaited, by id
        self._held_back = False  # a pass left rows for an aggregate in flight
        self._marking: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None
        self._conn_lock = asyncio.Lock()  # one statement at a time on the relay's connection

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
            while True:
                self.last_tick = time.monotonic()
                self._wake.clear()
                if self._failure is not None:
                    raise self._failure
                sent = await self._publish_pass(conn)
                if sent < self._batch_size:
                    try:
                        await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)
                    except TimeoutError:
                        pass
        finally:
            self.is_leader = False
            for task in self._marking:
                task.cancel()
            await asyncio.gather(*self._marking, return_exceptions=True)
            self._marking.clear()
            self._in_flight.clear()
            self._held_back = False
            self._failure = None
            await conn.close(timeout=2)

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _publish_pass(self, conn: asyncpg.Connection) -> int:
        """Send the unpublished rows not in flight, in id order; their marking goes on in the background."""
        async with self._conn_lock:
            rows = await conn.fetch(
                "SELECT id, event_id, event_type, topic, key, payload, created_at, traceparent FROM outbox "
                "WHERE published_at IS NULL AND NOT (id = ANY ($2::bigint[])) ORDER BY id LIMIT $1",
                self._batch_size,
                list(self._in_flight),
            )
        read_at = datetime.now(UTC)
        unpublished = [*self._in_flight.values(), *rows[:1]]  # rows in flight are not published yet either
        OUTBOX_BACKLOG.set(len(self._in_flight) + len(rows))
        OUTBOX_OLDEST_AGE.set(
            max(0.0, time.time() - min(r["created_at"] for r in unpublished).timestamp()) if unpublished else 0
        )
        if not rows:
            return 0
        # A row whose aggregate (its key) has a row in flight waits for that one to be acknowledged and marked, so
        # that a failed send, sent again, can never land after a later event of the same aggregate.
        waiting = {row["key"] for row in self._in_flight.values()}
        sent: list[asyncpg.Record] = []
        sends = []
        for row in rows:
            if row["key"] in waiting:
                self._held_back = True
                continue
            value = row["payload"].encode()
            headers = [
                ("content-type", b"application/cloudevents+json"),
                ("ce-id", row["event_id"].encode()),
                ("ce-type", row["event_type"].encode()),
                self._signer.header(value),
            ]
            if row["traceparent"]:
                headers.append(("traceparent", row["traceparent"].encode()))
            sends.append(await self._producer.send(row["topic"], value, key=row["key"].encode(), headers=headers))
            sent.append(row)
        if not sent:
            return 0
        self._in_flight.update((row["id"], row) for row in sent)
        task = asyncio.create_task(self._mark_when_acknowledged(conn, sent, sends, read_at), name="outbox-marking")
        self._marking.add(task)
        task.add_done_callback(self._marking.discard)
        return len(sent)

    async def _mark_when_acknowledged(
        self,
        conn: asyncpg.Connection,
        rows: list[asyncpg.Record],
        sends: list[asyncio.Future[Any]],
        read_at: datetime,
    ) -> None:
        ids = [row["id"] for row in rows]
        try:
            await asyncio.gather(*sends)
            acked_at = datetime.now(UTC)
            async with self._conn_lock:
                await conn.execute(
                    "UPDATE outbox SET published_at = now(), relay_read_at = $2, acked_at = $3 "
                    "WHERE id = ANY($1::bigint[])",
                    ids,
                    read_at,
                    acked_at,
                )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failure = exc  # the relay starts again: every row not marked is sent again, in order
            self._wake.set()
            return
        for row_id in ids:
            del self._in_flight[row_id]
        if self._held_back:
            self._held_back = False
            self._wake.set()  # rows held back for an aggregate in flight can go now
        for row in rows:
            EVENTS_PUBLISHED.labels(row["topic"]).inc()
