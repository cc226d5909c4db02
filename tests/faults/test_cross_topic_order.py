"""Events about one backup reach backup-service on two topics: BackupCreated on ims.<region>.backups, ImageCreated
and ImageDeleted on ims.<region>.images (and BackupArrears on ims.billing). Kafka orders each topic's partition,
not the topics among themselves, so a consumer that lags on the backups topic (restarted, rebalanced) can see an
image event of a backup before the backup itself. backup-service holds such an event and applies it when the
backup is recorded; these check each kind through backup-service's real EventProcessor and handlers (the SIGKILL
chaos first showed the effect lost when backups came from an outside producer).
"""

import uuid
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord

from ims_shared.consumer import EventProcessor
from ims_shared.events import EventData, ImageCreated, ImageDeleted, make_event
from ims_shared.events.billing import BackupArrears
from ims_shared.topics import topic_for
from tests.e2e.harness import ALPHA, backup_created
from tests.support import consumer_record, development_authority, fresh_database

pytestmark = [pytest.mark.faults, pytest.mark.integration]
CN = "cn-north-4"


class NoDeadLetters:
    async def send(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"nothing should be dead-lettered: {args[:1]}")


def _record(data: EventData, offset: int) -> ConsumerRecord[Any, Any]:
    event = make_event(data, source="/tests", region=CN, project_id=ALPHA.projects[CN])
    value = event.model_dump_json().encode()
    return consumer_record(topic_for(data.topic_kind, CN), offset, value, data.aggregate_id().encode())


async def _backup_after(first: EventData, backup: Any) -> dict[str, Any]:
    from backup_service import app
    from backup_service.settings import BackupSettings

    async with fresh_database(app.MIGRATIONS, prefix="ims_faults") as (_, pool):
        service = app.bootstrap(BackupSettings(region=CN))
        processor = EventProcessor(
            authority=development_authority(),
            consumer_name="backup-service.cn-north-4",
            handlers=app.event_handlers(),
            service=service,
            pool=pool,
            producer=NoDeadLetters(),  # type: ignore[arg-type]
            emitter=service.emitter,
        )
        await processor.process([_record(first, 1)])
        await processor.process([_record(backup, 2)])
        row = await pool.fetchrow(
            "SELECT image_id, deleted_at, status FROM backups WHERE backup_id = $1", backup.backup_id
        )
        assert row is not None
        return dict(row)


async def test_image_created_before_its_backup_still_links_the_image() -> None:
    backup, image_id = backup_created(), str(uuid.uuid4())
    created = ImageCreated(image_id=image_id, job_id="j", backup_id=backup.backup_id, name="n", min_disk=40, size_gb=60)
    assert (await _backup_after(created, backup))["image_id"] == image_id


async def test_image_deleted_with_its_backup_before_the_backup_still_deletes_it() -> None:
    backup = backup_created()
    deleted = ImageDeleted(image_id=str(uuid.uuid4()), backup_id=backup.backup_id, delete_backup=True, reason="user")
    assert (await _backup_after(deleted, backup))["deleted_at"] is not None, "the backup stays, billed for ever"


async def test_arrears_before_the_backup_still_deletes_it() -> None:
    backup = backup_created()
    arrears = BackupArrears(backup_id=backup.backup_id, account_id=ALPHA.account_id)
    assert (await _backup_after(arrears, backup))["deleted_at"] is not None, "a released account's backup stays"
