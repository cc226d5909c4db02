"""``imsctl follow TOPIC...``: print the CloudEvents of topics as they arrive (or from the beginning)."""

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Group, RenderableType
from rich.highlighter import JSONHighlighter
from rich.text import Text

from ims_shared.topics import BILLING_TOPIC, TopicKind, topic_for
from imsctl import kafka_io, output
from imsctl.records import Record, service_of
from imsctl.target import Target, connection_options

SERVICE_STYLES = {
    "image-service": "cyan",
    "backup-service": "magenta",
    "billing-service": "yellow",
    "replication-service": "blue",
}


def style_of(service: str) -> str:
    return SERVICE_STYLES.get(service, "white")


def resolve_topics(names: list[str], region: str) -> list[str]:
    """Topic names, where ``backups``, ``images``, ``replication`` and ``billing`` stand for the region's topic
    of that family (a ``.dlt`` suffix is kept: ``images.dlt`` is the dead-letter topic of the region's images)."""
    topics = []
    for name in names:
        base, dlt, _ = name.partition(".dlt")
        if base in {kind.value for kind in TopicKind}:
            topics.append(topic_for(TopicKind(base), region) + (".dlt" if dlt else ""))
        else:
            topics.append(name)
    return topics


def headline(record: Record) -> Text:
    """One line: when, where (topic, partition, offset), what (type) and which aggregate (subject)."""
    event = record.event or {}
    text = Text()
    text.append(record.time.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], style="dim")
    text.append("  ")
    text.append(record.topic, style="bold red" if record.dead_lettered else "bold")
    text.append(f" p{record.partition}@{record.offset}", style="dim")
    text.append("  ")
    if record.event is None:
        text.append("(not a CloudEvent)", style="red")
        return text
    service = service_of(event.get("source"))
    text.append(str(event.get("type")), style=f"bold {style_of(service)}")
    text.append("  ")
    text.append(str(event.get("subject") or record.key or ""))
    return text


def details(record: Record) -> Text:
    """The second line: the producing service, region, project, event id and correlation id."""
    event = record.event or {}
    text = Text(style="dim")
    service = service_of(event.get("source"))
    text.append(f"{service} ({event.get('source')})", style=style_of(service))
    text.append(f"  region={event.get('region')}  project={event.get('projectid') or '-'}")
    text.append(f"  id={event.get('id')}")
    if event.get("correlationid") and event.get("correlationid") != event.get("id"):
        text.append(f"  correlation={event.get('correlationid')}")
    return text


def _indented(text: Text, by: int = 2) -> Text:
    lines = text.split("\n")
    result = Text()
    for number, line in enumerate(lines):
        if number:
            result.append("\n")
        result.append(" " * by)
        result.append_text(line)
    return result


def render(record: Record, *, with_data: bool = True) -> RenderableType:
    parts: list[RenderableType] = [headline(record)]
    if record.dead_letter_reason is not None:
        parts.append(_indented(Text(f"dead-lettered: {record.dead_letter_reason}", style="red")))
    event = record.event
    if event is None:
        raw = "" if record.value is None else record.value.decode("utf-8", "replace")
        parts.append(_indented(Text(raw[:2000])))
        return Group(*parts)
    parts.append(_indented(details(record)))
    if with_data:
        data = JSONHighlighter()(Text(json.dumps(event.get("data"), indent=2, default=str)))
        parts.append(_indented(data))
    return Group(*parts)


def matches(record: Record, types: list[str] | None, grep: str | None) -> bool:
    event = record.event or {}
    if types and event.get("type") not in types:
        return False
    return not grep or (record.value is not None and grep.encode() in record.value)


@connection_options(kafka=True, tenant=False)
def follow_command(
    target: Target,
    topics: Annotated[
        list[str] | None,
        typer.Argument(
            help="Topics (e.g. ims.cn-north-4.images; 'images', 'backups', 'replication', 'billing' mean the "
            "region's). Default: every ims.* topic."
        ),
    ] = None,
    from_beginning: Annotated[bool, typer.Option("--from-beginning", help="Start at the oldest record.")] = False,
    event_type: Annotated[
        list[str] | None, typer.Option("--type", help="Only events of this type (repeatable).")
    ] = None,
    grep: Annotated[str | None, typer.Option("--grep", help="Only records whose value contains this text.")] = None,
    count: Annotated[int | None, typer.Option("--count", "-n", help="Stop after this many events.")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Stop after this many seconds.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per record (for scripts).")] = False,
    brief: Annotated[bool, typer.Option("--brief", help="One line per event, without its data.")] = False,
) -> None:
    """Follow topics and pretty-print their CloudEvents (Ctrl-C stops)."""
    names = resolve_topics(topics or [], target.region)
    try:
        if not names:
            names = [t for t in asyncio.run(kafka_io.list_topics(target.bootstrap)) if not t.endswith(".dlt")]
    except kafka_io.KafkaUnavailable as exc:
        raise output.abort(str(exc)) from exc
    if not names:
        names = [BILLING_TOPIC]
    output.note(
        f"[dim]following {', '.join(names)} on {target.bootstrap}"
        + (" from the beginning" if from_beginning else "")
        + " (Ctrl-C stops)[/]"
    )
    console = output.stdout()
    seen = 0

    async def show(record: Record) -> bool:
        nonlocal seen
        if not matches(record, event_type, grep):
            return True
        seen += 1
        if json_out:
            typer.echo(json.dumps(record.to_json(), default=str))
        elif brief:
            console.print(headline(record))
        else:
            console.print(render(record))
            console.print()
        return count is None or seen < count

    try:
        asyncio.run(kafka_io.follow(target.bootstrap, names, show, from_beginning=from_beginning, timeout_s=timeout))
    except kafka_io.KafkaUnavailable as exc:
        raise output.abort(str(exc)) from exc
    except KeyboardInterrupt:
        pass
