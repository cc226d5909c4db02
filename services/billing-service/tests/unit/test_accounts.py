"""The account's arrears state machine, driven by a manual clock."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from billing_service.clock import ManualClock
from billing_service.domain import Account, ArrearsPolicy, grace_ends_at, release_at, transitions
from ims_shared.events.billing import AccountState

POLICY = ArrearsPolicy(grace=timedelta(days=15), retention=timedelta(days=15))
T0 = datetime(2025, 3, 1, tzinfo=UTC)


def account(balance: str, state: AccountState = "normal", since: datetime = T0) -> Account:
    return Account("alpha", Decimal(balance), state, since)


def states(passed: list[Account]) -> list[str]:
    return [a.state for a in passed]


def test_a_positive_or_zero_balance_keeps_a_normal_account_normal() -> None:
    assert transitions(account("0"), T0, POLICY) == []
    assert transitions(account("12.5"), T0 + timedelta(days=400), POLICY) == []


def test_a_balance_below_zero_starts_the_grace_period_now() -> None:
    clock = ManualClock(T0 + timedelta(hours=5))
    [grace] = transitions(account("-0.000001"), clock.now(), POLICY)
    assert grace.state == "grace"
    assert grace.state_since == clock.now()
    assert grace_ends_at(grace, POLICY) == clock.now() + POLICY.grace
    assert release_at(grace, POLICY) == clock.now() + POLICY.grace + POLICY.retention


def test_grace_then_frozen_then_released_as_time_passes() -> None:
    clock = ManualClock(T0)
    current = account("-5", "grace", T0)

    clock.advance(POLICY.grace - timedelta(seconds=1))
    assert transitions(current, clock.now(), POLICY) == []

    clock.advance(timedelta(seconds=1))
    [frozen] = transitions(current, clock.now(), POLICY)
    assert (frozen.state, frozen.state_since) == ("frozen", T0 + POLICY.grace)
    assert grace_ends_at(frozen, POLICY) is None
    assert release_at(frozen, POLICY) == T0 + POLICY.grace + POLICY.retention

    clock.advance(POLICY.retention - timedelta(seconds=1))
    assert transitions(frozen, clock.now(), POLICY) == []
    clock.advance(timedelta(seconds=1))
    [released] = transitions(frozen, clock.now(), POLICY)
    assert (released.state, released.state_since) == ("released", T0 + POLICY.grace + POLICY.retention)
    assert transitions(released, clock.now() + timedelta(days=90), POLICY) == []


def test_a_late_sweep_passes_every_state_on_its_scheduled_time() -> None:
    late = T0 + timedelta(days=100)
    passed = transitions(account("-1", "grace", T0), late, POLICY)
    assert states(passed) == ["frozen", "released"]
    assert [a.state_since for a in passed] == [T0 + POLICY.grace, T0 + POLICY.grace + POLICY.retention]


def test_a_top_up_back_to_zero_in_grace_or_frozen_restores_normal() -> None:
    clock = ManualClock(T0 + timedelta(days=3))
    for state in ("grace", "frozen"):
        topped_up = replace(account("-10", state, T0), balance=Decimal("0.00"))
        [normal] = transitions(topped_up, clock.now(), POLICY)
        assert (normal.state, normal.state_since) == ("normal", clock.now())
        assert release_at(normal, POLICY) is None


def test_a_top_up_that_leaves_the_balance_negative_changes_nothing() -> None:
    still_short = account("-0.01", "grace", T0)
    assert transitions(still_short, T0 + timedelta(days=1), POLICY) == []


def test_a_topped_up_released_account_is_usable_again() -> None:
    [normal] = transitions(account("3", "released", T0), T0 + timedelta(days=40), POLICY)
    assert normal.state == "normal"


def test_zero_length_grace_and_retention_release_at_once() -> None:
    instant = ArrearsPolicy(timedelta(0), timedelta(0))
    assert states(transitions(account("-1"), T0, instant)) == ["grace", "frozen", "released"]
