"""SQL of image-service.

A statement that joins a table to a batch it read from JSON or to rows a CTE returns names the batch's keys on that
table again as an array, ``= ANY ($n)``, which the planner probes in an index. Without it, it takes such a set for
100 rows and, on a table of a few thousand, chose a hash join that read the whole table for every batch of a few
events, or read every entry of a partial index, which keeps the entries of rows that left it until a vacuum
(docs/architecture.md).

A batch's rows travel as one array per column (``unnest``; a jsonb column as JSON text, cast back): PostgreSQL reads
arrays faster than one JSON document of the rows, whose keys repeat on every row (bench/README.md).
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from image_service.domain import (
    REPLICATION_JOB,
    WHOLE_IMAGE_JOB,
    AwaitBackup,
    BackupFacts,
    FailJob,
    ImageJob,
    ImageRow,
    MakeImage,
)
from ims_shared.db import json_text
from ims_shared.events import BackupCreated

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool
Decided: TypeAlias = tuple[ImageJob, MakeImage | AwaitBackup | FailJob]
"""A job and what becomes of it, as a run's statements write it."""


# -- backups projection ----------------------------------------------------------------------------------------
def _backup_row(project_id: str, b: BackupCreated) -> dict[str, Any]:
    """The projection's row of a backup, as JSON (``jsonb_populate_record``) takes it."""
    return {
        "backup_id": b.backup_id,
        "project_id": project_id,
        "vault_id": b.vault_id,
        "name": b.name,
        "resource_id": b.resource_id,
        "resource_type": b.resource_type,
        "status": b.status,
        "size_gb": b.size_gb,
        "shared_from_project_id": b.shared_from_project_id,
        "replicated_from_region": b.replicated_from_region,
        "server": b.server.model_dump() if b.server else None,
        "disks": [d.model_dump() for d in b.disks],
    }


async def upsert_backup(conn: Conn, project_id: str, b: BackupCreated) -> None:
    """Record one backup in the projection, unless it is known already."""
    await conn.execute(
        """
        INSERT INTO backup_projection (backup_id, project_id, vault_id, name, resource_id, resource_type, status,
            size_gb, shared_from_project_id, replicated_from_region, server, disks)
        SELECT backup_id, project_id, vault_id, name, resource_id, resource_type, status,
            size_gb, shared_from_project_id, replicated_from_region, server, disks
        FROM jsonb_populate_record(NULL::backup_projection, $1::jsonb)
        ON CONFLICT (backup_id) DO NOTHING
        """,
        _backup_row(project_id, b),
    )


async def record_backups_and_waiting_jobs(
    conn: Conn, backups: list[tuple[str, BackupCreated]]
) -> list[tuple[ImageJob, BackupFacts | None]]:
    """Record backups (project, event) in the projection, in their order (a backup known already stays as it was),
    and return the jobs in INIT that name any of them, locked, oldest first, each with its backup: one round trip.
    A backup this statement records is not visible to its own reads: such a job gets it from the batch."""
    rows = await conn.fetch(
        """
        WITH given AS (
            SELECT * FROM jsonb_populate_recordset(NULL::backup_projection, $1::jsonb) WITH ORDINALITY AS b),
        recorded AS (
            INSERT INTO backup_projection (backup_id, project_id, vault_id, name, resource_id, resource_type, status,
                size_gb, shared_from_project_id, replicated_from_region, server, disks)
            SELECT backup_id, project_id, vault_id, name, resource_id, resource_type, status,
                size_gb, shared_from_project_id, replicated_from_region, server, disks
            FROM given ORDER BY ordinality
            ON CONFLICT (backup_id) DO NOTHING
            RETURNING backup_id),
        -- Joins, not subqueries per job: a subquery over a CTE is a scan of the whole batch for every job.
        earliest AS (SELECT DISTINCT ON (backup_id) * FROM given ORDER BY backup_id, ordinality)
        SELECT j.*, CASE WHEN r.backup_id IS NOT NULL THEN to_jsonb(f) ELSE to_jsonb(known) END AS backup
        FROM jobs j
        JOIN earliest f ON f.backup_id = j.backup_id
        LEFT JOIN recorded r ON r.backup_id = j.backup_id
        LEFT JOIN backup_projection known ON known.backup_id = j.backup_id AND known.backup_id = ANY ($2::text[])
        WHERE j.backup_id = ANY ($2::text[]) AND j.status = 'INIT'
        ORDER BY j.begin_time
        FOR UPDATE OF j SKIP LOCKED
        """,
        [_backup_row(project_id, b) for project_id, b in backups],
        [b.backup_id for _, b in backups],
    )
    return [(image_job(r), _backup_facts(r["backup"])) for r in rows]


