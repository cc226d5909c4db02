"""Cross-region replication of full-ECS images in image-service.

As the source region: ``POST /v1/cloudimages/{image_id}/cross_region_copy`` checks the request, records the job
(``jobs``, job type ``imsCrossRegionCopyWholeImageJob``) and asks replication-service for the copy
(``ReplicationRequested``); the job follows ``ReplicationStarted`` / ``ReplicationSucceeded`` /
``ReplicationFailed``.

As the destination region: ``ReplicaBackupRecorded`` (the backup copy is recorded) makes the replica image, active
at once, with its backup in the projection, and answers ``ReplicaRecorded`` or ``ReplicaFailed``; a
``ReplicaFailed`` (refusal or timeout) makes sure no replica image stays.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from image_service import repository
from image_service.context import ImageService, Service, Who
from image_service.creation import emit_created
from image_service.domain import (
    REPLICATION_JOB,
    BackupFacts,
    check_account,
    new_image,
    validate_description,
    validate_name,
)
from image_service.errors import BACKUP_NOT_FOUND, IMAGE_NOT_FOUND, INVALID_PARAMETER
from ims_shared.consumer import EventHandlers, HandlerContext
from ims_shared.events import ImageDeleted, ImageTag
from ims_shared.events.backups import BackupDisk, ServerInfo
from ims_shared.events.replication import (
    BackupCopy,
    ReplicaBackupRecorded,
    ReplicaFailed,
    ReplicaRecorded,
    ReplicatedImage,
    ReplicationFailed,
    ReplicationRequested,
    ReplicationStarted,
    ReplicationSucceeded,
)
from ims_shared.refusal import Refusal
from ims_shared.replication_rules import (
    IMAGE_NOT_ACTIVE,
    NO_DESTINATION_PROJECT,
    REPLICA_CONFLICT,
    ReplicationPolicy,
    check_not_a_replica,
    check_vault,
)
from ims_shared.tenants import Tenant

router = APIRouter()


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


class CopyImageCrossRegionBody(BaseModel):
    """The SDK's CopyImageCrossRegionRequestBody."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(max_length=255)
    description: str | None = Field(default=None, max_length=4096)
    region: str | None = Field(default=None, max_length=64)
    project_name: str | None = Field(default=None, max_length=255)
    vault_id: str | None = Field(default=None, max_length=64)
    agency_name: str | None = Field(default=None, max_length=255)


def destination_project_of(tenant: Tenant, destination: str, project_name: str | None) -> str:
    """The tenant's project in the destination region; ``project_name``, when given, must name it."""
    project_id = tenant.project_in(destination)
    if project_id is None:
        raise Refusal(
            NO_DESTINATION_PROJECT,
            f"the tenant has no project in region {destination}: create one there before replicating images to it",
        )
    if project_name and project_name not in (destination, project_id):
        raise Refusal(
            INVALID_PARAMETER,
            f"project_name {project_name!r} is not the tenant's project in region {destination} (use {destination!r})",
        )
    return project_id


