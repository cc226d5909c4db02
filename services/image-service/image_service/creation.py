"""The creation workflow of a full-ECS image: a job waits for its backup, the image is queued, saved, and
becomes active (or the job fails with the IMS code). Used by the event handlers and the background loops;
every function runs inside the caller's transaction."""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from image_service import repository
from image_service.context import ImageService
from image_service.domain import (
    BackupFacts,
    backup_already_used,
    check_account,
    check_backup,
    check_configured,
    min_disk_of,
)
from image_service.errors import BACKUP_NOT_FOUND
from ims_shared.events import ImageCreated, ImageCreationFailed
from ims_shared.refusal import Refusal


def _now() -> datetime:
    return datetime.now(UTC)


async def advance(
    conn: asyncpg.Connection,
    ic: ImageService,
    job_id: str,
    known: tuple[Mapping[str, Any], str | None, BackupFacts | None] | None = None,
) -> None:
    """Move a job in INIT forward: wait for its backup, fail it, or create its image. ``known`` is the job's row
    with its account's state and its backup when the caller has just read them (``handlers.on_images_requested``)."""
    if known is None:
        job = await repository.lock_job(conn, job_id)
        if job is None or job["status"] != "INIT" or job["job_type"] != repository.WHOLE_IMAGE_JOB:
            return
        account_state, backup = await repository.account_state_and_backup(
            conn, ic.account_of(job["project_id"]), job["backup_id"]
        )
    else:
        job, account_state, backup = known
    try:
        check_account(account_state)
        if backup is None:
            if job["wait_until"] is None:
                await repository.wait_for_backup(conn, job_id, backup_wait_deadline(ic))
            return
        check_backup(backup, job["project_id"])
        check_configured(backup)
    except Refusal as rejection:
        await fail_job(conn, ic, job, rejection)
        return
    await _create_image(conn, ic, job, backup)


def image_values(ic: ImageService, job: Mapping[str, Any], backup: BackupFacts) -> dict[str, Any]:
    """The ``images`` row of a job's image: queued and saved at once (status ``saving`` until ``ready_at``); with no
    build time (IMAGE_BUILD_S=0) active at once, its history listing every status it passed through."""
    request: dict[str, Any] = job["request"]
    server = backup.server or {}
    now = _now()
    build_s = ic.settings.image_build_s
    history = [{"status": "queued", "at": now.isoformat()}, {"status": "saving", "at": now.isoformat()}]
    if build_s <= 0:
        history.append({"status": "active", "at": now.isoformat()})
    values: dict[str, Any] = {
        "image_id": job["image_id"],
        "project_id": job["project_id"],
        "backup_id": backup.backup_id,
        "job_id": job["job_id"],
        "name": request["name"],
        "description": request.get("description") or "",
        "status": "saving" if build_s > 0 else "active",
        "enterprise_project_id": request.get("enterprise_project_id") or "0",
        "tags": request.get("tags") or [],
        "min_ram": request.get("min_ram") or 0,
        "max_ram": request.get("max_ram") or 0,
        "os_type": server.get("os_type"),
        "os_version": server.get("os_version"),
        "min_disk": min_disk_of(backup),
        "size_gb": backup.size_gb,
        "disks": backup.disks,
        "server_state": server.get("state"),
        "resource_id": backup.resource_id,
        "shared_from_project_id": backup.shared_from_project_id,
        "replicated_from_region": backup.replicated_from_region,
        "ready_at": now + timedelta(seconds=max(build_s, 0)),
        "status_history": history,
    }
    if build_s <= 0:
        values["active_at"] = now
    return values


def backup_wait_deadline(ic: ImageService) -> datetime:
    """Until when a job whose backup is not known yet waits for its BackupCreated."""
    return _now() + timedelta(seconds=ic.settings.backup_wait_s)


def waits_for_its_backup(job: Mapping[str, Any], account_state: str | None, backup: BackupFacts | None) -> bool:
    """Whether ``advance`` would only start the job's wait for its backup (not known yet; the account may create)."""
    if backup is not None or job["wait_until"] is not None:
        return False
    try:
        check_account(account_state)
    except Refusal:
        return False
    return True


