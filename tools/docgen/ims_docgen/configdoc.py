"""docs/configuration.md, generated from the pydantic-settings classes of every service (and imsctl's options).

``python -m ims_docgen.configdoc > docs/configuration.md``; a unit test fails when the committed file is stale.

Every ``BaseSettings`` subclass defined in a module of a service package is found by importing the package's
modules. A setting's description is its ``Field(description=...)``, else the comment above it (or after it) in
the class, else the description kept here for the settings that have neither.
"""

import importlib
import inspect
import pkgutil
import re
import textwrap
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from ims_shared.settings import ServiceSettings

SERVICES: list[tuple[str, str]] = [
    ("image-service", "image_service"),
    ("backup-service", "backup_service"),
    ("billing-service", "billing_service"),
    ("replication-service", "replication_service"),
]
# Modules that are not the service (entry points, test helpers) are not imported.
SKIPPED_MODULES = ("__main__", "testing", "tests", "conftest")

# For settings whose class says nothing about them.
DESCRIPTIONS: dict[str, str] = {
    "service_name": "Name in logs and metrics, in the CloudEvent `source` (`/<region>/<service_name>`) and in the "
    "Kafka consumer group (`<service_name>.<region>`).",
    "region": "The region this process serves. Regional services handle only events of this region; billing "
    "(global) puts it on the events it emits.",
    "deployed_regions": "The deployed regions, comma-separated: the topics that are created, and the regions whose "
    "topics billing-service and replication-service read.",
    "kafka_bootstrap_servers": "Kafka bootstrap servers, comma-separated.",
    "kafka_session_timeout_ms": "Consumer-group session timeout: a process silent this long loses its partitions.",
    "kafka_heartbeat_interval_ms": "Consumer-group heartbeat interval.",
    "kafka_max_batch": "Most records handled in one batch (one PostgreSQL transaction).",
    "kafka_request_timeout_ms": "Timeout of a Kafka request (producer and consumer).",
    "database_url": "The service's own PostgreSQL database; it is created if missing and migrated at start-up.",
    "database_pool_size": "Connections in the service's pool.",
    "http_host": "Address the HTTP API, `/health`, `/ready`, `/metrics` and `/docs` listen on.",
    "http_port": "Port of the HTTP API.",
    "relay_poll_interval_s": "How often the outbox relay looks for committed events to publish.",
    "outbox_retention_s": "How long a published event stays in the outbox, where it can be published again by hand.",
    "outbox_prune_interval_s": "How often the outbox is pruned of events published longer ago than the retention.",
    "relay_batch_size": "Most outbox rows the relay publishes in one pass.",
    "handler_retry_limit_s": "How long a batch that fails transiently (database gone, deadlock) is retried before "
    "its partition is rewound and the batch delivered again.",
    "tenants_file": "JSON catalog of tenants (AK/SK, projects per region, enterprise projects, tag policies); the "
    "packaged development tenants when unset.",
    "log_format": "`auto` (console on a terminal, else JSON lines), `console` or `json`.",
    "log_level": "Lowest level logged (`DEBUG`, `INFO`, `WARNING`, ...).",
    "tracing_exporter": "Where OpenTelemetry spans go: `none`, `console` or `otlp` (the standard "
    "`OTEL_EXPORTER_OTLP_*` variables then apply).",
    "lag_interval_s": "How often the consumer lag of the service's partitions is measured (a metric).",
    "currency": "Currency of balances and prices.",
    "grace_period_s": "How long an account in arrears stays in grace (everything works) before it is frozen.",
    "retention_period_s": "How long a frozen account's resources are kept before they are released (BackupArrears).",
    "replication_routes": "Allowed `source:destination` pairs of cross-region replication, comma-separated; both "
    "ends must also be deployed regions. Give image-service and replication-service the same value.",
    "replication_timeout_s": "How long the source region waits for the destination's answer to a replication.",
    "backup_wait_s": "How long a creation job waits for the BackupCreated of a backup it does not know yet before it "
    "fails with IMG.0020.",
    "image_build_s": "How long an image stays `saving` before it becomes `active` (the simulated copy of the "
    "backup's data); 0 makes it active at once.",
    "builder_interval_s": "How often the image builder looks for images whose data is saved.",
    "server_backup_wait_s": "How long a job that creates from an ECS waits for the CBR backup of the ECS.",
    "checkpoint_s": "How long a CBR checkpoint (backup of an ECS) stays `protecting` before it is `available`.",
    "checkpoint_interval_s": "How often finished checkpoints are looked for.",
    "delete_max_attempts": "Attempts to delete a backup in a locked vault before it is `error_deleting` "
    "(with a BackupDeletionFailed event).",
    "delete_backoff_s": "Delay before the second attempt to delete a backup; it doubles with every attempt.",
    "delete_backoff_cap_s": "Longest delay between two attempts to delete a backup.",
    "deleter_interval_s": "How often deletions whose delay has passed are retried.",
    "replication_max_image_gb": "Largest image that may be replicated to another region.",
    "replication_max_in_flight": "Replications of one project that may be under way at a time.",
    "replication_sweep_interval_s": "How often replications past their deadline are failed.",
}


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    type: str
    default: str
    description: str


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return re.sub(r"\b(typing|decimal|datetime|pathlib)\.", "", str(annotation)).replace("NoneType", "None")


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "(required)"
    else:
        value = info.default
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Decimal | int | float | str):
        return f"`{value}`" if str(value) != "" else '`""` (empty)'
    return f"`{value!r}`"


