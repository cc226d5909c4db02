"""Which image a caller may make an ECS from, or put on one, and the disks it defaults to: a public image of the
region's catalog, or a full-ECS image of the projection (the caller's own, one shared with it and accepted, or a
replica made in this region) whose backup is still there."""

from typing import Any

from compute_service import repository
from compute_service.domain import (
    DEFAULT_VOLUME_TYPE,
    IMAGE_BACKUP_GONE,
    IMAGE_NOT_ACTIVE,
    IMAGE_NOT_FOUND,
    ImageDisk,
    SourceImage,
    image_disks,
)
from ims_shared.public_images import public_image
from ims_shared.refusal import Refusal


async def source_image(conn: repository.Conn, region: str, project_id: str, image_id: str) -> SourceImage:
    """The image ``image_id`` as ``project_id`` may use it in ``region``; raises ``Refusal`` saying why not."""
    gold = public_image(region, image_id)
    if gold is not None:
        return SourceImage(
            image_id=gold.id,
            name=gold.name,
            image_type="gold",
            os_type=gold.os_type,
            os_version=gold.os_version,
            configured=True,
            disks=(ImageDisk(size_gb=gold.min_disk, volume_type=DEFAULT_VOLUME_TYPE, bootable=True),),
            min_ram_mb=gold.min_ram,
        )
    row = await repository.full_ecs_image(conn, image_id, project_id)
    if row is None:
        raise Refusal(
            IMAGE_NOT_FOUND,
            f"image {image_id} is not an active image of this region that you own or that is shared with you "
            "(an image being made is usable once active)",
        )
    return full_ecs(dict(row), project_id)


def full_ecs(row: dict[str, Any], project_id: str) -> SourceImage:
    image_id = row["image_id"]
    if row["project_id"] != project_id and row["member_status"] != "accepted":
        raise Refusal(IMAGE_NOT_FOUND, f"image {image_id} is shared with you but not accepted yet: accept it first")
    if row["status"] != "active":
        raise Refusal(IMAGE_NOT_ACTIVE, f"image {image_id} was deleted: only an active image can be used")
    disks = () if row["backup_deleted"] else image_disks(row["disks"] or [])
    if not any(d.bootable for d in disks):
        raise Refusal(
            IMAGE_BACKUP_GONE,
            f"the CBR backup {row['backup_id']} of full-ECS image {image_id} is gone: its disks cannot be restored",
        )
    return SourceImage(
        image_id=image_id,
        name=row["name"],
        image_type="private" if row["project_id"] == project_id else "shared",
        os_type=row["os_type"],
        os_version=row["os_version"],
        configured=True,  # image-service makes a full-ECS image only from a backup of a configured ECS
        disks=disks,
        backup_id=row["backup_id"],
    )
