"""A batch statement reads the rows of its batch through an index, not the whole table: with a few thousand
rows stored, a run of a few events must not cost a scan of them all (the planner takes a batch for 100 rows)."""

from datetime import UTC, datetime

import asyncpg
import pytest

from image_service import repository
from image_service.app import MIGRATIONS, bootstrap
from image_service.context import ImageService
from image_service.creation import image_values
from image_service.settings import ImageSettings
from ims_shared.events import BackupCreated, BackupDisk, ServerInfo
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


def _job(n: int) -> dict[str, object]:
    return {
        "job_id": f"job-{n}",
        "project_id": PROJECT,
        "image_id": f"image-{n}",
        "image_name": f"image {n}",
        "backup_id": f"b-{n}",
        "request": {"name": f"image {n}", "backup_id": f"b-{n}"},
        "correlation_id": None,
        "account_id": PROJECT,
    }


async def _make_images(conn: asyncpg.Connection, ic: ImageService, numbers: range) -> set[str]:
    """What a run of ImageRequested does for backups already known: read them, then insert the jobs with their
    images made at once."""
    await repository.record_backups_and_waiting_jobs(conn, [(PROJECT, _backup(n)) for n in numbers])
    jobs = [_job(n) for n in numbers]
    facts = await repository.request_facts(
        conn, [f"job-{n}" for n in numbers], [PROJECT] * len(numbers), [f"b-{n}" for n in numbers]
    )
    assert not facts.existing_jobs and len(facts.backups) == len(jobs)
    images = [image_values(ic, job, facts.backups[f"b-{n}"]) for n, job in zip(numbers, jobs, strict=True)]
    inserted, succeeded = await repository.insert_jobs(conn, [{**job, "wait_until": None} for job in jobs], images)
    assert inserted == succeeded == {f"job-{n}" for n in numbers}
    return {image["image_id"] for image in images}


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
