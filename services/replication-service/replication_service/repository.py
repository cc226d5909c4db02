"""SQL of replication-service."""

from datetime import datetime

import asyncpg

from ims_shared.events.replication import ReplicationRequested
from ims_shared.refusal import Refusal
from replication_service.domain import ReplicationPlan


async def insert(
    conn: asyncpg.Connection,
    request: ReplicationRequested,
    *,
    project_id: str,
    source_region: str,
    correlation_id: str | None,
    outcome: ReplicationPlan | Refusal,
    at: datetime,
) -> None:
    """Record a replication, ``copying`` by its plan or ``failed`` by its refusal (at ``at``); a job already recorded
    (a request sent again) is left as it is."""
    plan = outcome if isinstance(outcome, ReplicationPlan) else None
    refusal = outcome if isinstance(outcome, Refusal) else None
    await conn.execute(
        "INSERT INTO replications (job_id, project_id, source_region, source_image_id, source_backup_id, "
        "destination_region, replica_image_id, vault_id, size_gb, correlation_id, status, destination_project_id, "
        "replica_backup_id, deadline, error_code, fail_reason, finished_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) "
        "ON CONFLICT (job_id) DO NOTHING",
        request.job_id,
        project_id,
        source_region,
        request.source_image_id,
        request.source_backup_id,
        request.destination_region,
        request.replica_image_id,
        request.vault_id,
        request.image.size_gb,
        correlation_id,
        "copying" if plan else "failed",
        plan.destination_project_id if plan else None,
        plan.replica_backup_id if plan else None,
        plan.deadline if plan else None,
        refusal.code if refusal else None,
        refusal.message if refusal else None,
        at if refusal else None,
    )


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


async def overdue(conn: asyncpg.Connection, now: datetime) -> list[asyncpg.Record]:
    """The replications under way past their deadline, a hundred at a time; those another transaction holds are
    skipped."""
    return await conn.fetch(
        "SELECT * FROM replications WHERE status = 'copying' AND deadline < $1 ORDER BY deadline LIMIT 100 "
        "FOR UPDATE SKIP LOCKED",
        now,
    )


async def get(conn: asyncpg.Connection | asyncpg.Pool, job_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM replications WHERE job_id = $1", job_id)
