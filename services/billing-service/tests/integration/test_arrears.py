"""Arrears: grace, then frozen, then released with a BackupArrears per still-metered backup, exactly once; a
top-up during grace or frozen restores the account and deletes nothing."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import pytest_asyncio

from billing_service.ledger import top_up
from ims_shared.events import BackupArrears, BackupCreated, BackupDeleted
from tests.support.billing import ALPHA, Books, open_books, second_pool

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
GRACE, RETENTION = timedelta(seconds=10), timedelta(seconds=20)


@pytest_asyncio.fixture
async def short_books() -> AsyncIterator[Books]:
    """Alpha starts with 5.00 CNY; grace lasts 10 s and retention 20 s."""
    async with open_books(T0, initial_balance=Decimal("5"), grace=GRACE, retention=RETENTION) as books:
        yield books


def created(backup_id: str, size_gb: int = 10) -> BackupCreated:
    return BackupCreated(
        backup_id=backup_id, vault_id="v-1", name=backup_id, resource_id="ecs-1", created_at=T0, size_gb=size_gb
    )


async def into_arrears(books: Books) -> None:
    """Two backups in two regions cost 7.20 in their first hour: alpha (5.00) goes into arrears at 11:00."""
    hong_kong = books.project(ALPHA, "ap-southeast-1")
    await books.deliver(
        books.record(created("b-keep"), project_id=hong_kong, region="ap-southeast-1"),
        books.record(created("b-gone"), project_id=books.project(ALPHA)),
    )
    await books.advance(HOUR)


async def credit(books: Books, amount: str) -> None:
    async with books.pool.acquire() as conn, conn.transaction():
        await top_up(
            conn,
            books.emitter,
            books.billing,
            account_id=ALPHA,
            project_id=books.project(ALPHA),
            amount=Decimal(amount),
            idempotency_key=None,
        )


async def states_announced(books: Books) -> list[tuple[str, str]]:
    return [(e["data"]["state"], e["data"]["balance"]) for e in await books.emitted("AccountStateChanged")]


async def test_arrears_walk_from_grace_to_frozen_to_released(short_books: Books) -> None:
    books = short_books
    await into_arrears(books)
    grace = await books.account()
    assert (grace.state, grace.balance, grace.state_since) == ("grace", Decimal("-2.200000"), T0 + HOUR)

    await books.deliver(  # one backup goes before the release: no BackupArrears for it
        books.record(BackupDeleted(backup_id="b-gone", reason="user"), project_id=books.project(ALPHA))
    )
    await books.advance(GRACE - timedelta(seconds=1))
    assert (await books.account()).state == "grace"
    await books.advance(timedelta(seconds=1))
    frozen = await books.account()
    assert (frozen.state, frozen.state_since) == ("frozen", T0 + HOUR + GRACE)
    assert await books.emitted("BackupArrears") == []

    await books.advance(RETENTION)
    released = await books.account()
    assert (released.state, released.state_since) == ("released", T0 + HOUR + GRACE + RETENTION)

    [arrears] = await books.emitted("BackupArrears")
    assert arrears["data"] == {"backup_id": "b-keep", "account_id": ALPHA, "reason": "arrears"}
    assert (arrears["topic"], arrears["key"]) == ("ims.billing", "b-keep")
    assert (arrears["region"], arrears["projectid"]) == ("ap-southeast-1", books.project(ALPHA, "ap-southeast-1"))
    assert [state for state, _ in await states_announced(books)] == ["grace", "frozen", "released"]
    assert [e["topic"] for e in await books.emitted("AccountStateChanged")] == ["ims.billing"] * 3


async def test_backup_arrears_is_sent_exactly_once_whoever_sweeps(short_books: Books) -> None:
    books = short_books
    await into_arrears(books)
    books.clock.advance(GRACE + RETENTION)
    async with second_pool(books) as other:
        await asyncio.gather(books.sweep(), books.sweep(other), books.sweep(other))
        await asyncio.gather(books.sweep(), books.sweep(other))
    assert sorted(e["data"]["backup_id"] for e in await books.emitted("BackupArrears")) == ["b-gone", "b-keep"]
    assert [state for state, _ in await states_announced(books)] == ["grace", "frozen", "released"]

    # The relay publishes and purges the outbox; the events come back on ims.billing. Billing does not ask
    # again, however often it sweeps. Charges run until BackupDeleted arrives.
    sent = await books.emitted("BackupArrears")
    await books.pool.execute("DELETE FROM outbox")
    for event in sent:
        echo = BackupArrears.model_validate(event["data"])
        await books.deliver(books.record(echo, project_id=event["projectid"], region=event["region"]))
    async with second_pool(books) as other:
        await asyncio.gather(books.sweep(), books.sweep(other))
    await books.advance(HOUR)
    assert await books.emitted("BackupArrears") == []
    assert len(await books.lines("b-keep")) == 2
    hong_kong = books.project(ALPHA, "ap-southeast-1")
    await books.deliver(
        books.record(
            BackupDeleted(backup_id="b-keep", reason="arrears"), project_id=hong_kong, region="ap-southeast-1"
        ),
        books.record(BackupDeleted(backup_id="b-gone", reason="arrears"), project_id=books.project(ALPHA)),
    )
    balance = await books.balance()
    await books.advance(5 * HOUR)
    assert len(await books.lines("b-keep")) == 3  # the partial period up to the deletion, then nothing
    assert len(await books.lines("b-gone")) == 3
    assert await books.balance() == balance


async def test_a_backup_that_reaches_billing_after_the_release_is_also_reclaimed(short_books: Books) -> None:
    books = short_books
    await into_arrears(books)
    await books.advance(GRACE + RETENTION)
    await books.deliver(books.record(created("b-late"), project_id=books.project(ALPHA)))
    await books.sweep()
    assert sorted(e["data"]["backup_id"] for e in await books.emitted("BackupArrears")) == [
        "b-gone",
        "b-keep",
        "b-late",
    ]


async def test_a_top_up_during_grace_restores_normal_and_deletes_nothing(short_books: Books) -> None:
    books = short_books
    await into_arrears(books)
    await books.advance(GRACE / 2)
    await credit(books, "2.20")

    normal = await books.account()
    assert (normal.state, normal.balance, normal.state_since) == ("normal", Decimal("0"), books.clock.now())
    await books.advance(GRACE + RETENTION + timedelta(minutes=5))
    assert (await books.account()).state == "normal"
    assert await books.emitted("BackupArrears") == []
    assert await states_announced(books) == [("grace", "-2.200000"), ("normal", "0.000000")]


async def test_a_top_up_during_frozen_restores_normal_and_deletes_nothing(short_books: Books) -> None:
    books = short_books
    await into_arrears(books)
    await books.advance(GRACE + timedelta(seconds=5))
    assert (await books.account()).state == "frozen"
    await credit(books, "1.00")
    assert (await books.account()).state == "frozen"  # still short of zero
    await credit(books, "10.00")

    await books.advance(RETENTION * 2)
    assert (await books.account()).state == "normal"
    assert await books.emitted("BackupArrears") == []
    assert [s for s, _ in await states_announced(books)] == ["grace", "frozen", "normal"]
