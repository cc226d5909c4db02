"""Sharing API of image-service: IMS batch member calls and the Glance-style /v2/images/{id}/members calls."""

import uuid
from typing import Any, Literal

import asyncpg
from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from image_service import members, repository, vaults
from image_service.context import ImageService, Service, Who
from image_service.domain import check_account
from image_service.errors import IMAGE_NOT_FOUND, MEMBER_NOT_FOUND, invalid_parameter
from ims_shared.auth import Caller
from ims_shared.events import EventData
from ims_shared.events.images import ImageMemberStatusChanged, ImageShared, ImageUnshared
from ims_shared.refusal import Refusal

router = APIRouter()


class BatchMembersBody(BaseModel):
    images: list[str] = Field(min_length=1, max_length=100)
    projects: list[str] = Field(default_factory=list, max_length=100)


class BatchUpdateMemberBody(BaseModel):
    images: list[str] = Field(min_length=1, max_length=100)
    project_id: str = Field(min_length=1, max_length=64)
    status: Literal["accepted", "rejected"]
    vault_id: str | None = Field(default=None, max_length=64)


class AddMemberBody(BaseModel):
    member: str = Field(min_length=1, max_length=64)


class UpdateMemberBody(BaseModel):
    status: Literal["accepted", "rejected"]
    vault_id: str | None = Field(default=None, max_length=64)


async def _owned_image(conn: asyncpg.Connection, who: Caller, image_id: str) -> asyncpg.Record:
    image = await repository.lock_image(conn, image_id)
    if image is None or image["deleted_at"] is not None or image["project_id"] != who.project_id:
        raise Refusal(IMAGE_NOT_FOUND, f"image {image_id} not found", status=404)
    return image


async def _shared_image(conn: asyncpg.Connection, who: Caller, image_id: str) -> asyncpg.Record:
    image = await repository.lock_image(conn, image_id)
    member = await members.get_member(conn, image_id, who.project_id) if image else None
    if image is None or image["deleted_at"] is not None or member is None:
        raise Refusal(IMAGE_NOT_FOUND, f"image {image_id} is not shared with project {who.project_id}", status=404)
    return image


async def _emit(service: ImageService, conn: asyncpg.Connection, data: EventData, project_id: str) -> None:
    await service.emitter.emit(conn, data, project_id=project_id)


async def _finished_job(conn: asyncpg.Connection, who: Caller, job_type: str, image_id: str) -> str:
    job_id = str(uuid.uuid4())
    await repository.insert_job(
        conn,
        job_id=job_id,
        project_id=who.project_id,
        image_id=image_id,
        image_name="",
        backup_id=None,
        request={},
        correlation_id=None,
        job_type=job_type,
    )
    await repository.job_succeeded(conn, job_id)
    return job_id


async def _share(
    service: ImageService, conn: asyncpg.Connection, who: Caller, image_id: str, projects: list[str]
) -> None:
    ic = service
    image = await _owned_image(conn, who, image_id)
    check_account(await ic.account_state_of(conn, who.project_id))
    members.check_shareable(image, who.project_id)
    for project in projects:
        members.check_recipient(ic.tenants, who.project_id, project, who.region)
        if await members.add_member(conn, image_id, project):
            await _emit(
                service,
                conn,
                ImageShared(image_id=image_id, member_project_id=project, owner_project_id=who.project_id),
                who.project_id,
            )


async def _answer(
    service: ImageService, conn: asyncpg.Connection, who: Caller, image_id: str, status: str, vault_id: str | None
) -> asyncpg.Record:
    await _shared_image(conn, who, image_id)
    if status == "accepted" and not vault_id:
        raise invalid_parameter("vault_id is required to accept a shared full-ECS image")
    if status == "accepted" and vault_id:
        await vaults.check_vault(conn, who.project_id, vault_id)
    await members.set_member_status(conn, image_id, who.project_id, status, vault_id)
    await _emit(
        service,
        conn,
        ImageMemberStatusChanged(
            image_id=image_id,
            member_project_id=who.project_id,
            status=status,
            vault_id=vault_id,
        ),
        who.project_id,
    )
    member = await members.get_member(conn, image_id, who.project_id)
    assert member is not None
    return member


