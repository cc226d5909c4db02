"""SQL of backup-service.

A batch of backups is written from one array per column (``unnest``), as every set-based statement on ``backups``
is: the JSON form costs the same for this insert, and one form reads the same in all of them.
"""

from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from backup_service import oplogs
from backup_service.domain import BackupState
from ims_shared.db import json_text
from ims_shared.events import BackupCreated


async def record_backups(conn: asyncpg.Connection, backups: list[tuple[str, BackupCreated]]) -> set[str]:
    """Insert each (project, event) backup unless it is already known (a replay, or our own event), in their order,
    in one round trip: the ids inserted."""
    events = [b for _, b in backups]
    rows = await conn.fetch(
        "INSERT INTO backups (backup_id, project_id, vault_id, name, resource_id, resource_name, resource_type, "
        "status, created_at, incremental, parent_id, size_gb, shared_from_project_id, server, disks, "
        "replicated_from_region, replicated_from_backup_id) "
        "SELECT backup_id, project_id, vault_id, name, resource_id, resource_name, resource_type, status, "
        "created_at, incremental, parent_id, size_gb, shared_from_project_id, server::jsonb, disks::jsonb, "
        "replicated_from_region, replicated_from_backup_id "
        "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
        "$8::text[], $9::timestamptz[], $10::boolean[], $11::text[], $12::int[], $13::text[], $14::text[], "
        "$15::text[], $16::text[], $17::text[]) WITH ORDINALITY AS b(backup_id, project_id, vault_id, name, "
        "resource_id, resource_name, resource_type, status, created_at, incremental, parent_id, size_gb, "
        "shared_from_project_id, server, disks, replicated_from_region, replicated_from_backup_id, ordinality) "
        "ORDER BY ordinality ON CONFLICT (backup_id) DO NOTHING RETURNING backup_id",
        [b.backup_id for b in events],
        [project_id for project_id, _ in backups],
        [b.vault_id for b in events],
        [b.name for b in events],
        [b.resource_id for b in events],
        [b.resource_name for b in events],
        [b.resource_type for b in events],
        [b.status for b in events],
        [b.created_at for b in events],
        [b.incremental for b in events],
        [b.parent_id for b in events],
        [b.size_gb for b in events],
        [b.shared_from_project_id for b in events],
        [json_text(b.server.model_dump(mode="json")) if b.server else None for b in events],
        [json_text([d.model_dump(mode="json") for d in b.disks]) for b in events],
        [b.replicated_from_region for b in events],
        [b.replicated_from_backup_id for b in events],
    )
    return {r["backup_id"] for r in rows}


