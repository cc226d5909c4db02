"""``imsctl produce``: any event of the contract, validated against its pydantic model, with sensible defaults.

``imsctl produce backup-created --disks 2`` makes the BackupCreated of a two-disk ECS and prints its backup id;
``imsctl produce EVENT_TYPE --data '{...}'`` produces any other type (``image-deleted`` or ``ImageDeleted``) from
its ``data`` as JSON. Every command prints the event's aggregate id on standard output (for ImageRequested the
id the image will get), and where the event went on standard error; with ``-q`` the id alone, and nothing on
standard error: ``B=$(imsctl produce backup-created -q)``.
"""

import asyncio
import json
import re
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from ims_shared.event_auth import EventSigner
from ims_shared.events import EVENT_TYPES, CloudEvent, EventData, derived_id, make_event
from ims_shared.events.backups import ECS_RESOURCE_TYPE
from ims_shared.tenants import load_tenants
from ims_shared.topics import topic_for
from imsctl import kafka_io, output
from imsctl.target import Option, Target, TargetError, connection_options, inject

DEFAULT_SOURCE = "/imsctl"


def command_name(event_type: str) -> str:
    """``BackupCreated`` -> ``backup-created``; a name already in kebab case stays as it is."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", event_type).lower()


def event_type_of(name: str) -> str | None:
    """The contract's event type for a command name or an event type name (any case)."""
    wanted = command_name(name).replace("_", "-")
    return next((t for t in EVENT_TYPES if command_name(t) == wanted), None)


