"""Migration 0002_image_disks over a database that 0001 left with data: each image gets the disks and OS its backup
gave it, and only the backups deleted are kept, so that an image whose backup is gone is still refused."""

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from compute_service.app import MIGRATIONS
from compute_service.images import source_image
from ims_shared.db import apply_migrations, create_pool, json_text
from ims_shared.refusal import Refusal
from ims_shared.service import SHARED_MIGRATIONS
from tests.support import scratch_database

from .conftest import ALPHA, REGION

pytestmark = pytest.mark.integration

DISKS = [
    {"volume_id": "src-sys", "device": "/dev/vda", "size_gb": 50, "bootable": True, "volume_type": "ESSD"},
    {"volume_id": "src-data", "device": "/dev/vdb", "size_gb": 20, "bootable": False, "volume_type": "SSD"},
]


@pytest_asyncio.fixture
async def database(tmp_path: Path) -> AsyncIterator[str]:
    """A database with compute-service's first migration only."""
    first = tmp_path / "first"
    first.mkdir()
    shutil.copy(MIGRATIONS / "0001_compute.sql", first)
    async with scratch_database("compute_migration") as dsn:
        await apply_migrations(dsn, first, SHARED_MIGRATIONS)
        yield dsn


async def test_images_known_before_take_their_backups_disks_and_os(database: str) -> None:
    conn = await asyncpg.connect(database)
    try:
        server = json_text({"os_type": "Linux", "os_version": "Ubuntu 22.04 server 64bit", "configured": True})
        await conn.executemany(
            "INSERT INTO backups (backup_id, project_id, server, disks, deleted) "
            "VALUES ($1, $2, $3::jsonb, $4::jsonb, $5)",
            [("backup-1", ALPHA, server, json_text(DISKS), False), ("backup-2", ALPHA, server, json_text(DISKS), True)],
        )
        await conn.executemany(
            "INSERT INTO images (image_id, project_id, backup_id, name, status) VALUES ($1, $2, $3, 'web', 'active')",
            [("image-1", ALPHA, "backup-1"), ("image-2", ALPHA, "backup-2")],
        )
    finally:
        await conn.close()
    assert await apply_migrations(database, MIGRATIONS, SHARED_MIGRATIONS) == 1
    pool = await create_pool(database, 2)
    try:
        image = await source_image(pool, REGION, ALPHA, "image-1")
        assert (image.os_type, image.os_version, image.backup_id) == ("Linux", "Ubuntu 22.04 server 64bit", "backup-1")
        assert [(d.size_gb, d.backup_volume_id, d.bootable) for d in image.disks] == [
            (50, "src-sys", True),
            (20, "src-data", False),
        ]
        with pytest.raises(Refusal) as caught:
            await source_image(pool, REGION, ALPHA, "image-2")
        assert caught.value.code == "Ecs.0022"  # its backup was deleted before the migration
        assert [r["backup_id"] for r in await pool.fetch("SELECT backup_id FROM deleted_backups")] == ["backup-2"]
    finally:
        await pool.close()
