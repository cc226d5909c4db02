"""IMS image tags: a project's own images only (an image shared with it is another project's to tag). Each change
locks the image, so that the limit of 10 tags holds under concurrent calls."""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from image_service import image_queries, repository
from image_service.context import ImageService, Service, Who
from image_service.errors import IMAGE_NOT_FOUND, invalid_parameter
from image_service.tags import tag_query, tag_removed, tags_added, tags_deleted
from ims_shared.auth import Caller
from ims_shared.refusal import Refusal
from ims_shared.tenants import TagPolicy

router = APIRouter()


class TagBody(BaseModel):
    key: str = Field(max_length=128)
    value: str = Field(default="", max_length=255)


class AddTagBody(BaseModel):
    """The SDK's AddImageTagRequestBody."""

    tag: TagBody


class BatchTagsBody(BaseModel):
    """The SDK's BatchAddOrDeleteTagsRequestBody."""

    model_config = ConfigDict(extra="ignore")

    action: str = Field(max_length=16)
    tags: list[dict[str, Any]] = Field(min_length=1, max_length=100)


def _missing(image_id: str) -> Refusal:
    return Refusal(IMAGE_NOT_FOUND, f"image {image_id} not found", status=404)


Tags = list[dict[str, str]]


async def _retag(service: ImageService, who: Caller, image_id: str, change: Callable[[Tags, TagPolicy], Tags]) -> None:
    """Write the tags ``change`` makes of the image's, the image locked."""
    async with service.database.transaction() as conn:
        image = await repository.lock_image(conn, image_id)
        if image is None or image["deleted_at"] is not None or image["project_id"] != who.project_id:
            raise _missing(image_id)
        tags = change(image["tags"] or [], who.tenant.tag_policy)
        if tags != image["tags"]:
            await repository.set_image_tags(conn, image_id, tags)


@router.post("/v2/{project_id}/images/{image_id}/tags", status_code=204)
async def add_image_tag(project_id: str, image_id: str, body: AddTagBody, service: Service, who: Who) -> Response:
    pair = body.tag.model_dump()
    await _retag(service, who, image_id, lambda tags, policy: tags_added(tags, [pair], policy))
    return Response(status_code=204)


@router.get("/v2/{project_id}/images/{image_id}/tags")
async def list_image_tags(project_id: str, image_id: str, service: Service, who: Who) -> dict[str, Any]:
    image = await repository.get_image(service.database.pool, image_id)
    if image is None or image["project_id"] != who.project_id:
        raise _missing(image_id)
    return {"tags": image["tags"] or []}


@router.delete("/v2/{project_id}/images/{image_id}/tags/{key}", status_code=204)
async def delete_image_tag(project_id: str, image_id: str, key: str, service: Service, who: Who) -> Response:
    await _retag(service, who, image_id, lambda tags, policy: tag_removed(tags, key, policy))
    return Response(status_code=204)


@router.post("/v2/{project_id}/images/{image_id}/tags/action", status_code=204)
async def batch_add_or_delete_tags(
    project_id: str, image_id: str, body: BatchTagsBody, service: Service, who: Who
) -> Response:
    if body.action == "create":
        pairs = [{"key": t.get("key"), "value": t.get("value", "")} for t in body.tags]
        await _retag(service, who, image_id, lambda tags, policy: tags_added(tags, pairs, policy))
    elif body.action == "delete":
        await _retag(service, who, image_id, lambda tags, policy: tags_deleted(tags, body.tags, policy))
    else:
        raise invalid_parameter(f"action must be create or delete; got {body.action!r}")
    return Response(status_code=204)


@router.get("/v2/{project_id}/images/tags")
async def list_images_tags(project_id: str, service: Service, who: Who) -> dict[str, Any]:
    rows = await image_queries.project_tags(service.database.pool, who.project_id)
    return {"tags": [{"key": r["key"], "values": list(r["values"])} for r in rows]}


@router.post("/v2/{project_id}/images/resource_instances/action")
async def list_image_by_tags(project_id: str, body: dict[str, Any], service: Service, who: Who) -> dict[str, Any]:
    query = tag_query(body)
    total, rows = await image_queries.images_by_tags(service.database.pool, who.project_id, query)
    if query.count:
        return {"total_count": total}
    resources = [
        {
            "resource_id": r["image_id"],
            "resource_name": r["name"],
            "resource_detail": {"status": r["status"]},
            "tags": r["tags"] or [],
        }
        for r in rows
    ]
    return {"resources": resources, "total_count": total}
