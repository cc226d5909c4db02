"""Event handlers of backup-service. Each runs inside the consumer's transaction with its inbox row."""

from backup_service import held, repository
from backup_service.checkpoints import mark_server_deleted, register_server, set_server_state, start_checkpoint
from backup_service.context import BackupService
from backup_service.deleting import request_deletion, set_vault_lock
from backup_service.domain import BackupState, deletion_for_arrears
from backup_service.held import HeldEvent
from ims_shared.consumer import EventHandlers, HandlerContext
from ims_shared.event_auth import Forbidden
from ims_shared.events import (
    BackupArrears,
    BackupCreated,
    BackupDeleted,
    ImageCreated,
    ImageDeleted,
    ServerBackupFailed,
    ServerBackupRequested,
    ServerDeleted,
    ServerRegistered,
    ServerStateChanged,
)
from ims_shared.events.backups import BackupDeletionReason, VaultLockChanged
from ims_shared.logging import get_logger
from ims_shared.refusal import Refusal

log = get_logger(__name__)


def event_handlers() -> EventHandlers[BackupService]:
    """The events of the region's backups, their images, arrears and servers (``replication.event_handlers`` has the
    replicas')."""
    return (
        EventHandlers[BackupService]()
        .on_runs(BackupCreated, on_backups_created)
        .on_runs(ImageCreated, on_images_created)
        .on_runs(ImageDeleted, on_images_deleted)
        .on_runs(BackupArrears, on_backups_in_arrears)
        .on(VaultLockChanged, on_vault_lock_changed)
        .on(ServerRegistered, on_server_registered)
        .on(ServerStateChanged, on_server_state_changed)
        .on(ServerDeleted, on_server_deleted)
        .on(ServerBackupRequested, on_server_backup_requested)
    )


async def on_backups_created(run: list[tuple[HandlerContext[BackupService], BackupCreated]]) -> None:
    """Record the run's backups of this region with one statement, then apply what was held for each new one."""
    mine = [(ctx, event) for ctx, event in run if ctx.for_this_region]
    if not mine:
        return
    conn = mine[0][0].conn
    recorded = await repository.record_backups(conn, [(ctx.event.projectid, event) for ctx, event in mine])
    released = await held.release(conn, [event.backup_id for _, event in mine if event.backup_id in recorded])
    for ctx, event in mine:
        early_events = released.pop(event.backup_id, [])
        if early_events:
            with ctx.activated():
                for early in early_events:
                    await _apply_released(ctx, early)  # the backup is known now: it was recorded in this transaction


async def on_images_created(run: list[tuple[HandlerContext[BackupService], ImageCreated]]) -> None:
    """Name each backup's image with one statement; an event whose backup is not known yet (or a run naming a
    backup twice, where order decides) goes through ``_apply_or_hold`` one by one."""
    backups = [event.backup_id for _, event in run]
    known = set()
    if len(set(backups)) == len(backups):
        named = [(event.backup_id, event.image_id, ctx.event.projectid) for ctx, event in run]
        known = await repository.set_images(run[0][0].conn, named)
    for ctx, event in run:
        if event.backup_id not in known:
            with ctx.activated():
                held_event = HeldEvent(
                    event.backup_id,
                    "image_created",
                    event.image_id,
                    False,
                    ctx.event.correlationid,
                    ctx.event.projectid,
                )
                await _apply_or_hold(ctx, held_event)


async def on_images_deleted(run: list[tuple[HandlerContext[BackupService], ImageDeleted]]) -> None:
    """Forget each backup's image with one statement; an event whose backup is not known yet, or that deletes its
    backup too (or a run naming a backup twice, where order decides), goes through ``_apply_or_hold`` one by one.
    Arrears cascade (an image deleted for arrears): docs/architecture.md, "Arrears: grace, frozen, released"."""
    backups = [event.backup_id for _, event in run]
    known = set()
    if len(set(backups)) == len(backups):
        plain = [(e.backup_id, e.image_id, c.event.projectid) for c, e in run if not e.delete_backup]
        known = await repository.clear_images(run[0][0].conn, plain) if plain else set()
    for ctx, event in run:
        if event.backup_id not in known:
            with ctx.activated():
                correlation = ctx.event.correlationid
                held_event = HeldEvent(
                    event.backup_id,
                    "image_deleted",
                    event.image_id,
                    event.delete_backup,
                    correlation,
                    ctx.event.projectid,
                )
                await _apply_or_hold(ctx, held_event)


