"""CBR vaults: a vault of a project holds some of its ECSs (its resources) and their backups, up to its size in GB.

A checkpoint backs up only ECSs its vault holds, and is refused when its backups would not fit (``check_room``).
Deleting a vault deletes its backups the way a user's deletion of each does (``deleting.request_deletion``), so each
goes with a ``BackupDeleted`` as before; a backup that still has its full-ECS image keeps the vault (its image must
be deleted first), and a locked vault, or one with a backup being made, cannot be deleted.
"""

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from backup_service import repository
from backup_service.deleting import request_deletion
from backup_service.settings import BackupSettings
from ims_shared.emitter import Emitter
from ims_shared.events.backups import ECS_RESOURCE_TYPE
from ims_shared.refusal import Refusal

RESOURCES_OVER_LIMIT = "BackupService.6100"
VAULT_SIZE_INVALID = "BackupService.6101"
RESOURCE_TYPE_MISMATCH = "BackupService.6102"
RESOURCE_IN_OTHER_VAULT = "BackupService.6103"
DUPLICATE_RESOURCE = "BackupService.6104"
VAULT_NOT_FOUND = "BackupService.6105"
VAULT_SMALLER_THAN_USED = "BackupService.6107"
VAULT_NOT_DELETABLE = "BackupService.6111"
VAULT_FULL = "BackupService.6114"
RESOURCE_NOT_IN_VAULT = "BackupService.6304"
SERVER_UNKNOWN = "BackupService.6302"
SERVER_DELETED = "BackupService.6303"

MAX_RESOURCES = 256
MIN_SIZE_GB, MAX_SIZE_GB = 1, 10_485_760
MB_PER_GB = 1024


@dataclass(frozen=True)
class Vault:
    vault_id: str
    project_id: str
    name: str
    size_gb: int
    locked: bool


def check_size(size_gb: int) -> int:
    if not MIN_SIZE_GB <= size_gb <= MAX_SIZE_GB:
        raise Refusal(VAULT_SIZE_INVALID, f"billing.size must be from {MIN_SIZE_GB} to {MAX_SIZE_GB} GB, not {size_gb}")
    return size_gb


def check_resources(resources: list[tuple[str, str]], already: int = 0) -> list[str]:
    """The server ids of (id, type) pairs to add to a vault that holds ``already``: servers only, each once."""
    ids: list[str] = []
    for resource_id, resource_type in resources:
        if resource_type != ECS_RESOURCE_TYPE:
            raise Refusal(
                RESOURCE_TYPE_MISMATCH,
                f"resource {resource_id} is of type {resource_type!r}: a server vault holds {ECS_RESOURCE_TYPE} only",
            )
        if resource_id in ids:
            raise Refusal(DUPLICATE_RESOURCE, f"resource {resource_id} is named twice; name each server once")
        ids.append(resource_id)
    if already + len(ids) > MAX_RESOURCES:
        raise Refusal(
            RESOURCES_OVER_LIMIT,
            f"a vault holds at most {MAX_RESOURCES} servers ({already} already): use another vault for the others",
        )
    return ids


def check_room(vault: Vault, used_gb: int, adding_gb: int) -> None:
    """Refuse backups of ``adding_gb`` that would not fit in ``vault``, which holds ``used_gb`` already."""
    if used_gb + adding_gb > vault.size_gb:
        raise Refusal(
            VAULT_FULL,
            f"vault {vault.vault_id} has {max(vault.size_gb - used_gb, 0)} GB free of {vault.size_gb} GB and the "
            f"backup needs {adding_gb} GB: enlarge the vault (UpdateVault billing.size) or delete backups from it",
        )


def _vault(row: asyncpg.Record) -> Vault:
    return Vault(row["vault_id"], row["project_id"], row["name"], row["size_gb"], row["locked"])


async def create_vault(
    conn: asyncpg.Connection,
    project_id: str,
    *,
    name: str,
    size_gb: int,
    options: dict[str, Any],
    server_ids: list[str],
) -> str:
    """A new vault of the project holding ``server_ids`` (``add_resources``): its id."""
    vault_id = str(uuid.uuid4())
    billing = {
        k: options[k]
        for k in ("cloud_type", "consistent_level", "object_type", "protect_type", "charging_mode")
        if options.get(k) is not None
    }
    await conn.execute(
        "INSERT INTO vaults (vault_id, project_id, name, description, size_gb, billing, enterprise_project_id, "
        "auto_bind, auto_expand, threshold, smn_notify) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)",
        vault_id,
        project_id,
        name,
        options.get("description") or "",
        check_size(size_gb),
        billing,
        options.get("enterprise_project_id") or "0",
        bool(options.get("auto_bind")),
        bool(options.get("auto_expand")),
        options.get("threshold") or 80,
        options.get("smn_notify") is not False,
    )
    await add_resources(conn, Vault(vault_id, project_id, name, size_gb, locked=False), server_ids)
    return vault_id


