"""SQL of backup-service."""

from typing import Any

import asyncpg

from backup_service.domain import BackupState
from ims_shared.events import BackupCreated

_COLUMNS = (
    "backup_id, project_id, vault_id, name, resource_id, resource_name, resource_type, status, created_at, "
    "incremental, parent_id, size_gb, shared_from_project_id, server, disks, replicated_from_region, "
    "replicated_from_backup_id"
)


async def record_backup(conn: asyncpg.Connection, project_id: str, b: BackupCreated) -> bool:
    """Insert the backup unless it is already known (a replay or our own event). True when inserted."""
    inserted = await conn.fetchval(
        f"INSERT INTO backups ({_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17) "
        "ON CONFLICT (backup_id) DO NOTHING RETURNING 1",
        b.backup_id,
        project_id,
        b.vault_id,
        b.name,
        b.resource_id,
        b.resource_name,
        b.resource_type,
        b.status,
        b.created_at,
        b.incremental,
        b.parent_id,
        b.size_gb,
        b.shared_from_project_id,
        b.server.model_dump() if b.server else None,
        [d.model_dump() for d in b.disks],
        b.replicated_from_region,
        b.replicated_from_backup_id,
    )
    return inserted is not None


async def record_backups(conn: asyncpg.Connection, backups: list[tuple[str, BackupCreated]]) -> set[str]:
    """``record_backup`` of several (project, event) pairs in one round trip, in their order: the ids inserted."""
    rows = await conn.fetch(
        f"INSERT INTO backups ({_COLUMNS}) SELECT {_COLUMNS} FROM "
        "jsonb_populate_recordset(NULL::backups, $1::jsonb) WITH ORDINALITY AS b ORDER BY ordinality "
        "ON CONFLICT (backup_id) DO NOTHING RETURNING backup_id",
        [{**b.model_dump(mode="json"), "project_id": project_id} for project_id, b in backups],
    )
    return {r["backup_id"] for r in rows}


async def backup_exists(conn: asyncpg.Connection, backup_id: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM backups WHERE backup_id = $1", backup_id))


async def lock_backup(conn: asyncpg.Connection, backup_id: str) -> BackupState | None:
    row = await conn.fetchrow(
        "SELECT backup_id, project_id, status, image_id, deleted_at, vault_id FROM backups "
        "WHERE backup_id = $1 FOR UPDATE",
        backup_id,
    )
    if row is None:
        return None
    return BackupState(
        backup_id=row["backup_id"],
        project_id=row["project_id"],
        status=row["status"],
        image_id=row["image_id"],
        deleted=row["deleted_at"] is not None,
        vault_id=row["vault_id"],
    )


async def lock_backups(conn: asyncpg.Connection, backup_ids: list[str]) -> dict[str, tuple[BackupState, bool]]:
    """``lock_backup`` of several backups in one round trip (locked in id order), each with whether its vault is
    locked: by backup id, those known."""
    rows = await conn.fetch(
        "SELECT b.backup_id, b.project_id, b.status, b.image_id, b.deleted_at, b.vault_id, "
        "coalesce(v.locked, false) AS vault_locked FROM backups b LEFT JOIN vaults v ON v.vault_id = b.vault_id "
        "WHERE b.backup_id = ANY ($1::text[]) ORDER BY b.backup_id FOR UPDATE OF b",
        backup_ids,
    )
    return {
        r["backup_id"]: (
            BackupState(
                backup_id=r["backup_id"],
                project_id=r["project_id"],
                status=r["status"],
                image_id=r["image_id"],
                deleted=r["deleted_at"] is not None,
                vault_id=r["vault_id"],
            ),
            r["vault_locked"],
        )
        for r in rows
    }


async def mark_many_deleted(conn: asyncpg.Connection, backup_ids: list[str], reason: str) -> None:
    """``mark_deleted`` of several backups in one round trip."""
    await conn.execute(
        "UPDATE backups SET status = 'deleted', deleted_at = now(), updated_at = now(), delete_reason = $2 "
        "WHERE backup_id = ANY ($1::text[])",
        backup_ids,
        reason,
    )


async def mark_deleted(conn: asyncpg.Connection, backup_id: str, reason: str) -> None:
    await conn.execute(
        "UPDATE backups SET status = 'deleted', deleted_at = now(), updated_at = now(), delete_reason = $2 "
        "WHERE backup_id = $1",
        backup_id,
        reason,
    )


async def set_image(conn: asyncpg.Connection, backup_id: str, image_id: str) -> bool:
    """Name the backup's full-ECS image; False when the backup is not known."""
    done = await conn.execute(
        "UPDATE backups SET image_id = $2, updated_at = now() WHERE backup_id = $1", backup_id, image_id
    )
    return done != "UPDATE 0"


async def set_images(conn: asyncpg.Connection, images: list[tuple[str, str]]) -> set[str]:
    """``set_image`` of several (backup, image) pairs, each backup once, in one round trip: the backups known."""
    rows = await conn.fetch(
        "UPDATE backups b SET image_id = i.image_id, updated_at = now() "
        "FROM unnest($1::text[], $2::text[]) AS i(backup_id, image_id) WHERE b.backup_id = i.backup_id "
        "RETURNING b.backup_id",
        [backup_id for backup_id, _ in images],
        [image_id for _, image_id in images],
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


async def clear_images(conn: asyncpg.Connection, images: list[tuple[str, str]]) -> set[str]:
    """``clear_image`` of several (backup, image) pairs, each backup once, in one round trip: the backups known."""
    rows = await conn.fetch(
        "UPDATE backups b SET image_id = CASE WHEN b.image_id = i.image_id THEN NULL ELSE b.image_id END, "
        "updated_at = CASE WHEN b.image_id = i.image_id THEN now() ELSE b.updated_at END "
        "FROM unnest($1::text[], $2::text[]) AS i(backup_id, image_id) WHERE b.backup_id = i.backup_id "
        "RETURNING b.backup_id",
        [backup_id for backup_id, _ in images],
        [image_id for _, image_id in images],
    )
    return {r["backup_id"] for r in rows}


async def get_backup(conn: asyncpg.Connection | asyncpg.Pool, project_id: str, backup_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT * FROM backups WHERE backup_id = $1 AND project_id = $2 AND deleted_at IS NULL", backup_id, project_id
    )
    return dict(row) if row else None


async def list_backups(
    conn: asyncpg.Connection | asyncpg.Pool,
    project_id: str,
    *,
    limit: int,
    offset: int,
    filters: dict[str, Any],
) -> tuple[list[dict[str, Any]], int]:
    clauses = ["project_id = $1", "deleted_at IS NULL"]
    args: list[Any] = [project_id]
    for column in ("vault_id", "resource_id", "resource_type", "status", "name", "image_id"):
        if filters.get(column) is not None:
            args.append(filters[column])
            clauses.append(f"{column} = ${len(args)}")
    where = " AND ".join(clauses)
    total = await conn.fetchval(f"SELECT count(*) FROM backups WHERE {where}", *args)
    args += [limit, offset]
    rows = await conn.fetch(
        f"SELECT * FROM backups WHERE {where} ORDER BY created_at DESC, backup_id "
        f"LIMIT ${len(args) - 1} OFFSET ${len(args)}",
        *args,
    )
    return [dict(r) for r in rows], int(total)