async def on_backups_in_arrears(run: list[tuple[HandlerContext[BackupService], BackupArrears]]) -> None:
    """Delete the run's backups of this region (``domain.deletion_for_arrears``): those known, whose vault is not
    locked, with one statement; the others (unknown yet, in a locked vault, or named twice in the run) through
    ``_apply_or_hold`` one by one. Arrears cascade: docs/architecture.md, "Arrears: grace, frozen, released"."""
    mine = [(ctx, event) for ctx, event in run if ctx.for_this_region]
    if not mine:
        return
    for ctx, event in mine:
        check_account_owns_project(ctx, event.account_id)
    conn = mine[0][0].conn
    backups = [event.backup_id for _, event in mine]
    states = await repository.lock_backups(conn, backups) if len(set(backups)) == len(backups) else {}
    deleted: list[tuple[HandlerContext[BackupService], str, BackupDeleted]] = []
    for ctx, event in mine:
        state, vault_locked = states.get(event.backup_id, (None, True))
        if state is None or vault_locked:
            with ctx.activated():
                arrears = HeldEvent(
                    event.backup_id, "arrears", None, False, ctx.event.correlationid, ctx.event.projectid
                )
                await _apply_or_hold(ctx, arrears)
            continue
        check_backup_of_project(state, ctx.event.projectid)
        gone = deletion_for_arrears(state)
        if gone is not None:
            deleted.append((ctx, state.project_id, gone))
    if not deleted:
        return
    await repository.mark_many_deleted(conn, [gone.backup_id for _, _, gone in deleted], "arrears")
    for ctx, project_id, gone in deleted:
        with ctx.activated():
            await ctx.emitter.emit(conn, gone, project_id=project_id, correlation_id=ctx.event.correlationid)


def check_account_owns_project(ctx: HandlerContext[BackupService], account_id: str) -> None:
    """A BackupArrears names the account in arrears: it must be the account of the project it names (whoever sent
    it, an operator's billing system included), or it is refused (``Forbidden``)."""
    tenant = ctx.service.tenants.by_project(ctx.event.projectid)
    if tenant is None or tenant.account_id != account_id:
        raise Forbidden(f"account {account_id!r} does not own project {ctx.event.projectid!r}")


def check_backup_of_project(backup: BackupState, project_id: str | None) -> None:
    """An event about a backup acts only on a backup of the project it names; else it is refused (``Forbidden``)."""
    if project_id is not None and backup.project_id != project_id:
        raise Forbidden(f"backup {backup.backup_id} is not a backup of project {project_id!r}")


async def _apply_or_hold(ctx: HandlerContext[BackupService], event: HeldEvent) -> None:
    """Apply ``event`` to its backup, or hold it until the backup is recorded. The backup's held-events lock
    orders this against ``on_backups_created``: whichever commits first, the other sees it."""
    if await _apply(ctx, event):
        return
    await held.lock(ctx.conn, event.backup_id)
    if not await _apply(ctx, event):
        await held.hold(ctx.conn, event, ctx.event.id)


