"""Test helpers of billing-service: a migrated database with the tenants' accounts open, events delivered through
the real consumer path (``EventProcessor``: inbox, handler, outbox in one transaction), a manual clock and
queries of what a user would see."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from billing_service import repository
from billing_service.app import MIGRATIONS
from billing_service.clock import ManualClock
from billing_service.context import BillingService
from billing_service.cycles import arrears_pass, rating_pass
from billing_service.domain import Account, ArrearsPolicy, Tariff
from billing_service.handlers import event_handlers
from billing_service.settings import BillingSettings
from ims_shared.consumer import EventProcessor
from ims_shared.db import Database, create_pool
from ims_shared.emitter import Emitter
from ims_shared.events import EventData, make_event
from ims_shared.tenants import TenantCatalog, load_tenants
from ims_shared.topics import topic_for
from tests.support import consumer_record, development_authority, fresh_database

CONSUMER = "billing-service.cn-north-4"
ALPHA, BETA = "alpha", "beta"


@dataclass
class DeadLetters:
    """Stands in for the Kafka producer, which the consumer uses only to dead-letter a record."""

    records: list[tuple[str, bytes | None, str]] = field(default_factory=list)

    async def send(
        self, topic: str, value: bytes | None, key: bytes | None = None, headers: Any = None
    ) -> "asyncio.Future[None]":
        reason = dict(headers or []).get("dlt-reason", b"").decode()
        self.records.append((topic, value, reason))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


@dataclass
class Books:
    dsn: str
    pool: asyncpg.Pool
    clock: ManualClock
    billing: BillingService
    emitter: Emitter
    dead_letters: DeadLetters
    processor: EventProcessor = field(init=False)
    _offset: int = 0

    @property
    def tenants(self) -> TenantCatalog:
        return self.billing.tenants

    def project(self, account_id: str, region: str = "cn-north-4") -> str:
        tenant = self.tenants.by_account(account_id)
        assert tenant is not None and region in tenant.projects
        return tenant.projects[region]

    # -- events in ---------------------------------------------------------------------------------------------
    def record(
        self,
        data: EventData,
        *,
        project_id: str,
        region: str = "cn-north-4",
        time: datetime | None = None,
        source: str | None = None,
    ) -> ConsumerRecord[bytes, bytes]:
        """A Kafka record carrying ``data`` as a CloudEvent, as another service would produce it."""
        event = make_event(
            data,
            source=source or f"/{region}/backup-service",
            region=region,
            project_id=project_id,
            time=time or self.clock.now(),
        )
        value = event.model_dump_json(exclude_none=True).encode()
        key = data.aggregate_id().encode()
        self._offset += 1
        return consumer_record(topic_for(data.topic_kind, region), self._offset, value, key)

    async def deliver(self, *records: ConsumerRecord[bytes, bytes]) -> None:
        """Hand the records to the consumer as one batch; fails if any of them was dead-lettered."""
        before = len(self.dead_letters.records)
        await self.processor.process(records)
        dead = self.dead_letters.records[before:]
        assert not dead, f"dead-lettered: {[reason for _, _, reason in dead]}"

    def restart(self) -> None:
        """A new consumer over the same database and consumer group, as after a restart of billing-service."""
        self.processor = EventProcessor(
            authority=development_authority(),
            consumer_name=CONSUMER,
            handlers=event_handlers(),
            pool=self.pool,
            producer=cast(AIOKafkaProducer, self.dead_letters),
            emitter=self.emitter,
            service=self.billing,
            retry_limit_s=10,
        )

    # -- cycles ------------------------------------------------------------------------------------------------
    async def rate(self, pool: asyncpg.Pool | None = None) -> int:
        return await rating_pass(pool or self.pool, self.emitter, self.billing)

    async def sweep(self, pool: asyncpg.Pool | None = None) -> int:
        return await arrears_pass(pool or self.pool, self.emitter, self.billing)

    async def advance(self, delta: timedelta) -> None:
        """Let time pass, then run the rating cycle and the arrears sweep once, as the service would."""
        self.clock.advance(delta)
        await self.rate()
        await self.sweep()

    # -- what a user sees --------------------------------------------------------------------------------------
    async def account(self, account_id: str = ALPHA) -> Account:
        found = await repository.get_account(self.pool, account_id)
        assert found is not None
        return found[0]

    async def balance(self, account_id: str = ALPHA) -> Decimal:
        return (await self.account(account_id)).balance

    async def lines(self, backup_id: str | None = None, kind: str = "backup_storage") -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT * FROM bill_lines WHERE kind = $1 AND ($2::text IS NULL OR backup_id = $2) "
            "ORDER BY backup_id, period_start",
            kind,
            backup_id,
        )
        return [dict(r) for r in rows]

    async def charged(self, account_id: str = ALPHA) -> Decimal:
        total = await self.pool.fetchval("SELECT sum(amount) FROM bill_lines WHERE account_id = $1", account_id)
        return cast(Decimal, total or Decimal(0))

    async def emitted(self, event_type: str) -> list[dict[str, Any]]:
        """The CloudEvents of ``event_type`` in the outbox, oldest first, with their topic and key."""
        rows = await self.pool.fetch(
            "SELECT topic, key, payload FROM outbox WHERE event_type = $1 ORDER BY id", event_type
        )
        return [{"topic": r["topic"], "key": r["key"], **json.loads(r["payload"])} for r in rows]


@asynccontextmanager
async def open_books(
    start: datetime,
    *,
    initial_balance: Decimal = Decimal("100"),
    grace: timedelta = timedelta(days=15),
    retention: timedelta = timedelta(days=15),
) -> AsyncIterator[Books]:
    """A fresh billing database whose tenants' accounts are open (0.36 CNY per GB-hour, hourly periods), with a manual
    clock standing at ``start``."""
    clock = ManualClock(start)
    emitter = Emitter("/cn-north-4/billing-service", "cn-north-4")
    async with fresh_database(MIGRATIONS, prefix="billing_test") as (dsn, pool):
        database = Database(dsn)
        database.attach(pool)
        billing = BillingService(
            settings=BillingSettings(),
            tenants=load_tenants(None),
            emitter=emitter,
            database=database,
            clock=clock,
            tariff=Tariff(Decimal("0.36"), timedelta(hours=1), "CNY"),
            policy=ArrearsPolicy(grace, retention),
            initial_balance=initial_balance,
        )
        account_ids = sorted(t.account_id for t in billing.tenants.tenants)
        await repository.open_accounts(pool, account_ids, initial_balance, "CNY", clock.now())
        books = Books(dsn, pool, clock, billing, emitter, DeadLetters())
        books.restart()
        yield books


@asynccontextmanager
async def second_pool(books: Books) -> AsyncIterator[asyncpg.Pool]:
    """Another connection pool to the same database, standing for a second billing-service process."""
    pool = await create_pool(books.dsn, 5)
    try:
        yield pool
    finally:
        await pool.close()
