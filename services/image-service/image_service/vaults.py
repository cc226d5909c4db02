"""image-service's projection of the region's CBR vaults (backup-service's ``VaultCreated`` and ``VaultDeleted``):
a shared full-ECS image is accepted only into a vault of the recipient's project (``check_vault``)."""

import asyncpg

from image_service.context import ImageService
from ims_shared.consumer import EventHandlers, HandlerContext
from ims_shared.event_auth import Forbidden
from ims_shared.events.backups import VaultCreated, VaultDeleted
from ims_shared.refusal import Refusal

VAULT_NOT_FOUND = "IMG.0250"


def event_handlers() -> EventHandlers[ImageService]:
    return EventHandlers[ImageService]().on(VaultCreated, on_vault_created).on(VaultDeleted, on_vault_deleted)


async def on_vault_created(ctx: HandlerContext[ImageService], event: VaultCreated) -> None:
    if ctx.for_this_region and not await record_vault(ctx.conn, event.vault_id, ctx.event.projectid, deleted=False):
        raise Forbidden(f"vault {event.vault_id} is not a vault of project {ctx.event.projectid!r}")


async def on_vault_deleted(ctx: HandlerContext[ImageService], event: VaultDeleted) -> None:
    if ctx.for_this_region and not await record_vault(ctx.conn, event.vault_id, ctx.event.projectid, deleted=True):
        raise Forbidden(f"vault {event.vault_id} is not a vault of project {ctx.event.projectid!r}")


async def record_vault(conn: asyncpg.Connection, vault_id: str, project_id: str, *, deleted: bool) -> bool:
    """The vault of ``project_id`` exists or is gone; False (and nothing changed) when the id is another project's."""
    done = await conn.fetchval(
        "INSERT INTO vault_projection (vault_id, project_id, deleted) VALUES ($1, $2, $3) "
        "ON CONFLICT (vault_id) DO UPDATE SET deleted = EXCLUDED.deleted, updated_at = now() "
        "WHERE vault_projection.project_id = EXCLUDED.project_id RETURNING 1",
        vault_id,
        project_id,
        deleted,
    )
    return done is not None


async def check_vault(conn: asyncpg.Connection, project_id: str, vault_id: str) -> None:
    """Refuse ``vault_id`` unless it is a vault of ``project_id`` in this region (as far as backup-service has told)."""
    known = await conn.fetchval(
        "SELECT 1 FROM vault_projection WHERE vault_id = $1 AND project_id = $2 AND NOT deleted", vault_id, project_id
    )
    if not known:
        raise Refusal(
            VAULT_NOT_FOUND,
            f"vault {vault_id} is not a CBR vault of project {project_id}: create one (CBR CreateVault) and accept "
            "the image into it",
        )
