"""compute-service as its handlers, loops and routes see it: one typed context, built once by ``app.bootstrap``."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from compute_service.settings import ComputeSettings
from ims_shared.auth import Caller, authenticate
from ims_shared.db import Database
from ims_shared.emitter import Emitter
from ims_shared.service import service_dependency
from ims_shared.tenants import TenantCatalog


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ComputeService:
    settings: ComputeSettings
    tenants: TenantCatalog
    emitter: Emitter
    database: Database
    clock: Callable[[], datetime] = utcnow

    @property
    def region(self) -> str:
        return self.settings.region


Service = Annotated[ComputeService, Depends(service_dependency(ComputeService))]
"""A route's parameter that receives compute-service's context."""


async def _caller(request: Request, service: Service) -> Caller:
    project_id = request.path_params.get("project_id")
    return await authenticate(request, service.tenants, service.settings.region, project_id)


Who = Annotated[Caller, Depends(_caller)]
"""A route's parameter that receives the authenticated caller (AK/SK signature, project of this region)."""
