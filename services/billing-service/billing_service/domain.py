"""Rules of billing: rating periods, pro-rata charges and the account's arrears state machine. No I/O here.

Time always comes in as an argument (``now``), read by the caller from an injectable ``Clock``.

Rating periods are a fixed grid of ``period``-long slots counted from the Unix epoch (hourly by default, so
periods run from hh:00 to hh+1:00 UTC). A backup is charged from its creation to the end of the slot it was
created in, then slot by slot, and finally from the start of the slot it was deleted in to its deletion
time. Each charge starts where the previous one ended, so no time is skipped, and each has a distinct
``period_start``, which the database keeps unique per backup, so no time is charged twice.
"""

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from ims_shared.events import BackupCreated
from ims_shared.events.billing import AccountState

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MONEY_STEP = Decimal("0.000001")
QUANTITY_STEP = Decimal("0.000001")
MICROSECONDS_PER_HOUR = 3_600_000_000
ZERO = Decimal(0)


def money(value: Decimal) -> Decimal:
    """An amount rounded to the precision balances and bill lines keep (six decimal places, half up)."""
    return value.quantize(MONEY_STEP, rounding=ROUND_HALF_UP)


# -- what is charged --------------------------------------------------------------------------------------------
def storage_is_billed(backup: BackupCreated) -> bool:
    """Whether the project a CBR backup is recorded in pays for its storage. The seed's rule:

        "you will only be charged for the CBR backup"

    A full-ECS image costs nothing: its bill line is priced at ``IMAGE_PRICE`` and names its backup, whose storage is
    what is metered (from its BackupCreated to its BackupDeleted). A backup shared with a project
    (``shared_from_project_id``) is paid for by the project that shared it, not by the one it was shared with.
    """
    return not backup.shared_from_project_id


IMAGE_PRICE = ZERO
"""What a full-ECS image costs: nothing (``storage_is_billed``)."""


@dataclass(frozen=True)
class ImageLine:
    """The bill line of a full-ECS image (priced at ``IMAGE_PRICE``), naming the backup whose storage is paid."""

    account_id: str
    image_id: str
    backup_id: str
    region: str
    project_id: str
    at: datetime


# -- metering ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tariff:
    """The price catalogue: CBR backup storage per GB-hour, charged per rating period (full-ECS images are free:
    ``storage_is_billed``)."""

    price_per_gb_hour: Decimal
    period: timedelta
    currency: str

    def __post_init__(self) -> None:
        if self.price_per_gb_hour < 0:
            raise ValueError("the price of backup storage cannot be negative")
        if self.period <= timedelta(0):
            raise ValueError("the rating period must be positive")


@dataclass(frozen=True)
class Meter:
    """A backup being metered: charged from ``started_at`` until ``deleted_at`` (open while None)."""

    backup_id: str
    account_id: str
    project_id: str
    region: str
    size_gb: int
    started_at: datetime
    rated_until: datetime
    deleted_at: datetime | None = None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass(frozen=True)
class Charge:
    period_start: datetime
    period_end: datetime
    quantity_gb_hours: Decimal
    unit_price: Decimal
    amount: Decimal


