"""Rating periods and pro-rata charges, driven by a manual clock."""

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_service.clock import ManualClock
from billing_service.domain import (
    Meter,
    Tariff,
    deletion_time,
    due_charges,
    next_due_at,
    rated,
    slot_end,
)

HOUR = timedelta(hours=1)
TARIFF = Tariff(price_per_gb_hour=Decimal("0.0003"), period=HOUR, currency="CNY")
T0 = datetime(2025, 3, 1, 10, 30, tzinfo=UTC)


def meter(started: datetime = T0, size_gb: int = 40) -> Meter:
    return Meter("b-1", "alpha", "p-1", "cn-north-4", size_gb, started, started)


def test_periods_follow_the_hourly_grid_after_a_partial_first_hour() -> None:
    clock = ManualClock(T0)
    m = meter()
    assert due_charges(m, TARIFF, clock.now()) == []

    clock.advance(timedelta(hours=2, minutes=10))  # 12:40
    charges = due_charges(m, TARIFF, clock.now())

    assert [(c.period_start, c.period_end) for c in charges] == [
        (T0, datetime(2025, 3, 1, 11, tzinfo=UTC)),
        (datetime(2025, 3, 1, 11, tzinfo=UTC), datetime(2025, 3, 1, 12, tzinfo=UTC)),
    ]
    first, second = charges
    assert first.quantity_gb_hours == Decimal("20.000000")  # 40 GB for half an hour
    assert first.amount == Decimal("0.006000")
    assert second.quantity_gb_hours == Decimal("40.000000")
    assert second.amount == Decimal("0.012000")
    assert second.unit_price == Decimal("0.0003")


def test_a_period_is_due_only_once_it_has_ended() -> None:
    m = meter(started=datetime(2025, 3, 1, 11, tzinfo=UTC))
    assert due_charges(m, TARIFF, datetime(2025, 3, 1, 11, 59, 59, tzinfo=UTC)) == []
    assert len(due_charges(m, TARIFF, datetime(2025, 3, 1, 12, tzinfo=UTC))) == 1
    assert next_due_at(m, HOUR) == datetime(2025, 3, 1, 12, tzinfo=UTC)


def test_charging_resumes_where_the_last_charge_ended() -> None:
    clock = ManualClock(T0)
    m = meter()
    clock.set(datetime(2025, 3, 1, 12, 5, tzinfo=UTC))
    m = rated(m, due_charges(m, TARIFF, clock.now()))
    assert m.rated_until == datetime(2025, 3, 1, 12, tzinfo=UTC)
    assert due_charges(m, TARIFF, clock.now()) == []  # nothing charged twice

    clock.advance(HOUR)
    again = due_charges(m, TARIFF, clock.now())
    assert [c.period_start for c in again] == [datetime(2025, 3, 1, 12, tzinfo=UTC)]


def test_a_backup_deleted_mid_period_is_charged_pro_rata_up_to_its_deletion() -> None:
    clock = ManualClock(datetime(2025, 3, 1, 12, 0, tzinfo=UTC))
    m = rated(meter(), due_charges(meter(), TARIFF, clock.now()))  # charged up to 12:00
    deleted = datetime(2025, 3, 1, 12, 15, tzinfo=UTC)
    clock.set(datetime(2025, 3, 1, 12, 20, tzinfo=UTC))

    ended = replace(m, deleted_at=deletion_time(m, deleted, clock.now()))
    charges = due_charges(ended, TARIFF, clock.now())

    assert [(c.period_start, c.period_end) for c in charges] == [(datetime(2025, 3, 1, 12, tzinfo=UTC), deleted)]
    assert charges[0].quantity_gb_hours == Decimal("10.000000")  # 40 GB for a quarter of an hour
    assert charges[0].amount == Decimal("0.003000")
    done = rated(ended, charges)
    assert next_due_at(done, HOUR) is None
    clock.advance(timedelta(days=3))
    assert due_charges(done, TARIFF, clock.now()) == []  # charges stop at the deletion


