"""The IMS-compatible HTTP API of image-service: full-ECS image creation, jobs, images and deletion."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from image_service import image_queries, repository
from image_service.context import ImageService, Service, Who
from image_service.domain import (
    ImageRequest,
    Listing,
    check_account,
    check_backup,
    check_one_image_per_backup,
    listing,
    resolve_enterprise_project,
    validate_request,
)
from image_service.errors import (
    IMAGE_NOT_FOUND,
    JOB_NOT_FOUND,
    SERVER_BEING_BACKED_UP,
    invalid_parameter,
)
from image_service.handlers import delete_image
from image_service.views import gold_image_view, image_view, job_view
from ims_shared.auth import Caller
from ims_shared.events import ImageRequested, ImageTag, ServerBackupRequested
from ims_shared.public_images import public_image, public_images
from ims_shared.refusal import Refusal

router = APIRouter()


class TagBody(BaseModel):
    key: str = Field(max_length=128)
    value: str = Field(default="", max_length=255)


class CreateWholeImageBody(BaseModel):
    """The SDK's CreateWholeImageRequestBody."""

    model_config = ConfigDict(extra="ignore")

    name: str = Field(max_length=255)
    instance_id: str | None = Field(default=None, max_length=64)
    backup_id: str | None = Field(default=None, max_length=64)
    vault_id: str | None = Field(default=None, max_length=64)
    whole_image_type: str | None = Field(default=None, max_length=16)
    description: str | None = Field(default=None, max_length=4096)
    enterprise_project_id: str | None = Field(default=None, max_length=64)
    image_tags: list[TagBody] | None = None
    tags: list[str] | None = None
    min_ram: int | None = None
    max_ram: int | None = None


class DeleteImageBody(BaseModel):
    delete_backup: bool = False


async def _check_known_backup(conn: asyncpg.Connection, backup_id: str, project_id: str) -> None:
    """Reject at once what the projection already decides; an unknown backup is waited for by the job."""
    backup = await repository.get_backup(conn, backup_id)
    if backup is not None:
        check_backup(backup, project_id)
        has_image = await repository.live_image_of_backup(conn, backup_id) is not None
        check_one_image_per_backup(backup_id, backup_has_image=has_image)


async def _request_image(
    conn: asyncpg.Connection,
    service: ImageService,
    who: Caller,
    image_id: str,
    job_id: str,
    body: CreateWholeImageBody,
    enterprise_project: str,
    tags: list[dict[str, str]],
) -> str:
    assert body.backup_id
    event = ImageRequested(
        image_id=image_id,
        job_id=job_id,
        name=body.name,
        backup_id=body.backup_id,
        whole_image_type=body.whole_image_type or "CBR",
        description=body.description or "",
        image_tags=[ImageTag(**t) for t in tags],
        enterprise_project_id=enterprise_project,
        min_ram=body.min_ram or 0,
        max_ram=body.max_ram or 0,
    )
    emitted = await service.emitter.emit(conn, event, project_id=who.project_id)
    return emitted.id


async def _request_server_backup(
    conn: asyncpg.Connection,
    service: ImageService,
    who: Caller,
    job_id: str,
    server_id: str,
    vault_id: str,
    backup_id: str,
    name: str,
) -> str:
    """Creating from an ECS: backup-service first backs it up (a CBR checkpoint), then the job goes on."""
    if await repository.server_backup_in_progress(conn, who.project_id, server_id):
        raise Refusal(SERVER_BEING_BACKED_UP, f"ECS {server_id} is already being backed up for another image")
    event = ServerBackupRequested(
        server_id=server_id, backup_id=backup_id, vault_id=vault_id, job_id=job_id, name=f"{name}-backup"
    )
    emitted = await service.emitter.emit(conn, event, project_id=who.project_id)
    return emitted.id


