"""``imsctl ecs``: ECSs made from images, through compute-service's ECS and EVS APIs, signed with the tenant's AK/SK
as ``imsctl ims`` signs IMS calls.

``imsctl ecs create --image-id IMAGE --name web`` makes an ECS with every disk of the image at the image's sizes
(read from the image through IMS); ``--system-disk-gb`` and ``--data-disk-gb`` make them larger, never smaller.
"""

from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.table import Table

from imsctl import output
from imsctl.api import ApiClient, JsonOpt, PollOpt, TimeoutOpt, wait_for_job
from imsctl.target import Target, connection_options

ecs_app = typer.Typer(
    help="The ECS and EVS APIs (compute-service) as a tenant: ECSs from images, their disks, power, change of OS.",
    no_args_is_help=True,
)

DEFAULT_FLAVOR = "s6.small.1"
STOP_FIRST = "withStopServer"
ServerIds = Annotated[list[str], typer.Argument(help="One or more ECS ids.")]
WaitOpt = Annotated[bool, typer.Option("--wait", help="Follow the ECS job until it ends.")]


# -- the disks of a new ECS ----------------------------------------------------------------------------------------
class DiskTooSmall(ValueError):
    """A size given for one of the image's disks is smaller than the image's."""


@dataclass(frozen=True)
class Disk:
    """A disk of the new ECS: ``image_gb`` is the image's size for it (None for a new, empty data disk)."""

    device: str
    bootable: bool
    size_gb: int
    volume_type: str
    image_gb: int | None

    def volume(self) -> dict[str, Any]:
        return {"volumetype": self.volume_type, "size": self.size_gb}

    def describe(self) -> str:
        role = "system disk" if self.bootable else "data disk"
        source = f"image's {self.image_gb} GB" if self.image_gb is not None else "new, empty"
        return f"{self.device} {role} {self.size_gb} GB {self.volume_type} ({source})"


def _device(position: int) -> str:
    """``/dev/vda``, ``/dev/vdb``, ... then ``/dev/vdaa``, as compute-service names a new ECS's disks."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    name = letters[position] if position < 26 else letters[position // 26 - 1] + letters[position % 26]
    return f"/dev/vd{name}"


def image_disks(image: dict[str, Any]) -> list[dict[str, Any]]:
    """The image's disks as IMS shows them (``__disks``): the system disk first, then the data disks by device. A
    public image lists its system disk; one that lists none has a system disk of its ``min_disk``."""
    disks = list(image.get("__disks") or [])
    if not any(d.get("bootable") for d in disks):
        disks.insert(0, {"device": "/dev/vda", "size_gb": image.get("min_disk") or 40, "bootable": True})
    return sorted(disks, key=lambda d: (not d.get("bootable"), str(d.get("device") or "")))


def plan_disks(image: dict[str, Any], system_gb: int | None, data_gb: list[int]) -> list[Disk]:
    """Every disk of the new ECS: the image's at the image's sizes unless given larger (``system_gb``, then
    ``data_gb`` in device order); ``data_gb`` past the image's data disks are new, empty disks."""
    disks = image_disks(image)
    asked: list[int | None] = [system_gb, *data_gb]
    planned = []
    for position in range(max(len(disks), len(asked))):
        size = asked[position] if position < len(asked) else None
        if position >= len(disks):
            assert size is not None
            planned.append(Disk(_device(position), False, size, "SSD", None))
            continue
        disk = disks[position]
        image_gb = int(disk["size_gb"])
        device = str(disk.get("device") or _device(position))
        if size is not None and size < image_gb:
            raise DiskTooSmall(
                f"{device}: {size} GB is smaller than the image's {image_gb} GB (a disk may grow, never shrink)"
            )
        kind = str(disk.get("volume_type") or "SSD")
        planned.append(Disk(device, position == 0, image_gb if size is None else size, kind, image_gb))
    return planned


def creation_body(
    image_id: str, name: str, flavor: str, disks: list[Disk], *, vpc_id: str, subnet_id: str, count: int
) -> dict[str, Any]:
    """CreatePostPaidServers' body."""
    return {
        "server": {
            "imageRef": image_id,
            "flavorRef": flavor,
            "name": name,
            "vpcid": vpc_id,
            "nics": [{"subnet_id": subnet_id}],
            "root_volume": disks[0].volume(),
            "data_volumes": [d.volume() for d in disks[1:]],
            "count": count,
        }
    }


def _ended(job: dict[str, Any], what: str) -> None:
    if job.get("status") != "SUCCESS":
        raise output.abort(
            f"{what} failed (job {job.get('job_id')}): {job.get('error_code')}: {job.get('fail_reason')}"
        )


