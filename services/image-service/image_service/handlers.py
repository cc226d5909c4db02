"""Event handlers of image-service. Each runs inside the consumer's transaction with its inbox row."""

from dataclasses import dataclass
from typing import Any

import asyncpg

from image_service import repository
from image_service.context import ImageService
from image_service.creation import (
    active_at_once,
    advance,
    backup_wait_deadline,
    emit_created,
    fail_job,
    waits_for_its_backup,
)
from image_service.domain import (
    BackupFacts,
    ImageRequest,
    backup_already_used,
    check_stopped_ecs_not_started,
    image_deletion_reason,
    resolve_enterprise_project,
    validate_request,
)
from image_service.errors import DELETED_DURING_CREATION
from ims_shared.consumer import EventHandlers, HandlerContext
from ims_shared.db import json_rows
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


async def on_backups_created(run: list[tuple[HandlerContext[ImageService], BackupCreated]]) -> None:
    """Record the run's backups of this region with one statement, then move on the jobs waiting for them."""
    mine = [(ctx, event) for ctx, event in run if ctx.for_this_region]
    if not mine:
        return
    conn, ic = mine[0][0].conn, mine[0][0].service
    waiting = await repository.record_backups_and_waiting_jobs(conn, [(c.event.projectid, e) for c, e in mine])
    if not waiting:
        return
    by_backup = {event.backup_id: ctx for ctx, event in reversed(mine)}  # the first event of each backup
    accounts = {job["project_id"]: ic.account_of(job["project_id"]) for job, _ in waiting}
    states = await repository.account_states(conn, [a for a in set(accounts.values()) if a is not None])
    ready: list[tuple[HandlerContext[ImageService], asyncpg.Record, dict[str, Any]]] = []
    for job, backup in waiting:
        account = accounts[job["project_id"]]
        values = None
        if backup is not None and job["job_type"] == repository.WHOLE_IMAGE_JOB:
            values = active_at_once(ic, job, states.get(account) if account else None, backup)
        if values is not None:
            ready.append((by_backup[job["backup_id"]], job, values))
            continue
        await _insert_ready(conn, ic, ready)
        await advance(conn, ic, job["job_id"])
    await _insert_ready(conn, ic, ready)


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
    for job_id in await repository.jobs_waiting_for_any(conn, backups):
        await advance(conn, ic, job_id)


@dataclass
class _Request:
    """An ImageRequested, read: the ids it names or derives, its tenant's account and the job's stored request, or
    why it is refused before any backup is looked at."""

    ctx: HandlerContext[ImageService]
    event: ImageRequested
    image_id: str
    job_id: str
    account_id: str | None
    stored: dict[str, Any]
    rejection: Refusal | None

    def job(self) -> dict[str, Any]:
        """The job's row, as ``repository.insert_jobs`` takes it (without its type and ``wait_until``)."""
        return {
            "job_id": self.job_id,
            "project_id": self.ctx.event.projectid,
            "image_id": self.image_id,
            "image_name": self.event.name,
            "backup_id": self.event.backup_id,
            "request": self.stored,
            "correlation_id": self.ctx.event.correlationid,
            "account_id": self.account_id,
        }


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
    rejection: Refusal | None = None
    tags: list[dict[str, str]] = []
    try:
        if tenant is None:
            raise Refusal("IMG.0001", f"project {project_id} belongs to no known tenant")
        tags = validate_request(request, policy=tenant.tag_policy, enterprise_projects=tenant.enterprise_projects)
        enterprise_project = resolve_enterprise_project(request.enterprise_project_id, tenant.enterprise_projects)
    except Refusal as exc:
        rejection, enterprise_project = exc, "0"
    return _Request(
        ctx=ctx,
        event=event,
        image_id=event.image_id or derived_id(ctx.event.id, "image"),
        job_id=event.job_id or derived_id(ctx.event.id, "job"),
        account_id=tenant.account_id if tenant else None,
        stored={
            "name": event.name,
            "backup_id": event.backup_id,
            "description": event.description,
            "enterprise_project_id": enterprise_project,
            "tags": tags,
            "min_ram": event.min_ram,
            "max_ram": event.max_ram,
        },
        rejection=rejection,
    )


@dataclass
class _NewJob:
    """A request whose job is new (``job``, as it is inserted), and what becomes of it once inserted: its image made
    at once (``image``), a wait for its backup (the job's ``wait_until``), a refusal, or ``advance`` with the facts
    read."""

    request: _Request
    job: dict[str, Any]
    account_state: str | None
    backup: BackupFacts | None
    image: dict[str, Any] | None = None
    then_advance: bool = False


