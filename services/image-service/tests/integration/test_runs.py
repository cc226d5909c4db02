"""Backups and image requests handled a run at a time leave what handling them one by one leaves."""

import json
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from image_service import repository
from image_service.app import MIGRATIONS, event_handlers
from image_service.app import bootstrap as build_service
from image_service.handlers import on_backups_created, on_images_requested
from image_service.settings import ImageSettings
from ims_shared.consumer import EventProcessor, HandlerContext
from ims_shared.emitter import Emitter
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
]
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


async def _handle(pool: asyncpg.Pool, bootstrap: str, batches: list[list[Any]]) -> dict[str, Any]:
    settings = ImageSettings(image_build_s=0, backup_wait_s=600)
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
        async with pool.acquire() as conn:
            await _api_job(conn, 6, "b-api")
        for batch in batches:
            await processor.process(batch)
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


async def test_a_run_leaves_what_one_event_at_a_time_leaves(kafka_bootstrap: str) -> None:
    records = _records(EVENTS)
    async with fresh_database(MIGRATIONS) as (_, pool):
        as_runs = await _handle(pool, kafka_bootstrap, [records])
    async with fresh_database(MIGRATIONS) as (_, pool):
        one_by_one = await _handle(pool, kafka_bootstrap, [[r] for r in records])
    assert as_runs == one_by_one
    assert as_runs["jobs"] == [
        ("job-1", "SUCCESS", None, False),
        ("job-2", "FAIL", "IMG.0029", False),
        ("job-3", "INIT", None, True),
        ("job-4", "FAIL", "IMG.0198", False),
        ("job-5", "FAIL", "IMG.0001", False),
        ("job-6", "SUCCESS", None, False),
        ("job-7", "SUCCESS", None, False),
        ("job-8", "FAIL", "IMG.0020", False),
    ]
    assert as_runs["images"] == [
        ("image-1", "b-1", ALPHA, "active", 40, None),
        ("image-6", "b-api", ALPHA, "active", 40, None),
        ("image-7", "b-2", BETA, "active", 40, None),
    ]
    assert [(t, k) for t, k, _ in as_runs["outbox"]] == [
        ("ImageCreated", "image-6"),
        ("ImageCreated", "image-1"),
        ("ImageCreationFailed", "image-2"),
        ("ImageCreationFailed", "image-4"),
        ("ImageCreationFailed", "image-5"),
        ("ImageCreated", "image-7"),
        ("ImageCreationFailed", "image-8"),
    ]


async def test_a_backup_arriving_in_a_run_resumes_the_job_waiting_for_it(kafka_bootstrap: str) -> None:
    async with fresh_database(MIGRATIONS) as (_, pool):
        result = await _handle(
            pool,
            kafka_bootstrap,
            [
                _records([(_request(1, "b-late"), ALPHA)]),
                _records([(_backup("b-other"), ALPHA), (_backup("b-late"), ALPHA)]),
            ],
        )
    assert ("job-1", "SUCCESS", None, False) in result["jobs"]
    assert [(t, k) for t, k, _ in result["outbox"]] == [("ImageCreated", "image-1")]


async def test_a_run_of_backup_deletions_deletes_their_images_as_one_by_one_would(kafka_bootstrap: str) -> None:
    made, deletions = _records(EVENTS), _records(DELETIONS, first=len(EVENTS))
    async with fresh_database(MIGRATIONS) as (_, pool):
        as_runs = await _handle(pool, kafka_bootstrap, [made, deletions])
    async with fresh_database(MIGRATIONS) as (_, pool):
        one_by_one = await _handle(pool, kafka_bootstrap, [made, *([r] for r in deletions)])
    assert as_runs == one_by_one
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


async def test_a_job_made_at_once_is_written_once_and_one_that_waits_twice() -> None:
    """Every write of a job row is a new row version with an entry in each of its indexes: a job whose backup is known
    is inserted in SUCCESS, and one whose backup is not is inserted waiting and written once more when it comes."""
    emitter = Emitter("/image-service", REGION)
    ic = build_service(ImageSettings(image_build_s=0, backup_wait_s=600))

    def run(events: list[EventData]) -> list[tuple[HandlerContext, Any]]:
        return [
            (HandlerContext(conn, make_event(e, source="/t", region=REGION, project_id=ALPHA), emitter, ic), e)
            for e in events
        ]

    async with fresh_database(MIGRATIONS) as (_, pool), pool.acquire() as conn, conn.transaction():
        await on_backups_created(run([_backup("b-1")]))
        await on_images_requested(run([_request(1, "b-1"), _request(2, "b-late")]))
        assert await _job_writes(conn) == (2, 0)
        waiting = await conn.fetch("SELECT job_id, status, wait_until IS NOT NULL AS waits FROM jobs ORDER BY 1")
        assert [tuple(r) for r in waiting] == [("job-1", "SUCCESS", False), ("job-2", "INIT", True)]
        await on_backups_created(run([_backup("b-late")]))
        assert await _job_writes(conn) == (2, 1)
        assert await conn.fetchval("SELECT status FROM jobs WHERE job_id = 'job-2'") == "SUCCESS"
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE event_type = 'ImageCreated'") == 2


async def test_a_job_inserted_meanwhile_by_another_transaction_is_moved_on_not_doubled(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the run's read and its insert another transaction commits a job under a requested job id: the run is
    handled again event by event, and the event moves that job on (one image, one ImageCreated)."""
    read = repository.request_facts
    raced: list[str] = []

    async def read_then_race(conn: asyncpg.Connection, job_ids: list[str], *args: Any) -> repository.RequestFacts:
        facts = await read(conn, job_ids, *args)
        if not raced:
            raced.append(job_ids[0])
            async with pool.acquire() as other:
                await _api_job(other, 9, "b-9")
        return facts

    monkeypatch.setattr(repository, "request_facts", read_then_race)
    async with fresh_database(MIGRATIONS) as (_, pool):
        result = await _handle(
            pool, kafka_bootstrap, [_records([(_backup("b-9"), ALPHA)]), _records([(_request(9, "b-9"), ALPHA)], 1)]
        )
    assert raced == ["job-9"]
    assert ("job-9", "SUCCESS", None, False) in result["jobs"]
    assert [i[:2] for i in result["images"]] == [("image-9", "b-9")]
    assert [(t, k) for t, k, _ in result["outbox"]] == [("ImageCreated", "image-9")]