# -- commands ------------------------------------------------------------------------------------------------------
@ecs_app.command("create")
@connection_options(api=True)
def ecs_create(
    target: Target,
    image_id: Annotated[str, typer.Option("--image-id", help="A full-ECS image (own, shared or a replica) or public.")],
    name: Annotated[str, typer.Option("--name", help="ECS name (several are numbered name-0001, ...).")],
    flavor: Annotated[str, typer.Option("--flavor", help="Flavor id (ListFlavors).")] = DEFAULT_FLAVOR,
    system_disk_gb: Annotated[
        int | None, typer.Option("--system-disk-gb", min=1, help="System disk size (default: the image's).")
    ] = None,
    data_disk_gb: Annotated[
        list[int] | None,
        typer.Option(
            "--data-disk-gb",
            min=1,
            help="Size of the image's next data disk, in device order (default: the image's); past the image's data "
            "disks, a new, empty one. Repeatable.",
        ),
    ] = None,
    count: Annotated[int, typer.Option("--count", min=1, max=100)] = 1,
    vpc_id: Annotated[str, typer.Option("--vpc-id", help="Recorded as given (no network service).")] = "vpc-default",
    subnet_id: Annotated[str, typer.Option("--subnet-id")] = "subnet-default",
    wait: Annotated[bool, typer.Option("--wait", help="Show the job's progress until the ECSs are ACTIVE.")] = False,
    timeout: TimeoutOpt = 120.0,
    poll_interval: PollOpt = 0.5,
    quiet: output.QuietOpt = False,
) -> None:
    """Create ECSs from an image (CreatePostPaidServers) with every disk of the image. Prints the new ECS ids."""
    ims = ApiClient(target, "ims")
    try:
        image = ims.call("GET", f"/v2/images/{image_id}")
    finally:
        ims.close()
    try:
        disks = plan_disks(image, system_disk_gb, list(data_disk_gb or []))
    except DiskTooSmall as exc:
        raise output.abort(str(exc), code=2) from exc
    for disk in disks:
        output.note(f"[dim]{disk.describe()}[/]", quiet=quiet)
    body = creation_body(image_id, name, flavor, disks, vpc_id=vpc_id, subnet_id=subnet_id, count=count)
    client = ApiClient(target, "ecs")
    try:
        answer = client.call("POST", f"/v1/{client.project_id}/cloudservers", body=body)
        job_id = answer["job_id"]
        if wait:
            job = wait_for_job(client, job_id, timeout_s=timeout, poll_s=poll_interval, quiet=quiet)
            _ended(job, "the ECS creation")
    finally:
        client.close()
    for server_id in answer["serverIds"]:
        output.print_id(server_id)
    state = "ACTIVE" if wait else "BUILD"
    output.note(
        f"[green]{len(answer['serverIds'])} ECS(s) {state}[/] from image {image_id} (job {job_id})", quiet=quiet
    )


def _disks_text(server: dict[str, Any], volumes: dict[str, dict[str, Any]]) -> str:
    attached = sorted(server.get("os-extended-volumes:volumes_attached") or [], key=lambda a: str(a.get("device")))
    parts = []
    for item in attached:
        volume = volumes.get(str(item["id"]), {})
        parts.append(f"{item.get('device')} {volume.get('size', '?')} GB {volume.get('volume_type', '')}".rstrip())
    return ", ".join(parts)


