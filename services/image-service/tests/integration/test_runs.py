"""Backups and image requests handled a run at a time leave what handling them one by one leaves."""

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from image_service import repository
from image_service.app import MIGRATIONS, event_handlers
from image_service.app import bootstrap as build_service
from image_service.context import ImageService
from image_service.handlers import on_backups_created, on_images_requested
from image_service.settings import ImageSettings
from ims_shared.consumer import EventProcessor, HandlerContext
from ims_shared.emitter import Emitter, deferred_outbox
from ims_shared.events import (
    BackupCreated,
    BackupDeleted,
    BackupDisk,
    EventData,
    ImageRequested,
    ServerInfo,
    make_event,
)
from ims_shared.kafka import make_producer
from ims_shared.topics import topic_for
from tests.support import consumer_record, development_authority, fresh_database

pytestmark = pytest.mark.integration
REGION = "cn-north-4"
ALPHA = "a0000000000000000000000000000001"
BETA = "b0000000000000000000000000000001"


def _backup(backup_id: str, resource_type: str = "OS::Nova::Server") -> BackupCreated:
    return BackupCreated(
        backup_id=backup_id,
        vault_id="vault-1",
        name=backup_id,
        resource_id=f"ecs-{backup_id}",
        resource_type=resource_type,
        created_at=datetime(2026, 11, 1, tzinfo=UTC),
        size_gb=60,
        server=ServerInfo(os_type="Linux", os_version="Ubuntu 22.04 server 64bit", configured=True, state="ACTIVE"),
        disks=[BackupDisk(volume_id=f"vol-{backup_id}", device="/dev/vda", size_gb=40, bootable=True)],
    )


def _request(n: int, backup_id: str) -> ImageRequested:
    return ImageRequested(image_id=f"image-{n}", job_id=f"job-{n}", name=f"image {n}", backup_id=backup_id)


def _records(events: list[tuple[EventData, str]], first: int = 0) -> list[Any]:
    return [
        consumer_record(
            topic_for(data.topic_kind, REGION),
            n,
            make_event(data, source="/t", region=REGION, project_id=project, event_id=f"event-{n}")
            .model_dump_json()
            .encode(),
        )
        for n, (data, project) in enumerate(events, start=first)
    ]


ApiJob = tuple[int, str]
"""An API job (``_api_job``: its number and its backup) inserted between two batches."""

EVENTS: list[tuple[EventData, str]] = [
    (_backup("b-1"), ALPHA),
    (_backup("b-2"), BETA),
    (_backup("b-volume", resource_type="OS::Cinder::Volume"), ALPHA),
    (_backup("b-api"), ALPHA),
    (_request(1, "b-1"), ALPHA),  # made at once
    (_request(2, "b-1"), ALPHA),  # the backup already has an image: IMG.0029
    (_request(3, "b-unknown"), ALPHA),  # waits for its backup
    (_request(4, "b-volume"), ALPHA),  # not a server backup
    (_request(5, "b-2"), "p-of-nobody"),  # no tenant: IMG.0001
    (_request(6, "b-api"), ALPHA),  # its job, inserted by the API first, was moved on by b-api's BackupCreated
    (_request(7, "b-2"), BETA),  # made at once, after the requests handled one by one above
    (_request(7, "b-2"), BETA),  # the same job id again (a new event): nothing more
    (_request(8, "b-2"), ALPHA),  # another project's backup: IMG.0020
    (_request(9, "b-nowhere"), ALPHA),  # waits for its backup...
    (ImageRequested(image_id="image-9", job_id="job-9", name=" bad", backup_id="b-nowhere"), ALPHA),  # refused: fails
]
BEFORE_EVENTS: list[list[Any] | ApiJob] = [(6, "b-api")]
DELETIONS: list[tuple[EventData, str]] = [
    (BackupDeleted(backup_id="b-1", reason="arrears"), ALPHA),
    (BackupDeleted(backup_id="b-2", reason="user"), BETA),
    (BackupDeleted(backup_id="b-1", reason="arrears"), ALPHA),  # again, under a new event id: nothing more
    (BackupDeleted(backup_id="b-never-seen", reason="user"), ALPHA),
    (BackupDeleted(backup_id="b-api", reason="arrears"), ALPHA),
]


async def _api_job(conn: asyncpg.Connection, n: int, backup_id: str) -> None:
    """Job ``job-<n>`` of ALPHA's image ``image-<n>`` from ``backup_id``, in INIT, as the API inserts it."""
    await repository.insert_job(
        conn,
        job_id=f"job-{n}",
        project_id=ALPHA,
        image_id=f"image-{n}",
        image_name=f"image {n}",
        backup_id=backup_id,
        request={"name": f"image {n}", "backup_id": backup_id},
        correlation_id=None,
    )


