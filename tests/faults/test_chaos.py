"""SIGKILL chaos: every service is killed at random moments (start-up included) and restarted while image
creations and their cascades are in flight. Afterwards every image, job, backup, meter and bill is in the state
it must be in, every event was emitted once (republishing the same event id is allowed: at-least-once), and
the books balance to the cent.

Workload (tenant alpha, N images): a BackupCreated and an ImageRequested each; a third are kept, a third
deleted with their backup, a third deleted without it (through the IMS API, as soon as the job succeeds).
Tenant delta: a few backups and images and one huge backup that sends the account into arrears; its release
deletes every delta backup and image.
"""

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import asyncpg
import httpx
import pytest

from tests.e2e.harness import ALPHA, DELTA, backup_created
from tests.faults.conftest import FaultStack
from tests.faults.tools import (
    CN,
    AsyncSignedClient,
    EventLog,
    Outgoing,
    books_balance,
    event_log,
    image_requested,
    metering_gaps,
    outgoing,
    produce,
    query,
    report,
    size,
    until,
)

pytestmark = pytest.mark.faults
BIG_GB = 500_000_000
VICTIMS = ("image-service", "backup-service", "billing-service", "replication-service")


@dataclass
class Workload:
    backups: dict[str, str] = field(default_factory=dict)  # image_id -> backup_id
    jobs: dict[str, str] = field(default_factory=dict)  # image_id -> job_id
    keep: list[str] = field(default_factory=list)
    with_backup: list[str] = field(default_factory=list)
    without_backup: list[str] = field(default_factory=list)
    delta_images: list[str] = field(default_factory=list)
    delta_backups: list[str] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)
    delete_attempts: int = 0
    answers: Counter[str] = field(default_factory=Counter)

    @property
    def alpha_images(self) -> list[str]:
        return self.keep + self.with_backup + self.without_backup


class Chaos:
    def __init__(self, system: FaultStack, seed: int) -> None:
        self.system = system
        self.random = random.Random(seed)
        self.kills = 0
        self.startup_kills = 0
        self.crashes: list[str] = []
        self.stopping = asyncio.Event()

    async def run(self) -> None:
        processes = [self.system.process(s) for s in VICTIMS]
        weights = [3, 3, 3, 1]
        while not self.stopping.is_set():
            await asyncio.sleep(self.random.uniform(1.0, 3.5))
            self._restart_crashed()
            victim = self.random.choices(processes, weights)[0]
            self.system.kill(victim.label)
            self.kills += 1
            await asyncio.sleep(self.random.uniform(0.1, 2.0))
            self.system.restart(victim)
            if self.random.random() < 0.25:
                # Again while it starts: migrations, pool, producer, consumer group join.
                await asyncio.sleep(self.random.uniform(0.2, 2.5))
                self.system.kill(victim.label)
                self.kills += 1
                self.startup_kills += 1
                await asyncio.sleep(self.random.uniform(0.1, 1.0))
                self.system.restart(victim)

    def _restart_crashed(self) -> None:
        for label, code in self.system.exited().items():
            if code != -9:
                self.crashes.append(f"{label} exited with {code}")
        for process in self.system.stack.plan:
            self.system.restart(process)


async def _delete_when_done(system: FaultStack, work: Workload, produced: asyncio.Event, done: asyncio.Event) -> None:
    """Delete each image to be deleted once its job succeeded, through the IMS API, retrying through outages."""
    client = AsyncSignedClient(system.url("image-service"), ALPHA, timeout_s=5)
    try:
        while True:
            plan = {i: True for i in work.with_backup} | {i: False for i in work.without_backup}
            if produced.is_set() and len(work.deleted) == len(plan):
                break
            try:
                rows = await query(
                    system.dsn("image-service"),
                    "SELECT image_id FROM jobs WHERE status = 'SUCCESS' AND image_id = ANY($1::text[])",
                    [i for i in plan if i not in work.deleted],
                )
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                rows = []
            for row in rows:
                image_id = row["image_id"]
                work.delete_attempts += 1
                try:
                    answer = await client.request(
                        "DELETE", f"/v2/images/{image_id}", body={"delete_backup": plan[image_id]}
                    )
                except httpx.HTTPError:
                    await asyncio.sleep(0.3)
                    continue
                work.answers[f"{answer.status_code} {answer.text[:60]}"] += 1
                if answer.status_code in (204, 404):  # 404: an earlier attempt committed, its answer was lost
                    work.deleted.add(image_id)
            await asyncio.sleep(0.3)
    finally:
        await client.close()
        done.set()


