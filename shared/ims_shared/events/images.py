"""Events of the full-ECS image aggregate (topic ``ims.<region>.images``, key ``image_id``)."""

from typing import ClassVar, Literal

from pydantic import Field

from ims_shared.events.backups import BackupDisk
from ims_shared.events.envelope import ContractModel, EventData, Id, Int4, Producers, produced_by
from ims_shared.topics import TopicKind


class ImageTag(ContractModel):
    key: str
    value: str = ""


class _ImageEvent(EventData):
    topic_kind: ClassVar[TopicKind] = TopicKind.IMAGES
    key_field: ClassVar[str] = "image_id"
    image_id: str = Field(min_length=1, max_length=64)


class ImageRequested(EventData):
    """A request to create a full-ECS image. ``image_id`` and ``job_id`` are derived from the event id when absent."""

    producers: ClassVar[Producers] = produced_by("image-service", tenants=True)

    topic_kind: ClassVar[TopicKind] = TopicKind.IMAGES
    key_field: ClassVar[str] = "image_id"
    image_id: Id | None = None
    job_id: Id | None = None
    name: str
    backup_id: Id = Field(min_length=1)
    whole_image_type: str = "CBR"
    description: str = ""
    image_tags: list[ImageTag] = Field(default_factory=list)
    enterprise_project_id: Id = "0"
    min_ram: Int4 = 0
    max_ram: Int4 = 0

    def aggregate_id(self) -> str:
        return self.image_id or self.backup_id


class ImageCreated(_ImageEvent):
    """A full-ECS image is active. ``disks`` are the disks an ECS made from it gets, each restored from the disk of
    its CBR backup it names (the system disk first), and ``os_type``/``os_version`` its OS: what compute-service
    needs to make ECSs from the image, without following every backup."""

    producers: ClassVar[Producers] = produced_by("image-service")
    job_id: Id
    backup_id: Id
    name: str
    os_type: str | None = None
    os_version: str | None = None
    min_disk: Int4
    size_gb: Int4
    disks: list[BackupDisk] = Field(default_factory=list)


class ImageCreationFailed(_ImageEvent):
    producers: ClassVar[Producers] = produced_by("image-service")
    job_id: Id
    backup_id: Id
    error_code: str
    fail_reason: str


ImageDeletionReason = Literal["user", "backup_deleted", "arrears", "replication_rollback"]


class ImageDeleted(_ImageEvent):
    producers: ClassVar[Producers] = produced_by("image-service")
    backup_id: Id
    delete_backup: bool = False
    reason: ImageDeletionReason = "user"


MemberStatus = Literal["pending", "accepted", "rejected"]


class ImageShared(_ImageEvent):
    """The owner shared a full-ECS image with another tenant's project (member status pending)."""

    producers: ClassVar[Producers] = produced_by("image-service")

    member_project_id: Id
    owner_project_id: Id


class ImageMemberStatusChanged(_ImageEvent):
    """A recipient project accepted or rejected a shared image."""

    producers: ClassVar[Producers] = produced_by("image-service")

    member_project_id: Id
    status: MemberStatus
    vault_id: Id | None = None


class ImageUnshared(_ImageEvent):
    """The owner stopped sharing an image with a project."""

    producers: ClassVar[Producers] = produced_by("image-service")

    member_project_id: Id
