"""The ECS- and EVS-compatible HTTP API of compute-service (the subset that making ECSs from images needs)."""

from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from compute_service import repository, servers
from compute_service.context import ComputeService, Service, Who
from compute_service.domain import (
    BAD_REQUEST,
    JOB_NOT_FOUND,
    MAX_COUNT,
    PREPAID_UNSUPPORTED,
    SERVER_NOT_FOUND,
    VOLUME_NOT_FOUND,
    PowerAction,
    VolumeRequest,
    check_flavor,
    check_metadata,
    flavor,
    plan_disks,
    plan_os_change,
)
from compute_service.images import source_image
from compute_service.views import flavors_view, job_view, server_view, volume_view
from ims_shared.auth import Caller
from ims_shared.events.envelope import INT4_MAX
from ims_shared.refusal import Refusal

router = APIRouter()

Id = Annotated[str, Field(min_length=1, max_length=64)]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Volume(Body):
    volumetype: str | None = Field(default=None, max_length=32)
    size: int | None = Field(default=None, ge=1, le=INT4_MAX)


class Nic(Body):
    subnet_id: Id


class ExtendParam(Body):
    chargingMode: str | int | None = None


class ServerCreate(Body):
    imageRef: Id
    flavorRef: Id
    name: str = Field(min_length=1, max_length=64)
    vpcid: Id
    nics: list[Nic] = Field(min_length=1, max_length=12)
    root_volume: Volume | None = None
    data_volumes: list[Volume] = Field(default_factory=list, max_length=23)
    count: int = Field(default=1, ge=1, le=MAX_COUNT)
    availability_zone: str | None = Field(default=None, max_length=64)
    metadata: dict[str, str] = Field(default_factory=dict, max_length=64)
    description: str = Field(default="", max_length=85)
    extendparam: ExtendParam | None = None


class CreateBody(Body):
    server: ServerCreate
    dry_run: bool = False


async def _create(service: ComputeService, who: Caller, body: CreateBody, client_token: str | None) -> dict[str, Any]:
    try:
        return await _create_once(service, who, body, client_token)
    except asyncpg.UniqueViolationError:
        # Another request with the same X-Client-Token committed first: answer as it was answered.
        return await _create_once(service, who, body, client_token)


async def _create_once(
    service: ComputeService, who: Caller, body: CreateBody, client_token: str | None
) -> dict[str, Any]:
    request = body.server
    async with service.database.transaction() as conn:
        if client_token:
            done = await repository.job_by_token(conn, who.project_id, client_token)
            if done is not None:  # the same request sent again: the same answer
                return {"job_id": done["job_id"], "serverIds": done["request"]["server_ids"]}
        image = await source_image(conn, service.region, who.project_id, request.imageRef)
        chosen = flavor(request.flavorRef)
        check_flavor(chosen, image)
        check_metadata(request.metadata)
        root = request.root_volume
        disks = plan_disks(
            image,
            VolumeRequest(root.volumetype, root.size) if root else None,
            [VolumeRequest(v.volumetype, v.size) for v in request.data_volumes],
        )
        if body.dry_run:
            return {"job_id": None, "serverIds": []}
        placement = servers.Placement(
            flavor=chosen,
            availability_zone=request.availability_zone or f"{service.region}a",
            vpc_id=request.vpcid,
            subnet_ids=[n.subnet_id for n in request.nics],
            description=request.description,
        )
        job_id, server_ids = await servers.create_servers(
            conn,
            service,
            who.project_id,
            image=image,
            disks=disks,
            placement=placement,
            name=request.name,
            count=request.count,
            metadata=request.metadata,
            client_token=client_token,
        )
    return {"job_id": job_id, "serverIds": server_ids}


ClientToken = Annotated[str | None, Header(alias="X-Client-Token", max_length=64)]


@router.post("/v1/{project_id}/cloudservers")
async def create_post_paid_servers(
    project_id: str, body: CreateBody, service: Service, who: Who, client_token: ClientToken = None
) -> dict[str, Any]:
    """ECS CreatePostPaidServers: the job makes each ECS BUILD, then ACTIVE."""
    return await _create(service, who, body, client_token)


