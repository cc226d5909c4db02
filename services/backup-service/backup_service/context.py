"""backup-service as its handlers, loops and routes see it: one typed context, built once by ``app.bootstrap``."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from backup_service.settings import BackupSettings
from ims_shared.auth import Caller, authenticate
from ims_shared.db import Database
from ims_shared.emitter import Emitter
from ims_shared.service import service_dependency
from ims_shared.tenants import TenantCatalog


@dataclass(frozen=True)
class BackupService:
    settings: BackupSettings
    tenants: TenantCatalog
    emitter: Emitter
    database: Database


Service = Annotated[BackupService, Depends(service_dependency(BackupService))]
"""A route's parameter that receives backup-service's context."""


async def _caller(request: Request, service: Service) -> Caller:
    project_id = request.path_params.get("project_id")
    return await authenticate(request, service.tenants, service.settings.region, project_id)


Who = Annotated[Caller, Depends(_caller)]
"""A route's parameter that receives the authenticated caller (AK/SK signature, project of this region)."""