def _env_names(cls: type[BaseSettings], name: str, info: FieldInfo) -> str:
    alias = info.validation_alias or info.alias
    if isinstance(alias, str):
        return f"`{alias.upper()}`"
    choices = getattr(alias, "choices", None)
    if choices:
        return ", ".join(f"`{c.upper()}`" for c in choices if isinstance(c, str))
    prefix = str(cls.model_config.get("env_prefix") or "")
    return f"`{(prefix + name).upper()}`"


def field_comments(cls: type) -> dict[str, str]:
    """The comments above (or after) each field assignment in the class body."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    comments: dict[str, str] = {}
    pending: list[str] = []
    for line in source.splitlines()[1:]:
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        found = re.match(r"^ {4}(\w+)\s*:", line)
        if found:
            inline = line.split("  # ", 1)[1].strip() if "  # " in line else ""
            text = " ".join([*pending, inline]).strip()
            if text:
                comments[found.group(1)] = text
        pending = []
    return comments


def settings_of(cls: type[BaseSettings], *, only_own: bool) -> list[Setting]:
    """The settings of ``cls``; with ``only_own``, those it adds to or changes from ServiceSettings."""
    comments: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if isinstance(klass, type) and issubclass(klass, BaseSettings):
            comments.update(field_comments(klass))
    base = ServiceSettings.model_fields
    result = []
    for name, info in cls.model_fields.items():
        inherited = only_own and issubclass(cls, ServiceSettings) and name in base
        if inherited and _default(info) == _default(base[name]):
            continue
        description = info.description or comments.get(name) or DESCRIPTIONS.get(name, "")
        result.append(
            Setting(name, _env_names(cls, name, info), _type_name(info.annotation), _default(info), description)
        )
    return result


def settings_classes(package: str) -> list[type[BaseSettings]]:
    """Every BaseSettings subclass defined in a module of ``package``, in module and source order."""
    root = importlib.import_module(package)
    modules = [root]
    for module_info in pkgutil.walk_packages(root.__path__, prefix=package + "."):
        if any(part in SKIPPED_MODULES for part in module_info.name.split(".")):
            continue
        modules.append(importlib.import_module(module_info.name))
    found: list[type[BaseSettings]] = []
    for module in sorted(modules, key=lambda m: m.__name__):
        classes = [
            value
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, BaseSettings) and value.__module__ == module.__name__
        ]
        found += sorted(classes, key=lambda c: inspect.getsourcelines(c)[1])
    return found


def _table(settings: list[Setting]) -> list[str]:
    lines = ["| environment variable | setting | type | default | description |", "|---|---|---|---|---|"]
    for s in settings:
        cells = [s.env, f"`{s.name}`", f"`{s.type}`", s.default, s.description]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return lines


def _imsctl_options() -> list[tuple[str, str, str, str]]:
    """(option, environment variables, default, help) of imsctl's connection options."""
    from typer.main import get_command

    from imsctl.main import app

    found: dict[str, tuple[str, str, str, str]] = {}

    def visit(command: Any) -> None:
        for param in getattr(command, "params", []):
            envvar = getattr(param, "envvar", None)
            if envvar and param.opts[0] not in found:
                names = [envvar] if isinstance(envvar, str) else list(envvar)
                default = "(unset)" if param.default in (None, "") else f"`{param.default}`"
                found[param.opts[0]] = (param.opts[0], ", ".join(f"`{n}`" for n in names), default, param.help or "")
        for sub in getattr(command, "commands", {}).values():
            visit(sub)

    visit(get_command(app))
    return sorted(found.values())


HEADER = """# Configuration

Generated by `python -m ims_docgen.configdoc > docs/configuration.md` from the pydantic-settings classes of the
services; `tools/docgen/tests/unit/test_docs.py` fails when this file is stale.

Every setting is read from the environment variable of the same name in capitals (names are case-insensitive; no
`.env` file is read). `make run` (`ims_devstack`) sets `REGION`, `DEPLOYED_REGIONS`, `HTTP_PORT`,
`KAFKA_BOOTSTRAP_SERVERS`, `DATABASE_URL` and `PEER_PORT_OFFSET` for each process it starts and passes the rest of
its own environment through, so any setting below can be given to `make run` as well; docker-compose.yml sets
them per container.

`make run` itself reads `KAFKA_BOOTSTRAP_SERVERS` (use that broker instead of starting Tansu on 127.0.0.1:9092),
`DATABASE_URL` (use that PostgreSQL server; else 127.0.0.1:5432, else an embedded server under `EMBEDDED_PG_DATA`,
default `.run/pgdata`), `DEPLOYED_REGIONS`, `PORT_OFFSET` (added to every service port), `LOG_DIR` (one log file
per process instead of the terminal) and `TENANTS_FILE`.
"""


def render() -> str:
    lines = [HEADER]
    lines += [
        "## Common settings (every service)",
        "",
        "`ims_shared.settings.ServiceSettings`; each service changes some defaults (below).",
        "",
        *_table(settings_of(ServiceSettings, only_own=False)),
        "",
    ]
    for service, package in SERVICES:
        lines += [f"## {service}", ""]
        for cls in settings_classes(package):
            doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
            own = issubclass(cls, ServiceSettings)
            lines.append(f"`{cls.__module__}.{cls.__name__}`" + (" (the common settings, and)" if own else ""))
            if doc:
                lines += ["", doc]
            lines += ["", *_table(settings_of(cls, only_own=True)), ""]
    lines += [
        "## imsctl",
        "",
        "The connection options of `imsctl` (any command that takes them), with the environment variables they "
        "fall back to; without either, the standard port map of `make run`.",
        "",
        "| option | environment variables | default | meaning |",
        "|---|---|---|---|",
    ]
    for option, envs, default, help_text in _imsctl_options():
        lines.append(f"| `{option}` | {envs} | {default} | {help_text} |")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
