"""Events of the backup aggregate (topic ``ims.<region>.backups``, key ``backup_id``)."""

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from ims_shared.events.envelope import ContractModel, EventData, Id, Int4, Producers, produced_by
from ims_shared.topics import TopicKind

ECS_RESOURCE_TYPE = "OS::Nova::Server"


class ServerInfo(ContractModel):
    os_type: str | None = None
    os_version: str | None = None
    configured: bool = True
    state: Literal["ACTIVE", "SHUTOFF"] = "ACTIVE"


class BackupDisk(ContractModel):
    volume_id: Id = Field(min_length=1)
    device: str = Field(min_length=1)
    size_gb: Annotated[Int4, Field(ge=1)]
    bootable: bool = False
    volume_type: str = "SSD"


class _BackupEvent(EventData):
    topic_kind: ClassVar[TopicKind] = TopicKind.BACKUPS
    key_field: ClassVar[str] = "backup_id"
    backup_id: str = Field(min_length=1, max_length=64)


class BackupCreated(_BackupEvent):
    producers: ClassVar[Producers] = produced_by("backup-service", tenants=True)
    vault_id: Id = Field(min_length=1)
    name: str
    resource_id: Id = Field(min_length=1)
    resource_name: str = ""
    resource_type: str = ECS_RESOURCE_TYPE
    status: str = "available"
    created_at: datetime
    incremental: bool = False
    parent_id: Id | None = None
    size_gb: Annotated[Int4, Field(ge=0)]
    shared_from_project_id: Id | None = None
    server: ServerInfo | None = None
    disks: list[BackupDisk] = Field(default_factory=list)
    replicated_from_region: Id | None = None
    replicated_from_backup_id: Id | None = None


BackupDeletionReason = Literal["user", "image_deleted", "arrears", "replication_rollback"]


class BackupDeleted(_BackupEvent):
    producers: ClassVar[Producers] = produced_by("backup-service")
    reason: BackupDeletionReason
    image_id: Id | None = None


class BackupDeletionFailed(_BackupEvent):
    producers: ClassVar[Producers] = produced_by("backup-service")
    reason: BackupDeletionReason
    error: str
    attempts: Int4


class ServerRegistered(EventData):
    """An ECS known to the compute inventory, with what a backup of it needs. Produced by compute-service when an ECS
    becomes ACTIVE and again when its OS, disks or configured flag change, or by an outside inventory."""

    producers: ClassVar[Producers] = produced_by("compute-service", tenants=True)

    topic_kind: ClassVar[TopicKind] = TopicKind.BACKUPS
    key_field: ClassVar[str] = "server_id"
    server_id: str = Field(min_length=1, max_length=64)
    name: str = ""
    os_type: str | None = None
    os_version: str | None = None
    configured: bool = True
    state: Literal["ACTIVE", "SHUTOFF"] = "ACTIVE"
    disks: list[BackupDisk] = Field(default_factory=list)


class ServerBackupRequested(EventData):
    """image-service asks backup-service to back up an ECS (CBR checkpoint) for a full-ECS image job."""

    producers: ClassVar[Producers] = produced_by("image-service")

    topic_kind: ClassVar[TopicKind] = TopicKind.BACKUPS
    key_field: ClassVar[str] = "server_id"
    server_id: str = Field(min_length=1, max_length=64)
    backup_id: str = Field(min_length=1, max_length=64)
    vault_id: str = Field(min_length=1, max_length=64)
    job_id: Id = Field(min_length=1)
    name: str = ""


class ServerBackupFailed(EventData):
    """backup-service could not back up the ECS; the waiting image job fails with this code."""

    producers: ClassVar[Producers] = produced_by("backup-service")

    topic_kind: ClassVar[TopicKind] = TopicKind.BACKUPS
    key_field: ClassVar[str] = "server_id"
    server_id: Id = Field(min_length=1)
    backup_id: Id
    job_id: Id
    error_code: str
    reason: str


class ServerStateChanged(EventData):
    """An ECS changed state; a SHUTOFF server started while its image is being made fails the creation."""

    producers: ClassVar[Producers] = produced_by("compute-service", tenants=True)

    topic_kind: ClassVar[TopicKind] = TopicKind.BACKUPS
    key_field: ClassVar[str] = "server_id"
    server_id: Id = Field(min_length=1)
    state: Literal["ACTIVE", "SHUTOFF"]


class ServerDeleted(EventData):
    """An ECS was deleted: it can no longer be backed up (CBR checkpoints of it are refused). Images and backups
    already made of it stay."""

    producers: ClassVar[Producers] = produced_by("compute-service", tenants=True)

    topic_kind: ClassVar[TopicKind] = TopicKind.BACKUPS
    key_field: ClassVar[str] = "server_id"
    server_id: str = Field(min_length=1, max_length=64)


class VaultLockChanged(EventData):
    """A CBR vault was locked or unlocked; backups in a locked vault cannot be deleted until it is unlocked."""

    producers: ClassVar[Producers] = produced_by("backup-service")

    topic_kind: ClassVar[TopicKind] = TopicKind.BACKUPS
    key_field: ClassVar[str] = "vault_id"
    vault_id: str = Field(min_length=1, max_length=64)
    locked: bool


class VaultCreated(EventData):
    """A CBR vault was created in the project (CreateVault): a vault that a shared full-ECS image can be accepted
    into (image-service keeps the project's vaults for that)."""

    producers: ClassVar[Producers] = produced_by("backup-service")

    topic_kind: ClassVar[TopicKind] = TopicKind.BACKUPS
    key_field: ClassVar[str] = "vault_id"
    vault_id: Id = Field(min_length=1)
    name: str = Field(min_length=1, max_length=64)


class VaultDeleted(EventData):
    """A CBR vault of the project was deleted (DeleteVault), with its backups (each with its BackupDeleted)."""

    producers: ClassVar[Producers] = produced_by("backup-service")

    topic_kind: ClassVar[TopicKind] = TopicKind.BACKUPS
    key_field: ClassVar[str] = "vault_id"
    vault_id: Id = Field(min_length=1)
