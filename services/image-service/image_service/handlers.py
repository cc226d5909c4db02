"""Event handlers of image-service. Each runs inside the consumer's transaction with its inbox row."""

from dataclasses import dataclass
from functools import partial
from typing import Any

import asyncpg

from image_service import repository
from image_service.context import ImageService
from image_service.creation import Run, advance, fail_job
from image_service.domain import (
    BackupFacts,
    ImageJob,
    ImageRequest,
    check_stopped_ecs_not_started,
    image_deletion_reason,
    resolve_enterprise_project,
    validate_request,
)
from image_service.errors import DELETED_DURING_CREATION
from ims_shared.consumer import EventHandlers, HandlerContext
from ims_shared.event_auth import Forbidden
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
from ims_shared.refusal import Refusal


def event_handlers() -> EventHandlers[ImageService]:
    """The events of full-ECS image creation and deletion (``replication.event_handlers`` has the replicas')."""
    return (
        EventHandlers[ImageService]()
        .on_runs(BackupCreated, on_backups_created)
        .on_runs(BackupDeleted, on_backups_deleted)
        .on_runs(ImageRequested, on_images_requested)
        .on(ServerBackupFailed, on_server_backup_failed)
        .on(AccountStateChanged, on_account_state_changed)
        .on(ServerStateChanged, on_server_state_changed)
    )


def _first_event_of_each_backup(
    run: list[tuple[HandlerContext[ImageService], Any]],
) -> dict[str | None, HandlerContext[ImageService]]:
    return {event.backup_id: ctx for ctx, event in reversed(run)}


async def on_backups_created(run: list[tuple[HandlerContext[ImageService], BackupCreated]]) -> None:
    """Record the run's backups of this region with one statement, then move on the jobs waiting for them."""
    mine = [(ctx, event) for ctx, event in run if ctx.for_this_region]
    if not mine:
        return
    conn, ic = mine[0][0].conn, mine[0][0].service
    waiting = await repository.record_backups_and_waiting_jobs(conn, [(c.event.projectid, e) for c, e in mine])
    await advance(conn, ic, waiting, _first_event_of_each_backup(mine))


async def on_backups_deleted(run: list[tuple[HandlerContext[ImageService], BackupDeleted]]) -> None:
    """The run's backups of this region are gone: their images are deleted (ImageDeleted, reason arrears or
    backup_deleted: ``domain.image_deletion_reason``) with one statement, an image still being made stopping its job
    first; then the jobs waiting for any of them fail. Part of the arrears cascade: docs/architecture.md, section
    "Arrears: grace, frozen, released"."""
    mine = [(ctx, event) for ctx, event in run if ctx.for_this_region]
    if not mine:
        return
    conn, ic = mine[0][0].conn, mine[0][0].service
    backups = [event.backup_id for _, event in mine]
    owners = await repository.backup_projects(conn, backups)
    for ctx, event in mine:
        if owners.get(event.backup_id, ctx.event.projectid) != ctx.event.projectid:
            raise Forbidden(f"backup {event.backup_id} is not a backup of project {ctx.event.projectid!r}")
    images: dict[str, list[asyncpg.Record]] = {}
    for image in await repository.mark_backups_deleted_and_lock_images(conn, backups):
        images.setdefault(image["backup_id"], []).append(image)
    deleted: list[tuple[HandlerContext[ImageService], asyncpg.Record, ImageDeletionReason]] = []
    for ctx, event in mine:
        reason = image_deletion_reason(event.reason)
        for image in images.pop(event.backup_id, []):
            if image["status"] in ("queued", "saving"):
                with ctx.activated():
                    await delete_image(
                        conn, ic, image, delete_backup=False, reason=reason, correlation_id=ctx.event.correlationid
                    )
                continue
            deleted.append((ctx, image, reason))
    if deleted:
        await repository.mark_images_deleted(conn, [(image["image_id"], reason) for _, image, reason in deleted])
        for ctx, image, reason in deleted:
            with ctx.activated():
                correlation_id = ctx.event.correlationid
                await _emit_deleted(ic, conn, image, delete_backup=False, reason=reason, correlation_id=correlation_id)
    waiting = await repository.jobs_naming_backups(conn, backups)
    await advance(conn, ic, waiting, _first_event_of_each_backup(mine))


@dataclass
class _Request:
    """An ImageRequested, read: the job it names or derives (as it would be inserted), its tenant's account, and why
    it is refused before any backup is looked at."""

    ctx: HandlerContext[ImageService]
    event: ImageRequested
    job: ImageJob
    account_id: str | None
    refused: Refusal | None


def _read_request(ic: ImageService, ctx: HandlerContext[ImageService], event: ImageRequested) -> _Request:
    project_id = ctx.event.projectid
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
    refused: Refusal | None = None
    tags: list[dict[str, str]] = []
    try:
        if tenant is None:
            raise Refusal("IMG.0001", f"project {project_id} belongs to no known tenant")
        tags = validate_request(request, policy=tenant.tag_policy, enterprise_projects=tenant.enterprise_projects)
        enterprise_project = resolve_enterprise_project(request.enterprise_project_id, tenant.enterprise_projects)
    except Refusal as exc:
        refused, enterprise_project = exc, "0"
    job = ImageJob(
        job_id=event.job_id or derived_id(ctx.event.id, "job"),
        image_id=event.image_id or derived_id(ctx.event.id, "image"),
        project_id=project_id,
        backup_id=event.backup_id,
        request={
            "name": event.name,
            "backup_id": event.backup_id,
            "description": event.description,
            "enterprise_project_id": enterprise_project,
            "tags": tags,
            "min_ram": event.min_ram,
            "max_ram": event.max_ram,
        },
        correlation_id=ctx.event.correlationid,
    )
    return _Request(ctx, event, job, tenant.account_id if tenant else None, refused)


