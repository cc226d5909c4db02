"""Recording a batch of backups and listing a project's backups (CBR ListBackups), over real PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest

from backup_service import repository
from backup_service.app import MIGRATIONS
from backup_service.repository import BackupFilters
from ims_shared.events import BackupCreated, BackupDisk, ServerInfo
from tests.support import fresh_database

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _backup(n: int, **changes: object) -> BackupCreated:
    backup = BackupCreated(
        backup_id=f"b-{n}",
        vault_id="v-1",
        name=f"nightly-{n}",
        resource_id="ecs-1",
        resource_name="web",
        created_at=T0 + timedelta(minutes=n),
        size_gb=40,
        server=ServerInfo(os_type="Linux", os_version="Ubuntu 22.04", state="SHUTOFF"),
        disks=[BackupDisk(volume_id="vol-1", device="/dev/vda", size_gb=40, bootable=True)],
    )
    return backup.model_copy(update=changes)


async def test_a_batch_of_backups_is_recorded_in_full_once() -> None:
    plain, shared, copy = _backup(1), _backup(2, shared_from_project_id="p-owner"), _backup(3, server=None)
    copy = copy.model_copy(update={"replicated_from_region": "ap-southeast-1", "replicated_from_backup_id": "b-src"})
    async with fresh_database(MIGRATIONS) as (_, pool), pool.acquire() as conn:
        recorded = await repository.record_backups(conn, [("p1", plain), ("p2", shared), ("p1", copy)])
        assert recorded == {"b-1", "b-2", "b-3"}
        assert await repository.record_backups(conn, [("p1", plain), ("p1", _backup(4))]) == {"b-4"}
        row = await repository.get_backup(conn, "p1", "b-1")
        assert row is not None
        assert row["server"] == {
            "os_type": "Linux",
            "os_version": "Ubuntu 22.04",
            "configured": True,
            "state": "SHUTOFF",
        }
        assert row["disks"] == [
            {"volume_id": "vol-1", "device": "/dev/vda", "size_gb": 40, "bootable": True, "volume_type": "SSD"}
        ]
        assert (row["created_at"], row["size_gb"], row["status"], row["incremental"]) == (
            T0 + timedelta(minutes=1),
            40,
            "available",
            False,
        )
        assert (await repository.get_backup(conn, "p2", "b-2") or {})["shared_from_project_id"] == "p-owner"
        made = await repository.get_backup(conn, "p1", "b-3")
        assert made is not None and made["server"] is None
        assert (made["replicated_from_region"], made["replicated_from_backup_id"]) == ("ap-southeast-1", "b-src")


async def test_listing_filters_pages_and_counts_the_projects_live_backups() -> None:
    backups = [
        _backup(1),
        _backup(2, vault_id="v-2"),
        _backup(3, resource_id="ecs-2", name="weekly"),
        _backup(4, status="protecting"),
        _backup(5),
    ]
    async with fresh_database(MIGRATIONS) as (_, pool), pool.acquire() as conn:
        await repository.record_backups(conn, [("p1", b) for b in backups] + [("p2", _backup(6))])
        await repository.set_image(conn, "b-1", "img-1")
        await repository.mark_deleted(conn, "b-5", "user")

        def only(**filters: str) -> BackupFilters:
            return BackupFilters(**({field: None for field in BackupFilters._fields} | filters))

        async def ids(**filters: str) -> tuple[list[str], int]:
            rows, total = await repository.list_backups(pool, "p1", limit=10, offset=0, filters=only(**filters))
            return [r["backup_id"] for r in rows], total

        assert await ids() == (["b-4", "b-3", "b-2", "b-1"], 4)
        assert await ids(vault_id="v-1") == (["b-4", "b-3", "b-1"], 3)
        assert await ids(resource_id="ecs-2") == (["b-3"], 1)
        assert await ids(resource_type="OS::Nova::Server", status="protecting") == (["b-4"], 1)
        assert await ids(name="weekly") == (["b-3"], 1)
        assert await ids(image_id="img-1") == (["b-1"], 1)
        assert await ids(vault_id="v-2", name="weekly") == ([], 0)
        page, total = await repository.list_backups(pool, "p1", limit=2, offset=1, filters=only())
        assert ([r["backup_id"] for r in page], total) == (["b-3", "b-2"], 4)
        assert await repository.list_backups(pool, "p1", limit=2, offset=9, filters=only()) == ([], 4)


async def test_listing_honours_every_filter_the_sdk_sends_sorts_and_pages_from_a_marker() -> None:
    backups = [
        _backup(1),
        _backup(2, shared_from_project_id="p-owner", resource_name="db"),
        _backup(3, incremental=True, parent_id="b-1", name="a-first"),
        _backup(4),
    ]
    async with fresh_database(MIGRATIONS) as (_, pool), pool.acquire() as conn:
        await repository.record_backups(conn, [("p1", b) for b in backups])
        await conn.execute("UPDATE backups SET checkpoint_id = 'cp-1' WHERE backup_id IN ('b-1', 'b-4')")

        async def ids(**filters: object) -> list[str]:
            sort = filters.pop("sort", ("created_at", True))
            marker = filters.pop("marker", None)
            after = await repository.get_backup(pool, "p1", str(marker)) if marker else None
            rows, _ = await repository.list_backups(
                pool,
                "p1",
                limit=10,
                offset=0,
                filters=BackupFilters(**filters),
                sort=sort,
                marker=after,  # type: ignore[arg-type]
            )
            return [r["backup_id"] for r in rows]

        assert await ids(checkpoint_id="cp-1") == ["b-4", "b-1"]
        assert await ids(checkpoint_id="b-2") == ["b-2"]  # a backup made by no checkpoint is its own
        assert await ids(image_type="replication") == ["b-2"]
        assert await ids(own_type="private") == ["b-4", "b-3", "b-1"]
        assert await ids(own_type="shared") == ["b-2"]
        assert await ids(own_type="all_granted") == ["b-4", "b-3", "b-2", "b-1"]
        assert await ids(parent_id="b-1") == await ids(incremental=True) == ["b-3"]
        assert await ids(resource_name="db") == ["b-2"]
        assert await ids(start_time=T0 + timedelta(minutes=2), end_time=T0 + timedelta(minutes=3)) == ["b-3", "b-2"]
        assert await ids(sort=("name", False)) == ["b-3", "b-1", "b-2", "b-4"]
        assert await ids(sort=("created_at", False), marker="b-2") == ["b-3", "b-4"]
        assert await ids(marker="b-3") == ["b-2", "b-1"]