async def backup_exists(conn: asyncpg.Connection, backup_id: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM backups WHERE backup_id = $1", backup_id))


def _state(row: asyncpg.Record) -> BackupState:
    return BackupState(
        backup_id=row["backup_id"],
        project_id=row["project_id"],
        status=row["status"],
        image_id=row["image_id"],
        deleted=row["deleted_at"] is not None,
        vault_id=row["vault_id"],
    )


async def lock_backup(conn: asyncpg.Connection, backup_id: str) -> BackupState | None:
    row = await conn.fetchrow(
        "SELECT backup_id, project_id, status, image_id, deleted_at, vault_id FROM backups "
        "WHERE backup_id = $1 FOR UPDATE",
        backup_id,
    )
    return _state(row) if row else None


async def lock_backups(conn: asyncpg.Connection, backup_ids: list[str]) -> dict[str, tuple[BackupState, bool]]:
    """``lock_backup`` of several backups in one round trip (locked in id order), each with whether its vault is
    locked: by backup id, those known."""
    rows = await conn.fetch(
        "SELECT b.backup_id, b.project_id, b.status, b.image_id, b.deleted_at, b.vault_id, "
        "coalesce(v.locked, false) AS vault_locked FROM backups b LEFT JOIN vaults v ON v.vault_id = b.vault_id "
        "WHERE b.backup_id = ANY ($1::text[]) ORDER BY b.backup_id FOR UPDATE OF b",
        backup_ids,
    )
    return {r["backup_id"]: (_state(r), r["vault_locked"]) for r in rows}


async def mark_many_deleted(conn: asyncpg.Connection, backup_ids: list[str], reason: str) -> None:
    """``mark_deleted`` of several backups in one round trip."""
    await conn.execute(
        "UPDATE backups SET status = 'deleted', deleted_at = now(), updated_at = now(), delete_reason = $2 "
        "WHERE backup_id = ANY ($1::text[])",
        backup_ids,
        reason,
    )
    await oplogs.finished(conn, backup_ids, "delete")


async def mark_deleted(conn: asyncpg.Connection, backup_id: str, reason: str) -> None:
    await conn.execute(
        "UPDATE backups SET status = 'deleted', deleted_at = now(), updated_at = now(), delete_reason = $2 "
        "WHERE backup_id = $1",
        backup_id,
        reason,
    )
    await oplogs.finished(conn, [backup_id], "delete")


async def set_image(conn: asyncpg.Connection, backup_id: str, image_id: str) -> bool:
    """Name the backup's full-ECS image; False when the backup is not known."""
    done = await conn.execute(
        "UPDATE backups SET image_id = $2, updated_at = now() WHERE backup_id = $1", backup_id, image_id
    )
    return done != "UPDATE 0"


async def set_images(conn: asyncpg.Connection, images: list[tuple[str, str, str]]) -> set[str]:
    """``set_image`` of several (backup, image, project) triples, each backup once, in one round trip: the backups
    known in the project named (the others are left alone)."""
    rows = await conn.fetch(
        "UPDATE backups b SET image_id = i.image_id, updated_at = now() "
        "FROM unnest($1::text[], $2::text[], $3::text[]) AS i(backup_id, image_id, project_id) "
        "WHERE b.backup_id = i.backup_id AND b.project_id = i.project_id "
        "RETURNING b.backup_id",
        [backup_id for backup_id, _, _ in images],
        [image_id for _, image_id, _ in images],
        [project_id for _, _, project_id in images],
    )
    return {r["backup_id"] for r in rows}


async def clear_image(conn: asyncpg.Connection, backup_id: str, image_id: str) -> bool:
    """Forget the backup's image if it is ``image_id`` (a newer image stays); False when the backup is not known."""
    done = await conn.execute(
        "UPDATE backups SET image_id = CASE WHEN image_id = $2 THEN NULL ELSE image_id END, "
        "updated_at = CASE WHEN image_id = $2 THEN now() ELSE updated_at END WHERE backup_id = $1",
        backup_id,
        image_id,
    )
    return done != "UPDATE 0"


async def clear_images(conn: asyncpg.Connection, images: list[tuple[str, str, str]]) -> set[str]:
    """``clear_image`` of several (backup, image, project) triples, each backup once, in one round trip: the backups
    known in the project named (the others are left alone)."""
    rows = await conn.fetch(
        "UPDATE backups b SET image_id = CASE WHEN b.image_id = i.image_id THEN NULL ELSE b.image_id END, "
        "updated_at = CASE WHEN b.image_id = i.image_id THEN now() ELSE b.updated_at END "
        "FROM unnest($1::text[], $2::text[], $3::text[]) AS i(backup_id, image_id, project_id) "
        "WHERE b.backup_id = i.backup_id AND b.project_id = i.project_id "
        "RETURNING b.backup_id",
        [backup_id for backup_id, _, _ in images],
        [image_id for _, image_id, _ in images],
        [project_id for _, _, project_id in images],
    )
    return {r["backup_id"] for r in rows}


async def get_backup(conn: asyncpg.Connection | asyncpg.Pool, project_id: str, backup_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT * FROM backups WHERE backup_id = $1 AND project_id = $2 AND deleted_at IS NULL", backup_id, project_id
    )
    return dict(row) if row else None


class BackupFilters(NamedTuple):
    """What CBR ListBackups may filter on; a filter left None matches every backup. ``own_type``: "private" (the
    project's own backups), "shared" (shared with it, from an accepted image), or anything else for both."""

    vault_id: str | None = None
    resource_id: str | None = None
    resource_type: str | None = None
    status: str | None = None
    name: str | None = None
    image_id: str | None = None
    checkpoint_id: str | None = None
    image_type: str | None = None
    parent_id: str | None = None
    resource_name: str | None = None
    incremental: bool | None = None
    own_type: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None


SORT_KEYS = {"created_at": "created_at", "updated_at": "updated_at", "name": "name", "resource_size": "size_gb"}
"""ListBackups' sort keys, and the column each orders by."""

_MATCHING = (
    "project_id = $1 AND deleted_at IS NULL "
    "AND ($2::text IS NULL OR vault_id = $2) AND ($3::text IS NULL OR resource_id = $3) "
    "AND ($4::text IS NULL OR resource_type = $4) AND ($5::text IS NULL OR status = $5) "
    "AND ($6::text IS NULL OR name = $6) AND ($7::text IS NULL OR image_id = $7) "
    "AND ($8::text IS NULL OR coalesce(checkpoint_id, backup_id) = $8) "
    "AND ($9::text IS NULL OR (CASE WHEN shared_from_project_id IS NULL THEN 'backup' ELSE 'replication' END) = $9) "
    "AND ($10::text IS NULL OR parent_id = $10) AND ($11::text IS NULL OR resource_name = $11) "
    "AND ($12::boolean IS NULL OR incremental = $12) "
    "AND ($13::text IS NULL OR $13 NOT IN ('private', 'shared') "
    "OR ($13 = 'private') = (shared_from_project_id IS NULL)) "
    "AND ($14::timestamptz IS NULL OR created_at >= $14) AND ($15::timestamptz IS NULL OR created_at <= $15)"
)


async def list_backups(
    conn: asyncpg.Connection | asyncpg.Pool,
    project_id: str,
    *,
    limit: int,
    offset: int,
    filters: BackupFilters,
    sort: tuple[str, bool] = ("created_at", True),
    marker: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the project's backups and how many match: newest first, or by ``sort`` (a key of SORT_KEYS, and
    whether descending), ties by id; after the backup ``marker`` (one of the project's) when given."""
    matching = (project_id, *filters)
    total = await conn.fetchval(f"SELECT count(*) FROM backups WHERE {_MATCHING}", *matching)
    column = SORT_KEYS[sort[0]]
    direction = "DESC" if sort[1] else "ASC"
    after = ""
    if marker is not None:
        beyond = "<" if sort[1] else ">"
        after = f"AND ({column} {beyond} $18 OR ({column} = $18 AND backup_id > $19)) "
    rows = await conn.fetch(
        f"SELECT * FROM backups WHERE {_MATCHING} {after}ORDER BY {column} {direction}, backup_id LIMIT $16 OFFSET $17",
        *matching,
        limit,
        offset,
        *((marker[column], marker["backup_id"]) if marker is not None else ()),
    )
    return [dict(r) for r in rows], int(total)


async def checkpoint_backups(
    conn: asyncpg.Connection | asyncpg.Pool, project_id: str, checkpoint_id: str
) -> list[dict[str, Any]]:
    """The backups a checkpoint made (a backup not made by one is its own checkpoint), deleted ones included."""
    rows = await conn.fetch(
        "SELECT * FROM backups WHERE project_id = $1 AND (checkpoint_id = $2 OR (checkpoint_id IS NULL AND "
        "backup_id = $2)) ORDER BY created_at, backup_id",
        project_id,
        checkpoint_id,
    )
    return [dict(r) for r in rows]


async def rename_backup(
    conn: asyncpg.Connection | asyncpg.Pool, project_id: str, backup_id: str, name: str | None, description: str | None
) -> dict[str, Any] | None:
    """A new name or description (None keeps it) for a live backup of the project: the backup, or None."""
    row = await conn.fetchrow(
        "UPDATE backups SET name = coalesce($3, name), description = coalesce($4, description), updated_at = now() "
        "WHERE backup_id = $1 AND project_id = $2 AND deleted_at IS NULL RETURNING *",
        backup_id,
        project_id,
        name,
        description,
    )
    return dict(row) if row else None
