"""What a project may use in the region: its image quota (IMS ShowImageQuota) and the OS versions of the public
images compute-service creates ECSs from (IMS ListOsVersions)."""

from typing import Any

from fastapi import APIRouter

from image_service import image_queries
from image_service.context import Service, Who
from image_service.views import os_versions_view, quota_view
from ims_shared.public_images import public_images

router = APIRouter()


@router.get("/v1/cloudimages/quota")
async def show_image_quota(service: Service, who: Who) -> dict[str, Any]:
    used = await image_queries.images_of_project(service.database.pool, who.project_id)
    return quota_view(used, service.settings.image_quota)


@router.get("/v1/cloudimages/os_version")
async def list_os_versions(service: Service, who: Who, tag: str | None = None) -> list[dict[str, Any]]:
    """``tag``: only the OS versions of images with that feature (IMS: ``bms``, bare metal; ``uefi``, UEFI boot):
    none here, every public image of the catalog is a BIOS-booted KVM ECS image."""
    return [] if tag else os_versions_view(public_images(service.settings.region))
