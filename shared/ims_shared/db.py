"""PostgreSQL plumbing: database creation, migrations (yoyo) and the asyncpg pool."""

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson
import psycopg
from yoyo import get_backend, read_migrations


def json_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (times in ISO 8601, decimals as strings), for a set-based statement that reads a
    whole batch from one ``jsonb`` parameter (``jsonb_populate_recordset``) instead of a round trip per row."""
    return [
        {
            k: v.isoformat() if isinstance(v, datetime) else str(v) if isinstance(v, Decimal) else v
            for k, v in row.items()
        }
        for row in rows
    ]


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/") or "postgres"


async def ensure_database(dsn: str) -> None:
    """Create the service's database if it does not exist yet."""
    name = database_name(dsn)
    conn = await asyncpg.connect(_with_database(dsn, "postgres"), timeout=10)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                pass  # another process created it first (a close race shows as a unique violation on pg_database)
    finally:
        await conn.close()


def _yoyo_url(dsn: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(("postgresql+psycopg", parts.netloc, parts.path, parts.query, parts.fragment))


MIGRATION_LOCK_KEY = 0x1A5_0B0D


def _apply(dsn: str, directories: tuple[Path, ...]) -> int:
    backend = get_backend(_yoyo_url(dsn))
    migrations = read_migrations(*(str(d) for d in directories))
    # yoyo's own lock is a row that a process killed while holding it never deletes: every later start would
    # wait for it and fail. A session advisory lock, which PostgreSQL releases when its holder's connection
    # dies, serialises the migrating processes instead; whoever holds it may clear a row a dead process left.
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as guard:
        guard.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        backend.break_lock()
        with backend.lock():
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
    return len(pending)


async def apply_migrations(dsn: str, *directories: Path) -> int:
    """Apply the SQL migrations in ``directories``; several processes may race, an advisory lock serialises them
    (and dies with a process killed while migrating)."""
    await ensure_database(dsn)
    return await asyncio.to_thread(_apply, dsn, directories)


def json_text(value: Any) -> str:
    """``value`` as JSON text, as the connections send a jsonb parameter."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    # orjson: the batches' jsonb parameters (``json_rows``) were a tenth of a consumer's time with the standard
    # library's encoder.
    await conn.set_type_codec("jsonb", encoder=json_text, decoder=orjson.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json_text, decoder=orjson.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Released connections keep their session: the services set no session state (their locks are transaction-
    scoped, LISTEN has its own connection), and asyncpg's default reset costs a round trip per transaction. An
    open transaction is still rolled back by the pool before this runs."""


async def create_pool(dsn: str, size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=size,
        init=_init_connection,
        reset=_keep_session,
        timeout=10,
        command_timeout=30,
    )
    assert pool is not None
    return pool


class Database:
    """A service's own PostgreSQL database, as its context holds it: built with the context, migrated and opened when
    the service starts (``open``), closed when it stops. Routes and loops take a transaction with ``transaction()``;
    the consumer uses ``pool``."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self.pool_size = pool_size
        self.migrations_applied = False
        self._pool: asyncpg.Pool | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"database {database_name(self.url)} is not open: the service has not started")
        return self._pool

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    async def open(self, *migrations: Path) -> int:
        """Apply the migrations in ``migrations`` (in order of the directories), then open the pool. Returns how many
        migrations were new."""
        applied = await apply_migrations(self.url, *migrations)
        self.migrations_applied = True
        self._pool = await create_pool(self.url, self.pool_size)
        return applied

    def attach(self, pool: asyncpg.Pool) -> None:
        """Use a pool opened elsewhere (a test's database) instead of ``open``."""
        self._pool = pool
        self.migrations_applied = True

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection in a transaction, committed when the block ends without an error."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
