"""The CBR-compatible HTTP API of backup-service (the subset the full-ECS image flow needs)."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from backup_service import repository
from backup_service.checkpoints import start_checkpoint
from backup_service.context import Service, Who
from backup_service.deleting import request_deletion
from ims_shared.events.envelope import INT4_MAX
from ims_shared.refusal import Refusal

router = APIRouter()


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
        "checkpoint_id": row["backup_id"],
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "expired_at": None,
        "parent_id": row["parent_id"],
        "project_id": row["project_id"],
        "protected_at": _iso(row["created_at"]),
        "provider_id": "0daac4c5-6707-4851-97ba-169e36266b66",
        "resource_az": "",
        "resource_id": row["resource_id"],
        "resource_name": row["resource_name"],
        "resource_size": row["size_gb"],
        "resource_type": row["resource_type"],
        "status": row["status"],
        "vault_id": row["vault_id"],
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
        raise Refusal("BackupService.6301", f"backup {backup_id} not found", status=404)
    return {"backup": backup_view(row)}


@router.get("/v3/{project_id}/backups")
async def list_backups(
    project_id: str,
    service: Service,
    who: Who,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=INT4_MAX)] = 0,  # past any count; beyond bigint it failed with a 500
    vault_id: str | None = None,
    resource_id: str | None = None,
    resource_type: str | None = None,
    status: str | None = None,
    name: str | None = None,
    image_id: str | None = None,
) -> dict[str, Any]:
    filters = repository.BackupFilters(vault_id, resource_id, resource_type, status, name, image_id)
    rows, total = await repository.list_backups(
        service.database.pool, who.project_id, limit=limit, offset=offset, filters=filters
    )
    return {"backups": [backup_view(r) for r in rows], "count": total, "limit": limit, "offset": offset}


@router.delete("/v3/{project_id}/backups/{backup_id}", status_code=204)
async def delete_backup(project_id: str, backup_id: str, service: Service, who: Who) -> Response:
    async with service.database.transaction() as conn:
        backup = await repository.lock_backup(conn, backup_id)
        if backup is None or backup.deleted or backup.project_id != who.project_id:
            raise Refusal("BackupService.6301", f"backup {backup_id} not found", status=404)
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


@router.post("/v3/{project_id}/checkpoints")
async def create_checkpoint(project_id: str, body: CheckpointBody, service: Service, who: Who) -> dict[str, Any]:
    """Back up ECSs (CBR CreateCheckpoint): each becomes a 'protecting' backup, then BackupCreated."""
    params = body.checkpoint.parameters
    server_ids = params.resources or [str(d.get("id")) for d in params.resource_details if d.get("id")]
    if not server_ids:
        raise Refusal("BackupService.6201", "parameters.resources must name at least one ECS")
    backups = []
    async with service.database.transaction() as conn:
        for server_id in server_ids:
            backup_id = await start_checkpoint(
                conn,
                project_id=who.project_id,
                server_id=server_id,
                vault_id=body.checkpoint.vault_id,
                name=params.name or "",
                duration_s=service.settings.checkpoint_s,
            )
            backups.append(
                {"id": server_id, "type": "OS::Nova::Server", "backup_id": backup_id, "protect_status": "protecting"}
            )
    checkpoint_id = backups[0]["backup_id"]
    return {
        "checkpoint": {
            "id": checkpoint_id,
            "project_id": who.project_id,
            "status": "protecting",
            "created_at": None,
            "vault": {
                "id": body.checkpoint.vault_id,
                "name": body.checkpoint.vault_id,
                "resources": backups,
                "skipped_resources": [],
            },
            "extra_info": {"name": params.name, "description": params.description, "retention_duration": -1},
        }
    }
