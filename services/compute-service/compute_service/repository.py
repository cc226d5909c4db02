"""SQL of compute-service: its projection of the region's images (and of the backups deleted), and its servers,
disks and jobs."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from ims_shared.db import json_text

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool

# -- the projection of images and backups ---------------------------------------------------------------------------


async def record_images(conn: Conn, rows: Sequence[tuple[str, str, str, str, str | None, str | None, Any]]) -> None:
    """Images made (id, owner project, backup, name, OS type, OS version, disks as JSON), active, one statement; a
    deleted image stays deleted."""
    await conn.execute(
        "INSERT INTO images (image_id, project_id, backup_id, name, os_type, os_version, disks, status) "
        "SELECT i, p, b, n, t, v, d::jsonb, 'active' "
        "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) "
        "AS r(i, p, b, n, t, v, d) "
        "ON CONFLICT (image_id) DO UPDATE SET status = 'active', name = EXCLUDED.name, os_type = EXCLUDED.os_type, "
        "os_version = EXCLUDED.os_version, disks = EXCLUDED.disks, updated_at = now() "
        "WHERE images.status <> 'deleted'",
        *([r[k] for r in rows] for k in range(6)),
        [json_text(r[6]) for r in rows],
    )


async def mark_images_deleted(conn: Conn, rows: Sequence[tuple[str, str, str]]) -> None:
    """Images deleted (id, owner project, backup), one statement: no new ECS from them."""
    await conn.execute(
        "INSERT INTO images (image_id, project_id, backup_id, status) "
        "SELECT i, p, b, 'deleted' FROM unnest($1::text[], $2::text[], $3::text[]) AS r(i, p, b) "
        "ON CONFLICT (image_id) DO UPDATE SET status = 'deleted', updated_at = now()",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
    )


async def set_member(conn: Conn, image_id: str, project_id: str, status: str | None) -> None:
    """Record a member's status; ``None`` removes the member (the image is no longer shared with it)."""
    if status is None:
        await conn.execute("DELETE FROM image_members WHERE image_id = $1 AND project_id = $2", image_id, project_id)
        return
    await conn.execute(
        "INSERT INTO image_members (image_id, project_id, status) VALUES ($1, $2, $3) "
        "ON CONFLICT (image_id, project_id) DO UPDATE SET status = EXCLUDED.status",
        image_id,
        project_id,
        status,
    )


async def mark_backups_deleted(conn: Conn, rows: Sequence[tuple[str, str]]) -> None:
    """Backups deleted (id, project), one statement: their disks can no longer be restored."""
    await conn.execute(
        "INSERT INTO deleted_backups (backup_id, project_id) "
        "SELECT b, p FROM unnest($1::text[], $2::text[]) AS r(b, p) ON CONFLICT (backup_id) DO NOTHING",
        [r[0] for r in rows],
        [r[1] for r in rows],
    )


async def full_ecs_image(conn: Conn, image_id: str, project_id: str) -> asyncpg.Record | None:
    """A full-ECS image of this region with its backup and what ``project_id`` is to it: None when the image is
    unknown, or another project's that it was not shared with (or that the project rejected)."""
    return await conn.fetchrow(
        "SELECT i.*, m.status AS member_status, b.backup_id IS NOT NULL AS backup_deleted FROM images i "
        "LEFT JOIN image_members m ON m.image_id = i.image_id AND m.project_id = $2 "
        "LEFT JOIN deleted_backups b ON b.backup_id = i.backup_id "
        "WHERE i.image_id = $1 AND (i.project_id = $2 OR m.status IN ('pending', 'accepted'))",
        image_id,
        project_id,
    )


async def backup_usable(conn: Conn, backup_id: str) -> bool:
    """Whether the backup is not known to be deleted."""
    return not await conn.fetchval("SELECT EXISTS (SELECT FROM deleted_backups WHERE backup_id = $1)", backup_id)


# -- servers and their disks ----------------------------------------------------------------------------------------


TABLES = ("servers", "volumes", "jobs")


