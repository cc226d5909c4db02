"""CBR operation logs: what was done to the project's backups (a backup made, deleted, or copied here by a
replication), each written in the transaction that does it, so a log says exactly what happened."""

from datetime import datetime
from typing import Any

import asyncpg

_FROM_BACKUPS = (
    "INSERT INTO operation_logs (op_id, project_id, operation_type, status, backup_id, backup_name, checkpoint_id, "
    "vault_id, resource_id, resource_name, resource_type, ended_at, error_code, error_message, extra) "
    "SELECT gen_random_uuid()::text, b.project_id, $2, $3, b.backup_id, b.name, coalesce(b.checkpoint_id, "
    "b.backup_id), b.vault_id, b.resource_id, b.resource_name, b.resource_type, "
    "CASE WHEN $3 = 'running' THEN NULL ELSE now() END, $4, $5, $6::jsonb FROM backups b "
    "WHERE b.backup_id = ANY ($1::text[])"
)
"""A log of operation $2 with status $3 (error $4, $5; extra $6) for each backup of $1."""


async def started(
    conn: asyncpg.Connection, backup_ids: list[str], operation: str, extra: dict[str, Any] | None = None
) -> None:
    """A task on each backup began (it runs until ``finished``)."""
    if not backup_ids:
        return
    await conn.execute(_FROM_BACKUPS, backup_ids, operation, "running", None, None, extra or {})


async def finished(
    conn: asyncpg.Connection,
    backup_ids: list[str],
    operation: str,
    *,
    error: tuple[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """The task on each backup ended (a failure with its error code and message): its running log ends, or the log
    of a task done at once is written."""
    if not backup_ids:
        return
    code, message = error or (None, None)
    await conn.execute(
        "WITH ended AS (UPDATE operation_logs SET status = $3, ended_at = now(), updated_at = now(), "
        "error_code = $4, error_message = $5 WHERE backup_id = ANY ($1::text[]) AND operation_type = $2 "
        f"AND status = 'running' RETURNING backup_id) {_FROM_BACKUPS} "
        "AND b.backup_id NOT IN (SELECT backup_id FROM ended)",
        backup_ids,
        operation,
        "failed" if error else "success",
        code,
        message,
        extra or {},
    )


async def failed_later(conn: asyncpg.Connection, backup_id: str, operation: str, error: tuple[str, str]) -> None:
    """A task that had succeeded is undone (a replication rolled back): its log says it failed, and why."""
    await conn.execute(
        "UPDATE operation_logs SET status = 'failed', error_code = $3, error_message = $4, "
        "ended_at = coalesce(ended_at, now()), updated_at = now() WHERE backup_id = $1 AND operation_type = $2",
        backup_id,
        operation,
        *error,
    )


_MATCHING = (
    "project_id = $1 AND ($2::text IS NULL OR operation_type = $2) AND ($3::text IS NULL OR status = $3) "
    "AND ($4::text IS NULL OR vault_id = $4) AND ($5::text IS NULL OR resource_id = $5) "
    "AND ($6::text IS NULL OR resource_name = $6) AND ($7::timestamptz IS NULL OR started_at >= $7) "
    "AND ($8::timestamptz IS NULL OR started_at <= $8) "
    "AND ($9::text IS NULL OR vault_id IN (SELECT vault_id FROM vaults WHERE project_id = $1 AND name = $9))"
)


async def list_logs(
    conn: asyncpg.Pool | asyncpg.Connection,
    project_id: str,
    *,
    limit: int,
    offset: int,
    operation_type: str | None = None,
    status: str | None = None,
    vault_id: str | None = None,
    resource_id: str | None = None,
    resource_name: str | None = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    vault_name: str | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the project's operation logs, newest first, and how many match."""
    args = (project_id, operation_type, status, vault_id, resource_id, resource_name, start_time, end_time, vault_name)
    total = await conn.fetchval(f"SELECT count(*) FROM operation_logs WHERE {_MATCHING}", *args)
    rows = await conn.fetch(
        "SELECT o.*, v.name AS vault_name FROM operation_logs o LEFT JOIN vaults v ON v.vault_id = o.vault_id "
        f"AND v.project_id = o.project_id WHERE o.op_id IN (SELECT op_id FROM operation_logs WHERE {_MATCHING}) "
        "ORDER BY o.started_at DESC, o.op_id LIMIT $10 OFFSET $11",
        *args,
        limit,
        offset,
    )
    return [dict(r) for r in rows], int(total)


async def get_log(conn: asyncpg.Pool | asyncpg.Connection, project_id: str, op_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT o.*, v.name AS vault_name FROM operation_logs o LEFT JOIN vaults v ON v.vault_id = o.vault_id "
        "AND v.project_id = o.project_id WHERE o.op_id = $1 AND o.project_id = $2",
        op_id,
        project_id,
    )
    return dict(row) if row else None
