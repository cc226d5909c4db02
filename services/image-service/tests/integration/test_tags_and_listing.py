"""The SQL of image tags and of ListImages over a real PostgreSQL: the tag limit under concurrent calls, the tag
query of ListImageByTags, a project's tags, and the ListImages filters and orders with their markers."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from image_service import image_queries, repository
from image_service.app import MIGRATIONS
from image_service.domain import BackupFacts, ImageRow, listing, new_image
from image_service.tags import TagCondition, TagQuery, tags_added
from ims_shared.refusal import Refusal
from ims_shared.tenants import TagPolicy
from tests.support import fresh_database

pytestmark = pytest.mark.integration
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def image(image_id: str, project: str = "p1", **asked: Any) -> ImageRow:
    server = {"os_type": "Linux", "os_version": asked.pop("os_version", "Ubuntu 22.04 server 64bit")}
    backup = BackupFacts(
        backup_id=f"b-{image_id}",
        project_id=project,
        status="available",
        resource_type="OS::Nova::Server",
        resource_id="ecs-1",
        size_gb=asked.pop("size_gb", 40),
        server=server,
        disks=[{"volume_id": "v1", "size_gb": asked.pop("min_disk", 40), "bootable": True}],
    )
    at = asked.pop("at", T0)
    row = new_image(
        image_id=image_id,
        project_id=project,
        job_id=str(uuid.uuid4()),
        asked={"name": image_id, **asked},
        backup=backup,
        build_s=0,
        now=at,
    )
    return row


async def insert(pool: asyncpg.Pool, *rows: ImageRow) -> None:
    async with pool.acquire() as conn:
        assert len(await repository.insert_images(conn, list(rows))) == len(rows)
        for row in rows:  # created_at as the row says it was made
            await conn.execute(
                "UPDATE images SET created_at = $2 WHERE image_id = $1", row["image_id"], row["active_at"]
            )


def tags(*pairs: str) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, _, v in (p.partition("=") for p in pairs)]


async def test_an_image_keeps_at_most_ten_tags_under_concurrent_additions() -> None:
    async with fresh_database(MIGRATIONS) as (_, pool):
        await insert(pool, image("tagged"))

        async def add(i: int) -> str:
            async with pool.acquire() as conn, conn.transaction():
                row = await repository.lock_image(conn, "tagged")
                assert row is not None
                try:
                    await repository.set_image_tags(
                        conn, "tagged", tags_added(row["tags"], tags(f"k{i}=v"), TagPolicy())
                    )
                except Refusal as refusal:
                    return refusal.code
                return "added"

        outcomes = await asyncio.gather(*(add(i) for i in range(25)))
        assert outcomes.count("added") == 10
        assert await pool.fetchval("SELECT jsonb_array_length(tags) FROM images WHERE image_id = 'tagged'") == 10
        with pytest.raises(asyncpg.CheckViolationError):
            await repository.set_image_tags(pool, "tagged", tags(*(f"k{i}=v" for i in range(11))))


async def test_the_tag_query_of_list_image_by_tags() -> None:
    async with fresh_database(MIGRATIONS) as (_, pool):
        await insert(
            pool,
            image("web-prod", tags=tags("env=prod", "team=web"), at=T0),
            image("web-test", tags=tags("env=test", "team=web"), at=T0 + timedelta(seconds=1)),
            image("db-prod", tags=tags("env=prod", "team=db"), at=T0 + timedelta(seconds=2)),
            image("untagged", at=T0 + timedelta(seconds=3)),
            image("other-project", project="p2", tags=tags("env=prod")),
        )

        async def found(**query: Any) -> list[str]:
            total, rows = await image_queries.images_by_tags(pool, "p1", TagQuery(**query))
            assert total >= len(rows)
            return [r["image_id"] for r in rows]

        env = TagCondition("env", ("prod",))
        assert await found(tags=(env,)) == ["db-prod", "web-prod"]
        assert await found(tags=(env, TagCondition("team", ("web",)))) == ["web-prod"]
        assert await found(tags=(TagCondition("env"),)) == ["db-prod", "web-test", "web-prod"]
        assert await found(tags=(TagCondition("env", ("prod", "test")),), limit=2) == ["db-prod", "web-test"]
        assert await found(tags=(TagCondition("env"),), offset=2) == ["web-prod"]
        assert await found(tags_any=(env, TagCondition("team", ("web",)))) == ["db-prod", "web-test", "web-prod"]
        assert await found(not_tags=(env, TagCondition("team", ("db",)))) == ["untagged", "web-test", "web-prod"]
        assert await found(not_tags_any=(env, TagCondition("team", ("db",)))) == ["untagged", "web-test"]
        assert await found(without_any_tag=True) == ["untagged"]
        assert await found(name_contains="web") == ["web-test", "web-prod"]
        assert await found(name_contains="%") == []
        assert await found(image_id="db-prod") == ["db-prod"]
        total, rows = await image_queries.images_by_tags(pool, "p1", TagQuery(count=True, tags=(env,)))
        assert (total, rows) == (2, [])

        project = await image_queries.project_tags(pool, "p1")
        assert [(r["key"], list(r["values"])) for r in project] == [("env", ["prod", "test"]), ("team", ["db", "web"])]


async def test_list_images_filters_and_orders() -> None:
    async with fresh_database(MIGRATIONS) as (_, pool):
        await insert(
            pool,
            image("a", tags=tags("env=prod"), min_disk=40, at=T0),
            image("c", os_version="CentOS 7.9 64bit", min_disk=80, at=T0 + timedelta(seconds=1)),
            image("b", os_version="Windows Server 2019 Datacenter 64bit", at=T0 + timedelta(seconds=2)),
            image("theirs", project="p2", at=T0 + timedelta(seconds=3)),
        )

        async def ids(
            filters: dict[str, Any] | None = None, limit: int = 10, marker: str | None = None, **given: Any
        ) -> list[str]:
            selected = listing(**given)
            after = await image_queries.list_position(pool, "p1", marker, selected) if marker else None
            rows = await image_queries.list_images(pool, "p1", filters or {}, limit, after, selected)
            return [r["image_id"] for r in rows]

        assert await ids() == ["b", "c", "a"]
        assert await ids(tag="env=prod") == ["a"]
        assert await ids(tag="env") == ["a"]
        assert await ids(tag="env=test") == []
        assert await ids({"min_disk": 80}) == ["c"]
        assert await ids({"platform": "Windows"}) == ["b"]
        assert await ids({"platform": "Ubuntu"}) == ["a"]
        assert await ids({"platform": "CentOS"}) == ["c"]
        assert await ids({"platform": "Other"}) == []
        assert await ids({"platform": "Nonesuch"}) == []
        assert await ids({"owner": "p1"}) == ["b", "c", "a"]
        assert await ids({"owner": "p2"}) == []
        assert await ids(sort_key="name", sort_dir="asc") == ["a", "b", "c"]
        assert await ids(sort_key="name", sort_dir="asc", limit=2, marker="b") == ["c"]
        assert await ids(sort_key="min_disk", sort_dir="desc", limit=1, marker="c") == ["b"]
        assert await ids(sort_key="created_at", sort_dir="asc", marker="a") == ["c", "b"]

        await pool.execute("INSERT INTO members (image_id, member_id, status) VALUES ('theirs', 'p1', 'pending')")
        assert await ids(member_status="pending") == ["theirs"]
        assert await ids(member_status="accepted") == []
        assert await ids(visibility="shared") == []
        assert await ids(visibility="private") == ["b", "c", "a"]