def _plan(work: Workload, n: int, n_delta: int) -> tuple[list[Outgoing], list[Outgoing]]:
    """The backups (alpha's and delta's, one huge) and the image requests of the workload."""
    backups, requests = [], []
    for i in range(n_delta):
        backup = backup_created(size_gb=BIG_GB if i == 0 else 10)
        request = image_requested(backup.backup_id, name=f"chaos-delta-{i}")
        assert request.image_id and request.job_id
        work.delta_backups.append(backup.backup_id)
        work.delta_images.append(request.image_id)
        work.backups[request.image_id] = backup.backup_id
        work.jobs[request.image_id] = request.job_id
        backups.append(outgoing(backup, DELTA))
        requests.append(outgoing(request, DELTA))
    for i in range(n):
        backup = backup_created(size_gb=10)
        request = image_requested(backup.backup_id, name=f"chaos-{i}")
        assert request.image_id and request.job_id
        work.backups[request.image_id] = backup.backup_id
        work.jobs[request.image_id] = request.job_id
        [work.keep, work.with_backup, work.without_backup][i % 3].append(request.image_id)
        backups.append(outgoing(backup, ALPHA))
        requests.append(outgoing(request, ALPHA))
    return backups, requests


async def _produce(system: FaultStack, work: Workload, n: int, n_delta: int, waves: int) -> None:
    """The backups first, then at once the image requests in waves: with services killed meanwhile, an image event
    can reach backup-service before its backup (it holds it until the backup arrives)."""
    backups, requests = _plan(work, n, n_delta)
    await produce(system.bootstrap, backups)
    per_wave = max(1, len(requests) // waves)
    for start in range(0, len(requests), per_wave):
        await produce(system.bootstrap, requests[start : start + per_wave])
        await asyncio.sleep(1.0)


async def _settled(system: FaultStack, work: Workload) -> list[str]:
    """What is not yet in its final state (empty when everything is)."""
    image_db, backup_db, billing_db = (system.dsn(s) for s in ("image-service", "backup-service", "billing-service"))
    pending = []
    images = {
        r["image_id"]: r
        for r in await query(
            image_db,
            "SELECT i.image_id, i.status, i.deleted_at, i.delete_reason, j.status AS job FROM jobs j "
            "LEFT JOIN images i ON i.image_id = j.image_id WHERE j.job_id = ANY($1::text[])",
            list(work.jobs.values()),
        )
        if r["image_id"]
    }
    jobs = {
        r["image_id"]: r["status"]
        for r in await query(
            image_db, "SELECT image_id, status FROM jobs WHERE job_id = ANY($1::text[])", list(work.jobs.values())
        )
    }
    for image_id in work.alpha_images:
        row = images.get(image_id)
        if jobs.get(image_id) != "SUCCESS" or row is None:
            pending.append(f"alpha job of {image_id}: {jobs.get(image_id)}")
        elif image_id in work.keep and (row["status"] != "active" or row["deleted_at"] is not None):
            pending.append(f"kept image {image_id}: {row['status']}")
        elif image_id not in work.keep and row["deleted_at"] is None:
            pending.append(f"image {image_id} not deleted")
    for image_id in work.delta_images:
        row = images.get(image_id)
        if jobs.get(image_id) not in ("SUCCESS", "FAIL"):
            pending.append(f"delta job of {image_id}: {jobs.get(image_id)}")
        elif row is not None and row["deleted_at"] is None:
            pending.append(f"delta image {image_id} still live")
    backups = {
        r["backup_id"]: r
        for r in await query(
            backup_db,
            "SELECT backup_id, status, deleted_at, delete_reason, image_id FROM backups "
            "WHERE backup_id = ANY($1::text[])",
            list(work.backups.values()),
        )
    }
    for image_id, backup_id in work.backups.items():
        row = backups.get(backup_id)
        if row is None:
            pending.append(f"backup {backup_id} unknown to backup-service")
        elif image_id in work.with_backup or image_id in work.delta_images:
            if row["deleted_at"] is None:
                pending.append(f"backup {backup_id} not deleted")
        elif row["deleted_at"] is not None or row["status"] != "available":
            pending.append(f"backup {backup_id} is {row['status']}")
        elif row["image_id"] != (image_id if image_id in work.keep else None):
            pending.append(f"backup {backup_id} names image {row['image_id']}")
    meters = {
        r["backup_id"]: r["deleted_at"]
        for r in await query(
            billing_db,
            "SELECT backup_id, deleted_at FROM meters WHERE backup_id = ANY($1::text[])",
            list(work.backups.values()),
        )
    }
    for image_id, backup_id in work.backups.items():
        should_end = image_id in work.with_backup or image_id in work.delta_images
        if backup_id not in meters:
            pending.append(f"backup {backup_id} not metered")
        elif should_end != (meters[backup_id] is not None):
            pending.append(f"meter of {backup_id} ended={meters[backup_id] is not None}")
    image_lines = await query(
        billing_db,
        "SELECT count(*) FROM bill_lines WHERE kind = 'full_ecs_image' AND image_id = ANY($1::text[])",
        work.alpha_images,
    )
    if image_lines[0][0] != len(work.alpha_images):
        pending.append(f"{image_lines[0][0]} zero-rated image lines of {len(work.alpha_images)}")
    return pending


def _check_events(events: EventLog, work: Workload) -> list[str]:
    wrong = []
    for image_id in work.alpha_images:
        backup_id = work.backups[image_id]
        expected = {
            ("ImageCreated", image_id): 1,
            ("ImageCreationFailed", image_id): 0,
            ("ImageDeleted", image_id): 0 if image_id in work.keep else 1,
            ("BackupDeleted", backup_id): 1 if image_id in work.with_backup else 0,
        }
        for (event_type, subject), count in expected.items():
            if events.distinct(event_type, subject) != count:
                wrong.append(f"{event_type} {subject}: {events.distinct(event_type, subject)} events, not {count}")
        for data in events.of("ImageDeleted", image_id):
            if data.get("reason") != "user" or data.get("delete_backup") != (image_id in work.with_backup):
                wrong.append(f"ImageDeleted {image_id}: {data}")
        for data in events.of("BackupDeleted", backup_id):
            if data.get("reason") != "image_deleted":
                wrong.append(f"BackupDeleted {backup_id}: {data}")
    for image_id in work.delta_images:
        backup_id = work.backups[image_id]
        for event_type, subject, low, high in (
            ("BackupArrears", backup_id, 1, 1),
            ("BackupDeleted", backup_id, 1, 1),
            ("ImageCreated", image_id, 0, 1),
            ("ImageDeleted", image_id, 0, 1),
        ):
            if not low <= events.distinct(event_type, subject) <= high:
                wrong.append(f"{event_type} {subject}: {events.distinct(event_type, subject)} events")
        if [d.get("reason") for d in events.of("BackupDeleted", backup_id)] != ["arrears"]:
            wrong.append(f"BackupDeleted {backup_id}: {events.of('BackupDeleted', backup_id)}")
    return wrong


@pytest.mark.timeout(size(300, 2400))
async def test_sigkill_chaos_loses_and_doubles_nothing(healthy: FaultStack) -> None:
    n = size(100, 1000)
    chaos_s = size(35.0, 150.0)
    work = Workload()
    chaos = Chaos(healthy, seed=int(time.time()))
    started = time.monotonic()
    chaos_task = asyncio.create_task(chaos.run())
    deletions_done, produced = asyncio.Event(), asyncio.Event()
    deleter = asyncio.create_task(_delete_when_done(healthy, work, produced, deletions_done))
    try:
        await _produce(healthy, work, n, size(6, 30), waves=size(10, 40))
        produced.set()
        deadline = time.monotonic() + size(240, 900)
        while time.monotonic() < deadline and not (deletions_done.is_set() and time.monotonic() - started > chaos_s):
            if deleter.done():
                deleter.result()  # a failure of the deleter itself
            await asyncio.sleep(0.5)
        assert deletions_done.is_set(), f"{len(work.deleted)} of {n * 2 // 3} deletions done when chaos ended"
    finally:
        chaos.stopping.set()
        await chaos_task
        deleter.cancel()
        await asyncio.gather(deleter, return_exceptions=True)
    chaos_ended = time.monotonic()
    chaos._restart_crashed()
    healthy.heal()

    async def settled() -> bool:
        settled.pending = await _settled(healthy, work)  # type: ignore[attr-defined]
        return not settled.pending  # type: ignore[attr-defined]

    try:
        await until(settled, timeout_s=size(180, 600), what="every image, job, backup and meter to settle", every_s=1)
    except AssertionError as exc:
        pending = settled.pending  # type: ignore[attr-defined]
        raise AssertionError(f"{len(pending)} not settled, e.g. {pending[:10]}; answers {work.answers}") from exc
    recovered = time.monotonic() - chaos_ended
    await asyncio.sleep(4)  # a rating period and an arrears sweep after the last deletion
    topics = [f"ims.{CN}.images", f"ims.{CN}.backups", "ims.billing"]
    events = await event_log(healthy.bootstrap, topics)
    wrong = _check_events(events, work)
    assert wrong == [], f"{len(wrong)} wrong, e.g. {wrong[:10]}"
    billing_db = healthy.dsn("billing-service")
    assert await books_balance(billing_db) == [], "a balance differs from its top-ups and bill lines"
    assert await metering_gaps(billing_db, list(work.backups.values())) == [], "a period charged twice or never"
    delta = await query(billing_db, "SELECT state FROM accounts WHERE account_id = $1", DELTA.account_id)
    assert delta[0]["state"] == "released"
    assert chaos.crashes == [], f"processes died on their own: {chaos.crashes}"
    lines = await query(
        billing_db, "SELECT count(*) FROM bill_lines WHERE backup_id = ANY($1::text[])", list(work.backups.values())
    )
    report(
        "SIGKILL chaos",
        images=len(work.alpha_images) + len(work.delta_images),
        deleted_with_backup=len(work.with_backup),
        deleted_without_backup=len(work.without_backup),
        delta_arrears_images=len(work.delta_images),
        kills=chaos.kills,
        kills_during_startup=chaos.startup_kills,
        delete_calls=work.delete_attempts,
        events_read=events.records,
        republished_records=events.republished([*work.backups, *work.backups.values()]),
        bill_lines=lines[0][0],
        chaos_s=round(chaos_ended - started, 1),
        settle_after_chaos_s=round(recovered, 1),
    )
