"""SQL of image-service.

A statement that joins a table to a batch it read from JSON or to rows a CTE returns names the batch's keys on that
table again as an array, ``= ANY ($n)``, which the planner probes in an index. Without it, it takes such a set for
100 rows and, on a table of a few thousand, chose a hash join that read the whole table for every batch of a few
events, or read every entry of a partial index, which keeps the entries of rows that left it until a vacuum
(docs/architecture.md).
"""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from image_service.domain import BackupFacts
from ims_shared.db import json_text
from ims_shared.events import BackupCreated

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool

WHOLE_IMAGE_JOB = "imsCreateWholeImageByBackupJob"


# -- backups projection ----------------------------------------------------------------------------------------
_BACKUP_FIELDS = (
    "backup_id",
    "project_id",
    "vault_id",
    "name",
    "resource_id",
    "resource_type",
    "status",
    "size_gb",
    "shared_from_project_id",
    "replicated_from_region",
    "server",
    "disks",
)
_BACKUP_COLUMNS = ", ".join(_BACKUP_FIELDS)
_BACKUP_PARAMS = ", ".join(f"${i}" for i in range(1, len(_BACKUP_FIELDS) + 1))
_INSERT_BACKUP = (
    f"INSERT INTO backup_projection ({_BACKUP_COLUMNS}) VALUES ({_BACKUP_PARAMS}) ON CONFLICT (backup_id) DO NOTHING"
)


def _backup_row(project_id: str, b: BackupCreated) -> dict[str, Any]:
    """The projection's row of a backup, by column in ``_BACKUP_FIELDS`` order."""
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
    await conn.execute(_INSERT_BACKUP, *_backup_row(project_id, b).values())


async def record_backups_and_waiting_jobs(
    conn: asyncpg.Connection, backups: list[tuple[str, BackupCreated]]
) -> list[tuple[asyncpg.Record, BackupFacts | None]]:
    """Record backups (project, event) in the projection, in their order, and return the jobs in INIT that name
    any of them, locked, oldest first, each with its backup when this statement recorded it (None when the backup
    was known before: read it from the projection): one round trip."""
    rows = await conn.fetch(
        "WITH given AS (SELECT * FROM jsonb_populate_recordset(NULL::backup_projection, $1::jsonb) "
        "WITH ORDINALITY AS b), "
        f"recorded AS (INSERT INTO backup_projection ({_BACKUP_COLUMNS}) SELECT {_BACKUP_COLUMNS} FROM given "
        "ORDER BY ordinality ON CONFLICT (backup_id) DO NOTHING RETURNING backup_id), "
        # Joins, not subqueries per job: a subquery over a CTE is a scan of the whole batch for every job.
        "earliest AS (SELECT DISTINCT ON (backup_id) * FROM given ORDER BY backup_id, ordinality) "
        "SELECT j.*, CASE WHEN r.backup_id IS NOT NULL THEN to_jsonb(f) END AS recorded_backup "
        "FROM jobs j JOIN earliest f ON f.backup_id = j.backup_id LEFT JOIN recorded r ON r.backup_id = j.backup_id "
        "WHERE j.backup_id = ANY ($2::text[]) AND j.status = 'INIT' ORDER BY j.begin_time FOR UPDATE OF j SKIP LOCKED",
        [_backup_row(project_id, b) for project_id, b in backups],
        [b.backup_id for _, b in backups],
    )
    return [(r, _backup_facts(r["recorded_backup"])) for r in rows]


async def mark_backup_deleted(conn: Conn, backup_id: str) -> None:
    await conn.execute(
        "UPDATE backup_projection SET deleted = true, updated_at = now() WHERE backup_id = $1", backup_id
    )


async def get_backup(conn: Conn, backup_id: str) -> BackupFacts | None:
    row = await conn.fetchrow("SELECT * FROM backup_projection WHERE backup_id = $1", backup_id)
    return _backup_facts(row)


