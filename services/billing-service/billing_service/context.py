"""What billing's handlers, cycles and API share: the clock, the price catalogue, the arrears policy and the
tenants catalog (one account per tenant)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from billing_service.clock import Clock
from billing_service.domain import ArrearsPolicy, Tariff
from ims_shared.tenants import TenantCatalog


@dataclass(frozen=True)
class Billing:
    clock: Clock
    tariff: Tariff
    policy: ArrearsPolicy
    tenants: TenantCatalog
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
