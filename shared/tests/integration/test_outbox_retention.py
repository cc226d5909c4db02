"""Pruning the outbox over real PostgreSQL: which rows go, which stay, and what a pass reads."""

import asyncio
from pathlib import Path

import asyncpg
import pytest

from ims_shared.outbox_retention import prune_published
from tests.support import fresh_database, rows_scanned

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).parent / "migrations"
HOUR_S = 3600.0


async def _add(conn: asyncpg.Connection, prefix: str, count: int, *, age_s: float, published: bool) -> None:
    await conn.execute(
        "INSERT INTO outbox (event_id, event_type, topic, key, payload, created_at, published_at) "
        "SELECT $1 || g, 'BackupDeleted', 'ims.r.backups', 'k' || g, '{}', now() - make_interval(secs => $3), "
        "CASE WHEN $4 THEN now() - make_interval(secs => $3) END FROM generate_series(1, $2) g",
        prefix,
        count,
        age_s,
        published,
    )


async def _left(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("SELECT split_part(event_id, '-', 1) AS kind, count(*) FROM outbox GROUP BY 1")
    return {row["kind"]: row["count"] for row in rows}


async def test_prunes_old_published_rows_in_windows_and_keeps_the_rest() -> None:
    async with fresh_database(MIGRATIONS) as (_, pool), pool.acquire() as conn:
        await _add(conn, "old-", 25, age_s=2 * HOUR_S, published=True)
        await _add(conn, "owed-", 3, age_s=2 * HOUR_S, published=False)  # never published: the relay owes it
        await _add(conn, "later-", 12, age_s=90 * 60, published=True)  # after the unpublished ones, old too
        await _add(conn, "young-", 30, age_s=60, published=True)
        await _add(conn, "new-", 4, age_s=0, published=False)

        assert await prune_published(conn, HOUR_S, window=10) == 37
        assert await _left(conn) == {"owed": 3, "young": 30, "new": 4}
        assert await prune_published(conn, HOUR_S, window=10) == 0


async def test_a_pass_reads_the_old_rows_not_the_whole_outbox() -> None:
    async with fresh_database(MIGRATIONS) as (_, pool), pool.acquire() as conn:
        await _add(conn, "old-", 10, age_s=2 * HOUR_S, published=True)
        await _add(conn, "young-", 3000, age_s=60, published=True)
        await conn.execute("ANALYZE outbox")
        async with conn.transaction():
            assert await prune_published(conn, HOUR_S, window=100) == 10
            assert await rows_scanned(conn, "outbox") == 0


async def test_a_row_made_unpublished_while_a_pass_runs_stays() -> None:
    async with fresh_database(MIGRATIONS) as (_, pool):
        async with pool.acquire() as conn:
            await _add(conn, "old-", 3, age_s=2 * HOUR_S, published=True)
        async with pool.acquire() as operator, operator.transaction():
            # An operator republishes one old row; the pruning pass starts before that commits.
            await operator.execute("UPDATE outbox SET published_at = NULL WHERE event_id = 'old-2'")
            pruning = asyncio.create_task(prune_published(pool, HOUR_S))
            await _until_waiting_for_a_lock(pool)
        assert await pruning == 2
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT event_id FROM outbox WHERE published_at IS NULL") == "old-2"


async def _until_waiting_for_a_lock(pool: asyncpg.Pool) -> None:
    async with asyncio.timeout(10):
        while True:
            waiting = await pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiting:
                return
            await asyncio.sleep(0.02)