async def lock_vault(conn: asyncpg.Connection, project_id: str, vault_id: str) -> Vault:
    """The project's vault ``vault_id``, locked for this transaction; a 404 refusal when it has none of that id."""
    row = await conn.fetchrow(
        "SELECT vault_id, project_id, name, size_gb, locked FROM vaults "
        "WHERE vault_id = $1 AND project_id = $2 AND deleted_at IS NULL FOR UPDATE",
        vault_id,
        project_id,
    )
    if row is None:
        raise Refusal(
            VAULT_NOT_FOUND,
            f"vault {vault_id} not found in project {project_id}: create one with CreateVault, or name another",
            status=404,
        )
    return _vault(row)


async def used_gb(conn: asyncpg.Connection, vault: Vault) -> int:
    """GB held by the vault's backups (those being made or deleted included)."""
    used = await conn.fetchval(
        "SELECT coalesce(sum(size_gb), 0) FROM backups WHERE vault_id = $1 AND project_id = $2 AND deleted_at IS NULL",
        vault.vault_id,
        vault.project_id,
    )
    return int(used)


async def add_resources(conn: asyncpg.Connection, vault: Vault, server_ids: list[str]) -> None:
    """Put ECSs of the vault's project in it: each must be known and not deleted, and in no other vault."""
    if not server_ids:
        return
    servers = {
        r["server_id"]: r
        for r in await conn.fetch(
            "SELECT server_id, deleted_at FROM servers WHERE server_id = ANY ($1::text[]) AND project_id = $2",
            server_ids,
            vault.project_id,
        )
    }
    for server_id in server_ids:
        server = servers.get(server_id)
        if server is None:
            raise Refusal(SERVER_UNKNOWN, f"ECS {server_id} is not known in this project", status=404)
        if server["deleted_at"] is not None:
            raise Refusal(SERVER_DELETED, f"ECS {server_id} was deleted: it cannot be put in a vault")
    held = await conn.fetch(
        "SELECT resource_id, vault_id FROM vault_resources WHERE project_id = $1 AND resource_id = ANY ($2::text[])",
        vault.project_id,
        server_ids,
    )
    for row in held:
        if row["vault_id"] == vault.vault_id:
            raise Refusal(DUPLICATE_RESOURCE, f"ECS {row['resource_id']} is already in vault {vault.vault_id}")
        raise Refusal(
            RESOURCE_IN_OTHER_VAULT,
            f"ECS {row['resource_id']} is already in vault {row['vault_id']}; remove it from there first",
        )
    try:
        await conn.execute(
            "INSERT INTO vault_resources (vault_id, project_id, resource_id, resource_type) "
            "SELECT $1, $2, r, $4 FROM unnest($3::text[]) AS r",
            vault.vault_id,
            vault.project_id,
            server_ids,
            ECS_RESOURCE_TYPE,
        )
    except asyncpg.UniqueViolationError as exc:  # another request put one of them in a vault meanwhile
        raise Refusal(RESOURCE_IN_OTHER_VAULT, f"an ECS of {server_ids} was just put in another vault") from exc


async def resource_count(conn: asyncpg.Connection, vault_id: str) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM vault_resources WHERE vault_id = $1", vault_id))


async def holds(conn: asyncpg.Connection, vault: Vault, server_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM vault_resources WHERE vault_id = $1 AND resource_id = $2", vault.vault_id, server_id
        )
    )


async def remove_resources(conn: asyncpg.Connection, vault: Vault, server_ids: list[str]) -> None:
    """Take ECSs out of the vault; their backups stay in it."""
    removed = await conn.fetch(
        "DELETE FROM vault_resources WHERE vault_id = $1 AND resource_id = ANY ($2::text[]) RETURNING resource_id",
        vault.vault_id,
        server_ids,
    )
    missing = set(server_ids) - {r["resource_id"] for r in removed}
    if missing:
        raise Refusal(
            RESOURCE_NOT_IN_VAULT,
            f"vault {vault.vault_id} does not hold {sorted(missing)}: nothing was removed",
            status=404,
        )