class EventTypeGroup(TyperGroup):
    """Accepts an event type by its name as well as by its command name (``BackupCreated``, ``backup-created``)."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is not None:
            return found
        event_type = event_type_of(cmd_name)
        return super().get_command(ctx, command_name(event_type)) if event_type else None


app = typer.Typer(
    cls=EventTypeGroup,
    help="Produce an event of the contract (validated; the Kafka key is its aggregate id).",
    no_args_is_help=True,
)


# -- building events -------------------------------------------------------------------------------------------------
class InvalidEvent(ValueError):
    """The data is not a valid event of its type; the message says which fields and why."""


def parse_data(text: str | None) -> dict[str, Any]:
    """``--data``: a JSON object, ``@FILE`` for one in a file, or ``-`` for one on standard input."""
    if not text:
        return {}
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        text = Path(text[1:]).read_text()
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise InvalidEvent(f"--data is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidEvent("--data must be a JSON object (the event's data)")
    return document


def validate(event_type: str, data: dict[str, Any]) -> EventData:
    model = EVENT_TYPES[event_type]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<data>'}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidEvent(f"invalid {event_type}: {problems}") from exc


@dataclass(frozen=True)
class Envelope:
    """The envelope options of ``imsctl produce``."""

    data: str | None = None
    event_id: str | None = None
    correlation_id: str | None = None
    source: str = DEFAULT_SOURCE
    dry_run: bool = False
    json_out: bool = False
    integration: str | None = None
    quiet: bool = False


def build(event_type: str, defaults: dict[str, Any], envelope: Envelope, target: Target) -> tuple[CloudEvent, str]:
    """The CloudEvent (``defaults`` overlaid with ``--data``, validated) and its topic."""
    data = validate(event_type, {**defaults, **parse_data(envelope.data)})
    event = make_event(
        data,
        source=envelope.source,
        region=target.region,
        project_id=target.project_id,
        event_id=envelope.event_id,
        correlation_id=envelope.correlation_id,
    )
    return event, topic_for(data.topic_kind, target.region)


def printed_id(event: CloudEvent) -> str:
    """What a produce command prints: the aggregate id; for ImageRequested, the id the image will get."""
    if event.type == "ImageRequested":
        return str(event.data.get("image_id") or derived_id(event.id, "image"))
    return event.subject or ""


def signer_of(event_type: str, envelope: Envelope, target: Target) -> EventSigner:
    """Who the record is signed as: the operator integration ``--integration`` names, else the tenant (who may produce
    only the types a tenant's own systems produce; the consumers refuse the others, so refuse them here first)."""
    credentials = load_tenants(target.tenants_file)
    if envelope.integration is not None:
        system = next((i for i in credentials.integrations if envelope.integration in (i.name, i.access_key)), None)
        if system is None:
            names = ", ".join(i.name for i in credentials.integrations) or "none"
            raise InvalidEvent(f"unknown integration {envelope.integration!r}; the integrations are: {names}")
        if event_type not in system.produces:
            raise InvalidEvent(f"integration {system.name} may not produce {event_type} ({', '.join(system.produces)})")
        return EventSigner(system.access_key, system.secret_key)
    if not EVENT_TYPES[event_type].producers.tenants:
        allowed = [i.name for i in credentials.integrations if event_type in i.produces]
        hint = f"; produce it as an integration: --integration {allowed[0]}" if allowed else ""
        raise InvalidEvent(f"a tenant may not produce {event_type}{hint}")
    return EventSigner(target.tenant.access_key, target.tenant.secret_key)


def emit(event_type: str, defaults: dict[str, Any], envelope: Envelope, target: Target) -> None:
    try:
        event, topic = build(event_type, defaults, envelope, target)
    except (InvalidEvent, TargetError, OSError) as exc:
        raise output.abort(str(exc), code=2) from exc
    value = event.model_dump_json(exclude_none=True)
    if envelope.dry_run:
        output.print_json(json.loads(value))
        output.note(f"[dim]not sent (dry run); topic {topic}, key {event.subject}[/]")
        return
    try:
        signer = signer_of(event_type, envelope, target)
    except (InvalidEvent, TargetError, OSError) as exc:
        raise output.abort(str(exc), code=2) from exc
    try:
        record = value.encode()
        signed = signer.header(record)
        partition, offset = asyncio.run(kafka_io.send(target.bootstrap, topic, event.subject or "", record, [signed]))
    except kafka_io.KafkaUnavailable as exc:
        raise output.abort(str(exc)) from exc
    if envelope.json_out and not envelope.quiet:
        output.print_json(json.loads(value))
    else:
        output.print_id(printed_id(event))
    output.note(
        f"[green]{event.type}[/] {event.subject} -> {topic} [dim](partition {partition}, offset {offset}, "
        f"event id {event.id})[/]",
        quiet=envelope.quiet,
    )


PANEL = "Event"
_ENVELOPE_OPTIONS: list[Option] = [
    (
        "data",
        Annotated[
            str | None,
            typer.Option(
                "--data",
                "-d",
                help="The event's data as a JSON object (@FILE reads a file, - standard input); overrides defaults.",
                rich_help_panel=PANEL,
            ),
        ],
        None,
    ),
    (
        "event_id",
        Annotated[str | None, typer.Option("--event-id", help="CloudEvent id (default: new).", rich_help_panel=PANEL)],
        None,
    ),
    (
        "correlation_id",
        Annotated[
            str | None,
            typer.Option("--correlation-id", help="correlationid (default: the event id).", rich_help_panel=PANEL),
        ],
        None,
    ),
    (
        "source",
        Annotated[str, typer.Option("--source", help="CloudEvent source.", rich_help_panel=PANEL)],
        DEFAULT_SOURCE,
    ),
    (
        "dry_run",
        Annotated[
            bool, typer.Option("--dry-run", help="Print the event instead of sending it.", rich_help_panel=PANEL)
        ],
        False,
    ),
    (
        "json_out",
        Annotated[
            bool,
            typer.Option("--json", help="Print the whole event instead of its aggregate id.", rich_help_panel=PANEL),
        ],
        False,
    ),
    (
        "integration",
        Annotated[
            str | None,
            typer.Option(
                "--integration",
                help="Sign as this operator integration of the credentials file (e.g. devops: BackupCreated, "
                "BackupDeleted, BackupArrears for any project) instead of as the tenant.",
                rich_help_panel=PANEL,
            ),
        ],
        None,
    ),
    (
        "quiet",
        Annotated[
            bool,
            typer.Option(
                "--quiet",
                "-q",
                help="Print the aggregate id alone (the new backup's, server's or image's): no note on standard "
                "error; wins over --json.",
                rich_help_panel=PANEL,
            ),
        ],
        False,
    ),
]


def envelope_options() -> Any:
    return inject("envelope", Envelope, _ENVELOPE_OPTIONS)


def _new_id() -> str:
    return str(uuid.uuid4())


# -- events with defaults ------------------------------------------------------------------------------------------
def disks_of(count: int, system_gb: int, data_gb: int, volume_type: str) -> list[dict[str, Any]]:
    """A system disk (/dev/vda, bootable) and ``count - 1`` data disks (/dev/vdb, /dev/vdc, ...)."""
    if count < 1:
        raise InvalidEvent("--disks must be at least 1 (the system disk)")
    disks = [{"volume_id": _new_id(), "device": "/dev/vda", "size_gb": system_gb, "bootable": True}]
    disks += [
        {"volume_id": _new_id(), "device": f"/dev/vd{chr(ord('b') + i)}", "size_gb": data_gb, "bootable": False}
        for i in range(count - 1)
    ]
    for disk in disks:
        disk["volume_type"] = volume_type
    return disks


def backup_created_defaults(
    *,
    backup_id: str | None = None,
    server_id: str | None = None,
    disks: int = 2,
    system_disk_gb: int = 40,
    data_disk_gb: int = 20,
    volume_type: str = "SSD",
    name: str = "imsctl-backup",
    vault_id: str | None = None,
    server_name: str = "ecs-demo",
    os_type: str | None = "Linux",
    os_version: str = "Ubuntu 22.04 server 64bit",
    configured: bool = True,
    state: str = "ACTIVE",
    status: str = "available",
    shared_from: str | None = None,
    incremental: bool = False,
) -> dict[str, Any]:
    disk_list = disks_of(disks, system_disk_gb, data_disk_gb, volume_type)
    return {
        "backup_id": backup_id or _new_id(),
        "vault_id": vault_id or "vault-" + uuid.uuid4().hex[:12],
        "name": name,
        "resource_id": server_id or _new_id(),
        "resource_name": server_name,
        "resource_type": ECS_RESOURCE_TYPE,
        "status": status,
        "created_at": datetime.now(UTC).isoformat(),
        "incremental": incremental,
        "size_gb": sum(d["size_gb"] for d in disk_list),
        "shared_from_project_id": shared_from,
        "server": {"os_type": os_type, "os_version": os_version, "configured": configured, "state": state},
        "disks": disk_list,
    }


class ServerState(StrEnum):
    ACTIVE = "ACTIVE"
    SHUTOFF = "SHUTOFF"


State = Annotated[ServerState, typer.Option("--state", help="State of the ECS.")]


@app.command("backup-created")
@connection_options(kafka=True)
@envelope_options()
def backup_created(
    target: Target,
    envelope: Envelope,
    disks: Annotated[
        int, typer.Option("--disks", min=1, max=24, help="Disks of the ECS (the first is the system disk).")
    ] = 2,
    backup_id: Annotated[str | None, typer.Option("--backup-id", help="Default: a new id.")] = None,
    server_id: Annotated[
        str | None, typer.Option("--server-id", help="The ECS (resource_id). Default: a new id.")
    ] = None,
    vault_id: Annotated[str | None, typer.Option("--vault-id", help="Default: a new vault id.")] = None,
    name: Annotated[str, typer.Option("--name", help="Backup name.")] = "imsctl-backup",
    system_disk_gb: Annotated[int, typer.Option("--system-disk-gb", min=1)] = 40,
    data_disk_gb: Annotated[int, typer.Option("--data-disk-gb", min=1)] = 20,
    os_type: Annotated[str, typer.Option("--os-type", help="Linux or Windows; empty for none.")] = "Linux",
    os_version: Annotated[str, typer.Option("--os-version")] = "Ubuntu 22.04 server 64bit",
    configured: Annotated[
        bool, typer.Option("--configured/--not-configured", help="Whether the ECS was configured for imaging.")
    ] = True,
    state: State = ServerState.ACTIVE,
    status: Annotated[
        str, typer.Option("--status", help="Backup status (available, protecting, error...).")
    ] = "available",
    shared_from: Annotated[
        str | None, typer.Option("--shared-from", help="Project that shared this backup (shared_from_project_id).")
    ] = None,
) -> None:
    """A CBR backup of an ECS exists (an outside backup system's BackupCreated). Prints the backup id."""
    try:
        defaults = backup_created_defaults(
            backup_id=backup_id,
            server_id=server_id,
            disks=disks,
            system_disk_gb=system_disk_gb,
            data_disk_gb=data_disk_gb,
            name=name,
            vault_id=vault_id,
            os_type=os_type or None,
            os_version=os_version,
            configured=configured,
            state=state.value,
            status=status,
            shared_from=shared_from,
        )
    except InvalidEvent as exc:
        raise output.abort(str(exc), code=2) from exc
    emit("BackupCreated", defaults, envelope, target)


@app.command("server-registered")
@connection_options(kafka=True)
@envelope_options()
def server_registered(
    target: Target,
    envelope: Envelope,
    disks: Annotated[int, typer.Option("--disks", min=1, max=24)] = 2,
    server_id: Annotated[str | None, typer.Option("--server-id", help="Default: a new id.")] = None,
    name: Annotated[str, typer.Option("--name")] = "ecs-demo",
    os_type: Annotated[str, typer.Option("--os-type")] = "Linux",
    os_version: Annotated[str, typer.Option("--os-version")] = "Ubuntu 22.04 server 64bit",
    configured: Annotated[bool, typer.Option("--configured/--not-configured")] = True,
    state: State = ServerState.ACTIVE,
) -> None:
    """The compute inventory knows an ECS (what a CBR checkpoint of it needs). Prints the server id."""
    defaults = {
        "server_id": server_id or _new_id(),
        "name": name,
        "os_type": os_type or None,
        "os_version": os_version,
        "configured": configured,
        "state": state.value,
        "disks": disks_of(disks, 40, 20, "SSD"),
    }
    emit("ServerRegistered", defaults, envelope, target)


@app.command("server-state-changed")
@connection_options(kafka=True)
@envelope_options()
def server_state_changed(
    target: Target,
    envelope: Envelope,
    server_id: Annotated[str, typer.Argument(help="The ECS.")],
    state: State = ServerState.ACTIVE,
) -> None:
    """An ECS was started (ACTIVE) or stopped (SHUTOFF)."""
    emit("ServerStateChanged", {"server_id": server_id, "state": state.value}, envelope, target)


@app.command("image-requested")
@connection_options(kafka=True)
@envelope_options()
def image_requested(
    target: Target,
    envelope: Envelope,
    backup_id: Annotated[str, typer.Option("--backup-id", help="The CBR backup to make the image from.")],
    name: Annotated[str | None, typer.Option("--name", help="Image name (default: image-<backup id prefix>).")] = None,
    image_id: Annotated[
        str | None, typer.Option("--image-id", help="Default: derived from the event id by image-service.")
    ] = None,
) -> None:
    """Ask for a full-ECS image from a backup, as an event. Prints the image id it will get."""
    defaults: dict[str, Any] = {"backup_id": backup_id, "name": name or f"image-{backup_id[:8]}"}
    if image_id:
        defaults["image_id"] = image_id
    emit("ImageRequested", defaults, envelope, target)


@app.command("backup-arrears")
@connection_options(kafka=True)
@envelope_options()
def backup_arrears(
    target: Target,
    envelope: Envelope,
    backup_id: Annotated[str, typer.Argument(help="The backup to release.")],
    account_id: Annotated[str | None, typer.Option("--account-id", help="Default: the tenant's account.")] = None,
) -> None:
    """An (outside) billing system released a backup for arrears: it and its image are deleted."""
    try:
        account = account_id or target.tenant.account_id
    except TargetError as exc:
        raise output.abort(str(exc), code=2) from exc
    emit("BackupArrears", {"backup_id": backup_id, "account_id": account}, envelope, target)


@app.command("vault-lock-changed")
@connection_options(kafka=True)
@envelope_options()
def vault_lock_changed(
    target: Target,
    envelope: Envelope,
    vault_id: Annotated[str, typer.Argument(help="The CBR vault.")],
    locked: Annotated[bool, typer.Option("--locked/--unlocked")] = True,
) -> None:
    """A CBR vault was locked (its backups cannot be deleted) or unlocked."""
    emit("VaultLockChanged", {"vault_id": vault_id, "locked": locked}, envelope, target)


def summary_of(event_type: str) -> str:
    """The first sentence of the event model's docstring (or the type's name)."""
    doc = EVENT_TYPES[event_type].__doc__
    if not doc:
        return event_type
    text = " ".join(doc.split()).replace("``", "")
    sentence, _, _ = text.partition(". ")
    return sentence.rstrip(".")


def _generic(event_type: str) -> None:
    model = EVENT_TYPES[event_type]
    summary = summary_of(event_type)

    @connection_options(kafka=True)
    @envelope_options()
    def produce_generic(target: Target, envelope: Envelope) -> None:
        if not envelope.data:
            required = [name for name, f in model.model_fields.items() if f.is_required()]
            raise output.abort(f"{event_type} needs --data with at least: {', '.join(required)}", code=2)
        emit(event_type, {}, envelope, target)

    produce_generic.__doc__ = f"{summary} (give its data with --data)."
    app.command(command_name(event_type))(produce_generic)


_WITH_DEFAULTS = {
    "BackupCreated",
    "ServerRegistered",
    "ServerStateChanged",
    "ImageRequested",
    "BackupArrears",
    "VaultLockChanged",
}
for _event_type in sorted(EVENT_TYPES):
    if _event_type not in _WITH_DEFAULTS:
        _generic(_event_type)
