"""Where imsctl talks to and as whom: the Kafka bootstrap servers, the API endpoints of a region, the tenant.

Every value comes from a command-line option, else from an environment variable, else from the defaults of
``make run`` (the standard port map of :mod:`ims_devstack`, Kafka on 127.0.0.1:9092, the development
tenants). :func:`connection_options` adds the options to a command, so that they can be given after the command
name (``imsctl ims images --region ap-southeast-1``).
"""

import functools
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import typer

from ims_devstack import default_port
from ims_shared.regions import DEFAULT_DEPLOYED_REGIONS
from ims_shared.tenants import Tenant, load_tenants

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_TENANT = "alpha"

Service = Literal["ims", "cbr", "billing", "replication", "ecs"]
SERVICE_PROCESS: dict[Service, str] = {
    "ims": "image-service",
    "cbr": "backup-service",
    "billing": "billing-service",
    "replication": "replication-service",
    "ecs": "compute-service",
}


class TargetError(Exception):
    """The options name something that does not exist (an unknown tenant, a region that is not deployed)."""


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def deployed_regions() -> list[str]:
    text = _env("IMSCTL_REGIONS", "DEPLOYED_REGIONS")
    regions = [r.strip() for r in text.split(",") if r.strip()] if text else []
    return regions or list(DEFAULT_DEPLOYED_REGIONS)


@dataclass(frozen=True)
class Target:
    """The resolved connection settings of one command."""

    region: str = DEFAULT_DEPLOYED_REGIONS[0]
    tenant_name: str = DEFAULT_TENANT
    project: str | None = None
    tenants_file: str | None = None
    bootstrap: str = DEFAULT_BOOTSTRAP
    host: str = DEFAULT_HOST
    port_offset: int = 0
    regions: tuple[str, ...] = tuple(DEFAULT_DEPLOYED_REGIONS)
    urls: dict[str, str] = field(default_factory=dict)

    @functools.cached_property
    def tenant(self) -> Tenant:
        catalog = load_tenants(self.tenants_file)
        for tenant in catalog.tenants:
            if tenant.name == self.tenant_name or tenant.access_key == self.tenant_name:
                return tenant
        names = ", ".join(t.name for t in catalog.tenants)
        raise TargetError(f"unknown tenant {self.tenant_name!r}; the tenants are: {names}")

    @property
    def project_id(self) -> str:
        if self.project:
            return self.project
        project = self.tenant.project_in(self.region)
        if project is None:
            raise TargetError(f"tenant {self.tenant.name} has no project in region {self.region}")
        return project

    def url(self, service: Service) -> str:
        """The base URL of ``service`` in this target's region: the override, else the standard port map."""
        override = self.urls.get(service)
        if override:
            return override.rstrip("/")
        if service == "billing":
            index = 0
        elif self.region in self.regions:
            index = self.regions.index(self.region)
        else:
            deployed = ", ".join(self.regions)
            raise TargetError(
                f"region {self.region} is not deployed (deployed: {deployed}); set DEPLOYED_REGIONS or pass "
                f"--{service}-url"
            )
        return f"http://{self.host}:{default_port(SERVICE_PROCESS[service], index, self.port_offset)}"


# -- the options ---------------------------------------------------------------------------------------------------
PANEL = "Connection (options or environment)"
Option = tuple[str, Any, Any]  # (parameter name, Annotated type with its typer.Option, default)


def _option(*decls: str, envvar: list[str], help: str, **extra: Any) -> Any:
    return typer.Option(*decls, envvar=envvar, help=help, rich_help_panel=PANEL, show_envvar=True, **extra)


