"""Stored images for the growth runs, written straight into image-service's database with COPY.

Each stored image is what the service itself leaves behind after creating one: its backup in the projection, its
job (SUCCESS), the image (mostly active, some deleted), and the two inbox rows of the events that made it. Projects,
times, tags and OS versions vary so the indexes hold realistic spreads of keys.
"""

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench.events import TENANTS

CONSUMER = "image-service.cn-north-4"
OS_VERSIONS = ["Ubuntu 22.04 server 64bit", "CentOS 7.9 64bit", "Windows Server 2019 Standard 64bit", "EulerOS 2.9"]
JOB_TYPE = "imsCreateWholeImageByBackupJob"


def _projects() -> list[str]:
    return [t.projects["cn-north-4"] for t in TENANTS.values()]


async def seed_images(dsn: str, count: int, batch: int = 20_000, rng: random.Random | None = None) -> None:
    """Add ``count`` stored images (with their backups, jobs and inbox rows) to the database at ``dsn``."""
    rng = rng or random.Random(7)
    projects = _projects()
    conn = await asyncpg.connect(dsn)
    try:
        done = 0
        while done < count:
            size = min(batch, count - done)
            backups: list[tuple[Any, ...]] = []
            jobs: list[tuple[Any, ...]] = []
            images: list[tuple[Any, ...]] = []
            inbox: list[tuple[Any, ...]] = []
            now = datetime.now(UTC)
            for _ in range(size):
                project = rng.choice(projects)
                backup_id, image_id, job_id, server_id = (str(uuid.uuid4()) for _ in range(4))
                created = now - timedelta(seconds=rng.uniform(3600, 90 * 86400))
                active = created + timedelta(seconds=rng.uniform(60, 900))
                os_version = rng.choice(OS_VERSIONS)
                os_type = "Windows" if os_version.startswith("Windows") else "Linux"
                system_gb = rng.choice([40, 50, 100])
                data_gb = rng.choice([0, 10, 100, 500])
                disks = [
                    {
                        "volume_id": str(uuid.uuid4()),
                        "device": "/dev/vda",
                        "size_gb": system_gb,
                        "bootable": True,
                        "volume_type": "SSD",
                    }
                ]
                if data_gb:
                    disks.append(
                        {
                            "volume_id": str(uuid.uuid4()),
                            "device": "/dev/vdb",
                            "size_gb": data_gb,
                            "bootable": False,
                            "volume_type": "SAS",
                        }
                    )
                size_gb = system_gb + data_gb
                server = {"os_type": os_type, "os_version": os_version, "configured": True, "state": "ACTIVE"}
                tags = [{"key": "env", "value": rng.choice(["prod", "test", "dev"])}] if rng.random() < 0.5 else []
                name = f"image-{rng.randrange(10**8):08d}"
                deleted = rng.random() < 0.05
                history = [
                    {"status": "queued", "at": created.isoformat()},
                    {"status": "saving", "at": created.isoformat()},
                    {"status": "active", "at": active.isoformat()},
                ]
                if deleted:
                    history.append({"status": "deleted", "at": (active + timedelta(days=1)).isoformat()})
                backups.append(
                    (
                        backup_id,
                        project,
                        "v-" + uuid.uuid4().hex[:12],
                        f"autobackup-{server_id[:8]}",
                        server_id,
                        "OS::Nova::Server",
                        "available",
                        size_gb,
                        json.dumps(server),
                        json.dumps(disks),
                        deleted,
                        active,
                    )
                )
                request = {
                    "name": name,
                    "backup_id": backup_id,
                    "description": "",
                    "enterprise_project_id": "0",
                    "tags": tags,
                    "min_ram": 0,
                    "max_ram": 0,
                }
                request_event, backup_event = str(uuid.uuid4()), str(uuid.uuid4())
                jobs.append(
                    (
                        job_id,
                        project,
                        JOB_TYPE,
                        "SUCCESS",
                        image_id,
                        name,
                        backup_id,
                        json.dumps(request),
                        created,
                        active,
                        request_event,
                    )
                )
                images.append(
                    (
                        image_id,
                        project,
                        backup_id,
                        job_id,
                        name,
                        "",
                        "deleted" if deleted else "active",
                        "0",
                        json.dumps(tags),
                        0,
                        0,
                        os_type,
                        os_version,
                        system_gb,
                        size_gb,
                        json.dumps(disks),
                        "ACTIVE",
                        server_id,
                        created,
                        active,
                        created,
                        active,
                        active + timedelta(days=1) if deleted else None,
                        "user" if deleted else None,
                        json.dumps(history),
                    )
                )
                inbox.append((CONSUMER, backup_event, "BackupCreated", created))
                inbox.append((CONSUMER, request_event, "ImageRequested", created))
            await conn.copy_records_to_table(
                "backup_projection",
                records=backups,
                columns=[
                    "backup_id",
                    "project_id",
                    "vault_id",
                    "name",
                    "resource_id",
                    "resource_type",
                    "status",
                    "size_gb",
                    "server",
                    "disks",
                    "deleted",
                    "updated_at",
                ],
            )
            await conn.copy_records_to_table(
                "jobs",
                records=jobs,
                columns=[
                    "job_id",
                    "project_id",
                    "job_type",
                    "status",
                    "image_id",
                    "image_name",
                    "backup_id",
                    "request",
                    "begin_time",
                    "end_time",
                    "correlation_id",
                ],
            )
            await conn.copy_records_to_table(
                "images",
                records=images,
                columns=[
                    "image_id",
                    "project_id",
                    "backup_id",
                    "job_id",
                    "name",
                    "description",
                    "status",
                    "enterprise_project_id",
                    "tags",
                    "min_ram",
                    "max_ram",
                    "os_type",
                    "os_version",
                    "min_disk",
                    "size_gb",
                    "disks",
                    "server_state",
                    "resource_id",
                    "created_at",
                    "updated_at",
                    "ready_at",
                    "active_at",
                    "deleted_at",
                    "delete_reason",
                    "status_history",
                ],
            )
            await conn.copy_records_to_table(
                "inbox", records=inbox, columns=["consumer", "event_id", "event_type", "received_at"]
            )
            done += size
        # A long-lived table has been vacuumed and analyzed: do it now, so that autovacuum does not run on the
        # seeded rows during the measurement that follows. (No forced CHECKPOINT: right after one, every first
        # touch of an index page writes a full page image, which is not the steady state being compared.)
        for table in ("backup_projection", "jobs", "images", "inbox"):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
    finally:
        await conn.close()


async def stored_images(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM images"))
    finally:
        await conn.close()


async def clear_images(dsn: str) -> None:
    """Empty image-service's images, jobs, backups projection and inbox (the growth runs start from a known count)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("TRUNCATE members, images, jobs, backup_projection, inbox")
        await conn.execute("VACUUM (ANALYZE)")
    finally:
        await conn.close()