async def _handle(
    pool: asyncpg.Pool, bootstrap: str, steps: list[list[Any] | ApiJob], build_s: float = 0
) -> dict[str, Any]:
    """Hand ``steps`` to image-service's consumer in order: each a batch of records, or an API job inserted then."""
    settings = ImageSettings(image_build_s=build_s, backup_wait_s=600)
    producer = make_producer(bootstrap)
    await producer.start()
    emitter = Emitter("/image-service", REGION)
    processor = EventProcessor(
        authority=development_authority(),
        consumer_name="image-service",
        handlers=event_handlers(),
        pool=pool,
        producer=producer,
        emitter=emitter,
        service=build_service(settings),
    )
    try:
        for step in steps:
            if isinstance(step, tuple):
                async with pool.acquire() as conn:
                    await _api_job(conn, *step)
            else:
                await processor.process(step)
    finally:
        await producer.stop()
    jobs = await pool.fetch("SELECT job_id, status, error_code, wait_until IS NOT NULL AS waits FROM jobs")
    images = await pool.fetch("SELECT image_id, backup_id, project_id, status, min_disk, delete_reason FROM images")
    outbox = await pool.fetch("SELECT event_type, key, payload FROM outbox ORDER BY id")
    return {
        "jobs": sorted(tuple(r) for r in jobs),
        "images": sorted(tuple(r) for r in images),
        "outbox": [(r["event_type"], r["key"], json.loads(r["payload"])["data"]) for r in outbox],
    }


async def _as_a_run_and_one_by_one(
    bootstrap: str, before: list[list[Any] | ApiJob], records: list[Any], build_s: float = 0
) -> dict[str, Any]:
    """What ``records`` leave after ``before``, handled as one batch, then, on a new database, a batch per record:
    the same (the contract of a run handler), which it returns."""
    async with fresh_database(MIGRATIONS) as (_, pool):
        as_a_run = await _handle(pool, bootstrap, [*before, records], build_s)
    async with fresh_database(MIGRATIONS) as (_, pool):
        one_by_one = await _handle(pool, bootstrap, [*before, *([r] for r in records)], build_s)
    assert as_a_run == one_by_one
    return as_a_run


def _made(build_s: float) -> tuple[str, str]:
    """The status of a job whose image is made, and of its image, with a build time of ``build_s``."""
    return ("SUCCESS", "active") if build_s == 0 else ("RUNNING", "saving")


def _created(build_s: float, image_id: str) -> list[tuple[str, str]]:
    """The ImageCreated of an image made, with a build time of ``build_s``: at once, or by the builder later."""
    return [("ImageCreated", image_id)] if build_s == 0 else []


BUILD_TIMES = [pytest.param(0, id="active-at-once"), pytest.param(600, id="built-for-a-while")]


@pytest.mark.parametrize("build_s", BUILD_TIMES)
async def test_a_run_leaves_what_one_event_at_a_time_leaves(kafka_bootstrap: str, build_s: float) -> None:
    records = _records(EVENTS)
    as_runs = await _as_a_run_and_one_by_one(kafka_bootstrap, BEFORE_EVENTS, records, build_s)
    job_made, image_made = _made(build_s)
    assert as_runs["jobs"] == [
        ("job-1", job_made, None, False),
        ("job-2", "FAIL", "IMG.0029", False),
        ("job-3", "INIT", None, True),
        ("job-4", "FAIL", "IMG.0198", False),
        ("job-5", "FAIL", "IMG.0001", False),
        ("job-6", job_made, None, False),
        ("job-7", job_made, None, False),
        ("job-8", "FAIL", "IMG.0020", False),
        ("job-9", "FAIL", "IMG.0001", False),
    ]
    assert as_runs["images"] == [
        ("image-1", "b-1", ALPHA, image_made, 40, None),
        ("image-6", "b-api", ALPHA, image_made, 40, None),
        ("image-7", "b-2", BETA, image_made, 40, None),
    ]
    assert [(t, k) for t, k, _ in as_runs["outbox"]] == [
        *_created(build_s, "image-6"),
        *_created(build_s, "image-1"),
        ("ImageCreationFailed", "image-2"),
        ("ImageCreationFailed", "image-4"),
        ("ImageCreationFailed", "image-5"),
        *_created(build_s, "image-7"),
        ("ImageCreationFailed", "image-8"),
        ("ImageCreationFailed", "image-9"),
    ]