async def update_vault(conn: asyncpg.Connection, vault: Vault, changes: dict[str, Any]) -> None:
    """Rename, resize (never below what its backups use) or set the options of ``vault``."""
    size = changes.get("size_gb")
    if size is not None:
        check_size(size)
        used = await used_gb(conn, vault)
        if size < used:
            raise Refusal(
                VAULT_SMALLER_THAN_USED,
                f"vault {vault.vault_id} cannot shrink to {size} GB: its backups use {used} GB; delete some first",
            )
    await conn.execute(
        "UPDATE vaults SET name = coalesce($2, name), size_gb = coalesce($3, size_gb), "
        "billing = billing || $4::jsonb, auto_bind = coalesce($5, auto_bind), "
        "auto_expand = coalesce($6, auto_expand), smn_notify = coalesce($7, smn_notify), "
        "threshold = coalesce($8, threshold), updated_at = now() WHERE vault_id = $1",
        vault.vault_id,
        changes.get("name"),
        size,
        {"consistent_level": changes["consistent_level"]} if changes.get("consistent_level") else {},
        changes.get("auto_bind"),
        changes.get("auto_expand"),
        changes.get("smn_notify"),
        changes.get("threshold"),
    )


async def delete_vault(conn: asyncpg.Connection, emitter: Emitter, settings: BackupSettings, vault: Vault) -> list[str]:
    """Delete the vault and every backup in it (as their owner deleting each would): the backups deleted."""
    if vault.locked:
        raise Refusal(VAULT_NOT_DELETABLE, f"vault {vault.vault_id} is locked: it can be deleted once unlocked")
    rows = await conn.fetch(
        "SELECT backup_id, status FROM backups WHERE vault_id = $1 AND project_id = $2 AND deleted_at IS NULL "
        "ORDER BY backup_id FOR UPDATE",
        vault.vault_id,
        vault.project_id,
    )
    busy = [r["backup_id"] for r in rows if r["status"] == "protecting"]
    if busy:
        raise Refusal(
            VAULT_NOT_DELETABLE,
            f"vault {vault.vault_id} has backups being made ({', '.join(busy)}): delete it once they are done",
        )
    deleted = []
    for row in rows:
        backup = await repository.lock_backup(conn, row["backup_id"])
        assert backup is not None
        await request_deletion(conn, emitter, settings, backup, "user")  # refused while it has its image
        deleted.append(backup.backup_id)
    await conn.execute("DELETE FROM vault_resources WHERE vault_id = $1", vault.vault_id)
    await conn.execute("UPDATE vaults SET deleted_at = now(), updated_at = now() WHERE vault_id = $1", vault.vault_id)
    return deleted


async def list_vaults(
    conn: asyncpg.Connection | asyncpg.Pool,
    project_id: str,
    *,
    limit: int,
    offset: int,
    filters: dict[str, Any],
) -> tuple[list[asyncpg.Record], int]:
    """A page of the project's vaults, newest first, and how many match."""
    where = (
        "project_id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR name = $2) "
        "AND ($3::text[] IS NULL OR vault_id = ANY ($3)) "
        "AND ($4::text IS NULL OR coalesce(billing->>'cloud_type', 'public') = $4) "
        "AND ($5::text IS NULL OR coalesce(billing->>'protect_type', 'backup') = $5) "
        "AND ($6::text IS NULL OR coalesce(billing->>'object_type', 'server') = $6) "
        "AND ($7::text IS NULL OR enterprise_project_id = $7) "
        "AND ($8::text[] IS NULL OR EXISTS (SELECT 1 FROM vault_resources r WHERE r.vault_id = vaults.vault_id "
        "AND r.resource_id = ANY ($8))) AND NOT $9::boolean"
    )
    args = (
        project_id,
        filters.get("name"),
        filters.get("ids"),
        filters.get("cloud_type"),
        filters.get("protect_type"),
        filters.get("object_type"),
        filters.get("enterprise_project_id"),
        filters.get("resource_ids"),
        bool(filters.get("none")),
    )
    total = await conn.fetchval(f"SELECT count(*) FROM vaults WHERE {where}", *args)
    rows = await conn.fetch(
        f"SELECT * FROM vaults WHERE {where} ORDER BY created_at DESC, vault_id LIMIT $10 OFFSET $11",
        *args,
        limit,
        offset,
    )
    return list(rows), int(total)