async def account_state_and_backup(
    conn: Conn, account_id: str | None, backup_id: str
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
        status=row["status"],
        resource_type=row["resource_type"],
        resource_id=row["resource_id"],
        size_gb=row["size_gb"],
        server=row["server"],
        disks=row["disks"],
        shared_from_project_id=row["shared_from_project_id"],
        replicated_from_region=row["replicated_from_region"],
        deleted=row["deleted"],
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
) -> bool:
    inserted = await conn.fetchval(
        "INSERT INTO jobs (job_id, project_id, job_type, status, image_id, image_name, backup_id, request, "
        "correlation_id) VALUES ($1,$2,$3,'INIT',$4,$5,$6,$7,$8) ON CONFLICT (job_id) DO NOTHING RETURNING 1",
        job_id,
        project_id,
        job_type,
        image_id,
        image_name,
        backup_id,
        request,
        correlation_id,
    )
    return inserted is not None


@dataclass(frozen=True)
class RequestFacts:
    """What a batch of image requests is decided on: the jobs that exist already, the accounts' states, the
    backups known."""

    existing_jobs: set[str]
    account_states: dict[str, str]
    backups: dict[str, BackupFacts]


async def request_facts(
    conn: asyncpg.Connection, job_ids: list[str], account_ids: list[str | None], backup_ids: list[str]
) -> RequestFacts:
    """``RequestFacts`` of a run of requests, given as aligned lists (a request's job id, its tenant's account, the
    backup it names): one round trip, which matters at a low rate, where a run is an event or two. For 500 requests
    it took 3.3 to 3.5 ms, where one statement that returned the backups as JSON (``to_jsonb``) took 5.4 ms."""
    rows = await conn.fetch(
        "SELECT g.job_id AS requested_job, EXISTS (SELECT 1 FROM jobs j WHERE j.job_id = g.job_id) AS job_exists, "
        "g.account_id AS requested_account, a.state AS account_state, b.* "
        "FROM unnest($1::text[], $2::text[], $3::text[]) AS g(job_id, account_id, backup_id) "
        "LEFT JOIN account_projection a ON a.account_id = g.account_id "
        "LEFT JOIN backup_projection b ON b.backup_id = g.backup_id AND b.backup_id = ANY ($3::text[])",
        job_ids,
        account_ids,
        backup_ids,
    )
    facts = RequestFacts(set(), {}, {})
    for row in rows:
        if row["job_exists"]:
            facts.existing_jobs.add(row["requested_job"])
        if row["account_state"] is not None:
            facts.account_states[row["requested_account"]] = row["account_state"]
        if row["backup_id"] is not None and (backup := _backup_facts(row)) is not None:
            facts.backups[backup.backup_id] = backup
    return facts


# Columns of a new job and of an image made at once, with their types, in the order ``insert_jobs`` passes them as
# arrays (a jsonb column travels as text): arrays cost PostgreSQL less to read than one JSON document of the rows,
# whose keys repeat on every row (17.1 vs 14.9 ms for 500 jobs and images).
_NEW_JOB_COLUMNS = (
    ("job_id", "text"),
    ("project_id", "text"),
    ("image_id", "text"),
    ("image_name", "text"),
    ("backup_id", "text"),
    ("request", "jsonb"),
    ("correlation_id", "text"),
    ("wait_until", "timestamptz"),
)
_NEW_IMAGE_COLUMNS = (
    ("image_id", "text"),
    ("project_id", "text"),
    ("backup_id", "text"),
    ("job_id", "text"),
    ("name", "text"),
    ("description", "text"),
    ("status", "text"),
    ("enterprise_project_id", "text"),
    ("tags", "jsonb"),
    ("min_ram", "int"),
    ("max_ram", "int"),
    ("os_type", "text"),
    ("os_version", "text"),
    ("min_disk", "int"),
    ("size_gb", "int"),
    ("disks", "jsonb"),
    ("server_state", "text"),
    ("resource_id", "text"),
    ("shared_from_project_id", "text"),
    ("replicated_from_region", "text"),
    ("ready_at", "timestamptz"),
    ("status_history", "jsonb"),
    ("active_at", "timestamptz"),
)