def slot_end(moment: datetime, period: timedelta) -> datetime:
    """The end of the rating slot that contains ``moment`` (a slot is [start, end))."""
    elapsed = moment - EPOCH
    return EPOCH + (elapsed // period + 1) * period


def _period_end(meter: Meter, start: datetime, period: timedelta) -> datetime:
    end = slot_end(start, period)
    return end if meter.deleted_at is None else min(end, meter.deleted_at)


def next_due_at(meter: Meter, period: timedelta) -> datetime | None:
    """When the meter's next uncharged period ends, or None when a deleted backup is fully charged."""
    if meter.deleted_at is not None and meter.rated_until >= meter.deleted_at:
        return None
    return _period_end(meter, meter.rated_until, period)


def charge_for(size_gb: int, start: datetime, end: datetime, tariff: Tariff) -> Charge:
    """The charge for storing ``size_gb`` from ``start`` to ``end``, pro rata to the microsecond."""
    microseconds = (end - start) // timedelta(microseconds=1)
    exact_gb_hours = Decimal(size_gb) * Decimal(microseconds) / Decimal(MICROSECONDS_PER_HOUR)
    return Charge(
        period_start=start,
        period_end=end,
        quantity_gb_hours=exact_gb_hours.quantize(QUANTITY_STEP, rounding=ROUND_HALF_UP),
        unit_price=tariff.price_per_gb_hour,
        amount=money(exact_gb_hours * tariff.price_per_gb_hour),
    )


def due_charges(meter: Meter, tariff: Tariff, now: datetime, limit: int = 1000) -> list[Charge]:
    """The periods of ``meter`` that have ended by ``now`` and are not charged yet, oldest first, at most
    ``limit`` of them. A deleted backup's last period ends at its deletion time (pro rata)."""
    charges: list[Charge] = []
    start = meter.rated_until
    while len(charges) < limit:
        end = _period_end(meter, start, tariff.period)
        if end <= start or end > now:
            break
        charges.append(charge_for(meter.size_gb, start, end, tariff))
        start = end
    return charges


def rated(meter: Meter, charges: list[Charge]) -> Meter:
    """The meter once ``charges`` are on the bill."""
    return replace(meter, rated_until=charges[-1].period_end) if charges else meter


def deletion_time(meter: Meter, reported: datetime, now: datetime) -> datetime:
    """When metering of a deleted backup ends: the reported deletion time, never in the future of the billing
    clock and never before what is already charged (a period rated before the deletion reached billing stays
    charged; nothing is charged twice)."""
    return max(min(reported, now), meter.rated_until)


# -- accounts and arrears ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ArrearsPolicy:
    """How long an account in arrears stays in grace (still usable), then frozen (resources retained, nothing
    new), before its resources are released."""

    grace: timedelta
    retention: timedelta


@dataclass(frozen=True)
class Account:
    account_id: str
    balance: Decimal
    state: AccountState
    state_since: datetime

    @property
    def in_arrears(self) -> bool:
        return self.balance < 0


def backups_deleted_for_arrears(account: Account) -> bool:
    """Whether the account's backups are to be deleted for arrears: once it is released. The seed's rule:

        "If a full-ECS image is created from a CBR backup and the backup is deleted due to arrears,
        the full-ECS image will also be deleted"

    billing-service's link of that chain: an account in arrears passes from grace to frozen to released
    (``transitions``); once it is released, each backup still metered to it is asked to be deleted, once
    (``BackupArrears``: ``ledger.send_arrears_notices``), and backup-service deletes it even with its image. The whole
    chain: docs/architecture.md, "Arrears: grace, frozen, released".
    """
    return account.state == "released"


def grace_ends_at(account: Account, policy: ArrearsPolicy) -> datetime | None:
    return account.state_since + policy.grace if account.state == "grace" else None


def release_at(account: Account, policy: ArrearsPolicy) -> datetime | None:
    """When an account in arrears will be released unless topped up (the end of its frozen period)."""
    if account.state == "grace":
        return account.state_since + policy.grace + policy.retention
    if account.state == "frozen":
        return account.state_since + policy.retention
    return None


def _next_state(account: Account, now: datetime, policy: ArrearsPolicy) -> Account | None:
    if not account.in_arrears:
        return replace(account, state="normal", state_since=now) if account.state != "normal" else None
    if account.state == "normal":
        return replace(account, state="grace", state_since=now)
    if account.state == "grace" and now >= account.state_since + policy.grace:
        return replace(account, state="frozen", state_since=account.state_since + policy.grace)
    if account.state == "frozen" and now >= account.state_since + policy.retention:
        return replace(account, state="released", state_since=account.state_since + policy.retention)
    return None


def transitions(account: Account, now: datetime, policy: ArrearsPolicy) -> list[Account]:
    """Every state the account passes through by ``now``, in order (empty when it stays as it is).

    Below zero, a normal account enters grace; grace ends in frozen after ``policy.grace``; frozen ends in
    released after ``policy.retention``. Those deadlines count from the scheduled start of each state, so a
    late sweep reaches the same outcome. A balance back at zero or above returns the account to normal from
    any other state; a released account's deleted resources stay deleted.
    Arrears cascade: docs/architecture.md, "Arrears: grace, frozen, released".
    """
    passed: list[Account] = []
    current = account
    while (following := _next_state(current, now, policy)) is not None:
        passed.append(following)
        current = following
    return passed
