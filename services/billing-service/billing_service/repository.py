"""SQL of billing-service.

Lock order, everywhere: an account row first (``FOR NO KEY UPDATE``), then its meters. Balances change by
SQL arithmetic under that lock, never by writing back a value read earlier.

A batch of rows is written from one array per column (``unnest``) in every set-based statement, the form its
updates take anyway (``UPDATE ... FROM unnest``), so that every table is written one way and every statement reads
alike.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeAlias

import asyncpg

from billing_service.domain import IMAGE_PRICE, ZERO, Account, Charge, ImageLine, Meter

Db: TypeAlias = asyncpg.Connection | asyncpg.Pool


# -- accounts ---------------------------------------------------------------------------------------------------
def _account(row: asyncpg.Record) -> Account:
    return Account(
        account_id=row["account_id"], balance=row["balance"], state=row["state"], state_since=row["state_since"]
    )


async def open_accounts(db: Db, account_ids: list[str], balance: Decimal, currency: str, now: datetime) -> list[str]:
    """Create the accounts that do not exist yet, with ``balance``; existing accounts are left as they are."""
    rows = await db.fetch(
        "INSERT INTO accounts (account_id, balance, currency, state, state_since) "
        "SELECT id, $2, $3, 'normal', $4 FROM unnest($1::text[]) AS id "
        "ON CONFLICT (account_id) DO NOTHING RETURNING account_id",
        account_ids,
        balance,
        currency,
        now,
    )
    return [r["account_id"] for r in rows]


async def get_account(db: Db, account_id: str) -> tuple[Account, str] | None:
    """The account and its currency."""
    row = await db.fetchrow("SELECT * FROM accounts WHERE account_id = $1", account_id)
    return (_account(row), row["currency"]) if row else None


async def lock_account(conn: asyncpg.Connection, account_id: str) -> Account | None:
    row = await conn.fetchrow(
        "SELECT account_id, balance, state, state_since FROM accounts WHERE account_id = $1 FOR NO KEY UPDATE",
        account_id,
    )
    return _account(row) if row else None


async def lock_accounts(conn: asyncpg.Connection, account_ids: list[str]) -> dict[str, Account]:
    """``lock_account`` of several accounts in one round trip, locked in id order."""
    rows = await conn.fetch(
        "SELECT account_id, balance, state, state_since FROM accounts WHERE account_id = ANY ($1::text[]) "
        "ORDER BY account_id FOR NO KEY UPDATE",
        account_ids,
    )
    return {r["account_id"]: _account(r) for r in rows}


async def debit(conn: asyncpg.Connection, account_id: str, amount: Decimal, state: str, state_since: datetime) -> None:
    """Take ``amount`` off the (locked) account's balance and set the state that debit leads to."""
    await conn.execute(
        "UPDATE accounts SET balance = balance - $2, state = $3, state_since = $4, updated_at = now() "
        "WHERE account_id = $1",
        account_id,
        amount,
        state,
        state_since,
    )


async def add_to_balance(conn: asyncpg.Connection, account_id: str, delta: Decimal) -> Account:
    row = await conn.fetchrow(
        "UPDATE accounts SET balance = balance + $2, updated_at = now() WHERE account_id = $1 "
        "RETURNING account_id, balance, state, state_since",
        account_id,
        delta,
    )
    assert row is not None, f"account {account_id} vanished"
    return _account(row)


async def set_state(conn: asyncpg.Connection, account: Account) -> None:
    await conn.execute(
        "UPDATE accounts SET state = $2, state_since = $3, updated_at = now() WHERE account_id = $1",
        account.account_id,
        account.state,
        account.state_since,
    )


async def accounts_needing_attention(db: Db) -> list[str]:
    """Accounts whose state may have to move: in arrears, or not normal."""
    rows = await db.fetch("SELECT account_id FROM accounts WHERE state <> 'normal' OR balance < 0 ORDER BY account_id")
    return [r["account_id"] for r in rows]


# -- top-ups ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TopUp:
    id: int
    amount: Decimal
    created_at: datetime


async def record_top_up(
    conn: asyncpg.Connection,
    account_id: str,
    project_id: str,
    amount: Decimal,
    idempotency_key: str | None,
    now: datetime,
) -> TopUp | None:
    """The new top-up, or None when one with this idempotency key was already recorded."""
    row = await conn.fetchrow(
        "INSERT INTO top_ups (account_id, project_id, amount, idempotency_key, created_at) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, idempotency_key) DO NOTHING "
        "RETURNING id, amount, created_at",
        account_id,
        project_id,
        amount,
        idempotency_key,
        now,
    )
    return TopUp(row["id"], row["amount"], row["created_at"]) if row else None


async def top_up_by_key(conn: asyncpg.Connection, account_id: str, idempotency_key: str) -> TopUp | None:
    row = await conn.fetchrow(
        "SELECT id, amount, created_at FROM top_ups WHERE account_id = $1 AND idempotency_key = $2",
        account_id,
        idempotency_key,
    )
    return TopUp(row["id"], row["amount"], row["created_at"]) if row else None


