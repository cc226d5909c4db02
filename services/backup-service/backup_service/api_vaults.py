"""The CBR vault calls of backup-service: CreateVault, ShowVault, ListVault, UpdateVault, DeleteVault,
AddVaultResource, RemoveVaultResource (rules in ``vaults``). A vault's creation and deletion are told to everyone
(``VaultCreated``, ``VaultDeleted``): image-service accepts shared images only into a vault of the project."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from backup_service import vaults
from backup_service.context import Service, Who
from ims_shared.events.backups import VaultCreated, VaultDeleted
from ims_shared.events.envelope import INT4_MAX
from ims_shared.refusal import Refusal

router = APIRouter()


class BillingCreate(BaseModel):
    cloud_type: str | None = Field(default=None, max_length=32)
    consistent_level: str | None = Field(default=None, max_length=32)
    object_type: str = Field(default="server", max_length=32)
    protect_type: str = Field(default="backup", max_length=32)
    size: int = Field(ge=-INT4_MAX, le=INT4_MAX)
    charging_mode: str | None = Field(default=None, max_length=32)


class ResourceCreate(BaseModel):
    id: str = Field(min_length=1, max_length=64)
    type: str = Field(min_length=1, max_length=64)
    name: str | None = Field(default=None, max_length=255)


class VaultCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    billing: BillingCreate
    resources: list[ResourceCreate] = Field(default_factory=list, max_length=vaults.MAX_RESOURCES + 1)
    description: str | None = Field(default=None, max_length=255)
    enterprise_project_id: str | None = Field(default=None, max_length=64)
    auto_bind: bool | None = None
    auto_expand: bool | None = None
    threshold: int | None = Field(default=None, ge=1, le=100)
    smn_notify: bool | None = None


class VaultCreateBody(BaseModel):
    vault: VaultCreate


class BillingUpdate(BaseModel):
    size: int | None = Field(default=None, ge=-INT4_MAX, le=INT4_MAX)
    consistent_level: str | None = Field(default=None, max_length=32)


class VaultUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    billing: BillingUpdate | None = None
    auto_bind: bool | None = None
    auto_expand: bool | None = None
    smn_notify: bool | None = None
    threshold: int | None = Field(default=None, ge=1, le=100)


class VaultUpdateBody(BaseModel):
    vault: VaultUpdate


class AddResourcesBody(BaseModel):
    resources: list[ResourceCreate] = Field(min_length=1, max_length=vaults.MAX_RESOURCES + 1)


class RemoveResourcesBody(BaseModel):
    resource_ids: list[str] = Field(min_length=1, max_length=vaults.MAX_RESOURCES)


def _server_vault(billing: BillingCreate) -> None:
    if billing.object_type != "server" or billing.protect_type != "backup":
        raise Refusal(
            vaults.RESOURCE_TYPE_MISMATCH,
            f"only server backup vaults are offered (object_type 'server', protect_type 'backup'), not "
            f"{billing.object_type!r} / {billing.protect_type!r}",
        )


@router.post("/v3/{project_id}/vaults")
async def create_vault(project_id: str, body: VaultCreateBody, service: Service, who: Who) -> dict[str, Any]:
    """CBR CreateVault: a server backup vault of ``billing.size`` GB holding the servers of ``resources``."""
    asked = body.vault
    _server_vault(asked.billing)
    server_ids = vaults.check_resources([(r.id, r.type) for r in asked.resources])
    options = asked.billing.model_dump() | asked.model_dump(exclude={"billing", "resources", "name"})
    async with service.database.transaction() as conn:
        vault_id = await vaults.create_vault(
            conn, who.project_id, name=asked.name, size_gb=asked.billing.size, options=options, server_ids=server_ids
        )
        created = VaultCreated(vault_id=vault_id, name=asked.name)
        await service.emitter.emit(conn, created, project_id=who.project_id)
        (view,) = await vaults.views(conn, [await vaults.get_vault(conn, who.project_id, vault_id)])
    return {"vault": view}


@router.get("/v3/{project_id}/vaults/{vault_id}")
async def show_vault(project_id: str, vault_id: str, service: Service, who: Who) -> dict[str, Any]:
    pool = service.database.pool
    (view,) = await vaults.views(pool, [await vaults.get_vault(pool, who.project_id, vault_id)])
    return {"vault": view}


@router.get("/v3/{project_id}/vaults")
async def list_vaults(
    project_id: str,
    service: Service,
    who: Who,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=INT4_MAX)] = 0,
    name: Annotated[str | None, Query(max_length=64)] = None,
    cloud_type: Annotated[str | None, Query(max_length=32)] = None,
    protect_type: Annotated[str | None, Query(max_length=32)] = None,
    object_type: Annotated[str | None, Query(max_length=32)] = None,
    enterprise_project_id: Annotated[str | None, Query(max_length=64)] = None,
    id: Annotated[list[str] | None, Query(max_length=100)] = None,
    policy_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    resource_ids: Annotated[str | None, Query(max_length=6400)] = None,
) -> dict[str, Any]:
    """CBR ListVault. ``id`` may be repeated or comma-separated, ``resource_ids`` comma-separated (vaults holding
    any of them). Every vault is ``available`` and none has a policy: a ``policy_id``, or another status, matches
    none."""
    ids = [i for value in id for i in value.split(",") if i] if id else None
    filters = {
        "name": name,
        "ids": ids,
        "cloud_type": cloud_type,
        "protect_type": protect_type,
        "object_type": object_type,
        "enterprise_project_id": enterprise_project_id,
        "resource_ids": [r for r in resource_ids.split(",") if r] if resource_ids else None,
        "none": policy_id is not None or status not in (None, "available"),
    }
    pool = service.database.pool
    rows, total = await vaults.list_vaults(pool, who.project_id, limit=limit, offset=offset, filters=filters)
    return {"vaults": await vaults.views(pool, rows), "count": total, "limit": limit, "offset": offset}


@router.put("/v3/{project_id}/vaults/{vault_id}")
async def update_vault(
    project_id: str, vault_id: str, body: VaultUpdateBody, service: Service, who: Who
) -> dict[str, Any]:
    """CBR UpdateVault: name, ``billing.size`` (not below what its backups use), consistency level and options."""
    asked = body.vault
    changes = asked.model_dump(exclude={"billing"}) | {
        "size_gb": asked.billing.size if asked.billing else None,
        "consistent_level": asked.billing.consistent_level if asked.billing else None,
    }
    async with service.database.transaction() as conn:
        vault = await vaults.lock_vault(conn, who.project_id, vault_id)
        await vaults.update_vault(conn, vault, changes)
        (view,) = await vaults.views(conn, [await vaults.get_vault(conn, who.project_id, vault_id)])
    return {"vault": view}


@router.delete("/v3/{project_id}/vaults/{vault_id}")
async def delete_vault(project_id: str, vault_id: str, service: Service, who: Who) -> dict[str, Any]:
    """CBR DeleteVault: the vault and its backups (each with its BackupDeleted, as a user's deletion of it)."""
    async with service.database.transaction() as conn:
        vault = await vaults.lock_vault(conn, who.project_id, vault_id)
        await vaults.delete_vault(conn, service.emitter, service.settings, vault)
        await service.emitter.emit(conn, VaultDeleted(vault_id=vault_id), project_id=who.project_id)
    return {}


@router.post("/v3/{project_id}/vaults/{vault_id}/addresources")
async def add_vault_resources(
    project_id: str, vault_id: str, body: AddResourcesBody, service: Service, who: Who
) -> dict[str, Any]:
    async with service.database.transaction() as conn:
        vault = await vaults.lock_vault(conn, who.project_id, vault_id)
        already = await vaults.resource_count(conn, vault_id)
        server_ids = vaults.check_resources([(r.id, r.type) for r in body.resources], already)
        await vaults.add_resources(conn, vault, server_ids)
    return {"add_resource_ids": server_ids}


@router.post("/v3/{project_id}/vaults/{vault_id}/removeresources")
async def remove_vault_resources(
    project_id: str, vault_id: str, body: RemoveResourcesBody, service: Service, who: Who
) -> dict[str, Any]:
    async with service.database.transaction() as conn:
        vault = await vaults.lock_vault(conn, who.project_id, vault_id)
        await vaults.remove_resources(conn, vault, body.resource_ids)
    return {"remove_resource_ids": body.resource_ids}