def _unnest(columns: tuple[tuple[str, str], ...], first: int) -> tuple[str, str, str]:
    """For ``unnest`` of one array per column from parameter ``$first`` on: the column list, the parameters (a
    jsonb column's as text[]) and the select list (a jsonb column cast back)."""
    names = ", ".join(name for name, _ in columns)
    params = ", ".join(
        f"${n}::{'text' if kind == 'jsonb' else kind}[]" for n, (_, kind) in enumerate(columns, start=first)
    )
    select = ", ".join(f"{name}::jsonb" if kind == "jsonb" else name for name, kind in columns)
    return names, params, select


def _arrays(columns: tuple[tuple[str, str], ...], rows: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [None if row.get(name) is None else json_text(row[name]) for row in rows]
        if kind == "jsonb"
        else [row.get(name) for row in rows]
        for name, kind in columns
    ]


_NEW_IMAGE_NAMES = {name for name, _ in _NEW_IMAGE_COLUMNS}
_JOB_NAMES, _JOB_PARAMS, _JOB_SELECT = _unnest(_NEW_JOB_COLUMNS, 2)
_IMAGE_NAMES, _IMAGE_PARAMS, _IMAGE_SELECT = _unnest(_NEW_IMAGE_COLUMNS, 2 + len(_NEW_JOB_COLUMNS))
_INSERT_JOBS = (
    f"WITH image AS (INSERT INTO images ({_IMAGE_NAMES}) SELECT {_IMAGE_SELECT} FROM unnest({_IMAGE_PARAMS}) "
    f"WITH ORDINALITY AS i({_IMAGE_NAMES}, ordinality) ORDER BY ordinality ON CONFLICT DO NOTHING RETURNING job_id), "
    f"given AS (SELECT {_JOB_SELECT}, ordinality FROM unnest({_JOB_PARAMS}) "
    f"WITH ORDINALITY AS g({_JOB_NAMES}, ordinality)) "
    "INSERT INTO jobs (job_id, project_id, job_type, status, image_id, image_name, backup_id, request, "
    "correlation_id, wait_until, end_time) SELECT g.job_id, g.project_id, $1, "
    "CASE WHEN i.job_id IS NULL THEN 'INIT' ELSE 'SUCCESS' END, g.image_id, g.image_name, g.backup_id, "
    "g.request, g.correlation_id, CASE WHEN i.job_id IS NULL THEN g.wait_until END, "
    "CASE WHEN i.job_id IS NOT NULL THEN now() END "
    "FROM given g LEFT JOIN image i ON i.job_id = g.job_id ORDER BY g.ordinality "
    "ON CONFLICT (job_id) DO NOTHING RETURNING job_id, status"
)


async def insert_jobs(
    conn: asyncpg.Connection, jobs: list[dict[str, Any]], images: list[dict[str, Any]]
) -> tuple[set[str], set[str]]:
    """Insert new whole-image jobs (each a dict of job_id, project_id, image_id, image_name, backup_id, request,
    correlation_id, wait_until), and before them the ``images`` of those made at once (``creation.image_values``),
    in their order: one round trip. A job whose image is inserted is inserted in SUCCESS, written once; the others
    in INIT, waiting until their ``wait_until`` (a job whose image a unique index refused waits for nothing).
    Returns the ids of the jobs inserted (an existing job id is left alone) and of the jobs that succeeded."""
    unknown = {column for image in images[:1] for column in image} - _NEW_IMAGE_NAMES
    assert not unknown, f"images columns insert_jobs does not pass: {unknown}"
    rows = await conn.fetch(
        _INSERT_JOBS,
        WHOLE_IMAGE_JOB,
        *_arrays(_NEW_JOB_COLUMNS, jobs),
        *_arrays(_NEW_IMAGE_COLUMNS, images),
    )
    return {r["job_id"] for r in rows}, {r["job_id"] for r in rows if r["status"] == "SUCCESS"}


