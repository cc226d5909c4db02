"""Accounts are opened from the tenants catalog at start-up, idempotently."""

from decimal import Decimal

import pytest

from billing_service.app import bootstrap, open_accounts
from billing_service.settings import BillingSettings
from tests.support.billing import ALPHA, BETA, Books

pytestmark = pytest.mark.integration


async def test_opening_accounts_again_keeps_their_balances(books: Books) -> None:
    await books.pool.execute("UPDATE accounts SET balance = 3.25 WHERE account_id = $1", ALPHA)
    service = bootstrap(BillingSettings(initial_balance=Decimal("50")), clock=books.clock)
    service.database.attach(books.pool)
    assert await open_accounts(service) == []
    assert await open_accounts(service) == []
    assert await books.balance(ALPHA) == Decimal("3.25")

    await books.pool.execute("DELETE FROM accounts WHERE account_id = $1", BETA)
    assert await open_accounts(service) == [BETA]
    assert await books.balance(BETA) == Decimal("50")