@router.post("/v1/cloudimages/wholeimages/action")
async def create_whole_image(body: CreateWholeImageBody, service: Service, who: Who) -> dict[str, str]:
    image_request = ImageRequest(
        name=body.name,
        backup_id=body.backup_id,
        instance_id=body.instance_id,
        vault_id=body.vault_id,
        whole_image_type=body.whole_image_type,
        description=body.description or "",
        enterprise_project_id=body.enterprise_project_id,
        image_tags=[t.model_dump() for t in body.image_tags or []],
        tags=body.tags or [],
        min_ram=body.min_ram,
        max_ram=body.max_ram,
    )
    tenant = who.tenant
    tags = validate_request(image_request, policy=tenant.tag_policy, enterprise_projects=tenant.enterprise_projects)
    enterprise_project = resolve_enterprise_project(body.enterprise_project_id, tenant.enterprise_projects)
    job_id = str(uuid.uuid4())
    image_id = str(uuid.uuid4())
    backup_id = body.backup_id or str(uuid.uuid4())
    stored: dict[str, Any] = {
        "name": body.name,
        "backup_id": backup_id,
        "instance_id": body.instance_id if not body.backup_id else None,
        "description": body.description or "",
        "enterprise_project_id": enterprise_project,
        "tags": tags,
        "min_ram": body.min_ram or 0,
        "max_ram": body.max_ram or 0,
    }
    async with service.database.transaction() as conn:
        check_account(await service.account_state_of(conn, who.project_id))
        if body.backup_id:
            await _check_known_backup(conn, body.backup_id, who.project_id)
            correlation = await _request_image(conn, service, who, image_id, job_id, body, enterprise_project, tags)
        else:
            assert body.instance_id and body.vault_id
            correlation = await _request_server_backup(
                conn, service, who, job_id, body.instance_id, body.vault_id, backup_id, body.name
            )
        from_server = body.instance_id and not body.backup_id
        await repository.insert_job(
            conn,
            job_id=job_id,
            project_id=who.project_id,
            image_id=image_id,
            image_name=body.name,
            backup_id=backup_id,
            request=stored,
            correlation_id=correlation,
            # The CBR checkpoint of the ECS is waited for as an unknown backup is, a while longer.
            wait_until=datetime.now(UTC) + timedelta(seconds=service.settings.server_backup_wait_s)
            if from_server
            else None,
        )
    return {"job_id": job_id}


async def _job(service: ImageService, project_id: str, job_id: str) -> dict[str, Any]:
    row = await repository.get_job(service.database.pool, project_id, job_id)
    if row is None:
        raise Refusal(JOB_NOT_FOUND, f"job {job_id} not found", status=404)
    return job_view(row)


@router.get("/v1/{project_id}/jobs/{job_id}")
async def show_job(project_id: str, job_id: str, service: Service, who: Who) -> dict[str, Any]:
    return await _job(service, who.project_id, job_id)


@router.get("/v1/cloudimages/job/{job_id}")
async def show_job_progress(job_id: str, service: Service, who: Who) -> dict[str, Any]:
    return await _job(service, who.project_id, job_id)


async def _visible_image(service: ImageService, who: Caller, image_id: str) -> Any:
    """The owner's image, or one shared with the caller's project that it has not rejected."""
    db = service.database.pool
    row = await repository.get_image(db, image_id)
    shared_with_caller = ("pending", "accepted")
    if (
        row is not None
        and row["project_id"] != who.project_id
        and await repository.member_status(db, image_id, who.project_id) not in shared_with_caller
    ):
        row = None
    if row is None:
        raise Refusal(IMAGE_NOT_FOUND, f"image {image_id} not found", status=404)
    return row


@router.get("/v2/images/{image_id}")
async def glance_show_image(image_id: str, service: Service, who: Who) -> dict[str, Any]:
    gold = public_image(service.settings.region, image_id)
    if gold is not None:
        return gold_image_view(gold)
    return image_view(await _visible_image(service, who, image_id), viewer_project=who.project_id)


ListLimit = Annotated[int, Query(ge=1, le=1000)]
LISTED = {
    "private": "an image of this project",
    "shared": "an image shared with this project",
    None: "an image of this project, or one shared with it",
}
"""What a marker may be, for each scope of a listing: an image the listing shows."""


async def _list(
    service: ImageService, who: Caller, limit: int, marker: str | None, filters: dict[str, Any], listing: Listing
) -> list[dict[str, Any]]:
    if listing.scope == "gold":
        return _gold(service, filters, limit, marker, listing)
    if listing.scope not in (None, "private", "shared"):
        return []
    db = service.database.pool
    after = None
    if marker:
        # Only an image this listing shows the caller: another tenant's image is refused as an unknown id is (a 400,
        # as Glance answers for a marker it cannot find), so that ids cannot be probed or paged from.
        after = await image_queries.list_position(db, who.project_id, marker, listing)
        if after is None:
            raise invalid_parameter(f"marker {marker} is not {LISTED[listing.scope]}")
    rows = await image_queries.list_images(db, who.project_id, filters, limit, after, listing)
    return [image_view(r, viewer_project=who.project_id) for r in rows]


GOLD_ORDER = {"name": "name", "image_id": "id", "min_disk": "min_disk", "size_gb": "min_disk"}
"""The sort columns by which public images are ordered (by id within them); by the others they keep the catalog's
order (their dates and status are all the same)."""


