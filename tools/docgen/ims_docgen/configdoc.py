"""docs/configuration.md, generated from the pydantic-settings classes of every service (and imsctl's options).

``python -m ims_docgen.configdoc > docs/configuration.md``; a unit test fails when the committed file is stale.

Every ``BaseSettings`` subclass defined in a module of a service package is found by importing the package's
modules. A setting's description is its ``Field(description=...)`` in the settings class that declares it; a
service that only changes a common setting's default (``http_port: int = 8101``) keeps the common description.
"""

import importlib
import inspect
import pkgutil
import re
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
    ("compute-service", "compute_service"),
]
# Entry points are not imported: they start the service.
SKIPPED_MODULES = ("__main__",)


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


def description(cls: type[BaseSettings], name: str) -> str:
    """The ``Field(description=...)`` of setting ``name`` in ``cls`` or, where ``cls`` only changes its default,
    in the nearest base class that describes it."""
    for klass in cls.__mro__:
        if issubclass(klass, BaseSettings) and name in klass.model_fields:
            text = klass.model_fields[name].description
            if text:
                return text
    return ""


def settings_of(cls: type[BaseSettings], *, only_own: bool) -> list[Setting]:
    """The settings of ``cls``; with ``only_own``, those it adds to or changes from ServiceSettings."""
    base = ServiceSettings.model_fields
    result = []
    for name, info in cls.model_fields.items():
        inherited = only_own and issubclass(cls, ServiceSettings) and name in base
        if inherited and _default(info) == _default(base[name]):
            continue
        text = description(cls, name)
        result.append(Setting(name, _env_names(cls, name, info), _type_name(info.annotation), _default(info), text))
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