class JobAppeared(RuntimeError):
    """A job id was taken between reading the batch's facts and inserting its jobs: the batch is handled again one
    event at a time (``ims_shared.consumer``), and the event then finds the job."""


async def on_images_requested(run: list[tuple[HandlerContext[ImageService], ImageRequested]]) -> None:
    """Read what the run's requests need with one statement, then insert their jobs, and the images that can be made
    at once, with another: such a job is written once, in SUCCESS, and a job that waits for its backup is written
    waiting. A job that existed already, and a new job ``advance`` moves on, go event by event, after the jobs
    before them are inserted, so the outcome is that of handling the events in order."""
    ic = run[0][0].service
    requests = [_read_request(ic, ctx, event) for ctx, event in run if ctx.for_this_region]
    if not requests:
        return
    conn = run[0][0].conn
    facts = await repository.request_facts(
        conn,
        [r.job_id for r in requests],
        [r.account_id for r in requests],
        [r.event.backup_id for r in requests],
    )
    known_jobs = set(facts.existing_jobs)  # and, as they are met, the jobs of this run: a second event finds its job
    pending: list[_NewJob] = []
    for request in requests:
        if request.job_id in known_jobs:
            await _insert_jobs(conn, ic, pending)
            with request.ctx.activated():
                await _advance_existing(request)
            continue
        known_jobs.add(request.job_id)
        state = facts.account_states.get(request.account_id) if request.account_id else None
        job = {**request.job(), "job_type": repository.WHOLE_IMAGE_JOB, "wait_until": None}
        new = _NewJob(request, job, state, facts.backups.get(request.event.backup_id))
        pending.append(new)
        if request.rejection is not None:
            continue
        new.image = active_at_once(ic, job, state, new.backup)
        if new.image is None and waits_for_its_backup(job, state, new.backup):
            job["wait_until"] = backup_wait_deadline(ic)
        elif new.image is None:
            new.then_advance = True  # it may make an image: the ones after it wait for it
            await _insert_jobs(conn, ic, pending)
    await _insert_jobs(conn, ic, pending)


async def _insert_jobs(conn: asyncpg.Connection, ic: ImageService, pending: list[_NewJob]) -> None:
    """Insert the pending new jobs with their images, then, in order, emit ImageCreated for each image made, fail
    each job refused (or whose image a unique index refused, as ``advance`` would) and advance the others."""
    if not pending:
        return
    inserted, succeeded = await repository.insert_jobs(
        conn,
        [new.job for new in pending],
        [new.image for new in pending if new.image is not None],
    )
    for new in pending:
        request = new.request
        if request.job_id not in inserted:
            raise JobAppeared(f"job {request.job_id} was inserted by another transaction meanwhile")
        job = new.job
        with request.ctx.activated():
            if request.rejection is not None:
                await fail_job(conn, ic, job, request.rejection)
            elif new.image is not None and request.job_id in succeeded:
                await emit_created(conn, ic, new.image, request.ctx.event.correlationid)
            elif new.image is not None:
                await fail_job(conn, ic, job, backup_already_used(new.image["backup_id"]))
            elif new.then_advance:
                await advance(conn, ic, request.job_id, (job, new.account_state, new.backup))
    pending.clear()


async def _insert_ready(
    conn: asyncpg.Connection,
    ic: ImageService,
    ready: list[tuple[HandlerContext[ImageService], asyncpg.Record, dict[str, Any]]],
) -> None:
    """Insert the images made at once of waiting jobs (their jobs succeed with them) and emit ImageCreated for each,
    in order; an image a unique index refuses fails its job, as ``advance`` would."""
    if not ready:
        return
    inserted = await repository.insert_active_images(conn, json_rows(values for _, _, values in ready))
    for ctx, job, values in ready:
        with ctx.activated():
            if values["image_id"] in inserted:
                await emit_created(conn, ic, values, job["correlation_id"])
            else:
                await fail_job(conn, ic, job, backup_already_used(values["backup_id"]))
    ready.clear()


async def _advance_existing(request: _Request) -> None:
    """An event naming a job that exists: a refusal fails it while it is in INIT; otherwise ``advance``."""
    ctx, ic = request.ctx, request.ctx.service
    if request.rejection is not None:
        job = await repository.lock_job(ctx.conn, request.job_id)
        if job is not None and job["status"] == "INIT":
            await fail_job(ctx.conn, ic, job, request.rejection)
        return
    await advance(ctx.conn, ic, request.job_id)


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
    (``domain.check_stopped_ecs_not_started``): the image is deleted and its job fails."""
    if not ctx.for_this_region:
        return
    for image in await repository.saving_images_of_server(ctx.conn, event.server_id):
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
