"""Backing up an ECS (a CBR checkpoint): the backup is 'protecting' until its data is saved, then
'available', and BackupCreated tells everyone. One checkpoint per server at a time."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from backup_service import oplogs
from ims_shared.emitter import Emitter
from ims_shared.events import BackupCreated, BackupDisk, ServerInfo
from ims_shared.events.backups import ECS_RESOURCE_TYPE
from ims_shared.refusal import Refusal

SERVER_BEING_BACKED_UP = "IMG.0136"
SERVER_UNKNOWN = "BackupService.6302"
SERVER_DELETED = "BackupService.6303"


async def register_server(conn: asyncpg.Connection, project_id: str, server: dict[str, Any]) -> bool:
    """Record or update an ECS of ``project_id``; False (and nothing changed) when the id is another project's."""
    done = await conn.fetchval(
        "INSERT INTO servers (server_id, project_id, name, os_type, os_version, configured, state, disks) "
        "VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (server_id) DO UPDATE SET name = EXCLUDED.name, "
        "os_type = EXCLUDED.os_type, os_version = EXCLUDED.os_version, configured = EXCLUDED.configured, "
        "state = EXCLUDED.state, disks = EXCLUDED.disks, deleted_at = NULL, updated_at = now() "
        "WHERE servers.project_id = EXCLUDED.project_id RETURNING 1",
        server["server_id"],
        project_id,
        server.get("name") or "",
        server.get("os_type"),
        server.get("os_version"),
        server.get("configured", True),
        server.get("state", "ACTIVE"),
        server.get("disks", []),
    )
    return done is not None


async def set_server_state(conn: asyncpg.Connection, project_id: str, server_id: str, state: str) -> bool:
    """The ECS's new state; False (and nothing changed) when the id is another project's."""
    owner = await conn.fetchval(
        "WITH changed AS (UPDATE servers SET state = $3, updated_at = now() WHERE server_id = $1 AND project_id = $2 "
        "RETURNING project_id) SELECT coalesce((SELECT project_id FROM changed), "
        "(SELECT project_id FROM servers WHERE server_id = $1))",
        server_id,
        project_id,
        state,
    )
    return owner is None or owner == project_id


async def mark_server_deleted(conn: asyncpg.Connection, project_id: str, server_id: str) -> bool:
    """The ECS is gone: later checkpoints of it are refused (a ServerRegistered of the same id announces it again).
    False (and nothing changed) when the id is another project's."""
    owner = await conn.fetchval(
        "WITH gone AS (UPDATE servers SET deleted_at = coalesce(deleted_at, now()), updated_at = now() "
        "WHERE server_id = $1 AND project_id = $2 RETURNING project_id) SELECT coalesce((SELECT project_id FROM gone), "
        "(SELECT project_id FROM servers WHERE server_id = $1))",
        server_id,
        project_id,
    )
    return owner is None or owner == project_id


async def start_checkpoint(
    conn: asyncpg.Connection,
    *,
    project_id: str,
    server_id: str,
    vault_id: str,
    name: str,
    duration_s: float,
    backup_id: str | None = None,
    job_id: str | None = None,
    checkpoint_id: str | None = None,
    description: str = "",
) -> str:
    """Begin backing up ``server_id``; raises a ``Refusal`` when it is unknown or already being backed up. A CBR
    checkpoint names itself (``checkpoint_id``) in each of its backups."""
    server = await conn.fetchrow(
        "SELECT * FROM servers WHERE server_id = $1 AND project_id = $2", server_id, project_id
    )
    if server is None:
        raise Refusal(SERVER_UNKNOWN, f"ECS {server_id} is not known in this project", status=404)
    if server["deleted_at"] is not None:
        raise Refusal(
            SERVER_DELETED,
            f"ECS {server_id} was deleted and can no longer be backed up; its existing backups and images remain",
        )
    backup_id = backup_id or str(uuid.uuid4())
    disks: list[dict[str, Any]] = server["disks"] or []
    now = datetime.now(UTC)
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO backups (backup_id, project_id, vault_id, name, resource_id, resource_name, "
                "resource_type, status, created_at, size_gb, server, disks, ready_at, job_id, checkpoint_id, "
                "description) VALUES ($1,$2,$3,$4,$5,$6,$7,'protecting',$8,$9,$10,$11,$12,$13,$14,$15)",
                backup_id,
                project_id,
                vault_id,
                name or f"backup-{server['name'] or server_id}",
                server_id,
                server["name"],
                ECS_RESOURCE_TYPE,
                now,
                sum(int(d.get("size_gb", 0)) for d in disks),
                {
                    "os_type": server["os_type"],
                    "os_version": server["os_version"],
                    "configured": server["configured"],
                    "state": server["state"],
                },
                disks,
                now + timedelta(seconds=duration_s),
                job_id,
                checkpoint_id,
                description,
            )
        await oplogs.started(conn, [backup_id], "backup")
    except asyncpg.UniqueViolationError as exc:
        raise Refusal(
            SERVER_BEING_BACKED_UP, f"ECS {server_id} is already being backed up; wait for that backup to finish"
        ) from exc
    return backup_id


async def finish_checkpoints(conn: asyncpg.Connection, emitter: Emitter) -> int:
    """Backups whose data is saved become available, and BackupCreated is emitted for each."""
    rows = await conn.fetch(
        "UPDATE backups SET status = 'available', updated_at = now() WHERE backup_id IN ("
        "SELECT backup_id FROM backups WHERE status = 'protecting' AND ready_at <= now() "
        "ORDER BY ready_at LIMIT 200 FOR UPDATE SKIP LOCKED) RETURNING *"
    )
    await oplogs.finished(conn, [row["backup_id"] for row in rows], "backup")
    for row in rows:
        server = row["server"] or {}
        event = BackupCreated(
            backup_id=row["backup_id"],
            vault_id=row["vault_id"],
            name=row["name"],
            resource_id=row["resource_id"],
            resource_name=row["resource_name"],
            resource_type=row["resource_type"],
            status="available",
            created_at=row["created_at"],
            size_gb=row["size_gb"],
            server=ServerInfo(**server) if server else None,
            disks=[BackupDisk(**d) for d in row["disks"] or []],
        )
        await emitter.emit(conn, event, project_id=row["project_id"])
    return len(rows)