async def get_vault(conn: asyncpg.Connection | asyncpg.Pool, project_id: str, vault_id: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT * FROM vaults WHERE vault_id = $1 AND project_id = $2 AND deleted_at IS NULL", vault_id, project_id
    )
    if row is None:
        raise Refusal(VAULT_NOT_FOUND, f"vault {vault_id} not found", status=404)
    return row


async def views(conn: asyncpg.Connection | asyncpg.Pool, rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    """The vaults of ``rows`` in the shape of CBR's Vault, with their resources and used capacity."""
    ids = [r["vault_id"] for r in rows]
    resources = await conn.fetch(
        "SELECT r.vault_id, r.resource_id, r.resource_type, coalesce(s.name, '') AS name, "
        "coalesce((SELECT sum((d->>'size_gb')::int) FROM jsonb_array_elements(s.disks) d), 0) AS size_gb, "
        "(SELECT count(*) FROM backups b WHERE b.vault_id = r.vault_id AND b.resource_id = r.resource_id "
        " AND b.project_id = r.project_id AND b.deleted_at IS NULL) AS backup_count, "
        "(SELECT coalesce(sum(b.size_gb), 0) FROM backups b WHERE b.vault_id = r.vault_id "
        " AND b.resource_id = r.resource_id AND b.project_id = r.project_id AND b.deleted_at IS NULL) AS backup_gb "
        "FROM vault_resources r LEFT JOIN servers s ON s.server_id = r.resource_id AND s.project_id = r.project_id "
        "WHERE r.vault_id = ANY ($1::text[]) ORDER BY r.added_at, r.resource_id",
        ids,
    )
    used = {
        r["vault_id"]: int(r["used"])
        for r in await conn.fetch(
            "SELECT b.vault_id, sum(b.size_gb) AS used FROM backups b JOIN vaults v ON v.vault_id = b.vault_id "
            "AND v.project_id = b.project_id WHERE b.vault_id = ANY ($1::text[]) AND b.deleted_at IS NULL "
            "GROUP BY b.vault_id",
            ids,
        )
    }
    by_vault: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        by_vault.setdefault(r["vault_id"], []).append(
            {
                "id": r["resource_id"],
                "type": r["resource_type"],
                "name": r["name"],
                "protect_status": "available",
                "size": int(r["size_gb"]),
                "backup_count": int(r["backup_count"]),
                "backup_size": int(r["backup_gb"]) * MB_PER_GB,
                "auto_protect": False,
                "extra_info": {"exclude_volumes": [], "include_volumes": []},
            }
        )
    return [vault_view(row, by_vault.get(row["vault_id"], []), used.get(row["vault_id"], 0)) for row in rows]


def vault_view(row: asyncpg.Record, resources: list[dict[str, Any]], used_gb: int) -> dict[str, Any]:
    """CBR's Vault: ``billing.size`` is its capacity (GB), ``billing.used`` what its backups take (MB, as CBR counts
    it), ``billing.allocated`` the size of the servers it holds (GB, what backing each up once takes)."""
    billing = dict(row["billing"] or {})
    return {
        "id": row["vault_id"],
        "name": row["name"],
        "description": row["description"],
        "project_id": row["project_id"],
        "provider_id": "0daac4c5-6707-4851-97ba-169e36266b66",
        "billing": {
            "cloud_type": billing.get("cloud_type", "public"),
            "consistent_level": billing.get("consistent_level", "crash_consistent"),
            "object_type": billing.get("object_type", "server"),
            "protect_type": billing.get("protect_type", "backup"),
            "charging_mode": billing.get("charging_mode", "post_paid"),
            "size": row["size_gb"],
            "used": used_gb * MB_PER_GB,
            "allocated": sum(r["size"] for r in resources),
            "status": "available",
            "spec_code": "vault.backup.server.normal",
            "storage_unit": "",
            "order_id": None,
            "product_id": None,
            "frozen_scene": None,
            "is_multi_az": False,
        },
        "resources": resources,
        "tags": [],
        "enterprise_project_id": row["enterprise_project_id"],
        "auto_bind": row["auto_bind"],
        "bind_rules": {},
        "auto_expand": row["auto_expand"],
        "smn_notify": row["smn_notify"],
        "threshold": row["threshold"],
        "locked": row["locked"],
        "created_at": row["created_at"].strftime("%Y-%m-%dT%H:%M:%S.%f"),
    }