async def get_backup(conn: Conn, backup_id: str) -> BackupFacts | None:
    row = await conn.fetchrow("SELECT * FROM backup_projection WHERE backup_id = $1", backup_id)
    return _backup_facts(row)


async def account_state_and_backup(
    conn: Conn, account_id: str | None, backup_id: str | None
) -> tuple[str | None, BackupFacts | None]:
    """``account_state`` and ``get_backup`` in one round trip."""
    row = await conn.fetchrow(
        "SELECT (SELECT state FROM account_projection WHERE account_id = $1) AS account_state, b.* "
        "FROM (VALUES (1)) AS one LEFT JOIN backup_projection b ON b.backup_id = $2",
        account_id,
        backup_id,
    )
    assert row is not None
    return row["account_state"], _backup_facts(row) if row["backup_id"] is not None else None


def _backup_facts(row: asyncpg.Record | dict[str, Any] | None) -> BackupFacts | None:
    if row is None:
        return None
    return BackupFacts(
        backup_id=row["backup_id"],
        project_id=row["project_id"],
        name=row["name"],
        status=row["status"],
        resource_type=row["resource_type"],
        resource_id=row["resource_id"],
        size_gb=row["size_gb"],
        server=row["server"],
        disks=row["disks"],
        shared_from_project_id=row["shared_from_project_id"],
        replicated_from_region=row["replicated_from_region"],
        deleted=bool(row["deleted"]),
    )


# -- accounts projection ---------------------------------------------------------------------------------------
async def set_account_state(conn: Conn, account_id: str, state: str) -> None:
    await conn.execute(
        "INSERT INTO account_projection (account_id, state) VALUES ($1, $2) "
        "ON CONFLICT (account_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()",
        account_id,
        state,
    )


async def account_states(conn: Conn, account_ids: list[str]) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT account_id, state FROM account_projection WHERE account_id = ANY ($1::text[])", account_ids
    )
    return {r["account_id"]: r["state"] for r in rows}


async def account_state(conn: Conn, account_id: str) -> str | None:
    state: str | None = await conn.fetchval("SELECT state FROM account_projection WHERE account_id = $1", account_id)
    return state


# -- jobs ------------------------------------------------------------------------------------------------------
def image_job(row: asyncpg.Record, prefix: str = "") -> ImageJob:
    """A row of ``jobs`` as its fate is decided on (its columns named ``prefix`` + the column's name)."""
    return ImageJob(
        job_id=row[f"{prefix}job_id"],
        image_id=row[f"{prefix}image_id"],
        project_id=row[f"{prefix}project_id"],
        backup_id=row[f"{prefix}backup_id"],
        request=row[f"{prefix}request"],
        correlation_id=row[f"{prefix}correlation_id"],
        status=row[f"{prefix}status"],
        wait_until=row[f"{prefix}wait_until"],
        job_type=row[f"{prefix}job_type"],
    )


async def insert_job(
    conn: Conn,
    *,
    job_id: str,
    project_id: str,
    image_id: str,
    image_name: str,
    backup_id: str | None,
    request: dict[str, Any],
    correlation_id: str | None,
    job_type: str = WHOLE_IMAGE_JOB,
    wait_until: datetime | None = None,
) -> bool:
    """A job in INIT (waiting until ``wait_until`` for its backup, when given), as the API records it."""
    inserted = await conn.fetchval(
        "INSERT INTO jobs (job_id, project_id, job_type, status, image_id, image_name, backup_id, request, "
        "correlation_id, wait_until) VALUES ($1, $2, $3, 'INIT', $4, $5, $6, $7, $8, $9) "
        "ON CONFLICT (job_id) DO NOTHING RETURNING 1",
        job_id,
        project_id,
        job_type,
        image_id,
        image_name,
        backup_id,
        request,
        correlation_id,
        wait_until,
    )
    return inserted is not None


