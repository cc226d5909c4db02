"""A workload of image creations and deletions whose final state the fault tests can check."""

import asyncio
import time
from dataclasses import dataclass, field

import asyncpg
import httpx

from tests.e2e.harness import ALPHA, backup_created
from tests.faults.conftest import FaultStack
from tests.faults.tools import (
    AsyncSignedClient,
    EventLog,
    Outgoing,
    books_balance,
    image_requested,
    metering_gaps,
    outgoing,
    produce,
    query,
    until,
)


@dataclass
class Images:
    """Alpha images, each from its own backup: image_id -> backup_id and job_id, and which were deleted how."""

    backups: dict[str, str] = field(default_factory=dict)
    jobs: dict[str, str] = field(default_factory=dict)
    with_backup: set[str] = field(default_factory=set)
    without_backup: set[str] = field(default_factory=set)

    def new(self, count: int, name: str = "faults") -> tuple[list[Outgoing], list[Outgoing]]:
        """``count`` new images: their BackupCreated and their ImageRequested events."""
        backups, requests = [], []
        for i in range(count):
            backup = backup_created(size_gb=10)
            request = image_requested(backup.backup_id, name=f"{name}-{i}")
            assert request.image_id and request.job_id
            self.backups[request.image_id] = backup.backup_id
            self.jobs[request.image_id] = request.job_id
            backups.append(outgoing(backup, ALPHA))
            requests.append(outgoing(request, ALPHA))
        return backups, requests

    @property
    def kept(self) -> set[str]:
        return set(self.backups) - self.with_backup - self.without_backup


async def delete_images(
    system: FaultStack, images: Images, ids: list[str], with_backup: bool, *, timeout_s: float = 120
) -> int:
    """Delete through the IMS API, retrying through outages; returns the number of calls made."""
    client = AsyncSignedClient(system.url("image-service"), ALPHA, timeout_s=5)
    calls = 0
    deadline = time.monotonic() + timeout_s
    try:
        for image_id in ids:
            while True:
                assert time.monotonic() < deadline, "the IMS API did not accept the deletions"
                calls += 1
                try:
                    answer = await client.request(
                        "DELETE", f"/v2/images/{image_id}", body={"delete_backup": with_backup}
                    )
                except httpx.HTTPError:
                    await asyncio.sleep(0.3)
                    continue
                if answer.status_code in (204, 404):
                    break
                await asyncio.sleep(0.3)
            (images.with_backup if with_backup else images.without_backup).add(image_id)
    finally:
        await client.close()
    return calls


async def backups_first(system: FaultStack, images: Images, count: int, name: str) -> list[Outgoing]:
    """``count`` new images whose backups are produced and known to backup-service (as a CBR backup is known to CBR
    before anyone asks for its image); their ImageRequested events are returned, not produced."""
    backups, requests = images.new(count, name)
    await produce(system.bootstrap, backups)
    await backups_known(system, list(images.backups.values()))
    return requests


async def backups_known(system: FaultStack, backup_ids: list[str], timeout_s: float = 120) -> None:
    """Wait until backup-service has recorded these backups, as a real CBR backup is before anyone asks for an
    image of it (backup-service drops image events of backups it does not know yet: see test_cross_topic_order)."""

    async def known() -> bool:
        rows = await query(
            system.dsn("backup-service"), "SELECT count(*) FROM backups WHERE backup_id = ANY($1::text[])", backup_ids
        )
        return bool(rows[0][0] == len(set(backup_ids)))

    await until(known, timeout_s=timeout_s, what="backup-service to know the backups")


async def jobs_done(system: FaultStack, images: Images, ids: list[str] | None = None) -> bool:
    ids = list(images.backups) if ids is None else ids
    rows = await query(
        system.dsn("image-service"),
        "SELECT count(*) FROM jobs WHERE status = 'SUCCESS' AND image_id = ANY($1::text[])",
        ids,
    )
    return bool(rows[0][0] == len(ids))


