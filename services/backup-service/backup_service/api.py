"""The CBR-compatible HTTP API of backup-service (the subset the full-ECS image flow needs)."""

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from backup_service import repository, vaults
from backup_service.checkpoints import start_checkpoint
from backup_service.context import Service, Who
from backup_service.deleting import request_deletion
from ims_shared.events.envelope import INT4_MAX
from ims_shared.refusal import Refusal

router = APIRouter()
BAD_REQUEST = "BackupService.6201"
BACKUP_NOT_FOUND = "BackupService.6301"
PROVIDER_ID = "0daac4c5-6707-4851-97ba-169e36266b66"
"""CBR's provider of ECS backups."""


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def backup_view(row: dict[str, Any]) -> dict[str, Any]:
    """A backup in the shape of the CBR API's BackupResp."""
    disks = row["disks"] or []
    system_disk = next((d for d in disks if d.get("bootable")), None)
    server = row["server"] or {}
    return {
        "id": row["backup_id"],
        "name": row["name"],
        "description": row["description"],
        "checkpoint_id": row["checkpoint_id"] or row["backup_id"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "expired_at": None,
        "parent_id": row["parent_id"],
        "project_id": row["project_id"],
        "protected_at": _iso(row["created_at"]),
        "provider_id": PROVIDER_ID,
        "resource_az": "",
        "resource_id": row["resource_id"],
        "resource_name": row["resource_name"],
        "resource_size": row["size_gb"],
        "resource_type": row["resource_type"],
        "status": row["status"],
        "vault_id": row["vault_id"],
        "incremental": row["incremental"],
        "enterprise_project_id": "0",
        "image_type": "backup" if not row["shared_from_project_id"] else "replication",
        "children": [],
        "extend_info": {
            "auto_trigger": False,
            "bootable": system_disk is not None,
            "incremental": row["incremental"],
            "snapshot_id": None,
            "support_lld": False,
            "supported_restore_mode": "backup",
            "os_images_data": [{"image_id": row["image_id"]}] if row["image_id"] else [],
            "contain_system_disk": system_disk is not None,
            "encrypted": False,
            "system_disk": system_disk is not None,
            "is_multi_az": False,
        },
        "replication_records": [],
        "shared_from_project_id": row["shared_from_project_id"],
        "server": server,
        "disks": disks,
    }


@router.get("/v3/{project_id}/backups/{backup_id}")
async def show_backup(project_id: str, backup_id: str, service: Service, who: Who) -> dict[str, Any]:
    row = await repository.get_backup(service.database.pool, who.project_id, backup_id)
    if row is None:
        raise Refusal(BACKUP_NOT_FOUND, f"backup {backup_id} not found", status=404)
    return {"backup": backup_view(row)}


def _sort(value: str | None) -> tuple[str, bool]:
    """ListBackups' ``sort`` ("key:dir", several comma-separated: the first orders, ties by id)."""
    if not value:
        return "created_at", True
    key, _, direction = value.split(",")[0].partition(":")
    if key not in repository.SORT_KEYS or direction not in ("", "asc", "desc"):
        raise Refusal(
            BAD_REQUEST,
            f"sort {value!r}: sort by one of {', '.join(repository.SORT_KEYS)}, optionally ':asc' or ':desc'",
        )
    return key, direction != "asc"


def parse_time(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Refusal(BAD_REQUEST, f"{name} {value!r} is not a time such as 2026-03-01T10:00:00") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("/v3/{project_id}/backups")
async def list_backups(
    project_id: str,
    service: Service,
    who: Who,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=INT4_MAX)] = 0,  # past any count; beyond bigint it failed with a 500
    vault_id: Annotated[str | None, Query(max_length=64)] = None,
    resource_id: Annotated[str | None, Query(max_length=64)] = None,
    resource_type: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    name: Annotated[str | None, Query(max_length=255)] = None,
    image_id: Annotated[str | None, Query(max_length=64)] = None,
    checkpoint_id: Annotated[str | None, Query(max_length=64)] = None,
    image_type: Annotated[str | None, Query(max_length=32)] = None,
    parent_id: Annotated[str | None, Query(max_length=64)] = None,
    resource_name: Annotated[str | None, Query(max_length=255)] = None,
    incremental: bool | None = None,
    own_type: Annotated[str | None, Query(max_length=32)] = None,
    start_time: Annotated[str | None, Query(max_length=64)] = None,
    end_time: Annotated[str | None, Query(max_length=64)] = None,
    enterprise_project_id: Annotated[str | None, Query(max_length=64)] = None,
    sort: Annotated[str | None, Query(max_length=255)] = None,
    marker: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """CBR ListBackups with the filters the SDK sends. Every backup is of the default enterprise project ("0"): another
    one matches none. ``marker``: the page after that backup of the caller's (another is refused)."""
    filters = repository.BackupFilters(
        vault_id,
        resource_id,
        resource_type,
        status,
        name,
        image_id,
        checkpoint_id,
        image_type,
        parent_id,
        resource_name,
        incremental,
        own_type,
        parse_time("start_time", start_time),
        parse_time("end_time", end_time),
    )
    order = _sort(sort)
    pool = service.database.pool
    after = None
    if marker:
        after = await repository.get_backup(pool, who.project_id, marker)
        if after is None:
            raise Refusal(BAD_REQUEST, f"marker {marker} is not a backup of this project: page from one listed")
    if enterprise_project_id not in (None, "", "0", "all_granted_eps"):
        return {"backups": [], "count": 0, "limit": limit, "offset": offset}
    rows, total = await repository.list_backups(
        pool, who.project_id, limit=limit, offset=offset, filters=filters, sort=order, marker=after
    )
    return {"backups": [backup_view(r) for r in rows], "count": total, "limit": limit, "offset": offset}


class BackupUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    description: str | None = Field(default=None, max_length=255)


class BackupUpdateBody(BaseModel):
    backup: BackupUpdate


@router.put("/v3/{project_id}/backups/{backup_id}")
async def update_backup(
    project_id: str, backup_id: str, body: BackupUpdateBody, service: Service, who: Who
) -> dict[str, Any]:
    """CBR UpdateBackup: a backup's name and description."""
    changes = body.backup
    row = await repository.rename_backup(
        service.database.pool, who.project_id, backup_id, changes.name, changes.description
    )
    if row is None:
        raise Refusal(BACKUP_NOT_FOUND, f"backup {backup_id} not found", status=404)
    return {"backup": backup_view(row)}


@router.delete("/v3/{project_id}/backups/{backup_id}", status_code=204)
async def delete_backup(project_id: str, backup_id: str, service: Service, who: Who) -> Response:
    async with service.database.transaction() as conn:
        backup = await repository.lock_backup(conn, backup_id)
        if backup is None or backup.deleted or backup.project_id != who.project_id:
            raise Refusal(BACKUP_NOT_FOUND, f"backup {backup_id} not found", status=404)
        await request_deletion(conn, service.emitter, service.settings, backup, "user")
    return Response(status_code=204)


class CheckpointParameters(BaseModel):
    resources: list[str] = Field(default_factory=list, max_length=64)
    resource_details: list[dict[str, Any]] = Field(default_factory=list, max_length=64)
    name: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=255)
    incremental: bool | None = None


