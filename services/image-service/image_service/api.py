"""The IMS-compatible HTTP API of image-service: full-ECS image creation, jobs, images and deletion."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from image_service import repository
from image_service.creation import ImageContext
from image_service.domain import ImageRequest, check_account, check_backup, resolve_enterprise_project, validate_request
from image_service.errors import (
    BACKUP_ALREADY_USED,
    IMAGE_NOT_FOUND,
    JOB_NOT_FOUND,
    SERVER_BEING_BACKED_UP,
    ImsRejection,
)
from image_service.handlers import delete_image
from image_service.views import image_view, job_view
from ims_shared.auth import Caller, authenticate
from ims_shared.errors import ApiError
from ims_shared.events import ImageRequested, ImageTag, ServerBackupRequested
from ims_shared.service import ServiceRuntime

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


def runtime_of(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def context_of(request: Request) -> ImageContext:
    ic: ImageContext = runtime_of(request).services
    return ic


async def caller(request: Request, project_id: str | None = None) -> Caller:
    runtime = runtime_of(request)
    return await authenticate(request, runtime.tenants, runtime.settings.region, project_id)


def _reject(rejection: ImsRejection) -> ApiError:
    return ApiError(400, rejection.code, rejection.message)


async def _check_known_backup(conn: asyncpg.Connection, backup_id: str, project_id: str) -> None:
    """Reject at once what the projection already decides; an unknown backup is waited for by the job."""
    backup = await repository.get_backup(conn, backup_id)
    if backup is not None:
        check_backup(backup, project_id)
        if await repository.live_image_of_backup(conn, backup_id):
            raise ImsRejection(
                BACKUP_ALREADY_USED, f"backup {backup_id} has already been used to create a full-ECS image"
            )


async def _request_image(
    conn: asyncpg.Connection,
    runtime: ServiceRuntime,
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
    emitted = await runtime.emitter.emit(conn, event, project_id=who.project_id)
    return emitted.id


async def _request_server_backup(
    conn: asyncpg.Connection,
    runtime: ServiceRuntime,
    ic: ImageContext,
    who: Caller,
    job_id: str,
    server_id: str,
    vault_id: str,
    backup_id: str,
    name: str,
) -> str:
    """Creating from an ECS: backup-service first backs it up (a CBR checkpoint), then the job goes on."""
    if await repository.server_backup_in_progress(conn, who.project_id, server_id):
        raise ImsRejection(SERVER_BEING_BACKED_UP, f"ECS {server_id} is already being backed up for another image")
    event = ServerBackupRequested(
        server_id=server_id, backup_id=backup_id, vault_id=vault_id, job_id=job_id, name=f"{name}-backup"
    )
    emitted = await runtime.emitter.emit(conn, event, project_id=who.project_id)
    return emitted.id


@router.post("/v1/cloudimages/wholeimages/action")
async def create_whole_image(request: Request, body: CreateWholeImageBody) -> dict[str, str]:
    who = await caller(request)
    runtime = runtime_of(request)
    ic = context_of(request)
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
    try:
        tags = validate_request(image_request, policy=tenant.tag_policy, enterprise_projects=tenant.enterprise_projects)
        enterprise_project = resolve_enterprise_project(body.enterprise_project_id, tenant.enterprise_projects)
    except ImsRejection as rejection:
        raise _reject(rejection) from rejection
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
    async with runtime.db.acquire() as conn, conn.transaction():
        try:
            check_account(await ic.account_state_of(conn, who.project_id))
            if body.backup_id:
                await _check_known_backup(conn, body.backup_id, who.project_id)
                correlation = await _request_image(conn, runtime, who, image_id, job_id, body, enterprise_project, tags)
            else:
                assert body.instance_id and body.vault_id
                correlation = await _request_server_backup(
                    conn, runtime, ic, who, job_id, body.instance_id, body.vault_id, backup_id, body.name
                )
        except ImsRejection as rejection:
            raise _reject(rejection) from rejection
        await repository.insert_job(
            conn,
            job_id=job_id,
            project_id=who.project_id,
            image_id=image_id,
            image_name=body.name,
            backup_id=backup_id,
            request=stored,
            correlation_id=correlation,
        )
        if body.instance_id and not body.backup_id:
            await repository.wait_for_backup(
                conn, job_id, datetime.now(UTC) + timedelta(seconds=ic.settings.server_backup_wait_s)
            )
    return {"job_id": job_id}


async def _job(request: Request, project_id: str, job_id: str) -> dict[str, Any]:
    row = await repository.get_job(runtime_of(request).db, project_id, job_id)
    if row is None:
        raise ApiError(404, JOB_NOT_FOUND, f"job {job_id} not found")
    return job_view(row)


@router.get("/v1/{project_id}/jobs/{job_id}")
async def show_job(request: Request, project_id: str, job_id: str) -> dict[str, Any]:
    who = await caller(request, project_id)
    return await _job(request, who.project_id, job_id)


@router.get("/v1/cloudimages/job/{job_id}")
async def show_job_progress(request: Request, job_id: str) -> dict[str, Any]:
    who = await caller(request)
    return await _job(request, who.project_id, job_id)


async def _visible_image(request: Request, who: Caller, image_id: str) -> Any:
    """The owner's image, or one shared with the caller's project that it has not rejected."""
    db = runtime_of(request).db
    row = await repository.get_image(db, image_id)
    shared_with_caller = ("pending", "accepted")
    if (
        row is not None
        and row["project_id"] != who.project_id
        and await repository.member_status(db, image_id, who.project_id) not in shared_with_caller
    ):
        row = None
    if row is None:
        raise ApiError(404, IMAGE_NOT_FOUND, f"image {image_id} not found")
    return row


@router.get("/v2/images/{image_id}")
async def glance_show_image(request: Request, image_id: str) -> dict[str, Any]:
    who = await caller(request)
    return image_view(await _visible_image(request, who, image_id), viewer_project=who.project_id)


ListLimit = Annotated[int, Query(ge=1, le=1000)]


async def _list(
    request: Request, who: Caller, limit: int, marker: str | None, filters: dict[str, Any]
) -> list[dict[str, Any]]:
    imagetype = filters.pop("imagetype", None)
    if imagetype not in (None, "private", "shared"):
        return []
    rows = await repository.list_images(runtime_of(request).db, who.project_id, filters, limit, marker, imagetype)
    return [image_view(r, viewer_project=who.project_id) for r in rows]


@router.get("/v2/cloudimages")
async def list_images(
    request: Request,
    limit: ListLimit = 500,
    marker: str | None = None,
    name: str | None = None,
    status: str | None = None,
    id: str | None = None,
    enterprise_project_id: str | None = None,
    imagetype: Annotated[str | None, Query(alias="__imagetype")] = None,
    os_type: Annotated[str | None, Query(alias="__os_type")] = None,
    backup_id: Annotated[str | None, Query(alias="__backup_id")] = None,
) -> dict[str, Any]:
    who = await caller(request)
    filters = {
        "name": name,
        "status": status,
        "image_id": id,
        "enterprise_project_id": enterprise_project_id,
        "imagetype": imagetype,
        "os_type": os_type,
        "backup_id": backup_id,
    }
    images = await _list(request, who, limit, marker, filters)
    page_info = {"next_marker": images[-1]["id"]} if len(images) == limit else {}
    return {"images": images, "page_info": page_info}


@router.get("/v2/images")
async def glance_list_images(
    request: Request,
    limit: ListLimit = 25,
    marker: str | None = None,
    name: str | None = None,
    status: str | None = None,
    id: str | None = None,
    imagetype: Annotated[str | None, Query(alias="__imagetype")] = None,
    os_type: Annotated[str | None, Query(alias="__os_type")] = None,
) -> dict[str, Any]:
    who = await caller(request)
    filters = {"name": name, "status": status, "image_id": id, "imagetype": imagetype, "os_type": os_type}
    images = await _list(request, who, limit, marker, filters)
    result: dict[str, Any] = {"images": images, "first": f"/v2/images?limit={limit}", "schema": "/v2/schemas/images"}
    if len(images) == limit:
        result["next"] = f"/v2/images?limit={limit}&marker={images[-1]['id']}"
    return result


@router.delete("/v2/images/{image_id}", status_code=204)
async def glance_delete_image(request: Request, image_id: str, body: DeleteImageBody | None = None) -> Response:
    who = await caller(request)
    runtime = runtime_of(request)
    async with runtime.db.acquire() as conn, conn.transaction():
        image = await repository.lock_image(conn, image_id)
        if image is None or image["deleted_at"] is not None or image["project_id"] != who.project_id:
            raise ApiError(404, IMAGE_NOT_FOUND, f"image {image_id} not found")
        await delete_image(
            conn, context_of(request), image, delete_backup=bool(body and body.delete_backup), reason="user"
        )
    return Response(status_code=204)
