"""``imsctl trail ID``: everything the system did with one image or backup, across every topic and service.

Every ``ims.*`` topic (dead-letter topics included) is read from the beginning. An event belongs to the trail when
its subject, key or data mentions one of the trail's ids, or when its correlationid is that of an event already
in the trail (or is such an event's id). Unless ``--direct`` is given, the image, backup and job ids named by the
trail's events join the trail's ids, until nothing new is found: the trail of an image then also shows the
BackupCreated of its backup, and a replication shows its replica in the other region.
"""

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ims_shared.events import derived_id
from imsctl import kafka_io, output
from imsctl.follow import style_of
from imsctl.records import Record, region_of_source, service_of
from imsctl.target import Target, connection_options

# Data fields whose values are ids of the same story: image_id, source_image_id, replica_backup_id, job_id...
RELATED_FIELD = re.compile(r"(^|_)(image_id|backup_id|job_id)$")
SUMMARY_FIELDS = (
    "name",
    "status",
    "state",
    "reason",
    "error_code",
    "fail_reason",
    "delete_backup",
    "image_id",
    "backup_id",
    "job_id",
    "replica_image_id",
    "destination_region",
    "member_project_id",
    "balance",
    "stage",
)
MAX_ROUNDS = 20
UUID = re.compile(r"\b([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def strings_of(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_of(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_of(item)


def related_ids(data: Any) -> set[str]:
    """The image, backup and job ids an event's data names (at any depth)."""
    found: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(value, str) and value and RELATED_FIELD.search(key):
                found.add(value)
            elif isinstance(value, dict | list):
                found |= related_ids(value)
    elif isinstance(data, list):
        for item in data:
            found |= related_ids(item)
    return found


@dataclass
class Trail:
    records: list[Record]
    ids: set[str] = field(default_factory=set)


def _text(record: Record) -> str:
    """Where an id may be mentioned: the subject, the key and every string of the data, joined."""
    event = record.event
    if event is None:
        parts = [record.key or "", "" if record.value is None else record.value.decode("utf-8", "replace")]
    else:
        parts = [str(event.get("subject") or ""), record.key or "", *strings_of(event.get("data"))]
        parts += implied_ids(event)
    return "\x00".join(parts)


def implied_ids(event: dict[str, Any]) -> list[str]:
    """Ids an event stands for without naming them: an ImageRequested without ``image_id`` or ``job_id`` gets
    them derived from its event id by image-service."""
    data = event.get("data")
    if event.get("type") != "ImageRequested" or not isinstance(data, dict) or not event.get("id"):
        return []
    return [derived_id(str(event["id"]), purpose) for purpose in ("image", "job") if not data.get(f"{purpose}_id")]


def find_trail(records: list[Record], needle: str, *, related: bool = True) -> Trail:
    """The records of ``needle``'s trail, in time order (see the module's description)."""
    ids: set[str] = set()
    correlations: set[str] = set()
    texts = [_text(r) for r in records]
    events = [r.event or {} for r in records]
    matched: set[int] = set()
    # Each round looks for the ids and correlations found in the round before: what did not mention the older
    # ones then does not now.
    new_ids, new_correlations = {needle}, set[str]()
    for _ in range(MAX_ROUNDS):
        if not new_ids and not new_correlations:
            break
        ids |= new_ids
        correlations |= new_correlations
        looking_for, correlated_to = new_ids, new_correlations
        new_ids, new_correlations = set(), set()
        for index, text in enumerate(texts):
            if index in matched:
                continue
            event = events[index]
            if not (any(i in text for i in looking_for) or (event.get("correlationid") or None) in correlated_to):
                continue
            matched.add(index)
            for attribute in ("id", "correlationid"):
                value = event.get(attribute)
                if value and value not in correlations:
                    new_correlations.add(str(value))
            if related:
                new_ids |= related_ids(event.get("data")) - ids
    found = sorted((records[i] for i in matched), key=lambda r: (r.time, r.timestamp_ms, r.topic, r.offset))
    return Trail(found, ids)


def summary(record: Record, *, short_ids: bool = True) -> str:
    """The telling fields of an event's data, short (ids other than the subject cut to their first 8 digits)."""
    event = record.event
    if event is None:
        return "(not a CloudEvent)"
    data = event.get("data") or {}
    subject = event.get("subject")
    parts = []
    for name in SUMMARY_FIELDS:
        value = data.get(name) if isinstance(data, dict) else None
        if value in (None, "", []) or value == subject:
            continue
        parts.append(f"{name}={value}")
    if record.dead_letter_reason is not None:
        parts.insert(0, f"DEAD-LETTERED: {record.dead_letter_reason}")
    text = " ".join(parts)
    if short_ids:
        text = UUID.sub(lambda m: m.group(1) + "…", text)
    return text if len(text) <= 160 else text[:157] + "..."


def who(record: Record) -> str:
    event = record.event or {}
    service = service_of(event.get("source"))
    region = region_of_source(event.get("source"))
    return f"{service} ({region})" if region and region != service else service


class GroupBy(StrEnum):
    NONE = "none"
    TOPIC = "topic"
    SERVICE = "service"


def group_key(record: Record, by: GroupBy) -> str:
    if by is GroupBy.TOPIC:
        return record.topic
    if by is GroupBy.SERVICE:
        return who(record)
    return ""


def tables(trail: Trail, by: GroupBy, title: str) -> list[Table]:
    """One table in time order, or one per topic or producing service (each in time order)."""
    groups: dict[str, list[Record]] = {}
    for record in trail.records:
        groups.setdefault(group_key(record, by), []).append(record)
    result = []
    for name, records in groups.items():
        heading = title if by is GroupBy.NONE else f"{name}: {len(records)} event(s)"
        table = Table(title=heading, title_justify="left", header_style="bold")
        table.add_column("time", no_wrap=True, style="dim")
        if by is not GroupBy.SERVICE:
            table.add_column("service", no_wrap=True)
        if by is not GroupBy.TOPIC:
            table.add_column("topic", no_wrap=True)
        table.add_column("type", no_wrap=True)
        table.add_column("subject", no_wrap=True)
        table.add_column("details", overflow="fold")
        for record in records:
            event = record.event or {}
            style = style_of(service_of(event.get("source")))
            row = [Text(record.time.strftime("%H:%M:%S.%f")[:-3])]
            if by is not GroupBy.SERVICE:
                row.append(Text(who(record), style=style))
            if by is not GroupBy.TOPIC:
                row.append(Text(record.topic, style="red" if record.dead_lettered else ""))
            row += [
                Text(str(event.get("type", "?")), style=f"bold {style}"),
                Text(str(event.get("subject") or record.key or "")),
                Text(summary(record)),
            ]
            table.add_row(*row)
        result.append(table)
    return result


def read_everything(bootstrap: str, timeout_s: float) -> tuple[list[Record], list[str]]:
    """Every record of every ``ims.*`` topic, with a progress bar while reading."""
    topics = asyncio.run(kafka_io.list_topics(bootstrap))
    columns = (
        TextColumn("reading {task.fields[topics]} topics"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("records"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=output.stderr(), transient=True) as progress:
        task = progress.add_task("read", total=None, topics=len(topics))

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        records = asyncio.run(kafka_io.read_all(bootstrap, topics, progress=advance, timeout_s=timeout_s))
    return records, topics


@connection_options(kafka=True, tenant=False)
def trail_command(
    target: Target,
    id: Annotated[str, typer.Argument(help="An image, backup, job or event id (a prefix will do).")],
    group_by: Annotated[
        GroupBy, typer.Option("--group-by", "-g", help="One table in time order, or one per topic or service.")
    ] = GroupBy.NONE,
    direct: Annotated[
        bool, typer.Option("--direct", help="Only events naming ID (or correlated); not its related ids.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per event (for scripts).")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to read the topics at most.")] = 120.0,
) -> None:
    """The trail of one image or backup across all services: every event about it, in time order."""
    try:
        records, topics = read_everything(target.bootstrap, timeout)
    except kafka_io.KafkaUnavailable as exc:
        raise output.abort(str(exc)) from exc
    trail = find_trail(records, id, related=not direct)
    if json_out:
        for record in trail.records:
            output.print_json(record.to_json(), pretty=False)
    else:
        console = output.stdout()
        title = f"trail of {id}"
        for table in tables(trail, group_by, title):
            console.print(table)
        services = sorted({who(r) for r in trail.records})
        output.note(
            f"{len(trail.records)} event(s) from {len(services)} producer(s) "
            f"[dim](read {len(records)} records of {len(topics)} topics)[/]"
        )
    if not trail.records:
        output.note(f"[yellow]no event mentions {id}[/]")
        raise typer.Exit(1)