async def _apply(ctx: HandlerContext[BackupService], event: HeldEvent) -> bool:
    """Apply ``event``; False (and nothing done) when its backup is not known. It acts only on a backup of the
    project it named (``check_backup_of_project``); the image's deletion takes the backup with it only when it asks
    to (``domain.check_owner_may_delete``) and names no other image than the one the backup was used for. Arrears
    cascade (a BackupArrears held for its backup): docs/architecture.md, "Arrears: grace, frozen, released"."""
    backup = await repository.lock_backup(ctx.conn, event.backup_id)
    if backup is None:
        return False
    check_backup_of_project(backup, event.project_id)
    if event.kind == "image_created":
        assert event.image_id is not None
        return await repository.set_image(ctx.conn, event.backup_id, event.image_id)
    if event.kind == "image_deleted":
        assert event.image_id is not None
        if event.delete_backup and backup.image_id not in (None, event.image_id):
            raise Forbidden(f"image {event.image_id} is not the full-ECS image of backup {event.backup_id}")
        await repository.clear_image(ctx.conn, event.backup_id, event.image_id)
        if event.delete_backup:
            await delete_backup(ctx, event.backup_id, "image_deleted", event.correlation_id)
        return True
    return await delete_backup(ctx, event.backup_id, "arrears", event.correlation_id)


async def _apply_released(ctx: HandlerContext[BackupService], event: HeldEvent) -> None:
    """Apply an event held for a backup just recorded; one that names another project's backup, or an image that
    is not the backup's, changes nothing (its own event was accepted long ago: it is logged, not dead-lettered)."""
    try:
        await _apply(ctx, event)
    except Forbidden as refused:
        log.warning("held event refused", backup_id=event.backup_id, kind=event.kind, reason=str(refused))


async def delete_backup(
    ctx: HandlerContext[BackupService], backup_id: str, reason: BackupDeletionReason, correlation_id: str | None = None
) -> bool:
    """Delete the backup for ``reason``; False when it is not known."""
    backup = await repository.lock_backup(ctx.conn, backup_id)
    if backup is None:
        return False
    correlation = correlation_id or ctx.event.correlationid
    await request_deletion(ctx.conn, ctx.emitter, ctx.service.settings, backup, reason, correlation)
    return True


async def on_vault_lock_changed(ctx: HandlerContext[BackupService], event: VaultLockChanged) -> None:
    if ctx.for_this_region:
        await set_vault_lock(ctx.conn, event.vault_id, event.locked)


async def on_server_registered(ctx: HandlerContext[BackupService], event: ServerRegistered) -> None:
    if ctx.for_this_region and not await register_server(ctx.conn, ctx.event.projectid, event.model_dump(mode="json")):
        raise Forbidden(f"ECS {event.server_id} is not an ECS of project {ctx.event.projectid!r}")


async def on_server_state_changed(ctx: HandlerContext[BackupService], event: ServerStateChanged) -> None:
    if ctx.for_this_region and not await set_server_state(ctx.conn, ctx.event.projectid, event.server_id, event.state):
        raise Forbidden(f"ECS {event.server_id} is not an ECS of project {ctx.event.projectid!r}")


async def on_server_deleted(ctx: HandlerContext[BackupService], event: ServerDeleted) -> None:
    if ctx.for_this_region and not await mark_server_deleted(ctx.conn, ctx.event.projectid, event.server_id):
        raise Forbidden(f"ECS {event.server_id} is not an ECS of project {ctx.event.projectid!r}")


async def on_server_backup_requested(ctx: HandlerContext[BackupService], event: ServerBackupRequested) -> None:
    """Back up an ECS for a full-ECS image job; a refusal is told back so the job fails with its reason."""
    if not ctx.for_this_region:
        return
    if await repository.backup_exists(ctx.conn, event.backup_id):
        return
    try:
        await start_checkpoint(
            ctx.conn,
            project_id=ctx.event.projectid,
            server_id=event.server_id,
            vault_id=event.vault_id,
            name=event.name,
            duration_s=ctx.service.settings.checkpoint_s,
            backup_id=event.backup_id,
            job_id=event.job_id,
        )
    except Refusal as refused:
        await ctx.emit(
            ServerBackupFailed(
                server_id=event.server_id,
                backup_id=event.backup_id,
                job_id=event.job_id,
                error_code=refused.code,
                reason=refused.message,
            )
        )