async def _unshare(service: ImageService, conn: asyncpg.Connection, who: Caller, image_id: str, project: str) -> None:
    await _owned_image(conn, who, image_id)
    if not await members.remove_member(conn, image_id, project):
        raise Refusal(MEMBER_NOT_FOUND, f"project {project} is not a member of image {image_id}", status=404)
    await _emit(service, conn, ImageUnshared(image_id=image_id, member_project_id=project), who.project_id)


@router.post("/v1/cloudimages/members")
async def batch_add_members(body: BatchMembersBody, service: Service, who: Who) -> dict[str, str]:
    if not body.projects:
        raise invalid_parameter("projects must name at least one project")
    async with service.database.transaction() as conn:
        for image_id in body.images:
            await _share(service, conn, who, image_id, body.projects)
        return {"job_id": await _finished_job(conn, who, "imsBatchAddMembersJob", body.images[0])}


@router.put("/v1/cloudimages/members")
async def batch_update_members(body: BatchUpdateMemberBody, service: Service, who: Who) -> dict[str, str]:
    if body.project_id != who.project_id:
        raise Refusal("APIGW.0302", "only the recipient project can accept or reject a shared image", status=403)
    async with service.database.transaction() as conn:
        for image_id in body.images:
            await _answer(service, conn, who, image_id, body.status, body.vault_id)
        return {"job_id": await _finished_job(conn, who, "imsBatchUpdateMembersJob", body.images[0])}


@router.delete("/v1/cloudimages/members")
async def batch_delete_members(body: BatchMembersBody, service: Service, who: Who) -> dict[str, str]:
    async with service.database.transaction() as conn:
        for image_id in body.images:
            for project in body.projects:
                await _unshare(service, conn, who, image_id, project)
        return {"job_id": await _finished_job(conn, who, "imsBatchDeleteMembersJob", body.images[0])}


@router.post("/v2/images/{image_id}/members")
async def glance_add_member(image_id: str, body: AddMemberBody, service: Service, who: Who) -> dict[str, Any]:
    async with service.database.transaction() as conn:
        await _share(service, conn, who, image_id, [body.member])
        member = await members.get_member(conn, image_id, body.member)
        assert member is not None
        return members.member_view(member)


@router.get("/v2/images/{image_id}/members")
async def glance_list_members(image_id: str, service: Service, who: Who) -> dict[str, Any]:
    db = service.database.pool
    image = await repository.get_image(db, image_id)
    if image is None or image["project_id"] != who.project_id:
        raise Refusal(IMAGE_NOT_FOUND, f"image {image_id} not found", status=404)
    rows = await members.list_members(db, image_id)
    return {"members": [members.member_view(r) for r in rows], "schema": "/v2/schemas/members"}


@router.get("/v2/images/{image_id}/members/{member_id}")
async def glance_show_member(image_id: str, member_id: str, service: Service, who: Who) -> dict[str, Any]:
    db = service.database.pool
    image = await repository.get_image(db, image_id)
    member = await members.get_member(db, image_id, member_id) if image else None
    visible = image is not None and who.project_id in (image["project_id"], member_id)
    if member is None or not visible:
        raise Refusal(MEMBER_NOT_FOUND, f"member {member_id} of image {image_id} not found", status=404)
    return members.member_view(member)


@router.put("/v2/images/{image_id}/members/{member_id}")
async def glance_update_member(
    image_id: str, member_id: str, body: UpdateMemberBody, service: Service, who: Who
) -> dict[str, Any]:
    if member_id != who.project_id:
        raise Refusal("APIGW.0302", "only the recipient project can accept or reject a shared image", status=403)
    async with service.database.transaction() as conn:
        member = await _answer(service, conn, who, image_id, body.status, body.vault_id)
        return members.member_view(member)


@router.delete("/v2/images/{image_id}/members/{member_id}", status_code=204)
async def glance_delete_member(image_id: str, member_id: str, service: Service, who: Who) -> Response:
    async with service.database.transaction() as conn:
        await _unshare(service, conn, who, image_id, member_id)
    return Response(status_code=204)