class CheckpointCreate(BaseModel):
    vault_id: str = Field(min_length=1, max_length=64)
    parameters: CheckpointParameters = Field(default_factory=CheckpointParameters)


class CheckpointBody(BaseModel):
    checkpoint: CheckpointCreate


CHECKPOINT_NOT_FOUND = "BackupService.6305"


def checkpoint_status(statuses: list[str]) -> str:
    """A checkpoint's status from its backups': being made while one is, in error if one failed, deleted when all
    are, else available."""
    for status in ("protecting", "error"):
        if status in statuses:
            return status
    if statuses and all(s == "deleted" for s in statuses):
        return "deleted"
    return "available"


def checkpoint_view(checkpoint_id: str, vault: dict[str, Any], backups: list[dict[str, Any]]) -> dict[str, Any]:
    """CBR's checkpoint (CheckpointCreate): one resource per ECS backed up, with the backup made of it."""
    first = backups[0]
    return {
        "id": checkpoint_id,
        "project_id": first["project_id"],
        "status": checkpoint_status([b["status"] for b in backups]),
        "created_at": _iso(first["created_at"]),
        "vault": {
            "id": vault["id"],
            "name": vault["name"],
            "resources": [
                {
                    "id": b["resource_id"],
                    "type": b["resource_type"],
                    "name": b["resource_name"],
                    "resource_size": str(b["size_gb"]),
                    "protect_status": b["status"],
                    "backup_id": b["backup_id"],
                    "backup_count": "1",
                    "backup_size": str(b["size_gb"]),
                    "extra_info": "{}",
                }
                for b in backups
            ],
            "skipped_resources": [],
        },
        "extra_info": {"name": first["name"], "description": first["description"], "retention_duration": -1},
    }


