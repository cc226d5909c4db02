"""What a full-ECS image can never do: be exported, be copied within its region (``/v1`` and the ``/v2.1`` calls
alike), or be published in KooGallery. Also the image update (PATCH, IMS's and Glance's) a KooGallery publisher
would use, which refuses the market attributes."""

import json
from typing import Any

from fastapi import APIRouter, Request

from image_service import repository
from image_service.context import ImageService, Service, Who, WhoPatching
from image_service.domain import export_refused, image_patch, image_update, in_region_copy_refused
from image_service.errors import IMAGE_NOT_FOUND, invalid_parameter
from image_service.views import image_view
from ims_shared.auth import Caller
from ims_shared.refusal import Refusal

router = APIRouter()


async def _own_image(service: ImageService, who: Caller, image_id: str) -> Any:
    image = await repository.get_image(service.database.pool, image_id)
    if image is None or image["project_id"] != who.project_id:
        raise Refusal(IMAGE_NOT_FOUND, f"image {image_id} not found", status=404)
    return image


@router.post("/v1/cloudimages/{image_id}/file")
async def export_image(image_id: str, service: Service, who: Who) -> dict[str, str]:
    await _own_image(service, who, image_id)
    raise export_refused()


@router.post("/v2.1/cloudimages/{image_id}/file")
async def export_image_in_safe_mode(image_id: str, service: Service, who: Who) -> dict[str, str]:
    await _own_image(service, who, image_id)
    raise export_refused()


@router.post("/v1/cloudimages/{image_id}/copy")
async def copy_image_in_region(image_id: str, service: Service, who: Who) -> dict[str, str]:
    await _own_image(service, who, image_id)
    raise in_region_copy_refused()


@router.post("/v2.1/cloudimages/{image_id}/copy")
async def copy_image_in_region_in_safe_mode(image_id: str, service: Service, who: Who) -> dict[str, str]:
    await _own_image(service, who, image_id)
    raise in_region_copy_refused()


async def _update(request: Request, image_id: str, service: ImageService, who: Caller) -> dict[str, Any]:
    await _own_image(service, who, image_id)
    try:
        operations = json.loads(await request.body())
    except ValueError as exc:
        raise invalid_parameter("the body must be a JSON list of patch operations") from exc
    changes = image_patch(operations)
    async with service.database.transaction() as conn:
        # Locked, so that the RAM limits are checked against the values they are written beside.
        image = await repository.lock_image(conn, image_id)
        if image is None or image["deleted_at"] is not None or image["project_id"] != who.project_id:
            raise Refusal(IMAGE_NOT_FOUND, f"image {image_id} not found", status=404)
        values = image_update(changes, min_ram=image["min_ram"], max_ram=image["max_ram"])
        if values:
            await repository.update_image_fields(conn, image_id, values)
    return image_view(await _own_image(service, who, image_id), viewer_project=who.project_id)


@router.patch("/v2/cloudimages/{image_id}")
async def update_image(request: Request, image_id: str, service: Service, who: Who) -> dict[str, Any]:
    """JSON-patch an image's name, description or RAM limits, validated as at creation. Publishing it in KooGallery
    is refused."""
    return await _update(request, image_id, service, who)


@router.patch("/v2/images/{image_id}")
async def glance_update_image(request: Request, image_id: str, service: Service, who: WhoPatching) -> dict[str, Any]:
    """Glance's image update: the same JSON-patch operations, rules and answer as ``update_image``."""
    return await _update(request, image_id, service, who)
