"""What the ECS API does to servers, in the caller's transaction: create (BUILD), power, change OS (REBUILD),
delete, metadata; and the builder that ends the BUILD and REBUILD jobs that are due. Every change another service
must know is emitted in the same transaction: ``ServerRegistered`` once an ECS is ACTIVE and whenever its OS,
disks or configured flag change, ``ServerStateChanged`` on start and stop, ``ServerDeleted``."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from compute_service import repository
from compute_service.context import ComputeService
from compute_service.domain import (
    CONFIGURED_KEY,
    IMAGE_BACKUP_GONE,
    SERVER_NOT_FOUND,
    DiskPlan,
    Flavor,
    OsChange,
    PowerAction,
    SourceImage,
    check_deletable,
    parse_configured,
    power,
    server_names,
)
from ims_shared.events import BackupDisk, ServerDeleted, ServerRegistered, ServerStateChanged
from ims_shared.logging import get_logger
from ims_shared.refusal import Refusal

log = get_logger(__name__)

CREATE_JOB, CREATE_SUB_JOB = "createServer", "createSingleServer"
CHANGE_OS_JOB = "changeOS"
DELETE_JOB, DELETE_SUB_JOB = "deleteServers", "deleteServer"
POWER_JOBS = {
    "start": ("batchStartServers", "startServer"),
    "stop": ("batchStopServers", "stopServer"),
    "reboot": ("batchRebootServers", "rebootServer"),
}


@dataclass(frozen=True)
class Placement:
    """Where and how the new ECSs run: accepted as given (there is no network service)."""

    flavor: Flavor
    availability_zone: str
    vpc_id: str
    subnet_ids: list[str]
    description: str = ""


async def _job(
    conn: asyncpg.Connection,
    service: ComputeService,
    project_id: str,
    job_type: str,
    status: str,
    servers: list[tuple[str, str]],
    **extra: Any,
) -> tuple[str, dict[str, str]]:
    """A job and one sub-job (``servers``: pairs of server id and sub-job type) per server: the job's id and each
    server's sub-job id."""
    now = service.clock()
    job_id = str(uuid.uuid4())
    ended = now if status in ("SUCCESS", "FAIL") else None
    common = {"project_id": project_id, "status": status, "begin_time": now, "end_time": ended}
    await repository.insert_rows(conn, "jobs", [common | {"job_id": job_id, "job_type": job_type} | extra])
    sub_jobs = {server_id: str(uuid.uuid4()) for server_id, _ in servers}
    children = [
        common | {"job_id": sub_jobs[server_id], "job_type": sub_type, "parent_id": job_id, "server_id": server_id}
        for server_id, sub_type in servers
    ]
    await repository.insert_rows(conn, "jobs", children)
    return job_id, sub_jobs


async def create_servers(
    conn: asyncpg.Connection,
    service: ComputeService,
    project_id: str,
    *,
    image: SourceImage,
    disks: list[DiskPlan],
    placement: Placement,
    name: str,
    count: int,
    metadata: dict[str, str],
    client_token: str | None = None,
) -> tuple[str, list[str]]:
    """``count`` ECSs in BUILD, each with its disks being created (``creating``), and their job: (job id, server
    ids). One transaction: nothing is left behind when any of it fails."""
    now = service.clock()
    configured = parse_configured(metadata[CONFIGURED_KEY]) if CONFIGURED_KEY in metadata else image.configured
    metadata = metadata | {CONFIGURED_KEY: "true" if configured else "false"}
    server_ids = [str(uuid.uuid4()) for _ in range(count)]
    job_id, sub_jobs = await _job(
        conn,
        service,
        project_id,
        CREATE_JOB,
        "RUNNING",
        [(s, CREATE_SUB_JOB) for s in server_ids],
        client_token=client_token,
        request={"server_ids": server_ids},
    )
    ready_at = now + timedelta(seconds=service.settings.server_build_s)
    servers, volumes = [], []
    for index, (server_id, server_name) in enumerate(zip(server_ids, server_names(name, count), strict=True)):
        servers.append(
            {
                "server_id": server_id,
                "project_id": project_id,
                "name": server_name,
                "description": placement.description,
                "status": "BUILD",
                "image_id": image.image_id,
                "image_type": image.image_type,
                "backup_id": image.backup_id,
                "flavor_id": placement.flavor.id,
                "os_type": image.os_type,
                "os_version": image.os_version,
                "configured": configured,
                "metadata": metadata,
                "availability_zone": placement.availability_zone,
                "vpc_id": placement.vpc_id,
                "subnet_ids": placement.subnet_ids,
                "launch_index": index,
                "job_id": sub_jobs[server_id],
                "ready_at": ready_at,
                "created_at": now,
                "updated_at": now,
            }
        )
        volumes += [
            {
                "volume_id": str(uuid.uuid4()),
                "project_id": project_id,
                "name": f"{server_name}-volume-{disk.position:04d}",
                "size_gb": disk.size_gb,
                "volume_type": disk.volume_type,
                "bootable": disk.bootable,
                "status": "creating",
                "server_id": server_id,
                "device": disk.device,
                "position": disk.position,
                "image_id": image.image_id if disk.from_image else None,
                "image_name": image.name if disk.from_image else None,
                "backup_id": image.backup_id if disk.backup_volume_id else None,
                "backup_volume_id": disk.backup_volume_id,
                "availability_zone": placement.availability_zone,
                "created_at": now,
                "updated_at": now,
            }
            for disk in disks
        ]
    await repository.insert_rows(conn, "servers", servers)
    await repository.insert_rows(conn, "volumes", volumes)
    log.info("servers requested", job_id=job_id, count=count, image_id=image.image_id)
    return job_id, server_ids


