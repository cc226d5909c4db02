"""Image and arrears events that reach backup-service before their backup, over real PostgreSQL."""

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from backup_service import held
from backup_service.app import MIGRATIONS, bootstrap
from backup_service.context import BackupService
from backup_service.handlers import on_backups_created, on_backups_in_arrears, on_images_created, on_images_deleted
from backup_service.settings import BackupSettings
from ims_shared.consumer import HandlerContext
from ims_shared.events import (
    BackupArrears,
    BackupCreated,
    BackupDisk,
    EventData,
    ImageCreated,
    ImageDeleted,
    make_event,
)
from tests.support import fresh_database

pytestmark = pytest.mark.integration
REGION, PROJECT, ACCOUNT = "cn-north-4", "a0000000000000000000000000000001", "alpha"  # a development tenant


def _ctx(conn: asyncpg.Connection, data: EventData) -> HandlerContext[BackupService]:
    event = make_event(data, source="/tests", region=REGION, project_id=PROJECT)
    service = bootstrap(BackupSettings(region=REGION))
    return HandlerContext(conn, event, service.emitter, service)


def _backup() -> BackupCreated:
    return BackupCreated(
        backup_id=str(uuid.uuid4()),
        vault_id="v1",
        name="b",
        resource_id="ecs-1",
        resource_name="web",
        resource_type="OS::Nova::Server",
        status="available",
        created_at=datetime.now(UTC),
        size_gb=40,
        disks=[BackupDisk(volume_id="vol-1", device="/dev/vda", size_gb=40, bootable=True)],
    )


def _image_created(backup_id: str, image_id: str) -> ImageCreated:
    return ImageCreated(image_id=image_id, job_id="j", backup_id=backup_id, name="n", min_disk=40, size_gb=40)


async def test_held_events_apply_in_arrival_order_when_the_backup_arrives() -> None:
    backup, image_id = _backup(), str(uuid.uuid4())
    async with fresh_database(MIGRATIONS) as (_, pool):
        created = _image_created(backup.backup_id, image_id)
        deleted = ImageDeleted(image_id=image_id, backup_id=backup.backup_id, delete_backup=True, reason="user")
        async with pool.acquire() as conn, conn.transaction():
            await on_images_created([(_ctx(conn, created), created)])
        async with pool.acquire() as conn, conn.transaction():
            await on_images_deleted([(_ctx(conn, deleted), deleted)])
        assert await pool.fetchval("SELECT count(*) FROM held_backup_events") == 2
        async with pool.acquire() as conn, conn.transaction():
            await on_backups_created([(_ctx(conn, backup), backup)])
        row = await pool.fetchrow("SELECT image_id, status, delete_reason FROM backups")
        assert dict(row) == {"image_id": None, "status": "deleted", "delete_reason": "image_deleted"}
        assert await pool.fetchval("SELECT count(*) FROM held_backup_events") == 0
        assert await pool.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'BackupDeleted'") == 1


async def test_an_image_event_racing_its_backup_is_applied_whichever_commits_first() -> None:
    """The image event's transaction starts while the backup's is uncommitted: it waits for the backup's held-events
    lock, then sees the backup and applies at once instead of holding an event no one would release."""
    backup, image_id = _backup(), str(uuid.uuid4())
    created = _image_created(backup.backup_id, image_id)
    async with fresh_database(MIGRATIONS) as (_, pool), pool.acquire() as first:
        recording = first.transaction()
        await recording.start()
        await on_backups_created([(_ctx(first, backup), backup)])

        async def image_event() -> None:
            async with pool.acquire() as conn, conn.transaction():
                await on_images_created([(_ctx(conn, created), created)])

        racing = asyncio.create_task(image_event())
        await asyncio.sleep(0.3)
        assert not racing.done(), "the image event must wait for the backup's transaction"
        await recording.commit()
        await asyncio.wait_for(racing, 10)
        assert await pool.fetchval("SELECT image_id FROM backups") == image_id
        assert await pool.fetchval("SELECT count(*) FROM held_backup_events") == 0


async def test_a_backup_racing_an_event_being_held_applies_it_once_it_is_committed() -> None:
    """The other order: the image event is being held (uncommitted) when the backup is recorded. Releasing waits for
    the holder's lock, then sees the held event and applies it instead of leaving it held for ever."""
    backup, image_id = _backup(), str(uuid.uuid4())
    created = _image_created(backup.backup_id, image_id)
    async with fresh_database(MIGRATIONS) as (_, pool), pool.acquire() as first:
        holding = first.transaction()
        await holding.start()
        await on_images_created([(_ctx(first, created), created)])

        async def record() -> None:
            async with pool.acquire() as conn, conn.transaction():
                await on_backups_created([(_ctx(conn, backup), backup)])

        racing = asyncio.create_task(record())
        await asyncio.sleep(0.3)
        assert not racing.done(), "recording the backup must wait for the event being held"
        await holding.commit()
        await asyncio.wait_for(racing, 10)
        assert await pool.fetchval("SELECT image_id FROM backups") == image_id
        assert await pool.fetchval("SELECT count(*) FROM held_backup_events") == 0


async def test_a_held_event_whose_backup_never_comes_is_purged_after_its_ttl() -> None:
    created = _image_created(str(uuid.uuid4()), str(uuid.uuid4()))
    async with fresh_database(MIGRATIONS) as (_, pool):
        async with pool.acquire() as conn, conn.transaction():
            await on_images_created([(_ctx(conn, created), created)])
        async with pool.acquire() as conn:
            assert await held.purge_stale(conn, 3600) == 0
            await asyncio.sleep(0.05)
            assert await held.purge_stale(conn, 0.01) == 1
        assert await pool.fetchval("SELECT count(*) FROM held_backup_events") == 0


