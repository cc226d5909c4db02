"""The periodic work of billing: the rating cycle and the arrears sweep.

Each account is handled in its own transaction that locks the account row first. Two processes running the
same cycle at once serialise on that lock; due meters another transaction holds are skipped, and the unique
(backup_id, period_start) of bill lines turns away any period charged twice.
"""

import asyncpg

from billing_service import repository
from billing_service.context import BillingService
from billing_service.domain import ZERO, backups_deleted_for_arrears
from billing_service.ledger import change_balance, charge, send_arrears_notices, settle
from ims_shared.emitter import Emitter
from ims_shared.logging import get_logger

log = get_logger(__name__)


async def rating_pass(pool: asyncpg.Pool, emitter: Emitter, billing: BillingService) -> int:
    """Charge every period that has ended; returns how many meters were charged. A balance below zero starts the
    arrears cascade: docs/architecture.md, "Arrears: grace, frozen, released"."""
    now = billing.clock.now()
    charged = 0
    for account_id in await repository.accounts_with_due_meters(pool, now):
        while True:
            async with pool.acquire() as conn, conn.transaction():
                if await repository.lock_account(conn, account_id) is None:
                    break
                meters = await repository.lock_due_meters(conn, account_id, now, billing.meters_per_batch)
                total = ZERO
                for meter in meters:
                    total += (await charge(conn, billing, meter, now))[1]
                if total:
                    await change_balance(conn, emitter, billing, account_id, -total, now)
            charged += len(meters)
            if len(meters) < billing.meters_per_batch:
                break
    if charged:
        log.info("rating pass", meters=charged)
    return charged


async def arrears_pass(pool: asyncpg.Pool, emitter: Emitter, billing: BillingService) -> int:
    """Move accounts in arrears along grace, frozen and released, and ask for the deletion of a released account's
    backups (``domain.backups_deleted_for_arrears``); returns how many BackupArrears were sent. Arrears cascade:
    docs/architecture.md, "Arrears: grace, frozen, released"."""
    now = billing.clock.now()
    sent = 0
    for account_id in await repository.accounts_needing_attention(pool):
        async with pool.acquire() as conn, conn.transaction():
            account = await repository.lock_account(conn, account_id)
            if account is None:
                continue
            account = await settle(conn, emitter, billing, account, now)
            if backups_deleted_for_arrears(account):
                backups = await send_arrears_notices(conn, emitter, account)
                if backups:
                    log.warning("account released for arrears", account_id=account_id, backups=backups)
                sent += len(backups)
    return sent
