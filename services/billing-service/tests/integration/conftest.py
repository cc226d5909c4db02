from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest_asyncio

from tests.support.billing import Books, open_books

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)


@pytest_asyncio.fixture
async def books() -> AsyncIterator[Books]:
    """Fresh books: accounts alpha and beta at 100.00 CNY, 0.36 CNY per GB-hour, hourly periods, clock at T0."""
    async with open_books(T0) as opened:
        yield opened
