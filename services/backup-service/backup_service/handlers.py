"""Event handlers of backup-service. Each runs inside the consumer's transaction with its inbox row."""

from backup_service import repository
from backup_service.checkpoints import CheckpointRefused, register_server, set_server_state, start_checkpoint
from backup_service.deleting import request_deletion, set_vault_lock
from backup_service.settings import BackupSettings
from ims_shared.consumer import EventHandlers, HandlerContext
from ims_shared.events import (
    BackupArrears,
    BackupCreated,
    ImageCreated,
    ImageDeleted,
    ServerBackupFailed,
    ServerBackupRequested,
    ServerRegistered,
    ServerStateChanged,
)
from ims_shared.events.backups import BackupDeletionReason, VaultLockChanged

handlers = EventHandlers()


@handlers.on(BackupCreated)
async def on_backup_created(ctx: HandlerContext, event: BackupCreated) -> None:
    if ctx.for_this_region:
        await repository.record_backup(ctx.conn, ctx.event.projectid, event)


@handlers.on(ImageCreated)
async def on_image_created(ctx: HandlerContext, event: ImageCreated) -> None:
    await repository.set_image(ctx.conn, event.backup_id, event.image_id)


@handlers.on(ImageDeleted)
async def on_image_deleted(ctx: HandlerContext, event: ImageDeleted) -> None:
    await repository.set_image(ctx.conn, event.backup_id, None, only_if=event.image_id)
    if event.delete_backup:
        await delete_backup(ctx, event.backup_id, "image_deleted")


@handlers.on(BackupArrears)
async def on_backup_arrears(ctx: HandlerContext, event: BackupArrears) -> None:
    if ctx.for_this_region:
        await delete_backup(ctx, event.backup_id, "arrears")


async def delete_backup(ctx: HandlerContext, backup_id: str, reason: BackupDeletionReason) -> None:
    backup = await repository.lock_backup(ctx.conn, backup_id)
    if backup is not None:
        settings: BackupSettings = ctx.services
        await request_deletion(ctx.conn, ctx.emitter, settings, backup, reason, ctx.event.correlationid)


@handlers.on(VaultLockChanged)
async def on_vault_lock_changed(ctx: HandlerContext, event: VaultLockChanged) -> None:
    if ctx.for_this_region:
        await set_vault_lock(ctx.conn, event.vault_id, event.locked)


@handlers.on(ServerRegistered)
async def on_server_registered(ctx: HandlerContext, event: ServerRegistered) -> None:
    if ctx.for_this_region:
        await register_server(ctx.conn, ctx.event.projectid, event.model_dump(mode="json"))


@handlers.on(ServerStateChanged)
async def on_server_state_changed(ctx: HandlerContext, event: ServerStateChanged) -> None:
    if ctx.for_this_region:
        await set_server_state(ctx.conn, event.server_id, event.state)


@handlers.on(ServerBackupRequested)
async def on_server_backup_requested(ctx: HandlerContext, event: ServerBackupRequested) -> None:
    """Back up an ECS for a full-ECS image job; a refusal is told back so the job fails with its reason."""
    if not ctx.for_this_region:
        return
    if await repository.backup_exists(ctx.conn, event.backup_id):
        return
    settings: BackupSettings = ctx.services
    try:
        await start_checkpoint(
            ctx.conn,
            project_id=ctx.event.projectid,
            server_id=event.server_id,
            vault_id=event.vault_id,
            name=event.name,
            duration_s=settings.checkpoint_s,
            backup_id=event.backup_id,
            job_id=event.job_id,
        )
    except CheckpointRefused as refused:
        await ctx.emit(
            ServerBackupFailed(
                server_id=event.server_id,
                backup_id=event.backup_id,
                job_id=event.job_id,
                error_code=refused.code,
                reason=refused.message,
            )
        )
