"""Sharing a full-ECS image with other tenants' projects (image members): rules and SQL."""

from typing import Any

import asyncpg

from image_service.errors import (
    NOT_SHAREABLE,
    SHARE_OF_SHARED_BACKUP,
    TOO_MANY_MEMBERS,
    invalid_parameter,
)
from ims_shared.refusal import Refusal
from ims_shared.tenants import TenantCatalog

MAX_MEMBERS = 10


def check_shareable(image: asyncpg.Record, owner_project: str) -> None:
    """Only an active image, of its owner's, may be shared; and not one made from a shared backup."""
    if image["status"] != "active":
        raise Refusal(
            NOT_SHAREABLE, f"image {image['image_id']} is {image['status']}; only active images can be shared"
        )
    check_not_made_from_shared_backup(image["image_id"], image["shared_from_project_id"])
    assert image["project_id"] == owner_project


def check_not_made_from_shared_backup(image_id: str, shared_from_project_id: str | None) -> None:
    """No sharing of an image of a shared backup: "A full-ECS image created from a CBR backup can be shared with other
    tenants. However, if it is a shared CBR backup, the full-ECS image created from it cannot be shared." (IMG.0135;
    ``shared_from_project_id``: the project that shared the backup the image was made from.)"""
    if shared_from_project_id:
        raise Refusal(
            SHARE_OF_SHARED_BACKUP, f"image {image_id} was created from a shared CBR backup and cannot be shared"
        )


def check_recipient(catalog: TenantCatalog, owner_project: str, member: str, region: str) -> None:
    """Recipients: "A full-ECS image created from a CBR backup can be shared with other tenants." They are other
    tenants' projects in the same region."""
    owner = catalog.by_project(owner_project)
    recipient = catalog.by_project(member)
    if recipient is None or recipient.project_in(region) != member:
        raise invalid_parameter(f"project {member} is not a project in region {region}")
    if owner is not None and recipient.name == owner.name:
        raise invalid_parameter(f"project {member} belongs to the image owner's own tenant")


async def add_member(conn: asyncpg.Connection, image_id: str, member: str) -> bool:
    """Add ``member`` (the image row must be locked by the caller); False when already a member."""
    count = await conn.fetchval("SELECT count(*) FROM members WHERE image_id = $1", image_id)
    exists = await conn.fetchval("SELECT 1 FROM members WHERE image_id = $1 AND member_id = $2", image_id, member)
    if exists:
        return False
    if count >= MAX_MEMBERS:
        raise Refusal(TOO_MANY_MEMBERS, f"a full-ECS image can be shared with at most {MAX_MEMBERS} projects")
    await conn.execute("INSERT INTO members (image_id, member_id) VALUES ($1, $2)", image_id, member)
    return True


async def set_member_status(
    conn: asyncpg.Connection, image_id: str, member: str, status: str, vault_id: str | None
) -> bool:
    updated = await conn.fetchval(
        "UPDATE members SET status = $3, vault_id = $4, updated_at = now() WHERE image_id = $1 AND member_id = $2 "
        "RETURNING 1",
        image_id,
        member,
        status,
        vault_id,
    )
    return updated is not None


async def remove_member(conn: asyncpg.Connection, image_id: str, member: str) -> bool:
    removed = await conn.fetchval(
        "DELETE FROM members WHERE image_id = $1 AND member_id = $2 RETURNING 1", image_id, member
    )
    return removed is not None


async def get_member(conn: asyncpg.Connection | asyncpg.Pool, image_id: str, member: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM members WHERE image_id = $1 AND member_id = $2", image_id, member)


async def list_members(conn: asyncpg.Connection | asyncpg.Pool, image_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM members WHERE image_id = $1 ORDER BY created_at, member_id", image_id)


def member_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "status": row["status"],
        "created_at": row["created_at"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "updated_at": row["updated_at"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "image_id": row["image_id"],
        "member_id": row["member_id"],
        "schema": "/v2/schemas/member",
        "member_type": "project",
    }
