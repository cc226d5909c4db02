"""Test helpers shared by every service's integration tests: a fresh, migrated PostgreSQL database."""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from ims_shared.db import apply_migrations, create_pool
from ims_shared.service import SHARED_MIGRATIONS

TEST_SERVER = os.environ.get("TEST_DATABASE_SERVER", "postgresql://postgres@127.0.0.1:5432")


@asynccontextmanager
async def fresh_database(migrations: Path, prefix: str = "ims_test") -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    """A new database with the shared and the service's migrations applied; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    dsn = f"{TEST_SERVER}/{name}"
    await apply_migrations(dsn, migrations, SHARED_MIGRATIONS)
    pool = await create_pool(dsn, 10)
    try:
        yield dsn, pool
    finally:
        await pool.close()
        admin = await asyncpg.connect(f"{TEST_SERVER}/postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