async def lock_job(conn: asyncpg.Connection, job_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM jobs WHERE job_id = $1 FOR UPDATE", job_id)


async def wait_for_backup(conn: Conn, job_id: str, until: datetime) -> None:
    await conn.execute("UPDATE jobs SET wait_until = $2 WHERE job_id = $1 AND status = 'INIT'", job_id, until)


async def job_running(conn: Conn, job_id: str) -> None:
    await conn.execute("UPDATE jobs SET status = 'RUNNING', wait_until = NULL WHERE job_id = $1", job_id)


_JOB_SUCCEEDED = "UPDATE jobs SET status = 'SUCCESS', end_time = now(), wait_until = NULL"


async def job_succeeded(conn: Conn, job_id: str) -> None:
    await conn.execute(f"{_JOB_SUCCEEDED} WHERE job_id = $1", job_id)


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


async def waiting_jobs_with_backup(conn: asyncpg.Connection, limit: int = 500) -> list[str]:
    """Jobs still waiting for a backup that the projection now knows (see ``creation.expire_waits``)."""
    rows = await conn.fetch(
        "SELECT j.job_id FROM jobs j JOIN backup_projection b ON b.backup_id = j.backup_id "
        "WHERE j.status = 'INIT' AND j.wait_until IS NOT NULL ORDER BY j.wait_until LIMIT $1 "
        "FOR UPDATE OF j SKIP LOCKED",
        limit,
    )
    return [r["job_id"] for r in rows]


async def expired_waits(conn: asyncpg.Connection, limit: int = 500) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM jobs WHERE status = 'INIT' AND wait_until < now() ORDER BY wait_until LIMIT $1 "
        "FOR UPDATE SKIP LOCKED",
        limit,
    )


