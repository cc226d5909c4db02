"""JSON shapes of the IMS API: images as Glance/IMS show them, and jobs."""

from datetime import datetime
from typing import Any

import asyncpg

from image_service.domain import WHOLE_IMAGE_JOB, provisioning_plan
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
        "__platform": _platform(row["os_version"] or ""),
        "__isregistered": "true",
        "__os_bit": "64",
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


def _platform(os_version: str) -> str:
    for name in ("Ubuntu", "CentOS", "Debian", "EulerOS", "openEuler", "Windows", "SUSE", "Fedora", "Oracle"):
        if name.lower() in os_version.lower():
            return name
    return "Other"


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


def _steps_from_server(row: asyncpg.Record) -> list[dict[str, Any]]:
    """The two steps of creating from an ECS: the CBR backup, then the image made from it."""
    status = row["status"]
    backup_done = status in ("RUNNING", "SUCCESS") or (status == "FAIL" and row["error_code"] not in _BACKUP_STEP_CODES)
    backup_status = "SUCCESS" if backup_done else ("FAIL" if status == "FAIL" else "RUNNING")
    image_status = status if backup_done else "INIT"
    return [
        {
            "job_type": "cbrCreateCheckpointJob",
            "status": backup_status,
            "entities": {"backup_id": row["backup_id"]},
            "error_code": row["error_code"] if backup_status == "FAIL" else None,
            "fail_reason": row["fail_reason"] if backup_status == "FAIL" else None,
        },
        {
            "job_type": row["job_type"],
            "status": image_status,
            "entities": {"image_id": row["image_id"], "image_name": row["image_name"]},
        },
    ]


_BACKUP_STEP_CODES = {"IMG.0136", "BackupService.6302", "IMG.0020"}