async def lock_project(conn: asyncpg.Connection, project_id: str) -> None:
    """Serialise the in-flight check of one project until the end of the transaction."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('ims-replication:' || $1, 0))", project_id)


async def replications_under_way(conn: asyncpg.Connection, project_id: str) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM jobs WHERE project_id = $1 AND job_type = $2 AND status IN ('INIT', 'RUNNING')",
        project_id,
        REPLICATION_JOB,
    )
    return count


@dataclass(frozen=True)
class Admitted:
    """A source image that may be replicated now, with its backup (rows of this service's database)."""

    image: asyncpg.Record
    backup: asyncpg.Record


async def admit(
    conn: asyncpg.Connection, ic: ImageService, policy: ReplicationPolicy, project_id: str, image_id: str
) -> Admitted:
    """The checks that need the database, in the request's transaction. Raises the IMS rejection, or the 404.

    The in-flight count is taken under a per-project lock held to the end of the transaction, which also
    records the new job: concurrent requests of one project cannot both take the last place.
    """
    image = await repository.get_image(conn, image_id)
    if image is None or image["project_id"] != project_id:
        raise Refusal(IMAGE_NOT_FOUND, f"image {image_id} not found", status=404)
    check_account(await ic.account_state_of(conn, project_id), before="replicating images")
    if image["status"] != "active":
        raise Refusal(IMAGE_NOT_ACTIVE, f"image {image_id} is {image['status']}: only active images can be replicated")
    check_not_a_replica(image_id, image["replicated_from_region"])
    policy.check_size(image["size_gb"])
    backup = await conn.fetchrow(
        "SELECT * FROM backup_projection WHERE backup_id = $1 AND NOT deleted", image["backup_id"]
    )
    if backup is None:
        raise Refusal(BACKUP_NOT_FOUND, f"the CBR backup {image['backup_id']} of the image is gone")
    await lock_project(conn, project_id)
    policy.check_in_flight(await replications_under_way(conn, project_id))
    return Admitted(image, backup)


def replication_request(
    admitted: Admitted, body: CopyImageCrossRegionBody, *, job_id: str, destination: str, vault_id: str
) -> ReplicationRequested:
    image, backup = admitted.image, admitted.backup
    return ReplicationRequested(
        job_id=job_id,
        source_image_id=image["image_id"],
        source_backup_id=backup["backup_id"],
        destination_region=destination,
        replica_image_id=str(uuid.uuid4()),
        name=body.name,
        description=body.description or "",
        vault_id=vault_id,
        agency_name=body.agency_name,
        image=ReplicatedImage(
            name=image["name"],
            description=image["description"],
            os_type=image["os_type"],
            os_version=image["os_version"],
            min_disk=image["min_disk"],
            min_ram=image["min_ram"],
            max_ram=image["max_ram"],
            size_gb=image["size_gb"],
            disks=[BackupDisk.model_validate(d) for d in image["disks"] or []],
            tags=[ImageTag.model_validate(t) for t in image["tags"] or []],
            enterprise_project_id=image["enterprise_project_id"],
            server_state=image["server_state"],
            replicated_from_region=image["replicated_from_region"],
        ),
        backup=BackupCopy(
            name=backup["name"],
            resource_id=backup["resource_id"],
            resource_type=backup["resource_type"],
            size_gb=backup["size_gb"],
            server=ServerInfo.model_validate(backup["server"]) if backup["server"] else None,
            disks=[BackupDisk.model_validate(d) for d in backup["disks"] or []],
        ),
    )


async def record_request(
    conn: asyncpg.Connection,
    ic: ImageService,
    event: ReplicationRequested,
    project_id: str,
    body: CopyImageCrossRegionBody,
) -> None:
    """The job (its entity is the replica image) and the request to replication-service, in one transaction."""
    emitted = await ic.emitter.emit(conn, event, project_id=project_id)
    await repository.insert_job(
        conn,
        job_id=event.job_id,
        project_id=project_id,
        image_id=event.replica_image_id,
        image_name=event.name,
        backup_id=None,  # not the source backup: a job waiting for a backup is a creation job
        request={
            "source_image_id": event.source_image_id,
            "source_backup_id": event.source_backup_id,
            "region": event.destination_region,
            "project_name": body.project_name,
            "vault_id": event.vault_id,
            "agency_name": body.agency_name,
            "name": event.name,
            "description": event.description,
        },
        correlation_id=emitted.id,
        job_type=REPLICATION_JOB,
    )


@router.post("/v1/cloudimages/{image_id}/cross_region_copy")
async def copy_image_cross_region(
    image_id: str, body: CopyImageCrossRegionBody, service: Service, who: Who
) -> dict[str, str]:
    policy = service.replication
    validate_name(body.name)
    validate_description(body.description or "")
    vault_id = check_vault(body.vault_id)
    destination = policy.check_destination(service.settings.region, body.region)
    destination_project_of(who.tenant, destination, body.project_name)
    async with service.database.transaction() as conn:
        admitted = await admit(conn, service, policy, who.project_id, image_id)
        job_id = str(uuid.uuid4())
        event = replication_request(admitted, body, job_id=job_id, destination=destination, vault_id=vault_id)
        await record_request(conn, service, event, who.project_id, body)
    return {"job_id": job_id}


# -- the source region: the job follows replication-service ------------------------------------------------------
async def on_replication_started(ctx: HandlerContext[ImageService], event: ReplicationStarted) -> None:
    if ctx.for_this_region:
        await ctx.conn.execute(
            "UPDATE jobs SET status = 'RUNNING' WHERE job_id = $1 AND job_type = $2 AND status = 'INIT'",
            event.job_id,
            REPLICATION_JOB,
        )


async def on_replication_succeeded(ctx: HandlerContext[ImageService], event: ReplicationSucceeded) -> None:
    if ctx.for_this_region:
        await ctx.conn.execute(
            "UPDATE jobs SET status = 'SUCCESS', end_time = now(), image_id = $3 "
            "WHERE job_id = $1 AND job_type = $2 AND status IN ('INIT', 'RUNNING')",
            event.job_id,
            REPLICATION_JOB,
            event.replica_image_id,
        )


async def on_replication_failed(ctx: HandlerContext[ImageService], event: ReplicationFailed) -> None:
    if ctx.for_this_region:
        await ctx.conn.execute(
            "UPDATE jobs SET status = 'FAIL', error_code = $3, fail_reason = $4, end_time = now() "
            "WHERE job_id = $1 AND job_type = $2 AND status IN ('INIT', 'RUNNING')",
            event.job_id,
            REPLICATION_JOB,
            event.error_code,
            event.reason,
        )


# -- the destination region: the replica image ---------------------------------------------------------------------
async def _cancelled(conn: asyncpg.Connection, job_id: str) -> bool:
    return await conn.fetchval("SELECT 1 FROM replica_cancellations WHERE job_id = $1", job_id) is not None


async def _cancel(
    conn: asyncpg.Connection, event: ReplicaBackupRecorded | ReplicaFailed, code: str, reason: str
) -> None:
    await conn.execute(
        "INSERT INTO replica_cancellations (job_id, replica_image_id, error_code, reason) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (job_id) DO NOTHING",
        event.job_id,
        event.replica_image_id,
        code,
        reason,
    )


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
    taken = await ctx.conn.fetchrow("SELECT job_id FROM images WHERE image_id = $1", event.replica_image_id)
    if taken is not None:
        raise Refusal(REPLICA_CONFLICT, f"an image with id {event.replica_image_id} already exists")
    await repository.upsert_backup(ctx.conn, project_id, event.backup_created(ctx.event.time))
    backup = await repository.get_backup(ctx.conn, event.replica_backup_id)
    if backup is None or backup.deleted or backup.project_id != project_id:
        raise Refusal(BACKUP_NOT_FOUND, f"the backup copy {event.replica_backup_id} is not available")
    return backup


async def _refuse(ctx: HandlerContext[ImageService], event: ReplicaBackupRecorded, rejection: Refusal) -> None:
    await _cancel(ctx.conn, event, rejection.code, rejection.message)
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
    if not ctx.for_this_region or await _cancelled(ctx.conn, event.job_id):
        return
    made = await ctx.conn.fetchval(
        "SELECT 1 FROM images WHERE job_id = $1 AND replicated_from_image_id IS NOT NULL", event.job_id
    )
    if made is not None:
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
    await _cancel(ctx.conn, event, event.error_code, event.reason)
    image = await repository.lock_image(ctx.conn, event.replica_image_id)
    if image is None or image["deleted_at"] is not None or image["job_id"] != event.job_id:
        return
    await repository.mark_image_deleted(ctx.conn, image["image_id"], "replication_rollback")
    await ctx.emit(
        ImageDeleted(image_id=image["image_id"], backup_id=image["backup_id"], reason="replication_rollback")
    )