async def get_job(conn: Conn, project_id: str, job_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM jobs WHERE job_id = $1 AND project_id = $2", job_id, project_id)


# -- images ----------------------------------------------------------------------------------------------------
def _insert_image(values: dict[str, Any]) -> str:
    """An INSERT of ``values`` (column -> value, passed as $1, $2, ... in order) that yields to any unique index."""
    columns = ", ".join(values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    return f"INSERT INTO images ({columns}) VALUES ({params}) ON CONFLICT DO NOTHING"


async def insert_image(conn: asyncpg.Connection, values: dict[str, Any]) -> bool:
    """Insert a new full-ECS image; False when the backup already has a live image (the unique index), or when
    any other unique index refuses it. ``ON CONFLICT DO NOTHING`` (every unique index is an arbiter) waits for a
    concurrent insert of the same key to commit or roll back, as the unique violation did, without a savepoint."""
    inserted = await conn.fetchval(f"{_insert_image(values)} RETURNING 1", *values.values())
    return inserted is not None


async def insert_active_image(conn: asyncpg.Connection, values: dict[str, Any]) -> bool:
    """``insert_image`` of an image that is active at once, and ``job_succeeded`` of its job, in one round trip.
    False (and the job untouched) when a unique index refuses the image."""
    done = await conn.fetchval(
        f"WITH image AS ({_insert_image(values)} RETURNING job_id) "
        f"{_JOB_SUCCEEDED} FROM image WHERE jobs.job_id = image.job_id RETURNING 1",
        *values.values(),
    )
    return done is not None


async def insert_active_images(conn: asyncpg.Connection, images: list[dict[str, Any]]) -> set[str]:
    """``insert_active_image`` of several images (each a dict of ``images`` columns, JSON-ready) in one round trip,
    in their order: the ids of the images inserted (a unique index refuses the others; their jobs are untouched)."""
    if not images:
        return set()
    columns = ", ".join(images[0])
    rows = await conn.fetch(
        f"WITH image AS (INSERT INTO images ({columns}) SELECT {columns} FROM "
        "jsonb_populate_recordset(NULL::images, $1::jsonb) WITH ORDINALITY AS i ORDER BY ordinality "
        "ON CONFLICT DO NOTHING RETURNING job_id, image_id), "
        f"succeeded AS ({_JOB_SUCCEEDED} FROM image "
        "WHERE jobs.job_id = image.job_id AND jobs.job_id = ANY ($2::text[])) "
        "SELECT image_id FROM image",
        images,
        [image["job_id"] for image in images],
    )
    return {r["image_id"] for r in rows}


async def live_image_of_backup(conn: Conn, backup_id: str) -> str | None:
    image_id: str | None = await conn.fetchval(
        "SELECT image_id FROM images WHERE backup_id = $1 AND deleted_at IS NULL", backup_id
    )
    return image_id


async def set_image_status(conn: Conn, image_id: str, status: str, **extra: Any) -> None:
    sets = ["status = $2", "updated_at = now()", "status_history = status_history || $3::jsonb"]
    args: list[Any] = [
        image_id,
        status,
        json.dumps([{"status": status, "at": datetime.now().astimezone().isoformat()}]),
    ]
    for column, value in extra.items():
        args.append(value)
        sets.append(f"{column} = ${len(args)}")
    await conn.execute(f"UPDATE images SET {', '.join(sets)} WHERE image_id = $1", *args)


async def lock_image(conn: asyncpg.Connection, image_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM images WHERE image_id = $1 FOR UPDATE", image_id)


async def mark_image_deleted(conn: Conn, image_id: str, reason: str) -> None:
    await conn.execute(
        "UPDATE images SET status = 'deleted', deleted_at = now(), updated_at = now(), delete_reason = $2 "
        "WHERE image_id = $1",
        image_id,
        reason,
    )


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


async def jobs_waiting_for_any(conn: asyncpg.Connection, backup_ids: list[str]) -> list[str]:
    """The jobs waiting for any of the backups, locked (those another transaction holds are skipped)."""
    rows = await conn.fetch(
        "SELECT job_id FROM jobs WHERE backup_id = ANY ($1::text[]) AND status = 'INIT' ORDER BY begin_time "
        "FOR UPDATE SKIP LOCKED",
        backup_ids,
    )
    return [r["job_id"] for r in rows]


async def live_images_of_backup(conn: asyncpg.Connection, backup_id: str) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM images WHERE backup_id = $1 AND deleted_at IS NULL FOR UPDATE", backup_id)


async def saving_images_of_server(conn: asyncpg.Connection, resource_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM images WHERE resource_id = $1 AND status IN ('queued', 'saving') AND deleted_at IS NULL "
        "FOR UPDATE",
        resource_id,
    )


async def ready_images(conn: asyncpg.Connection, limit: int = 500) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM images WHERE status = 'saving' AND deleted_at IS NULL AND ready_at <= now() "
        "ORDER BY ready_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )


async def get_image(conn: Conn, image_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM images WHERE image_id = $1 AND deleted_at IS NULL", image_id)


async def list_images(
    conn: Conn, project_id: str, filters: dict[str, Any], limit: int, marker: str | None, imagetype: str | None = None
) -> list[asyncpg.Record]:
    """The project's own images (``private``) and the images shared with it that it accepted (``shared``)."""
    own = "project_id = $1"
    shared = "image_id IN (SELECT image_id FROM members WHERE member_id = $1 AND status = 'accepted')"
    scope = {"private": own, "shared": shared}.get(imagetype or "", f"({own} OR {shared})")
    clauses = [scope, "deleted_at IS NULL"]
    args: list[Any] = [project_id]
    for column in ("name", "status", "backup_id", "enterprise_project_id", "os_type", "image_id"):
        if filters.get(column) is not None:
            args.append(filters[column])
            clauses.append(f"{column} = ${len(args)}")
    if marker:
        args.append(marker)
        clauses.append(
            f"(created_at, image_id) < (SELECT created_at, image_id FROM images WHERE image_id = ${len(args)})"
        )
    args.append(limit)
    where = " AND ".join(clauses)
    return await conn.fetch(
        f"SELECT * FROM images WHERE {where} ORDER BY created_at DESC, image_id DESC LIMIT ${len(args)}", *args
    )


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
