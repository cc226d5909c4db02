"""Metering CBR backups through the consumer path: charges per period, pro rata on deletion, exactly once."""

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing_service import repository
from billing_service.domain import due_charges
from ims_shared.events import BackupArrears, BackupCreated, BackupDeleted, ImageCreated, ImageDeleted
from tests.support.billing import ALPHA, BETA, Books, second_pool

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def created(backup_id: str, at: datetime, size_gb: int = 10, **extra: object) -> BackupCreated:
    return BackupCreated(
        backup_id=backup_id,
        vault_id="v-1",
        name=backup_id,
        resource_id="ecs-1",
        created_at=at,
        size_gb=size_gb,
        **extra,
    )


def spans(lines: list[dict[str, object]]) -> list[tuple[object, object, object]]:
    return [(line["period_start"], line["period_end"], line["amount"]) for line in lines]


async def test_a_backup_is_charged_once_per_ended_period(books: Books) -> None:
    alpha = books.project(ALPHA)
    await books.deliver(books.record(created("b-1", T0 + timedelta(minutes=30)), project_id=alpha))

    books.clock.set(T0 + timedelta(hours=2, minutes=59))
    await books.rate()
    await books.rate()

    assert spans(await books.lines("b-1")) == [
        (T0 + timedelta(minutes=30), T0 + HOUR, Decimal("1.800000")),  # 10 GB x 0.5 h x 0.36
        (T0 + HOUR, T0 + 2 * HOUR, Decimal("3.600000")),
    ]
    assert await books.balance(ALPHA) == Decimal("94.600000")
    assert await books.balance(BETA) == Decimal("100.000000")


async def test_redelivered_backup_events_change_nothing(books: Books) -> None:
    alpha = books.project(ALPHA)
    birth = books.record(created("b-1", T0), project_id=alpha)
    await books.deliver(birth)
    await books.deliver(birth, birth)  # Kafka redelivers, in the same batch or a later one
    await books.deliver(books.record(created("b-1", T0), project_id=alpha))  # re-emitted under a new event id

    books.clock.set(T0 + HOUR + timedelta(minutes=20))
    await books.rate()
    death = books.record(
        BackupDeleted(backup_id="b-1", reason="user"), project_id=alpha, time=T0 + 75 * timedelta(minutes=1)
    )
    await books.deliver(death)
    after_deletion = (spans(await books.lines("b-1")), await books.balance())

    # A restarted billing-service (new processor, same consumer group) gets the uncommitted batch again.
    books.restart()
    await books.deliver(birth, death)
    await books.deliver(books.record(BackupDeleted(backup_id="b-1", reason="user"), project_id=alpha))
    books.clock.advance(timedelta(days=2))
    await books.rate()

    assert after_deletion == (
        [(T0, T0 + HOUR, Decimal("3.600000")), (T0 + HOUR, T0 + 75 * timedelta(minutes=1), Decimal("0.900000"))],
        Decimal("95.500000"),
    )
    assert (spans(await books.lines("b-1")), await books.balance()) == after_deletion


async def test_a_backup_deleted_mid_period_is_charged_pro_rata_to_its_deletion(books: Books) -> None:
    alpha = books.project(ALPHA)
    await books.deliver(books.record(created("b-1", T0, size_gb=40), project_id=alpha))
    books.clock.set(T0 + HOUR + timedelta(minutes=5))
    await books.rate()
    assert len(await books.lines("b-1")) == 1

    deleted_at = T0 + HOUR + timedelta(minutes=15)
    books.clock.set(T0 + HOUR + timedelta(minutes=20))  # the deletion reaches billing five minutes later
    await books.deliver(books.record(BackupDeleted(backup_id="b-1", reason="user"), project_id=alpha, time=deleted_at))

    last = (await books.lines("b-1"))[-1]
    assert (last["period_start"], last["period_end"]) == (T0 + HOUR, deleted_at)
    assert last["quantity_gb_hours"] == Decimal("10.000000")  # 40 GB for a quarter of an hour
    assert last["amount"] == Decimal("3.600000")
    assert await books.balance() == Decimal("100") - Decimal("14.4") - Decimal("3.6")

    await books.advance(timedelta(days=1))
    assert len(await books.lines("b-1")) == 2  # charges stopped at the deletion