async def on_images_requested(run: list[tuple[HandlerContext[ImageService], ImageRequested]]) -> None:
    """Read what the run's requests need with one statement (the jobs that exist, locked, the accounts' states, the
    backups), decide each request's job in order (``domain.decide``: its image made, a wait for its backup, or a
    failure), then write them, a new job once in the state it ends in, and emit each outcome in order
    (``creation.Run``). An API-created job is found and moved on; a job a second event names is decided on as the
    first left it."""
    ic = run[0][0].service
    requests = [_read_request(ic, ctx, event) for ctx, event in run if ctx.for_this_region]
    if not requests:
        return
    conn = run[0][0].conn
    facts = await repository.request_facts(
        conn,
        [r.job.job_id for r in requests],
        [r.account_id for r in requests],
        [r.event.backup_id for r in requests],
    )
    decisions = Run(ic)
    for r in requests:
        job = decisions.job(r.job.job_id) or facts.jobs.get(r.job.job_id) or r.job
        account_state, backup = await _facts_of(conn, ic, facts, job)
        decisions.decide(
            job,
            account_state,
            backup,
            new=r.job.job_id not in facts.jobs,
            ctx=r.ctx,
            refused=r.refused,
            again=partial(on_images_requested, [(r.ctx, r.event)]),
        )
    await decisions.carry_out(conn)


async def _facts_of(
    conn: asyncpg.Connection, ic: ImageService, facts: repository.RequestFacts, job: ImageJob
) -> tuple[str | None, BackupFacts | None]:
    """The account state and the backup ``job`` is decided on: those of its own project and backup, which the run's
    read has, unless an event names a job of another project or backup (read now)."""
    account = ic.account_of(job.project_id)
    if account in facts.account_states and job.backup_id in facts.backups:
        return facts.account_states[account], facts.backups[job.backup_id]
    return await repository.account_state_and_backup(conn, account, job.backup_id)


async def on_server_backup_failed(ctx: HandlerContext[ImageService], event: ServerBackupFailed) -> None:
    job = await repository.lock_job(ctx.conn, event.job_id)
    if job is not None and job["status"] == "INIT":
        await fail_job(ctx.conn, ctx.service, job, Refusal(event.error_code, event.reason))


async def on_account_state_changed(ctx: HandlerContext[ImageService], event: AccountStateChanged) -> None:
    """The account projection: a frozen account makes nothing new (``domain.check_account``). Part of the arrears
    cascade: docs/architecture.md, section "Arrears: grace, frozen, released"."""
    await repository.set_account_state(ctx.conn, event.account_id, event.state)


async def on_server_state_changed(ctx: HandlerContext[ImageService], event: ServerStateChanged) -> None:
    """An ECS started while an image is made from a backup taken while it was stopped fails that creation
        (``domain.check_stopped_ecs_not_started``): the image is deleted and its job fails. Only the images of the
    project the event names: another project's ECS is not this event's to start."""
    if not ctx.for_this_region:
        return
    for image in await repository.saving_images_of_server(ctx.conn, ctx.event.projectid, event.server_id):
        try:
            check_stopped_ecs_not_started(event.server_id, image["server_state"], event.state)
        except Refusal as refusal:
            job = await repository.lock_job(ctx.conn, image["job_id"])
            await repository.mark_image_deleted(ctx.conn, image["image_id"], "creation_failed")
            if job is not None:
                await fail_job(ctx.conn, ctx.service, job, refusal)


async def delete_image(
    conn: asyncpg.Connection,
    ic: ImageService,
    image: asyncpg.Record,
    *,
    delete_backup: bool,
    reason: ImageDeletionReason,
    correlation_id: str | None = None,
) -> None:
    """Delete a full-ECS image; one still being created stops its creation first (its job fails, IMG.0204). "When
    deleting a full-ECS image, you can choose whether to delete the associated CBR backup.": ``delete_backup``, which
    the ImageDeleted carries to backup-service (it deletes the backup, or keeps it, usable and billed)."""
    if image["status"] in ("queued", "saving"):
        job = await repository.lock_job(conn, image["job_id"])
        if job is not None:
            await repository.job_failed(
                conn, job["job_id"], DELETED_DURING_CREATION, "the image was deleted while it was being created"
            )
    await repository.mark_image_deleted(conn, image["image_id"], reason)
    await _emit_deleted(ic, conn, image, delete_backup=delete_backup, reason=reason, correlation_id=correlation_id)


async def _emit_deleted(
    ic: ImageService,
    conn: asyncpg.Connection,
    image: asyncpg.Record,
    *,
    delete_backup: bool,
    reason: ImageDeletionReason,
    correlation_id: str | None = None,
) -> None:
    await ic.emitter.emit(
        conn,
        ImageDeleted(
            image_id=image["image_id"], backup_id=image["backup_id"], delete_backup=delete_backup, reason=reason
        ),
        project_id=image["project_id"],
        correlation_id=correlation_id,
    )