@dataclass(frozen=True)
class RequestFacts:
    """What a run of image requests is decided on: the requested jobs that exist (locked), and the state of each
    account and the backup of each backup id asked about (None: no row; not asked about: not a key)."""

    jobs: dict[str, ImageJob]
    account_states: dict[str | None, str | None]
    backups: dict[str, BackupFacts | None]


async def request_facts(
    conn: asyncpg.Connection, job_ids: list[str], account_ids: list[str | None], backup_ids: list[str]
) -> RequestFacts:
    """``RequestFacts`` of a run of requests, given as aligned lists (a request's job id, its tenant's account, the
    backup it names): one round trip, which matters most at a low rate, where a run is an event or two. No JSON: the
    rows come back as columns."""
    rows = await conn.fetch(
        """
        SELECT g.account_id AS requested_account, a.state AS account_state, g.backup_id AS requested_backup,
            j.job_id AS j_job_id, j.image_id AS j_image_id, j.project_id AS j_project_id, j.backup_id AS j_backup_id,
            j.request AS j_request, j.correlation_id AS j_correlation_id, j.status AS j_status,
            j.wait_until AS j_wait_until, j.job_type AS j_job_type,
            b.*
        FROM unnest($1::text[], $2::text[], $3::text[]) AS g(job_id, account_id, backup_id)
        LEFT JOIN LATERAL (SELECT * FROM jobs WHERE jobs.job_id = g.job_id FOR UPDATE) j ON true
        LEFT JOIN account_projection a ON a.account_id = g.account_id
        LEFT JOIN backup_projection b ON b.backup_id = g.backup_id AND b.backup_id = ANY ($3::text[])
        """,
        job_ids,
        account_ids,
        backup_ids,
    )
    facts = RequestFacts({}, {}, {})
    for row in rows:
        if row["j_job_id"] is not None:
            facts.jobs[row["j_job_id"]] = image_job(row, prefix="j_")
        facts.account_states[row["requested_account"]] = row["account_state"]
        facts.backups[row["requested_backup"]] = _backup_facts(row) if row["backup_id"] is not None else None
    return facts


# New images, from one array per column, $1 to $24 (``_image_arrays``). The statements that use it say which rows
# go in, in which order, and what a unique index refuses.
_NEW_IMAGES = """
    INSERT INTO images (image_id, project_id, backup_id, job_id, name, description, status, enterprise_project_id,
        tags, min_ram, max_ram, os_type, os_version, min_disk, size_gb, disks, server_state, resource_id,
        shared_from_project_id, replicated_from_region, replicated_from_image_id, ready_at, active_at, status_history)
    SELECT image_id, project_id, backup_id, job_id, name, description, status, enterprise_project_id,
        tags::jsonb, min_ram, max_ram, os_type, os_version, min_disk, size_gb, disks::jsonb, server_state, resource_id,
        shared_from_project_id, replicated_from_region, replicated_from_image_id, ready_at, active_at,
        status_history::jsonb
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
        $9::text[], $10::int[], $11::int[], $12::text[], $13::text[], $14::int[], $15::int[], $16::text[],
        $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::timestamptz[], $23::timestamptz[],
        $24::text[])
        WITH ORDINALITY AS i(image_id, project_id, backup_id, job_id, name, description, status, enterprise_project_id,
            tags, min_ram, max_ram, os_type, os_version, min_disk, size_gb, disks, server_state, resource_id,
            shared_from_project_id, replicated_from_region, replicated_from_image_id, ready_at, active_at,
            status_history, n)
"""


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as one array per column (``width`` of them, rows or none)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def _image_arrays(images: list[ImageRow]) -> list[list[Any]]:
    """The arrays of ``_NEW_IMAGES``, in its order."""
    rows = [
        (
            i["image_id"],
            i["project_id"],
            i["backup_id"],
            i["job_id"],
            i["name"],
            i["description"],
            i["status"],
            i["enterprise_project_id"],
            json_text(i["tags"]),
            i["min_ram"],
            i["max_ram"],
            i["os_type"],
            i["os_version"],
            i["min_disk"],
            i["size_gb"],
            json_text(i["disks"]),
            i["server_state"],
            i["resource_id"],
            i["shared_from_project_id"],
            i["replicated_from_region"],
            i["replicated_from_image_id"],
            i["ready_at"],
            i["active_at"],
            json_text(i["status_history"]),
        )
        for i in images
    ]
    return _columns(rows, 24)