async def test_runs_of_backups_and_image_events_leave_what_one_at_a_time_leaves() -> None:
    """A run of ImageCreated names the known backups' images at once and holds the others; a run of BackupCreated
    records its backups and applies what each one had held; a run naming one backup twice keeps the last image."""
    early, known, twice = _backup(), _backup(), _backup()
    images = {b.backup_id: str(uuid.uuid4()) for b in (early, known, twice)}

    async def run_of(conn: asyncpg.Connection, events: list[ImageCreated] | list[BackupCreated]) -> None:
        if isinstance(events[0], ImageCreated):
            await on_images_created([(_ctx(conn, e), e) for e in events if isinstance(e, ImageCreated)])
        else:
            await on_backups_created([(_ctx(conn, e), e) for e in events if isinstance(e, BackupCreated)])

    async with fresh_database(MIGRATIONS) as (_, pool):
        async with pool.acquire() as conn, conn.transaction():
            await run_of(conn, [known, twice])
        async with pool.acquire() as conn, conn.transaction():
            await run_of(conn, [_image_created(b.backup_id, images[b.backup_id]) for b in (early, known)])
        assert await pool.fetchval("SELECT backup_id FROM held_backup_events") == early.backup_id
        async with pool.acquire() as conn, conn.transaction():
            await run_of(conn, [early, known])
        async with pool.acquire() as conn, conn.transaction():
            await run_of(conn, [_image_created(twice.backup_id, "older"), _image_created(twice.backup_id, "newer")])
        named = {r["backup_id"]: r["image_id"] for r in await pool.fetch("SELECT backup_id, image_id FROM backups")}
        assert named == {**images, twice.backup_id: "newer"}
        assert await pool.fetchval("SELECT count(*) FROM held_backup_events") == 0


async def test_a_run_of_arrears_deletes_the_known_backups_and_holds_or_defers_the_others() -> None:
    """Known backups are deleted with one statement (BackupDeleted, reason arrears, naming the image a backup still
    has), in the run's order; a backup in a locked vault waits as 'deleting'; an unknown one is held; one already
    deleted is left alone."""
    plain, locked, gone, unknown = _backup(), _backup(), _backup(), _backup()
    locked = locked.model_copy(update={"vault_id": "v-locked"})
    async with fresh_database(MIGRATIONS) as (_, pool):
        async with pool.acquire() as conn, conn.transaction():
            await on_backups_created([(_ctx(conn, b), b) for b in (plain, locked, gone)])
            await conn.execute("INSERT INTO vaults (vault_id, locked) VALUES ('v-locked', true)")
            await conn.execute("UPDATE backups SET image_id = 'img-1' WHERE backup_id = $1", plain.backup_id)
            await conn.execute(
                "UPDATE backups SET status = 'deleted', deleted_at = now() WHERE backup_id = $1", gone.backup_id
            )
        arrears = [
            BackupArrears(backup_id=b.backup_id, account_id=ACCOUNT, reason="arrears")
            for b in (unknown, locked, plain, gone)
        ]
        async with pool.acquire() as conn, conn.transaction():
            await on_backups_in_arrears([(_ctx(conn, e), e) for e in arrears])
        status = {r["backup_id"]: r["status"] for r in await pool.fetch("SELECT backup_id, status FROM backups")}
        assert status == {plain.backup_id: "deleted", locked.backup_id: "deleting", gone.backup_id: "deleted"}
        assert (
            await pool.fetchval("SELECT backup_id FROM held_backup_events WHERE kind = 'arrears'") == unknown.backup_id
        )
        emitted = await pool.fetch("SELECT event_type, key, payload::jsonb->'data'->>'image_id' AS image FROM outbox")
        assert [tuple(r) for r in emitted] == [("BackupDeleted", plain.backup_id, "img-1")]


async def test_an_images_deletion_deletes_its_backup_only_when_it_asks_to() -> None:
    """The backup whose image was deleted without it stays available (and billed), the one whose image asked for it
    is deleted (reason image_deleted): in one run of ImageDeleted, and when the events were held for the backup."""
    kept, taken, late = _backup(), _backup(), _backup()
    created = {b.backup_id: _image_created(b.backup_id, f"img-{b.backup_id}") for b in (kept, taken, late)}
    deleted = {
        b.backup_id: ImageDeleted(
            image_id=f"img-{b.backup_id}", backup_id=b.backup_id, delete_backup=b is taken, reason="user"
        )
        for b in (kept, taken, late)
    }
    async with fresh_database(MIGRATIONS) as (_, pool):
        async with pool.acquire() as conn, conn.transaction():
            await on_backups_created([(_ctx(conn, b), b) for b in (kept, taken)])
            await on_images_created([(_ctx(conn, e), e) for e in created.values()])
        async with pool.acquire() as conn, conn.transaction():
            await on_images_deleted([(_ctx(conn, e), e) for e in deleted.values()])
        assert await pool.fetchval("SELECT count(*) FROM held_backup_events") == 2
        async with pool.acquire() as conn, conn.transaction():
            await on_backups_created([(_ctx(conn, late), late)])
        rows = await pool.fetch("SELECT backup_id, image_id, status, delete_reason FROM backups")
        assert {r["backup_id"]: tuple(r)[1:] for r in rows} == {
            kept.backup_id: (None, "available", None),
            taken.backup_id: (None, "deleted", "image_deleted"),
            late.backup_id: (None, "available", None),
        }
        emitted = await pool.fetch("SELECT event_type, key FROM outbox ORDER BY id")
        assert [tuple(r) for r in emitted] == [("BackupDeleted", taken.backup_id)]