@router.post("/v3/{project_id}/checkpoints")
async def create_checkpoint(project_id: str, body: CheckpointBody, service: Service, who: Who) -> dict[str, Any]:
    """Back up ECSs (CBR CreateCheckpoint) into a vault of the caller's project that holds them, if their backups
    fit in it: each becomes a 'protecting' backup of the checkpoint, then BackupCreated."""
    params = body.checkpoint.parameters
    server_ids = params.resources or [str(d.get("id")) for d in params.resource_details if d.get("id")]
    if not server_ids:
        raise Refusal("BackupService.6201", "parameters.resources must name at least one ECS")
    if len(set(server_ids)) != len(server_ids):
        raise Refusal(vaults.DUPLICATE_RESOURCE, "parameters.resources names an ECS twice; name each once")
    checkpoint_id = str(uuid.uuid4())
    async with service.database.transaction() as conn:
        vault = await vaults.lock_vault(conn, who.project_id, body.checkpoint.vault_id)
        used = await vaults.used_gb(conn, vault)
        for server_id in server_ids:
            if not await vaults.holds(conn, vault, server_id):
                raise Refusal(
                    vaults.RESOURCE_NOT_IN_VAULT,
                    f"vault {vault.vault_id} does not hold ECS {server_id}: add it (AddVaultResource) first",
                )
            await start_checkpoint(
                conn,
                project_id=who.project_id,
                server_id=server_id,
                vault_id=vault.vault_id,
                name=params.name or "",
                description=params.description or "",
                duration_s=service.settings.checkpoint_s,
                checkpoint_id=checkpoint_id,
            )
        backups = await repository.checkpoint_backups(conn, who.project_id, checkpoint_id)
        vaults.check_room(vault, used, sum(b["size_gb"] for b in backups))
    return {"checkpoint": checkpoint_view(checkpoint_id, {"id": vault.vault_id, "name": vault.name}, backups)}


@router.get("/v3/{project_id}/checkpoints/{checkpoint_id}")
async def show_checkpoint(project_id: str, checkpoint_id: str, service: Service, who: Who) -> dict[str, Any]:
    """CBR ShowCheckpoint: its status follows its backups' (``checkpoint_status``)."""
    pool = service.database.pool
    backups = await repository.checkpoint_backups(pool, who.project_id, checkpoint_id)
    if not backups:
        raise Refusal(CHECKPOINT_NOT_FOUND, f"checkpoint {checkpoint_id} not found", status=404)
    vault_id = backups[0]["vault_id"]
    name = await pool.fetchval(
        "SELECT name FROM vaults WHERE vault_id = $1 AND project_id = $2", vault_id, who.project_id
    )
    return {"checkpoint": checkpoint_view(checkpoint_id, {"id": vault_id, "name": name or vault_id}, backups)}