async def locked_servers(conn: asyncpg.Connection, project_id: str, server_ids: list[str]) -> list[asyncpg.Record]:
    """The caller's servers named, locked; a 404 naming the first that is not one."""
    wanted = list(dict.fromkeys(server_ids))
    rows = await repository.lock_servers(conn, project_id, wanted)
    found = {r["server_id"] for r in rows}
    missing = next((s for s in wanted if s not in found), None)
    if missing is not None:
        raise Refusal(SERVER_NOT_FOUND, f"ECS {missing} does not exist", status=404)
    return rows


async def power_servers(
    conn: asyncpg.Connection, service: ComputeService, project_id: str, server_ids: list[str], action: PowerAction
) -> str:
    """Start, stop or reboot every ECS named (all or none: a state that does not allow it refuses the request)."""
    rows = await locked_servers(conn, project_id, server_ids)
    changes = [(row, power(row["status"], action, row["server_id"])) for row in rows]
    for row, state in changes:
        if state != row["status"]:
            await repository.set_status(conn, [row["server_id"]], state)
            await service.emitter.emit(
                conn, ServerStateChanged(server_id=row["server_id"], state=state), project_id=project_id
            )
    job_type, sub_type = POWER_JOBS[action]
    job_id, _ = await _job(conn, service, project_id, job_type, "SUCCESS", [(r["server_id"], sub_type) for r in rows])
    return job_id


async def delete_servers(
    conn: asyncpg.Connection, service: ComputeService, project_id: str, server_ids: list[str], delete_volumes: bool
) -> str:
    rows = await locked_servers(conn, project_id, server_ids)
    for row in rows:
        check_deletable(row["status"], row["server_id"])
    ids = [r["server_id"] for r in rows]
    await repository.delete_servers(conn, ids, delete_volumes)
    for server_id in ids:
        await service.emitter.emit(conn, ServerDeleted(server_id=server_id), project_id=project_id)
    job_id, _ = await _job(conn, service, project_id, DELETE_JOB, "SUCCESS", [(s, DELETE_SUB_JOB) for s in ids])
    return job_id


async def change_os(conn: asyncpg.Connection, service: ComputeService, server: asyncpg.Record, change: OsChange) -> str:
    """The ECS goes REBUILD (stopped first when it ran) until the builder rewrites its system disk."""
    image = change.image
    system = image.system_disk
    content = {
        "image_id": image.image_id,
        "image_name": image.name,
        "image_type": image.image_type,
        "backup_id": image.backup_id,
        "backup_volume_id": system.backup_volume_id,
        "os_type": image.os_type,
        "os_version": image.os_version,
        "configured": image.configured,
    }
    project_id = server["project_id"]
    job_id, _ = await _job(
        conn,
        service,
        project_id,
        CHANGE_OS_JOB,
        "RUNNING",
        [],
        server_id=server["server_id"],
        request={"content": content, "note": change.note},
    )
    if server["status"] == "ACTIVE":
        await service.emitter.emit(
            conn, ServerStateChanged(server_id=server["server_id"], state="SHUTOFF"), project_id=project_id
        )
    ready_at = service.clock() + timedelta(seconds=service.settings.server_build_s)
    await repository.start_job_on(conn, server["server_id"], "REBUILD", job_id, ready_at)
    return job_id