async def insert_images(conn: Conn, images: list[ImageRow]) -> set[str]:
    """Insert images, in their order: the ids of those inserted. A unique index refuses the others (one live image
    per backup, one replica per replication job, the image id); ``ON CONFLICT DO NOTHING`` waits for a concurrent
    insert of the same key to commit or roll back, as a unique violation would, without a savepoint."""
    rows = await conn.fetch(
        f"{_NEW_IMAGES} ORDER BY i.n ON CONFLICT DO NOTHING RETURNING image_id", *_image_arrays(images)
    )
    return {r["image_id"] for r in rows}


def _images_of(decided: list[Decided]) -> list[ImageRow]:
    return [decision.image for _, decision in decided if isinstance(decision, MakeImage)]


def _outcome(decision: MakeImage | AwaitBackup | FailJob) -> tuple[str, datetime | None, str | None, str | None]:
    """What a job's row keeps of its decision: its status, its wait, its error code and its reason."""
    if isinstance(decision, AwaitBackup):
        return decision.job_status, decision.until, None, None
    if isinstance(decision, FailJob):
        return decision.job_status, None, decision.refusal.code, decision.refusal.message
    return decision.job_status, None, None, None


# The second half of the statements that write a run's jobs (their first half, the CTE ``job``, returns the ids of
# the jobs it wrote): the images made for those jobs, in their order (a unique index may refuse one: one live image
# per backup), then each job written with whether its image was made.
_AND_THEIR_IMAGES = f"""
    image AS ({_NEW_IMAGES}
        WHERE i.job_id IN (SELECT job_id FROM job)
        ORDER BY i.n
        ON CONFLICT DO NOTHING
        RETURNING job_id)
    SELECT job.job_id, image.job_id IS NOT NULL AS image_made FROM job LEFT JOIN image ON image.job_id = job.job_id
"""

# New jobs ($25 to $36), each in the state its decision leaves it in; a job id taken meanwhile is left as it is.
_INSERT_JOBS = f"""
    WITH job AS (
        INSERT INTO jobs (job_id, project_id, job_type, status, image_id, image_name, backup_id, request,
            correlation_id, wait_until, error_code, fail_reason, end_time)
        SELECT job_id, project_id, job_type, status, image_id, image_name, backup_id, request::jsonb,
            correlation_id, wait_until, error_code, fail_reason, CASE WHEN status IN ('SUCCESS', 'FAIL') THEN now() END
        FROM unnest($25::text[], $26::text[], $27::text[], $28::text[], $29::text[], $30::text[], $31::text[],
            $32::text[], $33::text[], $34::timestamptz[], $35::text[], $36::text[])
            WITH ORDINALITY AS g(job_id, project_id, job_type, image_id, image_name, backup_id, request,
                correlation_id, status, wait_until, error_code, fail_reason, n)
        ORDER BY n
        ON CONFLICT (job_id) DO NOTHING
        RETURNING job_id),
    {_AND_THEIR_IMAGES}
"""

# Jobs that exist ($25 to $29), in INIT, each to the state its decision leaves it in.
_UPDATE_JOBS = f"""
    WITH job AS (
        UPDATE jobs j SET status = g.status, wait_until = g.wait_until, error_code = g.error_code,
            fail_reason = g.fail_reason, end_time = CASE WHEN g.status IN ('SUCCESS', 'FAIL') THEN now() END
        FROM unnest($25::text[], $26::text[], $27::timestamptz[], $28::text[], $29::text[])
            AS g(job_id, status, wait_until, error_code, fail_reason)
        WHERE j.job_id = g.job_id AND j.job_id = ANY ($25::text[]) AND j.status = 'INIT'
        RETURNING j.job_id),
    {_AND_THEIR_IMAGES}
"""