def test_a_deletion_reported_after_its_period_was_charged_charges_nothing_more() -> None:
    m = rated(meter(), due_charges(meter(), TARIFF, datetime(2025, 3, 1, 13, tzinfo=UTC)))  # up to 13:00
    ended = replace(m, deleted_at=deletion_time(m, datetime(2025, 3, 1, 12, 30, tzinfo=UTC), m.rated_until))
    assert ended.deleted_at == m.rated_until
    assert due_charges(ended, TARIFF, datetime(2025, 3, 2, tzinfo=UTC)) == []


def test_a_deletion_time_ahead_of_the_billing_clock_is_capped_at_the_clock() -> None:
    now = datetime(2025, 3, 1, 10, 45, tzinfo=UTC)
    assert deletion_time(meter(), now + timedelta(minutes=5), now) == now


def test_a_backup_deleted_before_its_first_period_ends_is_charged_for_its_lifetime() -> None:
    ended = replace(meter(), deleted_at=T0 + timedelta(minutes=6))
    charges = due_charges(ended, TARIFF, T0 + timedelta(minutes=7))
    assert len(charges) == 1
    assert charges[0].quantity_gb_hours == Decimal("4.000000")


def test_the_periods_of_one_pass_are_bounded() -> None:
    charges = due_charges(meter(), TARIFF, T0 + timedelta(days=30), limit=5)
    assert len(charges) == 5


def test_periods_can_be_seconds_long() -> None:
    tariff = Tariff(Decimal("0.36"), timedelta(seconds=2), "CNY")
    start = datetime(2025, 1, 1, 0, 0, 1, tzinfo=UTC)  # an odd second: the first period lasts one second
    charges = due_charges(meter(start, size_gb=10), tariff, start + timedelta(seconds=5))
    assert [c.period_end - c.period_start for c in charges] == [timedelta(seconds=s) for s in (1, 2, 2)]
    assert charges[0].amount == Decimal("0.001000")  # 10 GB x 1/3600 h x 0.36


def test_slot_end_is_on_the_grid() -> None:
    assert slot_end(datetime(2025, 3, 1, 10, 0, tzinfo=UTC), HOUR) == datetime(2025, 3, 1, 11, tzinfo=UTC)
    assert slot_end(datetime(2025, 3, 1, 10, 59, 59, tzinfo=UTC), HOUR) == datetime(2025, 3, 1, 11, tzinfo=UTC)


def test_a_negative_price_is_refused() -> None:
    with pytest.raises(ValueError):
        Tariff(Decimal("-0.1"), HOUR, "CNY")


@given(
    start_s=st.integers(min_value=0, max_value=10 * 3600),
    life_s=st.integers(min_value=0, max_value=30 * 3600),
    ticks=st.lists(st.integers(min_value=0, max_value=40 * 3600), max_size=12),
)
def test_rating_at_any_moments_covers_the_lifetime_exactly_once(start_s: int, life_s: int, ticks: list[int]) -> None:
    """However the passes fall, the charged periods tile creation to deletion: no gap, no overlap."""
    origin = datetime(2025, 1, 1, tzinfo=UTC)
    started = origin + timedelta(seconds=start_s)
    deleted = started + timedelta(seconds=life_s)
    m = replace(meter(started), deleted_at=deleted)
    clock = ManualClock(origin)
    charged = []
    for tick in [*sorted(ticks), 50 * 3600]:
        clock.set(origin + timedelta(seconds=tick))
        charges = due_charges(m, TARIFF, clock.now())
        charged += charges
        m = rated(m, charges)
    starts = [c.period_start for c in charged]
    assert len(starts) == len(set(starts))
    assert all(a.period_end == b.period_start for a, b in itertools.pairwise(charged))
    if charged:
        assert charged[0].period_start == started and charged[-1].period_end == deleted
    total = sum((c.quantity_gb_hours for c in charged), Decimal(0))
    assert abs(total - Decimal(40 * life_s) / 3600) <= Decimal("0.000001") * len(charged)