@ecs_app.command("list")
@connection_options(api=True)
def ecs_list(
    target: Target,
    name: Annotated[str | None, typer.Option("--name", help="Names that contain this.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="BUILD, ACTIVE, SHUTOFF, REBUILD, ERROR.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 1000,
    json_out: JsonOpt = False,
) -> None:
    """List the project's ECSs with their disks (ListServersDetails, and the EVS volumes)."""
    client = ApiClient(target, "ecs")
    try:
        answer = client.call(
            "GET",
            f"/v1/{client.project_id}/cloudservers/detail",
            query={"limit": limit, "name": name, "status": status},
        )
        if json_out:
            output.print_json(answer)
            return
        listed = client.call("GET", f"/v2/{client.project_id}/cloudvolumes/detail", query={"limit": 1000})
    finally:
        client.close()
    volumes = {str(v["id"]): v for v in listed.get("volumes", [])}
    table = Table(title=f"ECSs of project {client.project_id} in {target.region}", title_justify="left")
    for column in ("id", "name", "status", "image id", "flavor", "disks", "created"):
        table.add_column(column, header_style="bold", no_wrap=column.endswith("id"), overflow="fold")
    for server in answer.get("servers", []):
        table.add_row(
            *output.plain(
                server["id"],
                server["name"],
                server["status"],
                (server.get("image") or {}).get("id", ""),
                (server.get("flavor") or {}).get("id", ""),
                _disks_text(server, volumes),
                server.get("created") or "",
            )
        )
    output.stdout().print(table)


@ecs_app.command("show")
@connection_options(api=True)
def ecs_show(target: Target, server_id: Annotated[str, typer.Argument()]) -> None:
    """Show one ECS (ShowServer) and its disks (EVS ListVolumes of the ECS) as JSON: the server and its volumes."""
    client = ApiClient(target, "ecs")
    try:
        server = client.call("GET", f"/v1/{client.project_id}/cloudservers/{server_id}")["server"]
        volumes = client.call(
            "GET", f"/v2/{client.project_id}/cloudvolumes/detail", query={"server_id": server_id, "limit": 1000}
        )["volumes"]
    finally:
        client.close()
    output.print_json({"server": server, "volumes": sorted(volumes, key=_device_of)})


def _device_of(volume: dict[str, Any]) -> str:
    attachments = volume.get("attachments") or [{}]
    return str(attachments[0].get("device") or "")


def _power(target: Target, server_ids: list[str], key: str, option: dict[str, Any], what: str, wait: bool) -> None:
    client = ApiClient(target, "ecs")
    body = {key: {"servers": [{"id": s} for s in server_ids], **option}}
    try:
        job_id = client.call("POST", f"/v1/{client.project_id}/cloudservers/action", body=body)["job_id"]
        if wait:
            _ended(wait_for_job(client, job_id, timeout_s=60, poll_s=0.3), what)
    finally:
        client.close()
    output.note(f"{what}: {', '.join(server_ids)} (job {job_id})")


@ecs_app.command("start")
@connection_options(api=True)
def ecs_start(target: Target, server_ids: ServerIds, wait: WaitOpt = False) -> None:
    """Start ECSs (BatchStartServers): SHUTOFF to ACTIVE."""
    _power(target, server_ids, "os-start", {}, "start", wait)


@ecs_app.command("stop")
@connection_options(api=True)
def ecs_stop(
    target: Target,
    server_ids: ServerIds,
    hard: Annotated[bool, typer.Option("--hard", help="Power off at once instead of shutting down.")] = False,
    wait: WaitOpt = False,
) -> None:
    """Stop ECSs (BatchStopServers): ACTIVE to SHUTOFF."""
    _power(target, server_ids, "os-stop", {"type": "HARD" if hard else "SOFT"}, "stop", wait)


@ecs_app.command("reboot")
@connection_options(api=True)
def ecs_reboot(target: Target, server_ids: ServerIds, wait: WaitOpt = False) -> None:
    """Restart running ECSs (BatchRebootServers)."""
    _power(target, server_ids, "reboot", {"type": "SOFT"}, "reboot", wait)


@ecs_app.command("change-os")
@connection_options(api=True)
def ecs_change_os(
    target: Target,
    server_id: Annotated[str, typer.Argument()],
    image_id: Annotated[str, typer.Option("--image-id", help="The image whose system disk the ECS gets.")],
    stop_first: Annotated[
        bool, typer.Option("--stop-first", help="Stop a running ECS first (mode withStopServer).")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the job; say what it did.")] = False,
    timeout: TimeoutOpt = 120.0,
    poll_interval: PollOpt = 0.5,
) -> None:
    """Change an ECS's OS with an image (ChangeServerOsWithCloudInit): only the system disk is written; a full-ECS
    image's data disks are not restored. Prints the job id."""
    ims = ApiClient(target, "ims")
    try:
        image = ims.call("GET", f"/v2/images/{image_id}")
    finally:
        ims.close()
    data = [d for d in image_disks(image) if not d.get("bootable")]
    if data:
        sizes = ", ".join(f"{d.get('device')} {d.get('size_gb')} GB" for d in data)
        output.note(
            f"[yellow]warning:[/] image {image_id} has {len(data)} data disk(s) ({sizes}) that are not restored: "
            "changing the OS writes the system disk only and the ECS keeps its own data disks; create a new ECS "
            "from the image to get them"
        )
    option: dict[str, Any] = {"imageid": image_id}
    if stop_first:
        option["mode"] = STOP_FIRST
    client = ApiClient(target, "ecs")
    try:
        path = f"/v2/{client.project_id}/cloudservers/{server_id}/changeos"
        job_id = client.call("POST", path, body={"os-change": option})["job_id"]
        output.print_id(job_id)
        if wait:
            job = wait_for_job(client, job_id, timeout_s=timeout, poll_s=poll_interval)
            _ended(job, "the OS change")
            output.note(str(job.get("message") or "the OS was changed"))
    finally:
        client.close()


@ecs_app.command("delete")
@connection_options(api=True)
def ecs_delete(
    target: Target,
    server_ids: ServerIds,
    delete_volumes: Annotated[
        bool, typer.Option("--delete-volumes", help="Delete the ECSs' disks too (else they stay, detached).")
    ] = False,
    wait: WaitOpt = False,
) -> None:
    """Delete ECSs (DeleteServers), and their disks with --delete-volumes."""
    client = ApiClient(target, "ecs")
    body = {"servers": [{"id": s} for s in server_ids], "delete_volume": delete_volumes, "delete_publicip": False}
    try:
        job_id = client.call("POST", f"/v1/{client.project_id}/cloudservers/delete", body=body)["job_id"]
        if wait:
            _ended(wait_for_job(client, job_id, timeout_s=60, poll_s=0.3), "the deletion")
    finally:
        client.close()
    disks = "with their disks" if delete_volumes else "their disks stay"
    output.note(f"deleted {', '.join(server_ids)}; {disks} (job {job_id})")
