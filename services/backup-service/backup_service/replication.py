"""Cross-region replication in backup-service, as the destination region.

``ReplicaRequested`` records the copy of the image's backup in the tenant's project of this region, in the vault
it names (one of that project's vaults here, with room for the copy; else the replication fails with the reason),
as a backup of this region, billed here (``BackupCreated``), and hands the image over to image-service
(``ReplicaBackupRecorded``).
``ReplicaFailed`` rolls the copy back (``BackupDeleted``, reason ``replication_rollback``), the way every deletion
goes here (a locked vault defers it).
"""

import asyncpg

from backup_service import oplogs, repository, vaults
from backup_service.context import BackupService
from backup_service.handlers import delete_backup
from ims_shared.consumer import EventHandlers, HandlerContext
from ims_shared.events.replication import ReplicaBackupRecorded, ReplicaFailed, ReplicaRequested
from ims_shared.refusal import Refusal
from ims_shared.replication_rules import REPLICA_CONFLICT


def event_handlers() -> EventHandlers[BackupService]:
    """The destination region's side of a replication: the backup copy, and its rollback."""
    return (
        EventHandlers[BackupService]().on(ReplicaRequested, on_replica_requested).on(ReplicaFailed, on_replica_failed)
    )


async def _copy_of(
    conn: asyncpg.Connection, event: ReplicaRequested | ReplicaFailed, project_id: str
) -> asyncpg.Record | None:
    """The backup copy this replication made here, locked."""
    return await conn.fetchrow(
        "SELECT backup_id, deleted_at FROM backups WHERE backup_id = $1 AND project_id = $2 "
        "AND replicated_from_region = $3 AND replicated_from_backup_id = $4 FOR UPDATE",
        event.replica_backup_id,
        project_id,
        event.source_region,
        event.source_backup_id,
    )


def _refused(event: ReplicaRequested, code: str, reason: str) -> ReplicaFailed:
    return ReplicaFailed(
        job_id=event.job_id,
        source_region=event.source_region,
        source_image_id=event.source_image_id,
        source_backup_id=event.source_backup_id,
        replica_image_id=event.replica_image_id,
        replica_backup_id=event.replica_backup_id,
        stage="backup",
        error_code=code,
        reason=reason,
    )


async def _check_vault(ctx: HandlerContext[BackupService], event: ReplicaRequested) -> Refusal | None:
    """The copy goes into ``vault_id``, a vault of the destination project here with room for it; else why not."""
    try:
        vault = await vaults.lock_vault(ctx.conn, ctx.event.projectid, event.vault_id)
        vaults.check_room(vault, await vaults.used_gb(ctx.conn, vault), event.backup.size_gb)
    except Refusal as refused:
        if refused.code == vaults.VAULT_NOT_FOUND:
            where = f"project {ctx.event.projectid} of {ctx.service.settings.region}"
            return Refusal(
                refused.code,
                f"vault {event.vault_id} is not a vault of {where}: create one there (CBR "
                "CreateVault) and name it as the copy's vault_id",
            )
        return refused
    return None


async def on_replica_requested(ctx: HandlerContext[BackupService], event: ReplicaRequested) -> None:
    """Record the backup copy in the destination project's vault (one of its vaults with room for it, or the
    replication fails with the reason: ``_check_vault``) and hand the image over to image-service."""
    if not ctx.for_this_region:
        return
    project_id = ctx.event.projectid
    if await repository.lock_backup(ctx.conn, event.replica_backup_id) is not None:
        if await _copy_of(ctx.conn, event, project_id) is not None:
            return  # the same copy sent again
        reason = f"a different backup with id {event.replica_backup_id} already exists"
        await ctx.emit(_refused(event, REPLICA_CONFLICT, reason))
        return
    refused = await _check_vault(ctx, event)
    if refused is not None:
        await ctx.emit(_refused(event, refused.code, refused.message))
        return
    copy = event.backup_created(ctx.event.time)
    await repository.record_backups(ctx.conn, [(project_id, copy)])
    # Reserved for the replica image: its owner cannot delete the copy from under the image.
    await repository.set_image(ctx.conn, copy.backup_id, event.replica_image_id)
    extra = {
        "source_region": event.source_region,
        "source_backup_id": event.source_backup_id,
        "destination_region": ctx.service.settings.region,
        "destination_backup_id": copy.backup_id,
        "destination_project_id": project_id,
    }
    await oplogs.finished(ctx.conn, [copy.backup_id], "replication", extra=extra)
    await ctx.emit(copy)
    await ctx.emit(ReplicaBackupRecorded.model_validate(event.model_dump()))


async def on_replica_failed(ctx: HandlerContext[BackupService], event: ReplicaFailed) -> None:
    """Roll back the backup copy of a failed replication (whatever failed: the image, or the whole job in time)."""
    if ctx.for_this_region and await _copy_of(ctx.conn, event, ctx.event.projectid) is not None:
        await oplogs.failed_later(ctx.conn, event.replica_backup_id, "replication", (event.error_code, event.reason))
        await delete_backup(ctx, event.replica_backup_id, "replication_rollback")