def _gold(
    service: ImageService, filters: dict[str, Any], limit: int, marker: str | None, listing: Listing
) -> list[dict[str, Any]]:
    """The region's public images (``ims_shared.public_images``), filtered and sorted as the private ones are."""
    images = list(public_images(service.settings.region))
    if listing.sort_column in GOLD_ORDER:
        field = GOLD_ORDER[listing.sort_column]
        images.sort(key=lambda image: (getattr(image, field), image.id), reverse=listing.descending)
    if marker:
        images = images[next((i + 1 for i, image in enumerate(images) if image.id == marker), len(images)) :]
    wanted = {"name": "name", "image_id": "id", "os_type": "os_type", "min_disk": "min_disk", "platform": "platform"}
    for key, field in wanted.items():
        if filters.get(key) is not None:
            images = [image for image in images if getattr(image, field) == filters[key]]
    ours_only = ("backup_id", "owner", "enterprise_project_id")  # public images have none, no owner, project 0
    if filters.get("status") not in (None, "active") or any(filters.get(key) is not None for key in ours_only):
        images = []
    if listing.tag is not None:  # public images have no tags
        images = []
    return [gold_image_view(image) for image in images[:limit]]


@router.get("/v2/cloudimages")
async def list_images(
    service: Service,
    who: Who,
    limit: ListLimit = 500,
    marker: str | None = None,
    name: str | None = None,
    status: str | None = None,
    id: str | None = None,
    enterprise_project_id: str | None = None,
    owner: str | None = None,
    tag: Annotated[str | None, Query(max_length=256)] = None,
    visibility: str | None = None,
    member_status: str | None = None,
    sort_key: str | None = None,
    sort_dir: str | None = None,
    min_disk: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    imagetype: Annotated[str | None, Query(alias="__imagetype")] = None,
    os_type: Annotated[str | None, Query(alias="__os_type")] = None,
    platform: Annotated[str | None, Query(alias="__platform")] = None,
    os_bit: Annotated[str | None, Query(alias="__os_bit")] = None,
    backup_id: Annotated[str | None, Query(alias="__backup_id")] = None,
) -> dict[str, Any]:
    """IMS ListImages. Filters: a column's value (``name``, ``status``, ``id``, ``enterprise_project_id``,
    ``owner``, ``min_disk``, ``__os_type``, ``__platform``, ``__backup_id``), a tag (``key=value``), which images
    (``__imagetype``, ``visibility``, ``member_status``) and ``__os_bit``; ``sort_key`` and ``sort_dir`` order
    them (``domain.listing``)."""
    selected = listing(
        imagetype=imagetype,
        visibility=visibility,
        member_status=member_status,
        tag=tag,
        sort_key=sort_key,
        sort_dir=sort_dir,
        os_bit=os_bit,
    )
    filters = {
        "name": name,
        "status": status,
        "image_id": id,
        "enterprise_project_id": enterprise_project_id,
        "owner": owner,
        "min_disk": min_disk,
        "os_type": os_type,
        "platform": platform,
        "backup_id": backup_id,
    }
    images = await _list(service, who, limit, marker, filters, selected)
    page_info = {"next_marker": images[-1]["id"]} if len(images) == limit else {}
    return {"images": images, "page_info": page_info}


@router.get("/v2/images")
async def glance_list_images(
    service: Service,
    who: Who,
    limit: ListLimit = 25,
    marker: str | None = None,
    name: str | None = None,
    status: str | None = None,
    id: str | None = None,
    imagetype: Annotated[str | None, Query(alias="__imagetype")] = None,
    os_type: Annotated[str | None, Query(alias="__os_type")] = None,
) -> dict[str, Any]:
    filters = {"name": name, "status": status, "image_id": id, "os_type": os_type}
    images = await _list(service, who, limit, marker, filters, listing(imagetype=imagetype))
    result: dict[str, Any] = {"images": images, "first": f"/v2/images?limit={limit}", "schema": "/v2/schemas/images"}
    if len(images) == limit:
        result["next"] = f"/v2/images?limit={limit}&marker={images[-1]['id']}"
    return result


@router.delete("/v2/images/{image_id}", status_code=204)
async def glance_delete_image(
    image_id: str, service: Service, who: Who, body: DeleteImageBody | None = None
) -> Response:
    async with service.database.transaction() as conn:
        image = await repository.lock_image(conn, image_id)
        if image is None or image["deleted_at"] is not None or image["project_id"] != who.project_id:
            raise Refusal(IMAGE_NOT_FOUND, f"image {image_id} not found", status=404)
        await delete_image(conn, service, image, delete_backup=bool(body and body.delete_backup), reason="user")
    return Response(status_code=204)
