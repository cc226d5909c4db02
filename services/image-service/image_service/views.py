"""JSON shapes of the IMS API: images as Glance/IMS show them, and jobs."""

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from image_service.domain import OS_BIT, WHOLE_IMAGE_JOB, platform_of, provisioning_plan
from ims_shared.public_images import PublicImage

STATUS_DISPLAY = {"queued": "Queued", "saving": "Saving", "active": "Normal", "killed": "Failed", "deleted": "Deleted"}


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def image_view(row: asyncpg.Record | dict[str, Any], *, viewer_project: str | None = None) -> dict[str, Any]:
    disks: list[dict[str, Any]] = row["disks"] or []
    shared = viewer_project is not None and viewer_project != row["project_id"]
    tags = [f"{t['key']}.{t['value']}" for t in row["tags"] or []]
    return {
        "id": row["image_id"],
        "name": row["name"],
        "status": row["status"],
        "status_display": STATUS_DISPLAY.get(row["status"], row["status"]),
        "visibility": "shared" if shared else "private",
        "owner": row["project_id"],
        "protected": False,
        "min_disk": row["min_disk"],
        "min_ram": row["min_ram"],
        "max_ram": str(row["max_ram"]) if row["max_ram"] else "",
        "size": 0,
        "virtual_size": 0,
        "disk_format": "zvhd2",
        "container_format": "bare",
        "checksum": "d41d8cd98f00b204e9800998ecf8427e",
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "active_at": _iso(row["active_at"]),
        "self": f"/v2/images/{row['image_id']}",
        "file": f"/v2/images/{row['image_id']}/file",
        "schema": "/v2/schemas/image",
        "tags": tags,
        "enterprise_project_id": row["enterprise_project_id"],
        "virtual_env_type": "FusionCompute",
        "__description": row["description"],
        "__imagetype": "shared" if shared else "private",
        "__whole_image": "true",
        "__backup_id": row["backup_id"],
        "__data_origin": f"server_backup,{row['backup_id']}",
        "__image_source_type": "uds",
        "__image_size": str(row["size_gb"] * 1024**3),
        "__os_type": row["os_type"] or "",
        "__os_version": row["os_version"] or "",
        "__platform": platform_of(row["os_version"]),
        "__isregistered": "true",
        "__os_bit": OS_BIT,
        "__support_kvm": "true",
        "__root_origin": "",
        "__originalimagename": "",
        "__productcode": "",
        "__lazyloading": "false",
        "__system_support_market": False,
        "__replicated_from_region": row["replicated_from_region"] or "",
        "__replicated_from_image_id": row["replicated_from_image_id"] or "",
        "__disks": disks,
        "__provisioning": provisioning_plan(disks),
    }


GOLD_SINCE = datetime(2026, 1, 1)


def gold_image_view(image: PublicImage) -> dict[str, Any]:
    """A public system image of the region's catalog (``__imagetype`` gold): a system disk only, owned by no
    project, usable by every project to create an ECS."""
    system_disk = {"device": "/dev/vda", "size_gb": image.min_disk, "bootable": True, "volume_type": "SSD"}
    row = {
        "image_id": image.id,
        "name": image.name,
        "status": "active",
        "project_id": "",
        "min_disk": image.min_disk,
        "min_ram": image.min_ram,
        "max_ram": 0,
        "created_at": GOLD_SINCE,
        "updated_at": GOLD_SINCE,
        "active_at": GOLD_SINCE,
        "tags": [],
        "enterprise_project_id": "0",
        "description": "",
        "backup_id": "",
        "size_gb": image.min_disk,
        "os_type": image.os_type,
        "os_version": image.os_version,
        "replicated_from_region": None,
        "replicated_from_image_id": None,
        "disks": [system_disk],
    }
    return image_view(row) | {
        "visibility": "public",
        "owner": "",
        "__imagetype": "gold",
        "__whole_image": "false",
        "__data_origin": "",
        "__image_source_type": "uds",
        "__platform": image.platform,
    }