async def update_metadata(
    conn: asyncpg.Connection, service: ComputeService, server: asyncpg.Record, changes: dict[str, str]
) -> dict[str, str]:
    """Merge ``changes`` into the ECS's metadata; a change of its configured flag is announced."""
    metadata: dict[str, str] = dict(server["metadata"] or {}) | changes
    configured = parse_configured(metadata[CONFIGURED_KEY]) if CONFIGURED_KEY in metadata else server["configured"]
    await repository.set_metadata(conn, server["server_id"], metadata, configured)
    if configured != server["configured"] and server["status"] in ("ACTIVE", "SHUTOFF"):
        await announce(conn, service, server["server_id"])
    return metadata


async def announce(conn: asyncpg.Connection, service: ComputeService, server_id: str) -> None:
    """``ServerRegistered`` with what a backup of the ECS needs: OS, configured flag, state, every disk."""
    server = await conn.fetchrow("SELECT * FROM servers WHERE server_id = $1", server_id)
    assert server is not None
    volumes = (await repository.volumes_of(conn, [server_id]))[server_id]
    event = ServerRegistered(
        server_id=server_id,
        name=server["name"],
        os_type=server["os_type"],
        os_version=server["os_version"],
        configured=server["configured"],
        state="SHUTOFF" if server["status"] == "SHUTOFF" else "ACTIVE",
        disks=[
            BackupDisk(
                volume_id=v["volume_id"],
                device=v["device"],
                size_gb=v["size_gb"],
                bootable=v["bootable"],
                volume_type=v["volume_type"],
            )
            for v in volumes
        ],
    )
    await service.emitter.emit(conn, event, project_id=server["project_id"])


# -- the builder ----------------------------------------------------------------------------------------------------


async def finish_due(conn: asyncpg.Connection, service: ComputeService) -> int:
    """End the BUILD and REBUILD jobs that are due. A disk that cannot be restored any more (the image's backup
    was deleted meanwhile) fails the job: a new ECS is removed with its disks, an OS change leaves the ECS ERROR."""
    now = service.clock()
    servers = await repository.due_servers(conn, now)
    for server in servers:
        job = await repository.lock_job(conn, server["job_id"])
        if job is None:
            continue
        if server["status"] == "BUILD":
            await _end_build(conn, service, server, job, now)
        elif server["status"] == "REBUILD":
            await _end_rebuild(conn, service, server, job, now)
    return len(servers)


def _backup_gone(backup_id: str) -> tuple[str, str]:
    return IMAGE_BACKUP_GONE, f"the image's CBR backup {backup_id} was deleted before its disks were restored"


async def _end_build(
    conn: asyncpg.Connection, service: ComputeService, server: asyncpg.Record, job: asyncpg.Record, now: datetime
) -> None:
    server_id = server["server_id"]
    backup_id = server["backup_id"]
    if backup_id and not await repository.backup_usable(conn, backup_id):
        await repository.delete_servers(conn, [server_id], delete_volumes=True)
        await repository.end_job(conn, job["job_id"], "FAIL", now, error=_backup_gone(backup_id))
        log.warning("server creation failed: the image's backup is gone", server_id=server_id)
    else:
        await repository.built(conn, server_id, now)
        await repository.end_job(conn, job["job_id"], "SUCCESS", now)
        await announce(conn, service, server_id)
    if job["parent_id"]:
        await repository.end_parent_when_done(conn, job["parent_id"], now)


async def _end_rebuild(
    conn: asyncpg.Connection, service: ComputeService, server: asyncpg.Record, job: asyncpg.Record, now: datetime
) -> None:
    content = job["request"]["content"]
    server_id = server["server_id"]
    backup_id = content["backup_id"]
    if backup_id and not await repository.backup_usable(conn, backup_id):
        await repository.job_ended(conn, server_id, "ERROR")
        await repository.end_job(conn, job["job_id"], "FAIL", now, error=_backup_gone(backup_id))
        return
    await repository.rewrite_system_disk(conn, server_id, content, now)
    await repository.end_job(conn, job["job_id"], "SUCCESS", now, notes={"note": job["request"]["note"]})
    await service.emitter.emit(
        conn, ServerStateChanged(server_id=server_id, state="ACTIVE"), project_id=server["project_id"]
    )
    await announce(conn, service, server_id)