# -- meters -----------------------------------------------------------------------------------------------------
def _meter(row: asyncpg.Record) -> Meter:
    return Meter(
        backup_id=row["backup_id"],
        account_id=row["account_id"],
        project_id=row["project_id"],
        region=row["region"],
        size_gb=row["size_gb"],
        started_at=row["started_at"],
        rated_until=row["rated_until"],
        deleted_at=row["deleted_at"],
    )


async def start_meters(conn: asyncpg.Connection, meters: list[tuple[Meter, datetime | None]]) -> None:
    """Start metering backups (meter, next due time), in their order, each unless it is metered already: one round
    trip."""
    await conn.execute(
        "INSERT INTO meters (backup_id, account_id, project_id, region, size_gb, started_at, rated_until, deleted_at, "
        "next_due_at) SELECT backup_id, account_id, project_id, region, size_gb, started_at, rated_until, deleted_at, "
        "next_due_at FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::timestamptz[], "
        "$7::timestamptz[], $8::timestamptz[], $9::timestamptz[]) WITH ORDINALITY AS m(backup_id, account_id, "
        "project_id, region, size_gb, started_at, rated_until, deleted_at, next_due_at, ordinality) "
        "ORDER BY ordinality ON CONFLICT (backup_id) DO NOTHING",
        [meter.backup_id for meter, _ in meters],
        [meter.account_id for meter, _ in meters],
        [meter.project_id for meter, _ in meters],
        [meter.region for meter, _ in meters],
        [meter.size_gb for meter, _ in meters],
        [meter.started_at for meter, _ in meters],
        [meter.rated_until for meter, _ in meters],
        [meter.deleted_at for meter, _ in meters],
        [due for _, due in meters],
    )


async def get_meter(db: Db, backup_id: str) -> Meter | None:
    row = await db.fetchrow(
        "SELECT backup_id, account_id, project_id, region, size_gb, started_at, rated_until, deleted_at FROM meters "
        "WHERE backup_id = $1",
        backup_id,
    )
    return _meter(row) if row else None


async def get_meters(db: Db, backup_ids: list[str]) -> dict[str, Meter]:
    rows = await db.fetch(
        "SELECT backup_id, account_id, project_id, region, size_gb, started_at, rated_until, deleted_at FROM meters "
        "WHERE backup_id = ANY ($1::text[])",
        backup_ids,
    )
    return {r["backup_id"]: _meter(r) for r in rows}


async def lock_meters(conn: asyncpg.Connection, backup_ids: list[str]) -> dict[str, Meter]:
    rows = await conn.fetch(
        "SELECT backup_id, account_id, project_id, region, size_gb, started_at, rated_until, deleted_at FROM meters "
        "WHERE backup_id = ANY ($1::text[]) ORDER BY backup_id FOR UPDATE",
        backup_ids,
    )
    return {r["backup_id"]: _meter(r) for r in rows}


async def lock_due_meters(conn: asyncpg.Connection, account_id: str, now: datetime, limit: int) -> list[Meter]:
    """The account's meters with a period ended by ``now``; meters another transaction holds are skipped (they
    are charged by that transaction or by the next pass)."""
    rows = await conn.fetch(
        "SELECT backup_id, account_id, project_id, region, size_gb, started_at, rated_until, deleted_at FROM meters "
        "WHERE account_id = $1 AND next_due_at <= $2 ORDER BY backup_id LIMIT $3 FOR UPDATE SKIP LOCKED",
        account_id,
        now,
        limit,
    )
    return [_meter(r) for r in rows]


async def accounts_with_due_meters(db: Db, now: datetime) -> list[str]:
    rows = await db.fetch("SELECT DISTINCT account_id FROM meters WHERE next_due_at <= $1 ORDER BY account_id", now)
    return [r["account_id"] for r in rows]


async def save_meter(conn: asyncpg.Connection, meter: Meter, next_due_at: datetime | None) -> None:
    await conn.execute(
        "UPDATE meters SET rated_until = $2, deleted_at = $3, next_due_at = $4 WHERE backup_id = $1",
        meter.backup_id,
        meter.rated_until,
        meter.deleted_at,
        next_due_at,
    )


async def save_meters(conn: asyncpg.Connection, meters: list[tuple[Meter, datetime | None]]) -> None:
    """``save_meter`` of several (meter, next due time) pairs in one round trip."""
    await conn.execute(
        "UPDATE meters m SET rated_until = s.rated_until, deleted_at = s.deleted_at, next_due_at = s.next_due_at "
        "FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[]) "
        "AS s(backup_id, rated_until, deleted_at, next_due_at) WHERE m.backup_id = s.backup_id",
        [meter.backup_id for meter, _ in meters],
        [meter.rated_until for meter, _ in meters],
        [meter.deleted_at for meter, _ in meters],
        [due for _, due in meters],
    )


