"""Event handlers of image-service. Each runs inside the consumer's transaction with its inbox row."""

from typing import Any

import asyncpg

from image_service import repository
from image_service.creation import ImageContext, advance, fail_job
from image_service.domain import ImageRequest, resolve_enterprise_project, validate_request
from image_service.errors import SERVER_STARTED, ImsRejection
from ims_shared.consumer import EventHandlers, HandlerContext
from ims_shared.events import (
    AccountStateChanged,
    BackupCreated,
    BackupDeleted,
    ImageDeleted,
    ImageRequested,
    ServerBackupFailed,
    ServerStateChanged,
    derived_id,
)
from ims_shared.events.images import ImageDeletionReason

handlers = EventHandlers()


def _ic(ctx: HandlerContext) -> ImageContext:
    ic: ImageContext = ctx.services
    return ic


@handlers.on(BackupCreated)
async def on_backup_created(ctx: HandlerContext, event: BackupCreated) -> None:
    if not ctx.for_this_region:
        return
    for job_id in await repository.record_backup_and_waiting_jobs(ctx.conn, ctx.event.projectid, event):
        await advance(ctx.conn, _ic(ctx), job_id)


@handlers.on(BackupDeleted)
async def on_backup_deleted(ctx: HandlerContext, event: BackupDeleted) -> None:
    if not ctx.for_this_region:
        return
    reason: ImageDeletionReason = "arrears" if event.reason == "arrears" else "backup_deleted"
    for image in await repository.mark_backup_deleted_and_lock_images(ctx.conn, event.backup_id):
        await delete_image(
            ctx.conn, _ic(ctx), image, delete_backup=False, reason=reason, correlation_id=ctx.event.correlationid
        )
    for job_id in await repository.jobs_waiting_for(ctx.conn, event.backup_id):
        await advance(ctx.conn, _ic(ctx), job_id)


@handlers.on(ImageRequested)
async def on_image_requested(ctx: HandlerContext, event: ImageRequested) -> None:
    if not ctx.for_this_region:
        return
    ic = _ic(ctx)
    project_id = ctx.event.projectid
    image_id = event.image_id or derived_id(ctx.event.id, "image")
    job_id = event.job_id or derived_id(ctx.event.id, "job")
    tenant = ic.tenants.by_project(project_id)
    request = ImageRequest(
        name=event.name,
        backup_id=event.backup_id,
        whole_image_type=event.whole_image_type,
        description=event.description,
        enterprise_project_id=event.enterprise_project_id,
        image_tags=[t.model_dump() for t in event.image_tags],
        min_ram=event.min_ram,
        max_ram=event.max_ram,
    )
    rejection: ImsRejection | None = None
    tags: list[dict[str, str]] = []
    try:
        if tenant is None:
            raise ImsRejection("IMG.0001", f"project {project_id} belongs to no known tenant")
        tags = validate_request(request, policy=tenant.tag_policy, enterprise_projects=tenant.enterprise_projects)
        enterprise_project = resolve_enterprise_project(request.enterprise_project_id, tenant.enterprise_projects)
    except ImsRejection as exc:
        rejection, enterprise_project = exc, "0"
    stored: dict[str, Any] = {
        "name": event.name,
        "backup_id": event.backup_id,
        "description": event.description,
        "enterprise_project_id": enterprise_project,
        "tags": tags,
        "min_ram": event.min_ram,
        "max_ram": event.max_ram,
    }
    # The API inserts its job before it emits the ImageRequested: then the row exists, and advance locks it.
    created = await repository.create_job(
        ctx.conn,
        job_id=job_id,
        project_id=project_id,
        image_id=image_id,
        image_name=event.name,
        backup_id=event.backup_id,
        request=stored,
        correlation_id=ctx.event.correlationid,
        account_id=tenant.account_id if tenant else None,
    )
    if rejection is not None:
        job = created[0] if created else await repository.lock_job(ctx.conn, job_id)
        if job is not None and job["status"] == "INIT":
            await fail_job(ctx.conn, ic, job, rejection)
        return
    await advance(ctx.conn, ic, job_id, created)


@handlers.on(ServerBackupFailed)
async def on_server_backup_failed(ctx: HandlerContext, event: ServerBackupFailed) -> None:
    job = await repository.lock_job(ctx.conn, event.job_id)
    if job is not None and job["status"] == "INIT":
        await fail_job(ctx.conn, _ic(ctx), job, ImsRejection(event.error_code, event.reason))


@handlers.on(AccountStateChanged)
async def on_account_state_changed(ctx: HandlerContext, event: AccountStateChanged) -> None:
    await repository.set_account_state(ctx.conn, event.account_id, event.state)


@handlers.on(ServerStateChanged)
async def on_server_state_changed(ctx: HandlerContext, event: ServerStateChanged) -> None:
    """A server that was SHUTOFF when imaging began must not be started meanwhile: such a creation fails."""
    if not ctx.for_this_region or event.state != "ACTIVE":
        return
    ic = _ic(ctx)
    for image in await repository.saving_images_of_server(ctx.conn, event.server_id):
        if image["server_state"] != "SHUTOFF":
            continue
        job = await repository.lock_job(ctx.conn, image["job_id"])
        await repository.mark_image_deleted(ctx.conn, image["image_id"], "creation_failed")
        if job is not None:
            await fail_job(
                ctx.conn,
                ic,
                job,
                ImsRejection(
                    SERVER_STARTED,
                    f"ECS {event.server_id} was started while its full-ECS image was being created from a backup "
                    "taken while it was stopped; the image would be inconsistent. Keep the ECS stopped and retry.",
                ),
            )


async def delete_image(
    conn: asyncpg.Connection,
    ic: ImageContext,
    image: asyncpg.Record,
    *,
    delete_backup: bool,
    reason: ImageDeletionReason,
    correlation_id: str | None = None,
) -> None:
    """Delete a full-ECS image; one still being created stops its creation first (its job fails)."""
    if image["status"] in ("queued", "saving"):
        job = await repository.lock_job(conn, image["job_id"])
        if job is not None:
            await repository.job_failed(
                conn, job["job_id"], "IMG.0204", "the image was deleted while it was being created"
            )
    await repository.mark_image_deleted(conn, image["image_id"], reason)
    await ic.emitter.emit(
        conn,
        ImageDeleted(
            image_id=image["image_id"], backup_id=image["backup_id"], delete_backup=delete_backup, reason=reason
        ),
        project_id=image["project_id"],
        correlation_id=correlation_id,
    )