@pytest.mark.parametrize("build_s", BUILD_TIMES)
async def test_api_jobs_and_new_jobs_of_one_run_take_a_backup_in_the_order_of_their_events(
    kafka_bootstrap: str, build_s: float
) -> None:
    """The jobs the API inserted and new jobs are written by different statements: whichever event comes first in
    the run makes the backup's image, as one by one."""
    backups = _records([(_backup("b-10"), ALPHA), (_backup("b-11"), ALPHA)])
    requests = _records(
        [
            (_request(10, "b-10"), ALPHA),  # the API's job: first, it makes the image
            (_request(11, "b-10"), ALPHA),  # a new job after it: IMG.0029
            (_request(13, "b-11"), ALPHA),  # a new job: first, it makes the image
            (_request(12, "b-11"), ALPHA),  # the API's job after it: IMG.0029
        ],
        first=2,
    )
    steps: list[list[Any] | ApiJob] = [backups, (10, "b-10"), (12, "b-11")]
    as_runs = await _as_a_run_and_one_by_one(kafka_bootstrap, steps, requests, build_s)
    job_made, _ = _made(build_s)
    assert as_runs["jobs"] == [
        ("job-10", job_made, None, False),
        ("job-11", "FAIL", "IMG.0029", False),
        ("job-12", "FAIL", "IMG.0029", False),
        ("job-13", job_made, None, False),
    ]
    assert [(t, k) for t, k, _ in as_runs["outbox"]] == [
        *_created(build_s, "image-10"),
        ("ImageCreationFailed", "image-11"),
        *_created(build_s, "image-13"),
        ("ImageCreationFailed", "image-12"),
    ]


@pytest.mark.parametrize("build_s", BUILD_TIMES)
async def test_a_backup_arriving_in_a_run_resumes_the_job_waiting_for_it(kafka_bootstrap: str, build_s: float) -> None:
    async with fresh_database(MIGRATIONS) as (_, pool):
        result = await _handle(
            pool,
            kafka_bootstrap,
            [
                _records([(_request(1, "b-late"), ALPHA)]),
                _records([(_backup("b-other"), ALPHA), (_backup("b-late"), ALPHA)]),
            ],
            build_s,
        )
    assert result["jobs"] == [("job-1", _made(build_s)[0], None, False)]
    assert [(t, k) for t, k, _ in result["outbox"]] == _created(build_s, "image-1")


async def test_a_run_of_backup_deletions_deletes_their_images_as_one_by_one_would(kafka_bootstrap: str) -> None:
    made, deletions = _records(EVENTS), _records(DELETIONS, first=len(EVENTS))
    as_runs = await _as_a_run_and_one_by_one(kafka_bootstrap, [*BEFORE_EVENTS, made], deletions)
    assert as_runs["images"] == [
        ("image-1", "b-1", ALPHA, "deleted", 40, "arrears"),
        ("image-6", "b-api", ALPHA, "deleted", 40, "arrears"),
        ("image-7", "b-2", BETA, "deleted", 40, "backup_deleted"),
    ]
    deleted = [(k, data["reason"]) for t, k, data in as_runs["outbox"] if t == "ImageDeleted"]
    assert deleted == [("image-1", "arrears"), ("image-7", "backup_deleted"), ("image-6", "arrears")]


async def _job_writes(conn: asyncpg.Connection) -> tuple[int, int]:
    """Rows inserted into and updated in ``jobs`` by this transaction so far."""
    row = await conn.fetchrow("SELECT n_tup_ins, n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'jobs'")
    assert row is not None
    return row["n_tup_ins"], row["n_tup_upd"]


def _contexts(
    conn: Any, ic: ImageService, events: list[EventData], project_id: str = ALPHA
) -> list[tuple[HandlerContext[ImageService], Any]]:
    """A run of ``events`` as the consumer hands it to a run handler (``conn``: its transaction's connection)."""
    emitter = Emitter("/image-service", REGION)
    return [
        (HandlerContext(conn, make_event(e, source="/t", region=REGION, project_id=project_id), emitter, ic), e)
        for e in events
    ]


@pytest.mark.parametrize("build_s", BUILD_TIMES)
async def test_a_new_job_is_written_once_and_one_that_waits_twice(build_s: float) -> None:
    """Every write of a job row is a new row version with an entry in each of its indexes: a job whose backup is known
    is inserted in the state its image leaves it in (SUCCESS, or RUNNING while the image is built), and one whose
    backup is not is inserted waiting and written once more when it comes."""
    ic = build_service(ImageSettings(image_build_s=build_s, backup_wait_s=600))
    job_made, _ = _made(build_s)
    async with fresh_database(MIGRATIONS) as (_, pool), pool.acquire() as conn, conn.transaction():
        await on_backups_created(_contexts(conn, ic, [_backup("b-1")]))
        await on_images_requested(_contexts(conn, ic, [_request(1, "b-1"), _request(2, "b-late")]))
        assert await _job_writes(conn) == (2, 0)
        waiting = await conn.fetch("SELECT job_id, status, wait_until IS NOT NULL AS waits FROM jobs ORDER BY 1")
        assert [tuple(r) for r in waiting] == [("job-1", job_made, False), ("job-2", "INIT", True)]
        await on_backups_created(_contexts(conn, ic, [_backup("b-late")]))
        assert await _job_writes(conn) == (2, 1)
        assert await conn.fetchval("SELECT status FROM jobs WHERE job_id = 'job-2'") == job_made
        created = await conn.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'ImageCreated'")
        assert created == len(_created(build_s, "image-1")) * 2