async def unsettled(system: FaultStack, images: Images) -> list[str]:
    """What is not yet in its final state: jobs, images, backups, meters and zero-rated image lines."""
    ids = list(images.backups)
    backup_ids = list(images.backups.values())
    pending: list[str] = []
    try:
        image_rows = {
            r["image_id"]: r
            for r in await query(
                system.dsn("image-service"),
                "SELECT j.image_id, j.status AS job, i.status, i.deleted_at FROM jobs j "
                "LEFT JOIN images i ON i.image_id = j.image_id WHERE j.image_id = ANY($1::text[])",
                ids,
            )
        }
        backup_rows = {
            r["backup_id"]: r
            for r in await query(
                system.dsn("backup-service"),
                "SELECT backup_id, status, deleted_at, delete_reason, image_id FROM backups "
                "WHERE backup_id = ANY($1::text[])",
                backup_ids,
            )
        }
        meters = {
            r["backup_id"]: r["deleted_at"]
            for r in await query(
                system.dsn("billing-service"),
                "SELECT backup_id, deleted_at FROM meters WHERE backup_id = ANY($1::text[])",
                backup_ids,
            )
        }
        lines = await query(
            system.dsn("billing-service"),
            "SELECT count(*) FROM bill_lines WHERE kind = 'full_ecs_image' AND image_id = ANY($1::text[])",
            ids,
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return [f"database unreachable: {exc}"]
    for image_id, backup_id in images.backups.items():
        image = image_rows.get(image_id)
        deleted = image_id in images.with_backup or image_id in images.without_backup
        if image is None or image["job"] != "SUCCESS":
            pending.append(f"job of {image_id}: {image and image['job']}")
        elif deleted != (image["deleted_at"] is not None) or (not deleted and image["status"] != "active"):
            pending.append(f"image {image_id}: {image['status']}, deleted_at {image['deleted_at']}")
        backup = backup_rows.get(backup_id)
        if backup is None:
            pending.append(f"backup {backup_id} unknown")
        elif image_id in images.with_backup:
            if backup["deleted_at"] is None or backup["delete_reason"] != "image_deleted":
                pending.append(f"backup {backup_id} not deleted")
        elif backup["deleted_at"] is not None or backup["image_id"] != (None if deleted else image_id):
            pending.append(f"backup {backup_id}: {backup['status']}, image {backup['image_id']}")
        if backup_id not in meters:
            pending.append(f"backup {backup_id} not metered")
        elif (meters[backup_id] is not None) != (image_id in images.with_backup):
            pending.append(f"meter of {backup_id} ended: {meters[backup_id] is not None}")
    if lines[0][0] != len(ids):
        pending.append(f"{lines[0][0]} zero-rated image lines for {len(ids)} images")
    return pending


def wrong_events(events: EventLog, images: Images) -> list[str]:
    """Each effect announced once: one ImageCreated per image, one ImageDeleted and BackupDeleted per deletion."""
    wrong = []
    for image_id, backup_id in images.backups.items():
        deleted = image_id in images.with_backup or image_id in images.without_backup
        for event_type, subject, count in (
            ("ImageCreated", image_id, 1),
            ("ImageCreationFailed", image_id, 0),
            ("ImageDeleted", image_id, int(deleted)),
            ("BackupDeleted", backup_id, int(image_id in images.with_backup)),
        ):
            if events.distinct(event_type, subject) != count:
                wrong.append(f"{event_type} {subject}: {events.distinct(event_type, subject)} events, not {count}")
    return wrong


async def books_wrong(system: FaultStack, images: Images) -> list[str]:
    billing = system.dsn("billing-service")
    wrong = [f"balance of {a} is not its bill" for a in await books_balance(billing)]
    wrong += [
        f"storage of {b} charged twice or never" for b in await metering_gaps(billing, list(images.backups.values()))
    ]
    return wrong