async def insert_jobs(conn: asyncpg.Connection, decided: list[Decided]) -> dict[str, bool]:
    """Insert new jobs, each in the state its decision leaves it in (written once), then the images made for those
    inserted: one round trip. A job id another transaction took meanwhile is left as it is, without the image.
    Returns, for each job inserted, whether its image was made (see ``update_jobs``)."""
    rows = await conn.fetch(
        _INSERT_JOBS,
        *_image_arrays(_images_of(decided)),
        *_columns(
            [
                (
                    job.job_id,
                    job.project_id,
                    job.job_type,
                    job.image_id,
                    job.request.get("name"),
                    job.backup_id,
                    json_text(job.request),
                    job.correlation_id,
                    *_outcome(decision),  # status, wait_until, error_code, fail_reason
                )
                for job, decision in decided
            ],
            12,
        ),
    )
    return {r["job_id"]: r["image_made"] for r in rows}


async def update_jobs(conn: asyncpg.Connection, decided: list[Decided]) -> dict[str, bool]:
    """Update jobs that exist, in INIT and locked by the caller, each to the state its decision leaves it in, then
    insert the images made: one round trip. Returns, for each job updated, whether its image was made (False as well
    for a job that makes none): a unique index may refuse an image (one live image per backup), and its job stays as
    written, for the caller to fail (``fail_jobs``)."""
    rows = await conn.fetch(
        _UPDATE_JOBS,
        *_image_arrays(_images_of(decided)),
        *_columns([(job.job_id, *_outcome(decision)) for job, decision in decided], 5),
    )
    return {r["job_id"]: r["image_made"] for r in rows}


async def fail_jobs(conn: Conn, failures: list[tuple[str, str, str]]) -> None:
    """Fail jobs (job id, error code, reason) whatever status this transaction wrote them in: the jobs whose image a
    unique index refused after they were written as making it."""
    await conn.execute(
        """
        UPDATE jobs j SET status = 'FAIL', error_code = f.code, fail_reason = f.reason, end_time = now(),
            wait_until = NULL
        FROM unnest($1::text[], $2::text[], $3::text[]) AS f(job_id, code, reason)
        WHERE j.job_id = f.job_id AND j.job_id = ANY ($1::text[])
        """,
        [job_id for job_id, _, _ in failures],
        [code for _, code, _ in failures],
        [reason for _, _, reason in failures],
    )


async def lock_job(conn: asyncpg.Connection, job_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM jobs WHERE job_id = $1 FOR UPDATE", job_id)


async def job_succeeded(conn: Conn, job_id: str) -> None:
    await conn.execute(
        "UPDATE jobs SET status = 'SUCCESS', end_time = now(), wait_until = NULL WHERE job_id = $1", job_id
    )


async def job_failed(conn: Conn, job_id: str, code: str, reason: str) -> None:
    await conn.execute(
        "UPDATE jobs SET status = 'FAIL', error_code = $2, fail_reason = $3, end_time = now(), wait_until = NULL "
        "WHERE job_id = $1 AND status IN ('INIT', 'RUNNING')",
        job_id,
        code,
        reason,
    )


async def server_backup_in_progress(conn: Conn, project_id: str, server_id: str) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM jobs WHERE project_id = $1 AND status = 'INIT' AND request->>'instance_id' = $2 LIMIT 1",
        project_id,
        server_id,
    )
    return bool(found)


async def waits_to_end(conn: asyncpg.Connection, limit: int = 500) -> list[tuple[ImageJob, BackupFacts | None]]:
    """Jobs waiting for a backup that the projection knows now, or whose wait is over, locked (those another
    transaction holds are skipped), each with its backup: see ``creation.end_waits``."""
    rows = await conn.fetch(
        """
        SELECT j.*, to_jsonb(b) AS backup
        FROM jobs j LEFT JOIN backup_projection b ON b.backup_id = j.backup_id
        WHERE j.status = 'INIT' AND j.wait_until IS NOT NULL AND (b.backup_id IS NOT NULL OR j.wait_until < now())
        ORDER BY j.wait_until
        LIMIT $1
        FOR UPDATE OF j SKIP LOCKED
        """,
        limit,
    )
    return [(image_job(r), _backup_facts(r["backup"])) for r in rows]