@router.post("/v1.1/{project_id}/cloudservers")
async def create_servers(
    project_id: str, body: CreateBody, service: Service, who: Who, client_token: ClientToken = None
) -> dict[str, Any]:
    """ECS CreateServers: pay-per-use only (a yearly/monthly ECS would need an order)."""
    mode = body.server.extendparam.chargingMode if body.server.extendparam else None
    if mode not in (None, "postPaid", 0, "0"):
        raise Refusal(PREPAID_UNSUPPORTED, f"chargingMode {mode!r} is not offered here: use postPaid")
    return await _create(service, who, body, client_token) | {"order_id": None}


@router.get("/v1/{project_id}/jobs/{job_id}")
async def show_job(project_id: str, job_id: str, service: Service, who: Who) -> dict[str, Any]:
    job, children = await repository.get_job(service.database.pool, who.project_id, job_id)
    if job is None:
        raise Refusal(JOB_NOT_FOUND, f"job {job_id} does not exist", status=404)
    return job_view(job, children)


@router.get("/v1/{project_id}/cloudservers/flavors")
async def list_flavors(project_id: str, service: Service, who: Who) -> dict[str, Any]:
    return {"flavors": flavors_view()}


@router.get("/v1/{project_id}/cloudservers/detail")
async def list_servers_details(
    project_id: str,
    service: Service,
    who: Who,
    limit: Annotated[int, Query(ge=1, le=1000)] = 25,
    offset: Annotated[int, Query(ge=1, le=INT4_MAX // 1000, description="the page, from 1")] = 1,
    name: str | None = None,
    status: str | None = None,
    flavor: str | None = None,
    server_id: str | None = None,
) -> dict[str, Any]:
    pool = service.database.pool
    filters = {"name": name, "status": status, "flavor_id": flavor, "server_id": server_id}
    rows, total = await repository.list_servers(pool, who.project_id, filters, limit, (offset - 1) * limit)
    volumes = await repository.volumes_of(pool, [r["server_id"] for r in rows])
    return {"count": total, "servers": [server_view(r, volumes[r["server_id"]], service.region) for r in rows]}


async def _server(service: ComputeService, who: Caller, server_id: str) -> Any:
    row = await repository.get_server(service.database.pool, who.project_id, server_id)
    if row is None:
        raise Refusal(SERVER_NOT_FOUND, f"ECS {server_id} does not exist", status=404)
    return row


@router.get("/v1/{project_id}/cloudservers/{server_id}")
async def show_server(project_id: str, server_id: str, service: Service, who: Who) -> dict[str, Any]:
    row = await _server(service, who, server_id)
    volumes = await repository.volumes_of(service.database.pool, [server_id])
    return {"server": server_view(row, volumes[server_id], service.region)}


class ServerRef(Body):
    id: Id


class PowerOption(Body):
    servers: list[ServerRef] = Field(min_length=1, max_length=1000)
    type: Literal["SOFT", "HARD"] | None = None


class ActionBody(Body):
    os_start: PowerOption | None = Field(default=None, alias="os-start")
    os_stop: PowerOption | None = Field(default=None, alias="os-stop")
    reboot: PowerOption | None = None


@router.post("/v1/{project_id}/cloudservers/action")
async def server_action(project_id: str, body: ActionBody, service: Service, who: Who) -> dict[str, Any]:
    """ECS BatchStartServers, BatchStopServers and BatchRebootServers: one path, the body's key says which."""
    given: dict[PowerAction, PowerOption | None] = {"start": body.os_start, "stop": body.os_stop, "reboot": body.reboot}
    chosen = [(action, option) for action, option in given.items() if option is not None]
    if len(chosen) != 1:
        raise Refusal(BAD_REQUEST, "the body must have exactly one of os-start, os-stop and reboot")
    action, option = chosen[0]
    assert option is not None
    async with service.database.transaction() as conn:
        job_id = await servers.power_servers(conn, service, who.project_id, [s.id for s in option.servers], action)
    return {"job_id": job_id}


class DeleteBody(Body):
    servers: list[ServerRef] = Field(min_length=1, max_length=1000)
    delete_volume: bool = False
    delete_publicip: bool = False


@router.post("/v1/{project_id}/cloudservers/delete")
async def delete_servers(project_id: str, body: DeleteBody, service: Service, who: Who) -> dict[str, Any]:
    """ECS DeleteServers: the disks go with the ECSs when ``delete_volume``, else they stay, detached."""
    async with service.database.transaction() as conn:
        ids = [s.id for s in body.servers]
        job_id = await servers.delete_servers(conn, service, who.project_id, ids, body.delete_volume)
    return {"job_id": job_id}


@router.delete("/v2.1/{project_id}/servers/{server_id}", status_code=204)
async def nova_delete_server(project_id: str, server_id: str, service: Service, who: Who) -> Response:
    """Nova's delete: the ECS goes, its disks stay (as with DeleteServers without delete_volume)."""
    async with service.database.transaction() as conn:
        await servers.delete_servers(conn, service, who.project_id, [server_id], delete_volumes=False)
    return Response(status_code=204)


class OsChangeOption(Body):
    imageid: Id
    adminpass: str | None = Field(default=None, max_length=64)
    keyname: str | None = Field(default=None, max_length=64)
    userid: str | None = Field(default=None, max_length=64)
    mode: str | None = Field(default=None, max_length=32)
    metadata: dict[str, Any] = Field(default_factory=dict)


class OsChangeBody(Body):
    os_change: OsChangeOption = Field(alias="os-change")


async def _change_os(service: ComputeService, who: Caller, server_id: str, body: OsChangeBody) -> dict[str, Any]:
    option = body.os_change
    async with service.database.transaction() as conn:
        server = (await servers.locked_servers(conn, who.project_id, [server_id]))[0]
        image = await source_image(conn, service.region, who.project_id, option.imageid)
        system = await conn.fetchval(
            "SELECT size_gb FROM volumes WHERE server_id = $1 AND position = 0 AND deleted_at IS NULL", server_id
        )
        change = plan_os_change(server["status"], option.mode, int(system or 0), image, server_id)
        job_id = await servers.change_os(conn, service, server, change)
    return {"job_id": job_id}


@router.post("/v2/{project_id}/cloudservers/{server_id}/changeos")
async def change_server_os_with_cloud_init(
    project_id: str, server_id: str, body: OsChangeBody, service: Service, who: Who
) -> dict[str, Any]:
    """ECS ChangeServerOsWithCloudInit: with a full-ECS image, only the system disk is rewritten."""
    return await _change_os(service, who, server_id, body)


@router.post("/v1/{project_id}/cloudservers/{server_id}/changeos")
async def change_server_os_without_cloud_init(
    project_id: str, server_id: str, body: OsChangeBody, service: Service, who: Who
) -> dict[str, Any]:
    """ECS ChangeServerOsWithoutCloudInit: the same change, without Cloud-Init's user data."""
    return await _change_os(service, who, server_id, body)


class MetadataBody(Body):
    metadata: dict[str, str] = Field(max_length=64)


@router.post("/v1/{project_id}/cloudservers/{server_id}/metadata")
async def update_server_metadata(
    project_id: str, server_id: str, body: MetadataBody, service: Service, who: Who
) -> dict[str, Any]:
    """ECS UpdateServerMetadata. The key ``full_image_configured`` ("true"/"false") says whether the ECS was
    configured as a full-ECS image requires; an image of an ECS that was not is refused (IMG.0202)."""
    check_metadata(body.metadata)
    async with service.database.transaction() as conn:
        server = (await servers.locked_servers(conn, who.project_id, [server_id]))[0]
        metadata = await servers.update_metadata(conn, service, server, body.metadata)
    return {"metadata": metadata}


@router.get("/v2/{project_id}/cloudvolumes/detail")
async def list_volumes(
    project_id: str,
    service: Service,
    who: Who,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=INT4_MAX)] = 0,
    server_id: str | None = None,
    status: str | None = None,
    name: str | None = None,
    id: str | None = None,
) -> dict[str, Any]:
    filters = {"server_id": server_id, "status": status, "name": name, "volume_id": id}
    rows, total = await repository.list_volumes(service.database.pool, who.project_id, filters, limit, offset)
    return {"count": total, "volumes": [volume_view(r) for r in rows], "volumes_links": []}


@router.get("/v2/{project_id}/cloudvolumes/{volume_id}")
async def show_volume(project_id: str, volume_id: str, service: Service, who: Who) -> dict[str, Any]:
    row = await repository.get_volume(service.database.pool, who.project_id, volume_id)
    if row is None:
        raise Refusal(VOLUME_NOT_FOUND, f"volume {volume_id} does not exist", status=404)
    return {"volume": volume_view(row)}
