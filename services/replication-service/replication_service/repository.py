"""SQL of replication-service."""

from datetime import datetime
from typing import Any

import asyncpg


async def insert(conn: asyncpg.Connection, values: dict[str, Any]) -> bool:
    """Record a replication; False when the job is already recorded (a request sent again)."""
    columns = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    inserted = await conn.fetchval(
        f"INSERT INTO replications ({columns}) VALUES ({params}) ON CONFLICT (job_id) DO NOTHING RETURNING 1",
        *values.values(),
    )
    return inserted is not None


async def lock(conn: asyncpg.Connection, job_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM replications WHERE job_id = $1 FOR UPDATE", job_id)


async def lock_project(conn: asyncpg.Connection, project_id: str) -> None:
    """Serialise the in-flight check of one project until the end of the transaction."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('ims-replication:' || $1, 0))", project_id)


async def in_flight(conn: asyncpg.Connection, project_id: str) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM replications WHERE project_id = $1 AND status = 'copying'", project_id
    )
    return count


async def replica_image_taken(conn: asyncpg.Connection, replica_image_id: str, job_id: str) -> bool:
    taken = await conn.fetchval(
        "SELECT 1 FROM replications WHERE replica_image_id = $1 AND job_id <> $2 AND status <> 'failed'",
        replica_image_id,
        job_id,
    )
    return taken is not None


async def succeeded(conn: asyncpg.Connection, job_id: str) -> None:
    await conn.execute(
        "UPDATE replications SET status = 'succeeded', finished_at = now(), updated_at = now() "
        "WHERE job_id = $1 AND status = 'copying'",
        job_id,
    )


async def failed(conn: asyncpg.Connection, job_id: str, code: str, reason: str) -> None:
    await conn.execute(
        "UPDATE replications SET status = 'failed', error_code = $2, fail_reason = $3, finished_at = now(), "
        "updated_at = now() WHERE job_id = $1 AND status = 'copying'",
        job_id,
        code,
        reason,
    )


async def overdue(conn: asyncpg.Connection, now: datetime, limit: int = 100) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM replications WHERE status = 'copying' AND deadline < $1 ORDER BY deadline LIMIT $2 "
        "FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )


async def get(conn: asyncpg.Connection | asyncpg.Pool, job_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM replications WHERE job_id = $1", job_id)