async def jobs_naming_backups(
    conn: asyncpg.Connection, backup_ids: list[str]
) -> list[tuple[ImageJob, BackupFacts | None]]:
    """The jobs in INIT that name any of the backups, locked (those another transaction holds are skipped), oldest
    first, each with its backup."""
    rows = await conn.fetch(
        """
        SELECT j.*, to_jsonb(b) AS backup
        FROM jobs j LEFT JOIN backup_projection b ON b.backup_id = j.backup_id AND b.backup_id = ANY ($1::text[])
        WHERE j.backup_id = ANY ($1::text[]) AND j.status = 'INIT'
        ORDER BY j.begin_time
        FOR UPDATE OF j SKIP LOCKED
        """,
        backup_ids,
    )
    return [(image_job(r), _backup_facts(r["backup"])) for r in rows]


async def get_job(conn: Conn, project_id: str, job_id: str) -> asyncpg.Record | None:
    """The project's job, with ``image_made_at``: when the image it names was made here, if it was (the end of the
    CBR backup step of a job that creates from an ECS)."""
    return await conn.fetchrow(
        "SELECT j.*, i.created_at AS image_made_at FROM jobs j LEFT JOIN images i ON i.image_id = j.image_id "
        "WHERE j.job_id = $1 AND j.project_id = $2",
        job_id,
        project_id,
    )