async def test_two_rating_passes_racing_charge_every_period_exactly_once(books: Books) -> None:
    alpha, beta = books.project(ALPHA), books.project(BETA, "ap-southeast-1")
    births = [
        books.record(created(f"a-{i:02}", T0 + timedelta(minutes=i), size_gb=1), project_id=alpha) for i in range(25)
    ]
    births += [
        books.record(
            created(f"b-{i:02}", T0 + timedelta(minutes=i), size_gb=2), project_id=beta, region="ap-southeast-1"
        )
        for i in range(25)
    ]
    await books.deliver(*births)

    async with second_pool(books) as other:
        for hours in (1, 2, 5):
            books.clock.set(T0 + hours * HOUR + timedelta(seconds=1))
            await asyncio.gather(books.rate(books.pool), books.rate(other), books.rate(other))

    lines = await books.lines()
    keys = [(line["backup_id"], line["period_start"]) for line in lines]
    assert len(keys) == len(set(keys)) == 50 * 5
    for i in range(25):  # every backup tiled from its creation to 15:00 with no gap
        mine = [line for line in lines if line["backup_id"] == f"a-{i:02}"]
        assert mine[0]["period_start"] == T0 + timedelta(minutes=i)
        assert all(a["period_end"] == b["period_start"] for a, b in itertools.pairwise(mine))
        assert mine[-1]["period_end"] == T0 + 5 * HOUR
    assert await books.balance(ALPHA) == Decimal(100) - await books.charged(ALPHA)
    assert await books.balance(BETA) == Decimal(100) - await books.charged(BETA)
    assert await books.charged(ALPHA) == Decimal("0.36") * sum(Decimal(300 - i) / 60 for i in range(25))


async def test_the_database_refuses_a_period_charged_twice(books: Books) -> None:
    """Even a writer that skips the locks cannot charge a period twice, nor debit for it."""
    alpha = books.project(ALPHA)
    await books.deliver(books.record(created("b-1", T0), project_id=alpha))
    meter = await repository.get_meter(books.pool, "b-1")
    assert meter is not None
    charges = due_charges(meter, books.billing.tariff, T0 + 3 * HOUR)
    async with books.pool.acquire() as conn:
        first = await repository.add_charges(conn, meter, charges)
        second = await repository.add_charges(conn, meter, charges)
    assert (first, second) == (Decimal("10.800000"), Decimal(0))
    assert len(await books.lines("b-1")) == 3


async def test_backups_of_every_region_are_charged_to_the_tenants_one_account(books: Books) -> None:
    hong_kong = books.project(ALPHA, "ap-southeast-1")
    await books.deliver(books.record(created("b-hk", T0), project_id=hong_kong, region="ap-southeast-1"))
    await books.deliver(books.record(created("b-bj", T0), project_id=books.project(ALPHA)))
    await books.advance(HOUR)

    lines = await books.lines()
    assert {(line["backup_id"], line["region"], line["project_id"], line["account_id"]) for line in lines} == {
        ("b-hk", "ap-southeast-1", hong_kong, ALPHA),
        ("b-bj", "cn-north-4", books.project(ALPHA), ALPHA),
    }
    assert await books.balance(ALPHA) == Decimal("92.800000")


async def test_a_full_ecs_image_is_free_and_names_the_backup_that_is_billed(books: Books) -> None:
    alpha = books.project(ALPHA)
    await books.deliver(books.record(created("b-1", T0), project_id=alpha))
    made = ImageCreated(image_id="img-1", job_id="j-1", backup_id="b-1", name="web", min_disk=40, size_gb=40)
    await books.deliver(books.record(made, project_id=alpha, time=T0 + timedelta(minutes=10)))
    await books.deliver(books.record(made, project_id=alpha, time=T0 + timedelta(minutes=11)))  # re-emitted

    [line] = await books.lines(kind="full_ecs_image")
    assert (line["image_id"], line["backup_id"], line["amount"], line["unit_price"]) == ("img-1", "b-1", 0, 0)
    assert line["period_start"] == T0 + timedelta(minutes=10)
    assert await books.balance() == Decimal("100.000000")


async def test_deleting_the_image_but_not_its_backup_keeps_the_backup_charged(books: Books) -> None:
    alpha = books.project(ALPHA)
    await books.deliver(books.record(created("b-1", T0), project_id=alpha))
    made = ImageCreated(image_id="img-1", job_id="j-1", backup_id="b-1", name="web", min_disk=40, size_gb=40)
    await books.deliver(books.record(made, project_id=alpha))
    gone = ImageDeleted(image_id="img-1", backup_id="b-1", delete_backup=False)
    await books.deliver(books.record(gone, project_id=alpha, time=T0 + timedelta(minutes=5)))

    await books.advance(3 * HOUR)
    assert len(await books.lines("b-1")) == 3
    assert await books.balance() == Decimal("89.200000")