async def insert_rows(conn: asyncpg.Connection, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of ``table`` (one of ``TABLES``) that all have the same keys (column names from code)."""
    if not rows:
        return
    assert table in TABLES
    names = list(rows[0])
    columns = ", ".join(names)
    params = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    await conn.executemany(
        f"INSERT INTO {table} ({columns}) VALUES ({params})", [[row[c] for c in names] for row in rows]
    )


async def get_server(conn: Conn, project_id: str, server_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM servers WHERE server_id = $1 AND project_id = $2 AND deleted_at IS NULL", server_id, project_id
    )


async def lock_servers(conn: asyncpg.Connection, project_id: str, server_ids: list[str]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM servers WHERE server_id = ANY($1::text[]) AND project_id = $2 AND deleted_at IS NULL "
        "ORDER BY server_id FOR UPDATE",
        server_ids,
        project_id,
    )


async def _page(
    conn: Conn, table: str, clauses: list[str], args: list[Any], order: str, limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    """A page of ``table``'s rows that meet every clause (placeholders ``$1`` ... in ``args``), and how many do."""
    assert table in TABLES
    where = " AND ".join(clauses)
    total: int = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {where}", *args)
    args = [*args, limit]
    statement = f"SELECT * FROM {table} WHERE {where} ORDER BY {order} LIMIT ${len(args)}"
    args.append(offset)
    rows = await conn.fetch(f"{statement} OFFSET ${len(args)}", *args)
    return rows, total


async def list_servers(
    conn: Conn, project_id: str, filters: dict[str, Any], limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    clauses = ["project_id = $1", "deleted_at IS NULL"]
    args: list[Any] = [project_id]
    if filters.get("name"):
        args.append(filters["name"])
        clauses.append(f"strpos(name, ${len(args)}) > 0")
    for column in ("status", "server_id", "flavor_id"):
        if filters.get(column):
            args.append(filters[column])
            clauses.append(f"{column} = ${len(args)}")
    return await _page(conn, "servers", clauses, args, _ORDER["servers"], limit, offset)


_ORDER = {"servers": "created_at DESC, server_id", "volumes": "created_at DESC, position, volume_id"}


async def volumes_of(conn: Conn, server_ids: list[str]) -> dict[str, list[asyncpg.Record]]:
    rows = await conn.fetch(
        "SELECT * FROM volumes WHERE server_id = ANY($1::text[]) AND deleted_at IS NULL ORDER BY position",
        server_ids,
    )
    found: dict[str, list[asyncpg.Record]] = {s: [] for s in server_ids}
    for row in rows:
        found[row["server_id"]].append(row)
    return found


async def set_status(conn: asyncpg.Connection, server_ids: list[str], status: str) -> None:
    await conn.execute(
        "UPDATE servers SET status = $2, updated_at = now() WHERE server_id = ANY($1::text[])", server_ids, status
    )


async def set_metadata(conn: asyncpg.Connection, server_id: str, metadata: dict[str, str], configured: bool) -> None:
    await conn.execute(
        "UPDATE servers SET metadata = $2, configured = $3, updated_at = now() WHERE server_id = $1",
        server_id,
        metadata,
        configured,
    )


async def start_job_on(conn: asyncpg.Connection, server_id: str, status: str, job_id: str, ready_at: datetime) -> None:
    await conn.execute(
        "UPDATE servers SET status = $2, job_id = $3, ready_at = $4, updated_at = now() WHERE server_id = $1",
        server_id,
        status,
        job_id,
        ready_at,
    )


async def delete_servers(conn: asyncpg.Connection, server_ids: list[str], delete_volumes: bool) -> None:
    """The servers are gone; their disks with them, or kept detached (``available``)."""
    await conn.execute(
        "UPDATE servers SET deleted_at = now(), updated_at = now(), ready_at = NULL WHERE server_id = ANY($1::text[])",
        server_ids,
    )
    if delete_volumes:
        await conn.execute(
            "UPDATE volumes SET deleted_at = now(), updated_at = now() WHERE server_id = ANY($1::text[]) "
            "AND deleted_at IS NULL",
            server_ids,
        )
        return
    await conn.execute(
        "UPDATE volumes SET status = 'available', server_id = NULL, device = NULL, updated_at = now() "
        "WHERE server_id = ANY($1::text[]) AND deleted_at IS NULL",
        server_ids,
    )


async def due_servers(conn: asyncpg.Connection, now: datetime, limit: int = 200) -> list[asyncpg.Record]:
    """Servers whose BUILD or REBUILD job is due to end, locked."""
    return await conn.fetch(
        "SELECT * FROM servers WHERE ready_at <= $1 AND deleted_at IS NULL ORDER BY ready_at LIMIT $2 "
        "FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )


async def built(conn: asyncpg.Connection, server_id: str, now: datetime) -> None:
    """A BUILD ended well: the ECS runs and its disks are attached."""
    await conn.execute(
        "UPDATE servers SET status = 'ACTIVE', job_id = NULL, ready_at = NULL, launched_at = $2, updated_at = $2 "
        "WHERE server_id = $1",
        server_id,
        now,
    )
    await conn.execute(
        "UPDATE volumes SET status = 'in-use', updated_at = $2 WHERE server_id = $1 AND deleted_at IS NULL",
        server_id,
        now,
    )


async def rewrite_system_disk(conn: asyncpg.Connection, server_id: str, content: dict[str, Any], now: datetime) -> None:
    """An OS change ended well: the system disk holds the new image, the server its OS; data disks are untouched."""
    await conn.execute(
        "UPDATE volumes SET image_id = $2, image_name = $3, backup_id = $4, backup_volume_id = $5, updated_at = $6 "
        "WHERE server_id = $1 AND position = 0 AND deleted_at IS NULL",
        server_id,
        content["image_id"],
        content["image_name"],
        content["backup_id"],
        content["backup_volume_id"],
        now,
    )
    await conn.execute(
        "UPDATE servers SET status = 'ACTIVE', job_id = NULL, ready_at = NULL, image_id = $2, image_type = $3, "
        "os_type = $4, os_version = $5, configured = $6, metadata = metadata || $7::jsonb, updated_at = $8 "
        "WHERE server_id = $1",
        server_id,
        content["image_id"],
        content["image_type"],
        content["os_type"],
        content["os_version"],
        content["configured"],
        {"full_image_configured": "true" if content["configured"] else "false"},
        now,
    )


async def job_ended(conn: asyncpg.Connection, server_id: str, status: str) -> None:
    """The server's job ended without the outcome it was for: the server shows ``status``."""
    await conn.execute(
        "UPDATE servers SET status = $2, job_id = NULL, ready_at = NULL, updated_at = now() WHERE server_id = $1",
        server_id,
        status,
    )


async def get_volume(conn: Conn, project_id: str, volume_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM volumes WHERE volume_id = $1 AND project_id = $2 AND deleted_at IS NULL", volume_id, project_id
    )


async def list_volumes(
    conn: Conn, project_id: str, filters: dict[str, Any], limit: int, offset: int
) -> tuple[list[asyncpg.Record], int]:
    clauses = ["project_id = $1", "deleted_at IS NULL"]
    args: list[Any] = [project_id]
    for column in ("server_id", "status", "name", "volume_id"):
        if filters.get(column):
            args.append(filters[column])
            clauses.append(f"{column} = ${len(args)}")
    return await _page(conn, "volumes", clauses, args, _ORDER["volumes"], limit, offset)


# -- jobs -----------------------------------------------------------------------------------------------------------


async def job_by_token(conn: Conn, project_id: str, client_token: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM jobs WHERE project_id = $1 AND client_token = $2", project_id, client_token
    )


async def get_job(conn: Conn, project_id: str, job_id: str) -> tuple[asyncpg.Record | None, list[asyncpg.Record]]:
    job = await conn.fetchrow("SELECT * FROM jobs WHERE job_id = $1 AND project_id = $2", job_id, project_id)
    if job is None:
        return None, []
    children = await conn.fetch("SELECT * FROM jobs WHERE parent_id = $1 ORDER BY begin_time, job_id", job_id)
    return job, children


async def lock_job(conn: asyncpg.Connection, job_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM jobs WHERE job_id = $1 FOR UPDATE", job_id)


async def end_job(
    conn: asyncpg.Connection,
    job_id: str,
    status: str,
    now: datetime,
    *,
    error: tuple[str, str] | None = None,
    notes: dict[str, Any] | None = None,
) -> None:
    code, reason = error or (None, None)
    await conn.execute(
        "UPDATE jobs SET status = $2, end_time = $3, error_code = $4, fail_reason = $5, notes = notes || $6::jsonb "
        "WHERE job_id = $1",
        job_id,
        status,
        now,
        code,
        reason,
        notes or {},
    )


async def end_parent_when_done(conn: asyncpg.Connection, parent_id: str, now: datetime) -> None:
    """The parent job ends once every sub-job has: SUCCESS when each succeeded, else FAIL with the first failure."""
    await conn.execute(
        "UPDATE jobs p SET status = CASE WHEN s.failed IS NULL THEN 'SUCCESS' ELSE 'FAIL' END, end_time = $2, "
        "error_code = s.code, fail_reason = s.reason FROM ("
        "  SELECT min(job_id) FILTER (WHERE status = 'FAIL') AS failed, "
        "    (array_agg(error_code ORDER BY job_id) FILTER (WHERE status = 'FAIL'))[1] AS code, "
        "    (array_agg(fail_reason ORDER BY job_id) FILTER (WHERE status = 'FAIL'))[1] AS reason, "
        "    count(*) FILTER (WHERE status IN ('INIT', 'RUNNING')) AS open "
        "  FROM jobs WHERE parent_id = $1) s "
        "WHERE p.job_id = $1 AND p.status IN ('INIT', 'RUNNING') AND s.open = 0",
        parent_id,
        now,
    )
