"""Rules that must hold under concurrency, enforced by PostgreSQL."""

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from image_service import members, repository
from image_service.app import MIGRATIONS
from image_service.domain import BackupFacts, ImageRow, new_image
from ims_shared.refusal import Refusal
from tests.support import fresh_database

pytestmark = pytest.mark.integration


def image_values(image_id: str, backup_id: str) -> ImageRow:
    backup = BackupFacts(
        backup_id=backup_id,
        project_id="p1",
        status="available",
        resource_type="OS::Nova::Server",
        resource_id="ecs-1",
        size_gb=40,
        server={"os_type": "Linux"},
        disks=[{"volume_id": "v1", "size_gb": 40, "bootable": True}],
    )
    job_id = str(uuid.uuid4())
    return new_image(
        image_id=image_id,
        project_id="p1",
        job_id=job_id,
        asked={"name": "img"},
        backup=backup,
        build_s=0,
        now=datetime.now(UTC),
    )


async def insert_image(conn: asyncpg.Connection, values: ImageRow) -> bool:
    return values["image_id"] in await repository.insert_images(conn, [values])


async def test_concurrent_inserts_for_one_backup_make_exactly_one_image() -> None:
    async with fresh_database(MIGRATIONS) as (_, pool):

        async def attempt(i: int) -> bool:
            async with pool.acquire() as conn, conn.transaction():
                return await insert_image(conn, image_values(f"img-{i}", "b-1"))

        results = await asyncio.gather(*(attempt(i) for i in range(30)))
        assert results.count(True) == 1
        assert await pool.fetchval("SELECT count(*) FROM images WHERE backup_id = 'b-1'") == 1


async def test_a_deleted_image_frees_its_backup_for_a_new_one() -> None:
    async with fresh_database(MIGRATIONS) as (_, pool), pool.acquire() as conn:
        assert await insert_image(conn, image_values("first", "b-2"))
        await repository.mark_image_deleted(conn, "first", "user")
        assert await insert_image(conn, image_values("second", "b-2"))
        assert not await insert_image(conn, image_values("third", "b-2"))


async def test_no_more_than_ten_members_even_when_added_concurrently() -> None:
    async with fresh_database(MIGRATIONS) as (_, pool):
        async with pool.acquire() as conn:
            await insert_image(conn, image_values("shared", "b-3"))

        async def share(i: int) -> str:
            async with pool.acquire() as conn, conn.transaction():
                await repository.lock_image(conn, "shared")
                try:
                    await members.add_member(conn, "shared", f"project-{i}")
                except Refusal as rejection:
                    return rejection.code
                return "added"

        outcomes = await asyncio.gather(*(share(i) for i in range(25)))
        assert outcomes.count("added") == 10
        assert set(outcomes) == {"added", "IMG.0083"}
        assert await pool.fetchval("SELECT count(*) FROM members WHERE image_id = 'shared'") == 10


async def test_the_member_status_is_constrained() -> None:
    async with fresh_database(MIGRATIONS) as (_, pool), pool.acquire() as conn:
        await insert_image(conn, image_values("i", "b-4"))
        await members.add_member(conn, "i", "p2")
        with pytest.raises(asyncpg.CheckViolationError):
            await members.set_member_status(conn, "i", "p2", "maybe", None)
