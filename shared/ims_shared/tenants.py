"""The credentials file: tenants (access keys, secret keys, projects per region, enterprise projects, tag policies),
operator integrations (outside systems that may produce listed event types for any project) and the services' own
keys (each signs the events it produces). One JSON document; ``load_credentials`` reads it once per process."""

import json
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TagPolicy:
    required_keys: tuple[str, ...] = ()
    allowed_values: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Tenant:
    name: str
    account_id: str
    access_key: str
    secret_key: str
    projects: dict[str, str]
    enterprise_projects: tuple[str, ...] = ()
    tag_policy: TagPolicy = TagPolicy()

    def project_in(self, region: str) -> str | None:
        return self.projects.get(region)


@dataclass(frozen=True)
class Integration:
    """An outside system (a billing or backup system, the storage side) that may produce the event types it lists,
    for any project."""

    name: str
    access_key: str
    secret_key: str
    produces: tuple[str, ...]


@dataclass(frozen=True)
class ServiceKey:
    """The key a service signs its events with; every consumer verifies them with it."""

    name: str
    access_key: str
    secret_key: str


@dataclass(frozen=True)
class TenantCatalog:
    """What the credentials file holds."""

    tenants: tuple[Tenant, ...]
    integrations: tuple[Integration, ...] = ()
    services: tuple[ServiceKey, ...] = ()

    def service_key(self, name: str) -> ServiceKey | None:
        return next((s for s in self.services if s.name == name), None)

    def by_access_key(self, access_key: str) -> Tenant | None:
        return next((t for t in self.tenants if t.access_key == access_key), None)

    @cached_property
    def _by_project(self) -> dict[str, Tenant]:
        # Asked for every event a consumer handles: a dict, not a scan of every tenant's projects.
        index: dict[str, Tenant] = {}
        for tenant in self.tenants:
            for project in tenant.projects.values():
                index.setdefault(project, tenant)
        return index

    def by_project(self, project_id: str) -> Tenant | None:
        return self._by_project.get(project_id)

    def by_account(self, account_id: str) -> Tenant | None:
        return next((t for t in self.tenants if t.account_id == account_id), None)

    def region_of(self, project_id: str) -> str | None:
        for tenant in self.tenants:
            for region, project in tenant.projects.items():
                if project == project_id:
                    return region
        return None


def _tenant(doc: dict[str, object]) -> Tenant:
    policy = doc.get("tag_policy") or {}
    assert isinstance(policy, dict)
    return Tenant(
        name=str(doc["name"]),
        account_id=str(doc.get("account_id") or doc["name"]),
        access_key=str(doc["access_key"]),
        secret_key=str(doc["secret_key"]),
        projects={str(k): str(v) for k, v in dict(doc["projects"]).items()},  # type: ignore[call-overload]
        enterprise_projects=tuple(str(e) for e in doc.get("enterprise_projects", [])),  # type: ignore[attr-defined]
        tag_policy=TagPolicy(
            required_keys=tuple(policy.get("required_keys", [])),
            allowed_values={k: tuple(v) for k, v in policy.get("allowed_values", {}).items()},
        ),
    )


def _integration(doc: dict[str, Any]) -> Integration:
    return Integration(
        name=str(doc["name"]),
        access_key=str(doc["access_key"]),
        secret_key=str(doc["secret_key"]),
        produces=tuple(str(t) for t in doc.get("produces", [])),
    )


def _service_key(doc: dict[str, Any]) -> ServiceKey:
    return ServiceKey(name=str(doc["name"]), access_key=str(doc["access_key"]), secret_key=str(doc["secret_key"]))


DEVELOPMENT_CREDENTIALS = "dev_tenants.json"


def load_tenants(path: str | None) -> TenantCatalog:
    """Load the credentials file at ``path``, or the packaged development credentials (published in the README)
    when no path is given. A service decides which with ``load_credentials``."""
    if path:
        text = Path(path).read_text()
    else:
        text = resources.files("ims_shared").joinpath(DEVELOPMENT_CREDENTIALS).read_text()
    document = json.loads(text)
    return TenantCatalog(
        tuple(_tenant(t) for t in document["tenants"]),
        tuple(_integration(i) for i in document.get("integrations", [])),
        tuple(_service_key(s) for s in document.get("services", [])),
    )
