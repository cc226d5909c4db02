"""Cross-region replication of full-ECS images, the handlers of image-service (``api_replication`` has the API).

As the source region: the job (``imsCrossRegionCopyWholeImageJob``) follows replication-service's
``ReplicationStarted`` / ``ReplicationSucceeded`` / ``ReplicationFailed``.

As the destination region: ``ReplicaBackupRecorded`` (the backup copy is recorded) makes the replica image, active
at once, with its backup in the projection, and answers ``ReplicaRecorded`` or ``ReplicaFailed``; a
``ReplicaFailed`` (refusal or timeout) makes sure no replica image stays.
"""

from datetime import UTC, datetime

from image_service import repository
from image_service.context import ImageService
from image_service.creation import emit_created
from image_service.domain import BackupFacts, check_account, new_image, validate_description, validate_name
from image_service.errors import BACKUP_NOT_FOUND
from ims_shared.consumer import EventHandlers, HandlerContext
from ims_shared.event_auth import Forbidden
from ims_shared.events import ImageDeleted
from ims_shared.events.replication import (
    ReplicaBackupRecorded,
    ReplicaFailed,
    ReplicaRecorded,
    ReplicationFailed,
    ReplicationStarted,
    ReplicationSucceeded,
)
from ims_shared.refusal import Refusal
from ims_shared.replication_rules import NO_DESTINATION_PROJECT, REPLICA_CONFLICT


def event_handlers() -> EventHandlers[ImageService]:
    """The events of a replication: of its job, in the source region; of its replica image, in the destination."""
    return (
        EventHandlers[ImageService]()
        .on(ReplicationStarted, on_replication_started)
        .on(ReplicationSucceeded, on_replication_succeeded)
        .on(ReplicationFailed, on_replication_failed)
        .on(ReplicaBackupRecorded, on_replica_backup_recorded)
        .on(ReplicaFailed, on_replica_failed)
    )


# -- the source region: the job follows replication-service ------------------------------------------------------
async def on_replication_started(ctx: HandlerContext[ImageService], event: ReplicationStarted) -> None:
    if ctx.for_this_region:
        await repository.replication_running(ctx.conn, event.job_id)


async def on_replication_succeeded(ctx: HandlerContext[ImageService], event: ReplicationSucceeded) -> None:
    if ctx.for_this_region:
        await repository.replication_succeeded(ctx.conn, event.job_id, event.replica_image_id)


async def on_replication_failed(ctx: HandlerContext[ImageService], event: ReplicationFailed) -> None:
    if ctx.for_this_region:
        await repository.replication_failed(ctx.conn, event.job_id, event.error_code, event.reason)


# -- the destination region: the replica image ---------------------------------------------------------------------
async def _check_replica(ctx: HandlerContext[ImageService], event: ReplicaBackupRecorded) -> BackupFacts:
    """What the destination insists on, whoever sent the copy; raises the IMS rejection. Returns the backup copy,
    recorded in the projection."""
    ic = ctx.service
    project_id = ctx.event.projectid
    tenant = ic.tenants.by_project(project_id)
    if tenant is None or tenant.project_in(ctx.emitter.region) != project_id:
        raise Refusal(NO_DESTINATION_PROJECT, f"project {project_id} is no tenant's project in this region")
    check_account(await ic.account_state_of(ctx.conn, project_id), before="replicating images")
    validate_name(event.name)
    validate_description(event.description)
    if await repository.image_id_taken(ctx.conn, event.replica_image_id):
        raise Refusal(REPLICA_CONFLICT, f"an image with id {event.replica_image_id} already exists")
    await repository.upsert_backup(ctx.conn, project_id, event.backup_created(ctx.event.time))
    backup = await repository.get_backup(ctx.conn, event.replica_backup_id)
    if backup is None or backup.deleted or backup.project_id != project_id:
        raise Refusal(BACKUP_NOT_FOUND, f"the backup copy {event.replica_backup_id} is not available")
    return backup


async def _refuse(ctx: HandlerContext[ImageService], event: ReplicaBackupRecorded, rejection: Refusal) -> None:
    await repository.cancel_replica(ctx.conn, event.job_id, event.replica_image_id, rejection.code, rejection.message)
    await ctx.emit(
        ReplicaFailed(
            job_id=event.job_id,
            source_region=event.source_region,
            source_image_id=event.source_image_id,
            source_backup_id=event.source_backup_id,
            replica_image_id=event.replica_image_id,
            replica_backup_id=event.replica_backup_id,
            stage="image",
            error_code=rejection.code,
            reason=rejection.message,
        )
    )


async def on_replica_backup_recorded(ctx: HandlerContext[ImageService], event: ReplicaBackupRecorded) -> None:
    """The backup copy is recorded here: the replica image becomes active at once (it copies an active image)."""
    if not ctx.for_this_region or await repository.replica_cancelled(ctx.conn, event.job_id):
        return
    if await repository.replica_made(ctx.conn, event.job_id):
        return  # the same copy sent again
    try:
        backup = await _check_replica(ctx, event)
    except Refusal as rejection:
        await _refuse(ctx, event, rejection)
        return
    source = event.image
    image = new_image(
        image_id=event.replica_image_id,
        project_id=ctx.event.projectid,
        job_id=event.job_id,
        asked={
            "name": event.name,
            "description": event.description,
            "enterprise_project_id": source.enterprise_project_id,
            "tags": [t.model_dump() for t in source.tags],
            "min_ram": source.min_ram,
            "max_ram": source.max_ram,
        },
        backup=backup,
        build_s=0,
        now=datetime.now(UTC),
        replica_of=event.source_image_id,
    )
    if not await repository.insert_images(ctx.conn, [image]):
        await _refuse(
            ctx,
            event,
            Refusal(REPLICA_CONFLICT, f"the backup copy {event.replica_backup_id} already has a full-ECS image"),
        )
        return
    await emit_created(ctx.conn, ctx.service, image, ctx.event.correlationid or ctx.event.id)
    await ctx.emit(
        ReplicaRecorded(
            job_id=event.job_id,
            source_region=event.source_region,
            source_image_id=event.source_image_id,
            source_backup_id=event.source_backup_id,
            replica_image_id=event.replica_image_id,
            replica_backup_id=event.replica_backup_id,
        )
    )


async def on_replica_failed(ctx: HandlerContext[ImageService], event: ReplicaFailed) -> None:
    """The replication failed: a copy that arrives late makes nothing, and a replica already made goes."""
    if not ctx.for_this_region:
        return
    await repository.cancel_replica(ctx.conn, event.job_id, event.replica_image_id, event.error_code, event.reason)
    image = await repository.lock_image(ctx.conn, event.replica_image_id)
    if image is None or image["deleted_at"] is not None or image["job_id"] != event.job_id:
        return
    if image["project_id"] != ctx.event.projectid:
        raise Forbidden(f"image {image['image_id']} is not an image of project {ctx.event.projectid!r}")
    await repository.mark_image_deleted(ctx.conn, image["image_id"], "replication_rollback")
    await ctx.emit(
        ImageDeleted(image_id=image["image_id"], backup_id=image["backup_id"], reason="replication_rollback")
    )
