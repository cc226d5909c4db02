"""A batch statement reads the rows of its batch through an index, not the whole table: with a few thousand
rows stored, a run of a few events must not cost a scan of them all (the planner takes a batch for 100 rows)."""

from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from image_service import repository
from image_service.app import MIGRATIONS, bootstrap
from image_service.context import ImageService
from image_service.handlers import on_backups_created, on_images_requested
from image_service.settings import ImageSettings
from ims_shared.consumer import HandlerContext
from ims_shared.emitter import Emitter
from ims_shared.events import BackupCreated, BackupDisk, EventData, ImageRequested, ServerInfo, make_event
from tests.support import fresh_database, rows_scanned

pytestmark = pytest.mark.integration
PROJECT = "a0000000000000000000000000000001"
STORED = 3000


def _backup(n: int) -> BackupCreated:
    return BackupCreated(
        backup_id=f"b-{n}",
        vault_id="vault-1",
        name=f"backup {n}",
        resource_id=f"ecs-{n}",
        resource_type="OS::Nova::Server",
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
        size_gb=60,
        server=ServerInfo(os_type="Linux", os_version="Ubuntu 22.04 server 64bit", configured=True, state="ACTIVE"),
        disks=[BackupDisk(volume_id=f"vol-{n}", device="/dev/vda", size_gb=40, bootable=True)],
    )


def _request(n: int) -> ImageRequested:
    return ImageRequested(image_id=f"image-{n}", job_id=f"job-{n}", name=f"image {n}", backup_id=f"b-{n}")


async def _make_images(conn: asyncpg.Connection, ic: ImageService, numbers: range) -> set[str]:
    """A run of BackupCreated, then a run of ImageRequested for those backups: their images are made at once (the
    ids of the images ImageCreated announces)."""

    def run(events: list[EventData]) -> list[tuple[HandlerContext[ImageService], Any]]:
        emitter = Emitter("/image-service", "cn-north-4")
        return [
            (HandlerContext(conn, make_event(e, source="/t", region="cn-north-4", project_id=PROJECT), emitter, ic), e)
            for e in events
        ]

    await on_backups_created(run([_backup(n) for n in numbers]))
    await on_images_requested(run([_request(n) for n in numbers]))
    rows = await conn.fetch(
        "SELECT key FROM outbox WHERE event_type = 'ImageCreated' AND key = ANY ($1::text[])",
        [f"image-{n}" for n in numbers],
    )
    return {r["key"] for r in rows}


async def test_a_run_of_a_few_events_reads_none_of_the_other_rows() -> None:
    ic = bootstrap(ImageSettings(image_build_s=0))
    async with fresh_database(MIGRATIONS) as (_, pool), pool.acquire() as conn:
        async with conn.transaction():
            assert len(await _make_images(conn, ic, range(STORED))) == STORED
        await conn.execute("ANALYZE")
        async with conn.transaction():
            tables = ("backup_projection", "jobs", "images")
            before = {table: await rows_scanned(conn, table) for table in tables}
            made = await _make_images(conn, ic, range(STORED, STORED + 3))
            await repository.mark_images_deleted(conn, [(image_id, "backup_deleted") for image_id in made])
            scanned = {table: await rows_scanned(conn, table) - before[table] for table in tables}
            statuses = await conn.fetch(
                "SELECT j.status AS job, i.status AS image FROM jobs j JOIN images i USING (job_id) "
                "WHERE j.job_id = ANY ($1::text[])",
                [f"job-{n}" for n in range(STORED, STORED + 3)],
            )
    assert made == {f"image-{n}" for n in range(STORED, STORED + 3)}
    assert [tuple(r) for r in statuses] == [("SUCCESS", "deleted")] * 3
    assert scanned == {"backup_projection": 0, "jobs": 0, "images": 0}
