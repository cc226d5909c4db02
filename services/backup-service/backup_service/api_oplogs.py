"""The CBR operation-log calls of backup-service: ListOpLogs and ShowOpLog (what ``oplogs`` records)."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from backup_service import oplogs
from backup_service.api import PROVIDER_ID, parse_time
from backup_service.context import Service, Who
from ims_shared.events.envelope import INT4_MAX
from ims_shared.refusal import Refusal

router = APIRouter()
OP_LOG_NOT_FOUND = "BackupService.6306"


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f") if value else None


def op_log_view(row: dict[str, Any]) -> dict[str, Any]:
    """CBR's OperationLog; ``extra_info`` names the backup and its ECS, and for a replication both regions' ids."""
    backup = {"backup_id": row["backup_id"], "backup_name": row["backup_name"]}
    kind = row["operation_type"]
    extra: dict[str, Any] = {
        "common": {"progress": 0 if row["status"] == "running" else 100, "request_id": "", "task_id": row["op_id"]},
        "resource": {"id": row["resource_id"], "name": row["resource_name"], "type": row["resource_type"]},
    }
    if kind == "backup":
        extra["backup"] = backup | {"incremental": "false"}
    elif kind == "delete":
        extra["delete"] = backup
    else:
        extra["replication"] = dict(row["extra"] or {}) | {"destination_backup_name": row["backup_name"]}
    error = {"code": row["error_code"], "message": row["error_message"]} if row["error_code"] else None
    return {
        "id": row["op_id"],
        "project_id": row["project_id"],
        "operation_type": kind,
        "status": row["status"],
        "checkpoint_id": row["checkpoint_id"],
        "vault_id": row["vault_id"],
        "vault_name": row["vault_name"] or "",
        "provider_id": PROVIDER_ID,
        "policy_id": "",
        "created_at": _iso(row["started_at"]),
        "started_at": _iso(row["started_at"]),
        "updated_at": _iso(row["updated_at"]),
        "ended_at": _iso(row["ended_at"]),
        "error_info": error,
        "extra_info": extra,
    }


@router.get("/v3/{project_id}/operation-logs")
async def list_op_logs(
    project_id: str,
    service: Service,
    who: Who,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=INT4_MAX)] = 0,
    operation_type: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    vault_id: Annotated[str | None, Query(max_length=64)] = None,
    vault_name: Annotated[str | None, Query(max_length=64)] = None,
    resource_id: Annotated[str | None, Query(max_length=64)] = None,
    resource_name: Annotated[str | None, Query(max_length=255)] = None,
    start_time: Annotated[str | None, Query(max_length=64)] = None,
    end_time: Annotated[str | None, Query(max_length=64)] = None,
    provider_id: Annotated[str | None, Query(max_length=64)] = None,
    enterprise_project_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """CBR ListOpLogs: the project's backup, deletion and replication tasks, newest first. Every task is of the
    server backup provider and the default enterprise project ("0"): another one matches none."""
    if provider_id not in (None, PROVIDER_ID) or enterprise_project_id not in (None, "", "0", "all_granted_eps"):
        return {"operation_logs": [], "count": 0, "limit": limit, "offset": offset}
    rows, total = await oplogs.list_logs(
        service.database.pool,
        who.project_id,
        limit=limit,
        offset=offset,
        operation_type=operation_type,
        status=status,
        vault_id=vault_id,
        vault_name=vault_name,
        resource_id=resource_id,
        resource_name=resource_name,
        start_time=parse_time("start_time", start_time),
        end_time=parse_time("end_time", end_time),
    )
    return {"operation_logs": [op_log_view(r) for r in rows], "count": total, "limit": limit, "offset": offset}


@router.get("/v3/{project_id}/operation-logs/{operation_log_id}")
async def show_op_log(project_id: str, operation_log_id: str, service: Service, who: Who) -> dict[str, Any]:
    row = await oplogs.get_log(service.database.pool, who.project_id, operation_log_id)
    if row is None:
        raise Refusal(OP_LOG_NOT_FOUND, f"operation log {operation_log_id} not found", status=404)
    return {"operation_log": op_log_view(row)}