class _CountingConnection:
    """A connection that counts the statements sent through it."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self.statements = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._conn, name)
        if name not in ("execute", "executemany", "fetch", "fetchrow", "fetchval"):
            return attribute

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.statements += 1
            return await attribute(*args, **kwargs)

        return counted


@pytest.mark.parametrize("build_s", BUILD_TIMES)
async def test_a_run_costs_one_statement_per_kind_of_write(build_s: float) -> None:
    """A run of ImageRequested reads its facts with one statement and writes its new jobs with their images with one
    more; jobs the API inserted take one statement more, and an image a unique index refuses one more again. A run
    of BackupCreated that moves waiting jobs on: the backups with the waiting jobs, the accounts, the jobs. However
    many events, and whatever the build time. (The events they emit are written by the consumer, with the batch.)"""
    ic = build_service(ImageSettings(image_build_s=build_s, backup_wait_s=600))

    async def statements(handler: Any, events: list[EventData]) -> int:
        counting = _CountingConnection(conn)
        with deferred_outbox():
            await handler(_contexts(counting, ic, events))
        return counting.statements

    async with fresh_database(MIGRATIONS) as (_, pool), pool.acquire() as conn, conn.transaction():
        assert await statements(on_backups_created, [_backup(f"b-{n}") for n in range(1, 11)]) == 1
        new_jobs = [_request(n, f"b-{n}") for n in range(1, 6)] + [_request(6, "b-late")]
        assert await statements(on_images_requested, new_jobs) == 2
        await _api_job(conn, 7, "b-7")
        await _api_job(conn, 8, "b-8")
        mixed = [_request(7, "b-7"), _request(9, "b-9"), _request(8, "b-8"), _request(10, "b-10")]
        assert await statements(on_images_requested, mixed) == 3
        assert await statements(on_images_requested, [_request(11, "b-1"), _request(12, "b-1")]) == 3
        assert await statements(on_backups_created, [_backup("b-late"), _backup("b-more")]) == 3
        statuses = await conn.fetch("SELECT job_id, status, error_code FROM jobs ORDER BY job_id")
    job_made, _ = _made(build_s)
    made = [(f"job-{n}", job_made, None) for n in range(1, 11)]
    refused = [("job-11", "FAIL", "IMG.0029"), ("job-12", "FAIL", "IMG.0029")]
    assert sorted(tuple(r) for r in statuses) == sorted(made + refused)


async def test_a_job_inserted_meanwhile_by_another_transaction_is_moved_on_not_doubled(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the run's read and its insert another transaction commits a job under a requested job id: the run's
    insert leaves that job alone, and its event, handled again on its own in its place, moves it on (one image, one
    ImageCreated); the next event of the run, for the same backup, fails as it would after it. The consumer does not
    take the batch apart: the facts are read for the run, then for that event."""
    read = repository.request_facts
    reads: list[list[str]] = []

    async def read_then_race(conn: asyncpg.Connection, job_ids: list[str], *args: Any) -> repository.RequestFacts:
        facts = await read(conn, job_ids, *args)
        if not reads:
            async with pool.acquire() as other:
                await _api_job(other, 9, "b-9")
        reads.append(job_ids)
        return facts

    monkeypatch.setattr(repository, "request_facts", read_then_race)
    async with fresh_database(MIGRATIONS) as (_, pool):
        result = await _handle(
            pool,
            kafka_bootstrap,
            [
                _records([(_backup("b-9"), ALPHA)]),
                _records([(_request(9, "b-9"), ALPHA), (_request(10, "b-9"), ALPHA)], 1),
            ],
        )
    assert reads == [["job-9", "job-10"], ["job-9"]]
    assert result["jobs"] == [("job-10", "FAIL", "IMG.0029", False), ("job-9", "SUCCESS", None, False)]
    assert [i[:2] for i in result["images"]] == [("image-9", "b-9")]
    assert [(t, k) for t, k, _ in result["outbox"]] == [
        ("ImageCreated", "image-9"),
        ("ImageCreationFailed", "image-10"),
    ]