def quota_view(used: int, quota: int) -> dict[str, Any]:
    """IMS ShowImageQuota: the project's image quota, ``used`` of ``quota``."""
    return {"quotas": {"resources": [{"type": "image", "used": used, "quota": quota, "min": 1, "max": quota}]}}


def os_versions_view(images: tuple[PublicImage, ...]) -> list[dict[str, Any]]:
    """IMS ListOsVersions: the OS versions of the region's public images, by platform, in the catalog's order."""
    platforms: dict[str, list[dict[str, Any]]] = {}
    for image in images:
        platforms.setdefault(image.platform, []).append(
            {
                "platform": image.platform,
                "os_version_key": image.os_version,
                "os_version": image.os_version,
                "os_bit": image.os_bit,
                "os_type": image.os_type,
            }
        )
    return [{"platform": platform, "version_list": versions} for platform, versions in platforms.items()]


JOB_TASKS = {
    WHOLE_IMAGE_JOB: {"INIT": "waiting for the CBR backup", "RUNNING": "creating the full-ECS image"},
    "imsCrossRegionCopyWholeImageJob": {
        "INIT": "checking the replication route",
        "RUNNING": "copying the backup and the image to the destination region",
    },
}


def job_view(row: asyncpg.Record) -> dict[str, Any]:
    percent = {"INIT": 0.0, "RUNNING": 50.0, "SUCCESS": 100.0, "FAIL": 100.0}[row["status"]]
    tasks = JOB_TASKS.get(row["job_type"], JOB_TASKS[WHOLE_IMAGE_JOB])
    task = tasks.get(row["status"], "")
    entities: dict[str, Any] = {
        "image_id": row["image_id"],
        "image_name": row["image_name"],
        "current_task": task,
        "process_percent": percent,
    }
    if (row["request"] or {}).get("instance_id"):
        entities["sub_jobs_result"] = _steps_from_server(row)
        if row["status"] == "INIT":
            entities["current_task"] = "backing up the ECS (CBR checkpoint)"
    return {
        "status": row["status"],
        "job_id": row["job_id"],
        "job_type": row["job_type"],
        "begin_time": _iso(row["begin_time"]),
        "end_time": _iso(row["end_time"]) or "",
        "error_code": row["error_code"],
        "fail_reason": row["fail_reason"],
        "entities": entities,
    }


def _step_id(job_id: str, step: str) -> str:
    """A sub-job's id: the same for a job's step on every read."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ims:job:{job_id}:{step}"))


def _steps_from_server(row: asyncpg.Record) -> list[dict[str, Any]]:
    """The two steps of creating from an ECS: the CBR backup, then the image made from it. The backup step ends when
    the image is made from its backup (or when the job fails after it); the image step begins then."""
    status = row["status"]
    backup_done = status in ("RUNNING", "SUCCESS") or (status == "FAIL" and row["error_code"] not in _BACKUP_STEP_CODES)
    backup_status = "SUCCESS" if backup_done else ("FAIL" if status == "FAIL" else "RUNNING")
    image_status = status if backup_done else "INIT"
    backup_end = (row["image_made_at"] or row["end_time"]) if backup_done else row["end_time"]
    image_end = row["end_time"] if image_status in ("SUCCESS", "FAIL") else None
    return [
        {
            "job_id": _step_id(row["job_id"], "backup"),
            "job_type": "cbrCreateCheckpointJob",
            "status": backup_status,
            "begin_time": _iso(row["begin_time"]),
            "end_time": _iso(backup_end) or "",
            "entities": {"backup_id": row["backup_id"]},
            "error_code": row["error_code"] if backup_status == "FAIL" else None,
            "fail_reason": row["fail_reason"] if backup_status == "FAIL" else None,
        },
        {
            "job_id": _step_id(row["job_id"], "image"),
            "job_type": row["job_type"],
            "status": image_status,
            "begin_time": _iso(backup_end) if backup_done else "",
            "end_time": _iso(image_end) or "",
            "entities": {"image_id": row["image_id"], "image_name": row["image_name"]},
        },
    ]


_BACKUP_STEP_CODES = {"IMG.0136", "BackupService.6302", "IMG.0020"}
