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
``job_id``, so the events of one job keep their order on each topic. The rules a replication must keep (routes,
size, in-flight limit, no replica of a replica) are in ``ims_shared.replication_rules``.
"""

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from ims_shared.events.backups import ECS_RESOURCE_TYPE, BackupCreated, BackupDisk, ServerInfo
from ims_shared.events.envelope import ContractModel, EventData, Id, Int4, Producers, produced_by
from ims_shared.events.images import ImageTag
from ims_shared.topics import TopicKind


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
    enterprise_project_id: Id = "0"
    server_state: str | None = None
    replicated_from_region: Id | None = None


class BackupCopy(ContractModel):
    """The source image's CBR backup, as its copy in the destination region records it."""

    name: str
    resource_id: Id = Field(min_length=1)
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

    producers: ClassVar[Producers] = produced_by("image-service")

    source_image_id: str = Field(min_length=1, max_length=64)
    source_backup_id: str = Field(min_length=1, max_length=64)
    destination_region: Id = Field(min_length=1)
    replica_image_id: str = Field(min_length=1, max_length=64)
    name: str
    description: str = ""
    vault_id: Id = Field(min_length=1)
    agency_name: str | None = None
    image: ReplicatedImage
    backup: BackupCopy


class ReplicationStarted(_ReplicationEvent):
    """replication-service accepted the job and sent the copy to the destination region (source region)."""

    producers: ClassVar[Producers] = produced_by("replication-service")

    destination_region: Id
    replica_image_id: Id


class _ReplicaEvent(_ReplicationEvent):
    source_region: Id = Field(min_length=1)
    source_image_id: Id = Field(min_length=1)
    source_backup_id: Id = Field(min_length=1)
    replica_image_id: str = Field(min_length=1, max_length=64)
    replica_backup_id: str = Field(min_length=1, max_length=64)


class _ReplicaCopy(_ReplicaEvent):
    name: str
    description: str = ""
    vault_id: Id = Field(min_length=1)
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

    producers: ClassVar[Producers] = produced_by("replication-service")


class ReplicaBackupRecorded(_ReplicaCopy):
    """The destination backup-service recorded the backup copy; the destination image-service makes the image."""

    producers: ClassVar[Producers] = produced_by("backup-service")


class ReplicaRecorded(_ReplicaEvent):
    """The replica image is active in the destination region (destination project)."""

    producers: ClassVar[Producers] = produced_by("image-service")


ReplicaStage = Literal["backup", "image", "timeout"]


class ReplicaFailed(_ReplicaEvent):
    """The replica could not be made (``stage``): the destination removes what it made of it (destination project)."""

    producers: ClassVar[Producers] = produced_by("backup-service", "image-service", "replication-service")

    stage: ReplicaStage
    error_code: str
    reason: str


class ReplicationSucceeded(_ReplicationEvent):
    """The job succeeded: the replica image is active in ``destination_region`` (source region, source project)."""

    producers: ClassVar[Producers] = produced_by("replication-service")

    source_image_id: Id
    destination_region: Id
    replica_image_id: Id
    replica_backup_id: Id


class ReplicationFailed(_ReplicationEvent):
    """The job failed with ``error_code`` and ``reason``; nothing of the replica stays (source project)."""

    producers: ClassVar[Producers] = produced_by("replication-service")

    source_image_id: Id
    destination_region: Id
    error_code: str
    reason: str