_TENANT_OPTIONS: list[Option] = [
    (
        "region",
        Annotated[str, _option("--region", "-r", envvar=["IMSCTL_REGION"], help="Region of the call or event.")],
        DEFAULT_DEPLOYED_REGIONS[0],
    ),
    (
        "tenant",
        Annotated[
            str,
            _option("--tenant", "-t", envvar=["IMSCTL_TENANT"], help="Tenant (name or access key) to act as."),
        ],
        DEFAULT_TENANT,
    ),
    (
        "project",
        Annotated[
            str | None,
            _option("--project", envvar=["IMSCTL_PROJECT"], help="Project id (default: the tenant's in the region)."),
        ],
        None,
    ),
    (
        "tenants_file",
        Annotated[
            str | None,
            _option(
                "--tenants-file",
                envvar=["IMSCTL_TENANTS_FILE", "TENANTS_FILE"],
                help="Tenants catalog (default: the packaged development tenants).",
            ),
        ],
        None,
    ),
]
_KAFKA_OPTIONS: list[Option] = [
    (
        "bootstrap",
        Annotated[
            str,
            _option(
                "--bootstrap",
                "-b",
                envvar=["IMSCTL_BOOTSTRAP", "KAFKA_BOOTSTRAP_SERVERS"],
                help="Kafka bootstrap servers.",
            ),
        ],
        DEFAULT_BOOTSTRAP,
    ),
]
_API_OPTIONS: list[Option] = [
    (
        "port_offset",
        Annotated[
            int,
            _option(
                "--port-offset",
                envvar=["IMSCTL_PORT_OFFSET", "PORT_OFFSET"],
                help="Added to every port of the standard port map.",
            ),
        ],
        0,
    ),
    (
        "host",
        Annotated[str, _option("--host", envvar=["IMSCTL_HOST"], help="Host of the standard port map.")],
        DEFAULT_HOST,
    ),
    *[
        (
            f"{service}_url",
            Annotated[
                str | None,
                _option(
                    f"--{service}-url",
                    envvar=[f"IMSCTL_{service.upper()}_URL"],
                    help=f"Base URL of {SERVICE_PROCESS[service]} (instead of the port map).",
                ),
            ],
            None,
        )
        for service in ("ims", "cbr", "billing", "ecs")
    ],
]


def inject(parameter: str, build: Callable[..., Any], options: list[Option]) -> Callable[[Callable[..., Any]], Any]:
    """Replace the parameter ``parameter`` of a command by ``options``; the command receives ``build(**options)``.

    Typer reads the signature, so the options show in the command's ``--help`` and may follow the command name.
    """
    names = [name for name, _, _ in options]

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(fn)
        own = [p for p in signature.parameters.values() if p.name != parameter]
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
            for name, annotation, default in options
        ]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            given = {name: kwargs.pop(name) for name in names if name in kwargs}
            return fn(*args, **{parameter: build(**given)}, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
        return wrapper

    return decorate


def connection_options(
    *, kafka: bool = False, api: bool = False, tenant: bool = True
) -> Callable[[Callable[..., Any]], Any]:
    """Add the region and tenant options (and the Kafka and/or API endpoint options) to a command that declares a
    ``target: Target`` parameter; it receives the resolved settings."""
    options = list(_TENANT_OPTIONS if tenant else _TENANT_OPTIONS[:1])
    if kafka:
        options += _KAFKA_OPTIONS
    if api:
        options += _API_OPTIONS
    return inject("target", make_target, options)


def make_target(
    *,
    region: str = DEFAULT_DEPLOYED_REGIONS[0],
    tenant: str = DEFAULT_TENANT,
    project: str | None = None,
    tenants_file: str | None = None,
    bootstrap: str = DEFAULT_BOOTSTRAP,
    port_offset: int = 0,
    host: str = DEFAULT_HOST,
    ims_url: str | None = None,
    cbr_url: str | None = None,
    billing_url: str | None = None,
    ecs_url: str | None = None,
) -> Target:
    given = {"ims": ims_url, "cbr": cbr_url, "billing": billing_url, "ecs": ecs_url}
    urls = {k: v for k, v in given.items() if v}
    return Target(
        region=region,
        tenant_name=tenant,
        project=project,
        tenants_file=tenants_file,
        bootstrap=bootstrap,
        host=host,
        port_offset=port_offset,
        regions=tuple(deployed_regions()),
        urls=urls,
    )
