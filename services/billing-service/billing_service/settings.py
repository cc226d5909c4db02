from datetime import timedelta
from decimal import Decimal

from pydantic import Field

from billing_service.domain import ArrearsPolicy, Tariff
from ims_shared.settings import ServiceSettings

DAY_S = 86_400


class BillingSettings(ServiceSettings):
    """Settings of billing-service; each is read from the environment variable of the same name in capitals."""

    service_name: str = "billing-service"
    http_port: int = 8300

    currency: str = Field(default="CNY", description="Currency of balances and prices.")
    price_per_gb_hour: Decimal = Field(
        default=Decimal("0.0003"),
        ge=0,
        decimal_places=8,
        description="Pay-per-use price of CBR backup storage per GB-hour, about 0.22 per GB-month.",
    )
    rating_period_s: int = Field(
        default=3600,
        ge=1,
        description="Length of a rating period; periods are aligned on the Unix epoch (hours start at hh:00 UTC by "
        "default).",
    )
    rating_interval_s: float = Field(
        default=30.0, gt=0, description="How often the rating pass looks for periods that have ended."
    )
    initial_balance: Decimal = Field(
        default=Decimal("100"),
        decimal_places=6,
        description="Balance of an account when billing first sees its tenant.",
    )
    grace_period_s: float = Field(
        default=15 * DAY_S,
        ge=0,
        description="How long an account in arrears stays in grace (everything works) before it is frozen.",
    )
    retention_period_s: float = Field(
        default=15 * DAY_S,
        ge=0,
        description="How long a frozen account's resources are kept before they are released (BackupArrears).",
    )
    arrears_interval_s: float = Field(
        default=30.0,
        gt=0,
        description="How often the arrears sweep moves accounts from grace to frozen to released.",
    )

    @property
    def tariff(self) -> Tariff:
        return Tariff(self.price_per_gb_hour, timedelta(seconds=self.rating_period_s), self.currency)

    @property
    def arrears_policy(self) -> ArrearsPolicy:
        return ArrearsPolicy(timedelta(seconds=self.grace_period_s), timedelta(seconds=self.retention_period_s))
