"""Operations on the books inside the caller's transaction: charging a meter, moving a balance, settling an
account's state and sending the arrears notices of a released account.

Every amount that reaches a balance is the total of bill lines the database accepted in the same transaction,
so a period that is already on the bill is never debited again.
"""

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import asyncpg

from billing_service import repository
from billing_service.context import BillingService
from billing_service.domain import (
    ZERO,
    Account,
    Charge,
    Meter,
    deletion_time,
    due_charges,
    next_due_at,
    rated,
    transitions,
)
from billing_service.errors import IDEMPOTENCY_CONFLICT
from billing_service.money import show
from ims_shared.emitter import Emitter
from ims_shared.event_auth import Forbidden
from ims_shared.events import AccountStateChanged, BackupArrears, derived_id
from ims_shared.refusal import Refusal

ARREARS_SOURCE = "billing-service"


async def charge(
    conn: asyncpg.Connection, billing: BillingService, meter: Meter, now: datetime
) -> tuple[Meter, Decimal]:
    """Charge the meter's periods that ended by ``now``; the meter must be locked. Returns the meter as saved
    and the amount newly put on the bill."""
    charges = due_charges(meter, billing.tariff, now, billing.periods_per_meter)
    amount = await repository.add_charges(conn, meter, charges)
    after = rated(meter, charges)
    await repository.save_meter(conn, after, next_due_at(after, billing.tariff.period))
    return after, amount


async def end_meters(
    conn: asyncpg.Connection, emitter: Emitter, billing: BillingService, deleted: list[tuple[str, datetime, str]]
) -> None:
    """Stop metering deleted backups (backup id, reported deletion time, the project the deletion names), in their
    order, and charge each up to its deletion time: what ending them one by one does, with one round trip per kind of
    statement. A backup not metered, or whose deletion was already recorded, is skipped; a deletion naming another
    project than the backup's is refused (``Forbidden``). Each account is debited once with the run's total, and
    every state its balance passes through on the way is announced as one debit at a time would announce it."""
    known = await repository.get_meters(conn, [backup_id for backup_id, _, _ in deleted])
    for backup_id, _, project_id in deleted:
        if backup_id in known and known[backup_id].project_id != project_id:
            raise Forbidden(f"backup {backup_id} is not a backup of project {project_id!r}")
    open_ids = [backup_id for backup_id, _, _ in deleted if backup_id in known and not known[backup_id].deleted]
    if not open_ids:
        return
    accounts = await repository.lock_accounts(conn, sorted({known[b].account_id for b in open_ids}))
    meters = await repository.lock_meters(conn, open_ids)
    now = billing.clock.now()
    charged: list[tuple[Meter, list[Charge]]] = []
    for backup_id, reported, _ in deleted:
        meter = meters.pop(backup_id, None)  # popped: the backup's second deletion finds its meter ended
        if meter is None or meter.deleted:
            continue
        ending = replace(meter, deleted_at=deletion_time(meter, reported, now))
        charged.append((ending, due_charges(ending, billing.tariff, now, billing.periods_per_meter)))
    if not charged:
        return
    added = await repository.add_charges_of(conn, charged)
    saved = [rated(meter, charges) for meter, charges in charged]
    await repository.save_meters(conn, [(meter, next_due_at(meter, billing.tariff.period)) for meter in saved])
    debits: dict[str, list[Decimal]] = {}
    for meter, _ in charged:
        if added.get(meter.backup_id):
            debits.setdefault(meter.account_id, []).append(added[meter.backup_id])
    for account_id, amounts in debits.items():
        account = accounts[account_id]
        for amount in amounts:
            account = await _announce_states(
                conn, emitter, billing, replace(account, balance=account.balance - amount), now, write=False
            )
        await repository.debit(conn, account_id, sum(amounts, ZERO), account.state, account.state_since)


async def change_balance(
    conn: asyncpg.Connection, emitter: Emitter, billing: BillingService, account_id: str, delta: Decimal, now: datetime
) -> Account:
    account = await repository.add_to_balance(conn, account_id, delta)
    return await settle(conn, emitter, billing, account, now)


async def settle(
    conn: asyncpg.Connection, emitter: Emitter, billing: BillingService, account: Account, now: datetime
) -> Account:
    """Move the (locked) account through the states due by ``now``, announcing each one."""
    return await _announce_states(conn, emitter, billing, account, now, write=True)


async def _announce_states(
    conn: asyncpg.Connection, emitter: Emitter, billing: BillingService, account: Account, now: datetime, *, write: bool
) -> Account:
    """Announce each state the account passes through by ``now``; ``write`` saves each one as it goes (else the
    caller saves the last)."""
    for following in transitions(account, now, billing.policy):
        if write:
            await repository.set_state(conn, following)
        announcement = AccountStateChanged(
            account_id=following.account_id,
            state=following.state,
            balance=show(following.balance),
            previous_state=account.state,
            state_since=following.state_since,
        )
        identity = f"{following.account_id}:{following.state}:{following.state_since.isoformat()}"
        await emitter.emit(conn, announcement, project_id="", event_id=derived_id(identity, "account-state"))
        account = following
    return account


async def send_arrears_notices(conn: asyncpg.Connection, emitter: Emitter, account: Account) -> list[str]:
    """Ask for the deletion of every backup still metered to the released account, once per backup (its
    BackupArrears goes to the backup's region and project).
    Arrears cascade: docs/architecture.md, "Arrears: grace, frozen, released"."""
    meters = await repository.open_meters_without_notice(conn, account.account_id)
    if not meters:
        return []
    noticed = [(meter.backup_id, account.account_id, ARREARS_SOURCE) for meter in meters]
    recorded = await repository.record_arrears_notices(conn, noticed)
    sent = []
    for meter in meters:
        if meter.backup_id not in recorded:
            continue
        await emitter.emit(
            conn,
            BackupArrears(backup_id=meter.backup_id, account_id=account.account_id, reason="arrears"),
            project_id=meter.project_id,
            region=meter.region,
            event_id=derived_id(meter.backup_id, "backup-arrears"),
        )
        sent.append(meter.backup_id)
    return sent


async def top_up(
    conn: asyncpg.Connection,
    emitter: Emitter,
    billing: BillingService,
    *,
    account_id: str,
    project_id: str,
    amount: Decimal,
    idempotency_key: str | None,
) -> tuple[repository.TopUp, bool]:
    """Credit the account. Returns the top-up and whether it is a replay of an earlier one (same key), which
    credits nothing."""
    await repository.lock_account(conn, account_id)
    now = billing.clock.now()
    recorded = await repository.record_top_up(conn, account_id, project_id, amount, idempotency_key, now)
    if recorded is None:
        assert idempotency_key is not None
        earlier = await repository.top_up_by_key(conn, account_id, idempotency_key)
        assert earlier is not None
        if earlier.amount != amount:
            raise Refusal(
                IDEMPOTENCY_CONFLICT,
                f"idempotency key {idempotency_key!r} was used for a top-up of {show(earlier.amount)}, "
                f"not {show(amount)}",
                status=409,
            )
        return earlier, True
    await change_balance(conn, emitter, billing, account_id, amount, now)
    return recorded, False