async def open_meters_without_notice(conn: asyncpg.Connection, account_id: str) -> list[Meter]:
    """The account's backups still metered (not deleted) that no BackupArrears was sent for."""
    rows = await conn.fetch(
        "SELECT backup_id, account_id, project_id, region, size_gb, started_at, rated_until, deleted_at FROM meters m "
        "WHERE account_id = $1 AND deleted_at IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM arrears_notices n WHERE n.backup_id = m.backup_id) ORDER BY backup_id",
        account_id,
    )
    return [_meter(r) for r in rows]


# -- bill lines -------------------------------------------------------------------------------------------------
async def add_charges(conn: asyncpg.Connection, meter: Meter, charges: list[Charge]) -> Decimal:
    """Put the storage charges on the bill; a period already on it is left alone. The total of the lines that
    were actually added, which is what the balance must be debited."""
    return (await add_charges_of(conn, [(meter, charges)])).get(meter.backup_id, ZERO)


async def add_charges_of(conn: asyncpg.Connection, charged: list[tuple[Meter, list[Charge]]]) -> dict[str, Decimal]:
    """``add_charges`` of several meters in one round trip: by backup, the total of the lines actually added."""
    lines = [(meter, c) for meter, charges in charged for c in charges]
    if not lines:
        return {}
    rows = await conn.fetch(
        "INSERT INTO bill_lines (account_id, kind, backup_id, region, project_id, period_start, period_end, "
        "quantity_gb_hours, unit_price, amount) "
        "SELECT c.account_id, 'backup_storage', c.backup_id, c.region, c.project_id, c.period_start, c.period_end, "
        "c.quantity, c.unit_price, c.amount FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], "
        "$5::timestamptz[], $6::timestamptz[], $7::numeric[], $8::numeric[], $9::numeric[]) WITH ORDINALITY "
        "AS c(account_id, backup_id, region, project_id, period_start, period_end, quantity, unit_price, amount, n) "
        "ORDER BY c.n ON CONFLICT (backup_id, period_start) WHERE kind = 'backup_storage' DO NOTHING "
        "RETURNING backup_id, amount",
        [meter.account_id for meter, _ in lines],
        [meter.backup_id for meter, _ in lines],
        [meter.region for meter, _ in lines],
        [meter.project_id for meter, _ in lines],
        [c.period_start for _, c in lines],
        [c.period_end for _, c in lines],
        [c.quantity_gb_hours for _, c in lines],
        [c.unit_price for _, c in lines],
        [c.amount for _, c in lines],
    )
    added: dict[str, Decimal] = {}
    for r in rows:
        added[r["backup_id"]] = added.get(r["backup_id"], ZERO) + r["amount"]
    return added


async def add_image_lines(conn: asyncpg.Connection, lines: list[ImageLine]) -> None:
    """The bill lines of full-ECS images, priced at ``IMAGE_PRICE``, in their order, one per image: one round trip."""
    await conn.execute(
        "INSERT INTO bill_lines (account_id, kind, backup_id, image_id, region, project_id, period_start, "
        "period_end, quantity_gb_hours, unit_price, amount) "
        "SELECT account_id, 'full_ecs_image', backup_id, image_id, region, project_id, at, at, 0, $7, $7 "
        "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[]) WITH ORDINALITY "
        "AS l(account_id, image_id, backup_id, region, project_id, at, ordinality) ORDER BY ordinality "
        "ON CONFLICT (image_id) WHERE kind = 'full_ecs_image' DO NOTHING",
        [line.account_id for line in lines],
        [line.image_id for line in lines],
        [line.backup_id for line in lines],
        [line.region for line in lines],
        [line.project_id for line in lines],
        [line.at for line in lines],
        IMAGE_PRICE,
    )


async def list_lines(db: Db, account_id: str, *, limit: int, marker: int | None) -> list[dict[str, Any]]:
    """The account's bill lines, newest first, after the line ``marker`` (exclusive)."""
    rows = await db.fetch(
        "SELECT * FROM bill_lines WHERE account_id = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        account_id,
        marker,
        limit,
    )
    return [dict(r) for r in rows]


# -- arrears notices --------------------------------------------------------------------------------------------
async def record_arrears_notices(conn: asyncpg.Connection, notices: list[tuple[str, str, str]]) -> set[str]:
    """Record (backup, account, source) arrears notices, in their order, in one round trip: the backups recorded
    now (a BackupArrears is recorded once per backup, ever)."""
    rows = await conn.fetch(
        "INSERT INTO arrears_notices (backup_id, account_id, source) "
        "SELECT backup_id, account_id, source FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY "
        "AS n(backup_id, account_id, source, ordinality) ORDER BY ordinality ON CONFLICT (backup_id) DO NOTHING "
        "RETURNING backup_id",
        [backup_id for backup_id, _, _ in notices],
        [account_id for _, account_id, _ in notices],
        [source for _, _, source in notices],
    )
    return {r["backup_id"] for r in rows}
