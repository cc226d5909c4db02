"""billing-service as its handlers, cycles and routes see it: one typed context, built once by ``app.bootstrap``:
the clock, the price catalogue, the arrears policy and the tenants catalog (one account per tenant)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import Depends, Request

from billing_service.clock import Clock
from billing_service.domain import ArrearsPolicy, Tariff
from billing_service.settings import BillingSettings
from ims_shared.auth import Caller, authenticate
from ims_shared.db import Database
from ims_shared.emitter import Emitter
from ims_shared.service import service_dependency
from ims_shared.tenants import TenantCatalog


@dataclass(frozen=True)
class BillingService:
    settings: BillingSettings
    tenants: TenantCatalog
    emitter: Emitter
    database: Database
    clock: Clock
    tariff: Tariff
    policy: ArrearsPolicy
    initial_balance: Decimal
    # Bounds on one transaction of the rating cycle: meters per account, periods per meter.
    meters_per_batch: int = 200
    periods_per_meter: int = 1000
    # Accounts seen to exist in a committed state: accounts are never closed, so they need not be opened again.
    existing_accounts: set[str] = field(default_factory=set)

    def account_of(self, project_id: str) -> str | None:
        """The account that pays for ``project_id`` (any region), or None for a project no tenant owns."""
        tenant = self.tenants.by_project(project_id)
        return tenant.account_id if tenant else None


def aware(moment: datetime) -> datetime:
    """A timestamp from an event, read as UTC when it carries no offset."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


Service = Annotated[BillingService, Depends(service_dependency(BillingService))]
"""A route's parameter that receives billing-service's context."""


async def _caller(request: Request, service: Service) -> Caller:
    # Billing is global: a caller may name its tenant's project of any region.
    project_id = str(request.path_params.get("project_id", ""))
    region = service.tenants.region_of(project_id) or service.settings.region
    return await authenticate(request, service.tenants, region, project_id)


Who = Annotated[Caller, Depends(_caller)]
"""A route's parameter that receives the authenticated caller (AK/SK signature, a project of the caller's tenant)."""
