"""JSON shapes of the ECS and EVS APIs, as the official SDKs read them (integers where their models say int)."""

from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from compute_service.domain import FLAVORS, Flavor, flavor

Row: TypeAlias = asyncpg.Record | dict[str, Any]

# ECS status -> (OS-EXT-STS:vm_state, OS-EXT-STS:power_state, OS-EXT-STS:task_state)
STATES = {
    "BUILD": ("building", 0, "spawning"),
    "ACTIVE": ("active", 1, ""),
    "SHUTOFF": ("stopped", 4, ""),
    "REBUILD": ("rebuilding", 4, "rebuilding"),
    "ERROR": ("error", 0, ""),
}


def _iso(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def _evs_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else ""


def flavor_view(f: Flavor) -> dict[str, Any]:
    return {
        "id": f.id,
        "name": f.id,
        "vcpus": str(f.vcpus),
        "ram": f.ram_mb,
        "disk": "0",
        "swap": "",
        "OS-FLV-EXT-DATA:ephemeral": 0,
        "OS-FLV-DISABLED:disabled": False,
        "rxtx_factor": 1.0,
        "rxtx_quota": "",
        "rxtx_cap": "",
        "os-flavor-access:is_public": True,
        "links": [],
        "os_extra_specs": {
            "ecs:performancetype": "normal",
            "resource_type": "IES",
            "cond:operation:status": "normal",
            "ecs:virtualization_env_types": "CloudCompute",
        },
    }


def flavors_view() -> list[dict[str, Any]]:
    return [flavor_view(f) for f in FLAVORS]


def server_view(row: Row, volumes: list[Row], region: str) -> dict[str, Any]:
    vm_state, power_state, task_state = STATES.get(row["status"], ("error", 0, ""))
    chosen = flavor(row["flavor_id"])
    metadata = dict(row["metadata"] or {})
    metadata |= {
        "os_type": row["os_type"] or "",
        "image_name": next((v["image_name"] for v in volumes if v["bootable"] and v["image_name"]), ""),
        "vpc_id": row["vpc_id"],
        "charging_mode": "0",
        "metering.image_id": row["image_id"],
        "metering.imagetype": row["image_type"],
        "metering.resourcespeccode": f"{chosen.id}.linux" if row["os_type"] != "Windows" else f"{chosen.id}.win",
        "metering.cloudServiceType": "hws.service.type.ec2",
        "virtual_env_type": "FusionCompute",
    }
    return {
        "id": row["server_id"],
        "name": row["name"],
        "description": row["description"],
        "status": row["status"],
        "progress": 100 if row["status"] in ("ACTIVE", "SHUTOFF") else 0,
        "created": _iso(row["created_at"]),
        "updated": _iso(row["updated_at"]),
        "tenant_id": row["project_id"],
        "user_id": "",
        "hostId": "",
        "host_status": "UP",
        "key_name": "",
        "locked": False,
        "config_drive": "",
        "image": {"id": row["image_id"]},
        "flavor": {
            "id": chosen.id,
            "name": chosen.id,
            "vcpus": str(chosen.vcpus),
            "ram": str(chosen.ram_mb),
            "disk": "0",
        },
        "metadata": metadata,
        "addresses": {},
        "security_groups": [],
        "tags": [],
        "sys_tags": [],
        "enterprise_project_id": "0",
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": row["availability_zone"],
        "OS-EXT-STS:vm_state": vm_state,
        "OS-EXT-STS:power_state": power_state,
        "OS-EXT-STS:task_state": task_state,
        "OS-SRV-USG:launched_at": _evs_time(row["launched_at"]),
        "OS-SRV-USG:terminated_at": "",
        "OS-EXT-SRV-ATTR:launch_index": row["launch_index"],
        "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
        "OS-EXT-SRV-ATTR:hostname": row["name"],
        "OS-EXT-SRV-ATTR:instance_name": f"instance-{row['server_id'][:8]}",
        "os-extended-volumes:volumes_attached": [
            {
                "id": v["volume_id"],
                "device": v["device"],
                "bootIndex": "0" if v["bootable"] else "",
                "delete_on_termination": "false",
            }
            for v in volumes
        ],
        "network_interfaces": [{"subnet_id": s, "primary": i == 0} for i, s in enumerate(row["subnet_ids"] or [])],
    }


def volume_view(row: Row) -> dict[str, Any]:
    attachments = []
    if row["server_id"]:
        attachments.append(
            {
                "attachment_id": row["volume_id"],
                "id": row["volume_id"],
                "volume_id": row["volume_id"],
                "server_id": row["server_id"],
                "device": row["device"],
                "host_name": "",
                "attached_at": _evs_time(row["created_at"]),
            }
        )
    image_metadata: dict[str, Any] = {}
    if row["image_id"]:
        image_metadata = {"image_id": row["image_id"], "image_name": row["image_name"] or ""}
    metadata: dict[str, Any] = {"readonly": "False", "attached_mode": "rw"}
    if row["backup_id"]:
        metadata |= {"restored_from_backup_id": row["backup_id"], "restored_from_volume_id": row["backup_volume_id"]}
    return {
        "id": row["volume_id"],
        "name": row["name"],
        "status": row["status"],
        "size": row["size_gb"],
        "volume_type": row["volume_type"],
        "bootable": "true" if row["bootable"] else "false",
        "attachments": attachments,
        "availability_zone": row["availability_zone"],
        "created_at": _evs_time(row["created_at"]),
        "updated_at": _evs_time(row["updated_at"]),
        "os-vol-tenant-attr:tenant_id": row["project_id"],
        "volume_image_metadata": image_metadata,
        "metadata": metadata,
        "description": "",
        "encrypted": False,
        "multiattach": False,
        "shareable": "false",
        "service_type": "EVS",
        "replication_status": "disabled",
        "links": [],
        "tags": {},
        "enterprise_project_id": "0",
    }


def _job_fields(job: Row) -> dict[str, Any]:
    return {
        "job_id": job["job_id"],
        "job_type": job["job_type"],
        "status": job["status"],
        "begin_time": _iso(job["begin_time"]),
        "end_time": _iso(job["end_time"]),
        "error_code": job["error_code"] or "",
        "fail_reason": job["fail_reason"] or "",
    }


def job_view(job: Row, children: list[Row]) -> dict[str, Any]:
    """An ECS job; its ``message`` says what the job did that the caller may not expect (an OS change that left
    the image's data disks out)."""
    entities: dict[str, Any] = {}
    if job["server_id"]:
        entities["server_id"] = job["server_id"]
    if children:
        entities["sub_jobs_total"] = len(children)
        entities["sub_jobs"] = [_job_fields(c) | {"entities": {"server_id": c["server_id"]}} for c in children]
    notes = job["notes"] or {}
    return _job_fields(job) | {"message": notes.get("note", ""), "entities": entities}
