"""Cross-region replication of full-ECS images: the events (topic ``ims.<region>.replication``, key ``job_id``)
and the replication rules that both the IMS API and replication-service apply.

The saga of one replication job, from source region S to destination region D::

    S image-service (API)   --ReplicationRequested-->  ims.S.replication  --> S replication-service
    S replication-service   --ReplicationStarted---->  ims.S.replication  --> S image-service (job RUNNING)
    S replication-service   --ReplicaRequested------>  ims.D.replication  --> D backup-service
    D backup-service        --BackupCreated--------->  ims.D.backups      --> billing, D image-service projection
    D backup-service        --ReplicaBackupRecorded->  ims.D.replication  --> D image-service
    D image-service         --ReplicaRecorded------->  ims.D.replication  --> S replication-service
    S replication-service   --ReplicationSucceeded-->  ims.S.replication  --> S image-service (job SUCCESS)

On a refusal in D (or a timeout in S) a ``ReplicaFailed`` goes to ``ims.D.replication``: D backup-service deletes
the backup copy (``BackupDeleted``, reason ``replication_rollback``), D image-service makes sure no replica image
stays, and S replication-service fails the job with ``ReplicationFailed``. Every event of one job has the key
``job_id``, so the events of one job keep their order on each topic.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from ims_shared.events.backups import ECS_RESOURCE_TYPE, BackupCreated, BackupDisk, ServerInfo
from ims_shared.events.envelope import ContractModel, EventData, Int4
from ims_shared.events.images import ImageTag
from ims_shared.regions import RouteTable
from ims_shared.topics import TopicKind

# -- the rules ---------------------------------------------------------------------------------------------------
DEFAULT_MAX_IMAGE_GB = 128
DEFAULT_MAX_IN_FLIGHT = 5

# IMS-style error codes of cross-region replication (IMG.0239, account frozen, is image-service's).
ROUTE_NOT_SUPPORTED = "IMG.0240"
SAME_REGION = "IMG.0241"
IMAGE_TOO_LARGE = "IMG.0242"
TOO_MANY_IN_FLIGHT = "IMG.0243"
REPLICA_NOT_REPLICABLE = "IMG.0244"
IMAGE_NOT_ACTIVE = "IMG.0245"
NO_DESTINATION_PROJECT = "IMG.0246"
REPLICATION_TIMED_OUT = "IMG.0247"
REPLICA_CONFLICT = "IMG.0248"
VAULT_REQUIRED = "IMG.0249"

WORKAROUND = (
    "To use this image in {destination}, create an ECS from the full-ECS image, create a system disk image and "
    "data disk images from that ECS, and replicate those images to {destination} instead."
)


class ReplicationRefused(Exception):
    """A rule of cross-region replication was broken: a 400 from the API, or a failed job."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ReplicationPolicy:
    """Where full-ECS images may be replicated to, and how much at once. No I/O."""

    routes: RouteTable
    deployed_regions: frozenset[str]
    max_image_gb: int = DEFAULT_MAX_IMAGE_GB
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT

    @classmethod
    def of(
        cls,
        routes: str,
        deployed_regions: list[str],
        max_image_gb: int = DEFAULT_MAX_IMAGE_GB,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> "ReplicationPolicy":
        return cls(RouteTable.parse(routes), frozenset(deployed_regions), max_image_gb, max_in_flight)

    def destinations_from(self, source: str) -> list[str]:
        return sorted(d for s, d in self.routes.routes if s == source and d != source and d in self.deployed_regions)

    def check_destination(self, source: str, destination: str | None) -> str:
        """The destination region if full-ECS images may go there from ``source``; raises otherwise."""
        if not destination:
            raise ReplicationRefused("IMG.0001", "region (the destination region) is required")
        if destination == source:
            raise ReplicationRefused(
                SAME_REGION,
                f"the destination region must differ from the source region {source}: a full-ECS image cannot be "
                "replicated within its region",
            )
        if not self.routes.allows(source, destination) or destination not in self.deployed_regions:
            supported = ", ".join(f"{source} -> {d}" for d in self.destinations_from(source)) or "none"
            raise ReplicationRefused(
                ROUTE_NOT_SUPPORTED,
                f"full-ECS images cannot be replicated from {source} to {destination} (supported routes from "
                f"{source}: {supported}). " + WORKAROUND.format(destination=destination),
            )
        return destination

    def check_size(self, size_gb: int) -> None:
        if size_gb > self.max_image_gb:
            raise ReplicationRefused(
                IMAGE_TOO_LARGE,
                f"the image is {size_gb} GB; images larger than {self.max_image_gb} GB cannot be replicated across "
                "regions",
            )

    def check_in_flight(self, in_flight: int) -> None:
        """``in_flight`` is the number of the project's replications already under way (not counting this one)."""
        if in_flight >= self.max_in_flight:
            raise ReplicationRefused(
                TOO_MANY_IN_FLIGHT,
                f"{in_flight} cross-region replications of this project are already under way; at most "
                f"{self.max_in_flight} may run at a time. Retry when one has finished.",
            )


def check_not_a_replica(image_id: str, replicated_from_region: str | None) -> None:
    if replicated_from_region:
        raise ReplicationRefused(
            REPLICA_NOT_REPLICABLE,
            f"image {image_id} was itself replicated from {replicated_from_region} and cannot be replicated across "
            "regions again; replicate the original image instead",
        )


def check_vault(vault_id: str | None) -> str:
    if not vault_id:
        raise ReplicationRefused(
            VAULT_REQUIRED,
            "vault_id is required to replicate a full-ECS image across regions: the CBR vault of the destination "
            "region that receives the copy of the image's backup",
        )
    return vault_id


# -- what a replication carries ------------------------------------------------------------------------------------
class ReplicatedImage(ContractModel):
    """The source image as the replica copies it."""

    name: str
    description: str = ""
    os_type: str | None = None
    os_version: str | None = None
    min_disk: Annotated[Int4, Field(ge=0)]
    min_ram: Int4 = 0
    max_ram: Int4 = 0
    size_gb: Annotated[Int4, Field(ge=0)]
    disks: list[BackupDisk] = Field(default_factory=list)
    tags: list[ImageTag] = Field(default_factory=list)
    enterprise_project_id: str = "0"
    server_state: str | None = None
    replicated_from_region: str | None = None


class BackupCopy(ContractModel):
    """The source image's CBR backup, as its copy in the destination region records it."""

    name: str
    resource_id: str = Field(min_length=1)
    resource_name: str = ""
    resource_type: str = ECS_RESOURCE_TYPE
    size_gb: Annotated[Int4, Field(ge=0)]
    server: ServerInfo | None = None
    disks: list[BackupDisk] = Field(default_factory=list)


# -- the events ----------------------------------------------------------------------------------------------------
class _ReplicationEvent(EventData):
    topic_kind: ClassVar[TopicKind] = TopicKind.REPLICATION
    key_field: ClassVar[str] = "job_id"
    job_id: str = Field(min_length=1, max_length=64)


class ReplicationRequested(_ReplicationEvent):
    """The IMS API accepted a cross-region replication of a full-ECS image (source region, source project).

    ``replica_image_id`` is the id the image gets in the destination region. The destination project is not
    carried: replication-service maps the requesting project to the tenant's project of the destination region.
    """

    source_image_id: str = Field(min_length=1, max_length=64)
    source_backup_id: str = Field(min_length=1, max_length=64)
    destination_region: str = Field(min_length=1)
    replica_image_id: str = Field(min_length=1, max_length=64)
    name: str
    description: str = ""
    vault_id: str = Field(min_length=1)
    agency_name: str | None = None
    image: ReplicatedImage
    backup: BackupCopy


class ReplicationStarted(_ReplicationEvent):
    """replication-service accepted the job and sent the copy to the destination region (source region)."""

    destination_region: str
    replica_image_id: str


class _ReplicaEvent(_ReplicationEvent):
    source_region: str = Field(min_length=1)
    source_image_id: str = Field(min_length=1)
    source_backup_id: str = Field(min_length=1)
    replica_image_id: str = Field(min_length=1, max_length=64)
    replica_backup_id: str = Field(min_length=1, max_length=64)


class _ReplicaCopy(_ReplicaEvent):
    name: str
    description: str = ""
    vault_id: str = Field(min_length=1)
    image: ReplicatedImage
    backup: BackupCopy

    def backup_created(self, created_at: datetime) -> BackupCreated:
        """The copied backup as a backup of the destination region (what billing meters there)."""
        return BackupCreated(
            backup_id=self.replica_backup_id,
            vault_id=self.vault_id,
            name=self.backup.name,
            resource_id=self.backup.resource_id,
            resource_name=self.backup.resource_name,
            resource_type=self.backup.resource_type,
            status="available",
            created_at=created_at,
            size_gb=self.backup.size_gb,
            server=self.backup.server,
            disks=self.backup.disks,
            replicated_from_region=self.source_region,
            replicated_from_backup_id=self.source_backup_id,
        )


class ReplicaRequested(_ReplicaCopy):
    """The copy of a full-ECS image and of its backup arrives in the destination region (destination project)."""


class ReplicaBackupRecorded(_ReplicaCopy):
    """The destination backup-service recorded the backup copy; the destination image-service makes the image."""


class ReplicaRecorded(_ReplicaEvent):
    """The replica image is active in the destination region (destination project)."""


ReplicaStage = Literal["backup", "image", "timeout"]


class ReplicaFailed(_ReplicaEvent):
    """The replica could not be made (``stage``): the destination removes what it made of it (destination project)."""

    stage: ReplicaStage
    error_code: str
    reason: str


class ReplicationSucceeded(_ReplicationEvent):
    """The job succeeded: the replica image is active in ``destination_region`` (source region, source project)."""

    source_image_id: str
    destination_region: str
    replica_image_id: str
    replica_backup_id: str


class ReplicationFailed(_ReplicationEvent):
    """The job failed with ``error_code`` and ``reason``; nothing of the replica stays (source project)."""

    source_image_id: str
    destination_region: str
    error_code: str
    reason: str
