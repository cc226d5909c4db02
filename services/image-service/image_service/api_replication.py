"""Cross-region replication of full-ECS images, the API of the source region: ``POST
/v1/cloudimages/{image_id}/cross_region_copy`` checks the request (``ims_shared.replication_rules``, the account, the
image), records the job (``jobs``, job type ``imsCrossRegionCopyWholeImageJob``) and asks replication-service for the
copy (``ReplicationRequested``), in one transaction. ``replication`` has the handlers that follow the job and make
the replica in the destination region."""

import uuid
from dataclasses import dataclass

import asyncpg
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from image_service import repository
from image_service.context import ImageService, Service, Who
from image_service.domain import REPLICATION_JOB, BackupFacts, check_account, validate_description, validate_name
from image_service.errors import BACKUP_NOT_FOUND, IMAGE_NOT_FOUND, INVALID_PARAMETER
from ims_shared.events import ImageTag
from ims_shared.events.backups import BackupDisk, ServerInfo
from ims_shared.events.replication import BackupCopy, ReplicatedImage, ReplicationRequested
from ims_shared.refusal import Refusal, not_found
from ims_shared.replication_rules import (
    IMAGE_NOT_ACTIVE,
    NO_DESTINATION_PROJECT,
    ReplicationPolicy,
    check_not_a_replica,
    check_vault,
)
from ims_shared.tenants import Tenant

router = APIRouter()


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


@dataclass(frozen=True)
class Admitted:
    """A source image that may be replicated now (its row), with its backup."""

    image: asyncpg.Record
    backup: BackupFacts


async def admit(
    conn: asyncpg.Connection, ic: ImageService, policy: ReplicationPolicy, project_id: str, image_id: str
) -> Admitted:
    """The checks that need the database, in the request's transaction. Raises the IMS rejection, or the 404.

    The in-flight count is taken under a per-project lock held to the end of the transaction, which also
    records the new job: concurrent requests of one project cannot both take the last place.
    """
    image = await repository.get_image(conn, image_id)
    if image is None or image["project_id"] != project_id:
        raise not_found(IMAGE_NOT_FOUND, f"image {image_id}")
    check_account(await ic.account_state_of(conn, project_id), before="replicating images")
    if image["status"] != "active":
        raise Refusal(IMAGE_NOT_ACTIVE, f"image {image_id} is {image['status']}: only active images can be replicated")
    check_not_a_replica(image_id, image["replicated_from_region"])
    policy.check_size(image["size_gb"])
    backup = await repository.get_backup(conn, image["backup_id"])
    if backup is None or backup.deleted:
        raise Refusal(BACKUP_NOT_FOUND, f"the CBR backup {image['backup_id']} of the image is gone")
    await repository.lock_replications_of(conn, project_id)
    policy.check_in_flight(await repository.replications_under_way(conn, project_id))
    return Admitted(image, backup)


def replication_request(
    admitted: Admitted, body: CopyImageCrossRegionBody, *, job_id: str, destination: str, vault_id: str
) -> ReplicationRequested:
    image, backup = admitted.image, admitted.backup
    return ReplicationRequested(
        job_id=job_id,
        source_image_id=image["image_id"],
        source_backup_id=backup.backup_id,
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
            name=backup.name,
            resource_id=backup.resource_id,
            resource_type=backup.resource_type,
            size_gb=backup.size_gb,
            server=ServerInfo.model_validate(backup.server) if backup.server else None,
            disks=[BackupDisk.model_validate(d) for d in backup.disks or []],
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