# -- replication jobs (the source region) ----------------------------------------------------------------------
async def lock_replications_of(conn: asyncpg.Connection, project_id: str) -> None:
    """Serialise the in-flight check of one project until the end of the transaction."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('ims-replication:' || $1, 0))", project_id)


async def replications_under_way(conn: Conn, project_id: str) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM jobs WHERE project_id = $1 AND job_type = $2 AND status IN ('INIT', 'RUNNING')",
        project_id,
        REPLICATION_JOB,
    )
    return count


async def replication_running(conn: Conn, job_id: str) -> None:
    await conn.execute(
        "UPDATE jobs SET status = 'RUNNING' WHERE job_id = $1 AND job_type = $2 AND status = 'INIT'",
        job_id,
        REPLICATION_JOB,
    )


async def replication_succeeded(conn: Conn, job_id: str, replica_image_id: str) -> None:
    await conn.execute(
        "UPDATE jobs SET status = 'SUCCESS', end_time = now(), image_id = $3 "
        "WHERE job_id = $1 AND job_type = $2 AND status IN ('INIT', 'RUNNING')",
        job_id,
        REPLICATION_JOB,
        replica_image_id,
    )


async def replication_failed(conn: Conn, job_id: str, code: str, reason: str) -> None:
    await conn.execute(
        "UPDATE jobs SET status = 'FAIL', error_code = $3, fail_reason = $4, end_time = now() "
        "WHERE job_id = $1 AND job_type = $2 AND status IN ('INIT', 'RUNNING')",
        job_id,
        REPLICATION_JOB,
        code,
        reason,
    )


# -- replicas (the destination region) -------------------------------------------------------------------------
async def replica_cancelled(conn: Conn, job_id: str) -> bool:
    return await conn.fetchval("SELECT 1 FROM replica_cancellations WHERE job_id = $1", job_id) is not None


async def cancel_replica(conn: Conn, job_id: str, replica_image_id: str, code: str, reason: str) -> None:
    """A replication that failed: a copy of it that arrives afterwards makes no replica."""
    await conn.execute(
        "INSERT INTO replica_cancellations (job_id, replica_image_id, error_code, reason) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (job_id) DO NOTHING",
        job_id,
        replica_image_id,
        code,
        reason,
    )


async def replica_made(conn: Conn, job_id: str) -> bool:
    """Whether the replication job made its replica here already (deleted since or not)."""
    found = await conn.fetchval(
        "SELECT 1 FROM images WHERE job_id = $1 AND replicated_from_image_id IS NOT NULL", job_id
    )
    return found is not None


async def image_id_taken(conn: Conn, image_id: str) -> bool:
    """Whether an image has this id, deleted or not."""
    return await conn.fetchval("SELECT 1 FROM images WHERE image_id = $1", image_id) is not None


# -- images ----------------------------------------------------------------------------------------------------
async def live_image_of_backup(conn: Conn, backup_id: str) -> str | None:
    image_id: str | None = await conn.fetchval(
        "SELECT image_id FROM images WHERE backup_id = $1 AND deleted_at IS NULL", backup_id
    )
    return image_id


async def image_completed(conn: Conn, image_id: str, at: datetime) -> None:
    """A saving image is active ("Normal") from ``at``."""
    await conn.execute(
        "UPDATE images SET status = 'active', active_at = $2, updated_at = now(), "
        "status_history = status_history || $3::jsonb WHERE image_id = $1",
        image_id,
        at,
        json.dumps([{"status": "active", "at": at.isoformat()}]),
    )


async def lock_image(conn: asyncpg.Connection, image_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM images WHERE image_id = $1 FOR UPDATE", image_id)


async def mark_image_deleted(conn: Conn, image_id: str, reason: str) -> None:
    await conn.execute(
        "UPDATE images SET status = 'deleted', deleted_at = now(), updated_at = now(), delete_reason = $2 "
        "WHERE image_id = $1",
        image_id,
        reason,
    )


async def backup_projects(conn: asyncpg.Connection, backup_ids: list[str]) -> dict[str, str]:
    """The project of each of the backups the projection knows."""
    rows = await conn.fetch(
        "SELECT backup_id, project_id FROM backup_projection WHERE backup_id = ANY ($1::text[])", backup_ids
    )
    return {r["backup_id"]: r["project_id"] for r in rows}


async def mark_backups_deleted_and_lock_images(conn: asyncpg.Connection, backup_ids: list[str]) -> list[asyncpg.Record]:
    """Mark the backups deleted in the projection and return their live images, locked: one round trip."""
    return await conn.fetch(
        "WITH marked AS (UPDATE backup_projection SET deleted = true, updated_at = now() "
        "WHERE backup_id = ANY ($1::text[])) "
        "SELECT * FROM images WHERE backup_id = ANY ($1::text[]) AND deleted_at IS NULL ORDER BY image_id FOR UPDATE",
        backup_ids,
    )


async def mark_images_deleted(conn: Conn, images: list[tuple[str, str]]) -> None:
    """``mark_image_deleted`` of several (image, reason) pairs in one round trip."""
    await conn.execute(
        "UPDATE images i SET status = 'deleted', deleted_at = now(), updated_at = now(), delete_reason = d.reason "
        "FROM unnest($1::text[], $2::text[]) AS d(image_id, reason) WHERE i.image_id = d.image_id",
        [image_id for image_id, _ in images],
        [reason for _, reason in images],
    )


async def saving_images_of_server(conn: asyncpg.Connection, project_id: str, resource_id: str) -> list[asyncpg.Record]:
    """The project's images being made from backups of the ECS ``resource_id``, locked."""
    return await conn.fetch(
        "SELECT * FROM images WHERE resource_id = $1 AND project_id = $2 AND status IN ('queued', 'saving') "
        "AND deleted_at IS NULL FOR UPDATE",
        resource_id,
        project_id,
    )


async def ready_images(conn: asyncpg.Connection, limit: int = 500) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM images WHERE status = 'saving' AND deleted_at IS NULL AND ready_at <= now() "
        "ORDER BY ready_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )


async def get_image(conn: Conn, image_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM images WHERE image_id = $1 AND deleted_at IS NULL", image_id)


async def member_status(conn: Conn, image_id: str, project_id: str) -> str | None:
    status: str | None = await conn.fetchval(
        "SELECT status FROM members WHERE image_id = $1 AND member_id = $2", image_id, project_id
    )
    return status


async def update_image_fields(conn: Conn, image_id: str, values: dict[str, Any]) -> None:
    allowed = {"name", "description", "min_ram", "max_ram"}
    assert set(values) <= allowed
    sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(values, start=2))
    await conn.execute(f"UPDATE images SET {sets}, updated_at = now() WHERE image_id = $1", image_id, *values.values())


# -- tags ------------------------------------------------------------------------------------------------------
async def set_image_tags(conn: Conn, image_id: str, tags: list[dict[str, str]]) -> None:
    await conn.execute("UPDATE images SET tags = $2, updated_at = now() WHERE image_id = $1", image_id, tags)