async def test_shared_backups_and_unknown_projects_are_not_charged(books: Books) -> None:
    beta = books.project(BETA)
    shared = created("b-shared", T0, shared_from_project_id=books.project(ALPHA))
    await books.deliver(books.record(shared, project_id=beta))
    await books.deliver(books.record(created("b-nobody", T0), project_id="f" * 32))
    await books.advance(2 * HOUR)
    assert await books.lines() == []
    assert await books.balance(BETA) == Decimal("100.000000")


async def test_a_backup_arrears_from_an_outside_billing_system_is_accepted(books: Books) -> None:
    alpha = books.project(ALPHA)
    await books.deliver(books.record(created("b-1", T0), project_id=alpha))
    outside = BackupArrears(backup_id="b-1", account_id="alpha", reason="arrears")
    await books.deliver(books.record(outside, project_id=alpha, source="/global/external-billing"))

    assert books.dead_letters.records == []
    await books.advance(HOUR)
    assert len(await books.lines("b-1")) == 1  # billing leaves the deletion to backup-service


async def test_backups_and_images_delivered_as_one_batch_are_billed_as_one_by_one(books: Books) -> None:
    """Consecutive events of a type are handled as a run with one statement: every backup of the run is metered
    (a shared one and one of no tenant are not, one re-emitted is metered once) and every image gets its line."""
    alpha, beta = books.project(ALPHA), books.project(BETA)
    first = created("b-1", T0)
    images = [
        ImageCreated(image_id=f"img-{n}", job_id=f"j-{n}", backup_id=f"b-{n}", name="web", min_disk=40, size_gb=40)
        for n in (1, 2)
    ]
    await books.deliver(
        books.record(first, project_id=alpha),
        books.record(created("b-2", T0, size_gb=20), project_id=beta),
        books.record(created("b-shared", T0, shared_from_project_id=alpha), project_id=beta),
        books.record(created("b-nobody", T0), project_id="f" * 32),
        books.record(first, project_id=alpha),  # re-emitted under a new event id, in the same run
        books.record(images[0], project_id=alpha, time=T0 + timedelta(minutes=1)),
        books.record(images[1], project_id=beta, time=T0 + timedelta(minutes=2)),
    )
    await books.advance(HOUR)

    assert {(line["backup_id"], line["account_id"], line["amount"]) for line in await books.lines()} == {
        ("b-1", ALPHA, Decimal("3.600000")),
        ("b-2", BETA, Decimal("7.200000")),
    }
    image_lines = await books.lines(kind="full_ecs_image")
    assert sorted((line["image_id"], line["backup_id"], line["account_id"]) for line in image_lines) == [
        ("img-1", "b-1", ALPHA),
        ("img-2", "b-2", BETA),
    ]
    assert await books.balance(ALPHA) == Decimal("96.400000")
    assert await books.balance(BETA) == Decimal("92.800000")


async def test_backups_deleted_in_one_batch_are_charged_and_debited_as_one_by_one(books: Books) -> None:
    """Three 100 GB backups deleted after two hours, in one batch: each is charged its two periods (72.00 each);
    the account is debited the total once, and enters grace when the second debit crosses zero, announced with
    the balance of that moment, as one deletion at a time would have it. A second deletion of a backup charges
    nothing more."""
    alpha = books.project(ALPHA)
    backups = [f"b-{n}" for n in range(3)]
    await books.deliver(*(books.record(created(b, T0, size_gb=100), project_id=alpha) for b in backups))
    books.clock.set(T0 + 2 * HOUR)
    deletions = [BackupDeleted(backup_id=b, reason="user") for b in [*backups, backups[0]]]
    await books.deliver(*(books.record(d, project_id=alpha, time=T0 + 2 * HOUR) for d in deletions))

    assert [len(await books.lines(b)) for b in backups] == [2, 2, 2]
    assert await books.charged() == Decimal("216.000000")
    account = await books.account()
    assert (account.balance, account.state, account.state_since) == (Decimal("-116.000000"), "grace", T0 + 2 * HOUR)
    announced = [(e["data"]["state"], e["data"]["balance"]) for e in await books.emitted("AccountStateChanged")]
    assert announced == [("grace", "-44.000000")]
    assert [m.deleted_at for m in (await repository.get_meters(books.pool, backups)).values()] == [T0 + 2 * HOUR] * 3
