"""Tenants: access keys, secret keys, projects per region, enterprise projects and tag policies."""

import json
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path


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
class TenantCatalog:
    tenants: tuple[Tenant, ...]

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


def load_tenants(path: str | None) -> TenantCatalog:
    """Load tenants from ``path``, or the packaged development tenants when no path is given."""
    if path:
        text = Path(path).read_text()
    else:
        text = resources.files("ims_shared").joinpath("dev_tenants.json").read_text()
    return TenantCatalog(tuple(_tenant(t) for t in json.loads(text)["tenants"]))