def active_at_once(
    ic: ImageService, job: Mapping[str, Any], account_state: str | None, backup: BackupFacts | None
) -> dict[str, Any] | None:
    """The image row of a new job whose image can be made and is active at once (no build time), or None when
    ``advance`` has anything else to do (wait for the backup, fail the job, build for a while)."""
    if ic.settings.image_build_s > 0 or backup is None:
        return None
    try:
        check_account(account_state)
        check_backup(backup, job["project_id"])
        check_configured(backup)
    except Refusal:
        return None
    return image_values(ic, job, backup)


async def _create_image(
    conn: asyncpg.Connection, ic: ImageService, job: Mapping[str, Any], backup: BackupFacts
) -> None:
    """Insert the job's image; with no build time the job succeeds in the same statement, without a second look at
    either row."""
    values = image_values(ic, job, backup)
    if ic.settings.image_build_s > 0:
        if not await repository.insert_image(conn, values):
            await fail_job(conn, ic, job, backup_already_used(backup.backup_id))
            return
        await repository.job_running(conn, job["job_id"])
        return
    if not await repository.insert_active_image(conn, values):
        await fail_job(conn, ic, job, backup_already_used(backup.backup_id))
        return
    await emit_created(conn, ic, values, job["correlation_id"])


async def complete(conn: asyncpg.Connection, ic: ImageService, image: asyncpg.Record) -> None:
    """Complete: "When the image status changes to Normal, the image creation is complete." The image's data is saved:
    it becomes active ("Normal") and its job succeeds."""
    await repository.set_image_status(conn, image["image_id"], "active", active_at=_now())
    await repository.job_succeeded(conn, image["job_id"])
    job = await repository.lock_job(conn, image["job_id"])
    await emit_created(conn, ic, image, job["correlation_id"] if job else None)


async def emit_created(
    conn: asyncpg.Connection, ic: ImageService, image: Mapping[str, Any], correlation_id: str | None
) -> None:
    await ic.emitter.emit(
        conn,
        ImageCreated(
            image_id=image["image_id"],
            job_id=image["job_id"],
            backup_id=image["backup_id"],
            name=image["name"],
            os_type=image["os_type"],
            min_disk=image["min_disk"],
            size_gb=image["size_gb"],
        ),
        project_id=image["project_id"],
        correlation_id=correlation_id,
    )


async def fail_job(conn: asyncpg.Connection, ic: ImageService, job: Mapping[str, Any], rejection: Refusal) -> None:
    await repository.job_failed(conn, job["job_id"], rejection.code, rejection.message)
    await ic.emitter.emit(
        conn,
        ImageCreationFailed(
            image_id=job["image_id"],
            job_id=job["job_id"],
            backup_id=job["backup_id"] or "",
            error_code=rejection.code,
            fail_reason=rejection.message,
        ),
        project_id=job["project_id"],
        correlation_id=job["correlation_id"],
    )


async def finish_ready_images(conn: asyncpg.Connection, ic: ImageService) -> int:
    images = await repository.ready_images(conn)
    for image in images:
        await complete(conn, ic, image)
    return len(images)


async def expire_waits(conn: asyncpg.Connection, ic: ImageService) -> int:
    """Resume the waiting jobs whose backup has arrived meanwhile, then fail those that waited too long.

    Resuming closes a race between two image-service processes of one consumer group: one handles the
    ImageRequested (no backup yet: the job waits) while the other handles the backup's BackupCreated and looks for
    waiting jobs before the first has committed. Neither sees the other's row, so without this pass the job would
    wait until it expires although its backup is known.
    """
    for job_id in await repository.waiting_jobs_with_backup(conn):
        await advance(conn, ic, job_id)
    jobs = await repository.expired_waits(conn)
    for job in jobs:
        await fail_job(
            conn,
            ic,
            job,
            Refusal(
                BACKUP_NOT_FOUND,
                f"the CBR backup {job['backup_id']} does not exist (no BackupCreated within "
                f"{ic.settings.backup_wait_s:g} s)",
            ),
        )
    return len(jobs)
