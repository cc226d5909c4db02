"""image-service as its handlers, loops and routes see it: one typed context, built once by ``app.bootstrap``."""

from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from image_service import repository
from image_service.settings import ImageSettings
from ims_shared.auth import Caller, authenticate
from ims_shared.db import Database
from ims_shared.emitter import Emitter
from ims_shared.replication_rules import ReplicationPolicy
from ims_shared.service import service_dependency
from ims_shared.tenants import TenantCatalog


@dataclass(frozen=True)
class ImageService:
    settings: ImageSettings
    tenants: TenantCatalog
    emitter: Emitter
    database: Database
    replication: ReplicationPolicy

    def account_of(self, project_id: str) -> str | None:
        tenant = self.tenants.by_project(project_id)
        return tenant.account_id if tenant else None

    async def account_state_of(self, conn: asyncpg.Connection, project_id: str) -> str | None:
        account_id = self.account_of(project_id)
        return await repository.account_state(conn, account_id) if account_id else None


Service = Annotated[ImageService, Depends(service_dependency(ImageService))]
"""A route's parameter that receives image-service's context."""


async def _caller(request: Request, service: Service) -> Caller:
    project_id = request.path_params.get("project_id")
    return await authenticate(request, service.tenants, service.settings.region, project_id)


Who = Annotated[Caller, Depends(_caller)]
"""A route's parameter that receives the authenticated caller (AK/SK signature, project of this region)."""


JSON_PATCH = "application/openstack-images-v2.1-json-patch"


async def _patching_caller(request: Request, service: Service) -> Caller:
    """The caller of Glance's image update: its JSON-patch body (``JSON_PATCH``) is one the official SDK leaves
    unsigned (``X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD``; it signs JSON and BSON bodies only), as Huawei Cloud's
    gateway accepts; the method, path, query and headers are signed all the same. Any other body must be signed."""
    unsigned = request.headers.get("content-type", "").split(";")[0].strip() == JSON_PATCH
    return await authenticate(request, service.tenants, service.settings.region, None, allow_unsigned_body=unsigned)


WhoPatching = Annotated[Caller, Depends(_patching_caller)]
"""``Who`` for a route whose body may be a JSON patch the SDK leaves unsigned."""
